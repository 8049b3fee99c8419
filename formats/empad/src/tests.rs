//! Round trips through the registry (atomic output with the `.raw` companion), corrupt
//! inputs, and the reader's options.

use std::sync::Arc;

use emio_core::metadata::set_path;
use emio_core::{Axis, DType, Dataset, NoProgress, Registry, StridedSource, Tree};
use proptest::prelude::*;

use super::*;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Empad));
    r
}

/// A dataset of f32 values `0, 1, 2, ...` with calibrated axes.
fn ramp(nav: &[u64], nan_at: Option<usize>) -> Dataset {
    let mut shape = nav.to_vec();
    shape.extend([FRAME_SIDE, FRAME_SIDE]);
    let n: u64 = shape.iter().product();
    let mut values: Vec<f32> = (0..n).map(|i| i as f32).collect();
    if let Some(i) = nan_at {
        values[i] = f32::NAN;
        values[i + 1] = f32::INFINITY;
    }
    let bytes = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let source = StridedSource::from_bytes(bytes, DType::F32, shape).unwrap();
    let mut axes: Vec<Axis> = nav
        .iter()
        .map(|_| Axis::uniform("", "nm", 2.5, 0.0, true))
        .collect();
    axes.extend((0..2).map(|_| Axis::uniform("", "1/nm", 0.25, -16.0, false)));
    let mut metadata = Tree::new();
    set_path(&mut metadata, "General.date", "2024-01-02");
    set_path(&mut metadata, "General.time", "03:04:05");
    Dataset::new(Arc::new(source), axes, metadata, Tree::new()).unwrap()
}

fn write_read(ds: &Dataset, options: &[(&str, &str)]) -> (tempfile::TempDir, Vec<Dataset>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.xml");
    Registry::write(
        &Empad,
        ds,
        &path,
        &[] as &[(&str, &str)],
        false,
        &NoProgress,
    )
    .unwrap();
    assert!(dir.path().join("scan.raw").is_file());
    let (format, read) = registry().open(&path, options).unwrap();
    assert_eq!(format.name(), "empad");
    (dir, read)
}

#[test]
fn scans_keep_values_and_calibrations() {
    let ds = ramp(&[2, 3], None);
    let (_dir, read) = write_read(&ds, &[]);
    let r = &read[0];
    assert_eq!(r.shape(), ds.shape());
    assert_eq!(r.sha256().unwrap(), ds.sha256().unwrap());
    assert_eq!(r.axes[0].name, "scan_y");
    assert_eq!(r.axes[0].units, "nm");
    let (scale, _) = r.axes[1].scale_offset().unwrap();
    assert!((scale - 2.5).abs() < 1e-9, "{scale}");
    let (q, offset) = r.axes[3].scale_offset().unwrap();
    assert!((q - 0.25).abs() < 1e-12 && (offset + 16.0).abs() < 1e-9);
    assert_eq!(r.axes[3].units, "1/nm");
    assert_eq!(
        emio_core::metadata::get_str(&r.metadata, "General.time"),
        Some("03:04:05")
    );
}

#[test]
fn stacks_single_frames_and_remove_nans() {
    let (_dir, read) = write_read(&ramp(&[4], Some(7)), &[("remove_nans", "true")]);
    assert_eq!(read[0].shape(), &[4, FRAME_SIDE, FRAME_SIDE]);
    assert_eq!(read[0].axes[0].units, "ms");
    let px = read[0].read_region(&[0, 0, 7], &[1, 1, 2]).unwrap();
    let v = px.to_f64().unwrap();
    assert_eq!(
        v.iter().copied().collect::<Vec<_>>(),
        vec![0.0, f32::MAX as f64]
    );
    let (_dir, read) = write_read(&ramp(&[], None), &[("q_calibration", "0.5")]);
    assert_eq!(read[0].shape(), &[FRAME_SIDE, FRAME_SIDE]);
    assert_eq!(read[0].axes[0].scale_offset(), Some((0.5, -32.0)));
}

fn open_error(path: &std::path::Path) -> String {
    match registry().open(path, &[] as &[(&str, &str)]) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_missing_or_short_raw_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("a.xml");
    std::fs::write(
        &xml,
        "<root><pix_x>2</pix_x><pix_y>2</pix_y><raw_file filename=\"gone.raw\"/></root>",
    )
    .unwrap();
    let e = open_error(&xml);
    assert!(
        e.contains("gone.raw") && e.contains("a.xml") && e.contains("missing"),
        "{e}"
    );
    std::fs::write(dir.path().join("gone.raw"), vec![0u8; 1000]).unwrap();
    let e = open_error(&xml);
    assert!(e.contains("gone.raw") && e.contains("4 frames"), "{e}");
}

#[test]
fn other_xml_is_not_sniffed() {
    assert!(Empad.sniff(b"<?xml version=\"1.0\"?>\n<root name=\"a\"><raw_file filename=\"x\"/>"));
    assert!(!Empad.sniff(b"<?xml version=\"1.0\"?><LabSpec><raw_file/></LabSpec>"));
    assert!(!Empad.sniff(b"\x00\x01binary"));
}

proptest! {
    /// The quick rejection of heads that cannot start with an element never rejects one
    /// that the text check accepts (white space, byte-order marks, bytes that may begin
    /// Unicode white space before `<root>`).
    #[test]
    fn quick_rejection_agrees_with_the_text_check(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(b"<root>".to_vec()),
                Just(b"<root ".to_vec()),
                Just(b"<raw_file/>".to_vec()),
                Just(b"<?xml?>".to_vec()),
                Just(b"<!-- c -->".to_vec()),
                Just(b"\xef\xbb\xbf".to_vec()),
                Just(b"\xc2\xa0".to_vec()),
                Just(b"\x0b".to_vec()),
                Just(b" \t\r\n".to_vec()),
                proptest::collection::vec(any::<u8>(), 1..3),
            ],
            0..8,
        ),
    ) {
        let head = parts.concat();
        let text = String::from_utf8_lossy(&head);
        let body = text.trim_start_matches('\u{feff}').trim_start();
        let mut rest = body;
        let mut by_text = true;
        while rest.starts_with("<?") || rest.starts_with("<!--") {
            let end = if rest.starts_with("<?") { "?>" } else { "-->" };
            match rest.find(end) {
                Some(i) => rest = rest[i + end.len()..].trim_start(),
                None => {
                    by_text = false;
                    break;
                }
            }
        }
        by_text = by_text
            && (rest.starts_with("<root>") || rest.starts_with("<root "))
            && (text.contains("<raw_file") || text.contains("<pix_x>"));
        prop_assert_eq!(Empad.sniff(&head), by_text);
    }
}

#[test]
fn wrong_frames_are_refused() {
    let ds = Dataset::from_bytes(vec![0; 64], DType::U8, vec![8, 8]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.xml");
    let e = Registry::write(
        &Empad,
        &ds,
        &path,
        &[] as &[(&str, &str)],
        false,
        &NoProgress,
    );
    assert!(e.unwrap_err().to_string().contains("128×128"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

/// A dataset of `dtype` holding `values` repeated over one 128×128 frame.
fn frame_of(dtype: DType, values: &[f64]) -> Dataset {
    let n = (FRAME_SIDE * FRAME_SIDE) as usize;
    let bytes: Vec<u8> = (0..n)
        .flat_map(|i| {
            let v = values[i % values.len()];
            match dtype {
                DType::U16 => (v as u16).to_ne_bytes().to_vec(),
                DType::U32 => (v as u32).to_ne_bytes().to_vec(),
                DType::I64 => (v as i64).to_ne_bytes().to_vec(),
                DType::F64 => v.to_ne_bytes().to_vec(),
                _ => panic!("{dtype}"),
            }
        })
        .collect();
    Dataset::from_bytes(bytes, dtype, vec![FRAME_SIDE, FRAME_SIDE]).unwrap()
}

/// EMPAD stores float32 only: other real types are converted when every value is exact,
/// else refused with an error naming the value, leaving nothing behind.
#[test]
fn other_types_convert_exactly_or_are_refused() {
    let exact = [0.0, 1.0, 4095.0, 16_777_216.0, -3.0, 0.5];
    for (dtype, values) in [
        (DType::U16, &exact[..4]),
        (DType::U32, &exact[..4]),
        (DType::I64, &exact[..5]),
        (DType::F64, &exact[..]),
    ] {
        let ds = frame_of(dtype, values);
        let (_dir, read) = write_read(&ds, &[]);
        assert_eq!(read[0].dtype(), DType::F32);
        let back = read[0].read().unwrap().to_f64().unwrap();
        let expected = ds.read().unwrap().to_f64().unwrap();
        assert_eq!(back, expected, "{dtype}");
    }
    for (dtype, values, shown) in [
        (DType::U32, [5.0, 16_777_217.0], "16777217"),
        (DType::F64, [5.0, 0.1], "0.1"),
    ] {
        let ds = frame_of(dtype, &values);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.xml");
        let e = Registry::write(
            &Empad,
            &ds,
            &path,
            &[] as &[(&str, &str)],
            false,
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(shown) && e.contains("float32"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{e}");
    }
    let complex = Dataset::from_bytes(
        vec![0; (FRAME_SIDE * FRAME_SIDE * 8) as usize],
        DType::C64,
        vec![FRAME_SIDE, FRAME_SIDE],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = Registry::write(
        &Empad,
        &complex,
        &dir.path().join("c.xml"),
        &[] as &[(&str, &str)],
        false,
        &NoProgress,
    );
    assert!(e.unwrap_err().to_string().contains("complex64"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn round_trip(y in 1u64..3, x in 1u64..3, stack in any::<bool>(), seed in any::<u32>()) {
        let nav = if stack { vec![y * x] } else { vec![y, x] };
        let mut shape = nav.clone();
        shape.extend([FRAME_SIDE, FRAME_SIDE]);
        let n: u64 = shape.iter().product();
        let bytes: Vec<u8> = (0..n)
            .flat_map(|i| ((i as u32).wrapping_mul(seed | 1) as f32).to_ne_bytes())
            .collect();
        let ds = Dataset::from_bytes(bytes, DType::F32, shape).unwrap();
        let (_dir, read) = write_read(&ds, &[]);
        // Size-1 navigation dimensions are dropped, as rsciio does.
        let kept: Vec<u64> = ds.shape().iter().copied().filter(|&d| d != 1).collect();
        prop_assert_eq!(read[0].shape(), &kept[..]);
        prop_assert_eq!(read[0].sha256().unwrap(), ds.sha256().unwrap());
    }
}
