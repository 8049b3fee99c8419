//! `emconvert info`: one block of text, or one JSON document, per file.
//!
//! Several files (and wildcard patterns, expanded here where the shell did not) are
//! described one after the other; a file that fails is reported and the others still print.
//! `--json` prints JSON Lines: one compact document per file, one per line, following
//! `docs/info.schema.json` (version [`SCHEMA`]); a failed file gives `{"schema", "file",
//! "error"}`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::{checksum, open, outln, report_warnings, InfoArgs};

/// Version of the `info --json` document (`"schema"`), published as `docs/info.schema.json`.
pub const SCHEMA: u64 = 1;

/// Arrays longer than this are summarised in the text view of the original metadata.
const SHOWN_ARRAY_VALUES: usize = 8;

/// Describe every file; `Err` carries how many failed (each already reported).
pub fn info(args: &InfoArgs) -> Result<(), usize> {
    let mut failed = 0;
    let files = expand(&args.files);
    for (i, file) in files.iter().enumerate() {
        match describe(file, args, i > 0) {
            Ok(()) => {}
            Err(e) => {
                failed += 1;
                let message = crate::one_line(&e.to_string());
                if args.json {
                    outln!(
                        "{}",
                        json!({"schema": SCHEMA, "file": file.display().to_string(), "error": message})
                    );
                }
                eprintln!("emconvert: error: {message}");
            }
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(failed)
    }
}

/// Print one file's description (a blank line first when `separate`).
fn describe(file: &Path, args: &InfoArgs, separate: bool) -> emio::Result<()> {
    let (format, datasets) = open(file, &args.read)?;
    let warnings = report_warnings(file, &datasets);
    if args.json {
        let list = datasets
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut doc = emio::json::dataset_info(d, i, args.original);
                if args.checksum {
                    doc["sha256"] = json!(checksum(d)?);
                }
                Ok(doc)
            })
            .collect::<emio::Result<Vec<Value>>>()?;
        let doc = json!({
            "schema": SCHEMA,
            "file": file.display().to_string(),
            "format": format.name(),
            "warnings": warnings,
            "datasets": list,
        });
        outln!("{doc}");
        return Ok(());
    }
    if separate {
        outln!();
    }
    outln!(
        "{}: {} ({} dataset{})",
        file.display(),
        format.name(),
        datasets.len(),
        if datasets.len() == 1 { "" } else { "s" }
    );
    for (i, d) in datasets.iter().enumerate() {
        describe_dataset(i, d, args)?;
    }
    Ok(())
}

fn describe_dataset(i: usize, d: &emio::Dataset, args: &InfoArgs) -> emio::Result<()> {
    outln!("[{i}] {:?}", d.title());
    match d.ragged() {
        Some(items) => outln!(
            "    dtype object (ragged: each position holds an array of {} values)  shape {:?}",
            items.element().numpy_str(),
            d.shape()
        ),
        None => outln!(
            "    dtype {}  shape {:?}  ({} bytes)",
            d.dtype(),
            d.shape(),
            d.nbytes()
        ),
    }
    if let Some(t) =
        emio::metadata::get_str(&d.metadata, "Signal.signal_type").filter(|t| !t.is_empty())
    {
        outln!("    signal type {t}");
    }
    for (axis, size) in d.axes.iter().zip(d.shape()) {
        let cal = match &axis.kind {
            emio::AxisKind::Uniform { scale, offset } => {
                format!("scale {} offset {}", number(*scale), number(*offset))
            }
            emio::AxisKind::Values(v) => format!(
                "values {} .. {}",
                number(v.first().copied().unwrap_or(f64::NAN)),
                number(v.last().copied().unwrap_or(f64::NAN))
            ),
        };
        outln!(
            "    axis {:<12} size {size:<6} {cal} {}{}",
            if axis.name.is_empty() {
                "-"
            } else {
                &axis.name
            },
            axis.units.escape_debug(),
            if axis.navigate { "  (navigation)" } else { "" }
        );
    }
    let mut leaves = Vec::new();
    emio::metadata::for_each_leaf(&d.metadata, &mut |path, value| {
        if path.first() != Some(&"General") && path.first() != Some(&"Signal") {
            leaves.push(format!("{} = {value}", path.join(".")));
        }
    });
    for leaf in leaves.iter().take(20) {
        outln!("    {leaf}");
    }
    if leaves.len() > 20 && !args.original {
        outln!(
            "    ... {} more metadata entries (use --json or --original)",
            leaves.len() - 20
        );
    }
    if args.checksum {
        outln!("    sha256 {}", checksum(d)?);
    }
    if args.original {
        outln!("    original metadata:");
        let mut lines = Vec::new();
        tree_lines(&d.original_metadata, 3, &mut lines);
        for line in lines {
            outln!("{line}");
        }
    }
    Ok(())
}

/// The original metadata as indented `key: value` lines (two spaces per level from
/// `depth`), groups as `key/`, long arrays summarised by length, range and first values.
fn tree_lines(tree: &emio::Tree, depth: usize, lines: &mut Vec<String>) {
    let pad = "  ".repeat(depth);
    for (key, value) in tree {
        match value {
            Value::Object(map) => {
                lines.push(format!("{pad}{key}/"));
                tree_lines(map, depth + 1, lines);
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                lines.push(format!("{pad}{key}: [{} items]", items.len()));
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Object(map) => {
                            lines.push(format!("{pad}  [{i}]/"));
                            tree_lines(map, depth + 2, lines);
                        }
                        other => lines.push(format!("{pad}  [{i}]: {}", scalar(other))),
                    }
                }
            }
            other => lines.push(format!("{pad}{key}: {}", scalar(other))),
        }
    }
}

/// A calibration on one line: shortest round-trip digits, in exponent form when very
/// large or small (a damaged file's 1e-300 is not three hundred zeros).
fn number(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude != 0.0 && !(1e-6..1e16).contains(&magnitude) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

/// One value on one line: strings unquoted, arrays up to [`SHOWN_ARRAY_VALUES`] in full,
/// longer ones as their length, numeric range and first values.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.len() > SHOWN_ARRAY_VALUES => {
            let numbers: Vec<f64> = items.iter().filter_map(Value::as_f64).collect();
            let head: Vec<String> = items[..4].iter().map(Value::to_string).collect();
            let range = if numbers.len() == items.len() {
                let lo = numbers.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                format!(", min {lo}, max {hi}")
            } else {
                String::new()
            };
            format!("[{} values{range}: {}, ...]", items.len(), head.join(", "))
        }
        other => other.to_string(),
    }
}

/// The files named by `args`: each existing path as given, each other argument holding `*`
/// or `?` in its last component as the matching names of its folder (sorted); anything else
/// as given, so that opening it reports the error.
pub fn expand(args: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for arg in args {
        let name = arg
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if arg.exists() || !(name.contains('*') || name.contains('?')) {
            files.push(arg.clone());
            continue;
        }
        let folder = match arg.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut matched: Vec<PathBuf> = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| wildcard_match(&name, &e.file_name().to_string_lossy()))
            .map(|e| match arg.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.join(e.file_name()),
                _ => PathBuf::from(e.file_name()),
            })
            .collect();
        matched.sort();
        if matched.is_empty() {
            files.push(arg.clone());
        }
        files.extend(matched);
    }
    files
}

/// Whether `name` matches `pattern` (`*`: any run of characters, `?`: one character).
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.dm4", "a.dm4"));
        assert!(wildcard_match("a?c*", "abcdef"));
        assert!(!wildcard_match("*.dm4", "a.dm3"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("?", ""));
    }

    #[test]
    fn calibrations_stay_short() {
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(-1500.0), "-1500");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(2e-9), "2e-9");
        assert_eq!(number(-3.5e300), "-3.5e300");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn long_arrays_are_summarised() {
        let v: Value = (0..100).collect::<Vec<i32>>().into();
        assert_eq!(scalar(&v), "[100 values, min 0, max 99: 0, 1, 2, 3, ...]");
        assert_eq!(scalar(&json!([1, 2])), "[1,2]");
    }
}
