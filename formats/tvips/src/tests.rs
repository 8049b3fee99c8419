//! Round trips through the registry (split parts committed with the `_000` file), scan
//! options, versions, and corrupt or incomplete recordings.

use std::path::Path;
use std::sync::Arc;

use emio_core::metadata::{get_f64, get_str, set_path};
use emio_core::{Axis, DType, Dataset, NoProgress, Registry, StridedSource, Tree};
use proptest::prelude::*;

use super::*;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Tvips));
    r
}

/// Frames numbered by their first pixel: frame `f` holds `f * 1000 + pixel`.
fn stack(dtype: DType, nav: &[u64], dimy: u64, dimx: u64) -> Dataset {
    let mut shape = nav.to_vec();
    shape.extend([dimy, dimx]);
    let n: u64 = shape.iter().product();
    let bytes: Vec<u8> = (0..n)
        .flat_map(|i| {
            let v = (i / (dimy * dimx)) * 1000 + i % (dimy * dimx);
            match dtype {
                DType::U8 => vec![v as u8],
                DType::U16 => (v as u16).to_ne_bytes().to_vec(),
                _ => (v as u32).to_ne_bytes().to_vec(),
            }
        })
        .collect();
    let source = StridedSource::from_bytes(bytes, dtype, shape.clone()).unwrap();
    let mut axes: Vec<Axis> = nav
        .iter()
        .map(|_| Axis::uniform("t", "ms", 250.0, 0.0, true))
        .collect();
    axes.extend((0..2).map(|_| Axis::uniform("k", "1/nm", 3.0, 6.0, false)));
    let mut md = Tree::new();
    set_path(&mut md, "General.date", "2020-05-06");
    set_path(&mut md, "General.time", "07:08:09");
    set_path(&mut md, "Acquisition_instrument.TEM.beam_energy", 300.0);
    set_path(&mut md, "Acquisition_instrument.TEM.Stage.tilt_alpha", 12.5);
    Dataset::new(Arc::new(source), axes, md, Tree::new()).unwrap()
}

fn write(ds: &Dataset, path: &Path, options: &[(&str, &str)]) {
    Registry::write(&Tvips, ds, path, options, false, &NoProgress).unwrap();
}

fn write_split(ds: &Dataset, path: &Path, max: &str, overwrite: bool) {
    let options = [("max_file_size", max)];
    Registry::write(&Tvips, ds, path, &options, overwrite, &NoProgress).unwrap();
}

fn open(path: &Path, options: &[(&str, &str)]) -> Dataset {
    registry().open(path, options).unwrap().1.remove(0)
}

fn open_error(path: &Path, options: &[(&str, &str)]) -> String {
    match registry().open(path, options) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn split_recordings_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("movie_000.tvips");
    let ds = stack(DType::U16, &[7], 4, 5);
    // Room for the header and two records in the first part, three in the others.
    let record = 60 + 40;
    let max = (256 + 2 * record + 10).to_string();
    write_split(&ds, &path, &max, false);
    let names: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("movie_{i:03}.tvips")))
        .collect();
    assert!(names.iter().all(|p| p.is_file()));
    assert!(!dir.path().join("movie_003.tvips").exists());
    let r = open(&path, &[]);
    assert_eq!(r.shape(), ds.shape());
    assert_eq!(r.sha256().unwrap(), ds.sha256().unwrap());
    let (step, t0) = r.axes[0].scale_offset().unwrap();
    assert!((step - 0.25).abs() < 1e-6, "{step}");
    assert_eq!(get_str(&r.metadata, "General.time"), Some("07:08:09"));
    assert!(t0 > 1.5e9);
    assert_eq!(r.axes[2].units, "1/nm");
    assert_eq!(r.axes[2].scale_offset(), Some((3.0, 6.0)));
    assert_eq!(
        get_f64(&r.metadata, "Acquisition_instrument.TEM.beam_energy"),
        Some(300.0)
    );
    assert_eq!(
        get_f64(&r.metadata, "Acquisition_instrument.TEM.Stage.tilt_alpha"),
        Some(12.5)
    );

    // Without overwrite an existing part refuses the write; with it, a shorter recording
    // replaces the parts it needs and removes the others.
    std::fs::remove_file(&path).unwrap();
    let e = Registry::write(
        &Tvips,
        &ds,
        &path,
        &[] as &[(&str, &str)],
        false,
        &NoProgress,
    );
    assert!(e.unwrap_err().to_string().contains("movie_001.tvips"));
    Registry::write(
        &Tvips,
        &ds,
        &path,
        &[] as &[(&str, &str)],
        true,
        &NoProgress,
    )
    .unwrap();
    assert!(!names[1].exists() && !names[2].exists());
    assert_eq!(open(&path, &[]).sha256().unwrap(), ds.sha256().unwrap());
    write_split(&ds, &path, &max, true);

    // A missing middle part is named; later parts alone are refused.
    std::fs::rename(&names[1], dir.path().join("moved.bin")).unwrap();
    let e = open_error(&path, &[]);
    assert!(
        e.contains("movie_001.tvips") && e.contains("missing"),
        "{e}"
    );
    let e = open_error(&names[2], &[]);
    assert!(e.contains("movie_000.tvips"), "{e}");
}

#[test]
fn scans_with_winding_and_hysteresis() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan_000.tvips");
    write(&stack(DType::U8, &[9], 2, 2), &path, &[]);
    let r = open(&path, &[("scan_shape", "2,3"), ("scan_start_frame", "1")]);
    assert_eq!(r.shape(), &[2, 3, 2, 2]);
    let first =
        |r: &Dataset, y: u64, x: u64| r.read_region_bytes(&[y, x, 0, 0], &[1, 1, 1, 1]).unwrap()[0];
    assert_eq!(first(&r, 1, 2), (6 * 1000 % 256) as u8);
    let r = open(
        &path,
        &[
            ("scan_shape", "(2, 3)"),
            ("winding_scan_axis", "x"),
            ("hysteresis", "1"),
        ],
    );
    // Row 0 reversed ([2, 1, 0]) then rolled by one: [0, 2, 1].
    let row: Vec<u8> = (0..3).map(|x| first(&r, 0, x)).collect();
    assert_eq!(row, vec![0, (2000 % 256) as u8, (1000 % 256) as u8]);
    assert_eq!(r.axes[0].name, "y");
    let e = open_error(&path, &[("scan_shape", "3,4")]);
    assert!(e.contains("scan_shape"), "{e}");
    // The writer numbers frames 1, 2, ... on the rotator: auto finds a 3×3 scan.
    let r = open(&path, &[("scan_shape", "auto")]);
    assert_eq!(r.shape(), &[3, 3, 2, 2]);
}

#[test]
fn version_1_and_extra_header_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let ds = stack(DType::U32, &[2, 2], 3, 2);
    for (name, options) in [
        ("v1.tvips", vec![("version", "1")]),
        ("extra.tvips", vec![("frame_header_extra_bytes", "17")]),
    ] {
        let path = dir.path().join(name);
        write(&ds, &path, &options);
        let r = open(&path, &[]);
        assert_eq!(r.shape(), &[4, 3, 2]);
        assert_eq!(r.sha256().unwrap(), ds.sha256().unwrap());
    }
    // Splitting needs a _000 name; nothing is left behind when refused.
    let path = dir.path().join("plain.tvips");
    let e = Registry::write(
        &Tvips,
        &ds,
        &path,
        &[("max_file_size", "300")],
        false,
        &NoProgress,
    );
    assert!(e.unwrap_err().to_string().contains("_000"));
    assert!(!path.exists());
}

#[test]
fn truncated_recordings_keep_their_whole_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t_000.tvips");
    write(&stack(DType::U16, &[3], 4, 4), &path, &[]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
    // Whole frames of an interrupted recording are read, with a warning naming the file.
    let r = open(&path, &[]);
    assert_eq!(r.shape(), &[2, 4, 4]);
    assert!(
        r.warnings()[0].contains("t_000.tvips"),
        "{:?}",
        r.warnings()
    );
    std::fs::write(&path, &bytes[..300]).unwrap();
    let e = open_error(&path, &[]);
    assert!(
        e.contains("t_000.tvips") && e.contains("first frame record"),
        "{e}"
    );
    std::fs::write(&path, &bytes[..100]).unwrap();
    assert!(open_error(&path, &[]).contains("256-byte"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn round_trip(
        dtype in prop::sample::select(vec![DType::U8, DType::U16, DType::U32]),
        frames in 1u64..8,
        dimy in 1u64..5,
        dimx in 1u64..5,
        split in 0u64..3,
        extra in 0i64..9,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p_000.tvips");
        let ds = stack(dtype, &[frames], dimy, dimx);
        let record = 60 + extra as u64 + dimy * dimx * dtype.size() as u64;
        let mut options = vec![("frame_header_extra_bytes", extra.to_string())];
        if split > 0 {
            options.push(("max_file_size", (256 + split * record).to_string()));
        }
        let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        write(&ds, &path, &options);
        let r = open(&path, &[]);
        prop_assert_eq!(r.shape(), ds.shape());
        prop_assert_eq!(r.sha256().unwrap(), ds.sha256().unwrap());
    }
}
