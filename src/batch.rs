//! Batch conversion (`emconvert convert IN… --out-dir DIR --to FORMAT`): many files
//! converted into one folder, several at a time, each through the same atomic write as a
//! single conversion ([`crate::Registry::write`]), each writer keeping its own bounded
//! memory. A failed file is reported in its [`Outcome`] and the others go on; an existing
//! output is replaced only with `overwrite`; a file is never converted onto itself.
//!
//! Files are opened first (headers only), so that the total size is known for one overall
//! progress report and output name clashes are found before anything is written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use emio_core::{Dataset, Error, Format, Progress, Registry, Result};

/// What happened to one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The input file.
    pub input: PathBuf,
    /// The outputs written (or planned, when the conversion failed).
    pub outputs: Vec<PathBuf>,
    /// Logical bytes converted.
    pub bytes: u64,
    /// Wall time spent on this file, in seconds.
    pub seconds: f64,
    /// Why the conversion failed, when it did.
    pub error: Option<String>,
}

/// How to convert a batch.
pub struct Batch<'a> {
    /// The folder outputs go into (created when missing).
    pub out_dir: &'a Path,
    /// The writer.
    pub writer: Arc<dyn Format>,
    /// Reader options `key=value`.
    pub read_options: &'a [(String, String)],
    /// Writer options `key=value`.
    pub write_options: &'a [(String, String)],
    /// Convert only this dataset of each input; `None`: every dataset (one output each).
    pub dataset: Option<usize>,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Files converted at once (at least 1).
    pub jobs: usize,
}

/// One planned input: its datasets and where each goes.
struct Plan {
    input: PathBuf,
    datasets: Vec<Dataset>,
    outputs: Vec<PathBuf>,
    error: Option<String>,
}

/// Progress of one file forwarded into the batch's overall count.
struct Share<'a> {
    overall: &'a dyn Progress,
    done: AtomicU64,
}

impl Progress for Share<'_> {
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        self.overall.advance(bytes);
    }
    fn is_cancelled(&self) -> bool {
        self.overall.is_cancelled()
    }
}

impl Batch<'_> {
    /// Convert every input; `progress` gets the total of all inputs once, then every
    /// file's bytes as they are written. Outcomes are in input order.
    pub fn run(&self, inputs: &[PathBuf], progress: &dyn Progress) -> Vec<Outcome> {
        let mut plans: Vec<Plan> = inputs.par_iter().map(|input| self.plan(input)).collect();
        refuse_clashes(&mut plans);
        if let Err(e) = std::fs::create_dir_all(self.out_dir) {
            let message = one_line(&Error::io(self.out_dir, e).to_string());
            for plan in &mut plans {
                plan.error.get_or_insert_with(|| message.clone());
            }
        }
        let total: u64 = plans
            .iter()
            .filter(|p| p.error.is_none())
            .flat_map(|p| &p.datasets)
            .map(Dataset::nbytes)
            .sum();
        progress.set_total(total);
        let convert = || -> Vec<Outcome> {
            plans
                .into_par_iter()
                .map(|plan| self.convert(plan, progress))
                .collect()
        };
        match rayon::ThreadPoolBuilder::new()
            .num_threads(self.jobs.max(1))
            .build()
        {
            Ok(pool) => pool.install(convert),
            Err(_) => convert(),
        }
    }

    /// Open `input` and name its outputs.
    fn plan(&self, input: &Path) -> Plan {
        let mut plan = Plan {
            input: input.to_path_buf(),
            datasets: Vec::new(),
            outputs: Vec::new(),
            error: None,
        };
        let opened = crate::registry()
            .open(input, self.read_options)
            .and_then(|(_, datasets)| match self.dataset {
                Some(i) => crate::pick(&datasets, Some(i)).map(|d| vec![d.clone()]),
                None if datasets.is_empty() => crate::pick(&datasets, None).map(|_| Vec::new()),
                None => Ok(datasets),
            });
        match opened {
            Ok(datasets) => {
                let stem = input
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "output".into());
                let ext = self.writer.extensions().first().copied().unwrap_or("out");
                plan.outputs = (0..datasets.len())
                    .map(|i| match datasets.len() {
                        1 => self.out_dir.join(format!("{stem}.{ext}")),
                        _ => self.out_dir.join(format!("{stem}_{i}.{ext}")),
                    })
                    .collect();
                plan.datasets = datasets;
            }
            Err(e) => plan.error = Some(one_line(&e.to_string())),
        }
        plan
    }

    /// Write one input's datasets, stopping at its first failure.
    fn convert(&self, plan: Plan, overall: &dyn Progress) -> Outcome {
        let start = Instant::now();
        let share = Share {
            overall,
            done: AtomicU64::new(0),
        };
        let error = match plan.error {
            Some(e) => Some(e),
            None => plan
                .datasets
                .iter()
                .zip(&plan.outputs)
                .try_for_each(|(d, out)| self.write_one(&plan.input, d, out, &share))
                .err()
                .map(|e| one_line(&e.to_string())),
        };
        Outcome {
            input: plan.input,
            outputs: plan.outputs,
            bytes: share.done.load(Ordering::Relaxed),
            seconds: start.elapsed().as_secs_f64(),
            error,
        }
    }

    fn write_one(&self, input: &Path, d: &Dataset, out: &Path, share: &Share) -> Result<()> {
        if same_file(input, out) {
            return Err(Error::io(
                out,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "is the input {} (the same file); choose another --out-dir",
                        input.display()
                    ),
                ),
            ));
        }
        Registry::write(
            self.writer.as_ref(),
            d,
            out,
            self.write_options,
            self.overwrite,
            share,
        )
    }
}

/// Fail every input whose output another input already claims.
fn refuse_clashes(plans: &mut [Plan]) {
    let mut claimed: Vec<(PathBuf, PathBuf)> = Vec::new();
    for plan in plans.iter_mut().filter(|p| p.error.is_none()) {
        if let Some((out, by)) = plan
            .outputs
            .iter()
            .find_map(|o| claimed.iter().find(|(c, _)| c == o))
        {
            plan.error = Some(format!(
                "{} would also be written from {}: rename one of the inputs",
                out.display(),
                by.display()
            ));
            continue;
        }
        for o in &plan.outputs {
            claimed.push((o.clone(), plan.input.clone()));
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `a` and `b` name the same file or folder (same device and inode, so through
/// symbolic and hard links too).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        #[cfg(unix)]
        (Ok(x), Ok(y)) => {
            use std::os::unix::fs::MetadataExt;
            x.dev() == y.dev() && x.ino() == y.ino()
        }
        #[cfg(not(unix))]
        (Ok(_), Ok(_)) => matches!(
            (a.canonicalize(), b.canonicalize()),
            (Ok(x), Ok(y)) if x == y
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashing_outputs_fail_the_later_input() {
        let plan = |input: &str, out: &str| Plan {
            input: input.into(),
            datasets: Vec::new(),
            outputs: vec![out.into()],
            error: None,
        };
        let mut plans = vec![plan("a/x.dm4", "o/x.npy"), plan("b/x.dm3", "o/x.npy")];
        refuse_clashes(&mut plans);
        assert!(plans[0].error.is_none());
        assert!(plans[1].error.as_ref().unwrap().contains("a/x.dm4"));
    }
}
