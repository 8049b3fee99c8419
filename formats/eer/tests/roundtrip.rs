//! EER writer -> reader round trips through files: every encoding and upsampling, frame
//! grouping, frame ranges, and corrupt strips.

use std::sync::Arc;

use emio_core::{DType, Dataset, Format, Options, StridedSource, WriteRequest};
use emio_eer::Eer;
use proptest::prelude::*;

/// A sparse event movie at super-resolution `up` (at most one event per sensor pixel).
fn movie(frames: u64, h: u64, w: u64, up: u32, seed: u64) -> Vec<u8> {
    let side = 1u64 << up;
    let (ih, iw) = (h * side, w * side);
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut out = vec![0u8; (frames * ih * iw) as usize];
    for f in 0..frames {
        for y in 0..h {
            for x in 0..w {
                if next() % 5 == 0 {
                    let (v, hh) = (next() % side, next() % side);
                    out[(f * ih * iw + (y * side + v) * iw + x * side + hh) as usize] = 1;
                }
            }
        }
    }
    out
}

fn dataset(bytes: Vec<u8>, shape: Vec<u64>) -> Dataset {
    let src = StridedSource::from_bytes(bytes, DType::U8, shape).unwrap();
    let axes = (0..3)
        .map(|i| emio_core::Axis::default_for(i == 0))
        .collect();
    Dataset::new(Arc::new(src), axes, Default::default(), Default::default()).unwrap()
}

fn write(ds: &Dataset, path: &std::path::Path, opts: &[(&str, &str)]) {
    let o = Options::parse(Eer.write_options(), opts).unwrap();
    Eer.write(&WriteRequest::new(ds, path, &o)).unwrap();
}

fn read(path: &std::path::Path, opts: &[(&str, &str)]) -> Dataset {
    let o = Options::parse(Eer.read_options(), opts).unwrap();
    Eer.open(path, &o).unwrap().remove(0)
}

/// Every value of `ds` as a u16 count, in C order.
fn counts(ds: &Dataset) -> Vec<u16> {
    ds.read()
        .unwrap()
        .to_f64()
        .unwrap()
        .iter()
        .map(|&v| v as u16)
        .collect()
}

/// Sum `group` frames of `data` (frames, ih, iw) u8 binned by `bin` per axis into u16.
fn render(
    data: &[u8],
    (frames, ih, iw): (u64, u64, u64),
    bin: u64,
    group: u64,
    first: u64,
    n: u64,
) -> Vec<u16> {
    let (oh, ow) = (ih / bin, iw / bin);
    let mut out = vec![0u16; (n * oh * ow) as usize];
    for g in 0..n {
        for f in first + g * group..(first + (g + 1) * group).min(frames) {
            for y in 0..ih {
                for x in 0..iw {
                    let v = data[(f * ih * iw + y * iw + x) as usize];
                    out[(g * oh * ow + y / bin * ow + x / bin) as usize] += u16::from(v);
                }
            }
        }
    }
    out
}

#[test]
fn every_encoding_and_upsampling_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for (compression, up) in [("65000", 0u32), ("65001", 1), ("65002", 2)] {
        let (frames, h, w) = (5u64, 12u64, 20u64);
        let side = 1u64 << up;
        let data = movie(frames, h, w, up, 7 + u64::from(up));
        let ds = dataset(data.clone(), vec![frames, h * side, w * side]);
        let path = dir.path().join(format!("m{compression}.eer"));
        let upsampling = (1u32 << up).to_string();
        write(
            &ds,
            &path,
            &[("compression", compression), ("upsampling", &upsampling)],
        );
        for read_up in 0..=up {
            let r = read(&path, &[("upsampling", &(1u32 << read_up).to_string())]);
            let bin = 1u64 << (up - read_up);
            assert_eq!(r.shape(), [frames, h << read_up, w << read_up]);
            let got = counts(&r);
            assert_eq!(
                got,
                render(&data, (frames, h * side, w * side), bin, 1, 0, frames)
            );
        }
        // Grouping 2 raw frames, keeping or dropping the partial last group, and a range.
        let g = read(&path, &[("group", "2")]);
        assert_eq!((g.shape()[0], g.dtype()), (2, DType::U16));
        let g = read(
            &path,
            &[
                ("group", "2"),
                ("keep_partial_group", "true"),
                ("frame_range", "0,5"),
            ],
        );
        assert_eq!(g.shape()[0], 3);
        let bin = side;
        let got = counts(&g);
        assert_eq!(
            got,
            render(&data, (frames, h * side, w * side), bin, 2, 0, 3)
        );
        let g = read(&path, &[("group", "2"), ("frame_range", "1,5")]);
        let got = counts(&g);
        assert_eq!(
            got,
            render(&data, (frames, h * side, w * side), bin, 2, 1, 2)
        );
    }
}

#[test]
fn too_many_events_per_pixel_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(vec![2u8; 16], vec![1, 4, 4]);
    let o = Options::parse(Eer.write_options(), &[] as &[(&str, &str)]).unwrap();
    let err = Eer
        .write(&WriteRequest::new(&ds, &dir.path().join("x.eer"), &o))
        .unwrap_err();
    assert!(err.to_string().contains("frame 0"), "{err}");
}

#[test]
fn a_corrupt_strip_names_frame_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let data = movie(3, 16, 16, 0, 3);
    let path = dir.path().join("c.eer");
    write(&dataset(data, vec![3, 16, 16]), &path, &[]);
    let r = read(&path, &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    // The last frame's strip ends the file: make its runs overshoot the frame.
    let n = bytes.len();
    for b in &mut bytes[n - 12..n] {
        *b = 0x7e;
    }
    std::fs::write(&path, &bytes).unwrap();
    let r2 = read(&path, &[]);
    assert!(r.read_region_bytes(&[0, 0, 0], &[1, 16, 16]).is_ok());
    let err = r2
        .read_region_bytes(&[2, 0, 0], &[1, 16, 16])
        .unwrap_err()
        .to_string();
    assert!(err.contains("raw frame 2") && err.contains("byte"), "{err}");
}

#[test]
fn a_frame_larger_than_its_strips_can_code_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.eer");
    write(
        &dataset(movie(2, 16, 16, 0, 5), vec![2, 16, 16]),
        &path,
        &[],
    );
    let mut bytes = std::fs::read(&path).unwrap();
    // Every ImageWidth entry (BigTIFF: tag 256, SHORT or LONG, count 1, value 16) now
    // declares a frame 65535 pixels wide: 1M pixels, far more than a strip of a few bytes
    // can code.
    let mut patched = 0;
    for ty in [3u8, 4] {
        let entry = [0u8, 1, ty, 0, 1, 0, 0, 0, 0, 0, 0, 0, 16, 0];
        let mut at = 0;
        while let Some(i) = bytes[at..].windows(entry.len()).position(|w| w == entry) {
            let value = at + i + 12;
            bytes[value..value + 2].copy_from_slice(&[0xff, 0xff]);
            at = value;
            patched += 1;
        }
    }
    assert!(patched >= 2, "the width entries were not found");
    std::fs::write(&path, &bytes).unwrap();
    let o = Options::parse(Eer.read_options(), &[] as &[(&str, &str)]).unwrap();
    let err = Eer.open(&path, &o).unwrap_err().to_string();
    assert!(
        err.contains("65535 pixels coded in at least") && err.contains("bytes"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_movies_round_trip(frames in 1u64..4, h in 1u64..10, w in 1u64..10, up in 0u32..3, seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let side = 1u64 << up;
        let data = movie(frames, h, w, up, seed);
        let ds = dataset(data.clone(), vec![frames, h * side, w * side]);
        let path = dir.path().join("p.eer");
        let u = (1u32 << up).to_string();
        write(&ds, &path, &[("upsampling", &u), ("compression", "65002"), ("rle_bits", "6"), ("subpixel_bits", "3")]);
        let r = read(&path, &[("upsampling", &u)]);
        prop_assert_eq!(r.read().unwrap().to_f64().unwrap().iter().map(|&v| v as u8).collect::<Vec<_>>(), data);
    }
}
