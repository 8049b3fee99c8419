//! Validation of a DM3/DM4 file (`emconvert check`): the tag tree is parsed as the reader
//! parses it (a file the reader refuses is reported with the reason), then what the reader
//! tolerates but DigitalMicrograph never writes is reported: a root length that disagrees
//! with the tag tree, anything but the 8 zero bytes DM ends every file with, DM4 tag sizes
//! that disagree with their tags, group flags other than 0 or 1.
//!
//! The rules were checked against the 95 DM3/DM4 files of the conformance corpus (written
//! by several DigitalMicrograph versions): every one has the 8-byte zero trailer and exact
//! DM4 tag sizes, and a root length equal to the root group's size or 4 bytes more.

use std::path::Path;

use emio_core::{Problem, Storage};

use crate::tags;

/// Bytes of zeros DigitalMicrograph writes after the tag tree.
const TRAILER: usize = 8;

/// Every structural problem found in the DM3/DM4 file at `path`.
pub fn validate(path: &Path) -> Vec<Problem> {
    let storage = match Storage::map(path) {
        Ok(s) => s,
        Err(e) => return vec![Problem::new("file", "", one_line(&e.to_string()))],
    };
    let file = match tags::parse(&storage) {
        Ok(f) => f,
        Err(e) => return vec![Problem::new("tag tree", "", one_line(&e.to_string()))],
    };
    let layout = &file.layout;
    let mut problems = Vec::new();
    let group = layout.root_end - layout.root_start;
    if layout.root_length != group && layout.root_length != group + 4 {
        problems.push(Problem::new(
            "root length",
            layout.root_length,
            format!(
                "the {group} bytes the root group occupies (or {}: some DigitalMicrograph \
                 versions count 4 more)",
                group + 4
            ),
        ));
    }
    let trailer = &storage[layout.root_end as usize..];
    if trailer.len() < TRAILER || trailer[..TRAILER].iter().any(|&b| b != 0) {
        problems.push(Problem::new(
            format!("trailer at byte {}", layout.root_end),
            format!("{} bytes", trailer.len().min(TRAILER)),
            "8 zero bytes after the tag tree, as DigitalMicrograph ends every file (the \
             file may have been cut short)",
        ));
    } else if trailer.len() > TRAILER {
        problems.push(Problem::new(
            format!("trailer at byte {}", layout.root_end),
            format!("{} bytes", trailer.len()),
            "only the 8 zero bytes after the tag tree: the bytes after them belong to no \
             tag",
        ));
    }
    for odd in &layout.irregular {
        problems.push(Problem::new(
            format!("{} at byte {}", odd.field, odd.offset),
            odd.value,
            odd.expected.clone(),
        ));
    }
    problems
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
