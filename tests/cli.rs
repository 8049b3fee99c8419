//! `emconvert` end to end: `formats`, `info` (text and the `--json` schema), conversion,
//! and the failure contract (one-line error, non-zero exit, no output file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emio::{DType, Dataset, NoProgress, Registry};
use serde_json::Value;

fn emconvert(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emconvert"))
        .args(args)
        .output()
        .expect("run emconvert")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small u16 NPY file with known values 0..n.
fn ramp(dir: &Path, shape: &[u64]) -> PathBuf {
    let n: u64 = shape.iter().product();
    let bytes: Vec<u8> = (0..n as u16).flat_map(|v| v.to_ne_bytes()).collect();
    let ds = Dataset::from_bytes(bytes, DType::U16, shape.to_vec()).unwrap();
    let path = dir.join("ramp.npy");
    let npy = emio::registry().by_name("npy").unwrap();
    Registry::write(
        npy.as_ref(),
        &ds,
        &path,
        &[] as &[(&str, &str)],
        true,
        &NoProgress,
    )
    .unwrap();
    path
}

fn assert_one_line_failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error expected: {err:?}"
    );
    assert!(err.starts_with("emconvert: error: "), "{err}");
    err
}

#[test]
fn formats_lists_every_registered_format() {
    let out = emconvert(&["formats"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for f in emio::registry().formats() {
        assert!(
            text.lines().any(|l| l.starts_with(f.name())),
            "{} missing:\n{text}",
            f.name()
        );
    }
}

#[test]
fn info_json_follows_the_schema_and_checksum_is_numpys() {
    let dir = tempfile::tempdir().unwrap();
    let path = ramp(dir.path(), &[2, 3, 4]);
    let out = emconvert(&["info", "--json", "--checksum", "--original", s(&path)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format"], "npy");
    assert_eq!(doc["file"], s(&path));
    let ds = &doc["datasets"][0];
    assert_eq!(ds["index"], 0);
    assert_eq!(ds["dtype"], "<u2");
    assert_eq!(ds["shape"], serde_json::json!([2, 3, 4]));
    assert_eq!(ds["axes"].as_array().unwrap().len(), 3);
    for (axis, size) in ds["axes"].as_array().unwrap().iter().zip([2, 3, 4]) {
        assert_eq!(axis["size"], size);
        assert_eq!(axis["scale"], 1.0);
        assert_eq!(axis["offset"], 0.0);
        assert_eq!(axis["navigate"], false);
    }
    assert_eq!(ds["metadata"]["General"]["title"], "ramp");
    assert!(ds["original_metadata"].is_object());
    // sha256 of the little-endian bytes of np.arange(24, dtype='<u2'), as numpy gives it:
    // hashlib.sha256(np.arange(24, dtype='<u2').tobytes()).hexdigest()
    let expected = {
        use sha2::Digest;
        let bytes: Vec<u8> = (0u16..24).flat_map(|v| v.to_le_bytes()).collect();
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(ds["sha256"], expected.as_str());
    let text = emconvert(&["info", s(&path)]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("uint16") && text.contains("[2, 3, 4]"),
        "{text}"
    );
}

#[test]
fn converts_with_the_shorthand_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let input = ramp(dir.path(), &[3, 5]);
    let output = dir.path().join("copy.npy");
    let out = emconvert(&[s(&input), s(&output)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = emio::open(&input).unwrap()[0].sha256().unwrap();
    let b = emio::open(&output).unwrap()[0].sha256().unwrap();
    assert_eq!(a, b);
    let err = assert_one_line_failure(&emconvert(&["convert", s(&input), s(&output)]));
    assert!(err.contains("exists"), "{err}");
    assert!(emconvert(&["convert", "--force", s(&input), s(&output)])
        .status
        .success());
}

#[cfg(feature = "ripple")]
#[test]
fn outputs_with_companions_are_written_and_replaced_together() {
    let dir = tempfile::tempdir().unwrap();
    let input = ramp(dir.path(), &[4, 6]);
    let output = dir.path().join("pair.rpl");
    let raw = dir.path().join("pair.raw");
    assert!(emconvert(&[s(&input), s(&output)]).status.success());
    assert!(output.is_file() && raw.is_file());
    let a = emio::open(&input).unwrap()[0].sha256().unwrap();
    assert_eq!(emio::open(&output).unwrap()[0].sha256().unwrap(), a);
    // The companion alone is enough to refuse without --force.
    std::fs::remove_file(&output).unwrap();
    let err = assert_one_line_failure(&emconvert(&[s(&input), s(&output)]));
    assert!(err.contains("pair.raw") && err.contains("exists"), "{err}");
    assert!(!output.exists());
    assert!(emconvert(&["convert", "--force", s(&input), s(&output)])
        .status
        .success());
    // A failed write (unsupported data) leaves neither file nor staging folder.
    let complex = dir.path().join("complex.npy");
    let c = Dataset::from_bytes(vec![0; 32], DType::C64, vec![4]).unwrap();
    let npy = emio::registry().by_name("npy").unwrap();
    Registry::write(
        npy.as_ref(),
        &c,
        &complex,
        &[] as &[(&str, &str)],
        false,
        &NoProgress,
    )
    .unwrap();
    let bad = dir.path().join("bad.rpl");
    assert_one_line_failure(&emconvert(&[s(&complex), s(&bad)]));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("bad.") || n.contains("emio-tmp")),
        "{names:?}"
    );
}

#[test]
fn broken_inputs_give_one_line_errors_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = ramp(dir.path(), &[4, 4]);
    let bytes = std::fs::read(&input).unwrap();
    let truncated = dir.path().join("truncated.npy");
    std::fs::write(&truncated, &bytes[..bytes.len() - 3]).unwrap();
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"this is not a microscopy file").unwrap();
    let empty = dir.path().join("empty.npy");
    std::fs::write(&empty, b"").unwrap();
    for (bad, what) in [
        (&truncated, "malformed"),
        (&garbage, "no format"),
        (&empty, "malformed"),
    ] {
        let output = dir.path().join("out.npy");
        let err = assert_one_line_failure(&emconvert(&[s(bad), s(&output)]));
        assert!(err.contains(s(bad)), "error must name the file: {err}");
        assert!(err.contains(what), "{err}");
        assert!(!output.exists(), "no output after a failure");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("emio-tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind");
        assert_one_line_failure(&emconvert(&["info", s(bad)]));
    }
    let missing = dir.path().join("missing.npy");
    assert_one_line_failure(&emconvert(&["info", s(&missing)]));
}

#[test]
fn options_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let input = ramp(dir.path(), &[2, 2]);
    let err = assert_one_line_failure(&emconvert(&["info", "-o", "bogus=1", s(&input)]));
    assert!(err.contains("bogus"), "{err}");
    let err = assert_one_line_failure(&emconvert(&[
        s(&input),
        s(&dir.path().join("x.unknownext")),
    ]));
    assert!(err.contains("no writer"), "{err}");
    let err = assert_one_line_failure(&emconvert(&[
        "convert",
        "--dataset",
        "3",
        s(&input),
        s(&dir.path().join("y.npy")),
    ]));
    assert!(err.contains("out of range"), "{err}");
}

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
            start.elapsed().as_secs() < 30,
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
fn converting_a_file_onto_itself_is_refused_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let input = ramp(dir.path(), &[3, 4]);
    let before = std::fs::read(&input).unwrap();
    let hard = dir.path().join("hard.npy");
    std::fs::hard_link(&input, &hard).unwrap();
    let soft = dir.path().join("soft.npy");
    std::os::unix::fs::symlink(&input, &soft).unwrap();
    for output in [&input, &hard, &soft] {
        let err =
            assert_one_line_failure(&emconvert(&["convert", "--force", s(&input), s(output)]));
        assert!(err.contains(s(&input)) && err.contains(s(output)), "{err}");
        assert!(err.contains("same file"), "{err}");
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);
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

#[test]
fn the_shorthand_does_not_eat_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("file.npy");
    for args in [vec!["check", s(&target)], vec!["chek", "--help"]] {
        let out = emconvert(&args);
        let err = assert_one_line_failure(&out);
        assert!(
            err.contains(&format!("no such command or file: {}", args[0])),
            "{err}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).is_empty());
    }
    let err = assert_one_line_failure(&emconvert(&["inf", s(&target)]));
    assert!(err.contains("did you mean `emconvert info`"), "{err}");
    assert!(!target.exists());
}

#[test]
fn info_describes_several_files_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    let a = ramp(dir.path(), &[2, 3]);
    let b = dir.path().join("b.npy");
    std::fs::copy(&a, &b).unwrap();
    let bad = dir.path().join("c.npy");
    std::fs::write(&bad, b"not npy").unwrap();
    let pattern = dir.path().join("*.npy");
    let out = emconvert(&["info", s(&pattern)]);
    assert!(
        !out.status.success(),
        "a failing file makes the exit non-zero"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("{}: npy", s(&b))), "{text}");
    assert!(text.contains(&format!("{}: npy", s(&a))), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(s(&bad)), "{err}");
    let out = emconvert(&["info", "--json", s(&a), s(&bad), s(&b)]);
    assert!(!out.status.success());
    let docs: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 3, "JSON Lines: one document per file");
    assert_eq!(docs[0]["file"], s(&a));
    assert!(docs[1]["error"].as_str().unwrap().contains(s(&bad)));
    assert_eq!(docs[2]["datasets"][0]["shape"], serde_json::json!([2, 3]));
}

#[test]
fn info_original_prints_the_header_tree_readably() {
    let dir = tempfile::tempdir().unwrap();
    let input = ramp(dir.path(), &[2, 3]);
    let out = emconvert(&["info", "--original", s(&input)]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let section = text
        .split("original metadata:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no original metadata section: {text}"));
    assert!(
        section
            .lines()
            .any(|l| l.trim_start().starts_with("descr: <u2")),
        "{section}"
    );
}
