//! The `Format` trait every format crate implements, and progress reporting for writers.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::options::{OptionSpec, Options};

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

/// One file format: how to recognise it, read it and (optionally) write it.
///
/// Probing has two stages. [`Format::sniff`] looks at the first bytes only. Formats sharing
/// a container signature (every HDF5-based format: EMD, HyperSpy `.hspy`, DM5, ARINA)
/// also implement [`Format::inspect`], which the registry calls for each format whose
/// `sniff` matched, to tell the flavours apart by their content (groups, attributes). The
/// registry ranks `Recognised` over `Signature`, drops `Rejected`, and then prefers a
/// matching extension; see [`crate::Registry::probe`].
pub trait Format: Send + Sync {
    /// Registry name (`dm`, `mrc`, `npy`, ...).
    fn name(&self) -> &'static str;
    /// One-line human description.
    fn description(&self) -> &'static str;
    /// File name extensions without the dot, lower case; compound ones allowed (`mrc.gz`).
    fn extensions(&self) -> &'static [&'static str];
    /// Whether the first bytes of a file (up to [`crate::registry::SNIFF_BYTES`]) carry
    /// this format's signature.
    fn sniff(&self, head: &[u8]) -> bool;
    /// Second probing stage, called only when [`Format::sniff`] matched: look at the
    /// file's structure (cheaply: headers, group names, a few attributes; no pixels) and
    /// say whether it is this format. The default, for formats whose signature is their
    /// own, makes no finer check. Implementations return [`ContentMatch::Signature`] when
    /// the structure cannot be parsed, so that `open` reports the damage.
    fn inspect(&self, _path: &Path) -> ContentMatch {
        ContentMatch::Signature
    }
    /// Whether [`Format::open`] is implemented.
    fn can_read(&self) -> bool {
        true
    }
    /// Whether [`Format::write`] is implemented.
    fn can_write(&self) -> bool {
        false
    }
    /// Whether the writer produces a directory (Zarr) rather than one file.
    fn writes_directory(&self) -> bool {
        false
    }
    /// Whether the writer also writes companion files beside its output (the `.raw` of a
    /// Ripple `.rpl` or an EMPAD `.xml`, the parts of a split TVIPS file). It writes them
    /// next to the path it is given, named after that path; the registry stages them with
    /// the output and commits them together (see [`crate::output::AtomicOutput`]).
    fn writes_companions(&self) -> bool {
        false
    }
    /// Companion files that belong to an output at `target` and exist now (an earlier
    /// output's `.raw`, its split parts). Without overwrite, any of them refuses the write
    /// before it starts; with overwrite, those the new output does not replace are removed
    /// when it is committed.
    fn existing_companions(&self, _target: &Path) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// Options the reader accepts.
    fn read_options(&self) -> &'static [OptionSpec] {
        &[]
    }
    /// The reader's options grouped by the variant of the format they apply to, for
    /// listings (e.g. EMD's `("Velox", ..)` and `("NCEM", ..)`); one unnamed group of
    /// [`Format::read_options`] by default.
    fn read_option_sets(&self) -> Vec<(&'static str, &'static [OptionSpec])> {
        vec![("", self.read_options())]
    }
    /// Options the writer accepts.
    fn write_options(&self) -> &'static [OptionSpec] {
        &[]
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
    /// Write `dataset` to `path` region by region. The registry hands a temporary path in
    /// the destination folder and renames it on success, so writers just write.
    fn write(
        &self,
        _dataset: &Dataset,
        _path: &Path,
        _options: &Options,
        _progress: &dyn Progress,
    ) -> Result<()> {
        Err(Error::unsupported(self.name(), "writing"))
    }
}
