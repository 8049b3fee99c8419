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
    write_npy(&ds, &path);
    path
}

/// Write `ds` to `path` as `.npy` (replacing it).
fn write_npy(ds: &Dataset, path: &Path) {
    let npy = emio::registry().by_name("npy").unwrap();
    Registry::write(
        npy.as_ref(),
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
    write_npy(&c, &complex);
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

/// Every value of a dataset as f64 (test files are small).
fn all_values(ds: &Dataset) -> Vec<f64> {
    let a = ds.read_region(&vec![0; ds.ndim()], ds.shape()).unwrap();
    a.to_f64().unwrap().iter().copied().collect()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn stats_agree_with_a_direct_computation() {
    let dir = tempfile::tempdir().unwrap();
    let path = ramp(dir.path(), &[4, 5, 6]);
    let sum_path = dir.path().join("pattern.npy");
    let out = emconvert(&[
        "stats",
        "--json",
        "--bins",
        "8",
        "--sum",
        "navigation",
        "--out",
        s(&sum_path),
        s(&path),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = &json_lines(&out)[0];
    let v: Vec<f64> = (0..120).map(f64::from).collect();
    let mean = v.iter().sum::<f64>() / 120.0;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 120.0).sqrt();
    assert_eq!(doc["count"], 120);
    assert_eq!(doc["min"], 0.0);
    assert_eq!(doc["max"], 119.0);
    assert!((doc["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert!((doc["std"].as_f64().unwrap() - std).abs() < 1e-9);
    assert_eq!(doc["nan"], 0);
    let counts: Vec<u64> = serde_json::from_value(doc["histogram"]["counts"].clone()).unwrap();
    assert_eq!(counts.iter().sum::<u64>(), 120);
    // The ramp's axes are all signal axes: a sum over navigation keeps every value.
    let sum = &emio::open(&sum_path).unwrap()[0];
    assert_eq!(all_values(sum), v);
    // The text view names every statistic; an existing --out is refused.
    let out = emconvert(&["stats", "--sum", "signal", "--out", s(&sum_path), s(&path)]);
    assert_one_line_failure(&out);
    let text = emconvert(&["stats", s(&path)]);
    let text = String::from_utf8_lossy(&text.stdout);
    for word in ["min 0", "max 119", "NaN 0", "percentiles", "histogram"] {
        assert!(text.contains(word), "{word} missing: {text}");
    }
}

#[test]
fn stats_count_a_histogram_by_default_only_where_it_comes_with_the_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    // 16-bit data: 16 bins by default, counted in the pass that takes the summary.
    let counted = ramp(dir.path(), &[4, 8, 8]);
    let doc = &json_lines(&emconvert(&["stats", "--json", s(&counted)]))[0];
    let counts: Vec<u64> = serde_json::from_value(doc["histogram"]["counts"].clone()).unwrap();
    assert_eq!(counts, vec![16; emio::stats::DEFAULT_BINS]);
    // Float data: none unless asked (it takes a second pass), and the text says how.
    let floats: Vec<u8> = (0..60u16)
        .flat_map(|v| f32::from(v).to_ne_bytes())
        .collect();
    let ds = Dataset::from_bytes(floats, DType::F32, vec![6, 10]).unwrap();
    let path = dir.path().join("floats.npy");
    write_npy(&ds, &path);
    let doc = &json_lines(&emconvert(&["stats", "--json", s(&path)]))[0];
    assert_eq!(doc["count"], 60);
    assert!(doc.get("histogram").is_none(), "{doc}");
    let text = emconvert(&["stats", s(&path)]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("--bins 16"), "{text}");
    assert!(!text.contains("percentiles"), "{text}");
    let doc = &json_lines(&emconvert(&["stats", "--json", "--bins", "6", s(&path)]))[0];
    let counts: Vec<u64> = serde_json::from_value(doc["histogram"]["counts"].clone()).unwrap();
    assert_eq!(counts, vec![10; 6]);
    // Asking for none leaves the 16-bit histogram out too, without the hint.
    let out = emconvert(&["stats", "--bins", "0", s(&counted)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("histogram"), "{text}");
}

#[test]
fn stats_of_corpus_files_match_their_values() {
    let corpus = emio_core::corpus::corpus_dir();
    let files = [
        corpus.join("dm/1D_test-1.dm3"),
        corpus.join("mrc/HAADFscan.mrc"),
        corpus.join("mib/001_4x2_6bit.mib"),
    ];
    for file in files.iter().filter(|f| f.exists()) {
        let ds = &emio::open(file).unwrap()[0];
        let v: Vec<f64> = all_values(ds);
        let out = emconvert(&["stats", "--json", "--dataset", "0", s(file)]);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = &json_lines(&out)[0];
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert_eq!(doc["count"], v.len(), "{}", file.display());
        assert_eq!(doc["min"].as_f64().unwrap(), min, "{}", file.display());
        let rel = (doc["mean"].as_f64().unwrap() - mean).abs() / mean.abs().max(1.0);
        assert!(
            rel < 1e-9,
            "{}: mean {} vs {mean}",
            file.display(),
            doc["mean"]
        );
    }
    assert!(
        files.iter().any(|f| f.exists()),
        "none of {files:?} in the corpus"
    );
}

#[test]
fn ls_lists_datasets_and_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    ramp(dir.path(), &[2, 3]);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    ramp(&dir.path().join("sub"), &[4, 4, 4]);
    std::fs::write(dir.path().join("broken.dm4"), b"not a DM file at all").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"nothing to see").unwrap();
    let out = emconvert(&["ls", "--json", s(dir.path())]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreadable file makes the exit code 1"
    );
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows
        .iter()
        .any(|r| r["error"].is_string() && r["file"].as_str().unwrap().ends_with("broken.dm4")));
    let ok = rows.iter().find(|r| r["format"] == "npy").unwrap();
    assert_eq!(ok["shape"], serde_json::json!([2, 3]));
    assert_eq!(ok["dtype"], "uint16");
    let out = emconvert(&[
        "ls",
        "--json",
        "--recursive",
        "--sort",
        "size",
        "--reverse",
        s(dir.path()),
    ]);
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[0]["shape"],
        serde_json::json!([4, 4, 4]),
        "largest first"
    );
    let text = emconvert(&["ls", "-r", s(dir.path())]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.starts_with("FILE"), "{text}");
    assert!(
        text.contains("UNREADABLE") && !text.contains("notes.txt"),
        "{text}"
    );
}

#[test]
fn ls_lists_the_whole_corpus() {
    let corpus = emio_core::corpus::corpus_dir();
    let out = emconvert(&["ls", "--json", "--recursive", s(&corpus)]);
    let rows = json_lines(&out);
    let readable: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["format"].as_str()).collect();
    for format in ["dm", "mrc", "mib", "tiff", "emd", "tia", "msa", "hspy"] {
        assert!(readable.contains(format), "no {format} dataset listed");
    }
    for row in &rows {
        assert!(row["file"].is_string());
        assert!(row["error"].is_string() || row["shape"].is_array(), "{row}");
        // The readings beside the data (JSON quoting `record-by`, `data-type`, ...) are
        // no format's files.
        assert!(
            !row["file"].as_str().unwrap().ends_with(".expected.json"),
            "{row}"
        );
    }
}

#[test]
fn check_exit_codes_say_valid_problems_or_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let good = ramp(dir.path(), &[8, 8]);
    let out = emconvert(&["check", s(&good)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
    let garbage = dir.path().join("garbage.dm4");
    std::fs::write(&garbage, b"not a DM file at all").unwrap();
    let out = emconvert(&["check", "--json", s(&garbage)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&out)[0]["verdict"], "unreadable");
    let out = emconvert(&["check", s(&good), s(&garbage)]);
    assert_eq!(out.status.code(), Some(2), "the worst verdict wins");
}

#[test]
fn check_runs_over_the_whole_corpus() {
    let corpus = emio_core::corpus::corpus_dir();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&corpus).unwrap().flatten() {
        if entry.path().is_dir() {
            for file in std::fs::read_dir(entry.path()).unwrap().flatten() {
                files.push(file.path());
            }
        }
    }
    files.sort();
    let mut verdicts = std::collections::BTreeMap::new();
    let mut with_problems = Vec::new();
    for file in &files {
        let report = emio::check::check(file, &[] as &[(&str, &str)], false, &NoProgress);
        let doc = report.to_json();
        assert_eq!(doc["file"], s(file));
        for problem in doc["problems"].as_array().unwrap() {
            assert!(!problem["why"].as_str().unwrap().is_empty(), "{doc}");
        }
        *verdicts
            .entry(format!("{:?}", report.verdict()))
            .or_insert(0) += 1;
        if report.verdict() == emio::check::Verdict::Problems {
            with_problems.push(file.clone());
        }
        // A file that reads through the conformance test must not be called unreadable.
        if file
            .extension()
            .is_some_and(|e| e == "dm3" || e == "dm4" || e == "mrc")
        {
            assert_ne!(report.verdict(), emio::check::Verdict::Unreadable, "{doc}");
        }
    }
    assert!(
        verdicts.get("Valid").copied().unwrap_or(0) > 50,
        "{verdicts:?}"
    );
    // Exactly the files the known-differences notes name have problems.
    let notes: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known_differences.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let noted: Vec<PathBuf> = notes["corpus_problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| corpus.join(n["file"].as_str().unwrap()))
        .collect();
    assert_eq!(with_problems, noted);
    // The CLI gives the same verdict as the library, as its exit code, and explains.
    let msa = noted
        .iter()
        .find(|f| f.ends_with("msa/example1_wrong_date.msa"));
    let out = emconvert(&["check", s(msa.unwrap())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("DATE"));
}

#[test]
fn batch_conversion_reports_failures_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let first = ramp(&a, &[3, 4]);
    let second = b.join("other.npy");
    std::fs::copy(ramp(&b, &[2, 2]), &second).unwrap();
    let clash = b.join("ramp.npy");
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, b"\x93NUMPY garbage").unwrap();
    let out_dir = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["convert", s(&first), s(&second), s(&clash), s(&bad)];
        args.extend_from_slice(&["--out-dir", s(&out_dir), "--to", "zarr"]);
        args.extend_from_slice(extra);
        emconvert(&args)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1), "failures give a non-zero exit");
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(table.contains("2 converted, 2 failed"), "{table}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("would also be written from"), "{stderr}");
    assert!(stderr.contains("bad.npy"), "{stderr}");
    let written = &emio::open(out_dir.join("ramp.zarr")).unwrap()[0];
    assert_eq!(written.shape(), &[3, 4]);
    assert!(out_dir.join("other.zarr").exists());
    // Again: the outputs exist, so nothing is replaced without --force.
    let out = run(&[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 converted, 4 failed"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    let out = run(&["--force", "--jobs", "1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 converted, 2 failed"));
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary outputs left: {leftovers:?}"
    );
    // Without --out-dir, convert still takes exactly IN OUT.
    let err = assert_one_line_failure(&emconvert(&["convert", s(&first), s(&second), s(&bad)]));
    assert!(err.contains("--out-dir"), "{err}");
}

#[test]
fn batch_conversion_of_corpus_files() {
    let corpus = emio_core::corpus::corpus_dir();
    let inputs: Vec<PathBuf> = std::fs::read_dir(corpus.join("dm"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dm3"))
        .take(4)
        .collect();
    assert!(!inputs.is_empty(), "no .dm3 in the corpus");
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<&str> = vec!["convert"];
    args.extend(inputs.iter().map(|p| s(p)));
    args.extend_from_slice(&["--out-dir", s(dir.path()), "--to", "npy"]);
    let out = emconvert(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for input in &inputs {
        let source = emio::open(input).unwrap();
        let stem = input.file_stem().unwrap().to_string_lossy();
        for (i, d) in source.iter().enumerate() {
            let name = match source.len() {
                1 => format!("{stem}.npy"),
                _ => format!("{stem}_{i}.npy"),
            };
            let back = &emio::open(dir.path().join(name)).unwrap()[0];
            assert_eq!(
                back.sha256().unwrap(),
                d.sha256().unwrap(),
                "{}",
                input.display()
            );
        }
    }
}

#[test]
fn preview_writes_a_png_of_the_promised_size_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let cases = [
        ("npy/disc_u16.npy", 1),
        ("dm/stack_u16.dm3", 2),
        ("mib/scan_u8.mib", 2),
    ];
    for (name, panels) in cases {
        let png = dir
            .path()
            .join(format!("{panels}-{}.png", name.replace('/', "_")));
        let file = testdata.join(name);
        let out = emconvert(&[
            "preview",
            s(&file),
            "-o",
            s(&png),
            "--size",
            "128",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = &json_lines(&out)[0];
        let bytes = std::fs::read(&png).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let height = 128 + emio::preview::HEADER + emio::preview::CAPTION;
        assert_eq!((info.width, info.height), (128 * panels, height), "{name}");
        assert_eq!(
            (doc["width"].as_u64(), doc["height"].as_u64()),
            (Some(u64::from(info.width)), Some(u64::from(height)))
        );
        assert!(doc["caption"][0]
            .as_str()
            .unwrap()
            .contains(file.file_name().unwrap().to_str().unwrap()));
        // The PNG exists now: without --force it is kept.
        assert_one_line_failure(&emconvert(&["preview", s(&file), "-o", s(&png)]));
        assert!(emconvert(&["preview", s(&file), "-o", s(&png), "--force"])
            .status
            .success());
    }
    let help = emconvert(&["preview", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
}
