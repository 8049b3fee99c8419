//! Helpers shared by the benchmark binaries: repeated timings (median and spread), the
//! `cat` baseline measured the same way as emio's figures, and command-line flags.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Timed runs of every figure (the median is reported, after one untimed warm-up run):
/// `--runs N`, 3 unless given (more steady the figures of small files, whose runs take
/// tens of milliseconds).
pub fn runs() -> usize {
    static RUNS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *RUNS.get_or_init(|| {
        flag_value("--runs").map_or(3, |n| {
            n.parse::<usize>().expect("--runs takes a number").max(1)
        })
    })
}

/// The durations of repeated runs of one step.
pub struct Timing {
    runs: Vec<Duration>,
}

impl Timing {
    /// Time `step` [`runs`] times.
    pub fn of(mut step: impl FnMut() -> Duration) -> Self {
        let mut runs: Vec<Duration> = (0..runs()).map(|_| step()).collect();
        runs.sort();
        Timing { runs }
    }

    /// The median run.
    pub fn median(&self) -> Duration {
        self.runs[self.runs.len() / 2]
    }

    /// The fastest and slowest run, for the printed spread.
    pub fn spread(&self) -> String {
        format!(
            "{:.3}-{:.3} s",
            self.runs[0].as_secs_f64(),
            self.runs[self.runs.len() - 1].as_secs_f64()
        )
    }
}

/// One `cat FILE > /dev/null`, timed without a shell: `cat` is started directly with its
/// output on `/dev/null`.
fn cat_once(path: &Path) -> Duration {
    let null = std::fs::File::create("/dev/null").expect("open /dev/null");
    let t = Instant::now();
    let status = Command::new("cat")
        .arg(path)
        .stdout(Stdio::from(null))
        .status()
        .expect("run cat");
    let elapsed = t.elapsed();
    assert!(status.success(), "cat {} failed", path.display());
    elapsed
}

/// The baseline every throughput is compared with, measured like emio's figures: one
/// warm-up run (page cache), then the median of [`runs`] runs.
pub fn cat_timing(path: &Path) -> Timing {
    cat_once(path);
    Timing::of(|| cat_once(path))
}

/// The value after `flag` on the command line, if given.
pub fn flag_value(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}
