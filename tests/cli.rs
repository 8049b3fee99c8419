//! `emconvert` end to end: `formats`, `info` (text and the `--json` schema), conversion,
//! and the failure contract (one-line error, non-zero exit, no output file); conversions
//! interrupted or fed a changing input in `cli/interruptions.rs`, the other verbs in
//! `cli/verbs.rs`.

#[path = "cli/interruptions.rs"]
mod interruptions;
#[path = "cli/verbs.rs"]
mod verbs;

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
    write_file(&ds, &path);
    path
}

/// Write `ds` to `path` in the format its extension names (replacing it).
fn write_file(ds: &Dataset, path: &Path) {
    let writer = emio::registry().writer_for(path, None).unwrap();
    Registry::write(
        writer.as_ref(),
        ds,
        path,
        &[] as &[(&str, &str)],
        true,
        &NoProgress,
    )
    .unwrap();
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
fn formats_options_lists_each_word_of_a_choice_with_its_meaning() {
    let out = emconvert(&["formats", "--options"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mode = text
        .lines()
        .position(|l| l.trim_start().starts_with("write -w mode="))
        .expect("the MRC writer's mode option");
    let lines: Vec<&str> = text.lines().skip(mode).take(3).collect();
    assert_eq!(
        lines,
        [
            "    write -w mode=<one of auto|0|1|2|3|4|6|12> (default auto): MRC mode (data type of the file)",
            "        auto: from the dtype",
            "        0: int8",
        ]
    );
    // Words that say it all get no line of their own (NumPy dtype names), type codes do.
    assert!(!text.contains("        uint8: "), "{text}");
    assert!(text.contains("        u1: uint8"), "{text}");
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
    write_file(&c, &complex);
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
fn the_shorthand_does_not_eat_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("file.npy");
    for args in [vec!["plot", s(&target)], vec!["plto", "--help"]] {
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
