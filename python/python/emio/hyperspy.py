"""HyperSpy convenience: emio's readers and writers behind HyperSpy signals.

``emio.hyperspy.load(path, lazy=True)`` returns HyperSpy signals (lazy ones backed by emio's
Dask arrays); ``emio.hyperspy.save(path, signal)`` writes one with emio. HyperSpy must be
installed (``pip install hyperspy``); importing this module without it raises ImportError.
"""

import os

try:
    from hyperspy.io import dict2signal as _dict2signal
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("emio.hyperspy needs HyperSpy: pip install hyperspy") from e

from . import file_reader, file_writer

__all__ = ["load", "save"]


def load(filename, lazy=False, **kwds):
    """Read ``filename`` with emio into HyperSpy signals: one signal, or a list when the
    file holds several datasets. ``kwds`` are emio/rsciio reader keywords (``chunks``,
    format options)."""
    signals = []
    for signal_dict in file_reader(filename, lazy=lazy, **kwds):
        signal = _dict2signal(signal_dict, lazy=lazy)
        signal.metadata.set_item("General.original_filename", os.path.basename(os.fspath(filename)))
        signals.append(signal)
    return signals[0] if len(signals) == 1 else signals


def save(filename, signal, **kwds):
    """Write a HyperSpy signal (NumPy or lazy) with emio's writer for ``filename``'s
    extension; ``kwds`` are writer options (and ``format``, ``overwrite``)."""
    return file_writer(filename, signal, **kwds)
