//! Temporary outputs and what killed processes leave of them.
//!
//! Every output is first written under a recognisable hidden name beside its target,
//! `.emio-tmp-<pid>-<n>.<target name>` (or a staging folder `.emio-tmp-<pid>-<n>` for
//! outputs with companion files). A process killed by SIGKILL or a power cut cannot
//! remove its own; the next write into the same folder removes every emio temporary whose
//! process is gone (or whose PID now belongs to a process started after the file was last
//! written), see [`remove_stale`].

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The prefix of every temporary output name.
pub const TEMP_PREFIX: &str = ".emio-tmp-";

/// The temporary name for the `n`-th output of process `pid`; a temporary file appends
/// `.<target name>` so writers that depend on the extension (`.dm3` versus `.dm4`) see it.
pub fn temp_name(pid: u32, n: u64) -> String {
    format!("{TEMP_PREFIX}{pid}-{n}")
}

/// The PID in an emio temporary name, `None` for any other name.
pub fn temp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let (pid, rest) = rest.split_once('-')?;
    let n = rest.split_once('.').map_or(rest, |(n, _)| n);
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Remove the emio temporaries in `dir` left by processes that are gone; returns what was
/// removed. Files of live emio processes (this one included) are kept. Failures to list or
/// remove are ignored: cleaning up is a courtesy, never a reason to fail a write.
pub fn remove_stale(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_pid(&name.to_string_lossy()) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if pid == own || !process_gone(pid, modified) {
            continue;
        }
        let path = entry.path();
        let done = if meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if done.is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// Whether the process that wrote a temporary last modified at `modified` is gone: no
/// process has its PID, or the one that has it started after the file was written (the
/// PID was reused).
fn process_gone(pid: u32, modified: SystemTime) -> bool {
    match process_start(pid) {
        Liveness::Gone => true,
        // The start time has a resolution of a clock tick and boot time of a second.
        Liveness::Started(start) => modified + Duration::from_secs(2) < start,
        Liveness::Unknown => false,
    }
}

/// What is known of the process with a PID.
enum Liveness {
    /// No such process.
    Gone,
    /// Alive, started at this time.
    Started(SystemTime),
    /// Alive or unknowable (start time not available on this system).
    Unknown,
}

#[cfg(target_os = "linux")]
fn process_start(pid: u32) -> Liveness {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return if Path::new("/proc/self").exists() {
            Liveness::Gone
        } else {
            Liveness::Unknown
        };
    };
    // Field 22 (start time in clock ticks after boot) counts from the command name's
    // closing parenthesis, which is field 2 and may itself hold spaces.
    let ticks = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|t| t.parse::<u64>().ok());
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|t| t.trim().parse::<u64>().ok())
    });
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    match (ticks, boot) {
        (Some(ticks), Some(boot)) if hz > 0 => Liveness::Started(
            SystemTime::UNIX_EPOCH
                + Duration::from_secs(boot)
                + Duration::from_secs_f64(ticks as f64 / hz as f64),
        ),
        _ => Liveness::Unknown,
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn process_start(pid: u32) -> Liveness {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return Liveness::Unknown;
    };
    // SAFETY: signal 0 only checks whether the process exists; nothing is delivered.
    let r = unsafe { libc::kill(pid, 0) };
    if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        Liveness::Gone
    } else {
        Liveness::Unknown
    }
}

#[cfg(not(unix))]
fn process_start(_pid: u32) -> Liveness {
    Liveness::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_the_pid() {
        let name = temp_name(4321, 7);
        assert_eq!(temp_pid(&format!("{name}.scan.dm4")), Some(4321));
        assert_eq!(temp_pid(&name), Some(4321));
        assert_eq!(temp_pid(".emio-tmp-x-1.a"), None);
        assert_eq!(temp_pid("scan.dm4"), None);
    }

    #[test]
    fn only_temporaries_of_gone_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        let mut child = child;
        child.wait().unwrap();
        let stale = dir.path().join(format!("{}.a.npy", temp_name(dead, 0)));
        let stale_dir = dir.path().join(format!("{}.b.zarr", temp_name(dead, 1)));
        let mine = dir
            .path()
            .join(format!("{}.c.npy", temp_name(std::process::id(), 0)));
        let other = dir.path().join("d.npy");
        std::fs::write(&stale, b"x").unwrap();
        std::fs::create_dir_all(stale_dir.join("data")).unwrap();
        std::fs::write(&mine, b"x").unwrap();
        std::fs::write(&other, b"x").unwrap();
        let mut removed = remove_stale(dir.path());
        removed.sort();
        assert_eq!(removed, vec![stale.clone(), stale_dir.clone()]);
        assert!(!stale.exists() && !stale_dir.exists());
        assert!(mine.exists() && other.exists());
    }
}
