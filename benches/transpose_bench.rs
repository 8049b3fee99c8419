//! Transpose micro-benchmark (issue 21; not a test: it times, the tests never do).
//!
//! Prints the rate of emio's tiled transposes (`emio_core::transpose::transpose_2d`) for
//! 2-, 4- and 8-byte elements with every kernel this processor runs (scalar, SSE2, AVX2,
//! AVX-512), next to two copies of the same bytes between the same buffers, `memcpy` and
//! emio's copy past the cache (`emio_core::stream_copy`), on one thread unless
//! `--threads` says more: one large plane (rows and columns alike, about `--mib` MiB) and
//! a stack of 256 × 256 frames each transposed on its own (NCEM EMD's frames, stored
//! transposed), and one such frame transposed as often, its bytes in cache (the kernels'
//! own speed). Last, one 15 × 15 plane transposed as often (the planes of h5py's chunks
//! of a transposed 4D-STEM dataset, narrower than the wide kernels' blocks): what a call
//! costs on planes this small, against copies of 450 bytes in L1. Rates are bytes moved
//! per second (each byte read once and written once); the ratio is to the faster of the
//! two copies measured in the same run. One untimed warm-up (which also faults the output
//! in), then the median of `--runs` runs.
//!
//! With `--threads N`, each case's work is shared by `N` threads, as emio's reads share a
//! transpose between cores (the plane by bands of its rows, the frames by frames, each
//! thread its own cached frame), and the copies of the same bytes are shared the same
//! way: a copy on one core is bounded by the line requests that core keeps in flight, not
//! by the memory.
//!
//! Then the byte unshuffle of HDF5's shuffle filter (`emio_core::bitplanes::unshuffle_bytes`,
//! a transpose of `E` byte planes) over the same bytes in 1 MiB pieces (a chunk of h5py's
//! sizes), against `memcpy` of the same pieces.
//!
//! With `--huge-output`, the destination is backed by transparent huge pages, as the
//! arrays of emio's full reads are (`emio_core::advise_huge_pages`; the source stays in
//! 4 KiB pages, as the page cache behind a memory-mapped file is): one TLB entry covers
//! 2 MiB of the destination's scattered rows instead of 4 KiB.
//!
//! ```text
//! cargo bench --profile profiling --bench transpose_bench -- [--mib 256] [--runs 5] [--threads N] [--es E] [--kernel K] [--huge-output]
//! ```
//!
//! `--es` keeps one element size, `--kernel` one kernel (`Scalar`, `Sse2`, `Avx2`,
//! `Avx512`): for profiling one case at a time.

use std::time::{Duration, Instant};

use emio_core::transpose::{transpose_2d, Kernel};

/// One shape to transpose: `planes` planes of `rows` × `cols` elements, back to back
/// (`cached`: the same plane, held in cache, every time).
struct Case {
    name: &'static str,
    planes: usize,
    rows: usize,
    cols: usize,
    cached: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<usize>()
                    .unwrap_or_else(|_| panic!("{flag} takes a number"))
            })
    };
    let mib = value("--mib").unwrap_or(256);
    let runs = value("--runs").unwrap_or(5).max(1);
    let threads = value("--threads").unwrap_or(1).max(1);
    let bytes = mib << 20;
    let text = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let kernels: Vec<Kernel> = Kernel::available()
        .into_iter()
        .filter(|k| text("--kernel").is_none_or(|name| format!("{k:?}") == *name))
        .collect();
    let sizes: Vec<usize> = [2usize, 4, 8]
        .into_iter()
        .filter(|&es| value("--es").is_none_or(|only| only == es))
        .collect();
    let huge_output = args.iter().any(|a| a == "--huge-output");
    let pages = if huge_output {
        "destination in huge pages"
    } else {
        "4 KiB pages"
    };
    println!(
        "transpose benchmark: {mib} MiB per case, {threads} thread(s), median of {runs}; kernels {kernels:?}; {pages}"
    );
    println!();
    print!(
        "{:<3} {:<26} {:>11} {:>13}",
        "E", "shape", "memcpy GB/s", "streamed GB/s"
    );
    for k in &kernels {
        print!(" | {:>8} GB/s (x copy)", format!("{k:?}"));
    }
    println!();
    let mut src = vec![0u8; bytes];
    for (i, b) in src.iter_mut().enumerate() {
        *b = (i * 131 + i / 251) as u8;
    }
    // Destination lines start on cache lines (as a page-aligned buffer's would).
    let mut dst_buffer = vec![0u8; bytes + 64];
    if huge_output {
        // Before the first touch: the pages are faulted in huge.
        emio_core::advise_huge_pages(&mut dst_buffer);
    }
    dst_buffer.fill(1);
    let skip = dst_buffer.as_ptr().align_offset(64);
    let dst = &mut dst_buffer[skip..skip + bytes];
    for &es in &sizes {
        // Rows a whole number of cache lines long, as detector frames' are (rows of other
        // lengths cannot start every block on a line, so they are not streamed).
        let side = ((bytes / es) as f64).sqrt() as usize / (64 / es) * (64 / es);
        let frames = bytes / (256 * 256 * es);
        for case in [
            Case {
                name: "plane",
                planes: 1,
                rows: side,
                cols: side,
                cached: false,
            },
            Case {
                name: "256x256 frames",
                planes: frames,
                rows: 256,
                cols: 256,
                cached: false,
            },
            Case {
                name: "cached frame",
                planes: frames,
                rows: 256,
                cols: 256,
                cached: true,
            },
            // The planes of h5py's chunks of a transposed 4D-STEM dataset (15 x 15 pixels of
            // every scan position): narrower than the wide kernels' blocks.
            Case {
                name: "cached 15x15 plane",
                planes: bytes / (15 * 15 * es),
                rows: 15,
                cols: 15,
                cached: true,
            },
        ] {
            let plane = case.rows * case.cols * es;
            let n = plane * case.planes;
            // The cached frame: one per thread, each transposed as often.
            let stored = if case.cached { plane * threads } else { n };
            if stored > src.len() {
                println!("{es:<3} {:<26} (more threads than frames fit)", case.name);
                continue;
            }
            let (src, dst) = (&src[..stored], &mut dst[..stored]);
            let repeats = n / stored;
            // The copies of the same bytes on the same threads: `memcpy`, and emio's copy
            // past the cache (on this kind of host one thread's `memcpy` is the faster,
            // two threads' streamed copy); the ratios are to the faster of the two.
            let mut copy = |streamed: bool| {
                median(runs, || {
                    let piece = stored.div_ceil(threads);
                    let pieces = src.chunks(piece).zip(dst.chunks_mut(piece)).collect();
                    on_threads(pieces, |(s, d)| {
                        for _ in 0..repeats {
                            if streamed {
                                emio_core::stream_copy::copy(d, s);
                                emio_core::stream_copy::fence();
                            } else {
                                d.copy_from_slice(s);
                            }
                        }
                    })
                })
            };
            let (memcpy, streamed) = (copy(false), copy(true));
            let fastest = memcpy.min(streamed);
            let rate = |d: Duration| n as f64 / d.as_secs_f64() / 1e9;
            print!(
                "{es:<3} {:<26} {:>11.2} {:>13.2}",
                format!("{} {}x{}x{}", case.name, case.planes, case.cols, case.rows),
                rate(memcpy),
                rate(streamed)
            );
            let (s_col, d_row) = (case.rows * es, case.cols * es);
            // Streaming past the cache, as emio's copies do into large destinations; not
            // for the frame held in cache.
            let stream = !case.cached;
            for &kernel in &kernels {
                let t = median(runs, || {
                    let bands = bands(src, dst, plane, case.rows, d_row, es, threads);
                    on_threads(bands, |mut share| {
                        for _ in 0..repeats {
                            for (s, d, rows) in share.iter_mut() {
                                let (cols, rows) = (case.cols, *rows);
                                let done = transpose_2d(
                                    kernel, s, s_col, d, d_row, rows, cols, es, stream,
                                );
                                assert!(done, "the plane fits its buffers");
                            }
                        }
                    })
                });
                print!(
                    " | {:>13.2} ({:>5.2}x)",
                    rate(t),
                    fastest.as_secs_f64() / t.as_secs_f64()
                );
            }
            println!();
        }
    }
    println!();
    println!("byte unshuffle, 1 MiB pieces: E | memcpy GB/s | unshuffle GB/s (x memcpy)");
    const PIECE: usize = 1 << 20;
    for &es in &sizes {
        let mut each = |f: &dyn Fn(&[u8], &mut [u8])| {
            median(runs, || {
                for (s, d) in src.chunks_exact(PIECE).zip(dst.chunks_exact_mut(PIECE)) {
                    f(s, d);
                }
            })
        };
        let memcpy = each(&|s, d| d.copy_from_slice(s));
        let t = each(&|s, d| emio_core::bitplanes::unshuffle_bytes(s, d, es));
        let rate = |d: Duration| (bytes / PIECE * PIECE) as f64 / d.as_secs_f64() / 1e9;
        println!(
            "{es:<3} {:>11.2} | {:>8.2} ({:.2}x)",
            rate(memcpy),
            rate(t),
            memcpy.as_secs_f64() / t.as_secs_f64()
        );
    }
}

/// One thread's share of a transpose: pieces of planes, each its source (from its first
/// row), its destination rows and how many rows it has.
type Share<'a> = Vec<(&'a [u8], &'a mut [u8], usize)>;

/// The planes of `plane` bytes (`rows` rows of `d_row` destination bytes) that `src` and
/// `dst` hold, shared by `threads` threads: whole planes when there are enough, else each
/// plane cut into bands of rows (multiples of a cache line of elements, so that streamed
/// destination rows still start on lines).
fn bands<'a>(
    src: &'a [u8],
    dst: &'a mut [u8],
    plane: usize,
    rows: usize,
    d_row: usize,
    es: usize,
    threads: usize,
) -> Vec<Share<'a>> {
    let planes = src.len() / plane;
    let mut shares: Vec<Share<'a>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, (s, d)) in src
        .chunks_exact(plane)
        .zip(dst.chunks_exact_mut(plane))
        .enumerate()
    {
        if planes >= threads {
            shares[i * threads / planes].push((s, d, rows));
            continue;
        }
        let line = 64 / es;
        let mut rest = d;
        let mut first = 0;
        for (t, share) in shares.iter_mut().enumerate() {
            let end = ((t + 1) * rows / threads).div_ceil(line) * line;
            let end = end.min(rows).max(first);
            let (band, after) = std::mem::take(&mut rest).split_at_mut((end - first) * d_row);
            share.push((&s[first * es..], band, end - first));
            (rest, first) = (after, end);
        }
    }
    shares
}

/// Run `work` on each of `shares` on a thread of its own; returns when all are done.
fn on_threads<T: Send>(shares: Vec<T>, work: impl Fn(T) + Sync) {
    std::thread::scope(|scope| {
        for share in shares {
            let work = &work;
            scope.spawn(move || work(share));
        }
    });
}

/// Median time of `runs` runs of `f`, after one untimed run.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}
