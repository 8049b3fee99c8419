//! TIFF writer → reader round trips (dtype × shape × compression × strips/tiles × BigTIFF),
//! calibration and metadata kept by emio's own tag, hand-made files (big-endian, PackBits,
//! LZW, predictors, planar RGB, cyclic IFD chains, lying headers) and damaged corpus files
//! that must fail cleanly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio_core::metadata::set_path;
use emio_core::{Axis, DType, Dataset, Format, NoProgress, Options, Registry, StridedSource, Tree};
use emio_tiff::Tiff;
use proptest::prelude::*;

fn write(ds: &Dataset, path: &Path, opts: &[(&str, &str)]) {
    Registry::write(&Tiff, ds, path, opts, false, &NoProgress).unwrap();
}

fn open(path: &Path) -> Vec<Dataset> {
    Tiff.open(path, &Options::new()).unwrap()
}

fn random_bytes(n: usize, seed: u64, dtype: DType) -> Vec<u8> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if dtype == DType::Bool {
                (state & 1) as u8
            } else {
                // Smooth-ish data so compression has something to do.
                (state % 7) as u8
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn write_read_round_trip(
        dtype_index in 0usize..DType::ALL.len(),
        shape in prop::collection::vec(1u64..40, 1..5),
        compression in prop::sample::select(vec!["none", "deflate", "zstd"]),
        layout in prop::sample::select(vec!["strips", "rows", "tile"]),
        bigtiff in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let dtype = DType::ALL[dtype_index];
        let n = shape.iter().product::<u64>() as usize * dtype.size();
        prop_assume!(n < 400_000);
        let bytes = random_bytes(n, seed, dtype);
        let ds = Dataset::from_bytes(bytes.clone(), dtype, shape.clone()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tif");
        let big = bigtiff.to_string();
        let mut opts = vec![("compression", compression), ("bigtiff", big.as_str())];
        match layout {
            "rows" => opts.push(("rows_per_strip", "3")),
            "tile" => opts.push(("tile", "16")),
            _ => {}
        }
        write(&ds, &path, &opts);
        let back = open(&path);
        prop_assert_eq!(back.len(), 1);
        let back = &back[0];
        prop_assert_eq!(back.dtype(), dtype);
        prop_assert_eq!(back.shape(), &shape[..]);
        prop_assert_eq!(back.read_region_bytes(&vec![0; shape.len()], &shape).unwrap(), bytes);
        // A region straddling strips/tiles equals the same part of the full array.
        let start: Vec<u64> = shape.iter().map(|&d| d / 2).collect();
        let rshape: Vec<u64> = shape.iter().map(|&d| d - d / 2).collect();
        let part = back.read_region(&start, &rshape).unwrap();
        let full = back.read().unwrap();
        if let (Some(full), Some(part)) = (full.to_f64(), part.to_f64()) {
            let slice = full.slice_each_axis(|ax| {
                emio_core::ndarray::Slice::from(start[ax.axis.index()] as isize..)
            });
            prop_assert_eq!(slice.to_owned(), part);
        }
    }
}

fn calibrated(dtype: DType, shape: Vec<u64>) -> Dataset {
    let n = shape.iter().product::<u64>() as usize * dtype.size();
    let source =
        StridedSource::from_bytes(random_bytes(n, 7, dtype), dtype, shape.clone()).unwrap();
    let nd = shape.len();
    let mut axes: Vec<Axis> = (0..nd)
        .map(|i| Axis::uniform(format!("axis{i}"), "s", 0.5 + i as f64, -1.25, true))
        .collect();
    axes[nd - 2] = Axis::uniform("y", "nm", 0.123456789, 3.5, false);
    axes[nd - 1] = Axis::uniform("x", "nm", 0.123456789, -2.0, false);
    if nd > 2 {
        axes[0] = Axis::values(
            "t",
            "ps",
            (0..shape[0]).map(|i| (i * i) as f64).collect(),
            true,
        );
    }
    let mut md = Tree::new();
    set_path(&mut md, "General.title", "calibrated");
    set_path(&mut md, "General.original_filename", "x.dm4");
    set_path(&mut md, "Signal.signal_type", "");
    set_path(&mut md, "Acquisition_instrument.TEM.beam_energy", 300.0);
    let mut om = Tree::new();
    set_path(&mut om, "Vendor.key µ", "välue");
    Dataset::new(Arc::new(source), axes, md, om).unwrap()
}

#[test]
fn axes_and_metadata_survive_exactly() {
    for (dtype, shape) in [
        (DType::U16, vec![3, 4, 5, 6]),
        (DType::F64, vec![2, 9, 7]),
        (DType::Rgb8, vec![5, 4]),
        (DType::F32, vec![2, 3, 5, 7]),
    ] {
        let ds = calibrated(dtype, shape.clone());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tif");
        write(&ds, &path, &[("compression", "zstd")]);
        let back = open(&path).remove(0);
        assert_eq!(back.shape(), &shape[..]);
        assert_eq!(back.axes, ds.axes);
        assert_eq!(back.metadata, ds.metadata);
        assert_eq!(back.original_metadata, ds.original_metadata);
        assert_eq!(back.sha256().unwrap(), ds.sha256().unwrap());
    }
}

#[test]
fn imagej_stack_is_read_as_imagej_without_emio_tag() {
    // A uint16 stack is written as an ImageJ hyperstack; its ImageJ description alone
    // (as another ImageJ reader would see it) gives the stack axis and the pixel size.
    let ds = calibrated(DType::U16, vec![4, 6, 5]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ij.tif");
    write(&ds, &path, &[]);
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("ImageJ=1.11a\nimages=4\nslices=4\nunit=nm\nloop=false\n"));
    // Drop emio's tag by renumbering it to an unknown private tag.
    let mut patched = bytes.clone();
    let tag = emio_tiff::tags::EMIO_METADATA.to_le_bytes();
    let pos = patched
        .windows(4)
        .position(|w| w[..2] == tag && w[2..] == 7u16.to_le_bytes())
        .unwrap();
    patched[pos..pos + 2].copy_from_slice(&65201u16.to_le_bytes());
    let p2 = dir.path().join("ij2.tif");
    std::fs::write(&p2, patched).unwrap();
    let back = open(&p2).remove(0);
    assert_eq!(back.shape(), &[4, 6, 5]);
    assert_eq!(back.axes[0].name, "depth");
    assert_eq!(back.axes[1].name, "height");
    assert_eq!(back.axes[2].units, "nm");
    let (scale, offset) = back.axes[2].scale_offset().unwrap();
    assert!((scale - 0.123456789).abs() < 1e-12, "{scale}");
    assert_eq!(offset, -2.0);
    assert_eq!(back.sha256().unwrap(), ds.sha256().unwrap());
}

/// A classic TIFF built by hand: `entries` are (tag, type, count, value bytes); values that
/// do not fit inline are placed after the IFD. Returns the file.
fn build(big_endian: bool, entries: &[(u16, u16, u32, Vec<u8>)], data: &[u8]) -> Vec<u8> {
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend(if big_endian { b"MM" } else { b"II" });
    f.extend(u16b(42));
    let data_at = 8u32;
    let ifd_at = data_at + data.len() as u32 + (data.len() as u32 & 1);
    f.extend(u32b(ifd_at));
    f.extend(data);
    if data.len() % 2 == 1 {
        f.push(0);
    }
    let mut extra_at = ifd_at + 2 + 12 * entries.len() as u32 + 4;
    let mut extra: Vec<u8> = Vec::new();
    f.extend(u16b(entries.len() as u16));
    for (tag, ty, count, value) in entries {
        f.extend(u16b(*tag));
        f.extend(u16b(*ty));
        f.extend(u32b(*count));
        if value.len() <= 4 {
            let mut v = value.clone();
            v.resize(4, 0);
            f.extend(v);
        } else {
            f.extend(u32b(extra_at));
            extra_at += value.len() as u32;
            extra.extend(value);
        }
    }
    f.extend(u32b(0));
    f.extend(extra);
    f
}

fn short(v: u16, be: bool) -> Vec<u8> {
    if be {
        v.to_be_bytes().to_vec()
    } else {
        v.to_le_bytes().to_vec()
    }
}

fn long(v: u32, be: bool) -> Vec<u8> {
    if be {
        v.to_be_bytes().to_vec()
    } else {
        v.to_le_bytes().to_vec()
    }
}

/// One-strip image: `size` (width, height), `sample` (bits, SampleFormat), `codec`
/// (Compression, Predictor).
fn image(
    be: bool,
    size: (u32, u32),
    sample: (u16, u16),
    codec: (u16, u16),
    data: &[u8],
) -> Vec<u8> {
    let ((w, h), (bits, format), (compression, predictor)) = (size, sample, codec);
    build(
        be,
        &[
            (256, 4, 1, long(w, be)),
            (257, 4, 1, long(h, be)),
            (258, 3, 1, short(bits, be)),
            (259, 3, 1, short(compression, be)),
            (262, 3, 1, short(1, be)),
            (273, 4, 1, long(8, be)),
            (278, 4, 1, long(h, be)),
            (279, 4, 1, long(data.len() as u32, be)),
            (317, 3, 1, short(predictor, be)),
            (339, 3, 1, short(format, be)),
        ],
        data,
    )
}

fn read_file(bytes: Vec<u8>) -> emio_core::Result<Vec<Dataset>> {
    let storage = emio_core::Storage::owned(bytes);
    Tiff::datasets_from_storage(storage, "t.tif", &Options::new())
}

fn u16s(ds: &Dataset) -> Vec<u16> {
    let b = ds.read_region_bytes(&[0, 0], ds.shape()).unwrap();
    b.chunks_exact(2)
        .map(|c| u16::from_ne_bytes([c[0], c[1]]))
        .collect()
}

/// An ImageJ description whose counts multiply past 2^64 describes no hyperstack: the
/// page is read as it is (found by reading the series code: the product overflowed).
#[test]
fn imagej_counts_beyond_64_bits_are_no_hyperstack() {
    let desc = b"ImageJ=1.11a\nimages=1\nslices=9999999999\nframes=9999999999\n\0".to_vec();
    let pixels: Vec<u8> = (1..=6u8).collect();
    let bytes = build(
        false,
        &[
            (256, 4, 1, long(3, false)),
            (257, 4, 1, long(2, false)),
            (258, 3, 1, short(8, false)),
            (259, 3, 1, short(1, false)),
            (262, 3, 1, short(1, false)),
            (270, 2, desc.len() as u32, desc),
            (273, 4, 1, long(8, false)),
            (278, 4, 1, long(2, false)),
            (279, 4, 1, long(6, false)),
        ],
        &pixels,
    );
    let ds = read_file(bytes).unwrap().remove(0);
    assert_eq!(ds.shape(), [2, 3]);
    assert_eq!(ds.read_region_bytes(&[0, 0], &[2, 3]).unwrap(), pixels);
}

#[test]
fn big_endian_with_horizontal_predictor_and_packbits() {
    // 2x3 uint16, big-endian, rows differenced: [1, 2, 3], [10, 20, 30].
    let diffs: [u16; 6] = [1, 1, 1, 10, 10, 10];
    let raw: Vec<u8> = diffs.iter().flat_map(|v| v.to_be_bytes()).collect();
    // PackBits: one literal run of all 12 bytes.
    let mut packed = vec![11u8];
    packed.extend(&raw);
    let f = image(true, (3, 2), (16, 1), (32773, 2), &packed);
    let ds = read_file(f).unwrap().remove(0);
    assert_eq!(ds.dtype(), DType::U16);
    assert_eq!(u16s(&ds), [1, 2, 3, 10, 20, 30]);
}

#[test]
fn lzw_and_float_predictor() {
    let values: [f32; 4] = [1.5, -2.25, 1e-3, 42.0];
    // Floating-point predictor: byte planes (most significant first), then differenced.
    let n = values.len();
    let mut planes = vec![0u8; n * 4];
    for (i, v) in values.iter().enumerate() {
        for (b, byte) in v.to_be_bytes().iter().enumerate() {
            planes[b * n + i] = *byte;
        }
    }
    for i in (1..planes.len()).rev() {
        planes[i] = planes[i].wrapping_sub(planes[i - 1]);
    }
    let lzw = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
        .encode(&planes)
        .unwrap();
    let f = image(false, (4, 1), (32, 3), (5, 3), &lzw);
    let ds = read_file(f).unwrap().remove(0);
    let b = ds.read_region_bytes(&[0, 0], &[1, 4]).unwrap();
    let got: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, values);
}

#[test]
fn twelve_bit_samples_are_unpacked() {
    let f = image(false, (2, 1), (12, 1), (1, 1), &[0xAB, 0xCD, 0xEF]);
    let ds = read_file(f).unwrap().remove(0);
    assert_eq!(u16s(&ds), [0xABC, 0xDEF]);
}

#[test]
fn cyclic_ifd_chain_ends() {
    let mut f = image(false, (2, 1), (8, 1), (1, 1), &[1, 2]);
    // Point the IFD's next offset back at itself.
    let ifd_at = u32::from_le_bytes(f[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes([f[ifd_at], f[ifd_at + 1]]) as usize;
    let next = ifd_at + 2 + 12 * n;
    f[next..next + 4].copy_from_slice(&(ifd_at as u32).to_le_bytes());
    let ds = read_file(f).unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].shape(), &[1, 2]);
}

#[test]
fn lying_headers_fail_without_allocating() {
    // Huge image claimed over two bytes of data.
    let f = image(false, (u32::MAX, u32::MAX), (16, 1), (1, 1), &[1, 2]);
    assert!(read_file(f).is_err());
    // Compressed strip claiming a huge decoded size: open may succeed, reading must fail
    // or produce the clipped data without panicking.
    let f = image(
        false,
        (100_000, 100_000),
        (8, 1),
        (8, 1),
        &[0x78, 0x9c, 0x03, 0x00],
    );
    if let Ok(ds) = read_file(f) {
        let _ = ds[0].read_region_bytes(&[0, 0], &[1, 10]);
    }
    // An IFD whose entry count runs past the end of the file.
    let mut f = image(false, (2, 1), (8, 1), (1, 1), &[1, 2]);
    let ifd_at = u32::from_le_bytes(f[4..8].try_into().unwrap()) as usize;
    f[ifd_at..ifd_at + 2].copy_from_slice(&0xFFFFu16.to_le_bytes());
    assert!(read_file(f).is_err());
    assert!(read_file(b"II*\0".to_vec()).is_err());
    assert!(read_file(b"MM\0+\0\x08\0\0\xff\xff\xff\xff\xff\xff\xff\xff".to_vec()).is_err());
}

fn corpus_files() -> Vec<PathBuf> {
    emio_core::corpus::corpus_files("tiff", &[".tif"])
}

/// Open and fully read damaged bytes: any error is fine, a panic is not.
fn exercise(bytes: Vec<u8>) {
    if let Ok(datasets) = read_file(bytes) {
        for ds in datasets {
            if ds.nbytes() < 64 << 20 {
                let _ = ds.sha256();
            }
        }
    }
}

#[test]
fn damaged_corpus_files_never_panic() {
    for path in corpus_files() {
        let bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        for k in 0..24 {
            let cut = len * k / 24 + k;
            exercise(bytes[..cut.min(len)].to_vec());
        }
        let mut state = 0x9E3779B97F4A7C15u64 ^ len as u64;
        for _ in 0..24 {
            let mut b = bytes.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Damage the structure (headers and IFDs are mostly near either end).
                let at = if state & 1 == 0 {
                    (state >> 8) as usize % len.min(4096)
                } else {
                    len - 1 - (state >> 8) as usize % len.min(8192)
                };
                b[at] ^= 1 << ((state >> 4) & 7);
            }
            exercise(b);
        }
    }
}
