//! `emconvert`: list formats, describe files, convert between formats.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use emio::engine::{ProgressReport, ReportingProgress};
use emio::{Dataset, Format, OptionSpec, Options, Progress, Registry};
use serde_json::{json, Value};

/// Read, write and convert electron-microscopy files.
#[derive(Parser, Debug)]
#[command(
    name = "emconvert",
    version,
    about,
    after_help = "Shorthand: `emconvert IN OUT` is `emconvert convert IN OUT`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the formats, their extensions and whether they read and write.
    Formats {
        /// Also list each format's reader and writer options.
        #[arg(long)]
        options: bool,
    },
    /// Describe the datasets in a file.
    Info(InfoArgs),
    /// Convert a file to another format.
    Convert(ConvertArgs),
}

#[derive(Args, Debug)]
struct ReadArgs {
    /// Reader option KEY=VALUE (repeatable), e.g. -o navigation_shape=4,5.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Read as this format instead of probing.
    #[arg(long, value_name = "FORMAT")]
    from: Option<String>,
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// The file to describe.
    file: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Compute the SHA-256 of each dataset's pixels (C order, little-endian).
    #[arg(long)]
    checksum: bool,
    /// Include the original metadata (JSON output).
    #[arg(long)]
    original: bool,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args, Debug)]
struct ConvertArgs {
    /// Input file.
    input: PathBuf,
    /// Output file; its extension picks the format unless --to is given.
    output: PathBuf,
    /// Output format name (see `emconvert formats`).
    #[arg(long, value_name = "FORMAT")]
    to: Option<String>,
    /// Which dataset of the input to convert (see `emconvert info`).
    #[arg(long, value_name = "N")]
    dataset: Option<usize>,
    /// Replace the output if it exists.
    #[arg(long)]
    force: bool,
    /// Writer option KEY=VALUE (repeatable), e.g. -w compression=zstd.
    #[arg(short = 'w', long = "write-option", value_name = "KEY=VALUE")]
    write_options: Vec<String>,
    #[command(flatten)]
    read: ReadArgs,
}

const SUBCOMMANDS: &[&str] = &["formats", "info", "convert", "help"];

/// Turn the shorthand `emconvert IN OUT ...` into `emconvert convert IN OUT ...`.
fn expand_shorthand(mut args: Vec<String>) -> Vec<String> {
    if let Some(first) = args.get(1) {
        if !first.starts_with('-') && !SUBCOMMANDS.contains(&first.as_str()) {
            args.insert(1, "convert".into());
        }
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(expand_shorthand(std::env::args().collect()));
    let result = match cli.command {
        Command::Formats { options } => {
            print_formats(options);
            Ok(())
        }
        Command::Info(args) => info(&args),
        Command::Convert(args) => convert(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emconvert: error: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn print_formats(with_options: bool) {
    let registry = emio::registry();
    println!(
        "{:<6} {:<5} {:<5} {:<28} DESCRIPTION",
        "NAME", "READ", "WRITE", "EXTENSIONS"
    );
    for f in registry.formats() {
        let yes = |b| if b { "yes" } else { "-" };
        println!(
            "{:<6} {:<5} {:<5} {:<28} {}",
            f.name(),
            yes(f.can_read()),
            yes(f.can_write()),
            f.extensions().join(" "),
            f.description()
        );
        if with_options {
            print_option_specs("read", f.read_options());
            print_option_specs("write", f.write_options());
        }
    }
}

fn print_option_specs(kind: &str, specs: &[OptionSpec]) {
    for spec in specs {
        let default = spec
            .default
            .map(|d| format!(" (default {d})"))
            .unwrap_or_default();
        println!(
            "    {kind} -{} {}=<{:?}>{default}: {}",
            if kind == "read" { 'o' } else { 'w' },
            spec.name,
            spec.kind,
            spec.help
        );
    }
}

fn open(path: &Path, read: &ReadArgs) -> emio::Result<(std::sync::Arc<dyn Format>, Vec<Dataset>)> {
    let registry = emio::registry();
    let pairs = Options::split_pairs(&read.options)?;
    match &read.from {
        Some(name) => {
            let format = registry.by_name(name)?;
            let datasets = Registry::open_with(format.as_ref(), path, &pairs)?;
            Ok((format, datasets))
        }
        None => registry.open(path, &pairs),
    }
}

/// Print what the reader skipped or repaired on stderr, once per message, and return the
/// messages.
fn report_warnings(path: &Path, datasets: &[Dataset]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for warning in datasets.iter().flat_map(|d| d.warnings()) {
        if !all.contains(warning) {
            eprintln!(
                "emconvert: warning: {}: {}",
                path.display(),
                one_line(warning)
            );
            all.push(warning.clone());
        }
    }
    all
}

/// The SHA-256 of a dataset with a progress bar on a terminal: a sparse array can be far
/// larger than its file.
fn checksum(d: &Dataset) -> emio::Result<String> {
    let bar = progress_bar();
    let progress = ReportingProgress::new(Duration::from_millis(100), |report| {
        if let Some(b) = &bar {
            show(b, report);
        }
    });
    let result = d.sha256_with(&progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    result
}

fn info(args: &InfoArgs) -> emio::Result<()> {
    let (format, datasets) = open(&args.file, &args.read)?;
    let warnings = report_warnings(&args.file, &datasets);
    if args.json {
        let list = datasets
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut doc = d.info_json(i, false, args.original)?;
                if args.checksum {
                    doc["sha256"] = json!(checksum(d)?);
                }
                Ok(doc)
            })
            .collect::<emio::Result<Vec<Value>>>()?;
        let doc = json!({
            "file": args.file.display().to_string(),
            "format": format.name(),
            "warnings": warnings,
            "datasets": list,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("JSON values serialize")
        );
        return Ok(());
    }
    println!(
        "{}: {} ({} dataset{})",
        args.file.display(),
        format.name(),
        datasets.len(),
        if datasets.len() == 1 { "" } else { "s" }
    );
    for (i, d) in datasets.iter().enumerate() {
        println!("[{i}] {:?}", d.title());
        println!(
            "    dtype {}  shape {:?}  ({} bytes)",
            d.dtype(),
            d.shape(),
            d.nbytes()
        );
        if let Some(t) =
            emio::metadata::get_str(&d.metadata, "Signal.signal_type").filter(|t| !t.is_empty())
        {
            println!("    signal type {t}");
        }
        for (axis, size) in d.axes.iter().zip(d.shape()) {
            let cal = match &axis.kind {
                emio::AxisKind::Uniform { scale, offset } => {
                    format!("scale {scale} offset {offset}")
                }
                emio::AxisKind::Values(v) => format!(
                    "values {} .. {}",
                    v.first().copied().unwrap_or(f64::NAN),
                    v.last().copied().unwrap_or(f64::NAN)
                ),
            };
            println!(
                "    axis {:<12} size {size:<6} {cal} {}{}",
                if axis.name.is_empty() {
                    "-"
                } else {
                    &axis.name
                },
                axis.units,
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
            println!("    {leaf}");
        }
        if leaves.len() > 20 {
            println!(
                "    ... {} more metadata entries (use --json)",
                leaves.len() - 20
            );
        }
        if args.checksum {
            println!("    sha256 {}", checksum(d)?);
        }
    }
    Ok(())
}

/// The conversion progress bar: an indicatif bar on stderr fed by the engine's progress
/// reports (bytes, rate, ETA), drawn only when stderr is a terminal.
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .expect("valid template"),
    );
    Some(bar)
}

/// Show one engine report on the bar.
fn show(bar: &indicatif::ProgressBar, report: &ProgressReport) {
    bar.set_length(report.total);
    bar.set_position(report.bytes);
    let eta = report
        .eta
        .map(|d| format!("ETA {}", indicatif::HumanDuration(d)))
        .unwrap_or_default();
    bar.set_message(format!(
        "{}/s {eta}",
        indicatif::HumanBytes(report.rate as u64)
    ));
}

/// Set by the Ctrl-C handler.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Progress that also reports cancellation once Ctrl-C was pressed.
struct Interruptible<'a, P: Progress>(&'a P);

impl<P: Progress> Progress for Interruptible<'_, P> {
    fn set_total(&self, bytes: u64) {
        self.0.set_total(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }
    fn is_cancelled(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst) || self.0.is_cancelled()
    }
}

fn convert(args: &ConvertArgs) -> emio::Result<()> {
    let registry = emio::registry();
    // Pick (and validate) the writer before reading anything.
    let writer = registry.writer_for(&args.output, args.to.as_deref())?;
    let write_pairs = Options::split_pairs(&args.write_options)?;
    Options::parse(writer.write_options(), &write_pairs)?;
    if args.output.exists() && !args.force {
        return Err(emio::Error::OutputExists(args.output.clone()));
    }
    let (_, datasets) = open(&args.input, &args.read)?;
    report_warnings(&args.input, &datasets);
    let dataset = match (args.dataset, datasets.len()) {
        (Some(i), n) => datasets.get(i).ok_or_else(|| {
            emio::Error::invalid_option(
                "dataset",
                format!("{i} is out of range: the input holds {n} dataset(s)"),
            )
        })?,
        (None, 1) => &datasets[0],
        (None, 0) => {
            return Err(emio::Error::invalid_option(
                "dataset",
                format!("{} holds no dataset", args.input.display()),
            ))
        }
        (None, n) => {
            let titles: Vec<String> = datasets
                .iter()
                .enumerate()
                .map(|(i, d)| format!("{i}: {:?}", d.title()))
                .collect();
            return Err(emio::Error::invalid_option(
                "dataset",
                format!(
                    "the input holds {n} datasets ({}); choose one with --dataset N",
                    titles.join(", ")
                ),
            ));
        }
    };
    let bar = progress_bar();
    let progress = ReportingProgress::new(Duration::from_millis(100), |report| {
        if let Some(b) = &bar {
            show(b, report);
        }
    });
    // Ctrl-C cancels the write between regions, so the temporary output is removed and
    // nothing is left at the destination.
    if ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst)).is_err() {
        eprintln!("emconvert: warning: Ctrl-C cannot be trapped; an interrupted run may leave a hidden temporary file");
    }
    let result = Registry::write(
        writer.as_ref(),
        dataset,
        &args.output,
        &write_pairs,
        args.force,
        &Interruptible(&progress),
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    result
}
