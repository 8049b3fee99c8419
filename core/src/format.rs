//! The `Format` trait every format crate implements: its [`FormatInfo`] (names, option
//! sets, what its writer produces), probing, reading, and writing from a [`WriteRequest`];
//! progress reporting for writers.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::options::{OptionSet, OptionSpec, Options};
use crate::output::OutputKind;

/// Receives progress of long operations (bytes processed). Implementations must be cheap:
/// writers call `advance` once per region.
pub trait Progress: Sync {
    /// Total number of bytes the operation will process.
    fn set_total(&self, _bytes: u64) {}
    /// `bytes` more were processed.
    fn advance(&self, _bytes: u64) {}
    /// Whether the caller asked to stop; writers check it between regions and then return
    /// [`Error::Cancelled`].
    fn is_cancelled(&self) -> bool {
        false
    }
    /// A one-line remark for the user about how the output holds the data (e.g. dimensions
    /// the format cannot keep as such); emconvert prints it on stderr.
    fn note(&self, _message: &str) {}
}

/// Progress that reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Progress that only carries a cancellation flag (e.g. set from a Ctrl-C handler).
#[derive(Debug, Default)]
pub struct CancelFlag(pub AtomicBool);
impl Progress for CancelFlag {
    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a format concluded from a second, content-based look at a file whose signature it
/// shares with other formats ([`Format::inspect`]). Ordered: the registry picks the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContentMatch {
    /// The container is another format's flavour (e.g. an HDF5 file without this format's
    /// groups or attributes): the registry never picks this format for the file.
    Rejected,
    /// The format made no finer check (or could not parse enough to decide): the shared
    /// signature alone matched, and the extension breaks ties.
    Signature,
    /// The format found its own structure in the file (e.g. HyperSpy's `file_format`
    /// attribute, an EMD `version_major`, DM5's tag-tree groups).
    Recognised,
}

/// A structural problem found in a file: the field, the value found and why it is wrong
/// (`emconvert check`, [`Format::validate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The header field, tag or part of the file concerned (`mode`, `cella`, `data`, ...).
    pub field: String,
    /// The value found (may be empty when there is none to show).
    pub value: String,
    /// Why it is wrong, and what was expected.
    pub why: String,
}

impl Problem {
    /// A problem with `field`, the `value` found and `why` it is wrong.
    pub fn new(field: impl Into<String>, value: impl ToString, why: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            value: value.to_string(),
            why: why.into(),
        }
    }
}

/// What a format's writer produces and the options it declares ([`FormatInfo::writes`]).
#[derive(Debug, Clone, Copy)]
pub struct Writes {
    /// One file, a directory store, or a file with companions beside it.
    pub output: OutputKind,
    /// The writer's options.
    pub options: &'static [OptionSpec],
}

impl Writes {
    /// A writer of one file, taking `options`.
    pub const fn file(options: &'static [OptionSpec]) -> Self {
        Writes {
            output: OutputKind::File,
            options,
        }
    }

    /// A writer of a directory store (Zarr), taking `options`.
    pub const fn directory(options: &'static [OptionSpec]) -> Self {
        Writes {
            output: OutputKind::Directory,
            options,
        }
    }

    /// A writer of one file plus companion files beside it, named after it (the `.raw`
    /// of a Ripple `.rpl`, the parts of a split TVIPS file), taking `options`. The registry
    /// stages them with the output and commits them together (see
    /// [`crate::output::AtomicOutput`]).
    pub const fn with_companions(options: &'static [OptionSpec]) -> Self {
        Writes {
            output: OutputKind::FileWithCompanions,
            options,
        }
    }
}

/// What a format is: its names, its reader's options and what its writer produces. A
/// format declares it once ([`Format::info`]); the registry, `emconvert formats` and
/// Python's docstrings read it from there.
#[derive(Debug, Clone, Copy)]
pub struct FormatInfo {
    /// Registry name (`dm`, `mrc`, `npy`, ...).
    pub name: &'static str,
    /// One-line human description.
    pub description: &'static str,
    /// File name extensions without the dot, lower case; compound ones allowed (`mrc.gz`).
    pub extensions: &'static [&'static str],
    /// Options the reader accepts.
    pub read_options: &'static [OptionSpec],
    /// The writer, `None` for a format emio only reads.
    pub writes: Option<Writes>,
}

/// One write: the dataset, the path to write (the registry hands a temporary path in the
/// destination folder and renames it on success, so writers just write), the options
/// parsed against the writer's declarations, and where progress goes.
#[derive(Clone, Copy)]
pub struct WriteRequest<'a> {
    /// The dataset to write.
    pub dataset: &'a Dataset,
    /// Where to write it.
    pub path: &'a Path,
    /// The writer's options, parsed against [`Writes::options`] (defaults filled in).
    pub options: &'a Options,
    /// Progress and cancellation.
    pub progress: &'a dyn Progress,
}

impl<'a> WriteRequest<'a> {
    /// A request to write `dataset` to `path` with `options`, reporting no progress.
    pub fn new(dataset: &'a Dataset, path: &'a Path, options: &'a Options) -> Self {
        WriteRequest {
            dataset,
            path,
            options,
            progress: &NoProgress,
        }
    }

    /// The same request reporting to `progress`.
    pub fn with_progress(self, progress: &'a dyn Progress) -> Self {
        WriteRequest { progress, ..self }
    }

    /// The writer's typed options (an [`options!`](crate::options!) struct).
    pub fn typed<T: OptionSet>(&self) -> Result<T> {
        T::from_options(self.options)
    }

    /// The same request writing to another path (a part of a split output).
    pub fn to_path(self, path: &'a Path) -> Self {
        WriteRequest { path, ..self }
    }
}

/// One file format: how to recognise it, read it and (optionally) write it.
///
/// Probing has two stages. [`Format::sniff`] looks at the first bytes only. Formats sharing
/// a container signature (every HDF5-based format: EMD, HyperSpy `.hspy`, DM5, ARINA)
/// also implement [`Format::inspect`], which the registry calls for each format whose
/// `sniff` matched, to tell the flavours apart by their content (groups, attributes). The
/// registry ranks `Recognised` over `Signature`, drops `Rejected`, and then prefers a
/// matching extension; see [`crate::Registry::probe`].
pub trait Format: Send + Sync {
    /// The format's names, option sets and writer.
    fn info(&self) -> FormatInfo;
    /// Whether the first bytes of a file (up to [`crate::registry::SNIFF_BYTES`]) carry
    /// this format's signature. The default, for directory stores, which have no leading
    /// bytes (the registry matches them by extension), is `false`.
    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }
    /// Second probing stage, called only when [`Format::sniff`] matched: look at the
    /// file's structure (cheaply: headers, group names, a few attributes; no pixels) and
    /// say whether it is this format. The default, for formats whose signature is their
    /// own, makes no finer check. Implementations return [`ContentMatch::Signature`] when
    /// the structure cannot be parsed, so that `open` reports the damage.
    fn inspect(&self, _path: &Path) -> ContentMatch {
        ContentMatch::Signature
    }
    /// Companion files that belong to an output at `target` and exist now (an earlier
    /// output's `.raw`, its split parts). Without overwrite, any of them refuses the write
    /// before it starts; with overwrite, those the new output does not replace are removed
    /// when it is committed.
    fn existing_companions(&self, _target: &Path) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// The reader's options grouped by the variant of the format they apply to, for
    /// listings (e.g. EMD's `("Velox", ..)` and `("NCEM", ..)`); one unnamed group of
    /// [`FormatInfo::read_options`] by default.
    fn read_option_sets(&self) -> Vec<(&'static str, &'static [OptionSpec])> {
        vec![("", self.read_options())]
    }
    /// Parse the file's structure and return its datasets with lazy pixel sources. Must not
    /// read pixel data.
    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>>;
    /// Structural problems of the file at `path` that reading tolerates (fields that
    /// contradict each other or the file size, values outside the specification), for
    /// `emconvert check`. Problems that make reading fail are reported by [`Format::open`];
    /// what the reader repaired, by [`Dataset::warnings`]. The default finds none.
    fn validate(&self, _path: &Path) -> Vec<Problem> {
        Vec::new()
    }
    /// Write the request's dataset to its path, region by region through core's write
    /// pipeline ([`crate::plan`], [`crate::output::stream_c_order`]). Only called when
    /// [`FormatInfo::writes`] is set.
    fn write(&self, _request: &WriteRequest) -> Result<()> {
        Err(Error::unsupported(self.name(), "writing"))
    }

    /// Registry name ([`FormatInfo::name`]).
    fn name(&self) -> &'static str {
        self.info().name
    }
    /// One-line human description ([`FormatInfo::description`]).
    fn description(&self) -> &'static str {
        self.info().description
    }
    /// File name extensions ([`FormatInfo::extensions`]).
    fn extensions(&self) -> &'static [&'static str] {
        self.info().extensions
    }
    /// Whether [`Format::open`] is implemented (every format reads).
    fn can_read(&self) -> bool {
        true
    }
    /// Whether [`Format::write`] is implemented.
    fn can_write(&self) -> bool {
        self.info().writes.is_some()
    }
    /// What the writer produces (a file unless declared otherwise).
    fn output_kind(&self) -> OutputKind {
        self.info().writes.map_or(OutputKind::File, |w| w.output)
    }
    /// Whether the writer produces a directory (Zarr) rather than one file.
    fn writes_directory(&self) -> bool {
        self.output_kind() == OutputKind::Directory
    }
    /// Whether the writer also writes companion files beside its output.
    fn writes_companions(&self) -> bool {
        self.output_kind() == OutputKind::FileWithCompanions
    }
    /// Options the reader accepts ([`FormatInfo::read_options`]).
    fn read_options(&self) -> &'static [OptionSpec] {
        self.info().read_options
    }
    /// Options the writer accepts (none for a read-only format).
    fn write_options(&self) -> &'static [OptionSpec] {
        self.info().writes.map_or(&[], |w| w.options)
    }
}
