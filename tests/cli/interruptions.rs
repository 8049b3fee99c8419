//! Conversions that do not finish: termination signals, a closed pipe, an input truncated
//! or rewritten while it is read, and temporaries left by killed runs. Nothing half
//! written is ever left behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{emconvert, ramp, s};

/// An NPY file of `shape` u16 zeros whose data is a hole (no disk space used), for
/// conversions that must run long enough to be interrupted.
fn sparse_npy(dir: &Path, shape: &[u64]) -> PathBuf {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let mut header = format!(
        "{{'descr': '<u2', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    let path = dir.join("big.npy");
    std::fs::write(&path, &bytes).unwrap();
    let n: u64 = shape.iter().product();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(bytes.len() as u64 + 2 * n).unwrap();
    path
}

/// The emio temporaries in `dir`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".emio-tmp-"))
        .map(|e| e.path())
        .collect()
}

/// Start a conversion that takes seconds and wait until its temporary output exists.
fn start_long_conversion(dir: &Path) -> std::process::Child {
    let input = sparse_npy(dir, &[1024, 1024, 1024]);
    let child = Command::new(env!("CARGO_BIN_EXE_emconvert"))
        .args([s(&input), s(&dir.join("out.zarr")), "-w", "compressor=gzip"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while temporaries(dir).is_empty() {
        assert!(
            start.elapsed().as_secs() < 120,
            "no temporary output appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

#[test]
fn termination_signals_clean_up_and_exit_128_plus_the_signal() {
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let dir = tempfile::tempdir().unwrap();
        let child = start_long_conversion(dir.path());
        let sent = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {err}");
        assert!(err.contains(&format!("SIG{signal}")), "{err}");
        assert!(
            temporaries(dir.path()).is_empty(),
            "SIG{signal} left a temporary"
        );
        assert!(!dir.path().join("out.zarr").exists());
    }
}

/// Convert a 2 GiB sparse NPY to `out.npy` and `damage` the input as soon as the
/// temporary output appears; the run must fail naming the input, with no output and no
/// temporary left.
fn convert_while_the_input_changes(damage: impl Fn(&Path)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = sparse_npy(dir.path(), &[1024, 1024, 1024]);
    let child = Command::new(env!("CARGO_BIN_EXE_emconvert"))
        .args([s(&input), s(&dir.path().join("out.npy"))])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while temporaries(dir.path()).is_empty() {
        assert!(
            start.elapsed().as_secs() < 120,
            "no temporary output appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    damage(&input);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "the changed input went unnoticed: {err}"
    );
    assert!(err.contains(s(&input)) && err.contains("changed"), "{err}");
    assert!(
        temporaries(dir.path()).is_empty(),
        "a temporary was left: {err}"
    );
    assert!(!dir.path().join("out.npy").exists());
    format!("{:?}: {err}", out.status.code())
}

#[test]
fn an_input_truncated_during_a_conversion_is_reported_and_nothing_is_left() {
    // Mapped bytes that vanish raise SIGBUS (exit 135); a truncation after the last read
    // is caught by the size check before the rename (exit 1).
    let outcome = convert_while_the_input_changes(|input| {
        let file = std::fs::OpenOptions::new().write(true).open(input).unwrap();
        file.set_len(4096).unwrap();
    });
    assert!(
        outcome.starts_with("Some(135)") || outcome.starts_with("Some(1)"),
        "{outcome}"
    );
}

#[test]
fn an_input_rewritten_in_place_during_a_conversion_discards_the_output() {
    let outcome = convert_while_the_input_changes(|input| {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(input).unwrap();
        file.seek(SeekFrom::Start(1 << 20)).unwrap();
        file.write_all(b"changed").unwrap();
        // Coarse file-system clocks: make the change visible in the modification time.
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
    });
    assert!(outcome.starts_with("Some(1)"), "{outcome}");
    assert!(outcome.contains("modification time"), "{outcome}");
}

#[test]
fn temporaries_of_killed_runs_are_removed_by_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_long_conversion(dir.path());
    child.kill().unwrap(); // SIGKILL: nothing can clean up now
    child.wait().unwrap();
    let left = temporaries(dir.path());
    assert_eq!(left.len(), 1, "SIGKILL leaves its temporary");
    let elsewhere = tempfile::tempdir().unwrap();
    let input = ramp(elsewhere.path(), &[2, 2]);
    let out = emconvert(&[s(&input), s(&dir.path().join("next.npy"))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("removed") && err.contains(s(&left[0])),
        "must say what it removed: {err}"
    );
    assert!(temporaries(dir.path()).is_empty());
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let input = ramp(dir.path(), &[2, 2]);
    let args: Vec<&str> = std::iter::once("info")
        .chain(std::iter::repeat_n(s(&input), 3000))
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_emconvert"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take()); // like `| head -c 16`
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{:?} {err}", out.status);
}
