//! emio errors as Python exceptions, and a slot that carries Python exceptions raised inside
//! callbacks back through emio's Rust error type.
//!
//! Each [`emio::Error`] variant maps to a class of `emio.exceptions` that also derives from
//! the builtin Python users already catch (`ValueError`, `NotImplementedError`, ...);
//! I/O failures become the builtin `OSError` subclass for their errno (`FileNotFoundError`,
//! `PermissionError`, ...). The message is emio's own, in Python terms: options are keyword
//! arguments (`mode=2` for `file_writer`, not the command line's `-w mode=2`), and refusing
//! to replace an output says `overwrite=True`.

use std::sync::Mutex;

use emio::Error;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

/// The `emio.exceptions` class for an error variant.
fn class_name(error: &Error) -> &'static str {
    match error {
        Error::Io { .. } => "EmioIOError",
        Error::Malformed { .. } => "MalformedFileError",
        Error::Codec { .. } => "CodecError",
        Error::Unsupported { .. } => "UnsupportedError",
        Error::InvalidOption { .. } => "InvalidOptionError",
        Error::NoFormat { .. } => "NoFormatError",
        Error::OutOfBounds(_) => "OutOfBoundsError",
        Error::Layout(_) => "LayoutError",
        Error::OutputExists(_) => "OutputExistsError",
        Error::InputChanged { .. } => "InputChangedError",
        Error::Cancelled => "CancelledError",
    }
}

/// Command-line phrases of emio's messages and what a Python user writes instead.
const PYTHON_TERMS: &[(&str, &str)] = &[
    ("the writer option ", "the writer keyword argument "),
    ("the reader option ", "the reader keyword argument "),
    ("writer option ", "writer keyword argument "),
    ("reader option ", "reader keyword argument "),
    (" -w ", " the writer keyword argument "),
    (" -o ", " the reader keyword argument "),
    ("--force", "overwrite=True"),
    ("invalid option `", "invalid keyword argument `"),
];

/// `error`'s message in Python terms (see [`PYTHON_TERMS`]).
pub fn python_message(error: &Error) -> String {
    if let Error::OutputExists(path) = error {
        return format!(
            "{}: the output exists; pass overwrite=True to replace it",
            path.display()
        );
    }
    let mut message = error.to_string();
    for (cli, python) in PYTHON_TERMS {
        if message.contains(cli) {
            message = message.replace(cli, python);
        }
    }
    message
}

/// Convert an emio error into the matching Python exception.
pub fn to_pyerr(py: Python<'_>, error: Error) -> PyErr {
    let message = python_message(&error);
    if let Error::Io { path, source } = &error {
        if let Some(errno) = source.raw_os_error() {
            // OSError(errno, strerror, filename) picks the builtin subclass for the errno.
            return PyOSError::new_err((errno, source.to_string(), path.display().to_string()));
        }
    }
    let made = py
        .import("emio.exceptions")
        .and_then(|m| m.getattr(class_name(&error)))
        .and_then(|class| class.call1((message,)));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

/// Extension to turn `emio::Result` into `PyResult` with [`to_pyerr`].
pub trait IntoPy<T> {
    /// Map the error into a Python exception.
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for emio::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_pyerr(py, e))
    }
}

/// Keeps the first Python exception raised inside a callback that emio called through its
/// Rust API (a region read of a Python-backed source, a signal check), so the caller can
/// re-raise the original exception instead of emio's wrapped one.
#[derive(Default)]
pub struct PyErrSlot(Mutex<Option<PyErr>>);

impl PyErrSlot {
    /// Remember `err` unless an earlier one is already kept.
    pub fn keep(&self, err: PyErr) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(err);
        }
    }

    /// Take the kept exception, if any.
    pub fn take(&self) -> Option<PyErr> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The Python exception for `error`: the kept original when there is one.
    pub fn resolve(&self, py: Python<'_>, error: Error) -> PyErr {
        self.take().unwrap_or_else(|| to_pyerr(py, error))
    }
}
