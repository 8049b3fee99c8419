//! `emconvert check`: validation that explains ([`emio::check`]). Exit code 0 when every
//! file is valid, 1 when one has problems, 2 when one cannot be read.

use std::path::PathBuf;

use clap::Args;

use emio::check::Verdict;
use emio::Options;

use crate::{outln, with_progress, ReadArgs};

/// Arguments of `emconvert check`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exit code: 0 every file valid, 1 problems found, 2 a file cannot be read.

Examples:
  emconvert check map.mrc
  emconvert check --quick session/*.dm4     # headers, tags and calibrations only
  emconvert check scan.emd --json"
)]
pub struct CheckArgs {
    /// The files to check (wildcards such as `*.mrc` are expanded).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print JSON Lines: one document per file.
    #[arg(long)]
    json: bool,
    /// Do not read the pixels (faster; truncated data may go unnoticed).
    #[arg(long)]
    quick: bool,
    #[command(flatten)]
    read: ReadArgs,
}

/// Check every file and return the worst verdict.
pub fn check(args: &CheckArgs) -> emio::Result<Verdict> {
    let pairs = Options::split_pairs(&args.read.options)?;
    let mut worst = Verdict::Valid;
    for file in crate::info::expand(&args.files) {
        let report = with_progress(|p| emio::check::check(&file, &pairs, args.quick, p));
        let verdict = report.verdict();
        if verdict.exit_code() > worst.exit_code() {
            worst = verdict;
        }
        if args.json {
            outln!("{}", report.to_json());
            continue;
        }
        let format = report.format.as_deref().unwrap_or("unknown format");
        match verdict {
            Verdict::Valid => outln!(
                "{}: valid ({format}, {} dataset{})",
                file.display(),
                report.datasets,
                if report.datasets == 1 { "" } else { "s" }
            ),
            Verdict::Unreadable => outln!(
                "{}: UNREADABLE ({format}): {}",
                file.display(),
                report.error.as_deref().unwrap_or_default()
            ),
            Verdict::Problems => outln!(
                "{}: {} problem{} ({format}, {} dataset{})",
                file.display(),
                report.findings.len(),
                if report.findings.len() == 1 { "" } else { "s" },
                report.datasets,
                if report.datasets == 1 { "" } else { "s" }
            ),
        }
        for f in &report.findings {
            let at = f
                .dataset
                .map(|i| format!("[{i}]"))
                .unwrap_or_else(|| "[file]".into());
            let value = if f.problem.value.is_empty() {
                String::new()
            } else {
                format!(" = {}", f.problem.value)
            };
            outln!("  {at} {}{value}: {}", f.problem.field, f.problem.why);
        }
    }
    Ok(worst)
}
