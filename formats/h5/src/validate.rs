//! Structural validation of an HDF5 file, for `emconvert check` of every HDF5-based format
//! (EMD, HyperSpy, DM5, ARINA): every group is walked from the root and every object that
//! does not resolve is reported — a member that cannot be opened, attributes that cannot
//! be decoded, an external link naming a missing file or object, a soft link naming a
//! path that holds nothing, a dataset whose header is unreadable or whose stored data
//! (contiguous block or chunk index) lies outside the file. What emio merely does not support (string or compound datasets as pixels, link
//! storage it does not walk) is not a problem of the file and is not reported.

use std::path::Path;

use emio_core::{Error, Problem};

use crate::{links, H5File};

/// Objects visited at most (groups and datasets): a file of more is checked in part.
const MAX_OBJECTS: usize = 100_000;
/// Deepest group nesting followed (HDF5 files can hold cycles of hard links).
const MAX_DEPTH: usize = 64;
/// Longest chain of soft links followed to their object (they can form loops).
const MAX_SOFT_HOPS: usize = 16;

/// Every structural problem found in the HDF5 file at `path`.
pub fn validate(path: &Path) -> Vec<Problem> {
    let file = match H5File::open(path) {
        Ok(f) => f,
        Err(e) => return vec![Problem::new("superblock", "", one_line(&e))],
    };
    let mut walk = Walk {
        file: &file,
        problems: Vec::new(),
        budget: MAX_OBJECTS,
    };
    walk.group("/", 0);
    walk.problems
}

struct Walk<'a> {
    file: &'a H5File,
    problems: Vec<Problem>,
    budget: usize,
}

impl Walk<'_> {
    /// Record `error` about `field` unless it says emio lacks support.
    fn report(&mut self, field: String, value: String, error: &Error) {
        if !matches!(error, Error::Unsupported { .. }) {
            self.problems
                .push(Problem::new(field, value, one_line(error)));
        }
    }

    fn group(&mut self, group: &str, depth: usize) {
        if self.budget == 0 || depth > MAX_DEPTH {
            return;
        }
        self.budget -= 1;
        // A group whose members cannot be listed is reported once, as a whole.
        let members = self
            .file
            .groups(group)
            .and_then(|groups| Ok((groups, self.file.datasets(group)?)));
        let (groups, datasets) = match members {
            Ok(m) => m,
            Err(e) => return self.report(format!("group {group}"), String::new(), &e),
        };
        if let Err(e) = self.file.attrs(group) {
            self.report(format!("attributes of {group}"), String::new(), &e);
        }
        self.links(group);
        for name in groups {
            self.group(&join(group, &name), depth + 1);
        }
        for name in datasets {
            self.dataset(&join(group, &name));
        }
    }

    fn dataset(&mut self, path: &str) {
        if self.budget == 0 {
            return;
        }
        self.budget -= 1;
        let ds = match self.file.dataset(path) {
            Ok(ds) => ds,
            Err(e) => return self.report(format!("dataset {path}"), String::new(), &e),
        };
        if let Err(e) = ds.attrs() {
            self.report(format!("attributes of {path}"), String::new(), &e);
        }
        let described = format!("{:?} of {}-byte elements", ds.shape, ds.elem_size);
        if let Err(e) = ds.source(None) {
            self.report(format!("data of {path}"), described, &e);
        }
    }

    /// Soft links of `group` that name no object, and external links whose file or object
    /// is missing.
    fn links(&mut self, group: &str) {
        let found = links::group_links(self.file.storage(), self.file.path(), group);
        let links = match found {
            Ok(links) => links,
            Err(e) => return self.report(format!("links of {group}"), String::new(), &e),
        };
        for link in links.soft {
            if !self.resolves(&absolute(group, &link.target), 0) {
                self.problems.push(Problem::new(
                    format!("soft link {}", join(group, &link.name)),
                    link.target.clone(),
                    "names a path that holds no group or dataset (a dangling link)".to_string(),
                ));
            }
        }
        for link in links.external {
            let field = format!("external link {}", join(group, &link.name));
            let value = format!("{}:{}", link.file, link.object);
            let folder = self.file.path().parent().unwrap_or(Path::new(""));
            let target = folder.join(&link.file);
            if !target.is_file() {
                self.problems.push(Problem::new(
                    field,
                    value,
                    format!("names {}, which does not exist", target.display()),
                ));
                continue;
            }
            let resolves = H5File::open(&target)
                .map(|t| t.is_dataset(&link.object) || t.is_group(&link.object));
            match resolves {
                Ok(true) => {}
                Ok(false) => self.problems.push(Problem::new(
                    field,
                    value,
                    format!("{} holds no object {}", target.display(), link.object),
                )),
                Err(e) => self.problems.push(Problem::new(
                    field,
                    value,
                    format!("its file cannot be read: {}", one_line(&e)),
                )),
            }
        }
    }
}

impl Walk<'_> {
    /// Whether the absolute `path` holds a group or dataset, following soft links on the
    /// way; an external link counts as resolving (its target is checked where it stands).
    fn resolves(&self, path: &str, hops: usize) -> bool {
        if self.file.is_group(path) || self.file.is_dataset(path) {
            return true;
        }
        let (parent, name) = match path.trim_end_matches('/').rsplit_once('/') {
            Some((p, n)) if !n.is_empty() => (if p.is_empty() { "/" } else { p }, n),
            _ => return false,
        };
        let Ok(links) = links::group_links(self.file.storage(), self.file.path(), parent) else {
            return false;
        };
        if links.external.iter().any(|l| l.name == name) {
            return true;
        }
        hops < MAX_SOFT_HOPS
            && links
                .soft
                .iter()
                .find(|l| l.name == name)
                .is_some_and(|l| self.resolves(&absolute(parent, &l.target), hops + 1))
    }
}

/// `target` as an absolute path: soft link values are absolute or relative to their group.
fn absolute(group: &str, target: &str) -> String {
    if target.starts_with('/') {
        target.to_string()
    } else {
        join(group, target)
    }
}

fn join(group: &str, name: &str) -> String {
    format!("{}/{name}", group.trim_end_matches('/'))
}

fn one_line(e: &Error) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
