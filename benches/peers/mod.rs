//! The Python side of the benchmark (`--python PY`): files written by HyperSpy itself, and
//! the peers' timings taken in the same run (h5py's reads, the usual ways to save a MIB
//! file to Zarr).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use emio::{Dataset, NoProgress, Registry};

use crate::common;

/// The helper that writes the `rsciio` rows with HyperSpy and times h5py.
const RSCIIO_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/rsciio_h5.py");
/// The helper that times numpy memmap → zarr-python and HyperSpy's `.zspy` save.
const ZARR_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/zarr_peers.py");

/// `python script args...`, its standard output or why it failed.
fn run(python: &str, script: &str, args: &[&str]) -> std::result::Result<String, String> {
    let out = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{script} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Write `ds` to `path` with HyperSpy (`kind` `emd` or `hspy`, gzip or not), running
/// `python`: the values go through an `.npy` file emio writes beside `path`.
pub fn rsciio_write(
    python: &str,
    kind: &str,
    gzip: bool,
    ds: &Dataset,
    path: &Path,
) -> std::result::Result<(), String> {
    let npy = path.with_extension("values.npy");
    let npy_format = emio::registry().by_name("npy").map_err(|e| e.to_string())?;
    Registry::write(
        npy_format.as_ref(),
        ds,
        &npy,
        &[] as &[(&str, &str)],
        true,
        &NoProgress,
    )
    .map_err(|e| e.to_string())?;
    let written = run(
        python,
        RSCIIO_SCRIPT,
        &[
            "write",
            kind,
            if gzip { "1" } else { "0" },
            &npy.to_string_lossy(),
            &path.to_string_lossy(),
        ],
    );
    let _ = std::fs::remove_file(&npy);
    written.map(|_| ())
}

/// A peer's timed runs: median and the printed spread.
pub struct PeerTiming {
    /// The median run.
    pub median: Duration,
    /// Fastest-slowest, as the benchmark prints spreads.
    pub spread: String,
}

impl PeerTiming {
    fn of(secs: &[f64]) -> PeerTiming {
        PeerTiming {
            median: Duration::from_secs_f64(secs[0]),
            spread: format!("{:.3}-{:.3} s", secs[1], secs[2]),
        }
    }
}

/// h5py's full read of the file at `path` (median of [`common::runs`] after a warm-up, in
/// one Python process).
pub fn h5py_timing(python: &str, path: &Path) -> PeerTiming {
    let out = run(
        python,
        RSCIIO_SCRIPT,
        &["h5py", &path.to_string_lossy(), &common::runs().to_string()],
    )
    .expect("the h5py timing");
    let secs: Vec<f64> = out
        .split_whitespace()
        .map(|t| t.parse().expect("seconds"))
        .collect();
    PeerTiming::of(&secs)
}

/// The two usual ways to save the MIB file at `mib` (of logical `shape`) to Zarr, timed
/// with outputs in `dir`: numpy memmap → zarr-python (Blosc lz4 + shuffle, `chunks`, one
/// scan row per write), and HyperSpy's lazy load and `.zspy` save; each the timing or why
/// it failed in this Python.
pub struct ZarrPeers {
    /// numpy memmap → zarr-python.
    pub memmap: std::result::Result<PeerTiming, String>,
    /// HyperSpy lazy load + `.zspy` save.
    pub hyperspy: std::result::Result<PeerTiming, String>,
}

/// Time [`ZarrPeers`] on `mib` (see there).
pub fn zarr_peers(
    python: &str,
    mib: &Path,
    shape: &[u64],
    chunks: &[u64],
    dir: &Path,
) -> std::result::Result<ZarrPeers, String> {
    let joined = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join("x");
    let out = run(
        python,
        ZARR_SCRIPT,
        &[
            &mib.to_string_lossy(),
            &joined(shape),
            &joined(chunks),
            &dir.to_string_lossy(),
            &common::runs().to_string(),
        ],
    )?;
    let doc: serde_json::Value = serde_json::from_str(out.trim()).map_err(|e| e.to_string())?;
    let timing = |key: &str| -> std::result::Result<PeerTiming, String> {
        if let Some(error) = doc[key].as_str() {
            return Err(error.to_string());
        }
        doc[key]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .filter(|v: &Vec<f64>| v.len() == 3)
            .map(|secs| PeerTiming::of(&secs))
            .ok_or_else(|| format!("{ZARR_SCRIPT}: no {key} timing in {out}"))
    };
    Ok(ZarrPeers {
        memmap: timing("memmap"),
        hyperspy: timing("hyperspy"),
    })
}
