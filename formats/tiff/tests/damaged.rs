//! Damaged TIFF files generated here (never corpus copies), from issue 15: a page lost to
//! truncation is a warning, and a SamplesPerPixel of 65535 makes strips that decode short:
//! an error, where they were zero-padded silently.

use std::path::{Path, PathBuf};

use emio_core::{DType, Dataset, Format, Options, WriteRequest};
use emio_tiff::Tiff;

fn write(dir: &Path, name: &str, ds: &Dataset, pairs: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    let options = Options::parse(Tiff.write_options(), pairs).unwrap();
    Tiff.write(&WriteRequest::new(ds, &path, &options)).unwrap();
    path
}

fn stack() -> Dataset {
    let bytes: Vec<u8> = (0..2 * 32 * 32 * 2).map(|i| (i * 7 % 251) as u8).collect();
    Dataset::from_bytes(bytes, DType::U16, vec![2, 32, 32]).unwrap()
}

#[test]
fn pages_lost_to_truncation_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "pages.tif", &stack(), &[("imagej", "false")]);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.tif");
    let mut found = false;
    for keep in (bytes.len() / 4..bytes.len()).step_by(97) {
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let Ok(datasets) = Tiff.open(&cut, &Options::new()) else {
            continue;
        };
        let pages: u64 = datasets.iter().map(|d| d.shape()[0]).sum();
        if datasets.iter().all(|d| d.ndim() == 2) || pages < 2 {
            assert!(
                datasets.iter().any(|d| !d.warnings().is_empty()),
                "{keep} bytes: a page was lost without a warning"
            );
            found = true;
        }
    }
    assert!(found, "no truncation lost a page");
}

#[test]
fn huge_samples_per_pixel_strips_decode_short_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    let image = Dataset::from_bytes(vec![5u8; 64 * 64], DType::U8, vec![64, 64]).unwrap();
    let path = write(dir.path(), "spp.tif", &image, &[("compression", "deflate")]);
    let mut bytes = std::fs::read(&path).unwrap();
    // Tag 277 (SamplesPerPixel), SHORT, count 1: set its value to 65535.
    let entry = bytes
        .windows(8)
        .position(|w| w == [0x15, 0x01, 3, 0, 1, 0, 0, 0])
        .expect("a SamplesPerPixel entry");
    bytes[entry + 8..entry + 10].copy_from_slice(&65535u16.to_le_bytes());
    let damaged = dir.path().join("damaged.tif");
    std::fs::write(&damaged, &bytes).unwrap();
    let datasets = Tiff.open(&damaged, &Options::new()).unwrap();
    for ds in &datasets {
        let region: Vec<u64> = ds.shape().iter().map(|_| 1).collect();
        let err = ds
            .read_region_bytes(&vec![0; ds.ndim()], &region)
            .unwrap_err()
            .to_string();
        assert!(err.contains("to decode to"), "{err}");
    }
}

/// A classic little-endian TIFF of one 2 × 2 u8 image whose directory also holds `extra`
/// private tags (40000, 40001, ...), each 65,536 BYTE values (all pointing at one blob).
fn huge_directory(extra: u16) -> Vec<u8> {
    let count = 8 + extra;
    let ifd_end = 8 + 2 + 12 * u32::from(count) + 4;
    let (pixels, blob) = (ifd_end, ifd_end + 4);
    let entry = |tag: u16, ftype: u16, n: u32, value: u32| {
        let mut e = Vec::with_capacity(12);
        e.extend(tag.to_le_bytes());
        e.extend(ftype.to_le_bytes());
        e.extend(n.to_le_bytes());
        e.extend(value.to_le_bytes());
        e
    };
    let mut bytes = b"II*\0".to_vec();
    bytes.extend(8u32.to_le_bytes());
    bytes.extend(count.to_le_bytes());
    for (tag, ftype, value) in [
        (256, 3, 2),
        (257, 3, 2),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, pixels),
        (278, 3, 2),
        (279, 4, 4),
    ] {
        bytes.extend(entry(tag, ftype, 1, value));
    }
    for i in 0..extra {
        bytes.extend(entry(40000 + i, 1, 1 << 16, blob));
    }
    bytes.extend(0u32.to_le_bytes());
    bytes.extend([1u8, 2, 3, 4]);
    bytes.extend((0..1u32 << 16).map(|i| i as u8));
    bytes
}

#[test]
fn a_huge_directory_keeps_its_tag_values_within_the_metadata_budget() {
    // 19,000 tags of 65,536 values: 1.2 billion numbers as JSON from a 300 KB file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge_ifd.tif");
    let bytes = huge_directory(19_000);
    std::fs::write(&path, &bytes).unwrap();
    let datasets = Tiff.open(&path, &Options::new()).unwrap();
    let ds = &datasets[0];
    assert_eq!(
        ds.read_region_bytes(&[0, 0], &[2, 2]).unwrap(),
        [1, 2, 3, 4]
    );
    let kept = serde_json::to_string(&ds.original_metadata).unwrap().len() as u64;
    let limit = emio_core::budget::metadata_limit(bytes.len() as u64);
    assert!(
        kept <= limit,
        "{kept} bytes of original metadata, limit {limit}"
    );
    assert!(
        ds.original_metadata.contains_key("ImageWidth"),
        "the image's own tags come first and are kept"
    );
    let warning = ds.warnings().join("\n");
    assert!(
        warning.contains("were left out of the original metadata") && warning.contains("… and"),
        "{warning}"
    );
    assert!(
        warning.len() < 1000,
        "the warning lists a few tags: {warning}"
    );
}
