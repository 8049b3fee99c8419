//! emio's performance benchmark (not a test: it times, the tests never do).
//!
//! Generates, once, one file per implemented format at realistic size with emio's own
//! writers, then prints one table: open (lazy), full read into memory, sum over all data
//! through the chunk API, convert to `.zarr` (zstd) and to `.npy` — each throughput also as
//! a ratio to `cat FILE > /dev/null` timed in the same run — plus the peak anonymous RSS
//! of each step (heap memory; the page cache behind memory-mapped inputs is not counted);
//! then a second table for the verbs: `emconvert stats` (default 16-bin histogram, × cat)
//! and the cost of one file's `emconvert ls` row (probe, open, summary; mean of 20).
//!
//! ```text
//! cargo bench --profile profiling --bench emio_bench -- [--scale 0.1] [--dir /tmp/emio-bench] [--only mib,mrc] [--python PY]
//! ```
//!
//! Defaults (scale 1): 2 GiB 12-bit MIB 128×128×256×256, 2 GiB DM4 EELS SI float32,
//! 1 GiB DM3 uint16 stack, 2 GiB MRC float32, 1 GiB BLO, 1 GiB EMD, 1 GiB 512-page TIFF
//! stack, 1 GiB NPY, 1 GiB EMPAD 128×128×128×128 float32, 1 GiB Ripple u16 spectrum image,
//! 1 GiB TVIPS u16 64×64 scan of 512×256 frames, 1 GiB TIA series of 512 uint16 1024×1024
//! images (generated in TIA's layout: emio reads TIA but does not write it); and, as
//! HyperSpy/rsciio (h5py) write them (issue 17), 512 MiB 4D-STEM u16 in rsciio's chunks,
//! which do not follow the frames: NCEM EMD stored transposed (256, 256, 64, 64) in
//! chunks of (11, 11, 64, 64) and `.hspy` (256, 256, 64, 64) in (11, 11, 64, 64), each
//! uncompressed and gzip (rows `emd-h5py`, `emd-h5py-gzip`, `hspy`, `hspy-gzip`). With
//! `--python PY` (a Python with HyperSpy and h5py), the rows `rsciio-emd`,
//! `rsciio-emd-gzip`, `rsciio-hspy`, `rsciio-hspy-gzip` hold the same values written by
//! HyperSpy itself (`benches/rsciio_h5.py`, rsciio's own chunks), and h5py's full read of
//! them is timed in the same run. A third table gives, for data stored in another axis
//! order (and the rsciio rows), the read in the logical C order next to the full read
//! (which copies in the stored order) and h5py's read.
//!
//! `cat`, full read, sum and the conversions are each run once untimed (warm page cache),
//! then timed three times (each emio step on a freshly opened file, so the memory map's
//! page tables are built again, as a user's first read has to); the median is printed with
//! the spread (min-max) on the line below. `cat` is started directly (no shell). Every sum is checked against the generator's own sum of the values it
//! produced (computed without any file or reader). `--scale` shrinks
//! the navigation (frame) count. Formats whose writer is missing or declines the dataset
//! are skipped with a note. Files are kept in `--dir` and reused by later runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
mod generate;

use emio::{
    ArraySource, Axis, DType, Dataset, NoProgress, Progress, Registry, Result, Threads, Tree,
};
use emio_core::engine::Engine;
use rayon::prelude::*;

/// One generated input.
struct Spec {
    /// The row's name (`--only` takes it); the extension for a format's main row.
    name: &'static str,
    format: &'static str,
    extension: &'static str,
    what: &'static str,
    dtype: DType,
    /// Shape at scale 1; the first dimension is scaled.
    shape: [u64; 4],
    /// Leading navigation dimensions.
    nav: usize,
    /// Rank actually used (trailing dims of `shape`).
    rank: usize,
    /// Writer options (`compression`, ...).
    options: &'static [(&'static str, &'static str)],
    /// The `chunks` writer option for the (scaled) shape, navigation rank and element
    /// size, when the writer's default is not wanted.
    chunks: Option<ChunksFor>,
    /// Written by HyperSpy itself (rsciio over h5py, `benches/rsciio_h5.py`: the kind,
    /// `emd` or `hspy`, and gzip or not) instead of emio's writer: needs `--python`.
    rsciio: Option<(&'static str, bool)>,
}

/// Chunk shape for a (scaled) shape, navigation rank and element size.
type ChunksFor = fn(&[u64], usize, u64) -> Vec<u64>;

const SPECS: &[Spec] = &[
    Spec {
        name: "mib",
        format: "mib",
        extension: "mib",
        what: "4D-STEM 12-bit",
        dtype: DType::U16,
        shape: [128, 128, 256, 256],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "dm4",
        format: "dm",
        extension: "dm4",
        what: "EELS SI f32",
        dtype: DType::F32,
        shape: [1, 256, 256, 8192],
        nav: 2,
        rank: 3,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "dm3",
        format: "dm",
        extension: "dm3",
        what: "stack u16",
        dtype: DType::U16,
        shape: [1, 512, 1024, 1024],
        nav: 1,
        rank: 3,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "mrc",
        format: "mrc",
        extension: "mrc",
        what: "stack f32",
        dtype: DType::F32,
        shape: [1, 512, 1024, 1024],
        nav: 1,
        rank: 3,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "blo",
        format: "blo",
        extension: "blo",
        what: "PED u8",
        dtype: DType::U8,
        shape: [128, 128, 256, 256],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "emd",
        format: "emd",
        extension: "emd",
        what: "stack u16",
        dtype: DType::U16,
        shape: [1, 512, 1024, 1024],
        nav: 1,
        rank: 3,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    // Files as HyperSpy/rsciio (h5py) write them, issue 17: chunks that do not follow the
    // frames. rsciio's NCEM writer stores the array transposed and picks the chunks on the
    // transposed shape: a 64×64 scan of 256×256 frames is stored (256, 256, 64, 64) in
    // chunks of (11, 11, 64, 64). Its `.hspy` writer chunks a 256×256 scan of 64×64 frames
    // (11, 11, 64, 64), gzip with shuffle by default.
    Spec {
        name: "emd-h5py",
        format: "emd",
        extension: "emd",
        what: "4D-STEM u16, rsciio's chunks",
        dtype: DType::U16,
        shape: [64, 64, 256, 256],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: Some(rsciio_ncem_chunks),
        rsciio: None,
    },
    Spec {
        name: "emd-h5py-gzip",
        format: "emd",
        extension: "emd",
        what: "4D-STEM u16, rsciio's chunks, gzip",
        dtype: DType::U16,
        shape: [64, 64, 256, 256],
        nav: 2,
        rank: 4,
        options: &[("compression", "gzip")],
        chunks: Some(rsciio_ncem_chunks),
        rsciio: None,
    },
    Spec {
        name: "hspy",
        format: "hspy",
        extension: "hspy",
        what: "4D-STEM u16, rsciio's chunks",
        dtype: DType::U16,
        shape: [256, 256, 64, 64],
        nav: 2,
        rank: 4,
        options: &[("compression", "none")],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "hspy-gzip",
        format: "hspy",
        extension: "hspy",
        what: "4D-STEM u16, rsciio's chunks, gzip+shuffle",
        dtype: DType::U16,
        shape: [256, 256, 64, 64],
        nav: 2,
        rank: 4,
        options: &[("compression", "gzip")],
        chunks: None,
        rsciio: None,
    },
    // The same data written by HyperSpy itself (rsciio, h5py, its default chunks; `.hspy`
    // shuffled as rsciio always does), with `--python`: h5py's read is timed too.
    Spec {
        name: "rsciio-emd",
        format: "emd",
        extension: "emd",
        what: "4D-STEM u16, written by rsciio",
        dtype: DType::U16,
        shape: [64, 64, 256, 256],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: None,
        rsciio: Some(("emd", false)),
    },
    Spec {
        name: "rsciio-emd-gzip",
        format: "emd",
        extension: "emd",
        what: "4D-STEM u16, written by rsciio, gzip",
        dtype: DType::U16,
        shape: [64, 64, 256, 256],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: None,
        rsciio: Some(("emd", true)),
    },
    Spec {
        name: "rsciio-hspy",
        format: "hspy",
        extension: "hspy",
        what: "4D-STEM u16, written by rsciio",
        dtype: DType::U16,
        shape: [256, 256, 64, 64],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: None,
        rsciio: Some(("hspy", false)),
    },
    Spec {
        name: "rsciio-hspy-gzip",
        format: "hspy",
        extension: "hspy",
        what: "4D-STEM u16, written by rsciio, gzip",
        dtype: DType::U16,
        shape: [256, 256, 64, 64],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: None,
        rsciio: Some(("hspy", true)),
    },
    Spec {
        name: "tif",
        format: "tiff",
        extension: "tif",
        what: "stack u16",
        dtype: DType::U16,
        shape: [1, 512, 1024, 1024],
        nav: 1,
        rank: 3,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "xml",
        format: "empad",
        extension: "xml",
        what: "4D-STEM f32",
        dtype: DType::F32,
        shape: [128, 128, 128, 128],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "rpl",
        format: "ripple",
        extension: "rpl",
        what: "EDS SI u16",
        dtype: DType::U16,
        shape: [1, 256, 512, 4096],
        nav: 2,
        rank: 3,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "tvips",
        format: "tvips",
        extension: "tvips",
        what: "4D-STEM u16",
        dtype: DType::U16,
        shape: [64, 64, 512, 256],
        nav: 2,
        rank: 4,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "ser",
        format: "tia",
        extension: "ser",
        what: "TIA image series u16",
        dtype: DType::U16,
        shape: [1, 512, 1024, 1024],
        nav: 1,
        rank: 3,
        options: &[],
        chunks: None,
        rsciio: None,
    },
    Spec {
        name: "npy",
        format: "npy",
        extension: "npy",
        what: "stack u16",
        dtype: DType::U16,
        shape: [1, 512, 1024, 1024],
        nav: 1,
        rank: 3,
        options: &[],
        chunks: None,
        rsciio: None,
    },
];

/// The chunks rsciio's NCEM writer gives a dataset of logical `shape` (navigation axes
/// first), in the logical order emio's writer takes: it transposes the array and then
/// applies HyperSpy's signal-axis positions to the transposed shape
/// (`get_signal_chunks(data.T.shape, dtype, signal_axes)`), so the chunks are whole along
/// the stored navigation axes and cut the frames into tiles.
fn rsciio_ncem_chunks(shape: &[u64], nav: usize, elem_size: u64) -> Vec<u64> {
    let stored: Vec<u64> = shape.iter().rev().copied().collect();
    let signal: Vec<bool> = (0..shape.len()).map(|k| k >= nav).collect();
    let chunks = emio::hspy::write::signal_chunks(&stored, &signal, elem_size, 1_000_000);
    chunks.into_iter().rev().collect()
}

/// Synthetic detector data generated on read: sparse low counts (like real low-dose
/// frames) with a bright disc, cheap to generate and compressible like real data.
struct Synthetic {
    dtype: DType,
    shape: Vec<u64>,
}

fn hash(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x
}

/// The count the generator stores at flat index `idx` (rows of `inner` values), clipped to
/// what `dtype` holds: sparse low counts with a bright disc.
fn synthetic_count(idx: u64, inner: u64, dtype: DType) -> u64 {
    let (row, col) = ((idx / inner) % inner.max(1), idx % inner);
    let (dr, dc) = (row as i64 - inner as i64 / 2, col as i64 - inner as i64 / 2);
    let disc = dr * dr + dc * dc < (inner as i64 / 8).pow(2);
    let h = hash(idx);
    let count = if disc {
        200 + (h & 0x3ff)
    } else {
        (h & 0x7).saturating_sub(5)
    };
    match dtype {
        DType::U8 => count.min(255),
        DType::U16 => count.min(4095),
        _ => count,
    }
}

/// The sum of every value the generator produces for `spec`, computed straight from
/// [`synthetic_count`] (no file, no reader): the independent check of the benchmark sums.
fn generator_sum(spec: &Spec, scale: f64) -> f64 {
    let ds = synthetic(spec, scale);
    let inner = *ds.shape().last().unwrap_or(&1);
    let n = ds.len();
    let per_value = if spec.dtype == DType::F32 { 0.5 } else { 1.0 };
    (0..n)
        .into_par_iter()
        .map(|idx| synthetic_count(idx, inner, spec.dtype) as f64 * per_value)
        .sum()
}

impl ArraySource for Synthetic {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn shape(&self) -> &[u64] {
        &self.shape
    }
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        _progress: &dyn Progress,
        _threads: Threads,
    ) -> Result<()> {
        // Any region (writers with their own chunks ask for blocks that cut the trailing
        // dimensions): one run of consecutive flat indices per row of the last dimension.
        let strides: Vec<u64> = (0..self.shape.len())
            .map(|d| self.shape[d + 1..].iter().product())
            .collect();
        let inner = *self.shape.last().unwrap_or(&1);
        let es = self.dtype.size();
        let row = shape.last().map_or(1, |&n| n as usize);
        let mut rows = out.chunks_exact_mut(row * es);
        let lead = &shape[..shape.len().saturating_sub(1)];
        emio_core::source::for_each_index(lead, |index| {
            let first: u64 = start
                .iter()
                .zip(index.iter().chain([&0]))
                .zip(&strides)
                .map(|((s, i), t)| (s + i) * t)
                .sum();
            let Some(cells) = rows.next() else { return };
            for (i, v) in cells.chunks_exact_mut(es).enumerate() {
                let count = synthetic_count(first + i as u64, inner, self.dtype);
                match self.dtype {
                    DType::U8 => v[0] = count as u8,
                    DType::U16 => v.copy_from_slice(&(count as u16).to_ne_bytes()),
                    DType::F32 => v.copy_from_slice(&(count as f32 * 0.5).to_ne_bytes()),
                    _ => v.fill(0),
                }
            }
        });
        Ok(())
    }
    fn chunk_shape(&self) -> Vec<u64> {
        let mut c = self.shape.clone();
        c[0] = 1;
        c
    }
}

fn synthetic(spec: &Spec, scale: f64) -> Dataset {
    let mut shape: Vec<u64> = spec.shape[4 - spec.rank..].to_vec();
    shape[0] = ((shape[0] as f64 * scale).round() as u64).max(1);
    let axes = (0..shape.len())
        .map(|d| {
            let nav = d < spec.nav;
            Axis::uniform(
                if nav { "scan" } else { "detector" },
                if nav { "nm" } else { "1/nm" },
                0.25,
                0.0,
                nav,
            )
        })
        .collect();
    let mut meta = Tree::new();
    emio::metadata::set_path(&mut meta, "General.title", spec.what);
    let source = Arc::new(Synthetic {
        dtype: spec.dtype,
        shape,
    });
    Dataset::new(source, axes, meta, Tree::new()).expect("valid synthetic dataset")
}

/// Anonymous resident memory of this process in bytes (Linux `RssAnon`): heap buffers,
/// not the page cache behind memory-mapped input files.
fn anon_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Run `f`, returning its duration and how far the anonymous RSS rose above its level at
/// the start (sampled every 2 ms on a helper thread): the memory the step needed.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, u64) {
    let done = std::sync::atomic::AtomicBool::new(false);
    let baseline = anon_rss();
    let peak = std::sync::atomic::AtomicU64::new(baseline);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(anon_rss(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let t = Instant::now();
        let out = f();
        let elapsed = t.elapsed();
        peak.fetch_max(anon_rss(), std::sync::atomic::Ordering::Relaxed);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        (out, elapsed, peak.saturating_sub(baseline))
    })
}

/// Run `step` on the first dataset of a fresh open, [`common::RUNS`] times after one
/// warm-up run (like the `cat` baseline): the timings, the largest RSS rise and the last
/// result.
fn median_of_fresh_opens<T>(
    open: &dyn Fn() -> Result<Vec<Dataset>>,
    step: impl Fn(&Dataset) -> T,
) -> (common::Timing, u64, T) {
    let mut rss = 0;
    let mut last = None;
    let mut run = || {
        let datasets = open().expect("open");
        let (out, t, r) = measure(|| step(&datasets[0]));
        rss = rss.max(r);
        last = Some(out);
        t
    };
    run();
    let timing = common::Timing::of(run);
    (timing, rss, last.expect("runs"))
}

/// Logical bytes of a spec's dataset.
fn logical_bytes(spec: &Spec, scale: f64) -> u64 {
    synthetic(spec, scale).nbytes()
}

/// Median time to allocate a buffer of `n` bytes the way a full read does and fill it on
/// all cores: the ceiling for any read into new memory (in a virtual machine, touching
/// memory the host has not backed yet can be slower than reading a cached file).
fn median_new_memory_fill(n: u64) -> Duration {
    let mut times: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let filled = emio::ArrayData::fill(DType::U8, &[n as usize], n as usize, |bytes| {
                bytes.par_chunks_mut(1 << 20).for_each(|c| c.fill(1));
                Ok(())
            });
            let elapsed = t.elapsed();
            drop(filled.expect("fill new memory"));
            elapsed
        })
        .collect();
    times.sort();
    times[1]
}

/// Bytes per region of the sum: regions follow the storage layout
/// ([`Dataset::read_chunk_shape`]) and are small enough to stay in the L2 cache between
/// being read and being summed.
const SUM_REGION_BYTES: u64 = 2 << 20;
/// Histogram bins of `emconvert stats` by default.
const STATS_BINS: usize = 16;

/// Sum of every value through the chunk API, on all cores, one typed loop per region,
/// walking the values in the order they are stored ([`Dataset::in_stored_order`]: a sum
/// does not depend on the order, so transposed storage is never transposed).
fn sum_all(ds: &Dataset) -> Result<f64> {
    let ds = &ds.in_stored_order();
    let chunk = ds.read_chunk_shape(SUM_REGION_BYTES);
    let total = std::sync::Mutex::new(0f64);
    let dtype = ds.dtype();
    Engine::default().for_each_region(ds, &chunk, &NoProgress, |_, bytes| {
        let s = sum_bytes(dtype, bytes);
        *total.lock().expect("sum lock") += s;
        Ok(())
    })?;
    Ok(total.into_inner().expect("sum lock"))
}

fn sum_bytes(dtype: DType, bytes: &[u8]) -> f64 {
    fn typed<T: Copy + bytemuck_free::Pod>(bytes: &[u8], f: impl Fn(T) -> f64) -> f64 {
        let n = std::mem::size_of::<T>();
        // Eight independent accumulators let the compiler vectorize.
        let mut acc = [0f64; 8];
        let chunks = bytes.chunks_exact(n * 8);
        let rest = chunks.remainder();
        for block in chunks {
            for (k, a) in acc.iter_mut().enumerate() {
                *a += f(T::read(&block[k * n..]));
            }
        }
        let mut s: f64 = acc.iter().sum();
        for v in rest.chunks_exact(n) {
            s += f(T::read(v));
        }
        s
    }
    match dtype {
        // Small integers add up in 32-bit lanes over blocks short enough not to overflow.
        DType::U8 => bytes
            .chunks(1 << 16)
            .map(|block| block.iter().map(|&b| u32::from(b)).sum::<u32>() as u64)
            .sum::<u64>() as f64,
        DType::U16 => bytes
            .chunks(1 << 16)
            .map(|block| {
                block
                    .chunks_exact(2)
                    .map(|b| u32::from(u16::from_ne_bytes([b[0], b[1]])))
                    .sum::<u32>() as u64
            })
            .sum::<u64>() as f64,
        DType::F32 => typed::<f32>(bytes, |v| v as f64),
        DType::F64 => typed::<f64>(bytes, |v| v),
        DType::I16 => typed::<i16>(bytes, |v| v as f64),
        DType::U32 => typed::<u32>(bytes, |v| v as f64),
        DType::I32 => typed::<i32>(bytes, |v| v as f64),
        _ => 0.0,
    }
}

/// Reading plain values out of native-endian bytes without `unsafe`.
mod bytemuck_free {
    /// A fixed-size number readable from native-endian bytes.
    pub trait Pod: Sized {
        fn read(b: &[u8]) -> Self;
    }
    macro_rules! pod {
        ($($t:ty),*) => {$(
            impl Pod for $t {
                fn read(b: &[u8]) -> Self {
                    <$t>::from_ne_bytes(b[..std::mem::size_of::<$t>()].try_into().expect("size"))
                }
            }
        )*};
    }
    pod!(f32, f64, i16, u32, i32);
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn mb(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1 << 20) as f64)
}

/// The file holding the pixels: `path` itself, or its largest companion (the `.raw` of
/// an EMPAD `.xml` or Ripple `.rpl`), which is what `cat` is timed on.
fn data_file(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&stem))
        .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
        .filter(|(_, p)| p.extension() != Some("zarr".as_ref()))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| path.to_path_buf())
}

/// The helper script that writes the `rsciio` rows with HyperSpy and times h5py.
const RSCIIO_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/rsciio_h5.py");

/// Write the dataset of `shape` (the benchmark's synthetic values) to `path` with HyperSpy
/// (`kind` `emd` or `hspy`, gzip or not), running `python`.
fn rsciio_write(
    python: &str,
    kind: &str,
    gzip: bool,
    shape: &[u64],
    path: &Path,
) -> std::result::Result<(), String> {
    let shape = shape
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("x");
    let status = std::process::Command::new(python)
        .args([
            RSCIIO_SCRIPT,
            "write",
            kind,
            if gzip { "1" } else { "0" },
            &shape,
        ])
        .arg(path)
        .status()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("{RSCIIO_SCRIPT} failed ({status})"))
}

/// h5py's full read of the file at `path` (median of [`common::RUNS`] after a warm-up, in
/// one Python process), with the printed spread.
fn h5py_timing(python: &str, path: &Path) -> (Duration, String) {
    let out = std::process::Command::new(python)
        .args([RSCIIO_SCRIPT, "h5py"])
        .arg(path)
        .arg(common::RUNS.to_string())
        .output()
        .expect("run the h5py timing");
    assert!(out.status.success(), "h5py timing failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let secs: Vec<f64> = text
        .split_whitespace()
        .map(|t| t.parse().expect("seconds"))
        .collect();
    (
        Duration::from_secs_f64(secs[0]),
        format!("{:.3}-{:.3} s", secs[1], secs[2]),
    )
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

fn main() {
    let value = common::flag_value;
    let scale: f64 = value("--scale")
        .map(|s| s.parse().expect("--scale takes a number"))
        .unwrap_or(1.0);
    let dir = PathBuf::from(value("--dir").unwrap_or_else(|| {
        std::env::temp_dir()
            .join("emio-bench")
            .display()
            .to_string()
    }));
    let only: Option<Vec<String>> =
        value("--only").map(|s| s.split(',').map(str::to_string).collect());
    std::fs::create_dir_all(&dir).expect("create the benchmark folder");
    let registry = emio::registry();
    println!(
        "emio benchmark: scale {scale}, {} threads, data in {}",
        rayon::current_num_threads(),
        dir.display()
    );
    let mut notes = Vec::new();
    let mut rows = Vec::new();
    let mut verb_rows = Vec::new();
    let mut order_rows = Vec::new();
    let python = value("--python");
    for spec in SPECS {
        // A format's name or extension selects its main row; other rows by their name.
        let main_row = spec.name == spec.extension;
        let selected =
            |f: &String| f == spec.name || (main_row && (f == spec.format || f == spec.extension));
        if only.as_ref().is_some_and(|o| !o.iter().any(selected)) {
            continue;
        }
        let Ok(format) = registry.by_name(spec.format) else {
            notes.push(format!("{}: format not built", spec.format));
            continue;
        };
        let generated = !format.can_write() && generate::can_generate(spec.format);
        if !(format.can_write() || generated) || !format.can_read() {
            notes.push(format!("{}: no writer or reader yet, skipped", spec.format));
            continue;
        }
        let ds = synthetic(spec, scale);
        let name = format!(
            "{}-{}.{}",
            if main_row { spec.format } else { spec.name },
            ds.shape()
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("x"),
            spec.extension
        );
        let path = dir.join(&name);
        if spec.rsciio.is_some() && python.is_none() {
            notes.push(format!(
                "{}: written by HyperSpy, needs --python",
                spec.name
            ));
            continue;
        }
        if !path.exists() {
            eprintln!("generating {name} ({} MiB) ...", mb(ds.nbytes()));
            let t = Instant::now();
            let written = if let (Some((kind, gzip)), Some(py)) = (spec.rsciio, &python) {
                rsciio_write(py, kind, gzip, ds.shape(), &path)
            } else if generated {
                generate::write(spec.format, &ds, &path).map_err(|e| e.to_string())
            } else {
                let chunks = spec.chunks.map(|f| {
                    f(ds.shape(), spec.nav, spec.dtype.size() as u64)
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                });
                let mut options: Vec<(&str, &str)> = spec.options.to_vec();
                if let Some(c) = &chunks {
                    options.push(("chunks", c));
                }
                Registry::write(format.as_ref(), &ds, &path, &options, false, &NoProgress)
                    .map_err(|e| e.to_string())
            };
            if let Err(e) = written {
                notes.push(format!(
                    "{}: writer declined the benchmark dataset: {e}",
                    spec.format
                ));
                continue;
            }
            eprintln!("  written in {:.1} s", t.elapsed().as_secs_f64());
        }
        let data_path = data_file(&path);
        let file_bytes = std::fs::metadata(&data_path).map(|m| m.len()).unwrap_or(0);
        let cat = common::cat_timing(&data_path);
        let new_memory = median_new_memory_fill(logical_bytes(spec, scale));
        let open_once = || Registry::open_with(format.as_ref(), &path, &[] as &[(&str, &str)]);
        let opened = match open_once() {
            Ok(d) => d,
            Err(e) => {
                notes.push(format!(
                    "{}: emio cannot open its own file: {e}",
                    spec.format
                ));
                continue;
            }
        };
        let reps = 20;
        let t = Instant::now();
        for _ in 0..reps {
            let _ = open_once().expect("open");
        }
        let open = t.elapsed() / reps;
        let data = &opened[0];
        let logical = data.nbytes();
        let (read_t, read_rss, _) = median_of_fresh_opens(&open_once, |d| {
            d.read().map(|a| a.shape().len()).expect("full read");
        });
        let (sum_t, sum_rss, sum) = median_of_fresh_opens(&open_once, |d| sum_all(d).expect("sum"));
        // Data stored in another axis order: the read in the logical C order too (what
        // conversions and region reads ask for), and h5py's read of files HyperSpy wrote.
        if data.source().stored_order().is_some() || spec.rsciio.is_some() {
            let (c_t, c_rss, _) = median_of_fresh_opens(&open_once, |d| {
                let zeros = vec![0; d.ndim()];
                let a = d.read_region(&zeros, d.shape()).expect("C-order read");
                a.shape().len()
            });
            let h5py = python
                .as_ref()
                .filter(|_| spec.rsciio.is_some())
                .map(|py| h5py_timing(py, &path));
            let cat_rate = gbps(file_bytes, cat.median());
            let rate = |d: Duration| gbps(logical, d);
            order_rows.push(format!(
                "{:<17} {:>6} {:>8.2} | {:>5.2} GB/s {:>5.2}x | {:>5.2} GB/s {:>5.2}x {:>5} MB | {}",
                spec.name,
                mb(file_bytes),
                cat_rate,
                rate(read_t.median()),
                rate(read_t.median()) / cat_rate,
                rate(c_t.median()),
                rate(c_t.median()) / cat_rate,
                mb(c_rss),
                match h5py {
                    Some((median, spread)) => format!(
                        "{:>5.2} GB/s  h5py/emio {:>5.2}x (full read), {:>5.2}x (C order)  (h5py {spread})",
                        rate(median),
                        median.as_secs_f64() / read_t.median().as_secs_f64(),
                        median.as_secs_f64() / c_t.median().as_secs_f64(),
                    ),
                    None => "-".to_string(),
                }
            ));
            order_rows.push(format!(
                "                  spread (min-max): full read {}, C order {}",
                read_t.spread(),
                c_t.spread()
            ));
        }
        let expected_sum = generator_sum(spec, scale);
        assert!(
            (sum - expected_sum).abs() <= 1e-9 * expected_sum.abs().max(1.0),
            "{name}: the sum read back ({sum}) is not the generator's ({expected_sum})"
        );
        let zarr = dir.join(format!("{name}.out.zarr"));
        let npy = dir.join(format!("{name}.out.npy"));
        remove(&zarr);
        remove(&npy);
        let zarr_format = registry.by_name("zarr").expect("zarr");
        let npy_format = registry.by_name("npy").expect("npy");
        // Conversions are timed like reads: a warm-up, then the median of the same runs
        // (each from a fresh open, replacing the previous output).
        let convert = |format: &dyn emio::Format, out: &Path, options: &[(&str, &str)]| {
            median_of_fresh_opens(&open_once, |d| {
                Registry::write(format, d, out, options, true, &NoProgress).expect("convert")
            })
        };
        let (zarr_t, zarr_rss, _) = convert(zarr_format.as_ref(), &zarr, &[("compressor", "zstd")]);
        let (npy_t, npy_rss, _) = convert(npy_format.as_ref(), &npy, &[]);
        remove(&zarr);
        remove(&npy);
        let cat_rate = gbps(file_bytes, cat.median());
        // The verbs of issue 20: `emconvert stats` (its default 16-bin histogram) and the
        // per-file cost of `emconvert ls` (probe, open, summary row).
        let (stats_t, stats_rss, stats) = median_of_fresh_opens(&open_once, |d| {
            emio::stats::stats(d, STATS_BINS, &NoProgress).expect("stats")
        });
        assert!(
            (stats.summary.sum - expected_sum).abs() <= 1e-9 * expected_sum.abs().max(1.0),
            "{name}: stats' sum ({}) is not the generator's ({expected_sum})",
            stats.summary.sum
        );
        let ls_reps = 20;
        let listed = [path.clone()];
        let t = Instant::now();
        for _ in 0..ls_reps {
            let rows = emio::listing::list(&listed, false);
            assert!(
                rows.iter()
                    .all(|r| matches!(r.entry, emio::listing::Entry::Dataset(_))),
                "{name}: ls reports an error"
            );
        }
        let ls = t.elapsed() / ls_reps;
        verb_rows.push(format!(
            "{:<13} {:>6} {:>10.2} | {:>5.2} GB/s {:>5.2}x {:>5} MB | {:>8.3}   (stats: {})",
            spec.name,
            mb(file_bytes),
            cat_rate,
            gbps(logical, stats_t.median()),
            gbps(logical, stats_t.median()) / cat_rate,
            mb(stats_rss),
            ls.as_secs_f64() * 1e3,
            stats_t.spread()
        ));
        let cell = |d: Duration, rss: u64| {
            let rate = gbps(logical, d);
            format!(
                "{:>5.2} GB/s {:>5.2}x {:>5} MB",
                rate,
                rate / cat_rate,
                mb(rss)
            )
        };
        rows.push(format!(
            "{:<13} {:>6} {:>10.2} {:>11.2} {:>8.3} | {} | {} | {} | {}   (sum {:.4e})",
            spec.name,
            mb(file_bytes),
            cat_rate,
            gbps(logical, new_memory),
            open.as_secs_f64() * 1e3,
            cell(read_t.median(), read_rss),
            cell(sum_t.median(), sum_rss),
            cell(zarr_t.median(), zarr_rss),
            cell(npy_t.median(), npy_rss),
            sum
        ));
        rows.push(format!(
            "              spread of the {} runs (min-max): cat {}, full read {}, sum {}, .zarr {}, \
             .npy {}; sum = generator's",
            common::RUNS,
            cat.spread(),
            read_t.spread(),
            sum_t.spread(),
            zarr_t.spread(),
            npy_t.spread()
        ));
    }
    println!();
    println!(
        "{:<13} {:>6} {:>10} {:>11} {:>8} | {:^26} | {:^26} | {:^26} | {:^26}",
        "row",
        "MiB",
        "cat GB/s",
        "new mem GB/s",
        "open ms",
        "full read (x cat, RSS)",
        "sum (x cat, RSS)",
        "-> .zarr zstd (x cat, RSS)",
        "-> .npy (x cat, RSS)"
    );
    for row in rows {
        println!("{row}");
    }
    if !order_rows.is_empty() {
        println!();
        println!(
            "{:<17} {:>6} {:>8} | {:^18} | {:^26} | h5py's full read (rsciio's files)",
            "row", "MiB", "cat GB/s", "full read (x cat)", "C-order read (x cat, RSS)"
        );
        for row in order_rows {
            println!("{row}");
        }
    }
    println!();
    println!(
        "{:<13} {:>6} {:>10} | {:^28} | {:>8}",
        "row", "MiB", "cat GB/s", "stats (x cat, RSS)", "ls ms"
    );
    for row in verb_rows {
        println!("{row}");
    }
    for note in notes {
        println!("note: {note}");
    }
}
