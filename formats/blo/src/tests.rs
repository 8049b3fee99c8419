//! Tests of the blockfile reader and writer.

use std::path::PathBuf;

use emio_core::metadata::{get_f64, get_str};
use emio_core::{Dataset, Format, Options, WriteRequest};
use proptest::prelude::*;

use super::*;

/// The corpus' blockfile (the test fails with the fix when the corpus is missing).
fn corpus_file() -> PathBuf {
    emio_core::corpus::corpus_format_dir("blo").join("test1.blo")
}

fn all_bytes(ds: &Dataset) -> Vec<u8> {
    ds.read_region_bytes(&vec![0; ds.ndim()], ds.shape())
        .unwrap()
}

fn write(ds: &Dataset, pairs: &[(&str, &str)]) -> Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.blo");
    let options = Options::parse(Blo.write_options(), pairs)?;
    Blo.write(&WriteRequest::new(ds, &path, &options))?;
    Ok((dir, path))
}

#[test]
fn reads_the_corpus_file_and_its_virtual_image() {
    let path = corpus_file();
    let ds = Blo.open(&path, &Options::new()).unwrap();
    assert_eq!(ds.len(), 2);
    let d = &ds[0];
    assert_eq!(d.shape(), [3, 2, 144, 144]);
    assert_eq!(
        d.sha256().unwrap(),
        "ca07b9990b105ee65a89c0d0ec8c241c56cf7e4ffb8b4828bff49be92a93d183"
    );
    let names: Vec<&str> = d.axes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["y", "x", "dy", "dx"]);
    assert_eq!(
        d.axes[2].kind,
        AxisKind::Uniform {
            scale: 100.0 / 6226.0,
            offset: 0.0
        }
    );
    assert_eq!(get_str(&d.metadata, "General.date"), Some("2015-12-01"));
    assert_eq!(
        get_str(&d.metadata, "General.time"),
        Some("15:40:59.812000")
    );
    assert_eq!(
        get_str(&d.metadata, "General.notes"),
        Some("Precession angle : \r\nPrecession Frequency : \r\nCamera gamma : on")
    );
    assert_eq!(
        get_f64(&d.metadata, "Acquisition_instrument.TEM.beam_energy"),
        Some(200.0)
    );
    let vbf = &ds[1];
    assert_eq!(vbf.shape(), [3, 2]);
    assert_eq!(all_bytes(vbf), [169, 173, 173, 174, 170, 173]);
    assert!(vbf.axes.iter().all(|a| !a.navigate));
}

#[test]
fn truncated_files_pad_missing_frames_with_zeros() {
    let path = corpus_file();
    let bytes = std::fs::read(&path).unwrap();
    let record = 6 + 144 * 144;
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.blo");
    std::fs::write(&cut, &bytes[..4112 + 4 * record + 100]).unwrap();
    let full = all_bytes(&Blo.open(&path, &Options::new()).unwrap()[0]);
    let part = all_bytes(&Blo.open(&cut, &Options::new()).unwrap()[0]);
    assert_eq!(part[..4 * 144 * 144], full[..4 * 144 * 144]);
    assert!(part[4 * 144 * 144..].iter().all(|&v| v == 0));
}

#[test]
fn corrupt_files_never_panic() {
    let path = corpus_file();
    let bytes = std::fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("c.blo");
    let mut variants: Vec<Vec<u8>> = [
        0,
        5,
        6,
        100,
        239,
        240,
        4095,
        4096,
        4100,
        4112,
        5000,
        bytes.len() - 1,
    ]
    .iter()
    .map(|&n| bytes[..n].to_vec())
    .collect();
    for at in (0..300).chain([4096, 4112, 4113, 4118]) {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= flip;
            variants.push(b);
        }
    }
    for b in variants {
        std::fs::write(&target, &b).unwrap();
        if let Ok(datasets) = Blo.open(&target, &Options::new()) {
            for d in datasets {
                bounded_read(&d);
            }
        }
    }
}

#[test]
fn intensity_scaling_maps_onto_u8_like_rsciio() {
    let values: Vec<u16> = (0..2 * 3 * 4 * 4)
        .map(|v| (v * 997 % 1200) as u16)
        .collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let ds = Dataset::from_bytes(bytes, DType::U16, vec![2, 3, 4, 4]).unwrap();
    let e = write(&ds, &[]).unwrap_err().to_string();
    assert!(e.contains("intensity_scaling"), "{e}");
    let (min, max) = (
        f64::from(*values.iter().min().unwrap()),
        f64::from(*values.iter().max().unwrap()),
    );
    for (option, lo, hi) in [
        ("dtype", 0.0, 65535.0),
        ("minmax", min, max),
        ("crop", 0.0, 255.0),
        ("100,900", 100.0, 900.0),
    ] {
        let (_dir, path) = write(&ds, &[("intensity_scaling", option)]).unwrap();
        let back = Blo.open(&path, &Options::new()).unwrap();
        let expected: Vec<u8> = values
            .iter()
            .map(|&v| ((f64::from(v).clamp(lo, hi) - lo) / (hi - lo) * 255.0) as u8)
            .collect();
        assert_eq!(all_bytes(&back[0]), expected, "{option}");
        let means: Vec<u8> = values
            .chunks(16)
            .map(|f| {
                let m = f.iter().map(|&v| f64::from(v)).sum::<f64>() / 16.0;
                ((m.clamp(lo, hi) - lo) / (hi - lo) * 255.0) as u8
            })
            .collect();
        assert_eq!(all_bytes(&back[1]), means, "{option}");
    }
    let floats = Dataset::from_bytes(vec![0; 64], DType::F32, vec![4, 4]).unwrap();
    assert!(write(&floats, &[("intensity_scaling", "dtype")]).is_err());
    assert!(write(&floats, &[("intensity_scaling", "9,1")]).is_err());
    let (_dir, path) = write(&ds, &[("intensity_scaling", "crop"), ("navigator", "None")]).unwrap();
    assert!(all_bytes(&Blo.open(&path, &Options::new()).unwrap()[1])
        .iter()
        .all(|&v| v == 0));
}

#[test]
fn writer_refuses_what_blo_cannot_hold() {
    let rect = Dataset::from_bytes(vec![0; 12], DType::U8, vec![3, 4]).unwrap();
    assert!(write(&rect, &[])
        .unwrap_err()
        .to_string()
        .contains("square"));
    let five = Dataset::from_bytes(vec![0; 32], DType::U8, vec![2, 2, 2, 2, 2]).unwrap();
    assert!(write(&five, &[]).is_err());
    let c = Dataset::from_bytes(vec![0; 32], DType::C64, vec![2, 2]).unwrap();
    assert!(write(&c, &[("intensity_scaling", "crop")]).is_err());
    let u8s = Dataset::from_bytes(vec![0; 16], DType::U8, vec![4, 4]).unwrap();
    assert!(write(&u8s, &[("navigator", "bogus")]).is_err());
}

#[test]
fn writer_keeps_calibrations_and_header_values() {
    let path = corpus_file();
    let src = Blo.open(&path, &Options::new()).unwrap().remove(0);
    let (_dir, out) = write(&src, &[]).unwrap();
    let back = Blo.open(&out, &Options::new()).unwrap();
    assert_eq!(all_bytes(&back[0]), all_bytes(&src));
    assert_eq!(back[0].axes, src.axes);
    for key in ["General.date", "General.time", "General.notes"] {
        assert_eq!(
            get_str(&back[0].metadata, key).map(|s| s.split('.').next().unwrap().to_string()),
            get_str(&src.metadata, key).map(|s| s.split('.').next().unwrap().to_string()),
            "{key}"
        );
    }
    for key in ["beam_energy", "camera_length", "rotation"] {
        let k = format!("Acquisition_instrument.TEM.{key}");
        assert_eq!(
            get_f64(&back[0].metadata, &k),
            get_f64(&src.metadata, &k),
            "{key}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn writer_round_trips(
        nav in prop::collection::vec(2u64..5, 0..3),
        dp in 1u64..7,
        seed in any::<u64>(),
        region_seed in any::<u64>(),
    ) {
        let mut shape = nav.clone();
        shape.extend([dp, dp]);
        let n: u64 = shape.iter().product();
        let bytes: Vec<u8> = (0..n).map(|i| (i.wrapping_mul(seed | 1) >> 5) as u8).collect();
        let ds = Dataset::from_bytes(bytes.clone(), DType::U8, shape.clone()).unwrap();
        let (_dir, path) = write(&ds, &[]).unwrap();
        let back = Blo.open(&path, &Options::new()).unwrap();
        let main = &back[0];
        prop_assert_eq!(main.shape(), &shape[..]);
        prop_assert_eq!(all_bytes(main), bytes.clone());
        let frame = (dp * dp) as usize;
        let means: Vec<u8> = bytes.chunks(frame).map(|f| (f.iter().map(|&v| f64::from(v)).sum::<f64>() / frame as f64) as u8).collect();
        prop_assert_eq!(all_bytes(&back[1]), means);
        let start: Vec<u64> = shape.iter().enumerate().map(|(i, &s)| (region_seed >> (8 * i)) % s).collect();
        let extent: Vec<u64> = shape.iter().zip(&start).enumerate().map(|(i, (&s, &a))| 1 + (region_seed >> (8 * i + 4)) % (s - a)).collect();
        let part = main.read_region_bytes(&start, &extent).unwrap();
        let strides: Vec<u64> = (0..shape.len()).map(|d| shape[d + 1..].iter().product::<u64>()).collect();
        let count: u64 = extent.iter().product();
        let expected: Vec<u8> = (0..count).map(|k| {
            let mut rem = k;
            let mut flat = 0;
            for d in (0..shape.len()).rev() {
                flat += (start[d] + rem % extent[d]) * strides[d];
                rem /= extent[d];
            }
            bytes[flat as usize]
        }).collect();
        prop_assert_eq!(part, expected);
    }
}

/// Read a dataset whole when small, else its first chunk (as the fuzz targets do: a header
/// may claim a large array that the file only partly holds).
fn bounded_read(ds: &Dataset) {
    if ds.nbytes() <= 16 << 20 {
        let _ = ds.read();
    } else {
        let chunk = ds.streaming_chunk_shape(1 << 20);
        if let Some(region) = ds.chunks(&chunk).next() {
            let _ = ds.read_region_bytes(&region.start, &region.shape);
        }
    }
}

/// Issue 15, item 2: NX or NY set to 65535 in a small file made it claim gigabytes of
/// zero frames. Padding a truncated file stays allowed within the budget, with a warning.
#[test]
fn declared_scans_far_beyond_the_file_are_refused_and_padding_is_reported() {
    let scan: Vec<u8> = (0..4 * 16 * 16).map(|i| i as u8).collect();
    let ds = Dataset::from_bytes(scan, DType::U8, vec![2, 2, 16, 16]).unwrap();
    let (dir, path) = write(&ds, &[]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for at in [24, 26] {
        let mut huge = bytes.clone();
        huge[at..at + 2].copy_from_slice(&65535u16.to_le_bytes());
        let damaged = dir.path().join("huge.blo");
        std::fs::write(&damaged, &huge).unwrap();
        let err = Blo.open(&damaged, &Options::new()).unwrap_err().to_string();
        assert!(err.contains("65535") && err.contains("declares"), "{err}");
    }
    let cut = dir.path().join("cut.blo");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let opened = Blo.open(&cut, &Options::new()).unwrap();
    assert!(
        opened[0]
            .warnings()
            .iter()
            .any(|w| w.contains("3 of its 4 frames")),
        "{:?}",
        opened[0].warnings()
    );
}

proptest! {
    /// The note reads as before the fast path: every byte as a Latin-1 char, NULs trimmed
    /// at both ends (inner NULs kept).
    #[test]
    fn note_is_latin1_with_nul_padding_trimmed(region in proptest::collection::vec(
        prop_oneof![Just(0u8), Just(b'a'), Just(0xe9u8), any::<u8>()], 0..64)) {
        let expected = region
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .trim_matches('\0')
            .to_string();
        prop_assert_eq!(note_text(&region), expected);
    }
}
