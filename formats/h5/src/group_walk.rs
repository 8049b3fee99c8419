//! Walks over a file's group tree that enter each group once, however many links lead to
//! it, and at most [`MAX_GROUPS_WALKED`] groups in all: a corrupt file can link a group
//! into itself, and such cycles make a walk exponential in its depth limit.

use std::collections::HashSet;

use emio_core::{Error, Result};

use crate::H5File;

/// Most groups a walk enters. EM files hold a few dozen groups; a fuzzed NCEM file with
/// cyclic links took 0.8 s (over 20 s in the fuzz build) to exhaust a budget of 10,000, and
/// a fuzzed ARINA master file 2.6 s through a depth limit of 8 without a budget.
pub const MAX_GROUPS_WALKED: usize = 1_000;

/// The state of one walk: the addresses of the groups entered and the groups still
/// allowed (which also bounds groups whose address cannot be found).
#[derive(Debug)]
pub struct GroupWalk {
    format: &'static str,
    seen: HashSet<u64>,
    budget: usize,
}

impl GroupWalk {
    /// A walk for a reader of `format` (named in its error).
    pub fn new(format: &'static str) -> Self {
        GroupWalk {
            format,
            seen: HashSet::new(),
            budget: MAX_GROUPS_WALKED,
        }
    }

    /// Whether to enter `group` of `file`: false when the walk has entered it before
    /// (through another link); an error once the walk has entered [`MAX_GROUPS_WALKED`]
    /// groups.
    pub fn enter(&mut self, file: &H5File, group: &str) -> Result<bool> {
        if let Some(address) = file.object_address(group) {
            if !self.seen.insert(address) {
                return Ok(false);
            }
        }
        if self.budget == 0 {
            return Err(Error::malformed_at_unknown(
                self.format,
                format!("a group tree of at most {MAX_GROUPS_WALKED} groups (cyclic group links?)"),
            ));
        }
        self.budget -= 1;
        Ok(true)
    }
}
