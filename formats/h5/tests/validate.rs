//! `emio_h5::validate` (what `emconvert check` reports for HDF5-based files): the test
//! files emio and h5py wrote have no problem; a master whose data files are missing, a file
//! cut short, and a dataset whose stored block runs past the end of the file each name the
//! object that does not resolve.

use std::path::{Path, PathBuf};

use emio_core::DType;
use emio_h5::validate::validate;
use emio_h5::writer::H5Writer;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

#[test]
fn the_test_files_have_no_problems() {
    for rel in [
        "emd/stack_u16.emd",
        "hspy/stack_u16.hspy",
        "dm5/stack_u16.dm5",
        "arina/scan_master.h5",
        "arina/scan.h5",
    ] {
        let problems = validate(&testdata(rel));
        assert!(problems.is_empty(), "{rel}: {problems:#?}");
    }
}

#[test]
fn external_links_to_missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("scan_master.h5");
    std::fs::copy(testdata("arina/scan_master.h5"), &master).unwrap();
    let problems = validate(&master);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    for (k, p) in problems.iter().enumerate() {
        let file = format!("scan_data_00000{}.h5", k + 1);
        assert_eq!(
            p.field,
            format!("external link /entry/data/data_00000{}", k + 1)
        );
        assert_eq!(p.value, format!("{file}:/entry/data/data"));
        assert!(
            p.why.contains(&file) && p.why.contains("does not exist"),
            "{}",
            p.why
        );
    }
}

#[test]
fn a_file_cut_short_names_the_group_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(testdata("emd/stack_u16.emd")).unwrap();
    let cut = dir.path().join("cut.emd");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let problems = validate(&cut);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].field, "group /");
    assert!(problems[0].why.contains("EOF"), "{}", problems[0].why);
}

#[test]
fn a_contiguous_block_past_the_end_of_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("block.h5");
    let mut w = H5Writer::create(&path).unwrap();
    w.write_dataset("signal/data", DType::U8, &[64, 64], &[7u8; 4096], &[])
        .unwrap();
    w.finish().unwrap();
    // The layout message (version 3, contiguous): its address -> 2^40, size 4096 kept.
    let mut bytes = std::fs::read(&path).unwrap();
    let size = 4096u64.to_le_bytes();
    let at: Vec<usize> = bytes
        .windows(18)
        .enumerate()
        .filter(|(_, w)| w[..2] == [3, 1] && w[10..] == size)
        .map(|(i, _)| i + 2)
        .collect();
    assert_eq!(at.len(), 1);
    bytes[at[0]..at[0] + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let problems = validate(&path);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].field, "data of /signal/data");
    assert_eq!(problems[0].value, "[64, 64] of 1-byte elements");
}
