//! Round trips through the writer and reader (proptest), and the writer's keyword rules.

use std::sync::Arc;

use emio_core::metadata::{get_str, set_path, Tree};
use emio_core::{Axis, DType, Dataset, Options, StridedSource, WriteRequest};
use proptest::prelude::*;

use crate::Msa;
use emio_core::Format;

fn spectrum(values: &[f64], scale: f64, offset: f64, metadata: Tree) -> Dataset {
    let bytes = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let source = StridedSource::from_bytes(bytes, DType::F64, vec![values.len() as u64]).unwrap();
    let axis = Axis::uniform("Energy", "eV", scale, offset, false);
    Dataset::new(Arc::new(source), vec![axis], metadata, Tree::new()).unwrap()
}

fn write_then_read(ds: &Dataset, options: &[(&str, &str)]) -> Dataset {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.msa");
    let w = Options::parse(Msa.write_options(), options).unwrap();
    Msa.write(&WriteRequest::new(ds, &path, &w)).unwrap();
    let encoding: Vec<(&str, &str)> = options
        .iter()
        .filter(|(k, _)| *k == "encoding")
        .copied()
        .collect();
    let r = Options::parse(Msa.read_options(), &encoding).unwrap();
    Msa.open(&path, &r).unwrap().remove(0)
}

fn values_of(ds: &Dataset) -> Vec<f64> {
    ds.read()
        .unwrap()
        .to_f64()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn round_trip(
        values in prop::collection::vec(-1e12f64..1e12, 1..200),
        scale in 1e-3f64..1e3,
        offset in -1e4f64..1e4,
        xy in any::<bool>(),
        separator in prop::sample::select(vec![", ", ",", "\t", " ", ";", " | "]),
        encoding in prop::sample::select(vec![
            "latin-1", "utf-8", "utf-8-sig", "cp1250", "cp1251", "cp1252", "utf-16", "utf-16-be",
        ]),
        // No ": " (the keyword separator, which no reader can tell apart in a value).
        title in "[A-Za-z0-9 µ]{0,150}",
    ) {
        let mut md = Tree::new();
        set_path(&mut md, "General.title", title.as_str());
        set_path(&mut md, "Signal.signal_type", "EELS");
        set_path(&mut md, "Acquisition_instrument.TEM.beam_energy", 300.0);
        let ds = spectrum(&values, scale, offset, md);
        let format = if xy { "XY" } else { "Y" };
        let back = write_then_read(
            &ds,
            &[("format", format), ("separator", separator), ("encoding", encoding)],
        );
        prop_assert_eq!(values_of(&back), values);
        prop_assert_eq!(back.axes[0].scale_offset(), Some((scale, offset)));
        prop_assert_eq!(&back.axes[0].units, "eV");
        prop_assert_eq!(back.title(), title.trim_end());
        prop_assert_eq!(get_str(&back.metadata, "Signal.signal_type"), Some("EELS"));
        prop_assert_eq!(
            emio_core::metadata::get_f64(&back.metadata, "Acquisition_instrument.TEM.beam_energy"),
            Some(300.0)
        );
    }
}

#[test]
fn rewriting_an_msa_file_keeps_its_keywords() {
    let mut md = Tree::new();
    set_path(&mut md, "General.date", "2020-02-29");
    set_path(&mut md, "General.time", "08:07:06");
    set_path(&mut md, "Signal.signal_type", "EDS_SEM");
    set_path(&mut md, "Acquisition_instrument.SEM.beam_energy", 15.0);
    let first = write_then_read(&spectrum(&[1.0, 2.5], 10.0, -5.0, md), &[]);
    assert_eq!(first.original_metadata["DATE"], "29-FEB-2020");
    assert_eq!(first.original_metadata["TIME"], "08:07");
    assert_eq!(first.original_metadata["SIGNALTYPE"], "EDS");
    assert_eq!(first.original_metadata["BEAMKV"], 15.0);
    assert_eq!(
        get_str(&first.metadata, "Signal.signal_type"),
        Some("EDS_SEM")
    );
    let second = write_then_read(&first, &[("format", "XY")]);
    assert_eq!(second.original_metadata["DATATYPE"], "XY");
    for key in ["DATE", "TIME", "SIGNALTYPE", "BEAMKV", "COMMENT", "NPOINTS"] {
        assert_eq!(
            second.original_metadata[key], first.original_metadata[key],
            "{key}"
        );
    }
    assert_eq!(values_of(&second), [1.0, 2.5]);
}

#[test]
fn refuses_what_msa_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.msa");
    let ds = Dataset::from_bytes(vec![0; 4 * 6], DType::F32, vec![2, 3]).unwrap();
    let w = Options::parse(Msa.write_options(), &[] as &[(&str, &str)]).unwrap();
    let e = Msa
        .write(&WriteRequest::new(&ds, &path, &w))
        .unwrap_err()
        .to_string();
    assert!(e.contains("one spectrum"), "{e}");
    let ds = Dataset::from_bytes(vec![0; 8 * 3], DType::C64, vec![3]).unwrap();
    let e = Msa
        .write(&WriteRequest::new(&ds, &path, &w))
        .unwrap_err()
        .to_string();
    assert!(e.contains("real numbers"), "{e}");
}

#[test]
fn malformed_dates_become_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.msa");
    let text = "#DATE: 01-09-1991\n#TIME: 12:100\n#DATATYPE: Y\n#SPECTRUM: go\n1\n";
    std::fs::write(&path, text).unwrap();
    let r = Options::parse(Msa.read_options(), &[] as &[(&str, &str)]).unwrap();
    let ds = Msa.open(&path, &r).unwrap().remove(0);
    assert_eq!(ds.warnings().len(), 2, "{:?}", ds.warnings());
    assert!(get_str(&ds.metadata, "General.date").is_none());
}

#[test]
fn sniffs_the_format_line() {
    assert!(Msa.sniff(b"#FORMAT      : EMSA/MAS Spectral Data File\r\n#VERSION"));
    assert!(!Msa.sniff(b"#FORMAT: something else\n"));
    let mut utf16 = crate::Encoding::Utf16.byte_order_mark().to_vec();
    utf16.extend(crate::Encoding::Utf16.encode("#FORMAT : EMSA/MAS Spectral Data File\r\n"));
    assert!(Msa.sniff(&utf16));
}

proptest! {
    /// The sniff's byte checks decide as decoding the whole head and reading its first
    /// line as text does.
    #[test]
    fn sniffing_bytes_agrees_with_decoding_the_head(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(b"#FORMAT".to_vec()),
                Just(b"EMSA".to_vec()),
                Just(b"EMS".to_vec()),
                Just(b"\xef\xbb\xbf".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\r".to_vec()),
                Just(b" : ".to_vec()),
                proptest::collection::vec(any::<u8>(), 1..4),
            ],
            0..8,
        ),
    ) {
        let head = parts.concat();
        let text = crate::Encoding::Utf8Sig.decode(&head);
        let by_text =
            text.starts_with("#FORMAT") && text.lines().next().is_some_and(|l| l.contains("EMSA"));
        prop_assert_eq!(Msa.sniff(&head), by_text);
    }
}

#[test]
fn unknown_encodings_are_refused_with_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.msa");
    std::fs::write(&path, "#DATATYPE: Y\n#SPECTRUM: go\n1\n").unwrap();
    let r = Options::parse(Msa.read_options(), &[("encoding", "shift_jis")]).unwrap();
    let e = Msa.open(&path, &r).unwrap_err().to_string();
    assert!(e.contains("shift_jis") && e.contains("cp1252"), "{e}");
    let ds = spectrum(&[1.0], 1.0, 0.0, Tree::new());
    let w = Options::parse(Msa.write_options(), &[("encoding", "koi8-r")]).unwrap();
    let e = Msa
        .write(&WriteRequest::new(&ds, &dir.path().join("w.msa"), &w))
        .unwrap_err()
        .to_string();
    assert!(e.contains("koi8-r") && e.contains("utf-16"), "{e}");
    for separator in ["e", "1", "-", "\n"] {
        let w = Options::parse(Msa.write_options(), &[("separator", separator)]).unwrap();
        let e = Msa.write(&WriteRequest::new(&ds, &dir.path().join("w.msa"), &w));
        assert!(
            e.unwrap_err().to_string().contains("separator"),
            "{separator:?}"
        );
    }
    let r = Options::parse(Msa.read_options(), &[("encoding", "Windows-1252")]).unwrap();
    assert_eq!(values_of(&Msa.open(&path, &r).unwrap()[0]), [1.0]);
}
