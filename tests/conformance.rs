//! Conformance with the shared corpus: every reading of every corpus file (the file read
//! with the reference's `read_kwargs` as options) is compared with rsciio's reading in its
//! `.expected.json`: signal count, shape, dtype, pixels (sha256), every recorded axis field
//! (values and functional expressions of non-uniform axes included) and every metadata leaf
//! of the reading's `hyperspy_metadata` (rsciio's metadata with its `mapping` applied, as a
//! HyperSpy user sees it; the plain `metadata` for twin readings, which have none).
//!
//! Every difference must be listed in `tests/known_differences.json` by its exact key for
//! the readings it applies to (`known_differences.rs` loads and checks that file; its
//! `about` explains the schema). Layout differences are not waived but stated as a
//! transformation (axis permutation, frame placement) that the test applies before it
//! compares pixels and axes; the JPEG-rounding entry states a tolerance the test checks.
//! An entry that no longer matches a difference fails the test, and a corpus format with
//! no reader fails it too (unless listed in [`FORMATS_WITHOUT_READER`], printed loudly).
//! Set `EMIO_CONFORMANCE_FORMAT=dm` to check one format.

#[path = "conformance/expression.rs"]
mod expression;
#[path = "conformance/known_differences.rs"]
mod known_differences;
#[path = "conformance/pixels.rs"]
mod pixels;
#[path = "conformance/python_text.rs"]
mod python_text;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use emio::metadata::{for_each_leaf, value_f64};
use emio::{AxisKind, Dataset, OptionKind, OptionSpec, Registry};
use expression::eval_expression;
use known_differences::{Entry, Known, Transform};
use pixels::compare_pixels;
use serde_json::Value;

/// Corpus formats whose reader has not landed in this checkout yet. Each one is printed
/// loudly on every run, and the test fails once a listed format has a reader (remove it
/// here when you register it). The list must be empty once every reader lands.
const FORMATS_WITHOUT_READER: &[&str] = &[];

/// Relative tolerance of float comparisons (axis calibrations, metadata numbers): the
/// references are written with Python's shortest round-trip representation, and emio
/// computes some calibrations in f64 where rsciio used f32 (or the other way round).
const RTOL: f64 = 1e-6;

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= RTOL * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
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

/// What one comparison checked, for the printed table.
#[derive(Default, Clone, Copy)]
struct Counts {
    /// Pixel comparisons: a sha256 (direct or after a documented transformation), a
    /// documented frame placement or a documented tolerance.
    pixels: usize,
    /// Axis fields compared (name, units, size, navigate, scale, offset, values, ...).
    axis_fields: usize,
    /// Metadata leaves compared.
    leaves: usize,
    /// Of those, leaves rsciio's `mapping` fills in from the original metadata.
    mapped_leaves: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.pixels += o.pixels;
        self.axis_fields += o.axis_fields;
        self.leaves += o.leaves;
        self.mapped_leaves += o.mapped_leaves;
    }
}

/// The differences of one reading, as `(key, detail)`, and what was checked.
#[derive(Default)]
struct Outcome {
    differences: Vec<(String, String)>,
    counts: Counts,
    /// Entries (by index) whose transformation or tolerance was needed by this reading.
    used_transforms: BTreeSet<usize>,
}

impl Outcome {
    fn push(&mut self, key: String, detail: String) {
        self.differences.push((key, detail));
    }
}

/// Compare one recorded axis with emio's axis `i` (keys use emio's index).
fn compare_axis(prefix: &str, i: usize, exp: &Value, ds: &Dataset, out: &mut Outcome) {
    let axis = &ds.axes[i];
    let size = ds.shape()[i];
    let key = |field: &str| format!("{prefix}.axes[{i}].{field}");
    let check = |out: &mut Outcome, field: &str, ok: bool, ours: String| {
        out.counts.axis_fields += 1;
        if !ok {
            out.push(
                key(field),
                format!(
                    "expected {}, read {ours}",
                    exp.get(field).unwrap_or(&Value::Null)
                ),
            );
        }
    };
    // rsciio's None name/units and emio's empty string both mean "not given".
    let text = |field: &str| match exp.get(field) {
        Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    if let Some(name) = text("name") {
        check(out, "name", name == axis.name, format!("{:?}", axis.name));
    }
    if let Some(units) = text("units") {
        check(
            out,
            "units",
            units == axis.units,
            format!("{:?}", axis.units),
        );
    }
    if let Some(n) = exp.get("size") {
        check(out, "size", n.as_u64() == Some(size), size.to_string());
    }
    if let Some(nav) = exp.get("navigate").filter(|v| !v.is_null()) {
        check(
            out,
            "navigate",
            nav.as_bool() == Some(axis.navigate),
            axis.navigate.to_string(),
        );
    }
    let uniform = exp.get("uniform").and_then(Value::as_bool).unwrap_or(true);
    match (&axis.kind, uniform) {
        (AxisKind::Uniform { scale, offset }, true) => {
            for (field, ours) in [("scale", scale), ("offset", offset)] {
                if let Some(v) = exp.get(field) {
                    check(
                        out,
                        field,
                        value_f64(v).is_some_and(|e| close(e, *ours)),
                        ours.to_string(),
                    );
                }
            }
        }
        (AxisKind::Values(values), false) if exp.get("expression").is_some() => {
            // A functional axis: evaluate the expression at every point of its `x` axis.
            let x = &exp["x"];
            let (x_scale, x_offset) = (
                value_f64(&x["scale"]).unwrap_or(1.0),
                value_f64(&x["offset"]).unwrap_or(0.0),
            );
            let expr = exp["expression"].as_str().unwrap_or_default();
            let mut first_bad = None;
            for (j, ours) in values.iter().enumerate() {
                let xv = x_offset + x_scale * j as f64;
                let vars = |name: &str| {
                    if name == "x" {
                        Some(xv)
                    } else {
                        exp.get(name).and_then(value_f64)
                    }
                };
                match eval_expression(expr, &vars) {
                    Ok(e) if close(e, *ours) => {}
                    Ok(e) => {
                        first_bad = Some(format!("value {j}: {e} expected, {ours} read"));
                        break;
                    }
                    Err(err) => {
                        first_bad = Some(format!("expression {expr:?}: {err}"));
                        break;
                    }
                }
            }
            check(
                out,
                "expression",
                first_bad.is_none() && values.len() as u64 == size,
                first_bad.unwrap_or_else(|| format!("{} values", values.len())),
            );
        }
        (AxisKind::Values(values), false) => {
            if let Some(first) = exp.get("axis_first5").and_then(Value::as_array) {
                let ok = first.len() <= values.len()
                    && first
                        .iter()
                        .zip(values)
                        .all(|(e, o)| value_f64(e).is_some_and(|e| close(e, *o)));
                check(
                    out,
                    "axis_first5",
                    ok,
                    format!("{:?}", &values[..values.len().min(5)]),
                );
            }
            if let Some(n) = exp.get("axis_len") {
                check(
                    out,
                    "axis_len",
                    n.as_u64() == Some(values.len() as u64),
                    values.len().to_string(),
                );
            }
        }
        (AxisKind::Values(_), true) => check(out, "uniform", false, "non-uniform values".into()),
        (AxisKind::Uniform { .. }, false) => check(out, "uniform", false, "uniform".into()),
    }
}

/// Compare emio's datasets with one reference, applying the transformations documented
/// for this reading (`entries`, with their index in the known-differences list).
fn compare(reference: &Value, datasets: &[Dataset], entries: &[(usize, &Entry)]) -> Outcome {
    let mut out = Outcome::default();
    let signals = reference["signals"].as_array().cloned().unwrap_or_default();
    if signals.len() != datasets.len() {
        out.push(
            "n_signals".into(),
            format!("{} expected, {} read", signals.len(), datasets.len()),
        );
    }
    for (i, (sig, ds)) in signals.iter().zip(datasets).enumerate() {
        let p = format!("signals[{i}]");
        let data = &sig["data"];
        let transform = entries
            .iter()
            .find(|(_, e)| e.signal() == Some(i))
            .map(|(k, e)| (*k, *e));
        let ref_shape: Vec<u64> = data["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let permutation = match transform.and_then(|(_, e)| e.transform.as_ref()) {
            Some(Transform::Permute { axes, .. }) => Some(axes.clone()),
            _ => None,
        };
        let expected_shape: Vec<u64> = match &permutation {
            Some(axes) if axes.len() == ref_shape.len() => {
                axes.iter().map(|&a| ref_shape[a]).collect()
            }
            _ => ref_shape.clone(),
        };
        let placing = matches!(
            transform.and_then(|(_, e)| e.transform.as_ref()),
            Some(Transform::PlaceFrames { .. })
        );
        if expected_shape != ds.shape() && !placing {
            out.push(
                format!("{p}.shape"),
                format!("expected {expected_shape:?}, read {:?}", ds.shape()),
            );
        }
        if data["dtype"].as_str() != Some(ds.numpy_str()) {
            out.push(
                format!("{p}.dtype"),
                format!("expected {}, read {}", data["dtype"], ds.numpy_str()),
            );
        }
        compare_pixels(&p, data, ds, transform, &mut out);
        let axes = sig["axes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        match (&permutation, placing) {
            (Some(perm), _) if perm.len() == axes.len() && perm.len() == ds.ndim() => {
                for (i, &a) in perm.iter().enumerate() {
                    compare_axis(&p, i, &axes[a], ds, &mut out);
                }
            }
            (_, true) => {
                // Frame axes against the stack's; the scan axes are checked against the
                // reading the placement is documented to equal (see `compare_as`).
                let k = match transform.and_then(|(_, e)| e.transform.as_ref()) {
                    Some(Transform::PlaceFrames { frame_ndim, .. }) => *frame_ndim,
                    _ => 0,
                };
                if axes.len() >= k && ds.ndim() >= k {
                    for j in 0..k {
                        compare_axis(
                            &p,
                            ds.ndim() - k + j,
                            &axes[axes.len() - k + j],
                            ds,
                            &mut out,
                        );
                    }
                }
            }
            _ if axes.len() == ds.ndim() => {
                for (i, exp) in axes.iter().enumerate() {
                    compare_axis(&p, i, exp, ds, &mut out);
                }
            }
            _ => out.push(
                format!("{p}.axes"),
                format!("{} axes expected, {} read", axes.len(), ds.ndim()),
            ),
        }
        compare_metadata(&p, sig, ds, &mut out);
        compare_package(&p, sig, ds, &mut out);
    }
    out
}

/// rsciio's `package` and `package_version` (readings of HyperSpy's own formats carry
/// them) against the dataset's signal package.
fn compare_package(p: &str, sig: &Value, ds: &Dataset, out: &mut Outcome) {
    let extra = &sig["extra"];
    let (Some(name), Some(version)) =
        (extra["package"].as_str(), extra["package_version"].as_str())
    else {
        return;
    };
    let ours = ds.signal_package.clone().unwrap_or_default();
    if ours.name != name || ours.version != version {
        out.push(
            format!("{p}.package"),
            format!(
                "expected {name:?} version {version:?}, read {:?} version {:?}",
                ours.name, ours.version
            ),
        );
    }
}

/// Every leaf of the reading's HyperSpy metadata (or plain metadata for twin readings)
/// against emio's metadata.
fn compare_metadata(p: &str, sig: &Value, ds: &Dataset, out: &mut Outcome) {
    let target = sig
        .get("hyperspy_metadata")
        .filter(|m| m.is_object())
        .unwrap_or(&sig["metadata"]);
    let Some(meta) = target.as_object() else {
        return;
    };
    let mapped: BTreeSet<&str> = sig["extra"]["mapping"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|v| v.get(0).and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let ours = Value::Object(ds.metadata.clone());
    for_each_leaf(meta, &mut |path, expected| {
        let dotted = path.join(".");
        out.counts.leaves += 1;
        if mapped.contains(dotted.as_str()) {
            out.counts.mapped_leaves += 1;
        }
        let mine = path.iter().try_fold(&ours, |v, k| v.get(*k));
        let agrees = match (expected.get("__ndarray__"), mine) {
            // An array summary (more than 64 elements): its shape against emio's array.
            (Some(summary), Some(Value::Array(items))) => {
                summary["shape"].get(0).and_then(Value::as_u64) == Some(items.len() as u64)
            }
            (_, Some(v)) => same_value(expected, v),
            (_, None) => false,
        };
        if !agrees {
            out.push(
                format!("{p}.metadata.{dotted}"),
                format!(
                    "expected {expected}, read {}",
                    mine.map(Value::to_string).unwrap_or("nothing".into())
                ),
            );
        }
    });
}

/// One reading of the corpus: its data file, format and reference.
struct Reading {
    file: String,
    format: String,
    /// Reference path relative to the corpus (`mrc/x.mrc.with_info_and_scan.expected.json`).
    key: String,
    /// Reference file name (`x.mrc.with_info_and_scan.expected.json`).
    name: String,
}

fn readings(corpus: &Path) -> Vec<Reading> {
    let manifest = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (c_path, c_format, c_role, c_refs) =
        (col("path"), col("format"), col("role"), col("references"));
    let mut out = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        if cells[c_role] != "data" {
            continue;
        }
        let dir = Path::new(cells[c_path]).parent().unwrap();
        for name in cells[c_refs].split(';').filter(|r| !r.is_empty()) {
            out.push(Reading {
                file: cells[c_path].to_string(),
                format: cells[c_format].to_string(),
                key: dir.join(name).display().to_string(),
                name: name.to_string(),
            });
        }
    }
    out
}

fn load_reference(corpus: &Path, key: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(corpus.join(key)).unwrap())
        .unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// The reference's `read_kwargs` as reader options. The corpus gives path-valued ones
/// relative to the data file's folder, while emio (like rsciio) takes a relative path as
/// relative to the current directory: they are joined to `folder` here.
fn read_options(reference: &Value, specs: &[OptionSpec], folder: &Path) -> Vec<(String, String)> {
    let is_path = |key: &str| {
        specs
            .iter()
            .any(|s| s.name == key && s.kind == OptionKind::Path)
    };
    reference["read_kwargs"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| *k != "lazy")
                .map(|(k, v)| match v {
                    Value::String(p) if is_path(k) => {
                        (k.clone(), folder.join(p).display().to_string())
                    }
                    _ => (k.clone(), option_text(v)),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Read one reading with emio and compare it (frame placements also against the reading
/// they are documented to equal).
fn check_reading(corpus: &Path, registry: &Registry, known: &Known, reading: &Reading) -> Outcome {
    let reference = load_reference(corpus, &reading.key);
    let path = corpus.join(&reading.file);
    let opened = registry.probe(&path).and_then(|f| {
        if f.name() != reading.format {
            return Err(emio::Error::invalid_option(
                "probe",
                format!("picked {} for a {} file", f.name(), reading.format),
            ));
        }
        let folder = path.parent().unwrap_or(Path::new(""));
        let options = read_options(&reference, f.read_options(), folder);
        Registry::open_with(f.as_ref(), &path, &options)
    });
    let datasets = match opened {
        Err(e) => {
            let mut out = Outcome::default();
            out.push("read".into(), e.to_string());
            return out;
        }
        Ok(d) => d,
    };
    if reference["reader"].is_null() {
        // rsciio (and every fallback) failed on this file: emio must read it, and the
        // reason it does better is documented as `rsciio_cannot_read`.
        let mut out = Outcome::default();
        if datasets.is_empty() {
            out.push("read".into(), "no dataset".into());
        } else {
            out.push(
                "rsciio_cannot_read".into(),
                format!("emio reads {} dataset(s)", datasets.len()),
            );
        }
        return out;
    }
    let entries = known.for_reading(&reading.file, &reading.name);
    let mut out = compare(&reference, &datasets, &entries);
    for (k, entry) in &entries {
        if let Some(Transform::PlaceFrames { same_as, .. }) = &entry.transform {
            // The placed scan must be what rsciio gives when told the companions.
            let dir = Path::new(&reading.file).parent().unwrap();
            let other = load_reference(corpus, &dir.join(same_as).display().to_string());
            let other_entries = known.for_reading(&reading.file, same_as);
            let again = compare(&other, &datasets, &other_entries);
            out.counts += again.counts;
            for (key, detail) in again.differences {
                let documented = known.covering(&reading.file, same_as, &key).is_some();
                if !documented {
                    out.push(format!("as {same_as}: {key}"), detail);
                }
            }
            out.used_transforms.insert(*k);
        }
    }
    out
}

#[derive(Default)]
struct FormatTally {
    readings: usize,
    agree: usize,
    documented: usize,
    differ: usize,
    counts: Counts,
}

#[test]
fn corpus_conformance() {
    let corpus = emio_core::corpus::corpus_dir();
    let known = Known::load(&corpus);
    let only = std::env::var("EMIO_CONFORMANCE_FORMAT").ok();
    let registry = emio::registry();
    let mut tally: BTreeMap<String, FormatTally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut report = Vec::new();
    let mut without_reader = BTreeSet::new();
    let mut checked_formats = BTreeSet::new();
    // (entry index, reading name, field) pairs that matched a difference.
    let mut used: BTreeSet<(usize, String, String)> = BTreeSet::new();
    let mut used_transforms: BTreeSet<(usize, String)> = BTreeSet::new();
    for reading in readings(&corpus) {
        if only.as_deref().is_some_and(|o| o != reading.format) {
            continue;
        }
        let t = tally.entry(reading.format.clone()).or_default();
        t.readings += 1;
        let readable = registry
            .by_name(&reading.format)
            .is_ok_and(|f| f.can_read());
        if !readable {
            without_reader.insert(reading.format.clone());
            t.differ += 1;
            continue;
        }
        checked_formats.insert(reading.format.clone());
        let outcome = check_reading(&corpus, &registry, &known, &reading);
        t.counts += outcome.counts;
        for k in &outcome.used_transforms {
            used_transforms.insert((*k, reading.name.clone()));
        }
        let mut undocumented = Vec::new();
        for (key, detail) in &outcome.differences {
            report.push(format!("  {}: {key}: {detail}", reading.key));
            match known.covering(&reading.file, &reading.name, key) {
                Some(k) => {
                    used.insert((k, reading.name.clone(), key.clone()));
                }
                None => undocumented.push(format!("{}: {key}: {detail}", reading.key)),
            }
        }
        if outcome.differences.is_empty() && outcome.used_transforms.is_empty() {
            t.agree += 1;
        } else if undocumented.is_empty() {
            t.documented += 1;
        } else {
            t.differ += 1;
            failures.extend(undocumented);
        }
    }
    // Stale entries: every field and transformation of an entry must still be needed by
    // each reading it names (formats not checked in this run are left alone).
    for (k, entry) in known.entries.iter().enumerate() {
        if !checked_formats.contains(entry.format()) {
            continue;
        }
        for name in &entry.readings {
            for field in &entry.fields {
                if !used.contains(&(k, name.clone(), field.clone())) {
                    failures.push(format!(
                        "stale known difference: {} ({name}): {field} no longer differs",
                        entry.file
                    ));
                }
            }
            if (entry.transform.is_some() || entry.tolerance.is_some())
                && !used_transforms.contains(&(k, name.clone()))
            {
                failures.push(format!(
                    "stale known difference: {} ({name}): the documented transformation or \
                     tolerance of signal {:?} is no longer needed",
                    entry.file,
                    entry.signal()
                ));
            }
        }
    }
    print_table(&tally);
    if !report.is_empty() {
        println!("\ndifferences (documented ones included):");
        for line in &report {
            println!("{line}");
        }
    }
    for format in &without_reader {
        let message = format!("{format}: corpus format with no registered reader");
        if FORMATS_WITHOUT_READER.contains(&format.as_str()) {
            println!("\n!!! {message} (listed in FORMATS_WITHOUT_READER: not yet a failure)");
        } else {
            failures.push(message);
        }
    }
    for format in FORMATS_WITHOUT_READER {
        if checked_formats.contains(*format) {
            failures.push(format!(
                "{format} has a reader now: remove it from FORMATS_WITHOUT_READER"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} conformance failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn print_table(tally: &BTreeMap<String, FormatTally>) {
    println!("\nconformance with the shared corpus (rsciio 0.15.0 readings)");
    let header = format!(
        "{:<7} {:>8} {:>6} {:>11} {:>7} {:>7} {:>11} {:>9} {:>7}",
        "format",
        "readings",
        "agree",
        "documented",
        "differ",
        "pixels",
        "axis fields",
        "metadata",
        "mapped"
    );
    println!("{header}");
    let mut total = FormatTally::default();
    let row = |name: &str, t: &FormatTally| {
        println!(
            "{name:<7} {:>8} {:>6} {:>11} {:>7} {:>7} {:>11} {:>9} {:>7}",
            t.readings,
            t.agree,
            t.documented,
            t.differ,
            t.counts.pixels,
            t.counts.axis_fields,
            t.counts.leaves,
            t.counts.mapped_leaves
        );
    };
    for (format, t) in tally {
        row(format, t);
        total.readings += t.readings;
        total.agree += t.agree;
        total.documented += t.documented;
        total.differ += t.differ;
        total.counts += t.counts;
    }
    row("total", &total);
    println!(
        "(pixels: sha256 comparisons, after documented transformations, or documented \
         tolerances; metadata: leaves of hyperspy_metadata compared; mapped: of those, \
         leaves rsciio's mapping fills in)"
    );
}
