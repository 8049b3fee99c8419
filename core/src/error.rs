//! The one error type of emio: every failure names the file, and for malformed input the
//! byte offset and what was expected there. Messages are bounded
//! ([`crate::budget::bounded_message`]), so a parser may quote what it found freely.

use std::path::{Path, PathBuf};

use crate::budget::bounded_message;

/// Result alias used throughout emio.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while probing, reading or writing a file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input does not follow its format: `expected` says what should have been there.
    #[error("{}{format} file is malformed{}: expected {}", path_prefix(path), offset_suffix(*offset), bounded_message(expected.as_str()))]
    Malformed {
        /// Registry name of the format being parsed.
        format: &'static str,
        /// The file, once known (parsers working on bytes attach it later).
        path: Option<PathBuf>,
        /// Byte offset in the file where the problem was found.
        offset: Option<u64>,
        /// What the parser expected to find.
        expected: String,
    },
    /// A valid file uses a feature emio does not handle (yet), or a format cannot hold a dataset.
    #[error("{}{format}: unsupported: {}", path_prefix(path), bounded_message(what.as_str()))]
    Unsupported {
        /// Registry name of the format.
        format: &'static str,
        /// The file, when known.
        path: Option<PathBuf>,
        /// What is not supported.
        what: String,
    },
    /// A reader or writer option was unknown or had a bad value.
    #[error("{}{}invalid option `{}`: {}", path_prefix(path), format_prefix(format), bounded_message(name.as_str()), bounded_message(reason.as_str()))]
    InvalidOption {
        /// The option name as given.
        name: String,
        /// Why it was rejected (for unknown names: the valid ones).
        reason: String,
        /// The format whose reader or writer rejected it, once known.
        format: Option<&'static str>,
        /// The file being read or written, once known.
        path: Option<PathBuf>,
    },
    /// No registered format recognised the file.
    #[error("{}: no format recognises this file: {}", path.display(), bounded_message(reason.as_str()))]
    NoFormat {
        /// The file that was probed.
        path: PathBuf,
        /// Why every candidate was rejected.
        reason: String,
    },
    /// Encoded data (a compressed chunk, strip or stream) that its codec rejected:
    /// `expected` names the data, `source` is the codec's own error.
    #[error("{}{format} file is malformed{}: expected {} ({})", path_prefix(path), offset_suffix(*offset), bounded_message(expected.as_str()), bounded_message(source.to_string()))]
    Codec {
        /// Registry name of the format being decoded.
        format: &'static str,
        /// The file, once known.
        path: Option<PathBuf>,
        /// Byte offset of the encoded data in the file, when known.
        offset: Option<u64>,
        /// What the data should have been (e.g. "a valid deflate stream in a chunk").
        expected: String,
        /// The codec's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A region or index outside the dataset was requested.
    #[error("region out of bounds: {}", bounded_message(.0.as_str()))]
    OutOfBounds(String),
    /// Shapes, strides, axes or an axis order that do not fit together: data of another
    /// size than its shape, a permutation that is none, sources of different shapes
    /// stacked, a sizes product that overflows.
    #[error("inconsistent layout: {}", bounded_message(.0.as_str()))]
    Layout(String),
    /// The output exists and overwriting was not requested.
    #[error("{}: output exists (use --force / overwrite to replace it)", .0.display())]
    OutputExists(PathBuf),
    /// An input changed (size, modification time, or removed) while a dataset read from it
    /// was being written: the output, which could mix old and new bytes, was discarded.
    #[error("{}: changed while being read ({}); the output was discarded", path.display(), bounded_message(change.as_str()))]
    InputChanged {
        /// The input file that changed.
        path: PathBuf,
        /// What changed.
        change: String,
    },
    /// The operation was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
}

fn path_prefix(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}

fn format_prefix(format: &Option<&'static str>) -> String {
    format.map(|f| format!("{f} ")).unwrap_or_default()
}

fn offset_suffix(offset: Option<u64>) -> String {
    offset.map(|o| format!(" at byte {o}")).unwrap_or_default()
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Malformed input at a byte offset.
    pub fn malformed(format: &'static str, offset: u64, expected: impl Into<String>) -> Self {
        Error::Malformed {
            format,
            path: None,
            offset: Some(offset),
            expected: expected.into(),
        }
    }

    /// Malformed input where no single byte offset applies.
    pub fn malformed_at_unknown(format: &'static str, expected: impl Into<String>) -> Self {
        Error::Malformed {
            format,
            path: None,
            offset: None,
            expected: expected.into(),
        }
    }

    /// Encoded data its codec rejected (`source`), where `expected` says what it should have
    /// been; `offset` is where it starts in the file, when known.
    pub fn codec(
        format: &'static str,
        offset: Option<u64>,
        expected: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Codec {
            format,
            path: None,
            offset,
            expected: expected.into(),
            source: source.into(),
        }
    }

    /// Shapes, strides or an axis order that do not fit together.
    pub fn layout(what: impl Into<String>) -> Self {
        Error::Layout(what.into())
    }

    /// An unsupported feature or dataset.
    pub fn unsupported(format: &'static str, what: impl Into<String>) -> Self {
        Error::Unsupported {
            format,
            path: None,
            what: what.into(),
        }
    }

    /// An invalid option value.
    pub fn invalid_option(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidOption {
            name: name.into(),
            reason: reason.into(),
            format: None,
            path: None,
        }
    }

    /// This malformed-input or codec error with `context` applied to what it says was
    /// expected (naming the chunk, frame or dataset the problem was found in); other
    /// errors unchanged.
    pub fn in_context(self, context: impl FnOnce(String) -> String) -> Self {
        match self {
            Error::Malformed {
                format,
                path,
                offset,
                expected,
            } => Error::Malformed {
                format,
                path,
                offset,
                expected: context(expected),
            },
            Error::Codec {
                format,
                path,
                offset,
                expected,
                source,
            } => Error::Codec {
                format,
                path,
                offset,
                expected: context(expected),
                source,
            },
            other => other,
        }
    }

    /// Name the format whose reader or writer rejected an option (other errors unchanged).
    pub fn with_format(self, name: &'static str) -> Self {
        match self {
            Error::InvalidOption {
                name: option,
                reason,
                format: None,
                path,
            } => Error::InvalidOption {
                name: option,
                reason,
                format: Some(name),
                path,
            },
            other => other,
        }
    }

    /// Attach the file path to errors raised by byte-level parsers that did not know it.
    pub fn with_path(self, file: &Path) -> Self {
        match self {
            Error::Malformed {
                format,
                path: None,
                offset,
                expected,
            } => Error::Malformed {
                format,
                path: Some(file.to_path_buf()),
                offset,
                expected,
            },
            Error::Codec {
                format,
                path: None,
                offset,
                expected,
                source,
            } => Error::Codec {
                format,
                path: Some(file.to_path_buf()),
                offset,
                expected,
                source,
            },
            Error::Unsupported {
                format,
                path: None,
                what,
            } => Error::Unsupported {
                format,
                path: Some(file.to_path_buf()),
                what,
            },
            Error::InvalidOption {
                name,
                reason,
                format,
                path: None,
            } => Error::InvalidOption {
                name,
                reason,
                format,
                path: Some(file.to_path_buf()),
            },
            other => other,
        }
    }
}

/// `path` with its prefix `from` replaced by `to` (unchanged when `from` is no prefix).
fn swap_prefix(path: PathBuf, from: &Path, to: &Path) -> PathBuf {
    match path.strip_prefix(from) {
        Ok(rest) if rest.as_os_str().is_empty() => to.to_path_buf(),
        Ok(rest) => to.join(rest),
        Err(_) => path,
    }
}

impl Error {
    /// This error with the path `from` (and paths inside it) named `to` instead, in its
    /// path fields and its text: see [`crate::output::AtomicOutput::in_user_terms`].
    pub fn replace_path(self, from: &Path, to: &Path) -> Self {
        let text = |t: String| t.replace(&from.display().to_string(), &to.display().to_string());
        let path = |p: PathBuf| swap_prefix(p, from, to);
        match self {
            Error::Io { path: p, source } => {
                let message = source.to_string();
                let fixed = text(message.clone());
                Error::Io {
                    path: path(p),
                    source: if fixed == message {
                        source
                    } else {
                        std::io::Error::new(source.kind(), fixed)
                    },
                }
            }
            Error::Malformed {
                format,
                path: p,
                offset,
                expected,
            } => Error::Malformed {
                format,
                path: p.map(path),
                offset,
                expected: text(expected),
            },
            Error::Codec {
                format,
                path: p,
                offset,
                expected,
                source,
            } => Error::Codec {
                format,
                path: p.map(path),
                offset,
                expected: text(expected),
                source,
            },
            Error::Unsupported {
                format,
                path: p,
                what,
            } => Error::Unsupported {
                format,
                path: p.map(path),
                what: text(what),
            },
            Error::InvalidOption {
                name,
                reason,
                format,
                path: p,
            } => Error::InvalidOption {
                name,
                reason: text(reason),
                format,
                path: p.map(path),
            },
            Error::NoFormat { path: p, reason } => Error::NoFormat {
                path: path(p),
                reason: text(reason),
            },
            Error::OutOfBounds(t) => Error::OutOfBounds(text(t)),
            Error::Layout(t) => Error::Layout(text(t)),
            Error::OutputExists(p) => Error::OutputExists(path(p)),
            Error::InputChanged { path: p, change } => Error::InputChanged {
                path: path(p),
                change,
            },
            Error::Cancelled => Error::Cancelled,
        }
    }
}

/// Extension for attaching a path to any `Result` in one call.
pub trait ResultExt<T> {
    /// See [`Error::with_path`].
    fn with_path(self, path: &Path) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn with_path(self, path: &Path) -> Result<T> {
        self.map_err(|e| e.with_path(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_bounded_whatever_the_parser_wrote() {
        let e = Error::malformed("npy", 10, "a dtype ".repeat(50_000));
        let text = e.to_string();
        assert!(
            text.len() < 2 * crate::budget::MESSAGE_MAX_CHARS,
            "{}",
            text.len()
        );
        assert!(text.ends_with("more characters)"), "{text}");
    }

    #[test]
    fn codec_errors_keep_their_source_and_gain_the_path() {
        let zstd = std::io::Error::other("Unknown frame descriptor");
        let e = Error::codec("tiff", Some(8), "Zstd data", zstd).with_path(Path::new("a.tif"));
        assert_eq!(
            e.to_string(),
            "a.tif: tiff file is malformed at byte 8: expected Zstd data (Unknown frame descriptor)"
        );
        let source = std::error::Error::source(&e).expect("the codec's error");
        assert_eq!(source.to_string(), "Unknown frame descriptor");
        let moved = e.replace_path(Path::new("a.tif"), Path::new("b.tif"));
        assert!(matches!(moved, Error::Codec { path: Some(p), .. } if p == Path::new("b.tif")));
    }

    #[test]
    fn layout_errors_are_not_bounds_errors() {
        let e = Error::layout("[0, 0] is not a permutation");
        assert!(matches!(e, Error::Layout(_)));
        assert_eq!(
            e.to_string(),
            "inconsistent layout: [0, 0] is not a permutation"
        );
    }
}
