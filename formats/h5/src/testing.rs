//! Helpers for tests of the crates reading HDF5 (feature `test-util`): damage a file
//! emio's writer made in ways the writer cannot.

use std::path::Path;

/// Point the one hard link to the object at `from` at the object at `to` instead: with
/// `to` an ancestor of `from`, a cycle; with any other group, a group shared by two
/// parents. The link is an entry of a symbol-table node (the old-style groups emio's
/// writer writes): the object's header address, which appears nowhere else in the file.
///
/// # Panics
/// When either path is not found or the address of `from` is not in the file once.
pub fn relink(path: &Path, from: &str, to: &str) {
    let file = crate::H5File::open(path).expect("an HDF5 file");
    let address = |p: &str| {
        file.object_address(p)
            .unwrap_or_else(|| panic!("no object {p}"))
            .to_le_bytes()
    };
    let (from, to) = (address(from), address(to));
    drop(file);
    let mut bytes = std::fs::read(path).expect("read the file");
    let at: Vec<usize> = bytes
        .windows(8)
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "one link to the object");
    bytes[at[0]..at[0] + 8].copy_from_slice(&to);
    std::fs::write(path, bytes).expect("write the file");
}
