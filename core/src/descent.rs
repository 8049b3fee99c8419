//! A guard for walks down group trees whose groups are linked (HDF5): a damaged or hostile
//! file can nest groups without end, make a group its own descendant, or share one group
//! between many parents. Read as a tree, the last two repeat the walk below them without
//! end or exponentially in the depth, so each group may be entered once and no deeper
//! than a limit; the refusal names both places a group was met.

use std::collections::HashMap;

/// The groups a walk has entered (by identity, e.g. HDF5 object address) and where.
#[derive(Debug)]
pub struct Descent {
    max_depth: usize,
    entered: HashMap<u64, String>,
}

/// Why a group may not be entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It lies deeper than the walk's limit.
    TooDeep {
        /// Where.
        place: String,
        /// The limit.
        max_depth: usize,
    },
    /// It was entered before, at `first`: groups linked in a cycle or shared.
    Again {
        /// Where it is met now.
        place: String,
        /// Where it was entered first.
        first: String,
        /// Its identity.
        id: u64,
    },
}

impl Refusal {
    /// What the file should have been, for an error's "expected …", calling the groups
    /// `kind` groups (e.g. "tag" or "metadata") and their identities `id_name` (e.g.
    /// "file address").
    pub fn expected(&self, kind: &str, id_name: &str) -> String {
        match self {
            Refusal::TooDeep { place, max_depth } => {
                format!("{kind} groups nested at most {max_depth} deep (at {place})")
            }
            Refusal::Again { place, first, id } => format!(
                "each {kind} group linked once, found the group {first} ({id_name} {id}) \
                 again at {place}: groups linked in a cycle or shared"
            ),
        }
    }
}

impl Descent {
    /// A walk that goes at most `max_depth` groups deep.
    pub fn new(max_depth: usize) -> Descent {
        Descent {
            max_depth,
            entered: HashMap::new(),
        }
    }

    /// Enter the group at `place`, `depth` groups below the walk's start, whose identity
    /// is `id` (`None` where the store gives none: every group then has one path, as in a
    /// directory tree).
    pub fn enter(&mut self, place: &str, depth: usize, id: Option<u64>) -> Result<(), Refusal> {
        if depth > self.max_depth {
            return Err(Refusal::TooDeep {
                place: place.to_string(),
                max_depth: self.max_depth,
            });
        }
        if let Some(id) = id {
            if let Some(first) = self.entered.insert(id, place.to_string()) {
                return Err(Refusal::Again {
                    place: place.to_string(),
                    first,
                    id,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_entered_once_and_no_deeper_than_the_limit() {
        let mut walk = Descent::new(2);
        assert_eq!(walk.enter("/", 0, Some(1)), Ok(()));
        assert_eq!(walk.enter("/a", 1, Some(2)), Ok(()));
        // Stores without identities cannot link a group twice: nothing is remembered.
        assert_eq!(walk.enter("/b", 1, None), Ok(()));
        assert_eq!(walk.enter("/b", 1, None), Ok(()));
        let again = walk.enter("/a/b/loop", 2, Some(1)).unwrap_err();
        assert_eq!(
            again,
            Refusal::Again {
                place: "/a/b/loop".into(),
                first: "/".into(),
                id: 1
            }
        );
        assert_eq!(
            again.expected("tag", "address"),
            "each tag group linked once, found the group / (address 1) again at /a/b/loop: \
             groups linked in a cycle or shared"
        );
        let deep = walk.enter("/a/b/c", 3, Some(9)).unwrap_err();
        assert_eq!(
            deep.expected("tag", "address"),
            "tag groups nested at most 2 deep (at /a/b/c)"
        );
    }
}
