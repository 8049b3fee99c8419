//! Deflate decoding micro-benchmark (issue 21; not a test: it times, the tests never do).
//!
//! Prints the rate at which emio's own inflater (`emio_core::inflate`) decodes zlib
//! streams of known size, one thread, next to libdeflate decoding the same streams in the
//! same run: what TIFF strips and HDF5 chunks cost to decode. The inputs are generated:
//! 16-bit images with shot noise (a smooth background of ~500 counts: TIFF's benchmark
//! data), 16-bit counting frames of 2 and of 0.3 counts per pixel (detector data, highly
//! compressible) and random `f32` (nearly incompressible), `--mib` MiB each, cut into
//! 256 KiB pieces (TIFF strips, HDF5 chunks) and compressed by libdeflate at `--level`.
//! Columns: libdeflate, emio's decoder on every stream (`zlib_decompress_by_emio`) and
//! what the readers call (`zlib_decompress`: libdeflate for streams compressed
//! `LONG_MATCH_RATIO` times or more), in MB/s of output, and each over libdeflate. One
//! untimed warm-up, then the median of `--runs` runs.
//!
//! ```text
//! cargo bench --profile profiling --bench inflate_bench -- [--mib 64] [--level 6] [--runs 5]
//! ```

use std::time::Instant;

use emio_core::inflate::{zlib_decompress, zlib_decompress_by_emio, LONG_MATCH_RATIO};

/// Bytes of output per stream.
const PIECE: usize = 256 << 10;

#[path = "data/random.rs"]
mod random;

/// `bytes` of 1024-wide 16-bit frames of Poisson counts around `mean` (a gentle slope
/// across each frame), from `seed`.
fn counts(bytes: usize, mean: f64, seed: u64) -> Vec<u8> {
    (0..bytes / 2)
        .flat_map(|i| {
            let (x, y) = (
                (i % 1024) as f64 / 1024.0,
                (i / 1024 % 1024) as f64 / 1024.0,
            );
            let count =
                random::Poisson::new(mean * (0.5 + x * y)).sample(random::hash(seed, i as u64));
            (count as u16).to_le_bytes()
        })
        .collect()
}

fn compress(data: &[u8], level: i32) -> Vec<(Vec<u8>, usize)> {
    let lvl = libdeflater::CompressionLvl::new(level).expect("a level libdeflate knows");
    let mut c = libdeflater::Compressor::new(lvl);
    data.chunks(PIECE)
        .map(|piece| {
            let mut out = vec![0; c.zlib_compress_bound(piece.len())];
            let n = c
                .zlib_compress(piece, &mut out)
                .expect("room for the bound");
            out.truncate(n);
            (out, piece.len())
        })
        .collect()
}

/// Median seconds of `runs` runs of `decode` over every stream, after a warm-up.
fn time(
    streams: &[(Vec<u8>, usize)],
    runs: usize,
    mut decode: impl FnMut(&[u8], &mut [u8]),
) -> f64 {
    let mut out = vec![0u8; PIECE];
    let mut pass = || {
        let start = Instant::now();
        for (stream, len) in streams {
            decode(stream, &mut out[..*len]);
        }
        start.elapsed().as_secs_f64()
    };
    pass();
    let mut times: Vec<f64> = (0..runs).map(|_| pass()).collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut mib, mut level, mut runs) = (64usize, 6i32, 5usize);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .and_then(|v| v.parse().ok())
                .expect("a number after the option")
        };
        match arg.as_str() {
            "--mib" => mib = value(),
            "--level" => level = value() as i32,
            "--runs" => runs = value().max(1),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    let bytes = mib << 20;
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        (
            "images with shot noise (~500 counts)",
            counts(bytes, 500.0, 1),
        ),
        ("counting frames, 2 per pixel", counts(bytes, 2.0, 2)),
        ("counting frames, 0.3 per pixel", counts(bytes, 0.3, 3)),
        (
            "random f32",
            (0..bytes as u64 / 4)
                .flat_map(|i| {
                    ((random::hash(4, i) >> 40) as f32 / (1u32 << 24) as f32).to_le_bytes()
                })
                .collect(),
        ),
    ];
    println!(
        "one thread, {mib} MiB each in 256 KiB streams, libdeflate level {level}; MB/s of output, median of {runs}"
    );
    println!(
        "{:38} {:>6} {:>11} {:>11} {:>7} {:>11} {:>7}",
        "input", "ratio", "libdeflate", "emio own", "/libd", "readers'", "/libd"
    );
    for (name, data) in inputs {
        let streams = compress(&data, level);
        let stored: usize = streams.iter().map(|s| s.0.len()).sum();
        let mut check = vec![0u8; PIECE];
        for ((stream, len), piece) in streams.iter().zip(data.chunks(PIECE)) {
            let n = zlib_decompress_by_emio(stream, &mut check[..*len]).expect("a valid stream");
            assert!(
                n == piece.len() && check[..n] == *piece,
                "{name}: emio decodes other bytes"
            );
        }
        let mut d = libdeflater::Decompressor::new();
        let libdeflate = time(&streams, runs, |s, out| {
            d.zlib_decompress(s, out).expect("a valid stream");
        });
        let own = time(&streams, runs, |s, out| {
            zlib_decompress_by_emio(s, out).expect("a valid stream");
        });
        let readers = time(&streams, runs, |s, out| {
            zlib_decompress(s, out).expect("a valid stream");
        });
        let rate = |t: f64| data.len() as f64 / t / 1e6;
        println!(
            "{:38} {:>6.2} {:>11.0} {:>11.0} {:>6.2}x {:>11.0} {:>6.2}x",
            name,
            data.len() as f64 / stored as f64,
            rate(libdeflate),
            rate(own),
            libdeflate / own,
            rate(readers),
            libdeflate / readers,
        );
    }
    println!(
        "(the readers hand streams compressed {LONG_MATCH_RATIO} times or more to libdeflate)"
    );
}
