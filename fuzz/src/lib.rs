//! Shared body of the fuzz targets: write the input to scratch files, open them with one
//! format, describe every dataset and read its first and last regions. Reads are bounded
//! (a few KiB per dataset), so each execution is fast whatever size the input declares.
//! Errors are fine; panics, hangs and huge allocations are bugs.
//!
//! This crate depends on emio-core only, and each per-format target on its format's crate
//! only, not on `emio`: a target links the code it can reach and nothing else. Through
//! `emio` every target linked every format, and zarrs' codec registrations (static
//! constructors the linker must keep) whatever it used: over 500,000 coverage counters,
//! which libFuzzer clears and scans after every run, for targets reaching a few thousand.
//! Only `open_any` and `options_parse`, which need the registry, use `emio`.

pub mod cap;

use std::io::Write;
use std::path::{Path, PathBuf};

use emio_core::{Dataset, Format, Registry};

/// Largest region read per dataset: a few KiB, so a target runs thousands of inputs a second
/// (64 KiB regions were a fifth of `open_blo`'s time: instrumented copies, zeroed buffers).
const REGION_BYTES: u64 = 4 << 10;

/// Separates the files of a multi-file input (a data file and its companion, two JSON
/// documents of a store); it is in the dictionaries.
pub const SEPARATOR: &[u8] = b"\n--emio-part--\n";

/// Make the calling thread rayon's only thread, once per process. The readers decode
/// chunks with rayon's parallel iterators; called from a thread outside rayon's pool, each
/// of them handed its work to a pool thread and waited for it, even for the one chunk of a
/// bounded region: futex wake-ups, and TLB shoot-downs on every `munmap` of the input's
/// map (another thread of the process had run on the other core), a third of `open_blo`'s
/// time (`perf record`). On this thread, rayon runs the same code in place.
pub fn single_threaded() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means the global pool already exists: nothing to do then.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build_global();
    });
}

/// A scratch folder private to this process (in memory where the system has one),
/// created on the first call.
pub fn scratch_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("emio-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    })
    .clone()
}

/// Write `data` to `path` ([`rewrite`]), creating its folder.
pub fn put(path: &Path, data: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("scratch folder");
    }
    rewrite(path, data);
}

/// Make the file at `path` (in an existing folder) hold `data`, writing over what it held
/// and cutting it to length: a file rewritten for every input keeps its pages, where
/// creating and removing it for every input cleared and freed them (the create, write
/// and `unlink` were a tenth of `open_tiff`'s fuzzing time in a profile).
pub fn rewrite(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("scratch file");
    f.write_all(data).expect("write scratch file");
    f.set_len(data.len() as u64).expect("cut scratch file");
}

/// The parts of a multi-file input, split at [`SEPARATOR`]. The search is `memchr`'s
/// substring finder, which compares 32 bytes per step: a byte-by-byte scan runs one
/// instrumented comparison per byte (coverage tracing), which was a tenth of `mib_hdr`'s
/// run time on binary seeds.
pub fn parts(data: &[u8]) -> Vec<&[u8]> {
    let finder = memchr::memmem::Finder::new(SEPARATOR);
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = finder.find(rest) {
        out.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

/// Describe `ds` (title, element type, axes as `emconvert info` shows them) and read its
/// first and last regions of at most [`REGION_BYTES`] (of ragged data: its first and last
/// items, which follow variable-length references into heap collections). The metadata
/// trees are the reader's output, already built; they are not copied again.
pub fn read_bounded(ds: &Dataset) {
    single_threaded();
    let _ = (ds.title(), ds.numpy_str(), ds.dtype().numpy_fields());
    for (axis, &n) in ds.axes.iter().zip(ds.shape()) {
        let _ = axis.to_json(n);
    }
    if let Some(items) = ds.ragged() {
        let n = items.len();
        for i in [0, n.saturating_sub(1)].into_iter().filter(|&i| i < n) {
            let _ = items.item(i);
        }
        return;
    }
    let chunk = ds.streaming_chunk_shape(REGION_BYTES);
    if let Some(first) = ds.chunks(&chunk).next() {
        let _ = ds.read_region_bytes(&first.start, &first.shape);
        let last: Vec<u64> = ds
            .shape()
            .iter()
            .zip(&first.shape)
            .map(|(n, c)| n - c)
            .collect();
        let _ = ds.read_region_bytes(&last, &first.shape);
    }
}

/// Open `path` with `format` and read every dataset (bounded).
pub fn open_and_read(format: &dyn Format, path: &Path) {
    single_threaded();
    if let Ok(datasets) = Registry::open_with(format, path, &[] as &[(&str, &str)]) {
        for ds in &datasets {
            read_bounded(ds);
            // What the dataset carries beside its pixels is read from the file too.
            ds.derived().iter().for_each(read_bounded);
            for (_, results) in ds.learning_groups() {
                results
                    .iter()
                    .flat_map(|r| r.arrays.values())
                    .for_each(read_bounded);
            }
        }
    }
}

/// Open `data` as a file of `format` (named `input.extension`) and read what it holds.
pub fn exercise(format: &dyn Format, extension: &str, data: &[u8]) {
    let path = scratch_dir().join(format!("input.{extension}"));
    rewrite(&path, data);
    open_and_read(format, &path);
}
