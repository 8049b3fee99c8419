//! Folder overviews (`emconvert ls`): one row per dataset of every file emio can read, with
//! what a person at the microscope looks for (format, title, dtype, shape, field of view,
//! acquisition date, microscope, beam energy), and one row per file that looked readable
//! but failed, with the reason.
//!
//! Opening reads headers only, so listing costs little per file; files are opened in
//! parallel. In folders, files no format recognises (companions such as `.raw`, notes,
//! pictures) are passed over; a file named explicitly is always listed.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{json, Value};

use emio_core::metadata::{get_f64, get_path, get_str};
use emio_core::{AxisKind, Dataset};

/// One line of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The file (or directory store).
    pub file: PathBuf,
    /// What was read, or why not.
    pub entry: Entry,
}

/// A dataset's summary, or the reason a file could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// One dataset of a readable file.
    Dataset(Summary),
    /// A file whose format was recognised (or that was named explicitly) but did not open.
    Unreadable(String),
}

/// What a listing shows of one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Reader name.
    pub format: String,
    /// Index of the dataset in its file.
    pub index: usize,
    /// `General.title`.
    pub title: String,
    /// Element type name (`uint16`, ...).
    pub dtype: String,
    /// C-order shape.
    pub shape: Vec<u64>,
    /// Physical extent of the scan (navigation axes) or image (signal axes) with length
    /// units, e.g. `512 nm × 512 nm`; empty when uncalibrated.
    pub field_of_view: String,
    /// `General.date` and `General.time`.
    pub date: String,
    /// `Acquisition_instrument.{TEM,SEM}.microscope`.
    pub microscope: String,
    /// `Acquisition_instrument.{TEM,SEM}.beam_energy` in kV.
    pub beam_energy_kv: Option<f64>,
    /// How many warnings the reader gave.
    pub warnings: usize,
}

/// The columns a listing can be sorted by.
pub const COLUMNS: &[&str] = &[
    "file",
    "format",
    "title",
    "dtype",
    "shape",
    "size",
    "fov",
    "date",
    "microscope",
    "energy",
];

impl Row {
    /// The row as JSON (`emconvert ls --json`: one document per line).
    pub fn to_json(&self) -> Value {
        let file = self.file.display().to_string();
        match &self.entry {
            Entry::Unreadable(reason) => json!({"file": file, "error": reason}),
            Entry::Dataset(s) => json!({
                "file": file,
                "format": s.format,
                "index": s.index,
                "title": s.title,
                "dtype": s.dtype,
                "shape": s.shape,
                "field_of_view": s.field_of_view,
                "date": s.date,
                "microscope": s.microscope,
                "beam_energy_kv": s.beam_energy_kv,
                "warnings": s.warnings,
            }),
        }
    }

    /// The row's value in `column` (one of [`COLUMNS`]) as a sort key: numbers compare as
    /// numbers, text as text, unreadable files last.
    fn key(&self, column: &str) -> (u8, f64, String) {
        let Entry::Dataset(s) = &self.entry else {
            return if column == "file" {
                (0, 0.0, self.file.display().to_string())
            } else {
                (1, 0.0, self.file.display().to_string())
            };
        };
        let text = |t: &str| (0, 0.0, t.to_lowercase());
        match column {
            "format" => text(&s.format),
            "title" => text(&s.title),
            "dtype" => text(&s.dtype),
            "shape" => (0, s.shape.len() as f64, format!("{:020?}", s.shape)),
            "size" => (
                0,
                s.shape.iter().map(|&n| n as f64).product(),
                String::new(),
            ),
            "fov" => text(&s.field_of_view),
            "date" => text(&s.date),
            "microscope" => text(&s.microscope),
            "energy" => (
                0,
                s.beam_energy_kv.unwrap_or(f64::NEG_INFINITY),
                String::new(),
            ),
            _ => (
                0,
                0.0,
                format!("{}\u{0}{:09}", self.file.display(), s.index),
            ),
        }
    }
}

/// Sort rows by `column` (one of [`COLUMNS`]), ascending or `descending`, stably (file
/// order breaks ties); unreadable files stay last either way.
pub fn sort(rows: &mut [Row], column: &str, descending: bool) {
    rows.sort_by(|a, b| {
        let (ka, kb) = (a.key(column), b.key(column));
        let by_value = ka.1.total_cmp(&kb.1).then(ka.2.cmp(&kb.2));
        ka.0.cmp(&kb.0).then(if descending {
            by_value.reverse()
        } else {
            by_value
        })
    });
}

/// The rows for `paths`: files as given, folders by their entries (and sub-folders' when
/// `recursive`), in file-name order.
pub fn list(paths: &[PathBuf], recursive: bool) -> Vec<Row> {
    let registry = crate::registry();
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for path in paths {
        if path.is_dir() && registry.probe(path).is_err() {
            collect(&registry, path, recursive, &mut files);
        } else {
            files.push((path.clone(), true));
        }
    }
    files
        .par_iter()
        .map(|(file, named)| rows_of(&registry, file, *named))
        .collect::<Vec<Vec<Row>>>()
        .into_iter()
        .flatten()
        .collect()
}

/// The entries of `folder` in name order: files, directory stores, and (when `recursive`)
/// what other sub-folders hold. Hidden entries (emio's temporaries among them) are skipped.
fn collect(
    registry: &crate::Registry,
    folder: &Path,
    recursive: bool,
    files: &mut Vec<(PathBuf, bool)>,
) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if registry.probe(&path).is_ok() {
                files.push((path, false));
            } else if recursive {
                collect(registry, &path, true, files);
            }
        } else {
            files.push((path, false));
        }
    }
}

/// The rows of one file. A file that is not `named` and that no format recognises gives
/// no row.
fn rows_of(registry: &crate::Registry, file: &Path, named: bool) -> Vec<Row> {
    let row = |entry| Row {
        file: file.to_path_buf(),
        entry,
    };
    let format = match registry.probe(file) {
        Ok(f) => f,
        Err(e) if named => return vec![row(Entry::Unreadable(one_line(&e.to_string())))],
        Err(_) => return Vec::new(),
    };
    match crate::Registry::open_with(format.as_ref(), file, &[] as &[(&str, &str)]) {
        Err(e) => vec![row(Entry::Unreadable(one_line(&e.to_string())))],
        Ok(datasets) => datasets
            .iter()
            .enumerate()
            .map(|(index, d)| row(Entry::Dataset(summarise(format.name(), index, d))))
            .collect(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The listing's view of one dataset.
pub fn summarise(format: &str, index: usize, d: &Dataset) -> Summary {
    let md = &d.metadata;
    let instrument = |key: &str| {
        ["TEM", "SEM"]
            .iter()
            .find_map(|m| get_path(md, &format!("Acquisition_instrument.{m}.{key}")))
    };
    let date = [get_str(md, "General.date"), get_str(md, "General.time")]
        .iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    Summary {
        format: format.to_string(),
        index,
        title: d.title().to_string(),
        dtype: d.dtype().name().to_string(),
        shape: d.shape().to_vec(),
        field_of_view: field_of_view(d),
        date,
        microscope: instrument("microscope")
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_default(),
        beam_energy_kv: ["TEM", "SEM"]
            .iter()
            .find_map(|m| get_f64(md, &format!("Acquisition_instrument.{m}.beam_energy"))),
        warnings: d.warnings().len(),
    }
}

/// Extent of the (up to two) length-calibrated axes of the scan, or of the image when the
/// scan has none, as `W unit × H unit` (innermost first).
fn field_of_view(d: &Dataset) -> String {
    let extent = |navigate: bool| -> Vec<String> {
        d.axes
            .iter()
            .zip(d.shape())
            .rev()
            .filter(|(a, _)| a.navigate == navigate)
            .filter(|(a, _)| emio_core::units::metres(a.units.trim()).is_some())
            .filter_map(|(a, &n)| match &a.kind {
                AxisKind::Uniform { scale, .. } => Some(format!(
                    "{} {}",
                    significant(scale.abs() * n as f64),
                    a.units.trim()
                )),
                AxisKind::Values(v) => match (v.first(), v.last()) {
                    (Some(first), Some(last)) => Some(format!(
                        "{} {}",
                        significant((last - first).abs()),
                        a.units.trim()
                    )),
                    _ => None,
                },
            })
            .take(2)
            .collect()
    };
    let scan = extent(true);
    let parts = if scan.is_empty() { extent(false) } else { scan };
    parts.join(" × ")
}

/// `x` with four significant digits, without trailing zeros.
pub fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::{Axis, DType};

    fn image() -> Dataset {
        let mut d = Dataset::from_bytes(vec![0; 8], DType::U8, vec![2, 4]).unwrap();
        d.axes[0] = Axis::uniform("y", "nm", 0.25, 0.0, false);
        d.axes[1] = Axis::uniform("x", "nm", 0.5, 0.0, false);
        emio_core::metadata::set_path(
            &mut d.metadata,
            "Acquisition_instrument.TEM.beam_energy",
            300.0,
        );
        d
    }

    #[test]
    fn summary_of_a_calibrated_image() {
        let s = summarise("npy", 0, &image());
        assert_eq!(s.field_of_view, "2 nm × 0.5 nm");
        assert_eq!(s.beam_energy_kv, Some(300.0));
        assert_eq!(s.dtype, "uint8");
        assert_eq!(significant(1234.5678), "1235");
        assert_eq!(significant(0.012345), "0.01235");
    }

    #[test]
    fn sorting_puts_unreadable_files_last() {
        let ok = |name: &str, n| Row {
            file: name.into(),
            entry: Entry::Dataset(Summary {
                shape: vec![n],
                ..summarise("npy", 0, &image())
            }),
        };
        let bad = Row {
            file: "a".into(),
            entry: Entry::Unreadable("no".into()),
        };
        let mut rows = vec![bad, ok("c", 5), ok("b", 100)];
        sort(&mut rows, "size", false);
        let order: Vec<_> = rows.iter().map(|r| r.file.display().to_string()).collect();
        assert_eq!(order, ["c", "b", "a"]);
        sort(&mut rows, "size", true);
        assert_eq!(rows[0].file, PathBuf::from("b"));
        assert_eq!(rows[2].file, PathBuf::from("a"));
        sort(&mut rows, "file", false);
        assert_eq!(rows[0].file, PathBuf::from("a"));
    }
}
