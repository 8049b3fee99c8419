//! The verbs beside `convert`: `stats`, `ls`, `check`, batch conversion and `preview`, on
//! generated files and over the whole shared corpus.

use std::path::{Path, PathBuf};
use std::process::Output;

use emio::{DType, Dataset, NoProgress};
use serde_json::Value;

use crate::{assert_one_line_failure, emconvert, ramp, s, write_file};

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
    write_file(&ds, &path);
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

#[test]
fn stats_weights_make_a_virtual_detector_image() {
    let dir = tempfile::tempdir().unwrap();
    // Three scan positions of 4 × 5 patterns, the first axis navigation.
    let values: Vec<u16> = (0..60).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mut ds = Dataset::from_bytes(bytes, DType::U16, vec![3, 4, 5]).unwrap();
    ds.axes[0].navigate = true;
    let scan = dir.path().join("scan.hspy");
    write_file(&ds, &scan);
    let mask: Vec<f64> = (0..20).map(|i| f64::from(u8::from(i % 3 == 0))).collect();
    let mask_bytes: Vec<u8> = mask.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mask_path = dir.path().join("mask.npy");
    write_file(
        &Dataset::from_bytes(mask_bytes, DType::F64, vec![4, 5]).unwrap(),
        &mask_path,
    );
    let image = dir.path().join("vbf.npy");
    let out = emconvert(&[
        "stats",
        "--sum",
        "signal",
        "--weights",
        s(&mask_path),
        "--out",
        s(&image),
        s(&scan),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: Vec<f64> = (0..3)
        .map(|p| {
            (0..20)
                .map(|i| f64::from(values[p * 20 + i]) * mask[i])
                .sum()
        })
        .collect();
    assert_eq!(all_values(&emio::open(&image).unwrap()[0]), want);
    // Weights of another size are refused before the data is read, in one line.
    let wrong = ramp(dir.path(), &[4, 4]);
    let out = emconvert(&["stats", "--sum", "signal", "--weights", s(&wrong), s(&scan)]);
    assert!(assert_one_line_failure(&out).contains("16 values"));
}

#[test]
fn stats_sums_over_axes_named_or_numbered() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<u16> = (0..60).collect();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mut ds = Dataset::from_bytes(bytes, DType::U16, vec![3, 4, 5]).unwrap();
    ds.axes[0].navigate = true;
    for (axis, name) in ds.axes.iter_mut().zip(["t", "y", "x"]) {
        axis.name = name.into();
    }
    let stack = dir.path().join("stack.hspy");
    write_file(&ds, &stack);
    // Summed over y (by name) and over t and x (by index, one from the end).
    let at = |t: usize, y: usize, x: usize| f64::from(values[t * 20 + y * 5 + x]);
    let over_y: Vec<f64> = (0..15)
        .map(|i| (0..4).map(|y| at(i / 5, y, i % 5)).sum())
        .collect();
    let over_t_x: Vec<f64> = (0..4)
        .map(|y| {
            (0..3)
                .flat_map(|t| (0..5).map(move |x| (t, x)))
                .map(|(t, x)| at(t, y, x))
                .sum()
        })
        .collect();
    for (axes, want, shape) in [("y", over_y, vec![3u64, 5]), ("0,-1", over_t_x, vec![4])] {
        let sum = dir.path().join(format!("sum-{}.npy", want.len()));
        let out = emconvert(&[
            "stats",
            "--json",
            "--sum",
            axes,
            "--out",
            s(&sum),
            s(&stack),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["axis_sum"]["over"], axes);
        assert_eq!(doc["axis_sum"]["shape"], serde_json::json!(shape));
        assert_eq!(all_values(&emio::open(&sum).unwrap()[0]), want);
    }
    // Axes the dataset lacks are refused in one line, naming what it has.
    let out = emconvert(&["stats", "--sum", "z", s(&stack)]);
    assert!(assert_one_line_failure(&out).contains("no axis is named \"z\""));
    let out = emconvert(&["stats", "--sum", "1,y", s(&stack)]);
    assert!(assert_one_line_failure(&out).contains("named twice"));
    // A negative index alone is a value, not an option.
    let out = emconvert(&["stats", "--json", "--sum", "-1", s(&stack)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["axis_sum"]["shape"], serde_json::json!([3, 4]));
}
