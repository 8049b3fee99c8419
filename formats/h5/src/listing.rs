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
    /// order): two walks of the group's links (one keeping the groups, one the datasets,
    /// with the handles they opened), where looking each dataset up by name walked the
    /// links once per dataset. Groups whose links are not all hard links (soft, external,
    /// or in dense storage) are listed by [`H5File::groups`] and [`H5File::datasets`].
    pub fn members(&self, path: &str) -> Result<Vec<(String, MemberKind)>> {
        let group = self.group(path)?;
        if let Some(listed) = self.listed(path) {
            return Ok(listed);
        }
        let hard = self
            .object_address(path)
            .and_then(|at| links::only_hard_links(&self.storage, &self.path, at).ok())
            .flatten();
        let listing = hard
            .and_then(|hard| Some((hard, group.iter_groups().ok()?, group.iter_datasets().ok()?)));
        let Some((hard, groups, datasets)) = listing else {
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
        // Named datatypes, the third kind of member, are in neither listing.
        let listed: Vec<(String, Object)> = groups
            .map(|(name, g)| (name, Object::Group(g)))
            .chain(datasets.map(|(name, d)| (name, Object::Dataset(d))))
            .collect();
        // The members' addresses, as `object_address` would list them: the walks that
        // identify groups by address then find them known.
        self.addresses.remember(rel(path), hard, true);
        let mut out: Vec<(String, MemberKind)> = listed
            .iter()
            .map(|(name, o)| (name.clone(), kind(o)))
            .collect();
        self.objects.remember(rel(path), listed, true);
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
            MemberKind::Group,
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
            MemberKind::Dataset,
        )
    }

    /// The members of group `path` with their kinds, sorted, when a listing of the whole
    /// group is remembered.
    fn listed(&self, path: &str) -> Option<Vec<(String, MemberKind)>> {
        let mut out: Vec<(String, MemberKind)> = self
            .objects
            .listing(rel(path))?
            .into_iter()
            .filter_map(|(name, o)| Some((name, kind(o.as_ref()?))))
            .collect();
        out.sort();
        Some(out)
    }

    /// Names of the members of group `path` of kind `wanted` (`list` lists them through
    /// `hdf5-pure`), sorted. Where `hdf5-pure` cannot list the group
    /// (it fails on old-style groups holding soft links, as h5py writes them), the
    /// group's hard links are found by [`links::group_links`] and each is looked up by
    /// its path.
    fn members_of_kind(
        &self,
        path: &str,
        list: impl FnOnce(
            &hdf5_pure::Group,
        ) -> std::result::Result<Vec<(String, Object)>, hdf5_pure::Error>,
        wanted: MemberKind,
    ) -> Result<Vec<String>> {
        let group = self.group(path)?;
        if let Some(listed) = self.listed(path) {
            let of_kind = listed.into_iter().filter(|&(_, k)| k == wanted);
            return Ok(of_kind.map(|(name, _)| name).collect());
        }
        let mut names = match list(&group) {
            Ok(members) => {
                let names: Vec<String> = members.iter().map(|(name, _)| name.clone()).collect();
                self.objects.remember(rel(path), members, false);
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
                            .is_some_and(|o| kind(&o) == wanted)
                    })
                    .collect()
            }
        };
        names.sort();
        Ok(names)
    }
}

/// The kind of a member.
fn kind(o: &Object) -> MemberKind {
    match o {
        Object::Group(_) => MemberKind::Group,
        Object::Dataset(_) => MemberKind::Dataset,
    }
}
