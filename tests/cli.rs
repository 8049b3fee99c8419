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
