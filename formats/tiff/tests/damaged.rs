//! Damaged TIFF files generated here (never corpus copies), from issue 15: a page lost to
//! truncation is a warning, and a SamplesPerPixel of 65535 makes strips that decode short:
//! an error, where they were zero-padded silently.

use std::path::{Path, PathBuf};

use emio_core::{DType, Dataset, Format, NoProgress, Options};
use emio_tiff::Tiff;

fn write(dir: &Path, name: &str, ds: &Dataset, pairs: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(name);
    let options = Options::parse(Tiff.write_options(), pairs).unwrap();
    Tiff.write(ds, &path, &options, &NoProgress).unwrap();
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
