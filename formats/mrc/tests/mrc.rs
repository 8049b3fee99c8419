//! MRC reader/writer tests: round trips for every writable mode (proptest), region reads
//! against full reads, permuted axes, both byte orders, compressed files, Direct Electron
//! companions, and corrupted corpus files that must fail cleanly instead of panicking.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio_core::{
    ArrayData, Axis, DType, Dataset, Error, Format, Options, StridedSource, Tree, WriteRequest,
};
use emio_mrc::header::{Header, Mode};
use emio_mrc::Mrc;
use proptest::prelude::*;

fn write_opts(pairs: &[(&str, &str)]) -> Options {
    Options::parse(Mrc.write_options(), pairs).unwrap()
}

fn read_opts(pairs: &[(&str, &str)]) -> Options {
    Options::parse(Mrc.read_options(), pairs).unwrap()
}

fn open(path: &Path) -> Dataset {
    Mrc.open(path, &read_opts(&[])).unwrap().remove(0)
}

fn dataset(dtype: DType, shape: &[u64], bytes: Vec<u8>, scale: f64) -> Dataset {
    let source = StridedSource::from_bytes(bytes, dtype, shape.to_vec()).unwrap();
    let n = shape.len();
    let axes = (0..n)
        .map(|i| {
            if i + 2 >= n {
                Axis::uniform("", "nm", scale, 0.5 * scale, false)
            } else {
                Axis::default_for(true)
            }
        })
        .collect();
    Dataset::new(Arc::new(source), axes, Tree::new(), Tree::new()).unwrap()
}

/// Values valid for `dtype` (mode conversions are lossless for them).
fn bytes_for(dtype: DType, seeds: &[i16]) -> Vec<u8> {
    seeds
        .iter()
        .flat_map(|&s| match dtype {
            DType::I8 => vec![(s % 128) as i8 as u8],
            DType::I16 => s.to_ne_bytes().to_vec(),
            DType::U16 => (s as u16).to_ne_bytes().to_vec(),
            DType::F32 => (f32::from(s) * 0.25).to_ne_bytes().to_vec(),
            DType::F16 => half::f16::from_f32(f32::from(s % 2048))
                .to_ne_bytes()
                .to_vec(),
            DType::C64 => [f32::from(s), -f32::from(s) * 0.5]
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect(),
            other => panic!("no generator for {other}"),
        })
        .collect()
}

fn temp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn header_of(path: &Path) -> Header {
    let bytes = std::fs::read(path).unwrap();
    Header::parse(&bytes, None).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_mode_round_trips(
        mode in prop::sample::select(vec![("0", DType::I8), ("1", DType::I16), ("2", DType::F32), ("4", DType::C64), ("6", DType::U16), ("12", DType::F16)]),
        shape in prop::collection::vec(2u64..6, 1..=4),
        scale in 0.01f64..100.0,
        big in any::<bool>(),
        seed in any::<i16>(),
    ) {
        let (mode, dtype) = mode;
        let n: u64 = shape.iter().product();
        let seeds: Vec<i16> = (0..n as i64).map(|i| (i as i16).wrapping_mul(31).wrapping_add(seed)).collect();
        let ds = dataset(dtype, &shape, bytes_for(dtype, &seeds), scale);
        let dir = tempfile::tempdir().unwrap();
        let path = temp_path(&dir, "x.mrc");
        let endian = if big { ">" } else { "<" };
        Mrc.write(&WriteRequest::new(&ds, &path, &write_opts(&[("mode", mode), ("endianness", endian)]))).unwrap();
        let back = open(&path);
        prop_assert_eq!(back.shape(), ds.shape());
        prop_assert_eq!(back.dtype(), dtype);
        prop_assert_eq!(back.read().unwrap(), ds.read().unwrap());
        let nd = shape.len();
        let (s, o) = back.axes[nd - 1].scale_offset().unwrap();
        prop_assert!((s - scale).abs() <= 1e-5 * scale, "scale {} vs {}", s, scale);
        prop_assert!((o - 0.5 * scale).abs() <= 1e-5 * scale);
        // Header statistics describe the stored data (complex data leaves them unset).
        let h = header_of(&path);
        if let (false, Some(values)) = (dtype.is_complex(), ds.read().unwrap().to_f64()) {
            let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            prop_assert_eq!(f64::from(h.dmin), min);
            prop_assert_eq!(f64::from(h.dmax), max);
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            prop_assert!((f64::from(h.dmean) - mean).abs() <= 1e-3 * mean.abs().max(1.0));
        }
        // Region reads equal slices of the full read.
        let start: Vec<u64> = shape.iter().map(|&d| d / 3).collect();
        let extent: Vec<u64> = shape.iter().zip(&start).map(|(&d, &s)| (d - s).min(2)).collect();
        let region = back.read_region(&start, &extent).unwrap();
        let full = back.read().unwrap();
        prop_assert_eq!(region, slice(&full, &start, &extent));
    }
}

/// The sub-array `start .. start + extent` of `full`.
fn slice(full: &ArrayData, start: &[u64], extent: &[u64]) -> ArrayData {
    use emio_core::ndarray::{IxDyn, SliceInfoElem};
    let info: Vec<SliceInfoElem> = start
        .iter()
        .zip(extent)
        .map(|(&s, &e)| SliceInfoElem::Slice {
            start: s as isize,
            end: Some((s + e) as isize),
            step: 1,
        })
        .collect();
    let info = emio_core::ndarray::SliceInfo::<_, IxDyn, IxDyn>::try_from(info).unwrap();
    match full {
        ArrayData::I8(a) => ArrayData::I8(a.slice(info.as_ref()).to_owned()),
        ArrayData::I16(a) => ArrayData::I16(a.slice(info.as_ref()).to_owned()),
        ArrayData::U16(a) => ArrayData::U16(a.slice(info.as_ref()).to_owned()),
        ArrayData::F16(a) => ArrayData::F16(a.slice(info.as_ref()).to_owned()),
        ArrayData::F32(a) => ArrayData::F32(a.slice(info.as_ref()).to_owned()),
        ArrayData::C64(a) => ArrayData::C64(a.slice(info.as_ref()).to_owned()),
        other => panic!("unexpected {other:?}"),
    }
}

/// A raw MRC file from a header and native values (written in the header's byte order).
fn raw_file(path: &Path, h: &Header, data: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&h.encode()).unwrap();
    f.write_all(data).unwrap();
}

#[test]
fn mapc_mapr_maps_permute_axes() {
    // Stored: columns along Z (2), rows along X (3), sections along Y (4).
    let (nc, nr, ns) = (2u64, 3u64, 4u64);
    let mut h = Header::new(
        Mode::Float32,
        nc as i32,
        nr as i32,
        ns as i32,
        emio_core::ByteOrder::Little,
    );
    h.ispg = 1;
    h.map_crs = [3, 1, 2];
    h.mxyz = [3, 4, 2];
    h.cella = [30.0, 80.0, 40.0];
    let data: Vec<u8> = (0..nc * nr * ns)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "perm.map");
    raw_file(&path, &h, &data);
    let ds = open(&path);
    // Logical (Z, Y, X) = (columns, sections, rows).
    assert_eq!(ds.shape(), [nc, ns, nr]);
    let ArrayData::F32(a) = ds.read().unwrap() else {
        panic!()
    };
    for z in 0..nc {
        for y in 0..ns {
            for x in 0..nr {
                let stored = (y * nr + x) * nc + z;
                assert_eq!(a[[z as usize, y as usize, x as usize]], stored as f32);
            }
        }
    }
    let scales: Vec<f64> = ds
        .axes
        .iter()
        .map(|a| a.scale_offset().unwrap().0)
        .collect();
    assert_eq!(scales, [2.0, 2.0, 1.0]);
}

#[test]
fn complex_int16_and_packed_modes_read() {
    let dir = tempfile::tempdir().unwrap();
    let h = Header::new(Mode::ComplexInt16, 2, 1, 1, emio_core::ByteOrder::Big);
    let data: Vec<u8> = [3i16, -4, 5, 6]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let path = temp_path(&dir, "c.mrc");
    raw_file(&path, &h, &data);
    let ds = open(&path);
    assert_eq!(ds.dtype(), DType::C64);
    let ArrayData::C64(a) = ds.read().unwrap() else {
        panic!()
    };
    assert_eq!(
        a.iter().map(|c| (c.re, c.im)).collect::<Vec<_>>(),
        [(3.0, -4.0), (5.0, 6.0)]
    );

    let h = Header::new(Mode::Packed4, 3, 2, 1, emio_core::ByteOrder::Little);
    let path = temp_path(&dir, "p.mrc");
    raw_file(&path, &h, &[0x21, 0x03, 0x54, 0x06]);
    let ds = open(&path);
    let ArrayData::U8(a) = ds.read().unwrap() else {
        panic!()
    };
    assert_eq!(a.iter().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn mode_3_writes_from_complex_data() {
    let ds = dataset(
        DType::C64,
        &[2, 3],
        bytes_for(DType::C64, &[1, 2, 3, 4, 5, 6]),
        1.0,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "m3.mrc");
    Mrc.write(&WriteRequest::new(
        &ds,
        &path,
        &write_opts(&[("mode", "3")]),
    ))
    .unwrap();
    let back = open(&path);
    let ArrayData::C64(a) = back.read().unwrap() else {
        panic!()
    };
    let got: Vec<(f32, f32)> = a.iter().map(|c| (c.re, c.im)).collect();
    // Imaginary parts -0.5, -1.5, -2.5 round away from zero.
    assert_eq!(
        got,
        [
            (1.0, -1.0),
            (2.0, -1.0),
            (3.0, -2.0),
            (4.0, -2.0),
            (5.0, -3.0),
            (6.0, -3.0)
        ]
    );
    assert_eq!(header_of(&path).mode, Mode::ComplexInt16);
}

fn gzip(src: &Path, dst: &Path) {
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(dst).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(src).unwrap()).unwrap();
    enc.finish().unwrap();
}

fn bzip(src: &Path, dst: &Path) {
    let mut enc = bzip2::write::BzEncoder::new(
        std::fs::File::create(dst).unwrap(),
        bzip2::Compression::fast(),
    );
    enc.write_all(&std::fs::read(src).unwrap()).unwrap();
    enc.finish().unwrap();
}

#[test]
fn compressed_files_read_lazily_and_match() {
    let shape = [3u64, 5, 4];
    let seeds: Vec<i16> = (0..60).collect();
    let ds = dataset(DType::F32, &shape, bytes_for(DType::F32, &seeds), 0.3);
    let dir = tempfile::tempdir().unwrap();
    let plain = temp_path(&dir, "v.mrc");
    Mrc.write(&WriteRequest::new(&ds, &plain, &write_opts(&[])))
        .unwrap();
    let gz = temp_path(&dir, "v.mrc.gz");
    let bz = temp_path(&dir, "v.mrc.bz2");
    gzip(&plain, &gz);
    bzip(&plain, &bz);
    let head = std::fs::read(&gz).unwrap();
    assert!(Mrc.sniff(&head[..head.len().min(4096)]));
    for path in [&gz, &bz] {
        let back = open(path);
        assert_eq!(back.shape(), shape);
        assert_eq!(back.read().unwrap(), ds.read().unwrap());
        assert_eq!(
            back.read_region(&[1, 2, 1], &[2, 2, 2]).unwrap(),
            open(&plain).read_region(&[1, 2, 1], &[2, 2, 2]).unwrap()
        );
    }
    // A truncated stream opens (the header is intact) but reading the data fails cleanly.
    let bytes = std::fs::read(&gz).unwrap();
    let cut = temp_path(&dir, "cut.mrc.gz");
    std::fs::write(&cut, &bytes[..bytes.len() - 60]).unwrap();
    if let Ok(mut d) = Mrc.open(&cut, &read_opts(&[])) {
        assert!(d.remove(0).read().is_err());
    }
}

/// `bytes` as one gzip member whose first deflate block has the reserved block type: a
/// stream every gzip decoder rejects.
fn damaged_gzip_member(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    let mut member = enc.finish().unwrap();
    // After the 10-byte header (no name): BTYPE bits 1-2 set to 11.
    member[10] |= 0b110;
    member
}

/// The decoder's own error behind a codec failure.
fn codec_source(e: &Error) -> &std::io::Error {
    assert!(matches!(e, Error::Codec { .. }), "{e:?}");
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .unwrap_or_else(|| panic!("no I/O error from the decoder behind {e:?}"))
}

#[test]
fn damaged_gzip_streams_fail_with_the_decoders_error() {
    let seeds: Vec<i16> = (0..60).collect();
    let ds = dataset(DType::F32, &[3, 5, 4], bytes_for(DType::F32, &seeds), 0.3);
    let dir = tempfile::tempdir().unwrap();
    let plain = temp_path(&dir, "v.mrc");
    Mrc.write(&WriteRequest::new(&ds, &plain, &write_opts(&[])))
        .unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    // Damaged from the start: opening fails.
    let head = temp_path(&dir, "head.mrc.gz");
    std::fs::write(&head, damaged_gzip_member(&bytes)).unwrap();
    let e = Mrc.open(&head, &read_opts(&[])).unwrap_err();
    codec_source(&e);
    assert!(e.to_string().contains("head.mrc.gz"), "{e}");
    // A sound first member (the header) and a damaged second one (the data): opening
    // reads only the header; every read of the data fails with the decoder's error.
    let split = temp_path(&dir, "data.mrc.gz");
    // The data follow the header and its extended header (NSYMBT bytes, word 24).
    let data_at = 1024 + u32::from_le_bytes(bytes[92..96].try_into().unwrap()) as usize;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&bytes[..data_at]).unwrap();
    let mut file = enc.finish().unwrap();
    file.extend(damaged_gzip_member(&bytes[data_at..]));
    std::fs::write(&split, file).unwrap();
    let back = open(&split);
    for _ in 0..2 {
        let e = back.read_region_bytes(&[0, 0, 0], &[1, 5, 4]).unwrap_err();
        assert!(
            codec_source(&e).kind() == std::io::ErrorKind::InvalidInput
                || codec_source(&e).kind() == std::io::ErrorKind::InvalidData,
            "{e:?}"
        );
        assert!(e.to_string().contains("gzip"), "{e}");
    }
}

#[test]
fn direct_electron_companions_place_frames() {
    let dir = tempfile::tempdir().unwrap();
    let h = Header::new(Mode::Uint16, 2, 2, 5, emio_core::ByteOrder::Little);
    let data: Vec<u8> = (0..20u16).flat_map(|v| v.to_le_bytes()).collect();
    let movie = temp_path(&dir, "20250101_00001_movie.mrc");
    raw_file(&movie, &h, &data);
    std::fs::write(
        temp_path(&dir, "20250101_00001_info.txt"),
        "Scan - Enable = Enable\nScan - Type = Random\nSpecimen Pixel Size X (nanometers) = 0.5\nSpecimen Pixel Size Y (nanometers) = 0.25\nTimestamp (seconds since Epoch) = 86400\n",
    )
    .unwrap();
    std::fs::write(
        temp_path(&dir, "20250101_00001_scan_coordinates.csv"),
        "1,0\n0,0\n2,1\n0,1\n1,1\n",
    )
    .unwrap();
    let ds = open(&movie);
    assert_eq!(ds.shape(), [2, 3, 2, 2]);
    let ArrayData::U16(a) = ds.read().unwrap() else {
        panic!()
    };
    // Frame 1 at (y 0, x 0), frame 0 at (0, 1), position (0, 2) empty.
    assert_eq!(a[[0, 0, 0, 0]], 4);
    assert_eq!(a[[0, 1, 1, 1]], 3);
    assert_eq!(a[[0, 2, 1, 1]], 0);
    assert_eq!(a[[1, 2, 0, 0]], 8);
    assert!(
        ds.warnings()
            .iter()
            .any(|w| w.contains("1 of the 6 scan positions have no frame")),
        "{:?}",
        ds.warnings()
    );
    assert_eq!(ds.axes[0].scale_offset(), Some((0.25, 0.0)));
    assert_eq!(ds.axes[1].scale_offset(), Some((0.5, 0.0)));
    assert_eq!(ds.metadata["General"]["date"], "1970-01-02");
    // Companions can be switched off.
    let plain = Mrc
        .open(&movie, &read_opts(&[("metadata_file", "None")]))
        .unwrap()
        .remove(0);
    assert_eq!(plain.shape(), [5, 2, 2]);
    // rsciio's navigation_shape splits the stack (fastest axis first).
    let split = Mrc
        .open(
            &movie,
            &read_opts(&[("metadata_file", "none"), ("navigation_shape", "5,1")]),
        )
        .unwrap()
        .remove(0);
    assert_eq!(split.shape(), [5, 2, 2]);
    assert!(Mrc
        .open(
            &movie,
            &read_opts(&[("metadata_file", "none"), ("navigation_shape", "2,2")])
        )
        .is_err());
}

#[test]
fn direct_electron_scan_files_are_bounded_by_the_movie() {
    // Issue 15: a 2-million-line scan file made a 1 GB output from a small movie.
    let dir = tempfile::tempdir().unwrap();
    let h = Header::new(Mode::Uint16, 2, 2, 2, emio_core::ByteOrder::Little);
    let movie = temp_path(&dir, "20250101_00002_movie.mrc");
    raw_file(&movie, &h, &[1u8; 16]);
    std::fs::write(
        temp_path(&dir, "20250101_00002_info.txt"),
        "Scan - Enable = Enable\nScan - Type = Random\n",
    )
    .unwrap();
    let scan = temp_path(&dir, "20250101_00002_scan_coordinates.csv");
    // Beyond the movie's metadata budget (1 MiB for a small file): refused, file named.
    std::fs::write(&scan, "0,0\n".repeat(2_000_000)).unwrap();
    let err = Mrc.open(&movie, &read_opts(&[])).unwrap_err().to_string();
    assert!(
        err.contains("metadata budget") && err.contains("scan_coordinates.csv"),
        "{err}"
    );
    // Within the budget, but 200,000 repeats of one position: 1.6 MB of zeros from a
    // 1 KB movie is refused too.
    std::fs::write(&scan, "0,0\n".repeat(200_000)).unwrap();
    let err = Mrc.open(&movie, &read_opts(&[])).unwrap_err().to_string();
    assert!(
        err.contains("scan grid") && err.contains("mostly stored"),
        "{err}"
    );
}

#[test]
fn fei2_extended_header_round_trips() {
    let mut original = Tree::new();
    let mut fei = serde_json::Map::new();
    fei.insert("HT".into(), serde_json::json!([300000.0, 300000.0]));
    fei.insert("Alpha tilt".into(), serde_json::json!([-30.0, 30.0]));
    original.insert("fei_header".into(), serde_json::Value::Object(fei));
    let source =
        StridedSource::from_bytes(vec![0u8; 2 * 4 * 4 * 4], DType::F32, vec![2, 4, 4]).unwrap();
    let axes = vec![
        Axis::default_for(true),
        Axis::default_for(false),
        Axis::default_for(false),
    ];
    let ds = Dataset::new(Arc::new(source), axes, Tree::new(), original).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "fei.mrc");
    Mrc.write(&WriteRequest::new(
        &ds,
        &path,
        &write_opts(&[("labels", "first label|second")]),
    ))
    .unwrap();
    let h = header_of(&path);
    assert_eq!(&h.exttyp, b"FEI2");
    assert_eq!(h.nsymbt, 2 * 888);
    assert_eq!(h.nlabl, 3);
    assert_eq!(h.labels[1], "second");
    let back = open(&path);
    assert_eq!(back.original_metadata["fei_header"]["Alpha tilt"][1], 30.0);
    assert_eq!(
        back.metadata["Acquisition_instrument"]["TEM"]["beam_energy"],
        300.0
    );
}

fn corpus_files() -> Vec<PathBuf> {
    emio_core::corpus::corpus_files("mrc", &[".mrc", ".map"])
}

/// Open and fully read `bytes` as an MRC file; any error is fine, a panic is not.
fn exercise(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    if let Ok(datasets) = Mrc.open(&path, &read_opts(&[])) {
        for ds in datasets {
            if ds.nbytes() < 64 << 20 {
                let _ = ds.read();
            }
        }
    }
}

#[test]
fn corrupted_corpus_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    for file in corpus_files() {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // Truncations: inside the header, at its end, and through the data.
        let mut cuts: Vec<usize> = (0..1100).step_by(37).collect();
        cuts.extend((0..16).map(|k| bytes.len() * k / 16));
        for cut in cuts.into_iter().filter(|&c| c < bytes.len()) {
            exercise(dir.path(), &name, &bytes[..cut]);
        }
        // Byte flips through the header and the first data bytes, and large values in
        // the leading bytes of every numeric header field.
        for at in (0..bytes.len().min(1400)).step_by(7) {
            let mut b = bytes.clone();
            b[at] ^= 0xff;
            exercise(dir.path(), &name, &b);
        }
        for field in (0..224).step_by(4) {
            for at in [field, field + 3] {
                let mut b = bytes.clone();
                b[at] = 0x7f;
                exercise(dir.path(), &name, &b);
            }
        }
    }
}

#[test]
fn native_files_are_zero_copy_views() {
    let seeds: Vec<i16> = (0..24).collect();
    let ds = dataset(DType::F32, &[2, 3, 4], bytes_for(DType::F32, &seeds), 1.0);
    let dir = tempfile::tempdir().unwrap();
    let little = temp_path(&dir, "le.mrc");
    Mrc.write(&WriteRequest::new(&ds, &little, &write_opts(&[])))
        .unwrap();
    let back = open(&little);
    let expected = ds.read_region_bytes(&[0, 0, 0], &[2, 3, 4]).unwrap();
    if cfg!(target_endian = "little") {
        assert_eq!(back.mapped(), Some(&expected[..]));
    }
    let big = temp_path(&dir, "be.mrc");
    Mrc.write(&WriteRequest::new(
        &ds,
        &big,
        &write_opts(&[("endianness", ">")]),
    ))
    .unwrap();
    let back = open(&big);
    assert_eq!(
        back.read_region_bytes(&[0, 0, 0], &[2, 3, 4]).unwrap(),
        expected
    );
}

#[test]
fn lossy_types_need_an_explicit_mode() {
    let values: Vec<u8> = [1u32, 16_777_217, 3, 4]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let ds = dataset(DType::U32, &[2, 2], values, 1.0);
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "u32.mrc");
    let err = Mrc
        .write(&WriteRequest::new(&ds, &path, &write_opts(&[])))
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("mode=2"), "{err}");
    Mrc.write(&WriteRequest::new(
        &ds,
        &path,
        &write_opts(&[("mode", "2")]),
    ))
    .unwrap();
    let ArrayData::F32(a) = open(&path).read().unwrap() else {
        panic!("float32 expected")
    };
    // 2^24 + 1 has no float32: the explicit conversion rounds it.
    assert_eq!(
        a.iter().copied().collect::<Vec<_>>(),
        [1.0, 16_777_216.0, 3.0, 4.0]
    );
}
