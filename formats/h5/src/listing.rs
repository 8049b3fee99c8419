//! Listing the members of a group: [`H5File::members`] (groups and datasets in one pass
//! over their object headers), [`H5File::groups`] and [`H5File::datasets`].

use crate::links;
use crate::objects::Object;
use crate::{h5err, rel, H5File, Result};

/// What a member of a group is ([`H5File::members`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberKind {
    /// A group.
    Group,
    /// A dataset.
    Dataset,
}

impl H5File {
    /// The groups and datasets of group `path` with their kinds, sorted by name (h5py's
    /// order): each member's object header is read once, where [`H5File::groups`] and
    /// [`H5File::datasets`] read every member's header each. Groups whose links are not
    /// all hard links (soft, external, or in dense storage) are listed by those two.
    pub fn members(&self, path: &str) -> Result<Vec<(String, MemberKind)>> {
        let group = self.group(path)?;
        let hard = self
            .object_address(path)
            .and_then(|at| links::only_hard_links(&self.storage, &self.path, at).ok())
            .flatten();
        let (Some(hard), Ok(groups)) = (hard, group.iter_groups()) else {
            let mut out: Vec<(String, MemberKind)> = self
                .groups(path)?
                .into_iter()
                .map(|name| (name, MemberKind::Group))
                .chain(
                    self.datasets(path)?
                        .into_iter()
                        .map(|name| (name, MemberKind::Dataset)),
                )
                .collect();
            out.sort();
            return Ok(out);
        };
        let mut listed: Vec<(String, Object)> =
            groups.map(|(name, g)| (name, Object::Group(g))).collect();
        let group_names: std::collections::HashSet<String> =
            listed.iter().map(|(name, _)| name.clone()).collect();
        // The members' addresses, as `object_address` would list them: the walks that
        // identify groups by address then find them known.
        self.addresses.remember(rel(path), hard.iter().cloned());
        for (name, _) in hard {
            if !group_names.contains(&name) {
                // Not a group: a dataset, or something else (a named datatype) left out.
                if let Ok(d) = group.dataset(&name) {
                    listed.push((name, Object::Dataset(d)));
                }
            }
        }
        let mut out: Vec<(String, MemberKind)> = listed
            .iter()
            .map(|(name, o)| {
                let kind = match o {
                    Object::Group(_) => MemberKind::Group,
                    Object::Dataset(_) => MemberKind::Dataset,
                };
                (name.clone(), kind)
            })
            .collect();
        self.objects.remember(rel(path), listed);
        out.sort();
        Ok(out)
    }

    /// Names of the subgroups of group `path`, sorted (h5py's order).
    pub fn groups(&self, path: &str) -> Result<Vec<String>> {
        self.members_of_kind(
            path,
            |g| {
                Ok(g.iter_groups()?
                    .map(|(n, g)| (n, Object::Group(g)))
                    .collect())
            },
            |o| matches!(o, Object::Group(_)),
        )
    }

    /// Names of the datasets of group `path`, sorted (h5py's order).
    pub fn datasets(&self, path: &str) -> Result<Vec<String>> {
        self.members_of_kind(
            path,
            |g| {
                Ok(g.iter_datasets()?
                    .map(|(n, d)| (n, Object::Dataset(d)))
                    .collect())
            },
            |o| matches!(o, Object::Dataset(_)),
        )
    }

    /// Names of the members of group `path` of one kind (`list` lists them through
    /// `hdf5-pure`, `is` tells the kind), sorted. Where `hdf5-pure` cannot list the group
    /// (it fails on old-style groups holding soft links, as h5py writes them), the
    /// group's hard links are found by [`links::group_links`] and each is looked up by
    /// its path.
    fn members_of_kind(
        &self,
        path: &str,
        list: impl FnOnce(
            &hdf5_pure::Group,
        ) -> std::result::Result<Vec<(String, Object)>, hdf5_pure::Error>,
        is: fn(&Object) -> bool,
    ) -> Result<Vec<String>> {
        let group = self.group(path)?;
        let mut names = match list(&group) {
            Ok(members) => {
                let names: Vec<String> = members.iter().map(|(name, _)| name.clone()).collect();
                self.objects.remember(rel(path), members);
                names
            }
            Err(e) => {
                let listed = links::group_links(&self.storage, &self.path, path)
                    .map_err(|_| h5err(&self.path, &format!("the members of group {path}"), e))?;
                let base = path.trim_end_matches('/');
                listed
                    .hard
                    .into_iter()
                    .filter(|name| {
                        self.object(&format!("{base}/{name}"))
                            .is_some_and(|o| is(&o))
                    })
                    .collect()
            }
        };
        names.sort();
        Ok(names)
    }
}
