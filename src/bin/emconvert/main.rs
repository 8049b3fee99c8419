//! `emconvert`: list formats, describe files, convert between formats.

mod check;
mod convert_many;
mod info;
mod ls;
mod preview;
mod signals;
mod stats;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use emio::{Dataset, Format, OptionKind, OptionSpec, Options, Progress, Registry};
use emio_core::engine::{ProgressReport, ReportingProgress};

/// Print a line on stdout. A closed pipe (`emconvert info F | head -1`) ends the program
/// quietly with success, as other Unix tools do, instead of a panic.
#[macro_export]
macro_rules! outln {
    () => { $crate::emit(format_args!("")) };
    ($($arg:tt)*) => { $crate::emit(format_args!($($arg)*)) };
}

/// See [`outln!`].
pub fn emit(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("emconvert: error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

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
    /// Statistics of a dataset: min, max, mean, std, NaN/inf counts, histogram, axis sums.
    Stats(stats::StatsArgs),
    /// List the datasets of every readable file in folders: one line per dataset.
    Ls(ls::LsArgs),
    /// Validate files and explain every problem found (exit 0 valid, 1 problems, 2 unreadable).
    Check(check::CheckArgs),
    /// Draw a PNG picture of a file's data, chosen by what the data is.
    Preview(preview::PreviewArgs),
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
    /// The files to describe (wildcards such as `*.dm4` are expanded).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print JSON Lines: one JSON document per file, one per line (docs/info.schema.json).
    #[arg(long)]
    json: bool,
    /// Compute the SHA-256 of each dataset's pixels (C order, little-endian).
    #[arg(long)]
    checksum: bool,
    /// Include the original metadata: the file's own header and tag tree.
    #[arg(long)]
    original: bool,
    #[command(flatten)]
    read: ReadArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:
  emconvert convert scan.dm4 scan.hspy
  emconvert scan.mib scan.zarr --force              # the shorthand: IN OUT
  emconvert convert *.dm4 --out-dir converted --to tiff
  emconvert convert session/*.mrc --out-dir npy --to npy --jobs 2")]
struct ConvertArgs {
    /// IN OUT: one file to one file. With --out-dir: every input, each to DIR/NAME.EXT.
    #[arg(required = true, value_name = "IN [OUT] | IN...")]
    paths: Vec<PathBuf>,
    /// Convert every input into this folder (batch conversion; needs --to).
    #[arg(long, value_name = "DIR", requires = "to")]
    out_dir: Option<PathBuf>,
    /// Output format name (see `emconvert formats`).
    #[arg(long, value_name = "FORMAT")]
    to: Option<String>,
    /// Which dataset of the input to convert (see `emconvert info`); in a batch, without
    /// it every dataset of each input is converted (`<name>_<N>.<ext>` when several).
    #[arg(long, value_name = "N")]
    dataset: Option<usize>,
    /// Replace the output if it exists.
    #[arg(long)]
    force: bool,
    /// Files converted at once in a batch (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Writer option KEY=VALUE (repeatable), e.g. -w compression=zstd.
    #[arg(short = 'w', long = "write-option", value_name = "KEY=VALUE")]
    write_options: Vec<String>,
    #[command(flatten)]
    read: ReadArgs,
}

const SUBCOMMANDS: &[&str] = &[
    "formats", "info", "convert", "stats", "ls", "check", "preview", "help",
];

/// Turn the shorthand `emconvert IN OUT ...` into `emconvert convert IN OUT ...`. The
/// shorthand applies only when IN exists as a file or folder, so a mistyped or future verb
/// is never taken for a file to convert.
fn expand_shorthand(mut args: Vec<String>) -> Result<Vec<String>, String> {
    if let Some(first) = args.get(1) {
        if !first.starts_with('-') && !SUBCOMMANDS.contains(&first.as_str()) {
            if !Path::new(first).exists() {
                return Err(format!(
                    "no such command or file: {first} (did you mean `emconvert {}`? \
                     commands: {})",
                    closest_verb(first),
                    SUBCOMMANDS.join(", ")
                ));
            }
            args.insert(1, "convert".into());
        }
    }
    Ok(args)
}

/// The subcommand with the smallest edit distance to `word`.
fn closest_verb(word: &str) -> &'static str {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let next = (row[j + 1] + 1)
                    .min(row[j] + 1)
                    .min(prev + usize::from(ca != cb));
                prev = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    }
    SUBCOMMANDS
        .iter()
        .copied()
        .min_by_key(|verb| distance(&word.to_lowercase(), verb))
        .unwrap_or("convert")
}

fn main() -> ExitCode {
    let args = match expand_shorthand(std::env::args().collect()) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("emconvert: error: {message}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Formats { options } => {
            print_formats(options);
            Ok(())
        }
        Command::Info(args) => {
            return match info::info(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Command::Ls(args) => {
            return match ls::ls(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Command::Check(args) => match check::check(&args) {
            Ok(verdict) => return ExitCode::from(verdict.exit_code()),
            Err(e) => {
                eprintln!("emconvert: error: {}", one_line(&e.to_string()));
                return ExitCode::from(2);
            }
        },
        Command::Convert(args) if args.out_dir.is_some() => {
            return match convert_many::convert_many(&args) {
                Ok(0) => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("emconvert: error: {}", one_line(&e.to_string()));
                    ExitCode::FAILURE
                }
            }
        }
        Command::Convert(args) => convert(&args),
        Command::Stats(args) => stats::stats(&args),
        Command::Preview(args) => preview::run(&args),
    };
    match (result, signals::received()) {
        (Ok(()), _) => ExitCode::SUCCESS,
        (Err(_), Some((number, name))) => {
            eprintln!("emconvert: interrupted by {name}: no output written");
            ExitCode::from(128 + number as u8)
        }
        (Err(e), None) => {
            eprintln!("emconvert: error: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// The message on one line (whitespace runs collapsed).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn print_formats(with_options: bool) {
    let registry = emio::registry();
    outln!(
        "{:<6} {:<5} {:<5} {:<28} DESCRIPTION",
        "NAME",
        "READ",
        "WRITE",
        "EXTENSIONS"
    );
    for f in registry.formats() {
        let yes = |b| if b { "yes" } else { "-" };
        outln!(
            "{:<6} {:<5} {:<5} {:<28} {}",
            f.name(),
            yes(f.can_read()),
            yes(f.can_write()),
            f.extensions().join(" "),
            f.description()
        );
        if with_options {
            for (variant, specs) in f.read_option_sets() {
                if !variant.is_empty() && !specs.is_empty() {
                    outln!("    {variant} files:");
                }
                print_option_specs("read", specs);
            }
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
        outln!(
            "    {kind} -{} {}=<{}>{default}: {}",
            if kind == "read" { 'o' } else { 'w' },
            spec.name,
            spec.kind.describe(),
            spec.help
        );
        if let OptionKind::Choice(words) = spec.kind {
            for word in words.iter().filter(|w| !w.help.is_empty()) {
                outln!("        {}: {}", word.word, word.help);
            }
        }
    }
}

/// Open `path` with the reader options and `--from` of `read`.
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
    with_progress(|p| d.sha256_with(p))
}

/// Run `work` with a progress bar on stderr when it is a terminal.
fn with_progress<T>(work: impl FnOnce(&dyn Progress) -> T) -> T {
    let bar = progress_bar();
    let progress = ReportingProgress::new(Duration::from_millis(100), |report| {
        if let Some(b) = &bar {
            show(b, report);
        }
    });
    let result = work(&progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    result
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

/// Progress that also reports cancellation once SIGINT, SIGTERM or SIGHUP arrived.
struct Interruptible<'a, P: Progress>(&'a P);

impl<P: Progress> Progress for Interruptible<'_, P> {
    fn set_total(&self, bytes: u64) {
        self.0.set_total(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.advance(bytes);
    }
    fn is_cancelled(&self) -> bool {
        signals::received().is_some() || self.0.is_cancelled()
    }
    fn note(&self, message: &str) {
        eprintln!("emconvert: note: {}", one_line(message));
    }
}

fn convert(args: &ConvertArgs) -> emio::Result<()> {
    let [input, output] = args.paths.as_slice() else {
        return Err(emio::Error::invalid_option(
            "OUT",
            format!(
                "convert takes IN OUT ({} paths given); to convert several files, give \
                 --out-dir DIR --to FORMAT",
                args.paths.len()
            ),
        ));
    };
    let registry = emio::registry();
    // Pick (and validate) the writer before reading anything.
    let writer = registry.writer_for(output, args.to.as_deref())?;
    let write_pairs = Options::split_pairs(&args.write_options)?;
    Options::parse(writer.write_options(), &write_pairs)
        .map_err(|e| e.with_format(writer.name()).with_path(output))?;
    if emio::batch::same_file(input, output) {
        return Err(emio::Error::io(
            output,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "is the input {} (the same file); converting a file onto itself would \
                     destroy it, even with --force: choose another output name",
                    input.display()
                ),
            ),
        ));
    }
    emio_core::registry::check_not_folder(writer.as_ref(), output)?;
    if output.symlink_metadata().is_ok() && !args.force {
        return Err(emio::Error::OutputExists(output.clone()));
    }
    report_leftovers(output);
    let (_, datasets) = open(input, &args.read)?;
    report_warnings(input, &datasets);
    let dataset = emio::pick(&datasets, args.dataset)?;
    if args.dataset.is_none() && datasets.len() > 1 {
        note_main_dataset(input, &datasets, dataset);
    }
    let bar = progress_bar();
    let progress = ReportingProgress::new(Duration::from_millis(100), |report| {
        if let Some(b) = &bar {
            show(b, report);
        }
    });
    // A termination signal cancels the write between regions, so the temporary output is
    // removed and nothing is left at the destination.
    signals::trap();
    signals::trap_bus_error(Some(input));
    let result = Registry::write(
        writer.as_ref(),
        dataset,
        output,
        &write_pairs,
        args.force,
        &Interruptible(&progress),
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    result
}

/// Say on stderr which dataset of a file of several converts when none was chosen: its
/// main dataset, the others being derived from it.
fn note_main_dataset(input: &Path, datasets: &[Dataset], main: &Dataset) {
    let listing: Vec<String> = datasets
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{i} {:?}", d.title()))
        .collect();
    eprintln!(
        "emconvert: note: {}: converting its main dataset {:?}; the derived ones are kept \
         only where the output format stores them beside the data (datasets: {}; choose one \
         with --dataset N)",
        input.display(),
        main.title(),
        listing.join(", ")
    );
}

/// Remove the temporary outputs that killed emio processes left beside `output`, and say so.
fn report_leftovers(output: &Path) {
    let folder = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    for path in emio_core::leftovers::remove_stale(folder) {
        eprintln!(
            "emconvert: removed {}, left by an interrupted emio process that is gone",
            path.display()
        );
    }
}
