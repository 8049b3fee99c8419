//! Generated series (both versions, spectra and images, every data type, regular and
//! scattered elements, interrupted acquisitions) and damaged inputs.

use std::path::Path;

use emio_core::{Format, Options};
use serde_json::Value;

use crate::synthetic::SeriesLayout;
use crate::Tia;

/// The layout of the tests' series: every element axis calibrated from 10 in steps of
/// 2e-9 (plus any drift); the rest as each test sets it.
fn layout() -> SeriesLayout {
    SeriesLayout {
        calibration: (10.0, 2e-9),
        ..SeriesLayout::default()
    }
}

/// The stored values of element `i`: a pattern that differs from element to element.
fn element_bytes(spec: &SeriesLayout, i: u32) -> Vec<u8> {
    (0..spec.data_bytes() as u32)
        .map(|b| (b * 7 + i * 13) as u8)
        .collect()
}

/// The series file of `spec`, its elements' values from [`element_bytes`].
fn build(spec: &SeriesLayout) -> Vec<u8> {
    spec.to_bytes(|i| element_bytes(spec, i))
}

fn open(path: &Path, options: &[(&str, &str)]) -> emio_core::Result<Vec<emio_core::Dataset>> {
    let o = Options::parse(Tia.read_options(), options).unwrap();
    Tia.open(path, &o)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The stored values of element `i` as the logical (row-flipped for images) C-order bytes.
fn expected(spec: &SeriesLayout, i: u32) -> Vec<u8> {
    let raw = element_bytes(spec, i);
    match spec.sizes[..] {
        [_, y] => {
            let row = raw.len() / y as usize;
            raw.chunks_exact(row).rev().flatten().copied().collect()
        }
        _ => raw,
    }
}

#[test]
fn every_type_version_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    for version in [0x210u16, 0x220] {
        for code in 1..=10u16 {
            for sizes in [vec![6u32], vec![3, 4]] {
                for scattered in [false, true] {
                    let spec = SeriesLayout {
                        version,
                        code,
                        sizes: sizes.clone(),
                        total: 3,
                        valid: 3,
                        scattered,
                        ..layout()
                    };
                    let p = write(dir.path(), "s.ser", &build(&spec));
                    let ds = open(&p, &[]).unwrap().remove(0);
                    let dtype = crate::ser::dtype_of(code).unwrap();
                    assert_eq!(ds.dtype(), dtype);
                    let signal: Vec<u64> = sizes.iter().rev().map(|&s| u64::from(s)).collect();
                    let mut shape = vec![3];
                    shape.extend(&signal);
                    assert_eq!(ds.shape(), shape);
                    let all: Vec<u8> = (0..3).flat_map(|i| expected(&spec, i)).collect();
                    let mut read = ds.read_region_bytes(&vec![0; shape.len()], &shape).unwrap();
                    if !cfg!(target_endian = "little") {
                        emio_core::dtype::swap_bytes_in_place(&mut read, dtype.swap_unit());
                    }
                    assert_eq!(read, all, "{version:#x} {code} {sizes:?} {scattered}");
                    let mapped = ds.stored_view().and_then(|v| v.native()).is_some();
                    assert_eq!(mapped, !scattered && cfg!(target_endian = "little"));
                    let units = &ds.axes.last().unwrap().units;
                    assert_eq!(units, if sizes.len() == 2 { "nm" } else { "eV" });
                    if sizes.len() == 2 {
                        let (scale, offset) = ds.axes[2].scale_offset().unwrap();
                        assert!((scale - 2.0).abs() < 1e-9 && (offset - 1e10).abs() < 1e-3);
                    }
                }
            }
        }
    }
}

#[test]
fn only_valid_data_cuts_or_fills() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SeriesLayout {
        version: 0x210,
        code: 7,
        sizes: vec![4],
        total: 5,
        valid: 2,
        scattered: false,
        ..layout()
    };
    let p = write(dir.path(), "s.ser", &build(&spec));
    assert_eq!(open(&p, &[]).unwrap()[0].shape(), [2, 4]);
    let ds = open(&p, &[("only_valid_data", "false")]).unwrap().remove(0);
    assert_eq!(ds.shape(), [5, 4]);
    let values = ds.read().unwrap().to_f64().unwrap();
    assert!(values.iter().skip(8).all(|v| v.is_nan()));
    assert!(ds.original_metadata.contains_key("missing_elements"));
    assert!(
        ds.warnings()
            .iter()
            .any(|w| w.contains("stores 2 of the series' 5 elements") && w.contains("NaN")),
        "{:?}",
        ds.warnings()
    );
}

/// A damaged dimension size makes a series of many more elements than the file stores:
/// filled while the whole stays within what the file could hold, refused beyond (a 2 KB
/// file declared 2^30 elements: 17 GB of filling).
#[test]
fn filling_missing_elements_is_bounded_by_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SeriesLayout {
        version: 0x210,
        code: 7,
        sizes: vec![4],
        total: 5,
        valid: 2,
        ..layout()
    };
    // Version 0x210: the first dimension's size follows the 26-byte header and the count
    // of dimensions.
    let with_size = |size: u32| {
        let mut bytes = build(&spec);
        bytes[30..34].copy_from_slice(&size.to_le_bytes());
        bytes
    };
    let some = write(dir.path(), "some.ser", &with_size(9));
    let ds = open(&some, &[("only_valid_data", "false")])
        .unwrap()
        .remove(0);
    assert_eq!(ds.shape(), [9, 4]);
    assert!(ds.warnings().iter().any(|w| w.contains("stores 2 of")));
    let huge = write(dir.path(), "huge.ser", &with_size(1 << 30));
    let message = open(&huge, &[("only_valid_data", "false")])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("1073741824 elements of 16 bytes") && message.contains("mostly stored"),
        "{message}"
    );
}

/// Three dimensions whose sizes multiply past 2^64 (found by fuzzing: the product
/// overflowed while the navigation shape was counted) are refused, naming the sizes.
#[test]
fn dimension_sizes_must_multiply_within_64_bits() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |more_dimensions: Vec<u32>| SeriesLayout {
        version: 0x210,
        code: 7,
        sizes: vec![4],
        total: 2,
        valid: 2,
        more_dimensions,
        ..layout()
    };
    let fits = write(dir.path(), "fits.ser", &build(&spec(vec![1, 1])));
    assert_eq!(open(&fits, &[]).unwrap()[0].shape(), [2, 1, 1, 4]);
    let huge = write(dir.path(), "huge.ser", &build(&spec(vec![u32::MAX; 2])));
    let message = open(&huge, &[]).unwrap_err().to_string();
    assert!(
        message.contains("product fits in 64 bits")
            && message.contains("[2, 4294967295, 4294967295]"),
        "{message}"
    );
}

#[test]
fn emi_gives_one_dataset_per_series_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SeriesLayout {
        version: 0x220,
        code: 2,
        sizes: vec![4, 4],
        total: 1,
        valid: 1,
        scattered: false,
        ..layout()
    };
    for n in [1, 2] {
        write(dir.path(), &format!("acq_{n}.ser"), &build(&spec));
    }
    let xml = "<ObjectInfo><AcquireDate>Mon Feb 22 18:57:51 2016</AcquireDate>\
        <ExperimentalDescription><Root><Data><Label>High tension</Label><Value>300</Value>\
        <Unit>kV</Unit></Data><Data><Label>Mode</Label><Value>TEM Diffraction</Value>\
        <Unit></Unit></Data></Root></ExperimentalDescription><AcquireInfo>\
        <CameraNamePath>BM-Ceta</CameraNamePath></AcquireInfo></ObjectInfo>";
    let mut emi = b"JK\x00\x02 binary ".to_vec();
    emi.extend(xml.as_bytes());
    let p = write(dir.path(), "acq.emi", &emi);
    let datasets = open(&p, &[]).unwrap();
    assert_eq!(datasets.len(), 2);
    let md = Value::Object(datasets[0].metadata.clone());
    assert_eq!(md["General"]["date"], "2016-02-22");
    assert_eq!(md["General"]["original_filename"], "acq_1.ser");
    assert_eq!(md["Acquisition_instrument"]["TEM"]["beam_energy"], 300.0);
    assert_eq!(datasets[0].axes[0].units, "1 / nm");
    // Only one ObjectInfo block: the second series has the .ser header only.
    assert!(datasets[1].original_metadata.get("ObjectInfo").is_none());
    assert!(datasets[1].warnings()[0].contains("no <ObjectInfo> for acq_2.ser"));
    assert!(datasets[0].warnings().is_empty());
    assert_eq!(datasets[1].axes[0].units, "1 / nm");
}

#[test]
fn damaged_inputs_name_file_and_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SeriesLayout {
        version: 0x210,
        code: 6,
        sizes: vec![8, 8],
        total: 4,
        valid: 4,
        scattered: false,
        ..layout()
    };
    let bytes = build(&spec);
    let p = write(dir.path(), "cut_1.ser", &bytes[..bytes.len() - 100]);
    let e = open(&p, &[]).unwrap_err().to_string();
    assert!(e.contains("cut_1.ser") && e.contains("element 3"), "{e}");
    let p = write(
        dir.path(),
        "lonely.emi",
        b"JK\x00\x02<ObjectInfo></ObjectInfo>",
    );
    let e = open(&p, &[]).unwrap_err().to_string();
    assert!(
        e.contains("lonely.emi") && e.contains("lonely_1.ser"),
        "{e}"
    );
    // The series files are looked for before the XML is parsed: without them, broken
    // XML is not what is reported.
    let p = write(
        dir.path(),
        "broken.emi",
        b"JK\x00\x02<ObjectInfo><b></ObjectInfo>",
    );
    let e = open(&p, &[]).unwrap_err().to_string();
    assert!(e.contains("broken_1.ser"), "{e}");
    write(dir.path(), "broken_1.ser", &bytes);
    let e = open(&p, &[]).unwrap_err().to_string();
    assert!(e.contains("well-formed XML"), "{e}");
    // Element sizes whose byte count overflows 64 bits (2^32-1 × 2^32-1 complex128
    // values) are an error naming the element, not an overflow.
    let huge = build(&SeriesLayout {
        code: 10,
        total: 1,
        valid: 1,
        ..spec
    });
    let header = [10u8, 0, 8, 0, 0, 0, 8, 0, 0, 0];
    let at = huge
        .windows(header.len())
        .position(|w| w == header)
        .expect("the element header");
    let mut huge = huge;
    huge[at + 2..at + 10].fill(0xff);
    let p = write(dir.path(), "huge.ser", &huge);
    let e = open(&p, &[]).unwrap_err().to_string();
    assert!(e.contains("huge.ser") && e.contains("element 0"), "{e}");
    // Each prefix of a valid file is an error, never a panic.
    for n in 0..bytes.len().min(400) {
        let p = write(dir.path(), "prefix.ser", &bytes[..n]);
        assert!(open(&p, &[]).is_err());
    }
}

/// A series without dimensions (NumberDimensions 0) is placed on the scan grid its tags'
/// positions describe; positions that form no grid give one `Unknown dimension` and a
/// warning.
#[test]
fn series_without_dimensions_use_tag_positions() {
    let dir = tempfile::tempdir().unwrap();
    let raster: Vec<(f64, f64)> = (0..6)
        .map(|k| (1e-9 + (k % 3) as f64 * 2e-9, 5e-9 + (k / 3) as f64 * 4e-9))
        .collect();
    let mut spec = SeriesLayout {
        version: 0x220,
        code: 2,
        sizes: vec![5],
        total: 6,
        valid: 6,
        positions: Some(raster),
        ..layout()
    };
    let p = write(dir.path(), "grid.ser", &build(&spec));
    let ds = open(&p, &[]).unwrap().remove(0);
    assert_eq!(ds.shape(), [2, 3, 5]);
    assert_eq!(
        (ds.axes[0].name.as_str(), ds.axes[0].units.as_str()),
        ("y", "nm")
    );
    let (scale, offset) = ds.axes[1].scale_offset().unwrap();
    assert!((scale - 2.0).abs() < 1e-9 && (offset - 1.0).abs() < 1e-9);
    let all: Vec<u8> = (0..6).flat_map(|i| expected(&spec, i)).collect();
    assert_eq!(ds.read_region_bytes(&[0, 0, 0], &[2, 3, 5]).unwrap(), all);
    assert!(ds.warnings().is_empty(), "{:?}", ds.warnings());

    let line: Vec<(f64, f64)> = (0..6).map(|k| (0.0, k as f64 * 1e-9)).collect();
    spec.positions = Some(line);
    let p = write(dir.path(), "line.ser", &build(&spec));
    let ds = open(&p, &[]).unwrap().remove(0);
    assert_eq!(ds.shape(), [6, 5]);
    assert_eq!(ds.axes[0].name, "y");

    let scattered: Vec<(f64, f64)> = (0..6).map(|k| ((k * k) as f64, 0.0)).collect();
    spec.positions = Some(scattered);
    let p = write(dir.path(), "scattered.ser", &build(&spec));
    let ds = open(&p, &[]).unwrap().remove(0);
    assert_eq!(ds.shape(), [6, 5]);
    assert_eq!(ds.axes[0].name, "Unknown dimension");
    assert!(
        ds.warnings()[0].contains("no regular grid"),
        "{:?}",
        ds.warnings()
    );
}

/// Elements calibrated differently from element 0 are reported, never silently given
/// element 0's axis; each element's calibration is kept in the original metadata.
#[test]
fn per_element_calibrations_are_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SeriesLayout {
        version: 0x210,
        code: 7,
        sizes: vec![4],
        total: 3,
        valid: 3,
        drift: 0.5,
        ..layout()
    };
    let p = write(dir.path(), "drift.ser", &build(&spec));
    let ds = open(&p, &[]).unwrap().remove(0);
    let warning = ds.warnings().join("\n");
    assert!(
        warning.contains("element 1 is calibrated differently") && warning.contains("1.05e1"),
        "{warning}"
    );
    let header = Value::Object(ds.original_metadata.clone());
    let offsets = &header["ser_header_parameters"]["CalibrationOffset"];
    assert_eq!(offsets, &serde_json::json!([10.0, 10.5, 11.0]));
    let spec = SeriesLayout { drift: 0.0, ..spec };
    let p = write(dir.path(), "steady.ser", &build(&spec));
    assert!(open(&p, &[]).unwrap()[0].warnings().is_empty());
}

/// Header strings are Latin-1: a byte over 0x7f is its code point, and the lengths in the
/// tree are the stored byte counts.
#[test]
fn header_strings_are_latin1() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SeriesLayout {
        version: 0x210,
        code: 6,
        sizes: vec![4],
        total: 2,
        valid: 2,
        ..layout()
    };
    let mut bytes = build(&spec);
    let at = bytes
        .windows(6)
        .position(|w| w == b"Number")
        .expect("the dimension's description");
    bytes[at + 4] = 0xe9;
    let p = write(dir.path(), "latin1.ser", &bytes);
    let ds = open(&p, &[]).unwrap().remove(0);
    let header = &ds.original_metadata["ser_header_parameters"];
    assert_eq!(header["Dim-1_Description"], "Numb\u{e9}r");
    assert_eq!(header["Dim-1_DescriptionLength"], 6);
    assert_eq!(header["Dim-1_Units"], "");
}

#[test]
fn sniffs_both_files() {
    assert!(Tia.sniff(b"\x49\x49\x97\x01\x10\x02"));
    assert!(Tia.sniff(b"JK\x00\x02\x00"));
    assert!(!Tia.sniff(b"\x49\x49\x2a\x00"));
}
