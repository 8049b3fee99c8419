//! `emconvert convert IN… --out-dir DIR --to FORMAT`: batch conversion through
//! [`emio::batch`], with one overall progress bar and a summary table at the end.

use std::time::Duration;

use emio::batch::Batch;
use emio::Options;
use emio_core::engine::ReportingProgress;

use crate::Interruptible;
use crate::{info, outln, progress_bar, report_leftovers, show, signals, ConvertArgs};

/// Convert every input into `--out-dir`; `Ok` carries how many inputs failed (each
/// reported in the table and on stderr).
pub fn convert_many(args: &ConvertArgs) -> emio::Result<usize> {
    let out_dir = args.out_dir.as_deref().expect("--out-dir given");
    let to = args.to.as_deref().expect("--out-dir requires --to");
    let writer = emio::registry().by_name(to)?;
    if !writer.can_write() {
        return Err(emio::Error::unsupported(writer.name(), "writing"));
    }
    let write_options = Options::split_pairs(&args.write_options)?;
    Options::parse(writer.write_options(), &write_options)?;
    let read_options = Options::split_pairs(&args.read.options)?;
    if out_dir.is_dir() {
        report_leftovers(&out_dir.join("output"));
    }
    let inputs = info::expand(&args.paths);
    let batch = Batch {
        out_dir,
        writer,
        read_options: &read_options,
        write_options: &write_options,
        dataset: args.dataset,
        overwrite: args.force,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    let bar = progress_bar();
    let progress = ReportingProgress::new(Duration::from_millis(100), |report| {
        if let Some(b) = &bar {
            show(b, report);
        }
    });
    signals::trap();
    signals::trap_bus_error(None);
    let outcomes = batch.run(&inputs, &Interruptible(&progress));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let width = outcomes
        .iter()
        .map(|o| o.input.display().to_string().chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    outln!(
        "{:<width$}  {:<6} {:>10} {:>8}  OUTPUT",
        "INPUT",
        "STATUS",
        "BYTES",
        "SECONDS"
    );
    let mut failed = 0;
    for o in &outcomes {
        let status = if o.error.is_some() { "FAILED" } else { "ok" };
        let outputs: Vec<String> = o.outputs.iter().map(|p| p.display().to_string()).collect();
        outln!(
            "{:<width$}  {status:<6} {:>10} {:>8.2}  {}",
            o.input.display(),
            o.bytes,
            o.seconds,
            outputs.join(", ")
        );
        if let Some(e) = &o.error {
            failed += 1;
            eprintln!("emconvert: error: {}: {e}", o.input.display());
        }
    }
    outln!(
        "{} converted, {failed} failed, into {}",
        outcomes.len() - failed,
        out_dir.display()
    );
    Ok(failed)
}
