//! How the benchmark times a step and the memory it needs: the anonymous RSS sampled while
//! it runs, repeated runs on freshly opened files, thread pools of a given size, and the
//! rate at which new memory can be filled (the ceiling of any read into new memory).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use emio::{DType, Dataset, Result};
use rayon::prelude::*;

use crate::common;

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

/// How often [`measure`] samples the RSS: a step on every core shares them with the
/// sampler, and every 2 ms made MIB -> Zarr 5-7% slower than every 200 ms (each sample
/// reads `/proc/self/status` while the step faults pages into its maps); a buffer the
/// 256 MB target is about takes longer than 20 ms to fill, so a peak that size is seen.
const RSS_SAMPLE: Duration = Duration::from_millis(20);

/// Run `f`, returning its duration and how far the anonymous RSS rose above its level at
/// the start (sampled every [`RSS_SAMPLE`] on a helper thread): the memory the step
/// needed.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, u64) {
    let done = AtomicBool::new(false);
    let baseline = anon_rss();
    let peak = AtomicU64::new(baseline);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(anon_rss(), Ordering::Relaxed);
                std::thread::sleep(RSS_SAMPLE);
            }
        });
        let t = Instant::now();
        let out = f();
        let elapsed = t.elapsed();
        peak.fetch_max(anon_rss(), Ordering::Relaxed);
        done.store(true, Ordering::Relaxed);
        let peak = peak.load(Ordering::Relaxed);
        (out, elapsed, peak.saturating_sub(baseline))
    })
}

/// A step's timed runs, the largest RSS rise among them, and the last run's result.
pub struct Measured<T> {
    /// The timed runs.
    pub timing: common::Timing,
    /// The largest rise of the anonymous RSS during a run.
    pub rss: u64,
    /// What the last run returned.
    pub last: T,
}

/// Run `step` on the first dataset of a fresh open, [`common::runs`] times after one
/// warm-up run (like the `cat` baseline).
pub fn fresh_opens<T>(
    open: &(dyn Fn() -> Result<Vec<Dataset>> + Sync),
    step: impl Fn(&Dataset) -> T,
) -> Measured<T> {
    fresh_opens_after(|| (), open, step)
}

/// [`fresh_opens`] with `prepare` run, untimed, before every run (e.g. removing the last
/// run's output, so that each conversion writes a new one as a user's first does).
pub fn fresh_opens_after<T>(
    prepare: impl Fn(),
    open: &(dyn Fn() -> Result<Vec<Dataset>> + Sync),
    step: impl Fn(&Dataset) -> T,
) -> Measured<T> {
    let mut rss = 0;
    let mut last = None;
    let mut run = || {
        prepare();
        let datasets = open().expect("open");
        let (out, t, r) = measure(|| step(&datasets[0]));
        rss = rss.max(r);
        last = Some(out);
        t
    };
    run();
    let timing = common::Timing::of(run);
    Measured {
        timing,
        rss,
        last: last.expect("runs"),
    }
}

/// Run `f` on a rayon pool of `threads` threads (the engine and the copy kernels size
/// their work by the current pool).
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

/// Median time to allocate a buffer of `n` bytes the way a full read does and fill it on
/// all cores: the ceiling for any read into new memory (in a virtual machine, touching
/// memory the host has not backed yet can be slower than reading a cached file).
pub fn new_memory_fill(n: u64) -> Duration {
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
