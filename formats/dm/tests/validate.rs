//! What `emconvert check` reports about a DM3/DM4 file's structure: nothing for the files
//! emio writes; the reason for a tag tree the reader refuses; and each field
//! DigitalMicrograph never writes that way (root length, trailer, DM4 tag size, group flag),
//! named with its offset and value.

use std::path::{Path, PathBuf};

use emio_core::{Format, Problem};
use emio_dm::Dm;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/dm")
        .join(rel)
}

/// The problems of `bytes` written to a temporary file.
fn problems_of(bytes: &[u8]) -> Vec<Problem> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.dm4");
    std::fs::write(&path, bytes).unwrap();
    Dm.validate(&path)
}

fn dm4() -> Vec<u8> {
    std::fs::read(testdata("image_u16.dm4")).unwrap()
}

#[test]
fn files_emio_writes_have_no_problems() {
    for rel in ["image_u16.dm4", "stack_u16.dm3"] {
        let problems = Dm.validate(&testdata(rel));
        assert!(problems.is_empty(), "{rel}: {problems:#?}");
    }
}

#[test]
fn a_tag_tree_the_reader_refuses_is_reported_with_the_reason() {
    let mut bytes = dm4();
    // The first tag's kind (after the 16-byte header and the root's flags and count).
    bytes[26] = 7;
    let problems = problems_of(&bytes);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].field, "tag tree");
    assert!(problems[0].why.contains("found 7"), "{}", problems[0].why);
}

#[test]
fn the_trailer_must_be_eight_zero_bytes() {
    let bytes = dm4();
    let cut = problems_of(&bytes[..bytes.len() - 3]);
    assert_eq!(cut.len(), 1, "{cut:#?}");
    assert!(cut[0].field.starts_with("trailer at byte"));
    assert_eq!(cut[0].value, "5 bytes");
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"appended");
    let extra = problems_of(&longer);
    assert_eq!(extra.len(), 1, "{extra:#?}");
    assert_eq!(extra[0].value, "16 bytes");
    assert!(extra[0].why.contains("belong to no tag"));
}

#[test]
fn a_root_length_that_disagrees_with_the_tree_is_named() {
    let mut bytes = dm4();
    bytes[4..12].copy_from_slice(&(1u64 << 40).to_be_bytes());
    let problems = problems_of(&bytes);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].field, "root length");
    assert_eq!(problems[0].value, (1u64 << 40).to_string());
}

#[test]
fn a_dm4_tag_size_and_a_group_flag_out_of_place_are_named() {
    let mut bytes = dm4();
    bytes[16] = 2; // the root group's is_sorted flag
    let name_len = u16::from_be_bytes([bytes[27], bytes[28]]) as usize;
    let size_at = 29 + name_len;
    let size = u64::from_be_bytes(bytes[size_at..size_at + 8].try_into().unwrap());
    bytes[size_at..size_at + 8].copy_from_slice(&(size + 1).to_be_bytes());
    let problems = problems_of(&bytes);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert_eq!(problems[0].field, "is_sorted flag of a group at byte 16");
    assert_eq!(problems[0].value, "2");
    assert!(problems[1].field.starts_with("DM4 size of tag"));
    assert!(problems[1].field.ends_with(&format!("at byte {size_at}")));
    assert_eq!(problems[1].value, (size + 1).to_string());
    assert_eq!(
        problems[1].why,
        format!("the {size} bytes the tag occupies")
    );
}
