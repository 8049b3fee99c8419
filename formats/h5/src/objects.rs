//! The groups and datasets an [`crate::H5File`] has looked up, by path. Readers ask for
//! the same objects many times (whether a path is a group, then its attributes, its
//! members, each member's attributes and datasets), and `hdf5-pure` walks every path from
//! the root group, parsing each object header on the way. Here each path is resolved once,
//! one component below its (cached) parent, and group listings leave the handles of the
//! members they found.

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

/// Paths (relative to the root group, no leading `/`) already resolved; `None`: nothing
/// (no group or dataset) is there.
#[derive(Default)]
pub(crate) struct Objects {
    found: Mutex<HashMap<String, Option<Object>>>,
}

/// The member `name` of group `g`: a group, a dataset, or nothing.
fn child(g: &Group, name: &str) -> Option<Object> {
    match g.group(name) {
        Ok(group) => Some(Object::Group(group)),
        // Something is there, and it is not a group.
        Err(hdf5_pure::Error::NotAGroup(_)) => g.dataset(name).ok().map(Object::Dataset),
        Err(_) => None,
    }
}

impl Objects {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Option<Object>>> {
        self.found.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The object at `path` (relative to `root`, no leading `/`), resolved from the deepest
    /// cached ancestor one component at a time, each step cached. Paths with empty, `.` or
    /// `..` components are resolved by `hdf5-pure` from the root, uncached.
    pub fn get(&self, root: &Group, path: &str) -> Option<Object> {
        if path.is_empty() {
            return Some(Object::Group(root.clone()));
        }
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return child(root, path);
        }
        let mut found = self.lock();
        if let Some(known) = found.get(path) {
            return known.clone();
        }
        // Ends of the path's prefixes: "a", "a/b", "a/b/c".
        let ends: Vec<usize> = path
            .match_indices('/')
            .map(|(i, _)| i)
            .chain([path.len()])
            .collect();
        let mut at = Object::Group(root.clone());
        let mut next = 0;
        for (k, &end) in ends.iter().enumerate().rev() {
            if let Some(known) = found.get(&path[..end]) {
                at = known.clone()?;
                next = k + 1;
                break;
            }
        }
        for (k, &end) in ends.iter().enumerate().skip(next) {
            let start = if k == 0 { 0 } else { ends[k - 1] + 1 };
            let step = match &at {
                Object::Group(g) => child(g, &path[start..end]),
                Object::Dataset(_) => None,
            };
            found.insert(path[..end].to_string(), step.clone());
            at = step?;
        }
        Some(at)
    }

    /// Remember the members of the group at `path` a listing found.
    pub fn remember(&self, path: &str, members: impl IntoIterator<Item = (String, Object)>) {
        let mut found = self.lock();
        for (name, object) in members {
            let key = if path.is_empty() {
                name
            } else {
                format!("{path}/{name}")
            };
            found.insert(key, Some(object));
        }
    }
}
