//! What an [`crate::H5File`] has looked up, by path: the groups and datasets (`hdf5-pure`
//! handles) and the objects' file addresses. Readers ask for the same objects many times
//! (whether a path is a group, then its attributes, its members, each member's attributes
//! and datasets, its identity), and both `hdf5-pure` and [`crate::links`] walk every path
//! from the root group, parsing each object header on the way. Here each path is resolved
//! once, one component below its (cached) parent, and group listings leave what they found
//! of the members.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use hdf5_pure::{Dataset, Group};

/// A group or a dataset of the file.
#[derive(Clone)]
pub(crate) enum Object {
    /// A group.
    Group(Group),
    /// A dataset.
    Dataset(Dataset),
}

/// Values found by path (relative to the root group, no leading `/`): each path is resolved
/// once, one component below its deepest cached ancestor; `None`: nothing is there.
pub(crate) struct PathCache<T> {
    found: Mutex<Found<T>>,
}

/// What a [`PathCache`] holds.
struct Found<T> {
    /// Each path looked up or listed, with its value (`None`: nothing is there).
    values: HashMap<String, Option<T>>,
    /// Groups whose every member is in `values`, with their members' names: a name not
    /// there is nothing, with no need to look (a missing name cost a walk of the group's
    /// links each time), and the group's listing is known.
    whole: HashMap<String, Vec<String>>,
}

impl<T> Default for PathCache<T> {
    fn default() -> Self {
        PathCache {
            found: Mutex::new(Found {
                values: HashMap::new(),
                whole: HashMap::new(),
            }),
        }
    }
}

/// What one step of [`PathCache::get`] found below a group: members with their values
/// (the one asked for among them, or not), and whether they are all the group holds.
pub(crate) struct Step<T> {
    /// Members found.
    pub members: Vec<(String, Option<T>)>,
    /// Whether `members` is the whole group.
    pub whole: bool,
}

/// `parent/name` (just `name` below the root).
fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// Whether `path` is the root (empty) or names its components plainly (none empty, `.`
/// or `..`): the paths [`PathCache::get`] takes. Others are resolved from the root,
/// uncached.
pub(crate) fn is_plain(path: &str) -> bool {
    path.is_empty()
        || !path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
}

impl<T: Clone> PathCache<T> {
    fn lock(&self) -> MutexGuard<'_, Found<T>> {
        self.found.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value at the plain (see [`is_plain`]) `path` below `root`: from the deepest
    /// cached ancestor, each further component by `step(parent value, name)`, which gives
    /// the values of every member it found on the way (the one named among them, or
    /// not), all cached. Below a group known whole, a name not cached is nothing, with no
    /// step.
    pub fn get(&self, root: T, path: &str, mut step: impl FnMut(&T, &str) -> Step<T>) -> Option<T> {
        if path.is_empty() {
            return Some(root);
        }
        let mut found = self.lock();
        let found = &mut *found;
        if let Some(known) = found.values.get(path) {
            return known.clone();
        }
        // Ends of the path's prefixes: "a", "a/b", "a/b/c".
        let ends: Vec<usize> = path
            .match_indices('/')
            .map(|(i, _)| i)
            .chain([path.len()])
            .collect();
        let mut at = root;
        let mut next = 0;
        for (k, &end) in ends.iter().enumerate().rev() {
            if let Some(known) = found.values.get(&path[..end]) {
                at = known.clone()?;
                next = k + 1;
                break;
            }
        }
        for (k, &end) in ends.iter().enumerate().skip(next) {
            let start = if k == 0 { 0 } else { ends[k - 1] + 1 };
            let parent = if k == 0 { "" } else { &path[..start - 1] };
            let name = &path[start..end];
            if !found.whole.contains_key(parent) {
                let listed = step(&at, name);
                let names = listed.whole.then(|| {
                    let names = listed.members.iter().map(|(member, _)| member.clone());
                    names.collect()
                });
                for (member, value) in listed.members {
                    found.values.entry(join(parent, &member)).or_insert(value);
                }
                if let Some(names) = names {
                    found.whole.insert(parent.to_string(), names);
                }
            }
            let here = found.values.entry(path[..end].to_string()).or_insert(None);
            at = here.clone()?;
        }
        Some(at)
    }

    /// Remember the members of the group at `path` a listing found; `whole`: they are all
    /// it holds.
    pub fn remember(
        &self,
        path: &str,
        members: impl IntoIterator<Item = (String, T)>,
        whole: bool,
    ) {
        let mut found = self.lock();
        let mut names = Vec::new();
        for (name, value) in members {
            found.values.insert(join(path, &name), Some(value));
            names.push(name);
        }
        if whole {
            found.whole.insert(path.to_string(), names);
        }
    }

    /// Every member of the group at `path` with its value, when a listing of the whole
    /// group was remembered or made.
    pub fn listing(&self, path: &str) -> Option<Vec<(String, Option<T>)>> {
        let found = self.lock();
        let names = found.whole.get(path)?;
        let value = |name: &str| found.values.get(&join(path, name)).cloned().flatten();
        Some(names.iter().map(|n| (n.clone(), value(n))).collect())
    }
}

/// The groups and datasets looked up so far.
pub(crate) type Objects = PathCache<Object>;

/// The member `name` of group `g` (or the object at the path `name` below it): a group, a
/// dataset, or nothing.
pub(crate) fn child(g: &Group, name: &str) -> Option<Object> {
    match g.group(name) {
        Ok(group) => Some(Object::Group(group)),
        // Something is there, and it is not a group.
        Err(hdf5_pure::Error::NotAGroup(_)) => g.dataset(name).ok().map(Object::Dataset),
        Err(_) => None,
    }
}

/// The member `name` of the group or dataset `at`, as [`PathCache::get`] steps (a dataset
/// has no members: it is whole).
pub(crate) fn object_step(at: &Object, name: &str) -> Step<Object> {
    match at {
        Object::Group(g) => Step {
            members: vec![(name.to_string(), child(g, name))],
            whole: false,
        },
        Object::Dataset(_) => Step {
            members: Vec::new(),
            whole: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A tree of numbered nodes: `children(n)` lists the members of node `n`.
    fn children(n: u32) -> Vec<(String, Option<u32>)> {
        match n {
            0 => vec![("a".into(), Some(1)), ("b".into(), Some(2))],
            1 => vec![("c".into(), Some(3)), ("d".into(), Some(4))],
            _ => Vec::new(),
        }
    }

    /// A step listing the members of node `n` from [`children`] (as a listing of the
    /// `whole` group, or not), counting the listings in `listings`.
    fn counted(listings: &Cell<u32>, whole: bool) -> impl Fn(&u32, &str) -> Step<u32> + Copy + '_ {
        move |&n, _| {
            listings.set(listings.get() + 1);
            Step {
                members: children(n),
                whole,
            }
        }
    }

    #[test]
    fn each_listing_is_made_once_and_leaves_every_member() {
        let cache = PathCache::<u32>::default();
        let listings = Cell::new(0);
        let step = counted(&listings, false);
        assert_eq!(cache.get(0, "", step), Some(0));
        assert_eq!(cache.get(0, "a/c", step), Some(3));
        assert_eq!(listings.get(), 2, "the root, then a");
        // Siblings found by those listings, and the paths already resolved, cost nothing.
        assert_eq!(cache.get(0, "a/d", step), Some(4));
        assert_eq!(cache.get(0, "b", step), Some(2));
        assert_eq!(cache.get(0, "a", step), Some(1));
        assert_eq!(listings.get(), 2);
        // A missing member costs one step the first time it is asked for, then is
        // remembered as missing (and so is everything below it).
        assert_eq!(cache.get(0, "a/x", step), None);
        assert_eq!(listings.get(), 3);
        assert_eq!(cache.get(0, "a/x", step), None);
        assert_eq!(cache.get(0, "a/x/y", step), None);
        assert_eq!(listings.get(), 3);
    }

    #[test]
    fn names_missing_from_a_whole_group_cost_no_step() {
        let cache = PathCache::<u32>::default();
        let listings = Cell::new(0);
        let step = counted(&listings, true);
        assert_eq!(cache.get(0, "x", step), None);
        assert_eq!(cache.get(0, "y", step), None);
        assert_eq!(cache.get(0, "a/z", step), None);
        assert_eq!(cache.get(0, "a/w", step), None);
        assert_eq!(listings.get(), 2, "the root, then a");
        // A listing remembered whole (what `H5File::members` found) answers the same way.
        let listed = PathCache::<u32>::default();
        listed.remember(
            "",
            children(0).into_iter().map(|(n, v)| (n, v.unwrap())),
            true,
        );
        assert_eq!(listed.get(0, "b", step), Some(2));
        assert_eq!(listed.get(0, "x", step), None);
        assert_eq!(listings.get(), 2);
        assert_eq!(listed.listing(""), Some(children(0)));
        assert_eq!(cache.listing("a"), Some(children(1)));
        // Not whole: a name not remembered is looked for.
        let partial = PathCache::<u32>::default();
        partial.remember("", [("a".to_string(), 1)], false);
        assert_eq!(partial.listing(""), None);
        assert_eq!(partial.get(0, "b", step), Some(2));
        assert_eq!(listings.get(), 3);
    }

    #[test]
    fn plain_paths() {
        assert!(is_plain(""));
        assert!(is_plain("a/b"));
        for p in ["a//b", "a/./b", "../a", "a/"] {
            assert!(!is_plain(p), "{p}");
        }
    }
}
