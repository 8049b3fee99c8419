//! Validation that explains (`emconvert check`), in the spirit of `mrcfile.validate`: every
//! structural problem emio can detect in a file, each with the field, the value and why it
//! is wrong, collected rather than stopping at the first.
//!
//! Sources of problems, in order: the file cannot be probed or opened (then it is
//! [`Verdict::Unreadable`]); the format's own validation ([`Format::validate`]: header
//! fields that contradict each other or the file size); what the reader skipped or repaired
//! (its warnings); calibrations that cannot be right (zero or non-finite scales,
//! non-monotonic axis values); and, unless `quick`, the pixels themselves, read in full
//! through core's engine, so truncated data and chunks that fail to decode are found.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use emio_core::engine::Engine;
use emio_core::{AxisKind, Dataset, Format, Problem, Progress};

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No problem found (exit code 0).
    Valid,
    /// The file reads but has problems (exit code 1).
    Problems,
    /// The file cannot be read at all (exit code 2).
    Unreadable,
}

impl Verdict {
    /// The process exit code of `emconvert check` for this verdict.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Problems => 1,
            Verdict::Unreadable => 2,
        }
    }
}

/// A problem and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The dataset concerned, `None` for the file as a whole.
    pub dataset: Option<usize>,
    /// What is wrong.
    pub problem: Problem,
}

/// Everything a check found in one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The file checked.
    pub file: PathBuf,
    /// The format it was read as, when it was recognised.
    pub format: Option<String>,
    /// Datasets opened.
    pub datasets: usize,
    /// The problems, in the order found.
    pub findings: Vec<Finding>,
    /// Why the file cannot be read, when it cannot.
    pub error: Option<String>,
}

impl Report {
    /// Valid, with problems, or unreadable.
    pub fn verdict(&self) -> Verdict {
        if self.error.is_some() {
            Verdict::Unreadable
        } else if self.findings.is_empty() {
            Verdict::Valid
        } else {
            Verdict::Problems
        }
    }

    /// The report as JSON (`emconvert check --json`).
    pub fn to_json(&self) -> Value {
        let verdict = match self.verdict() {
            Verdict::Valid => "valid",
            Verdict::Problems => "problems",
            Verdict::Unreadable => "unreadable",
        };
        let findings: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                json!({
                    "dataset": f.dataset,
                    "field": f.problem.field,
                    "value": f.problem.value,
                    "why": f.problem.why,
                })
            })
            .collect();
        json!({
            "file": self.file.display().to_string(),
            "format": self.format,
            "verdict": verdict,
            "datasets": self.datasets,
            "problems": findings,
            "error": self.error,
        })
    }
}

/// Bytes per region of the data pass.
const REGION_BYTES: u64 = 4 << 20;

/// Check the file at `path` with reader options `options`. With `quick`, the pixels are
/// not read (headers, tags and calibrations only). `progress` follows the data pass.
pub fn check<K: AsRef<str>, V: AsRef<str>>(
    path: &Path,
    options: &[(K, V)],
    quick: bool,
    progress: &dyn Progress,
) -> Report {
    let mut report = Report {
        file: path.to_path_buf(),
        format: None,
        datasets: 0,
        findings: Vec::new(),
        error: None,
    };
    let registry = crate::registry();
    let format = match registry.probe(path) {
        Ok(f) => f,
        Err(e) => {
            report.error = Some(one_line(&e.to_string()));
            return report;
        }
    };
    report.format = Some(format.name().to_string());
    let datasets = match crate::Registry::open_with(format.as_ref(), path, options) {
        Ok(d) => d,
        Err(e) => {
            report.error = Some(one_line(&e.to_string()));
            // What the format's validation says explains why, when it says anything.
            report.findings = file_findings(format.as_ref(), path);
            return report;
        }
    };
    report.datasets = datasets.len();
    report.findings = file_findings(format.as_ref(), path);
    let mut warned: Vec<&String> = Vec::new();
    for (i, d) in datasets.iter().enumerate() {
        for w in d.warnings() {
            // A warning about the whole file is repeated on each dataset: keep it once.
            if warned.contains(&w) {
                continue;
            }
            warned.push(w);
            report.findings.push(Finding {
                dataset: Some(i),
                problem: Problem::new("reader", "", one_line(w)),
            });
        }
        for problem in calibration_problems(d) {
            report.findings.push(Finding {
                dataset: Some(i),
                problem,
            });
        }
        if !quick {
            if let Err(e) = read_everything(d, progress) {
                report.findings.push(Finding {
                    dataset: Some(i),
                    problem: Problem::new(
                        "data",
                        format!("{} {:?}", d.dtype(), d.shape()),
                        format!("cannot be read in full: {}", one_line(&e.to_string())),
                    ),
                });
            }
        }
    }
    report
}

fn file_findings(format: &dyn Format, path: &Path) -> Vec<Finding> {
    format
        .validate(path)
        .into_iter()
        .map(|problem| Finding {
            dataset: None,
            problem,
        })
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Read every region of `d` in storage order (and drop it), or every item of a ragged
/// dataset: truncation and decoding errors surface here.
fn read_everything(d: &Dataset, progress: &dyn Progress) -> emio_core::Result<()> {
    if let Some(ragged) = d.ragged() {
        for i in 0..ragged.len() {
            if progress.is_cancelled() {
                return Err(emio_core::Error::Cancelled);
            }
            ragged.item(i)?;
        }
        return Ok(());
    }
    let d = &d.in_any_order();
    let chunk = d.read_chunk_shape(REGION_BYTES);
    Engine::default()
        .for_each_region(d, &chunk, progress, |_, _| Ok(()))
        .map(|_| ())
}

/// Axes whose calibration cannot describe the data.
pub fn calibration_problems(d: &Dataset) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (k, (axis, &n)) in d.axes.iter().zip(d.shape()).enumerate() {
        let field = if axis.name.is_empty() {
            format!("axis {k}")
        } else {
            format!("axis {k} ({})", axis.name)
        };
        match &axis.kind {
            AxisKind::Uniform { scale, offset } => {
                if !scale.is_finite() || *scale == 0.0 {
                    problems.push(Problem::new(
                        format!("{field} scale"),
                        scale,
                        "a scale must be finite and non-zero",
                    ));
                }
                if !offset.is_finite() {
                    problems.push(Problem::new(
                        format!("{field} offset"),
                        offset,
                        "an offset must be finite",
                    ));
                }
            }
            AxisKind::Values(v) => {
                if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
                    problems.push(Problem::new(
                        format!("{field} values"),
                        bad,
                        "axis coordinates must be finite",
                    ));
                } else if !(v.windows(2).all(|w| w[1] > w[0]) || v.windows(2).all(|w| w[1] < w[0]))
                {
                    problems.push(Problem::new(
                        format!("{field} values"),
                        format!("{} values", v.len()),
                        "axis coordinates must increase (or decrease) strictly",
                    ));
                }
            }
        }
        if n == 0 {
            problems.push(Problem::new(
                format!("{field} size"),
                0,
                "the dataset holds no element along this axis",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::{Axis, DType, NoProgress};

    #[test]
    fn calibrations_that_cannot_be_right() {
        let mut d = Dataset::from_bytes(vec![0; 6], DType::U8, vec![2, 3]).unwrap();
        assert!(calibration_problems(&d).is_empty());
        d.axes[0] = Axis::uniform("x", "nm", 0.0, f64::NAN, false);
        d.axes[1] = Axis::values("E", "eV", vec![1.0, 3.0, 2.0], false);
        let fields: Vec<String> = calibration_problems(&d)
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            ["axis 0 (x) scale", "axis 0 (x) offset", "axis 1 (E) values"]
        );
    }

    #[test]
    fn a_missing_file_is_unreadable() {
        let r = check(
            Path::new("/nonexistent/x.dm4"),
            &[] as &[(&str, &str)],
            false,
            &NoProgress,
        );
        assert_eq!(r.verdict(), Verdict::Unreadable);
        assert_eq!(r.verdict().exit_code(), 2);
        assert!(r.to_json()["error"].as_str().unwrap().contains("x.dm4"));
    }
}
