//! emio's performance benchmark (not a test: it times, the tests never do).
//!
//! Generates, once, one file per implemented format at realistic size with emio's own
//! writers, filled with data that looks like what detectors record (issue 23, `data`:
//! 4D-STEM frames with a bright disc of ~200 counts on a Poisson background of 0.05
//! counts/pixel, the disc drifting across the scan; EELS spectrum images with a power-law
//! background, edges and noise; EDS spectrum images of low counts; image stacks of a smooth
//! image with shot noise; and one deliberately sparse row), then prints:
//!
//! 1. per input: its zstd level 1 compression ratio (so a reader can judge realism), open
//!    (lazy), full read into memory, sum over all data through the chunk API, convert to
//!    `.zarr` with the writer's default codec — beside it the rate at which that codec alone
//!    compresses the same bytes in memory on all cores (the ceiling) — and to `.npy`; each
//!    throughput also as a ratio to `cat FILE > /dev/null` timed in the same run, plus the
//!    peak anonymous RSS of each step (heap memory; the page cache behind memory-mapped
//!    inputs is not counted);
//! 2. for data stored in another axis order (and the rsciio rows), the read in the logical
//!    C order next to the full read, and h5py's read;
//! 3. the verbs: `emconvert stats` (its default histogram: 16 bins for 8- and 16-bit data, none
//!    for others; × cat) and the cost of one
//!    file's `emconvert ls` row (probe, open, summary; mean of 20);
//! 4. thread scaling: the sum and `stats` of every uncompressed row on 1 and on 2 threads,
//!    and the parallel efficiency (issue 21);
//! 5. issue 23's targets for the MIB row: emio's conversion to Zarr against the codec
//!    alone (the ratio of their medians, and the median of rounds of one run of each, each
//!    first in turn), its peak RSS and, with `--python PY`, numpy memmap → zarr-python and
//!    HyperSpy's lazy `.zspy` save (`benches/zarr_peers.py`), timed in the same run;
//! 6. with `--codecs`, the codec alternatives (zstd levels, Blosc lz4/zstd with byte or bit
//!    shuffle, sharding) alone on each row's data: ratio, rate and their product.
//!
//! ```text
//! cargo bench --profile profiling --bench emio_bench -- [--scale 0.1] [--dir /tmp/emio-bench]
//!     [--only mib,mrc] [--python PY] [--codecs] [--runs N]
//! ```
//!
//! Defaults (scale 1): 2 GiB 12-bit MIB 128×128×256×256 (and the same, sparse), 2 GiB DM4
//! EELS SI float32, 1 GiB DM3 uint16 stack, 2 GiB MRC float32, 1 GiB BLO, 1 GiB EMD, 1 GiB
//! 512-page TIFF stack, 1 GiB NPY, 1 GiB EMPAD 128×128×128×128 float32, 1 GiB Ripple u16
//! EDS spectrum image, 1 GiB TVIPS u16 64×64 scan of 512×256 frames, 1 GiB TIA series of
//! 512 uint16 1024×1024 images (generated in TIA's layout: emio reads TIA but does not
//! write it); and, as HyperSpy/rsciio (h5py) write them (issue 17), 512 MiB 4D-STEM u16 in
//! rsciio's chunks, which do not follow the frames: NCEM EMD stored transposed
//! (256, 256, 64, 64) in chunks of (11, 11, 64, 64) and `.hspy` (256, 256, 64, 64) in
//! (11, 11, 64, 64), each uncompressed and gzip (rows `emd-h5py`, `emd-h5py-gzip`, `hspy`,
//! `hspy-gzip`). With `--python PY` (a Python with HyperSpy, h5py and zarr), the rows
//! `rsciio-emd`, `rsciio-emd-gzip`, `rsciio-hspy`, `rsciio-hspy-gzip` hold the same kind
//! of values written by HyperSpy itself (`benches/rsciio_h5.py`, rsciio's own chunks), and
//! h5py's full read of them is timed in the same run.
//!
//! `cat`, full read, sum, the conversions and the codec alone are each run once untimed
//! (warm page cache), then timed three times, or `--runs N` (each emio step on a freshly
//! opened file, so the memory map's page tables are built again, as a user's first read
//! has to); the median is printed with the spread (min-max) on the line below. `cat` is
//! started directly (no shell). Every sum is checked against the generator's own sum of
//! the values it produced (computed without any file or reader). `--scale` shrinks the
//! navigation (frame) count.
//! Formats whose writer is missing or declines the dataset are skipped with a note. Files
//! are kept in `--dir` and reused by later runs (their names carry the kind of values).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod codec;
mod common;
mod data;
mod generate;
mod measure;
mod peers;
mod reduce;
mod specs;
mod table;
mod targets;

use emio::{Dataset, NoProgress, Registry, Result};

use codec::{Codec, Sample};
use measure::{fresh_opens, fresh_opens_after, with_threads, Measured};
use specs::{Spec, SPECS};
use table::Table;
use targets::{target_rows, Ceiling};

/// Writer options of the Zarr conversions compared with `--codecs`, labelled as in
/// [`codec::alternatives`].
const WRITER_CODECS: &[(&str, &[(&str, &str)])] = &[
    ("zstd 1", &[("compressor", "zstd"), ("level", "1")]),
    (
        "blosc zstd 1 shuffle",
        &[("compressor", "blosc"), ("level", "1")],
    ),
    (
        "blosc lz4 5 shuffle",
        &[("compressor", "blosc-lz4"), ("shuffle", "byte")],
    ),
    (
        "blosc lz4 5 bitshuffle",
        &[("compressor", "blosc-lz4"), ("shuffle", "bit")],
    ),
];

const USAGE: &str = "cargo bench --profile profiling --bench emio_bench -- [options]
  --scale S      shrink the navigation (first) dimension of every input (default 1: 1-2 GiB files)
  --dir D        where inputs are generated and kept (default: $TMPDIR/emio-bench)
  --only A,B     rows by name, format or extension (mib, mib-sparse, dm4, mrc, ...)
  --python PY    a Python with HyperSpy, h5py and zarr: rsciio rows, h5py reads, Zarr peers
  --codecs       the codec alternatives table (zstd levels, Blosc, sharding) per row
  --runs N       timed runs per figure, the median printed (default 3)";

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn mb(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1 << 20) as f64)
}

/// A throughput cell: rate, ratio to `cat`, RSS.
fn cell(bytes: u64, d: Duration, cat_rate: f64, rss: u64) -> String {
    let rate = gbps(bytes, d);
    format!(
        "{rate:>5.2} GB/s {:>5.2}x {:>5} MB",
        rate / cat_rate,
        mb(rss)
    )
}

/// Whether a target is met, for the targets table.
fn met(ok: bool) -> String {
    if ok { "met" } else { "NOT met" }.to_string()
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

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// What the whole run was asked for.
struct Run {
    scale: f64,
    dir: PathBuf,
    python: Option<String>,
    codecs: bool,
}

/// The printed tables.
struct Tables {
    main: Table,
    order: Table,
    verbs: Table,
    scaling: Table,
    targets: Table,
    codecs: Table,
}

impl Tables {
    fn new() -> Tables {
        let rate = 26;
        Tables {
            main: Table::new(
                "Per input (zstd-1: the input's zstd level 1 ratio; codec alone: the default \
                 Zarr codec compressing the same bytes in memory on all cores, and the \
                 conversion's share of it)",
                &[
                    ("row", 13),
                    ("MiB", 5),
                    ("zstd-1", 6),
                    ("cat GB/s", 8),
                    ("new mem GB/s", 12),
                    ("open ms", 7),
                    ("full read (x cat, RSS)", rate),
                    ("sum (x cat, RSS)", rate),
                    ("-> .zarr (x cat, RSS)", rate),
                    ("codec alone, share", 21),
                    ("-> .npy (x cat, RSS)", rate),
                ],
            ),
            order: Table::new(
                "Data stored in another axis order (and HyperSpy's files)",
                &[
                    ("row", 17),
                    ("MiB", 5),
                    ("cat GB/s", 8),
                    ("full read (x cat)", 18),
                    ("C-order read (x cat, RSS)", rate),
                    ("h5py's full read (rsciio's files)", 34),
                ],
            ),
            verbs: Table::new(
                "Verbs",
                &[
                    ("row", 13),
                    ("MiB", 5),
                    ("cat GB/s", 8),
                    ("stats (x cat, RSS)", rate),
                    ("ls ms", 7),
                ],
            ),
            scaling: Table::new(
                "Thread scaling of reductions on uncompressed data (efficiency: 1-thread time / \
                 2-thread time; 1.7x is the goal)",
                &[
                    ("row", 13),
                    ("cat GB/s", 8),
                    ("sum 1 thread", 16),
                    ("sum 2 threads", 16),
                    ("sum eff.", 8),
                    ("stats 1 thread", 16),
                    ("stats 2 threads", 16),
                    ("stats eff.", 10),
                ],
            ),
            targets: Table::new(
                "Issue 23 targets: MIB -> Zarr v3, default codec, same run",
                &[
                    ("against", 34),
                    ("their time", 18),
                    ("emio's time", 11),
                    ("ratio", 12),
                    ("target", 8),
                    ("", 7),
                ],
            ),
            codecs: Table::new(
                "Codecs alone on each row's data (in memory, all cores; the writer's chunks)",
                &[
                    ("row / codec", 44),
                    ("ratio", 6),
                    ("GB/s", 6),
                    ("ratio x GB/s", 12),
                    ("as a conversion (x cat, RSS, output MiB)", 44),
                ],
            ),
        }
    }

    fn print(&self) {
        for t in [
            &self.main,
            &self.order,
            &self.verbs,
            &self.scaling,
            &self.targets,
            &self.codecs,
        ] {
            t.print();
        }
    }
}

fn main() {
    let value = common::flag_value;
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let run = Run {
        scale: value("--scale")
            .map(|s| s.parse().expect("--scale takes a number"))
            .unwrap_or(1.0),
        dir: PathBuf::from(value("--dir").unwrap_or_else(|| {
            std::env::temp_dir()
                .join("emio-bench")
                .display()
                .to_string()
        })),
        python: value("--python"),
        codecs: std::env::args().any(|a| a == "--codecs"),
    };
    let only: Option<Vec<String>> =
        value("--only").map(|s| s.split(',').map(str::to_string).collect());
    std::fs::create_dir_all(&run.dir).expect("create the benchmark folder");
    println!(
        "emio benchmark: scale {}, {} threads, data in {}",
        run.scale,
        rayon::current_num_threads(),
        run.dir.display()
    );
    let mut tables = Tables::new();
    let mut notes = Vec::new();
    for spec in SPECS {
        // A format's name or extension selects its main row; other rows by their name.
        let selected = |f: &String| {
            f == spec.name || (spec.main_row() && (f == spec.format || f == spec.extension))
        };
        if only.as_ref().is_some_and(|o| !o.iter().any(selected)) {
            continue;
        }
        if let Err(note) = bench_row(&run, spec, &mut tables) {
            notes.push(note);
        }
    }
    tables.print();
    for note in notes {
        println!("note: {note}");
    }
}

/// Generate `spec`'s file if it is not there yet: its path.
fn input(
    run: &Run,
    spec: &Spec,
    format: &dyn emio::Format,
) -> std::result::Result<PathBuf, String> {
    let ds = spec.dataset(run.scale);
    let row = if spec.main_row() {
        spec.format
    } else {
        spec.name
    };
    let label = spec.pattern.label();
    let name = format!(
        "{row}{}-{}.{}",
        if row.contains(label) {
            String::new()
        } else {
            format!("-{label}")
        },
        ds.shape()
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("x"),
        spec.extension
    );
    let path = run.dir.join(&name);
    if path.exists() {
        return Ok(path);
    }
    eprintln!("generating {name} ({} MiB) ...", mb(ds.nbytes()));
    let t = Instant::now();
    let written = if let (Some((kind, gzip)), Some(py)) = (spec.rsciio, &run.python) {
        peers::rsciio_write(py, kind, gzip, &ds, &path)
    } else if !format.can_write() {
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
        Registry::write(format, &ds, &path, &options, false, &NoProgress).map_err(|e| e.to_string())
    };
    written.map_err(|e| format!("{}: writer declined the benchmark dataset: {e}", spec.name))?;
    eprintln!("  written in {:.1} s", t.elapsed().as_secs_f64());
    Ok(path)
}

/// Check a sum against the generator's.
fn check_sum(name: &str, what: &str, sum: f64, expected: f64) {
    assert!(
        (sum - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{name}: {what} ({sum}) is not the generator's sum ({expected})"
    );
}

/// Measure one row into the tables; a note when it cannot be measured.
fn bench_row(run: &Run, spec: &Spec, tables: &mut Tables) -> std::result::Result<(), String> {
    let registry = emio::registry();
    let format = registry
        .by_name(spec.format)
        .map_err(|_| format!("{}: format not built", spec.format))?;
    if !(format.can_write() || generate::can_generate(spec.format)) || !format.can_read() {
        return Err(format!("{}: no writer or reader yet, skipped", spec.format));
    }
    if spec.rsciio.is_some() && run.python.is_none() {
        return Err(format!(
            "{}: written by HyperSpy, needs --python",
            spec.name
        ));
    }
    let path = input(run, spec, format.as_ref())?;
    let name = spec.name;
    let data_path = data_file(&path);
    let file_bytes = std::fs::metadata(&data_path).map(|m| m.len()).unwrap_or(0);
    let cat = common::cat_timing(&data_path);
    let cat_rate = gbps(file_bytes, cat.median());
    let new_memory = measure::new_memory_fill(spec.dataset(run.scale).nbytes());
    let open_once = || Registry::open_with(format.as_ref(), &path, &[] as &[(&str, &str)]);
    let opened = open_once().map_err(|e| format!("{name}: emio cannot open its own file: {e}"))?;
    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        let _ = open_once().expect("open");
    }
    let open = t.elapsed() / reps;
    let data = &opened[0];
    let logical = data.nbytes();
    let read = fresh_opens(&open_once, |d| {
        d.read().map(|a| a.shape().len()).expect("full read")
    });
    let sum = fresh_opens(&open_once, |d| reduce::sum_all(d).expect("sum"));
    let expected_sum = spec.generator_sum(run.scale);
    check_sum(name, "the sum read back", sum.last, expected_sum);
    if data.source().stored_order().is_some() || spec.rsciio.is_some() {
        order_row(
            run, spec, &open_once, &read, file_bytes, cat_rate, logical, &path, tables,
        );
    }

    // Conversions: a warm-up, then the median of the same runs (each from a fresh open,
    // into a new output: the previous one is removed before the run, untimed, since
    // deleting a store is not part of converting, and the codec alone deletes nothing).
    let zarr = run.dir.join(format!("{name}.out.zarr"));
    let npy = run.dir.join(format!("{name}.out.npy"));
    let zarr_format = registry.by_name("zarr").expect("zarr");
    let npy_format = registry.by_name("npy").expect("npy");
    let convert = |format: &dyn emio::Format, out: &Path, options: &[(&str, &str)]| {
        fresh_opens_after(
            || remove(out),
            &open_once,
            |d| Registry::write(format, d, out, options, false, &NoProgress).expect("convert"),
        )
    };
    let to_zarr = convert(zarr_format.as_ref(), &zarr, &[]);
    // The codec alone, on the same bytes: chunks of the written store's shape, encoded in
    // memory by the store's own codec chain.
    let codec = Codec::of_store(&zarr);
    let sample = Sample::of(data, &codec.chunk_shape());
    let zstd1 = sample.zstd1_ratio();
    let by_emio = codec.encode(&sample);
    // Blosc is also timed in c-blosc: the ceiling is the faster of the two encoders.
    let (alone, encoders, by_c_blosc) = if codec.by_emio() {
        let c_blosc = codec.encode_by_zarrs(&sample);
        let note = format!(
            " [emio's Blosc encoder {:.2} GB/s, ratio {:.2}; c-blosc {:.2} GB/s, ratio {:.2}]",
            by_emio.rate / 1e9,
            by_emio.ratio,
            c_blosc.rate / 1e9,
            c_blosc.ratio
        );
        let by_c_blosc = c_blosc.rate > by_emio.rate;
        let faster = if by_c_blosc { c_blosc } else { by_emio };
        (faster, note, by_c_blosc)
    } else {
        (by_emio, String::new(), false)
    };
    let sample_bytes = sample.bytes();
    let zarr_rate = gbps(logical, to_zarr.timing.median());
    if run.codecs {
        codec_rows(
            spec,
            data,
            &sample,
            &codec::store_metadata(&zarr),
            &convert,
            &zarr,
            cat_rate,
            logical,
            tables,
        );
    }
    if spec.format == "mib" && spec.main_row() {
        let ceiling = Ceiling {
            codec: &codec,
            sample: &sample,
            rate: alone.rate,
            by_c_blosc,
        };
        let convert_once = || {
            remove(&zarr);
            let datasets = open_once().expect("open");
            let t = Instant::now();
            Registry::write(
                zarr_format.as_ref(),
                &datasets[0],
                &zarr,
                &[] as &[(&str, &str)],
                false,
                &NoProgress,
            )
            .expect("convert");
            t.elapsed()
        };
        target_rows(run, data, &path, &ceiling, &to_zarr, &convert_once, tables);
    }
    drop(sample);
    remove(&zarr);
    let to_npy = convert(npy_format.as_ref(), &npy, &[]);
    remove(&npy);

    // The verbs of issue 20: `emconvert stats` (its default histogram) and the
    // per-file cost of `emconvert ls` (probe, open, summary row).
    let stats = fresh_opens(&open_once, |d| {
        emio::stats::stats(d, emio::stats::default_bins(d.dtype()), &NoProgress).expect("stats")
    });
    check_sum(name, "stats' sum", stats.last.summary.sum, expected_sum);
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
    tables.verbs.row(vec![
        name.to_string(),
        mb(file_bytes),
        format!("{cat_rate:.2}"),
        cell(logical, stats.timing.median(), cat_rate, stats.rss),
        format!("{:.3}", ls.as_secs_f64() * 1e3),
    ]);
    tables
        .verbs
        .text(format!("spread: stats {}", stats.timing.spread()));

    if !spec.compressed() {
        scaling_row(spec, &open_once, cat_rate, logical, expected_sum, tables);
    }

    tables.main.row(vec![
        name.to_string(),
        mb(file_bytes),
        format!("{zstd1:.1}"),
        format!("{cat_rate:.2}"),
        format!("{:.2}", gbps(logical, new_memory)),
        format!("{:.3}", open.as_secs_f64() * 1e3),
        cell(logical, read.timing.median(), cat_rate, read.rss),
        cell(logical, sum.timing.median(), cat_rate, sum.rss),
        cell(logical, to_zarr.timing.median(), cat_rate, to_zarr.rss),
        format!(
            "{:>5.2} GB/s {:>5.2}x",
            alone.rate / 1e9,
            zarr_rate / (alone.rate / 1e9)
        ),
        cell(logical, to_npy.timing.median(), cat_rate, to_npy.rss),
    ]);
    tables.main.text(format!(
        "{}; spread of the {} runs (min-max): cat {}, full read {}, sum {}, .zarr {}, codec alone {} \
         (on {} MiB, ratio {:.1}){encoders}, .npy {}; sum {:.4e} = generator's",
        spec.what,
        common::runs(),
        cat.spread(),
        read.timing.spread(),
        sum.timing.spread(),
        to_zarr.timing.spread(),
        alone.spread,
        mb(sample_bytes),
        alone.ratio,
        to_npy.timing.spread(),
        sum.last
    ));
    Ok(())
}

/// The row of the axis-order table: the C-order read next to the full read, and h5py's.
#[allow(clippy::too_many_arguments)]
fn order_row(
    run: &Run,
    spec: &Spec,
    open_once: &(dyn Fn() -> Result<Vec<Dataset>> + Sync),
    read: &Measured<usize>,
    file_bytes: u64,
    cat_rate: f64,
    logical: u64,
    path: &Path,
    tables: &mut Tables,
) {
    let c_order = fresh_opens(open_once, |d| {
        let zeros = vec![0; d.ndim()];
        let a = d.read_region(&zeros, d.shape()).expect("C-order read");
        a.shape().len()
    });
    let h5py = run
        .python
        .as_ref()
        .filter(|_| spec.rsciio.is_some())
        .map(|py| peers::h5py_timing(py, path));
    let rate = |d: Duration| gbps(logical, d);
    let (read_t, c_t) = (read.timing.median(), c_order.timing.median());
    tables.order.row(vec![
        spec.name.to_string(),
        mb(file_bytes),
        format!("{cat_rate:.2}"),
        format!(
            "{:>5.2} GB/s {:>5.2}x",
            rate(read_t),
            rate(read_t) / cat_rate
        ),
        cell(logical, c_t, cat_rate, c_order.rss),
        match &h5py {
            Some(h) => format!(
                "{:>5.2} GB/s, h5py/emio {:.2}x, {:.2}x C",
                rate(h.median),
                h.median.as_secs_f64() / read_t.as_secs_f64(),
                h.median.as_secs_f64() / c_t.as_secs_f64(),
            ),
            None => "-".to_string(),
        },
    ]);
    tables.order.text(format!(
        "spread (min-max): full read {}, C order {}{}",
        read.timing.spread(),
        c_order.timing.spread(),
        h5py.map(|h| format!(", h5py {}", h.spread))
            .unwrap_or_default()
    ));
}

/// The row of the scaling table: sum and `stats` on 1 and on 2 threads.
fn scaling_row(
    spec: &Spec,
    open_once: &(dyn Fn() -> Result<Vec<Dataset>> + Sync),
    cat_rate: f64,
    logical: u64,
    expected_sum: f64,
    tables: &mut Tables,
) {
    let timed = |threads: usize| {
        with_threads(threads, || {
            let sum = fresh_opens(open_once, |d| reduce::sum_all(d).expect("sum"));
            check_sum(spec.name, "the sum read back", sum.last, expected_sum);
            let stats = fresh_opens(open_once, |d| {
                emio::stats::stats(d, emio::stats::default_bins(d.dtype()), &NoProgress)
                    .expect("stats")
            });
            (sum.timing, stats.timing)
        })
    };
    let (sum1, stats1) = timed(1);
    let (sum2, stats2) = timed(2);
    let rate = |t: &common::Timing| {
        format!(
            "{:>5.2} GB/s {:>4.2}x",
            gbps(logical, t.median()),
            gbps(logical, t.median()) / cat_rate
        )
    };
    let efficiency = |one: &common::Timing, two: &common::Timing| {
        format!(
            "{:.2}x",
            one.median().as_secs_f64() / two.median().as_secs_f64()
        )
    };
    tables.scaling.row(vec![
        spec.name.to_string(),
        format!("{cat_rate:.2}"),
        rate(&sum1),
        rate(&sum2),
        efficiency(&sum1, &sum2),
        rate(&stats1),
        rate(&stats2),
        efficiency(&stats1, &stats2),
    ]);
    tables.scaling.text(format!(
        "spread: sum {} / {}, stats {} / {} (x: ratio to cat)",
        sum1.spread(),
        sum2.spread(),
        stats1.spread(),
        stats2.spread()
    ));
}

/// A timed conversion: format, output path, writer options.
type Convert<'a> = dyn Fn(&dyn emio::Format, &Path, &[(&str, &str)]) -> Measured<()> + 'a;

/// The codec alternatives alone on `sample`, and the writer's own choices as conversions.
#[allow(clippy::too_many_arguments)]
fn codec_rows(
    spec: &Spec,
    data: &Dataset,
    sample: &Sample,
    metadata: &serde_json::Value,
    convert: &Convert,
    zarr: &Path,
    cat_rate: f64,
    logical: u64,
    tables: &mut Tables,
) {
    let data_type = metadata["data_type"].as_str().expect("data_type");
    let size = data.dtype().size();
    let mut frame = sample.chunk.clone();
    let nav = data.axes.iter().filter(|a| a.navigate).count();
    frame.iter_mut().take(nav).for_each(|n| *n = 1);
    tables.codecs.row(vec![
        format!("{} ({})", spec.name, spec.what),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    let zarr_format = emio::registry().by_name("zarr").expect("zarr");
    for (label, codecs) in codec::alternatives(size, &frame) {
        let alone = Codec::new(data_type, &sample.chunk, codecs).encode(sample);
        let converted = WRITER_CODECS
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, options)| {
                let out = zarr.with_extension("codec.zarr");
                remove(&out);
                let m = convert(zarr_format.as_ref(), &out, options);
                let size = dir_bytes(&out);
                remove(&out);
                format!(
                    "{} {:>6}",
                    cell(logical, m.timing.median(), cat_rate, m.rss),
                    mb(size)
                )
            })
            .unwrap_or_default();
        tables.codecs.row(vec![
            format!("  {label}"),
            format!("{:.2}", alone.ratio),
            format!("{:.2}", alone.rate / 1e9),
            format!("{:.2}", alone.ratio * alone.rate / 1e9),
            converted,
        ]);
    }
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
