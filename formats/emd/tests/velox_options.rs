//! Velox reader options on the corpus spectrum-image file: `select_type`, `rebin_energy`,
//! `SI_dtype`, frame ranges and their validation (the defaults and `sum_frames` /
//! `sum_EDS_detectors` are checked against rsciio by the conformance test).

use std::path::PathBuf;

use emio_core::{DType, Dataset, Format, Options};
use emio_emd::Emd;

/// The corpus' Velox spectrum image (the tests fail with the fix when the corpus is missing).
fn si_file() -> PathBuf {
    emio_core::corpus::corpus_format_dir("emd").join("SI_empty_selection.emd")
}

fn open(opts: &[(&str, &str)]) -> emio_core::Result<Vec<Dataset>> {
    let path = si_file();
    Emd.open(&path, &Options::parse(Emd.read_options(), opts)?)
}

fn total(ds: &Dataset) -> f64 {
    let bytes = ds
        .read_region_bytes(&vec![0; ds.ndim()], ds.shape())
        .unwrap();
    emio_h5::to_f64(ds.dtype(), &bytes).unwrap().iter().sum()
}

#[test]
fn select_type_picks_kinds() {
    assert_eq!(open(&[]).unwrap().len(), 6);
    assert_eq!(
        open(&[("select_type", "single_spectrum")]).unwrap().len(),
        4
    );
    assert_eq!(open(&[("select_type", "images")]).unwrap().len(), 1);
    let si = open(&[("select_type", "spectrum_image")]).unwrap();
    assert_eq!(si.len(), 1);
    assert_eq!(si[0].shape(), &[16, 20, 4096]);
}

#[test]
fn rebinning_and_dtype_keep_every_count() {
    let base = open(&[("select_type", "spectrum_image")])
        .unwrap()
        .remove(0);
    let rebinned = open(&[
        ("select_type", "spectrum_image"),
        ("rebin_energy", "4"),
        ("SI_dtype", "float32"),
    ])
    .unwrap()
    .remove(0);
    assert_eq!(rebinned.shape(), &[16, 20, 1024]);
    assert_eq!(rebinned.dtype(), DType::F32);
    let energy = rebinned.axes[2].scale_offset().unwrap();
    let base_energy = base.axes[2].scale_offset().unwrap();
    assert!((energy.0 - 4.0 * base_energy.0).abs() < 1e-12);
    assert_eq!(total(&base), total(&rebinned));
    assert!(total(&base) > 0.0);
    // One frame: frames kept gives the same counts with a time axis.
    let frames = open(&[("select_type", "spectrum_image"), ("sum_frames", "false")])
        .unwrap()
        .remove(0);
    assert_eq!(frames.shape(), &[1, 16, 20, 4096]);
    assert_eq!(total(&frames), total(&base));
    // A region read equals the same part of the full read.
    let part = base.read_region_bytes(&[3, 5, 0], &[2, 4, 4096]).unwrap();
    let full = base.read_region_bytes(&[0, 0, 0], base.shape()).unwrap();
    let row = 20 * 4096 * 2;
    let px = 4096 * 2;
    for y in 0..2 {
        let a = &part[y * 4 * px..(y + 1) * 4 * px];
        let start = (3 + y) * row + 5 * px;
        assert_eq!(a, &full[start..start + 4 * px]);
    }
}

#[test]
fn bad_frame_ranges_and_rebinning_are_rejected() {
    assert!(open(&[("last_frame", "5")]).is_err());
    assert!(open(&[("rebin_energy", "3")]).is_err());
    assert!(open(&[("first_frame", "1"), ("last_frame", "0")]).is_err());
    let empty = open(&[("select_type", "spectrum_image"), ("first_frame", "1")])
        .unwrap()
        .remove(0);
    assert_eq!(total(&empty), 0.0);
}
