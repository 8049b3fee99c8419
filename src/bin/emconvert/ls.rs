//! `emconvert ls`: one line per dataset of every readable file in folders or among files
//! ([`emio::listing`]), as an aligned table or JSON Lines.

use std::path::PathBuf;

use clap::Args;

use emio::listing::{self, Entry, COLUMNS};

use crate::outln;

/// Arguments of `emconvert ls`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  emconvert ls                       # the current folder
  emconvert ls session/ --recursive --sort date
  emconvert ls *.dm4 *.emd --json    # one JSON document per dataset, per line")]
pub struct LsArgs {
    /// Folders and files to list (default: the current folder).
    #[arg(value_name = "DIR|FILE")]
    paths: Vec<PathBuf>,
    /// Also list what sub-folders hold.
    #[arg(short, long)]
    recursive: bool,
    /// Print JSON Lines: one document per dataset (or unreadable file), one per line.
    #[arg(long)]
    json: bool,
    /// Sort by this column.
    #[arg(long, value_name = "COLUMN", default_value = "file",
          value_parser = clap::builder::PossibleValuesParser::new(COLUMNS))]
    sort: String,
    /// Sort in descending order (unreadable files stay last).
    #[arg(long)]
    reverse: bool,
}

/// List the datasets; `Err` carries how many files were unreadable (each listed).
pub fn ls(args: &LsArgs) -> Result<(), usize> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        crate::info::expand(&args.paths)
    };
    let mut rows = listing::list(&paths, args.recursive);
    listing::sort(&mut rows, &args.sort, args.reverse);
    let unreadable = rows
        .iter()
        .filter(|r| matches!(r.entry, Entry::Unreadable(_)))
        .count();
    if args.json {
        for row in &rows {
            outln!("{}", row.to_json());
        }
    } else {
        table(&rows);
    }
    if unreadable == 0 {
        Ok(())
    } else {
        Err(unreadable)
    }
}

/// The rows as a table with aligned columns; unreadable files show their reason.
fn table(rows: &[listing::Row]) {
    let header = [
        "FILE",
        "#",
        "FORMAT",
        "TITLE",
        "DTYPE",
        "SHAPE",
        "FIELD OF VIEW",
        "DATE",
        "MICROSCOPE",
        "kV",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    let mut errors = Vec::new();
    for row in rows {
        let file = row.file.display().to_string();
        match &row.entry {
            Entry::Unreadable(reason) => errors.push((cells.len(), file, reason.clone())),
            Entry::Dataset(s) => cells.push(vec![
                file,
                s.index.to_string(),
                s.format.clone(),
                s.title.chars().take(40).collect(),
                s.dtype.clone(),
                s.shape
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join("×"),
                s.field_of_view.clone(),
                s.date.clone(),
                s.microscope.chars().take(24).collect(),
                s.beam_energy_kv.map(|e| e.to_string()).unwrap_or_default(),
            ]),
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut errors = errors.into_iter().peekable();
    for (i, row) in cells.iter().enumerate() {
        while let Some((_, file, reason)) = errors.next_if(|(at, _, _)| *at == i) {
            outln!("{file}  UNREADABLE: {reason}");
        }
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        outln!("{}", line.join("  ").trim_end());
    }
    for (_, file, reason) in errors {
        outln!("{file}  UNREADABLE: {reason}");
    }
}
