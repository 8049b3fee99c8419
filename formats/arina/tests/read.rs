//! Reading the generated ARINA-like files of testdata/arina (written by h5py + hdf5plugin:
//! bitshuffle-LZ4, plain bitshuffle and LZ4 data files behind external links).

use std::path::PathBuf;

use emio_arina::Arina;
use emio_core::{DType, Format, Options};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/arina")
        .join(name)
}

/// The frames generate.py wrote (`scan_frames.npy`, little-endian uint32).
fn expected_frames() -> Vec<u32> {
    let bytes = std::fs::read(testdata("scan_frames.npy")).unwrap();
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize + 10;
    bytes[header..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn open(options: &[(&str, &str)]) -> emio_core::Result<Vec<emio_core::Dataset>> {
    let opts = Options::parse(Arina.read_options(), options)?;
    Arina.open(&testdata("scan_master.h5"), &opts)
}

fn values_u16(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_ne_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn frames_of_every_filter_match_h5py() {
    let ds = &open(&[("dtype", "uint32")]).unwrap()[0];
    assert_eq!(ds.shape(), [3, 2, 24, 32]);
    let got: Vec<u32> = ds
        .read_region_bytes(&[0, 0, 0, 0], &[3, 2, 24, 32])
        .unwrap()
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, expected_frames());
    // A region inside one frame of the third data file (LZ4 filter).
    let part = ds.read_region_bytes(&[2, 1, 5, 7], &[1, 1, 2, 3]).unwrap();
    let want = expected_frames();
    let at = |y: usize, x: usize| want[5 * 24 * 32 + y * 32 + x];
    let got: Vec<u32> = part
        .chunks_exact(4)
        .map(|c| u32::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(
        got,
        [at(5, 7), at(5, 8), at(5, 9), at(6, 7), at(6, 8), at(6, 9)]
    );
}

#[test]
fn defaults_follow_rsciio_and_the_scan_file() {
    let ds = &open(&[]).unwrap()[0];
    assert_eq!(ds.dtype(), DType::U16);
    assert_eq!(ds.shape(), [3, 2, 24, 32]);
    let got = values_u16(
        &ds.read_region_bytes(&[0, 0, 0, 0], &[1, 1, 24, 32])
            .unwrap(),
    );
    let want: Vec<u16> = expected_frames()[..24 * 32]
        .iter()
        .map(|&v| v as u16)
        .collect();
    assert_eq!(got, want);
    assert_eq!(ds.axes[0].units, "A");
    assert_eq!(ds.axes[0].scale_offset(), Some((2.5, 0.0)));
    let tem = &ds.metadata["Acquisition_instrument"]["TEM"];
    assert_eq!(tem["beam_energy"], 200.0);
    assert_eq!(tem["Detector"]["Diffraction"]["masked_pixels"], 2);
    assert_eq!(
        ds.original_metadata["entry"]["instrument"]["detector"]["description"],
        "Dectris ARINA Si"
    );
}

#[test]
fn options_navigation_rebin_mask_flatfield() {
    let ds = &open(&[("navigation_shape", "6,auto")]).unwrap()[0];
    assert_eq!(ds.shape(), [6, 1, 24, 32]);
    assert!(open(&[("navigation_shape", "4,2")]).is_err());

    let ds = &open(&[("rebin_diffraction", "2"), ("dtype", "float64")]).unwrap()[0];
    assert_eq!(ds.shape(), [3, 2, 12, 16]);
    let got = ds.read_region_bytes(&[0, 0, 0, 0], &[1, 1, 1, 1]).unwrap();
    let f = expected_frames();
    let mean = (f[0] + f[1] + f[32] + f[33]) as f64 / 4.0;
    assert_eq!(f64::from_ne_bytes(got.try_into().unwrap()), mean);

    let ds = &open(&[("apply_pixel_mask", "true"), ("dtype", "uint32")]).unwrap()[0];
    let got = ds.read_region_bytes(&[0, 0, 3, 4], &[1, 1, 1, 1]).unwrap();
    assert_eq!(u32::from_ne_bytes(got.try_into().unwrap()), 0);

    let ds = &open(&[("flatfield", "master")]).unwrap()[0];
    assert_eq!(ds.dtype(), DType::F32);
    let got = ds.read_region_bytes(&[0, 0, 0, 0], &[1, 1, 1, 1]).unwrap();
    let v = f32::from_ne_bytes(got.try_into().unwrap());
    let flat: Vec<f32> = (0..24 * 32)
        .map(|i| 0.5 + i as f32 * (1.0 / (24.0 * 32.0 - 1.0)))
        .collect();
    let mut sorted = flat.clone();
    sorted.sort_by(f32::total_cmp);
    let median = (sorted[383] + sorted[384]) / 2.0;
    let want = f[0] as f32 * (median / flat[0]);
    assert!((v - want).abs() <= want * 1e-5, "{v} vs {want}");
}

#[test]
fn a_missing_data_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let master = dir.path().join("scan_master.h5");
    std::fs::copy(testdata("scan_master.h5"), &master).unwrap();
    let err = Arina
        .open(&master, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("scan_data_000001.h5"), "{err}");
}

#[test]
fn a_corrupt_chunk_names_file_frame_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "scan_master.h5",
        "scan.h5",
        "scan_data_000002.h5",
        "scan_data_000003.h5",
    ] {
        std::fs::copy(testdata(name), dir.path().join(name)).unwrap();
    }
    // Truncate the LZ4 blocks of the first data file: the chunks run past the file's end
    // or decode short.
    let mut bytes = std::fs::read(testdata("scan_data_000001.h5")).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 2000..n - 1000] {
        *b = 0xff;
    }
    std::fs::write(dir.path().join("scan_data_000001.h5"), &bytes).unwrap();
    let ds = &Arina
        .open(&dir.path().join("scan_master.h5"), &Options::default())
        .unwrap()[0];
    let err = ds
        .read_region_bytes(&[0, 0, 0, 0], &[1, 2, 24, 32])
        .unwrap_err()
        .to_string();
    assert!(err.contains("scan_data_000001.h5"), "{err}");
    assert!(err.contains("frame"), "{err}");
    assert!(err.contains("byte"), "{err}");
}

/// A master file (found by fuzzing) whose group `/entry/data` holds its one dataset and a
/// link back to itself: the original metadata lists each group once, however many links
/// lead to it, so the dataset appears once, not once per trip around the cycle down to
/// the depth limit (which took 2.6 s on this file, and longer on files with more links).
#[test]
fn groups_linked_into_themselves_are_walked_once() {
    let opts = Options::parse(Arina.read_options(), &[] as &[(&str, &str)]).unwrap();
    let datasets = Arina
        .open(&testdata("cyclic_groups_master.h5"), &opts)
        .unwrap();
    let original = emio_core::serde_json::to_string(&datasets[0].original_metadata).unwrap();
    assert_eq!(original.matches("ndarray(").count(), 1, "{original}");
}
