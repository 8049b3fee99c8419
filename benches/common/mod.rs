//! Helpers shared by the benchmark binaries: the `cat` baseline and command-line flags.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Time `cat FILE > /dev/null`: the baseline every throughput is compared with.
pub fn cat_time(path: &Path) -> Duration {
    let t = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg("cat \"$1\" > /dev/null")
        .arg("sh")
        .arg(path)
        .status()
        .expect("run cat");
    assert!(status.success());
    t.elapsed()
}

/// The value after `flag` on the command line, if given.
pub fn flag_value(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}
