"""emio: read, write and convert electron-microscopy files (DM3/DM4, EMD, MRC, BLO, MIB,
TIFF, NPY, Zarr) with a Rust core.

The rsciio-compatible API::

    import emio
    signals = emio.file_reader("scan.mib", lazy=True)   # list of rsciio-style dicts
    signals[0]["data"].sum().compute()                  # Dask; runs on dask.distributed too
    emio.file_writer("out.mrc", signals[0])             # NumPy or Dask data, streamed
    emio.convert("scan.dm4", "scan.zspy")               # file to file in Rust

Eager reads of memory-mappable files are writable NumPy views of a private copy-on-write
map of the file (no copy until a page is written, like ``numpy.memmap(mode="c")``; the file
never changes; ``mmap_mode="r"`` gives read-only views), in the byte order of the file like
rsciio's memory maps (MIB counters are ``>u2``); other layouts are read once, in Rust, with
the GIL released, into native byte order.
"""

import os as _os
import warnings as _warnings

from . import _emio
from ._emio import Dataset, __version__
from ._convert import as_numpy as _as_numpy
from ._convert import ragged_array as _ragged_array
from ._convert import view_dtype as _view_dtype
from ._convert import option_pairs as _option_pairs
from ._lazy import RegionReader, dask_array as _dask_array
from ._lazy import RaggedReader, ragged_dask_array as _ragged_dask_array
from ._lazy import remember_open as _remember_open
from ._lazy import _stamp
from ._rsciio import extra_keys as _extra_keys
from ._rsciio import split as _split_keywords
from .exceptions import (
    CancelledError,
    CodecError,
    EmioError,
    EmioWarning,
    EmioIOError,
    InputChangedError,
    InvalidOptionError,
    LayoutError,
    MalformedFileError,
    NoFormatError,
    OutOfBoundsError,
    OutputExistsError,
    UnsupportedError,
)

__all__ = [
    "file_reader",
    "file_writer",
    "convert",
    "check",
    "ls",
    "stats",
    "sum_over",
    "preview",
    "formats",
    "open",
    "probe",
    "Dataset",
    "RegionReader",
    "RaggedReader",
    "dataset_from_signal",
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
    "__version__",
]

def dataset_from_signal(signal):
    """A native :class:`Dataset` over an rsciio signal dict or a HyperSpy signal (NumPy,
    Dask or other array-like data), as :func:`file_writer` writes it."""
    # Imported on first use: reading (and a dask.distributed worker's first task) never
    # pays for the writer's code.
    from ._writer import dataset_from_signal as make

    return make(signal)


def formats():
    """Every format compiled in, in probing order, as dicts: ``name``, ``description``,
    ``extensions``, ``can_read``, ``can_write``, ``writes_directory``, ``read_options`` and
    ``write_options`` (each ``{name, kind, default, help}``, rsciio's keyword names; a
    choice option, kind ``choice:a|b``, adds ``choices``: each word and what it means)."""
    return _emio.formats()


_FORMATS = {}


def _format_info(name):
    if not _FORMATS:  # the compiled-in formats never change: build their dicts once
        _FORMATS.update((f["name"], f) for f in _emio.formats())
    try:
        return _FORMATS[name]
    except KeyError:
        raise NoFormatError(f"unknown format {name!r}; known: {', '.join(_FORMATS)}") from None


def probe(filename):
    """The name of the format emio would read ``filename`` with."""
    return _emio.probe(_os.fspath(filename))


# The learning results a signal can carry, under rsciio's ``attributes`` keys (the second
# only in files HyperSpy 1.x wrote).
_LEARNING_GROUPS = ("learning_results", "peak_learning_results")


def _learning_results(results, writable):
    """rsciio's ``attributes["learning_results"]``: the values and each array as NumPy
    (read whole, also for lazy signals: they are small beside the data)."""
    values, arrays = results
    out = dict(values)
    for name, array in arrays:
        out[name] = _as_numpy(array.read(writable), _view_dtype(array), tuple(array.shape))
    return out


#: The key of the placeholder that stands for an array in a model's dictionary.
_MODEL_ARRAY = "__emio_model_array__"


def _models(models):
    """rsciio's ``models`` of a signal: each model's dictionary (what HyperSpy's
    ``s.models`` restores from) with its arrays as NumPy (parameter maps as structured
    arrays of ``values``, ``std`` and ``is_set``)."""
    import json

    import numpy as np

    def numpy_array(descr, shape, data):
        descr = json.loads(descr)
        dtype = np.dtype(descr if isinstance(descr, str) else [tuple(f) for f in descr])
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()

    def fill(value, arrays):
        if isinstance(value, dict):
            if len(value) == 1 and _MODEL_ARRAY in value:
                return numpy_array(*arrays[value[_MODEL_ARRAY]])
            return {k: fill(v, arrays) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, arrays) for v in value]
        return value

    return {name: fill(tree, arrays) for name, tree, arrays in models}


def _warn_repairs(path, datasets):
    """Raise what the reader skipped or repaired in ``path`` (each dataset's ``warnings``)
    as :class:`EmioWarning`, each message once, attributed to the caller of the public
    function (``stacklevel`` 3)."""
    seen = set()
    for ds in datasets:
        for message in ds.warnings:
            if message not in seen:
                seen.add(message)
                _warnings.warn(f"{path}: {message}", EmioWarning, stacklevel=3)


def open(filename, format=None, **kwds):
    """Open ``filename`` (headers only) and return its native :class:`Dataset` objects, with
    ``kwds`` as reader options (rsciio's keyword names). What the reader skipped or repaired
    is raised as :class:`EmioWarning`."""
    path = _os.fspath(filename)
    datasets = _emio.open(path, format, _option_pairs(kwds))
    _warn_repairs(path, datasets)
    return datasets


def _declared_reader_options(format):
    return {o["name"] for o in _format_info(format)["read_options"]}


def _axis_dict(i, axis, size):
    name, units, navigate, scale, offset, values = axis
    d = {"name": name, "units": units}
    if values is None:
        d.update(scale=scale, offset=offset)
    else:
        import numpy as np

        d["axis"] = np.asarray(values, dtype=np.float64)
    d.update(size=int(size), navigate=navigate, index_in_array=i)
    return d


#: ``mmap_mode`` values: whether eager views of the file are writable (copy-on-write).
_MMAP_MODES = {None: True, "c": True, "r": False}


def file_reader(filename, lazy=False, chunks="auto", format=None, mmap_mode=None, **kwds):
    """Read ``filename`` like an rsciio plugin's ``file_reader``.

    Returns a list with one dict per dataset: ``data`` (NumPy array, or a Dask array when
    ``lazy``), ``axes`` (one dict per array dimension: ``name``, ``units``, ``scale``,
    ``offset`` (or ``axis`` values for non-uniform axes), ``size``, ``navigate``,
    ``index_in_array``), ``metadata``, ``original_metadata``, ``mapping`` and
    ``post_process`` (empty: ``metadata`` already holds what rsciio's mapping and
    post-processing give). What the reader skipped or repaired (a page lost to truncation,
    a broken directory chain) is raised as :class:`EmioWarning`.

    ``kwds`` are the format's reader options under rsciio's names (see :func:`formats`);
    every keyword of the rsciio plugin for the format is accepted with rsciio's default
    (see ``emio._rsciio`` for those that do not apply). ``chunks`` (lazy only) is any Dask
    chunk specification; "auto" keeps multiples of the file's natural chunks. ``format``
    forces a reader instead of probing. Eager arrays of files that store their values as-is
    are zero-copy views of a private copy-on-write map of the file (writable; the file never
    changes); ``mmap_mode="r"`` makes them read-only views of the shared map instead.
    """
    path = _os.fspath(filename)
    if mmap_mode not in _MMAP_MODES:
        raise InvalidOptionError(
            f"mmap_mode={mmap_mode!r} is not supported: use None or 'c' (writable "
            "copy-on-write arrays, the file never changes) or 'r' (read-only arrays); emio "
            "never writes to a file it reads (use emio.file_writer to save changes)"
        )
    writable = _MMAP_MODES[mmap_mode]
    if lazy:
        stamp = _stamp(path)
    here = {}
    if kwds:
        if format is None:
            format = _emio.probe(path)
        kwds, here = _split_keywords(format, _declared_reader_options(format), kwds)
        options = _option_pairs(kwds)
    else:
        options = []
    datasets = _emio.open(path, format, options)
    _warn_repairs(path, datasets)
    if lazy and datasets:
        format = datasets[0].format
        reader_options = tuple(options)
        if _stamp(path) == stamp:  # unchanged while opening: chunk reads may reuse it
            _remember_open(_os.path.abspath(path), format, reader_options, stamp, datasets)
    signals = []
    for index, ds in enumerate(datasets):
        shape = tuple(ds.shape)
        ragged = ds.ragged_element is not None
        if ragged and lazy:
            # Per-position arrays of their own length, as rsciio's object arrays: each
            # chunk reads its own positions' items when computed.
            reader = RaggedReader(path, format, reader_options, index, shape, stamp)
            data = _ragged_dask_array(reader, chunks)
        elif ragged:
            data = _ragged_array(ds)
        elif lazy:
            dtype = _view_dtype(ds)
            reader = RegionReader(path, format, reader_options, index, shape, dtype, stamp)
            data = _dask_array(reader, chunks, ds.chunk_shape, ds.read_chunk_shape)
        else:
            data = _as_numpy(ds.read(writable), _view_dtype(ds), shape)
        signals.append(
            {
                "data": data,
                "axes": [_axis_dict(i, a, n) for i, (a, n) in enumerate(zip(ds.axes, shape))],
                "metadata": ds.metadata,
                "original_metadata": ds.original_metadata,
                **_extra_keys(ds.format, lazy, ds.signal_package),
            }
        )
        if ragged:
            signals[-1].setdefault("attributes", {})["ragged"] = True
        for group in _LEARNING_GROUPS:
            results = getattr(ds, group)
            if results is not None:
                signals[-1].setdefault("attributes", {})[group] = _learning_results(
                    results, writable
                )
        models = ds.models
        if models:
            signals[-1]["models"] = _models(models)
    if here:
        _apply_python_keywords(signals, here)
    return signals


def _apply_python_keywords(signals, here):
    """The rsciio keywords ``file_reader`` implements itself (see ``emio._rsciio``)."""
    navigation_axes = here.get("navigation_axes")
    if navigation_axes is not None:
        for signal in signals:
            ndim = len(signal["axes"])
            chosen = {int(i) % ndim if ndim else int(i) for i in navigation_axes}
            for axis in signal["axes"]:
                axis["navigate"] = axis["index_in_array"] in chosen
    if here.get("print_info"):
        import pprint

        for signal in signals:
            pprint.pprint(signal["original_metadata"], sort_dicts=False)
    order = here.get("order")
    if order not in (None, "C"):
        if order != "F":
            raise InvalidOptionError(f"order={order!r}: use 'C' or 'F' (or None, which is 'C')")
        for signal in signals:
            signal["data"] = _fortran_layout(signal["data"])
    for key, prefix in (("virtual_images", "virtual_image"), ("external_images", "external_image")):
        files = here.get(key)
        if files:
            _add_navigators(signals, [files] if isinstance(files, (str, _os.PathLike)) else files,
                            prefix, set_default=key == "virtual_images")


def _fortran_layout(data):
    """rsciio's DM ``order="F"``: the values the file stores, taken in Fortran order into
    the same shape (``flat.reshape(shape, order="F")``, which is
    ``flat.reshape(shape[::-1]).T``); ``data`` holds them in C order."""
    shape = tuple(data.shape)
    return data.reshape(-1).reshape(shape[::-1]).T


def _add_navigators(signals, files, prefix, set_default):
    """rsciio's MRC ``virtual_images`` / ``external_images``: each file is read (its first
    signal) and added to ``metadata["_HyperSpy"]["navigators"]`` as
    ``_sig_<prefix>_<i>``, reshaped to the navigation shape when it holds as many values;
    the first virtual image also becomes the default navigator when its shape is the
    navigation shape."""
    import numpy as np

    for signal in signals:
        navigation = tuple(
            int(a["size"]) for a in sorted(signal["axes"], key=lambda a: a["index_in_array"]) if a["navigate"]
        )
        hyperspy = signal["metadata"].setdefault("_HyperSpy", {})
        navigators = hyperspy.setdefault("navigators", {})
        images = []
        for i, name in enumerate(files):
            image = file_reader(name)[0]
            if navigation and tuple(image["data"].shape) != navigation:
                if int(np.prod(image["data"].shape)) == int(np.prod(navigation)):
                    image["data"] = image["data"].reshape(navigation)
            images.append(image)
            navigators[f"_sig_{prefix}_{i}"] = image
        if set_default and images and tuple(images[0]["data"].shape) == navigation:
            hyperspy["_sig_navigator"] = images[0]


def file_writer(filename, signal, format=None, overwrite=True, progress=None, **kwds):
    """Write an rsciio signal dict (``data`` as NumPy or Dask, ``axes``, ``metadata``,
    ``original_metadata``) or a HyperSpy signal to ``filename``, like an rsciio plugin's
    ``file_writer``. The format comes from the extension unless ``format`` names one;
    ``kwds`` are its writer options (rsciio's names). Data is streamed region by region
    (Dask arrays block by block) into a temporary file renamed on success. Like rsciio,
    an existing file is replaced unless ``overwrite=False``. ``progress(bytes_done,
    bytes_total)`` is called as data is written. Returns the format name."""
    path = _os.fspath(filename)
    dataset = dataset_from_signal(signal)
    return dataset.write(path, format, _option_pairs(kwds), overwrite, progress)


def convert(src, dst, format=None, dataset=None, overwrite=False, read_options=None,
            write_options=None, src_format=None, progress=None, **kwds):
    """Convert file ``src`` to ``dst`` entirely in Rust, streaming region by region.

    ``format`` names the output format (default: from ``dst``'s extension), ``src_format``
    the input's (default: probed); ``dataset`` picks one dataset of a multi-dataset input
    (default: the main dataset of a file whose others are derived from it, such as a
    blockfile's virtual bright-field image, which ``.hspy``, ``.zspy`` and ``.emd``
    outputs keep beside it).
    Options go in ``read_options`` / ``write_options`` dicts, or as keywords, which are
    routed to the reader and/or writer that declares them. ``progress(bytes_done,
    bytes_total)`` is called as data is written.
    """
    src, dst = _os.fspath(src), _os.fspath(dst)
    reader = src_format or _emio.probe(src)
    writer = _emio.writer_for(dst, format)
    read_options = dict(read_options or {})
    write_options = dict(write_options or {})
    readable = _declared_reader_options(reader)
    writable = {o["name"] for o in _format_info(writer)["write_options"]}
    for key, value in kwds.items():
        if key not in readable and key not in writable:
            raise InvalidOptionError(
                f"invalid keyword argument `{key}`: neither the {reader} reader nor the {writer} writer "
                f"takes it (reader: {', '.join(sorted(readable)) or 'none'}; "
                f"writer: {', '.join(sorted(writable)) or 'none'})"
            )
        if key in readable:
            read_options[key] = value
        if key in writable:
            write_options[key] = value
    _emio.convert(
        src,
        dst,
        writer,
        dataset,
        _option_pairs(read_options),
        _option_pairs(write_options),
        overwrite,
        reader,
        progress,
    )


def check(filename, quick=False, progress=None, **kwds):
    """Validate ``filename`` like ``emconvert check``: every structural problem emio can
    detect, each with the field, the value and why it is wrong.

    Returns a dict: ``file``, ``format``, ``datasets`` (how many), ``verdict``
    (``"valid"``, ``"problems"`` or ``"unreadable"``), ``problems`` (dicts with ``field``,
    ``value``, ``why`` and ``dataset``, None for the whole file) and ``error`` (why an
    unreadable file did not open). ``quick`` skips reading the pixels (truncated data may
    then go unnoticed). ``kwds`` are reader options; ``progress(bytes_done, bytes_total)``
    follows the pass over the pixels.
    """
    return _emio.check(_os.fspath(filename), quick, _option_pairs(kwds), progress)


def ls(*paths, recursive=False):
    """One dict per dataset of every file emio can read in ``paths`` (files or folders;
    default the current folder), like ``emconvert ls --json``: ``file``, ``format``,
    ``index``, ``title``, ``dtype``, ``shape``, ``field_of_view``, ``date``,
    ``microscope``, ``beam_energy_kv``, ``warnings``; a file that does not open is listed
    with ``error``."""
    return _emio.ls([_os.fspath(p) for p in paths] or ["."], recursive)


def stats(filename, dataset=None, bins=None, progress=None, **kwds):
    """Statistics of every value of a dataset of ``filename`` (its main dataset unless
    ``dataset`` picks one), streamed in parallel like ``emconvert stats --json``: ``count``,
    ``nan``, ``pos_inf``, ``neg_inf``, ``min``, ``max``, ``mean``, ``std``, ``sum``, ``of``
    (how complex and RGB values became numbers) and a ``histogram`` of ``bins`` bins with
    ``percentiles`` (``bins=0``: none). Without ``bins``: 16 bins for 8- and 16-bit data,
    counted in the same pass over the data, none for other types, where the histogram
    takes a second pass. ``kwds`` are reader options."""
    return _emio.stats(_os.fspath(filename), dataset, bins, _option_pairs(kwds), progress)


def sum_over(filename, over="navigation", weights=None, dataset=None, progress=None, **kwds):
    """The sum of a dataset of ``filename`` (its main dataset unless ``dataset`` picks one)
    over its navigation axes (``over="navigation"``: the summed diffraction pattern or
    spectrum), its signal axes (``"signal"``: the total-intensity map), or the axes
    ``over`` names: an axis name or a dimension index (negative ones counted from the
    last, as NumPy's ``axis``), or a tuple of them (``over=("x", "y")``, ``over=(0, 1)``).
    Like ``emconvert stats --sum``, streamed in one pass over the data as the file stores
    it, on all cores, in bounded memory (a file far larger than memory sums as fast as it
    reads). Returns a float64 NumPy array of the kept axes, in the dataset's axis order
    (their calibrations are those of ``emio.open(filename)[i].axes``). ``weights``, an
    array of the summed axes' shape (in the dataset's axis order, or flat), multiplies
    each value by the weight of its summed index: a detector mask gives a virtual detector
    image. Complex values add their magnitude, RGB the mean of R, G and B. The result
    is the same to the last bit on every call, whatever the number of threads (sums of
    floating-point values are added up in a fixed order).
    ``progress(bytes_done, bytes_total)`` is called as the data is read; Ctrl-C or an
    exception in it stops the sum. ``kwds`` are reader options."""
    import numpy as np

    if not isinstance(over, str):
        over = ",".join(str(a) for a in ([over] if np.ndim(over) == 0 else over))
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=np.float64).tobytes()
    shape, values = _emio.sum_over(
        _os.fspath(filename), over, dataset, weights, _option_pairs(kwds), progress
    )
    return np.frombuffer(values, dtype=np.float64).reshape(shape)


def preview(filename, out=None, dataset=None, size=512, phase=False):
    """A PNG picture of ``filename`` like ``emconvert preview``, chosen by what the data
    is (an image with a scale bar, a stack's first frame and mean, 4D-STEM's virtual
    bright-field image and mean pattern, a spectrum plot, ...; a contact sheet of several
    datasets unless ``dataset`` picks one). Returns the PNG file's bytes, and writes them
    to ``out`` when given (never replacing an existing file)."""
    png = _emio.preview(_os.fspath(filename), dataset, size, phase)
    if out is not None:
        _write_new_file(_os.fspath(out), png)
    return png


def _write_new_file(path, data):
    """Write ``data`` to the new file ``path`` whole or not at all: into a temporary file
    beside it, then linked into place (which fails if ``path`` exists)."""
    import builtins
    import time

    folder = _os.path.dirname(_os.path.abspath(path))
    # Named as emio's temporary outputs are (.emio-tmp-<pid>-<n>.<name>), so a later write
    # into the folder removes it if this process is killed before it is.
    name = f".emio-tmp-{_os.getpid()}-{time.monotonic_ns()}.{_os.path.basename(path)}"
    temp = _os.path.join(folder, name)
    try:
        with builtins.open(temp, "xb") as f:
            f.write(data)
        _os.link(temp, path)
    except FileExistsError:
        raise OutputExistsError(f"{path}: output exists") from None
    finally:
        if _os.path.lexists(temp):
            _os.unlink(temp)
