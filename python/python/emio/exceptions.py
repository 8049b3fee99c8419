"""Exceptions raised by emio.

Every emio error derives from :class:`EmioError` and also from the builtin exception code
written for rsciio/NumPy already catches (``ValueError`` for malformed files and bad
options, ``NotImplementedError`` for unsupported features, ``IndexError`` for regions out of
bounds, ``FileExistsError`` when refusing to overwrite). Each class is one variant of emio's
Rust error type. Operating-system failures with an
errno are raised as the builtin ``OSError`` subclass (``FileNotFoundError``,
``PermissionError``, ...). The message is the one emio's Rust core produced: it names the
file, and for malformed input the byte offset and what was expected there.

What a reader skipped or repaired in a file it could still open (a page lost to
truncation, a broken directory chain, an ignored field) is raised as an
:class:`EmioWarning` (a ``UserWarning``) when the file is opened or read.
"""

__all__ = [
    "EmioError",
    "EmioIOError",
    "MalformedFileError",
    "CodecError",
    "UnsupportedError",
    "InvalidOptionError",
    "NoFormatError",
    "OutOfBoundsError",
    "LayoutError",
    "OutputExistsError",
    "InputChangedError",
    "CancelledError",
    "EmioWarning",
]


class EmioError(Exception):
    """Base class of every emio error."""


class EmioIOError(EmioError, OSError):
    """An I/O failure that carries no operating-system error number."""


class MalformedFileError(EmioError, ValueError):
    """The file does not follow its format (the message gives the offset and expectation)."""


class CodecError(MalformedFileError):
    """Encoded data (a compressed chunk, strip or stream) that its codec rejected; the
    codec's own message is quoted, and the exception's ``__cause__`` is not set (the codec
    error is Rust's)."""


class UnsupportedError(EmioError, NotImplementedError):
    """A valid file or dataset uses something emio (or the target format) does not handle."""


class InvalidOptionError(EmioError, ValueError, TypeError):
    """An unknown reader/writer keyword, or a keyword with a bad value."""


class NoFormatError(EmioError, ValueError):
    """No format recognises the file (or no writer handles the extension)."""


class OutOfBoundsError(EmioError, IndexError):
    """A region outside the dataset was requested."""


class LayoutError(EmioError, ValueError):
    """Shapes, strides, axes or an axis order that do not fit together (an array whose
    size is not its shape's, a permutation that is none)."""


class OutputExistsError(EmioError, FileExistsError):
    """The output exists and ``overwrite`` was not requested."""


class InputChangedError(EmioError, OSError):
    """An input file changed while a dataset read from it was being written; the output
    was discarded."""


class CancelledError(EmioError):
    """The operation was cancelled."""


class EmioWarning(UserWarning):
    """A reader skipped or repaired something in a file it could still open (the message
    names the file and what was lost or repaired)."""
