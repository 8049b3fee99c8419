//! Conformance with the shared corpus (`../shared/corpus`): every file is read with emio,
//! with the reference's `read_kwargs` as options, and compared with rsciio's reading in
//! its `.expected.json` (count, shape, dtype, sha256, axes, metadata leaves).
//!
//! Formats whose reader is not registered yet are reported as pending. For formats with a
//! reader, every difference must be listed in `tests/known_differences.json` with its
//! reason; metadata leaves must agree at least `metadata_min_agreement` of the time.
//! Set `EMIO_CONFORMANCE_FORMAT=dm` to check one format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use emio::metadata::{for_each_leaf, value_f64};
use emio::{AxisKind, Dataset, Registry};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the conformance corpus is missing: expected {} (see DEVELOPERS.md)",
        dir.display()
    );
    dir
}

/// One documented difference between emio and the reference.
struct KnownDifference {
    file: String,
    field: String,
}

struct Known {
    differences: Vec<KnownDifference>,
    min_agreement: BTreeMap<String, f64>,
}

impl Known {
    fn load() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known_differences.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let differences = doc["differences"]
            .as_array()
            .expect("differences list")
            .iter()
            .map(|d| {
                assert!(
                    d["reason"].as_str().is_some_and(|r| r.len() > 10),
                    "every known difference needs a reason: {d}"
                );
                KnownDifference {
                    file: d["file"].as_str().expect("file").to_string(),
                    field: d["field"].as_str().expect("field").to_string(),
                }
            })
            .collect();
        let min_agreement = doc["metadata_min_agreement"]
            .as_object()
            .expect("metadata_min_agreement")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_f64().expect("number")))
            .collect();
        Known {
            differences,
            min_agreement,
        }
    }

    /// Whether `key` (e.g. `signals[0].sha256`) of reference `reference` (path relative to
    /// the corpus, e.g. `mrc/x.map.expected.json`) for data file `file` is documented.
    fn covers(&self, file: &str, reference: &str, key: &str) -> bool {
        self.differences.iter().any(|d| {
            (d.file == file || d.file == reference)
                && match d.field.strip_suffix('*') {
                    Some(prefix) => key.starts_with(prefix),
                    None => key == d.field,
                }
        })
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

/// Compare an expected JSON leaf with emio's value.
fn same_value(expected: &Value, ours: &Value) -> bool {
    match (expected, ours) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            match (value_f64(expected), value_f64(ours)) {
                (Some(a), Some(b)) => close(a, b),
                _ => false,
            }
        }
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_value(v, w)))
        }
        (a, b) => a == b,
    }
}

fn option_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Array(items) => items.iter().map(option_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[derive(Default)]
struct FormatTally {
    files: usize,
    agree: usize,
    documented: usize,
    differ: usize,
    pending: usize,
    leaves: usize,
    leaves_agree: usize,
}

struct Outcome {
    /// Differences found, as `key: detail`.
    differences: Vec<(String, String)>,
    leaves: usize,
    leaves_agree: usize,
}

fn compare_axes(prefix: &str, expected: &[Value], ds: &Dataset, out: &mut Vec<(String, String)>) {
    if expected.len() != ds.axes.len() {
        out.push((
            format!("{prefix}.axes"),
            format!("{} axes expected, {} read", expected.len(), ds.axes.len()),
        ));
        return;
    }
    for (i, (exp, (axis, size))) in expected
        .iter()
        .zip(ds.axes.iter().zip(ds.shape()))
        .enumerate()
    {
        let key = |field: &str| format!("{prefix}.axes[{i}].{field}");
        let mut check = |field: &str, ok: bool, ours: String| {
            if !ok {
                out.push((key(field), format!("expected {}, read {ours}", exp[field])));
            }
        };
        if let Some(name) = exp.get("name").and_then(Value::as_str) {
            check("name", name == axis.name, format!("{:?}", axis.name));
        }
        if let Some(units) = exp.get("units").and_then(Value::as_str) {
            check("units", units == axis.units, format!("{:?}", axis.units));
        }
        if let Some(n) = exp.get("size").and_then(Value::as_u64) {
            check("size", n == *size, size.to_string());
        }
        if let Some(nav) = exp.get("navigate").and_then(Value::as_bool) {
            check("navigate", nav == axis.navigate, axis.navigate.to_string());
        }
        let uniform = exp.get("uniform").and_then(Value::as_bool).unwrap_or(true);
        match (&axis.kind, uniform) {
            (AxisKind::Uniform { scale, offset }, true) => {
                for (field, ours) in [("scale", scale), ("offset", offset)] {
                    if let Some(v) = exp.get(field) {
                        check(
                            field,
                            value_f64(v).is_some_and(|e| close(e, *ours)),
                            ours.to_string(),
                        );
                    }
                }
            }
            (AxisKind::Values(values), false) => {
                if let Some(first) = exp.get("axis_first5").and_then(Value::as_array) {
                    let ok = first
                        .iter()
                        .zip(values)
                        .all(|(e, o)| value_f64(e).is_some_and(|e| close(e, *o)));
                    check(
                        "axis_first5",
                        ok,
                        format!("{:?}", &values[..values.len().min(5)]),
                    );
                }
            }
            (AxisKind::Values(_), true) => check("uniform", false, "non-uniform values".into()),
            (AxisKind::Uniform { .. }, false) => {
                // A functional axis rsciio keeps symbolic; emio emits explicit values.
                if exp.get("expression").is_none() {
                    check("uniform", false, "uniform".into());
                }
            }
        }
    }
}

fn compare(reference: &Value, datasets: &[Dataset]) -> Outcome {
    let mut out = Vec::new();
    let (mut leaves, mut leaves_agree) = (0, 0);
    let signals = reference["signals"].as_array().cloned().unwrap_or_default();
    if signals.len() != datasets.len() {
        out.push((
            "n_signals".into(),
            format!("{} expected, {} read", signals.len(), datasets.len()),
        ));
    }
    for (i, (sig, ds)) in signals.iter().zip(datasets).enumerate() {
        let p = format!("signals[{i}]");
        let data = &sig["data"];
        let shape: Vec<u64> = data["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        if shape != ds.shape() {
            out.push((
                format!("{p}.shape"),
                format!("expected {shape:?}, read {:?}", ds.shape()),
            ));
        }
        if data["dtype"].as_str() != Some(ds.dtype().numpy_str()) {
            out.push((
                format!("{p}.dtype"),
                format!(
                    "expected {}, read {}",
                    data["dtype"],
                    ds.dtype().numpy_str()
                ),
            ));
        }
        if let (Some(expected), true) = (data["sha256"].as_str(), shape == ds.shape()) {
            match ds.sha256() {
                Ok(ours) if ours == expected => {}
                Ok(ours) => out.push((
                    format!("{p}.sha256"),
                    format!("expected {expected}, read {ours}"),
                )),
                Err(e) => out.push((format!("{p}.sha256"), format!("reading pixels failed: {e}"))),
            }
        }
        compare_axes(
            &p,
            sig["axes"].as_array().map(Vec::as_slice).unwrap_or(&[]),
            ds,
            &mut out,
        );
        if let Some(meta) = sig["metadata"].as_object() {
            let ours = Value::Object(ds.metadata.clone());
            for_each_leaf(meta, &mut |path, expected| {
                // `_HyperSpy` holds HyperSpy's own plumbing (navigator arrays, folding), and
                // `__ndarray__` leaves are summaries of arrays, not values to compare.
                if path.first() == Some(&"_HyperSpy") || expected.get("__ndarray__").is_some() {
                    return;
                }
                leaves += 1;
                let mine = path.iter().try_fold(&ours, |v, k| v.get(*k));
                match mine {
                    Some(v) if same_value(expected, v) => leaves_agree += 1,
                    other => out.push((
                        format!("{p}.metadata.{}", path.join(".")),
                        format!(
                            "expected {expected}, read {}",
                            other.map(Value::to_string).unwrap_or("nothing".into())
                        ),
                    )),
                }
            });
        }
    }
    Outcome {
        differences: out,
        leaves,
        leaves_agree,
    }
}

#[test]
fn corpus_conformance() {
    let corpus = corpus_dir();
    let known = Known::load();
    let only = std::env::var("EMIO_CONFORMANCE_FORMAT").ok();
    let registry = emio::registry();
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (c_path, c_format, c_role, c_refs) =
        (col("path"), col("format"), col("role"), col("references"));
    let mut tally: BTreeMap<String, FormatTally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        if cells[c_role] != "data" {
            continue;
        }
        let (file, format) = (cells[c_path], cells[c_format]);
        if only.as_deref().is_some_and(|o| o != format) {
            continue;
        }
        let t = tally.entry(format.to_string()).or_default();
        let readable = registry
            .by_name(format)
            .map(|f| f.can_read())
            .unwrap_or(false);
        for reference_name in cells[c_refs].split(';').filter(|r| !r.is_empty()) {
            t.files += 1;
            if !readable {
                t.pending += 1;
                continue;
            }
            let dir = Path::new(file).parent().unwrap();
            let reference_key = dir.join(reference_name).display().to_string();
            let reference: Value = serde_json::from_str(
                &std::fs::read_to_string(corpus.join(&reference_key)).unwrap(),
            )
            .unwrap();
            let options: Vec<(String, String)> = reference["read_kwargs"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| *k != "lazy")
                        .map(|(k, v)| (k.clone(), option_text(v)))
                        .collect()
                })
                .unwrap_or_default();
            let path = corpus.join(file);
            let opened = registry.probe(&path).and_then(|f| {
                if f.name() != format {
                    return Err(emio::Error::invalid_option(
                        "probe",
                        format!("picked {} for a {format} file", f.name()),
                    ));
                }
                Registry::open_with(f.as_ref(), &path, &options)
            });
            let outcome = match opened {
                Err(e) => Outcome {
                    differences: vec![("read".into(), e.to_string())],
                    leaves: 0,
                    leaves_agree: 0,
                },
                Ok(datasets) if reference["reader"].is_null() => Outcome {
                    // rsciio (and every fallback) failed on this file: emio must read it,
                    // and the reason it does better is documented as `rsciio_cannot_read`.
                    differences: if datasets.is_empty() {
                        vec![("read".into(), "no dataset".into())]
                    } else {
                        vec![(
                            "rsciio_cannot_read".into(),
                            format!("emio reads {} dataset(s)", datasets.len()),
                        )]
                    },
                    leaves: 0,
                    leaves_agree: 0,
                },
                Ok(datasets) => compare(&reference, &datasets),
            };
            let is_metadata = |key: &str| key.contains(".metadata.");
            let documented_leaves = outcome
                .differences
                .iter()
                .filter(|(key, _)| is_metadata(key) && known.covers(file, &reference_key, key))
                .count();
            t.leaves += outcome.leaves;
            t.leaves_agree += outcome.leaves_agree + documented_leaves;
            // Metadata leaves are held to the agreement ratio; everything else must agree
            // or be documented.
            let structural: Vec<&(String, String)> = outcome
                .differences
                .iter()
                .filter(|(key, _)| !is_metadata(key) && !known.covers(file, &reference_key, key))
                .collect();
            for (key, detail) in &outcome.differences {
                report.push(format!("  {reference_key}: {key}: {detail}"));
            }
            if outcome.differences.is_empty() {
                t.agree += 1;
            } else if structural.is_empty() {
                t.documented += 1;
            } else {
                t.differ += 1;
                for (key, detail) in structural {
                    failures.push(format!("{reference_key}: {key}: {detail}"));
                }
            }
        }
    }
    println!("\nconformance with ../shared/corpus (rsciio 0.15.0 readings)");
    println!(
        "{:<6} {:>6} {:>6} {:>11} {:>7} {:>8} {:>10}",
        "format", "files", "agree", "documented", "differ", "pending", "metadata"
    );
    for (format, t) in &tally {
        let ratio = if t.leaves == 0 {
            1.0
        } else {
            t.leaves_agree as f64 / t.leaves as f64
        };
        println!(
            "{format:<6} {:>6} {:>6} {:>11} {:>7} {:>8} {:>9.1}%",
            t.files,
            t.agree,
            t.documented,
            t.differ,
            t.pending,
            100.0 * ratio
        );
        let min = known
            .min_agreement
            .get(format)
            .or(known.min_agreement.get("default"))
            .copied()
            .unwrap_or(1.0);
        if t.pending < t.files && ratio < min {
            failures.push(format!(
                "{format}: metadata leaves agree {:.1}% < required {:.1}%",
                100.0 * ratio,
                100.0 * min
            ));
        }
    }
    if !report.is_empty() {
        println!("\ndifferences (documented ones included):");
        for line in &report {
            println!("{line}");
        }
    }
    assert!(
        failures.is_empty(),
        "{} undocumented difference(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
