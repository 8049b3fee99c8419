//! Tests of the MIB reader and writer: corpus files, RAW decoding against processed files and
//! synthetic RAW files, navigation-shape rules, writer round trips and corrupt input.

use std::path::PathBuf;

use emio_core::{DType, Dataset, Format, Options, WriteRequest};
use proptest::prelude::*;

use super::*;

/// The corpus' MIB folder (the test fails with the fix when the corpus is missing).
fn corpus() -> PathBuf {
    emio_core::corpus::corpus_format_dir("mib")
}

fn open(path: &Path, pairs: &[(&str, &str)]) -> Result<Vec<Dataset>> {
    let options = Options::parse(Mib.read_options(), pairs)?;
    Mib.open(path, &options)
}

fn read_u32(ds: &Dataset) -> Vec<u32> {
    let bytes = ds
        .read_region_bytes(&vec![0; ds.ndim()], ds.shape())
        .unwrap();
    match ds.dtype().size() {
        1 => bytes.iter().map(|&b| u32::from(b)).collect(),
        2 => bytes
            .chunks_exact(2)
            .map(|b| u32::from(u16::from_ne_bytes([b[0], b[1]])))
            .collect(),
        _ => bytes
            .chunks_exact(4)
            .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
            .collect(),
    }
}

/// Timestamp of synthetic frames.
const TIME: &str = "2021-04-15T13:43:00.835428351Z";

const HEADER_TAIL: &str = "0.001000,0,0,0,2.000000E+0,5.110000E+2,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0";

/// A header in the layout Merlin writes, padded to `len`.
fn header(
    seq: u64,
    len: usize,
    chips: u32,
    cols: u64,
    rows: u64,
    pixel: &str,
    depth: u32,
) -> Vec<u8> {
    let layout = if chips == 1 { "   1x1,01" } else { "   2x2,0F" };
    let dacs = vec![format!("3RX,{}", ["100"; 27].join(",")); chips as usize].join(",");
    let text = format!(
        "MQ1,{seq:06},{len:05},{chips:02},{cols:04},{rows:04},{pixel},{layout},2021-04-15 14:43:00.835428,{HEADER_TAIL},{dacs},MQ1A,{TIME},1000000ns,{depth},"
    );
    let mut b = text.into_bytes();
    assert!(b.len() <= len);
    b.resize(len, 0);
    b
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn flip_rows(values: &[u32], rows: usize, cols: usize) -> Vec<u32> {
    (0..rows)
        .rev()
        .flat_map(|r| values[r * cols..(r + 1) * cols].iter().copied())
        .collect()
}

#[test]
fn corpus_shapes_dtypes_and_metadata() {
    let dir = corpus();
    let ds = open(&dir.join("001_4x2_6bit.mib"), &[]).unwrap();
    assert_eq!(ds.len(), 1);
    let d = &ds[0];
    assert_eq!(d.shape(), [2, 4, 256, 256]);
    assert_eq!(d.dtype(), DType::U8);
    assert_eq!(
        d.sha256().unwrap(),
        "b1da1eabb1c358e0732c7970f79751dc7e61cd298982d2bce520665913e50450"
    );
    assert_eq!(
        get_str(&d.metadata, "General.time"),
        Some("16:51:10.905800928")
    );
    assert_eq!(get_str(&d.metadata, "General.time_zone"), Some("UTC"));
    assert_eq!(
        get_f64(&d.metadata, "Acquisition_instrument.dwell_time"),
        Some(0.1)
    );
    assert!(d.axes[..2].iter().all(|a| a.navigate));
    assert!(d.axes[2..].iter().all(|a| !a.navigate));
    let quad = open(&dir.join("Quad_1_Frame_CounterDepth_24_Rows_256.mib"), &[]).unwrap();
    assert_eq!(quad[0].shape(), [512, 512]);
    assert_eq!(quad[0].dtype(), DType::U32);
    let nine = open(&dir.join("Single_9_Frame_CounterDepth_1_Rows_256.mib"), &[]).unwrap();
    assert_eq!(nine[0].shape(), [9, 256, 256]);
}

use emio_core::metadata::{get_f64, get_str};

#[test]
fn options_select_frames_and_shape() {
    let dir = corpus();
    let path = dir.join("001_4x2_6bit.mib");
    let all = open(&path, &[]).unwrap().remove(0);
    let frames = |ds: &Dataset| {
        ds.read_region_bytes(&vec![0; ds.ndim()], ds.shape())
            .unwrap()
    };
    let full = frames(&all);
    let frame = 256 * 256;
    let swapped = open(&path, &[("navigation_shape", "2,4")])
        .unwrap()
        .remove(0);
    assert_eq!(swapped.shape(), [4, 2, 256, 256]);
    assert_eq!(frames(&swapped), full);
    let part = open(&path, &[("first_frame", "2"), ("last_frame", "-1")])
        .unwrap()
        .remove(0);
    assert_eq!(part.shape(), [5, 256, 256]);
    assert_eq!(frames(&part), full[2 * frame..7 * frame]);
    // A shape that does not hold exactly the frames loaded is an error, not ignored.
    for (shape, extra) in [
        ("3,4", &[][..]),
        ("2,2", &[][..]),
        ("2,4", &[("first_frame", "1")][..]),
    ] {
        let mut options = vec![("navigation_shape", shape)];
        options.extend_from_slice(extra);
        let e = open(&path, &options).unwrap_err().to_string();
        assert!(
            e.contains("navigation_shape") && e.contains("does not fit the file"),
            "{e}"
        );
    }
    assert!(open(&path, &[("first_frame", "9")]).is_err());
    assert!(open(&path, &[("navigation_shape", "0,4")]).is_err());
}

#[test]
fn raw_corpus_frame_matches_the_processed_one() {
    let dir = corpus();
    let raw = open(
        &dir.join("Single_1_Frame_CounterDepth_1_Rows_256RAW.mib"),
        &[],
    )
    .unwrap()
    .remove(0);
    let processed = open(&dir.join("Single_1_Frame_CounterDepth_1_Rows_256.mib"), &[])
        .unwrap()
        .remove(0);
    assert_eq!(raw.shape(), processed.shape());
    assert_eq!(raw.dtype(), processed.dtype());
    let (a, b) = (read_u32(&raw), read_u32(&processed));
    // Two acquisitions of the same scene moments apart: all but a few counts agree, far
    // more than under any other pixel order.
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(
        same as f64 > 0.999 * a.len() as f64,
        "{same} of {}",
        a.len()
    );
    assert!(a.iter().all(|&v| v <= 1));
    assert!(a.iter().sum::<u32>() > 2000);
}

#[test]
fn synthetic_raw_files_decode_to_their_pixels() {
    let dir = tempfile::tempdir().unwrap();
    for (depth, max) in [(1u32, 1u32), (6, 63), (12, 4095), (24, (1 << 24) - 1)] {
        let (rows, cols) = (16usize, 128usize);
        let pixels: Vec<u32> = (0..rows * cols)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) % (max + 1))
            .collect();
        let mut file = Vec::new();
        for f in 0..2u64 {
            let frame: Vec<u32> = pixels.iter().map(|v| (v + f as u32) % (max + 1)).collect();
            let header_cols = if depth == 24 { 2 * cols } else { cols };
            file.extend(header(
                f + 1,
                384,
                1,
                header_cols as u64,
                rows as u64,
                "R64",
                depth,
            ));
            if depth == 24 {
                let hi: Vec<u32> = frame.iter().map(|v| v >> 12).collect();
                let lo: Vec<u32> = frame.iter().map(|v| v & 0xfff).collect();
                file.extend(raw::encode::run(12, &hi));
                file.extend(raw::encode::run(12, &lo));
            } else {
                file.extend(raw::encode::run(depth, &frame));
            }
        }
        let path = write_file(dir.path(), &format!("raw{depth}.mib"), &file);
        let ds = open(&path, &[]).unwrap().remove(0);
        assert_eq!(ds.shape(), [2, rows as u64, cols as u64], "depth {depth}");
        let values = read_u32(&ds);
        let second: Vec<u32> = pixels.iter().map(|v| (v + 1) % (max + 1)).collect();
        assert_eq!(
            values[..rows * cols],
            flip_rows(&pixels, rows, cols)[..],
            "depth {depth}"
        );
        assert_eq!(
            values[rows * cols..],
            flip_rows(&second, rows, cols)[..],
            "depth {depth}"
        );
    }
    // Quad RAW: chip rows interleaved, bottom chips rotated.
    for (depth, max) in [(1u32, 1u32), (6, 63), (12, 4095)] {
        let chip = 64usize;
        let image: Vec<u32> = (0..4 * chip * chip)
            .map(|i| (i as u32).wrapping_mul(40_503) % (max + 1))
            .collect();
        let mut file = header(1, 768, 4, 4 * chip as u64, chip as u64, "R64", depth);
        file.extend(raw::encode::quad(depth, chip, &image));
        let path = write_file(dir.path(), &format!("quad{depth}.mib"), &file);
        let ds = open(&path, &[]).unwrap().remove(0);
        assert_eq!(ds.shape(), [2 * chip as u64, 2 * chip as u64]);
        assert_eq!(
            read_u32(&ds),
            flip_rows(&image, 2 * chip, 2 * chip),
            "depth {depth}"
        );
    }
}

#[test]
fn quad_gap_inserts_zero_rows_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (8u64, 8u64);
    let image: Vec<u8> = (1..=64).collect();
    let mut file = header(1, 768, 4, cols, rows, "U08", 6);
    file.extend(&image);
    let path = write_file(dir.path(), "q.mib", &file);
    let plain = open(&path, &[]).unwrap().remove(0);
    let gapped = open(&path, &[("quad_gap", "3")]).unwrap().remove(0);
    assert_eq!(gapped.shape(), [11, 11]);
    let a = read_u32(&plain);
    let b = read_u32(&gapped);
    for r in 0..11usize {
        for c in 0..11usize {
            let in_gap = (4..7).contains(&r) || (4..7).contains(&c);
            let v = b[r * 11 + c];
            if in_gap {
                assert_eq!(v, 0);
            } else {
                let (sr, sc) = (
                    if r >= 7 { r - 3 } else { r },
                    if c >= 7 { c - 3 } else { c },
                );
                assert_eq!(v, a[sr * 8 + sc]);
            }
        }
    }
}

#[test]
fn fly_back_timestamps_give_the_scan_shape() {
    let dir = tempfile::tempdir().unwrap();
    let ds = Dataset::from_bytes(
        (0..3 * 5 * 4 * 6).map(|v| v as u8).collect(),
        DType::U8,
        vec![3, 5, 4, 6],
    )
    .unwrap();
    let path = dir.path().join("scan.mib");
    Mib.write(&WriteRequest::new(&ds, &path, &Options::new()))
        .unwrap();
    let back = open(&path, &[]).unwrap().remove(0);
    assert_eq!(back.shape(), [3, 5, 4, 6]);
    assert_eq!(
        back.read_region_bytes(&[0, 0, 0, 0], &[3, 5, 4, 6])
            .unwrap(),
        ds.read_region_bytes(&[0, 0, 0, 0], &[3, 5, 4, 6]).unwrap()
    );
    // With a .hdr companion, its frames-per-trigger wins.
    std::fs::write(
        dir.path().join("scan.hdr"),
        "HDR,\t\nFrames in Acquisition (Number):\t15\nFrames per Trigger (Number):\t3\nEnd\t",
    )
    .unwrap();
    assert_eq!(open(&path, &[]).unwrap()[0].shape(), [5, 3, 4, 6]);
    // A .hdr beyond MAX_HDR_BYTES (a binary file named .hdr) is refused unread.
    let mut big = b"HDR,\t\nFrames per Trigger (Number):\t3\n".to_vec();
    big.resize(crate::MAX_HDR_BYTES as usize + 1, 0xAB);
    std::fs::write(dir.path().join("scan.hdr"), big).unwrap();
    let err = open(&path, &[]).unwrap_err().to_string();
    assert!(
        err.contains("a .hdr companion of at most 65536 bytes"),
        "{err}"
    );
}

#[test]
fn writer_refuses_what_mib_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mib");
    let f32s = Dataset::from_bytes(vec![0; 16], DType::F32, vec![2, 2]).unwrap();
    let e = Mib
        .write(&WriteRequest::new(&f32s, &path, &Options::new()))
        .unwrap_err();
    assert!(e.to_string().contains("u8, u16 or u32"), "{e}");
    let five = Dataset::from_bytes(vec![0; 32], DType::U8, vec![2, 2, 2, 2, 2]).unwrap();
    assert!(Mib
        .write(&WriteRequest::new(&five, &path, &Options::new()))
        .is_err());
    let line = Dataset::from_bytes(vec![0; 4], DType::U8, vec![4]).unwrap();
    assert!(Mib
        .write(&WriteRequest::new(&line, &path, &Options::new()))
        .is_err());
}

fn dtype_strategy() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::U8), Just(DType::U16), Just(DType::U32)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn writer_round_trips(
        dtype in dtype_strategy(),
        nav in prop::collection::vec(2u64..5, 0..3),
        rows in 1u64..7,
        cols in 1u64..9,
        seed in any::<u64>(),
        region_seed in any::<u64>(),
    ) {
        let mut shape = nav.clone();
        shape.extend([rows, cols]);
        let n: u64 = shape.iter().product();
        let bytes: Vec<u8> = (0..n * dtype.size() as u64)
            .map(|i| (i.wrapping_mul(seed | 1) >> 7) as u8)
            .collect();
        let ds = Dataset::from_bytes(bytes.clone(), dtype, shape.clone()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.mib");
        Mib.write(&WriteRequest::new(&ds, &path, &Options::new())).unwrap();
        let back = open(&path, &[]).unwrap().remove(0);
        prop_assert_eq!(back.shape(), &shape[..]);
        prop_assert_eq!(back.dtype(), dtype);
        let full = back.read_region_bytes(&vec![0; shape.len()], &shape).unwrap();
        prop_assert_eq!(&full, &bytes);
        // A region read equals the same slice of the full read.
        let start: Vec<u64> = shape.iter().enumerate().map(|(i, &s)| (region_seed >> (8 * i)) % s).collect();
        let extent: Vec<u64> = shape.iter().zip(&start).enumerate().map(|(i, (&s, &a))| 1 + (region_seed >> (8 * i + 4)) % (s - a)).collect();
        let part = back.read_region_bytes(&start, &extent).unwrap();
        let es = dtype.size() as u64;
        let mut expected = Vec::new();
        let strides: Vec<u64> = (0..shape.len()).map(|d| shape[d + 1..].iter().product::<u64>()).collect();
        let count: u64 = extent.iter().product();
        for k in 0..count {
            let mut rem = k;
            let mut flat = 0;
            for d in (0..shape.len()).rev() {
                flat += (start[d] + rem % extent[d]) * strides[d];
                rem /= extent[d];
            }
            expected.extend_from_slice(&bytes[(flat * es) as usize..((flat + 1) * es) as usize]);
        }
        prop_assert_eq!(part, expected);
    }
}

#[test]
fn corrupt_corpus_files_never_panic() {
    let dir = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mib"))
        .collect();
    names.sort();
    for path in names {
        let bytes = std::fs::read(&path).unwrap();
        let target = tmp.path().join("c.mib");
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for cut in [
            0,
            1,
            3,
            10,
            100,
            383,
            384,
            385,
            767,
            800,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            variants.push(bytes[..cut.min(bytes.len())].to_vec());
        }
        for at in (0..bytes.len().min(800)).step_by(13) {
            let mut b = bytes.clone();
            b[at] ^= 0x5a;
            variants.push(b);
        }
        for b in variants {
            std::fs::write(&target, &b).unwrap();
            if let Ok(datasets) = open(&target, &[]) {
                for d in datasets {
                    bounded_read(&d);
                }
            }
        }
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
