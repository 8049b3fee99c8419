//! Round trips through the registry (the `.raw` companion committed with the `.rpl`),
//! every dtype, record-by mode and byte order; corrupt inputs; the `rpl_info` option.

use std::sync::Arc;

use emio_core::metadata::{get_f64, get_str, set_path};
use emio_core::{Axis, DType, Dataset, NoProgress, Registry, StridedSource, Tree};
use proptest::prelude::*;

use super::*;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Ripple));
    r
}

fn dataset(dtype: DType, shape: &[u64], navigate: &[bool], seed: u8) -> Dataset {
    let n: u64 = shape.iter().product();
    let bytes: Vec<u8> = (0..n * dtype.size() as u64)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    // Floats from arbitrary bytes may be NaN: the checksum compares bits, which is fine.
    let source = StridedSource::from_bytes(bytes, dtype, shape.to_vec()).unwrap();
    let axes = navigate
        .iter()
        .enumerate()
        .map(|(i, &nav)| Axis::uniform(format!("a{i}"), "nm", 0.5 + i as f64, -1.5, nav))
        .collect();
    let mut md = Tree::new();
    set_path(&mut md, "General.title", "t; with a semicolon");
    set_path(&mut md, "Signal.signal_type", "EDS_TEM");
    set_path(&mut md, "Acquisition_instrument.TEM.beam_energy", 200.0);
    set_path(
        &mut md,
        "Acquisition_instrument.TEM.Detector.EDS.live_time",
        2.5,
    );
    Dataset::new(Arc::new(source), axes, md, Tree::new()).unwrap()
}

fn write_read(ds: &Dataset, order: &str) -> (tempfile::TempDir, Dataset) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("si.rpl");
    Registry::write(
        &Ripple,
        ds,
        &path,
        &[("byte_order", order)],
        false,
        &NoProgress,
    )
    .unwrap();
    assert!(dir.path().join("si.raw").is_file());
    let (format, mut read) = registry().open(&path, &[] as &[(&str, &str)]).unwrap();
    assert_eq!(format.name(), "ripple");
    (dir, read.remove(0))
}

fn open_error(path: &std::path::Path, options: &[(&str, &str)]) -> String {
    match registry().open(path, options) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn calibrations_names_and_instrument_survive() {
    let ds = dataset(DType::U16, &[2, 3, 4], &[true, true, false], 1);
    let (_dir, r) = write_read(&ds, "big-endian");
    assert_eq!(r.shape(), ds.shape());
    assert_eq!(r.sha256().unwrap(), ds.sha256().unwrap());
    assert_eq!(r.axes, ds.axes);
    assert_eq!(
        get_str(&r.metadata, "General.title"),
        Some("t, with a semicolon")
    );
    assert_eq!(
        get_f64(&r.metadata, "Acquisition_instrument.TEM.beam_energy"),
        Some(200.0)
    );
    assert_eq!(
        get_f64(
            &r.metadata,
            "Acquisition_instrument.TEM.Detector.EDS.live_time"
        ),
        Some(2.5)
    );
    assert_eq!(r.original_metadata["byte-order"], "big-endian");
}

#[test]
fn missing_and_short_raw_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let rpl = dir.path().join("a.rpl");
    std::fs::write(
        &rpl,
        "width\t4\nheight\t2\ndepth\t8\noffset\t0\ndata-length\t2\ndata-type\tunsigned\n\
         byte-order\tlittle-endian\nrecord-by\tvector\n",
    )
    .unwrap();
    let e = open_error(&rpl, &[]);
    assert!(e.contains("a.raw") && e.contains("missing"), "{e}");
    std::fs::write(dir.path().join("a.raw"), [0u8; 100]).unwrap();
    let e = open_error(&rpl, &[]);
    assert!(
        e.contains("a.raw") && e.contains("the file has 100 bytes"),
        "{e}"
    );
    std::fs::write(dir.path().join("a.raw"), [7u8; 130]).unwrap();
    let (_, read) = registry().open(&rpl, &[] as &[(&str, &str)]).unwrap();
    assert_eq!(read[0].shape(), &[2, 4, 8]);
    assert!(
        read[0].warnings()[0].contains("2 bytes"),
        "{:?}",
        read[0].warnings()
    );
}

#[test]
fn rpl_info_reads_a_raw_without_rpl() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("b.raw");
    std::fs::write(&raw, (0u8..24).collect::<Vec<_>>()).unwrap();
    let info = r#"{"width": 4, "height": 3, "depth": 2, "offset": 0, "data-length": "1",
        "data-type": "unsigned", "byte-order": "dont-care", "record-by": "image"}"#;
    let read = Registry::open_with(&Ripple, &raw, &[("rpl_info", info)]).unwrap();
    assert_eq!(read[0].shape(), &[2, 3, 4]);
    assert_eq!(
        read[0].read_region_bytes(&[1, 0, 0], &[1, 1, 2]).unwrap(),
        vec![12, 13]
    );
    let python = info.replace('"', "'");
    assert!(Registry::open_with(&Ripple, &raw, &[("rpl_info", python.as_str())]).is_ok());
    let e = Registry::open_with(&Ripple, &raw, &[("rpl_info", "[1]")]).unwrap_err();
    assert!(e.to_string().contains("rpl_info"));
}

#[test]
fn unsupported_data_is_refused_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Dataset::from_bytes(vec![0; 16], DType::C64, vec![2]).unwrap();
    let e = Registry::write(
        &Ripple,
        &ds,
        &dir.path().join("c.rpl"),
        &[] as &[(&str, &str)],
        false,
        &NoProgress,
    );
    assert!(e.is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn any_dtype() -> impl Strategy<Value = DType> {
    prop::sample::select(vec![
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F32,
        DType::F64,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn round_trip(
        dtype in any_dtype(),
        shape in prop::collection::vec(1u64..5, 1..=3),
        pattern in 0usize..3,
        big in any::<bool>(),
        seed in any::<u8>(),
    ) {
        // Spectra (last axis signal), images (last two signal), or all-navigation.
        let navigate: Vec<bool> = (0..shape.len())
            .map(|i| match pattern {
                0 => i + 1 < shape.len(),
                1 => i + 2 < shape.len(),
                _ => true,
            })
            .collect();
        let ds = dataset(dtype, &shape, &navigate, seed);
        let (_dir, r) = write_read(&ds, if big { "big-endian" } else { "little-endian" });
        // Size-1 dimensions are dropped on reading, as rsciio does.
        let kept: Vec<u64> = shape.iter().copied().filter(|&n| n > 1).collect();
        prop_assert_eq!(r.shape(), &kept[..]);
        prop_assert_eq!(r.dtype(), dtype);
        prop_assert_eq!(r.sha256().unwrap(), ds.sha256().unwrap());
        let axes = ds.axes.iter().zip(&shape).filter(|(_, &n)| n > 1).map(|(a, _)| a);
        for (a, b) in r.axes.iter().zip(axes) {
            prop_assert_eq!(&a.name, &b.name);
            prop_assert_eq!(a.scale_offset(), b.scale_offset());
        }
    }
}
