//! The format registry: picks a reader by magic bytes first (then, among formats sharing a
//! container signature such as HDF5, by what each finds in the file's structure) and file
//! extension second, and a writer by name or extension; opens and writes through it.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::format::{ContentMatch, Format, Progress, WriteRequest};
use crate::options::Options;
use crate::output::AtomicOutput;

/// How many leading bytes of a file are handed to [`Format::sniff`].
pub const SNIFF_BYTES: usize = 4096;

/// A set of formats.
#[derive(Clone, Default)]
pub struct Registry {
    formats: Vec<Arc<dyn Format>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.formats.iter().map(|x| x.name()))
            .finish()
    }
}

/// The lower-case file name of `path`, used for extension matching.
fn file_name_lower(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

fn has_extension(format: &dyn Format, name: &str) -> bool {
    format
        .extensions()
        .iter()
        .any(|ext| name.ends_with(&format!(".{ext}")))
}

/// The longest registered extension matching `name`, so `x.mrc.gz` picks `mrc.gz`.
fn extension_match_len(format: &dyn Format, name: &str) -> usize {
    format
        .extensions()
        .iter()
        .filter(|ext| name.ends_with(&format!(".{ext}")))
        .map(|ext| ext.len())
        .max()
        .unwrap_or(0)
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a format (later formats are tried after earlier ones).
    pub fn register(&mut self, format: Arc<dyn Format>) -> &mut Self {
        self.formats.push(format);
        self
    }

    /// All formats in registration order.
    pub fn formats(&self) -> &[Arc<dyn Format>] {
        &self.formats
    }

    /// The format registered under `name`.
    pub fn by_name(&self, name: &str) -> Result<Arc<dyn Format>> {
        self.formats
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| {
                Error::invalid_option(
                    "format",
                    format!("unknown format {name:?}; known: {}", self.names()),
                )
            })
    }

    fn names(&self) -> String {
        self.formats
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Choose the reader for a file. Formats whose signature matches the first bytes
    /// ([`Format::sniff`]) are inspected ([`Format::inspect`]); the best is the one with
    /// the highest [`ContentMatch`] (`Rejected` ones never), then a matching extension, then
    /// the earliest registered. When no signature matches (or every matching format
    /// rejects the content), the reader claiming the file's extension is used.
    pub fn probe(&self, path: &Path) -> Result<Arc<dyn Format>> {
        // Directory stores (Zarr) have no leading bytes: they are matched by extension
        // (a folder opens for reading but refuses reads, which is how one is told apart
        // here without asking for the path's metadata first).
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        File::open(path)
            .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::IsADirectory || path.is_dir() {
                    head.clear();
                    Ok(0)
                } else {
                    Err(Error::io(path, e))
                }
            })?;
        let name = file_name_lower(path);
        let readers = || self.formats.iter().filter(|f| f.can_read());
        let by_extension = readers()
            .filter(|f| has_extension(f.as_ref(), &name))
            .max_by_key(|f| extension_match_len(f.as_ref(), &name));
        let mut best: Option<(ContentMatch, bool, &Arc<dyn Format>)> = None;
        for format in readers().filter(|f| f.sniff(&head)) {
            let content = format.inspect(path);
            if content == ContentMatch::Rejected {
                continue;
            }
            let rank = (content, has_extension(format.as_ref(), &name));
            if best.is_none_or(|(c, e, _)| rank > (c, e)) {
                best = Some((rank.0, rank.1, format));
            }
        }
        if let Some((_, _, format)) = best {
            return Ok(Arc::clone(format));
        }
        if let Some(format) = by_extension {
            return Ok(Arc::clone(format));
        }
        let reason = if path.is_dir() {
            "it is a folder whose extension no directory-store reader claims".to_string()
        } else if head.is_empty() {
            "the file is empty".to_string()
        } else {
            format!(
                "its first bytes match no signature and its extension no reader (readers: {})",
                readers().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            )
        };
        Err(Error::NoFormat {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Open a file with the probed format and `key=value` reader options.
    pub fn open<K: AsRef<str>, V: AsRef<str>>(
        &self,
        path: &Path,
        options: &[(K, V)],
    ) -> Result<(Arc<dyn Format>, Vec<Dataset>)> {
        let format = self.probe(path)?;
        let datasets = Self::open_with(format.as_ref(), path, options)?;
        Ok((format, datasets))
    }

    /// Open a file with a given format.
    pub fn open_with<K: AsRef<str>, V: AsRef<str>>(
        format: &dyn Format,
        path: &Path,
        options: &[(K, V)],
    ) -> Result<Vec<Dataset>> {
        let options = Options::parse(format.read_options(), options)
            .map_err(|e| e.with_format(format.name()).with_path(path))?;
        let (opened, mut stamps) = crate::inputs::recording(|| format.open(path, &options));
        let mut datasets = opened.map_err(|e| e.with_format(format.name()).with_path(path))?;
        // The path itself too (a folder store's own entry, a file read without a map).
        if !stamps.iter().any(|s| s.path() == path) {
            if let Some(own) = crate::inputs::InputStamp::of(path) {
                stamps.insert(0, own);
            }
        }
        let stamps: Arc<[crate::inputs::InputStamp]> = stamps.into();
        for dataset in &mut datasets {
            dataset.set_inputs(stamps.clone());
        }
        Ok(datasets)
    }

    /// The writer for `path`: the format named `to`, or the one whose extension matches.
    pub fn writer_for(&self, path: &Path, to: Option<&str>) -> Result<Arc<dyn Format>> {
        let format = match to {
            Some(name) => self.by_name(name)?,
            None if path.is_dir() && self.writers_by_extension(path).is_none() => {
                return Err(folder_output(path))
            }
            None => self
                .writers_by_extension(path)
                .ok_or_else(|| Error::NoFormat {
                    path: path.to_path_buf(),
                    reason: format!(
                        "no writer for this extension (writers: {})",
                        self.formats
                            .iter()
                            .filter(|f| f.can_write())
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?,
        };
        if !format.can_write() {
            return Err(Error::unsupported(format.name(), "writing").with_path(path));
        }
        Ok(format)
    }

    /// The writer whose extension `path` has (the longest match).
    fn writers_by_extension(&self, path: &Path) -> Option<Arc<dyn Format>> {
        let name = file_name_lower(path);
        self.formats
            .iter()
            .filter(|f| f.can_write() && has_extension(f.as_ref(), &name))
            .max_by_key(|f| extension_match_len(f.as_ref(), &name))
            .cloned()
    }

    /// Write `dataset` to `path` with `format`, atomically: into a temporary file (or
    /// directory) beside `path`, renamed on success, removed on failure. An existing
    /// `path` is replaced only when `overwrite` is set.
    pub fn write<K: AsRef<str>, V: AsRef<str>>(
        format: &dyn Format,
        dataset: &Dataset,
        path: &Path,
        options: &[(K, V)],
        overwrite: bool,
        progress: &dyn Progress,
    ) -> Result<()> {
        let options = Options::parse(format.write_options(), options)
            .map_err(|e| e.with_format(format.name()).with_path(path))?;
        check_not_folder(format, path)?;
        let kind = format.output_kind();
        // Logical data may be far larger than its input (sparse HDF5/Zarr): refuse before
        // writing rather than fill the disk.
        crate::budget::check_free_space(path, dataset.nbytes())?;
        let stale = format.existing_companions(path);
        if let (false, Some(existing)) = (overwrite, stale.first()) {
            return Err(Error::OutputExists(existing.clone()));
        }
        let output = AtomicOutput::new(path, overwrite, kind)?.replacing(stale);
        let request = WriteRequest::new(dataset, output.temp_path(), &options);
        format
            .write(&request.with_progress(progress))
            .map_err(|e| {
                output
                    .in_user_terms(e)
                    .with_format(format.name())
                    .with_path(path)
            })?;
        // An input rewritten or truncated meanwhile may have mixed old and new bytes into
        // the output: discard it (dropping `output` removes the temporary).
        crate::inputs::check_unchanged(dataset.inputs())?;
        output.commit()
    }
}

/// An error when `path` is an existing folder and `format` writes a file there: a folder
/// is never replaced by a file, with or without overwrite, and saying "exists" would hide
/// that the user named a folder.
pub fn check_not_folder(format: &dyn Format, path: &Path) -> Result<()> {
    if !path.is_dir() || format.writes_directory() {
        return Ok(());
    }
    Err(folder_output(path))
}

/// The error for an output path that is an existing folder where a file is to be written.
fn folder_output(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a folder: give an output file name, e.g. inside it with the extension of \
             the format to write (emconvert formats lists them)",
        ),
    )
}
