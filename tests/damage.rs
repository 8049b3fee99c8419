//! The damage sweep (issue 15): small files of every format, damaged the ways real files
//! break, are probed and opened through the registry, described (metadata, original
//! metadata), and their first and last regions read (whole, when small).
//!
//! Damages: truncation inside the header and the data; byte flips; zeroed blocks; and
//! 4- and 8-byte fields (both byte orders) set to 0, 2^31, 2^32−1, 2^62, the file size,
//! one past it, and 8 (an offset pointing back into the header: loops), which also makes
//! negative 32-bit sizes. In text files (JSON, text headers) numbers are also replaced by
//! 0, −1, 2^31, 2^32−1, 2^62, 10^20 and 1e300.
//!
//! Every run must end without a panic, within [`TIMEOUT`], with peak heap memory at most
//! 2 × the file size + 64 MB, and with datasets of formats whose pixels must be stored no
//! larger than [`stored_budget`] (sparse HDF5/Zarr data may be larger: a conversion checks
//! the free space first).
//!
//! `cargo test --test damage` runs a bounded sample over `testdata/`; the full sweep, also
//! over the small files of `../shared/corpus`, is
//! `cargo test --release --test damage -- --ignored --nocapture`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// Heap accounting: bytes live now and the high-water mark since the last reset.
struct Peak;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Peak = Peak;

/// Longest a single open-and-read may take (debug builds are slow; nothing here is big).
const TIMEOUT: Duration = Duration::from_secs(20);
/// Regions read from each dataset are at most this large.
const REGION_BYTES: u64 = 1 << 20;
/// Datasets up to this size are also read whole (checksummed).
const WHOLE_BYTES: u64 = 4 << 20;
/// Formats whose logical data may legitimately exceed what the file stores (missing chunks
/// read as the fill value).
const SPARSE_FORMATS: &[&str] = &["emd", "zarr", "zspy", "hspy", "dm5", "arina"];

/// Only one sweep at a time: the heap counters are process-wide.
static SWEEP: Mutex<()> = Mutex::new(());

/// One way of damaging a file.
#[derive(Debug, Clone)]
enum Damage {
    /// Keep only the first n bytes.
    Truncate(usize),
    /// XOR one byte with 0xFF.
    Flip(usize),
    /// Zero n bytes from an offset.
    Zero(usize, usize),
    /// Replace the `nth` decimal number of a text file (JSON, headers) with `value`.
    Number { nth: usize, value: &'static str },
    /// Overwrite a 4- or 8-byte field with a value in one byte order.
    Field {
        at: usize,
        width: usize,
        value: u64,
        big_endian: bool,
    },
}

impl Damage {
    fn apply(&self, original: &[u8]) -> Vec<u8> {
        let mut b = original.to_vec();
        match *self {
            Damage::Truncate(n) => b.truncate(n),
            Damage::Flip(at) => b[at] ^= 0xFF,
            Damage::Zero(at, n) => b[at..(at + n).min(original.len())].fill(0),
            Damage::Number { nth, value } => {
                if let Some((start, end)) = numbers(original).nth(nth) {
                    b.splice(start..end, value.bytes());
                }
            }
            Damage::Field {
                at,
                width,
                value,
                big_endian,
            } => {
                let bytes = if big_endian {
                    value.to_be_bytes()[8 - width..].to_vec()
                } else {
                    value.to_le_bytes()[..width].to_vec()
                };
                b[at..at + width].copy_from_slice(&bytes);
            }
        }
        b
    }
}

/// Byte ranges of the runs of ASCII digits in `text`.
fn numbers(text: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + text.get(at..)?.iter().position(u8::is_ascii_digit)?;
        let len = text[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        at = start + len;
        Some((start, start + len))
    })
}

/// Declared sizes a text header or JSON document may be damaged to.
const NUMBERS: [&str; 7] = [
    "0",
    "-1",
    "2147483648",
    "4294967295",
    "4611686018427387904",
    "100000000000000000000",
    "1e300",
];

/// Every damage of a `len`-byte file, header-heavy: sizes and offsets live near the start,
/// but truncations, flips and zeroed blocks also reach into the data.
fn damages(original: &[u8]) -> Vec<Damage> {
    let len = original.len();
    let mut out = Vec::new();
    if std::str::from_utf8(original).is_ok() {
        for nth in 0..numbers(original).count().min(64) {
            out.extend(NUMBERS.map(|value| Damage::Number { nth, value }));
        }
    }
    let mut cuts: Vec<usize> = [0, 1, 4, 8, 16, 17, 32, 64, 128, 256, 512, 1024, 4096]
        .into_iter()
        .chain([
            len / 8,
            len / 4,
            len / 2,
            3 * len / 4,
            len.saturating_sub(1),
        ])
        .filter(|&n| n < len)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    out.extend(cuts.into_iter().map(Damage::Truncate));
    let header = len.min(1024);
    out.extend((0..header).step_by(7).map(Damage::Flip));
    out.extend([len / 3, len / 2, 2 * len / 3, len - 1].map(Damage::Flip));
    out.extend((0..header).step_by(64).map(|at| Damage::Zero(at, 64)));
    out.extend([len / 2, len.saturating_sub(4096)].map(|at| Damage::Zero(at, 4096)));
    let values = [
        0,
        1 << 31,
        (1 << 32) - 1,
        1 << 62,
        len as u64,
        len as u64 + 1,
        8,
    ];
    for at in (0..header).step_by(4) {
        for width in [4usize, 8] {
            if at + width > len || (width == 8 && at % 8 != 0) {
                continue;
            }
            for value in values {
                if width == 4 && value == 1 << 62 {
                    continue;
                }
                for big_endian in [false, true] {
                    out.push(Damage::Field {
                        at,
                        width,
                        value,
                        big_endian,
                    });
                }
            }
        }
    }
    out
}

/// What one run did wrong, if anything.
enum Failure {
    Panic(String),
    Hang,
    Memory {
        peak: usize,
        limit: usize,
    },
    Budget {
        dataset: usize,
        bytes: u64,
        limit: u64,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Panic(message) => write!(f, "panic: {message}"),
            Failure::Hang => write!(f, "no answer within {TIMEOUT:?}"),
            Failure::Memory { peak, limit } => {
                write!(f, "peak heap {peak} bytes over the budget of {limit}")
            }
            Failure::Budget {
                dataset,
                bytes,
                limit,
            } => write!(
                f,
                "dataset {dataset} declares {bytes} bytes, over the stored budget of {limit}"
            ),
        }
    }
}

/// The logical size a format that must store its pixels may declare for a file of
/// `file_size` bytes: 8 × the file (1-bit and 4-bit data unpack to bytes) plus 1 MiB.
fn stored_budget(file_size: u64) -> u64 {
    file_size.saturating_mul(8).saturating_add(1 << 20)
}

/// Open `path` through the registry, describe every dataset, and read its first and last
/// regions (the whole of it when small). Errors are fine; returns budget violations.
fn exercise(path: &Path, file_size: u64) -> Option<Failure> {
    let registry = emio::registry();
    let Ok((format, datasets)) = registry.open(path, &[] as &[(&str, &str)]) else {
        return None;
    };
    for (i, ds) in datasets.iter().enumerate() {
        if !SPARSE_FORMATS.contains(&format.name()) && ds.nbytes() > stored_budget(file_size) {
            return Some(Failure::Budget {
                dataset: i,
                bytes: ds.nbytes(),
                limit: stored_budget(file_size),
            });
        }
        let _ = emio::json::dataset_info(ds, i, true);
        if ds.nbytes() <= WHOLE_BYTES {
            let _ = ds.sha256();
            continue;
        }
        let chunk = ds.streaming_chunk_shape(REGION_BYTES);
        let mut regions = ds.chunks(&chunk);
        if let Some(first) = regions.next() {
            let _ = ds.read_region_bytes(&first.start, &first.shape);
        }
        let last: Vec<u64> = ds
            .shape()
            .iter()
            .zip(&chunk)
            .map(|(n, c)| n.saturating_sub(*c))
            .collect();
        let _ = ds.read_region_bytes(&last, &chunk);
    }
    None
}

/// Run [`exercise`] on a worker thread with a deadline and heap accounting.
fn run(path: &Path, file_size: u64) -> Option<Failure> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(|| exercise(&owned, file_size));
        let _ = tx.send(result);
    });
    let outcome = match rx.recv_timeout(TIMEOUT) {
        Err(_) => return Some(Failure::Hang),
        Ok(Err(panic)) => Some(Failure::Panic(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        )),
        Ok(Ok(outcome)) => outcome,
    };
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let limit = 2 * file_size as usize + (64 << 20);
    outcome.or((peak > limit).then_some(Failure::Memory { peak, limit }))
}

/// A file (or a directory store) to damage, with the directory its companions are in.
struct Sample {
    /// The file or directory store as shipped.
    source: PathBuf,
}

/// Every entry of `dir/<format>/` for each format folder (files and directory stores),
/// skipping expected readings (`*.json`) and, for the corpus, files above `max_bytes`.
fn samples(dir: &Path, max_bytes: u64) -> Vec<Sample> {
    let mut out = Vec::new();
    let Ok(formats) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut formats: Vec<PathBuf> = formats.flatten().map(|e| e.path()).collect();
    formats.sort();
    for folder in formats.into_iter().filter(|p| p.is_dir()) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_none_or(|e| e != "json"))
            .filter(|p| p.is_dir() || p.metadata().is_ok_and(|m| m.len() <= max_bytes))
            .collect();
        entries.sort();
        out.extend(entries.into_iter().map(|source| Sample { source }));
    }
    out
}

/// Files inside a directory store (or the file itself), relative to it.
fn files_of(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![PathBuf::new()];
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(path) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// Counts of a sweep: runs, failures of each kind (the figures of issue 15's closing
/// note), and the failures themselves: panics, hangs and memory overruns in `failures`,
/// datasets over the size budget (of which one damaged header field can give dozens) in
/// `over_size_failures`, so a report shows every one of the first kinds.
#[derive(Debug, Default)]
struct Tally {
    runs: usize,
    panics: usize,
    hangs: usize,
    over_memory: usize,
    over_size: usize,
    failures: Vec<String>,
    over_size_failures: Vec<String>,
}

impl Tally {
    fn count(&mut self, failure: &Failure) {
        *match failure {
            Failure::Panic(_) => &mut self.panics,
            Failure::Hang => &mut self.hangs,
            Failure::Memory { .. } => &mut self.over_memory,
            Failure::Budget { .. } => &mut self.over_size,
        } += 1;
    }
}

/// Damage every sample every `every`-th way (1: all), in a scratch folder that also holds
/// the sample's companions (symbolic links to its siblings).
fn sweep(samples: &[Sample], every: usize, tally: &mut Tally) {
    for sample in samples {
        let scratch = tempfile::tempdir().unwrap();
        let folder = sample.source.parent().unwrap();
        let name = sample.source.file_name().unwrap();
        for sibling in std::fs::read_dir(folder).unwrap().flatten() {
            let p = sibling.path();
            if p != sample.source && p.is_file() {
                let _ = std::os::unix::fs::symlink(&p, scratch.path().join(sibling.file_name()));
            }
        }
        let target = scratch.path().join(name);
        copy_tree(&sample.source, &target);
        for rel in files_of(&sample.source) {
            let inside = |root: &Path| {
                if rel.as_os_str().is_empty() {
                    root.to_path_buf()
                } else {
                    root.join(&rel)
                }
            };
            let original = std::fs::read(inside(&sample.source)).unwrap();
            if original.is_empty() {
                continue;
            }
            let damaged_path = inside(&target);
            let size = original.len() as u64;
            for (k, damage) in damages(&original).into_iter().enumerate() {
                if k % every != 0 {
                    continue;
                }
                std::fs::write(&damaged_path, damage.apply(&original)).unwrap();
                tally.runs += 1;
                let started = Instant::now();
                if let Some(failure) = run(&target, size) {
                    tally.count(&failure);
                    let line = format!(
                        "{} {}: {damage:?}: {failure} after {:?}",
                        sample.source.display(),
                        rel.display(),
                        started.elapsed()
                    );
                    match failure {
                        Failure::Budget { .. } => tally.over_size_failures.push(line),
                        _ => tally.failures.push(line),
                    }
                    if matches!(failure, Failure::Hang) {
                        // The stuck thread keeps its memory; stop measuring this sample.
                        break;
                    }
                }
            }
            std::fs::write(&damaged_path, &original).unwrap();
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn report(tally: &Tally) {
    println!(
        "damage sweep: {} runs: {} panics, {} hangs, {} over the memory budget, {} over the \
         size budget",
        tally.runs, tally.panics, tally.hangs, tally.over_memory, tally.over_size
    );
    for f in tally
        .failures
        .iter()
        .chain(tally.over_size_failures.iter().take(50))
    {
        println!("  {f}");
    }
    let failed = tally.failures.len() + tally.over_size_failures.len();
    assert!(
        failed == 0,
        "{failed} of {} damaged runs failed (first: {})",
        tally.runs,
        tally
            .failures
            .first()
            .or(tally.over_size_failures.first())
            .unwrap()
    );
}

/// A bounded sample of the sweep over every generated file in `testdata/`.
#[test]
fn damaged_testdata_never_panics_hangs_or_overspends() {
    let _guard = SWEEP.lock().unwrap_or_else(|p| p.into_inner());
    let samples = samples(&root().join("testdata"), u64::MAX);
    assert!(
        samples.len() >= 10,
        "testdata/ holds {} samples; regenerate with `cargo run --example make_testdata`",
        samples.len()
    );
    let mut tally = Tally::default();
    sweep(&samples, 13, &mut tally);
    report(&tally);
}

/// The whole sweep over `testdata/` and every corpus file up to 4 MB (run on demand; it
/// prints the figures of issue 15's closing note), or over the format folders named in
/// `EMIO_DAMAGE_FORMATS`.
#[test]
#[ignore = "minutes long: run with --release -- --ignored --nocapture"]
fn full_damage_sweep() {
    let _guard = SWEEP.lock().unwrap_or_else(|p| p.into_inner());
    let mut samples = samples(&root().join("testdata"), u64::MAX);
    samples.extend(self::samples(&root().join("../shared/corpus"), 4 << 20));
    // EMIO_DAMAGE_FORMATS=tia,emd limits the sweep to those format folders (a rerun after
    // a fix; the whole sweep takes half an hour on one core).
    if let Ok(only) = std::env::var("EMIO_DAMAGE_FORMATS") {
        let only: Vec<&str> = only.split(',').collect();
        samples.retain(|s| {
            let folder = s.source.parent().and_then(Path::file_name);
            folder.is_some_and(|f| only.iter().any(|o| f == *o))
        });
    }
    let mut tally = Tally::default();
    sweep(&samples, 1, &mut tally);
    report(&tally);
}

/// Issue 15, item 1: any 16- or 17-byte file starting `00 00 00 04`, whatever its name,
/// panicked in format detection (the DM sniffer read past the head).
#[test]
fn short_heads_probe_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    for len in 12..=20 {
        for name in ["x.bin", "x.dm4", "x.tif"] {
            let mut head = vec![0u8; len];
            head[3] = 4;
            let path = dir.path().join(name);
            std::fs::write(&path, &head).unwrap();
            assert!(emio::registry()
                .open(&path, &[] as &[(&str, &str)])
                .is_err());
        }
    }
}

/// An ARINA master whose frames declare 32768 x 32768 pixels (the chunks of a 64 x 64
/// frame are all that is stored; the rest reads as the fill value), with, when `mask`, a
/// pixel mask of the same declared size. The dimensions are patched into a generated file.
fn arina_with_huge_frames(dir: &Path, mask: bool) -> PathBuf {
    use emio_h5::writer::{Compression, H5Writer};
    let path = dir.join(if mask {
        "mask_master.h5"
    } else {
        "big_master.h5"
    });
    let mut w = H5Writer::create(&path).unwrap();
    w.create_group("/entry/instrument/detector", vec![])
        .unwrap();
    let frame: Vec<u8> = (0..64u32 * 64).flat_map(|v| v.to_ne_bytes()).collect();
    let frames = emio::Dataset::from_bytes(frame, emio::DType::U32, vec![1, 64, 64]).unwrap();
    let chunked = |w: &mut H5Writer, path: &str, ds: &emio::Dataset, chunk: &[u64]| {
        let order: Vec<usize> = (0..chunk.len()).collect();
        w.write_chunked(
            path,
            ds,
            chunk,
            &order,
            Compression::None,
            &[],
            &emio::NoProgress,
        )
        .unwrap();
    };
    chunked(&mut w, "/entry/data/data_000001", &frames, &[1, 16, 16]);
    if mask {
        let flags =
            emio::Dataset::from_bytes(vec![1u8; 64 * 64], emio::DType::U8, vec![64, 64]).unwrap();
        let at = "/entry/instrument/detector/detectorSpecific/pixel_mask";
        chunked(&mut w, at, &flags, &[16, 16]);
    }
    w.finish().unwrap();
    let small: Vec<u8> = [64u64, 64].iter().flat_map(|v| v.to_le_bytes()).collect();
    let huge: Vec<u8> = [32768u64, 32768]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut bytes = std::fs::read(&path).unwrap();
    let mut patched = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(16).position(|w| w == small) {
        bytes[at + i..at + i + 16].copy_from_slice(&huge);
        at += i + 16;
        patched += 1;
    }
    assert!(patched > 0, "the frame dimensions are in the file");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// An ARINA master declaring frames of 32768 x 32768 uint32 (read as uint16) made every
/// read of a frame convert it whole: a 2 GiB output chunk plus the 4 GiB stored frame
/// (6.3 GB resident for `info --checksum` of a 5 KB file), and a pixel mask of that size
/// was read as 8 GiB of f64. Regions now read only their rectangle of the frames, and the
/// mask is refused as too large to read.
#[test]
fn arina_frames_declared_huge_read_in_bounded_memory() {
    let _guard = SWEEP.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let frames = arina_with_huge_frames(dir.path(), false);
    let size = std::fs::metadata(&frames).unwrap().len();
    assert!(
        run(&frames, size).is_none(),
        "{}",
        run(&frames, size).unwrap()
    );
    let (_, datasets) = emio::registry()
        .open(&frames, &[] as &[(&str, &str)])
        .unwrap();
    let ds = &datasets[0];
    assert_eq!(ds.shape(), [1, 1, 32768, 32768]);
    assert_eq!(ds.dtype(), emio::DType::U16);
    let got = ds.read_region_bytes(&[0, 0, 1, 2], &[1, 1, 2, 3]).unwrap();
    let want: Vec<u8> = [66u16, 67, 68, 130, 131, 132]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    assert_eq!(got, want);
    let far = ds
        .read_region_bytes(&[0, 0, 30000, 30000], &[1, 1, 2, 2])
        .unwrap();
    assert_eq!(far, [0u8; 8]);

    let masked = arina_with_huge_frames(dir.path(), true);
    let size = std::fs::metadata(&masked).unwrap().len();
    assert!(
        run(&masked, size).is_none(),
        "{}",
        run(&masked, size).unwrap()
    );
    let Err(e) = emio::registry().open(&masked, &[] as &[(&str, &str)]) else {
        panic!("a pixel mask of 2^30 pixels opened");
    };
    let e = e.to_string();
    assert!(e.contains("small enough to read as numbers"), "{e}");
}
