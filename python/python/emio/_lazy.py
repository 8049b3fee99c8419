"""Lazy Dask arrays over emio datasets.

A :class:`RegionReader` is an array-like (``shape``, ``dtype``, ``__getitem__``) that only
records the file path, format, reader options and dataset index. Dask embeds it in every
task of the graph; it pickles to those few fields, so graphs run on ``dask.distributed``
workers in other processes or on other machines that see the same file system. Each
process opens the file on its first read (headers only) and keeps it open in a small
cache. A chunk of a file whose values are stored as-is (uncompressed, native byte order)
is a slice of a read-only view of the memory map, like rsciio's memmap-backed arrays;
any other chunk is one region read in Rust with the GIL released.
"""

import os
import threading
from collections import OrderedDict

import numpy as np

from . import _emio
from ._convert import as_numpy
from .exceptions import EmioError

#: Files kept open per process for region reads.
_OPEN_LIMIT = 64
_open_files = OrderedDict()
_open_lock = threading.Lock()
#: Per process: zero-copy views of whole datasets (None where the layout needs decoding).
_views = OrderedDict()
_MISSING = object()


def _stamp(path):
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size)


def _open_cached(path, format, options, stamp):
    key = (path, format, options)
    with _open_lock:
        hit = _open_files.get(key)
        if hit is not None and hit[0] == stamp:
            _open_files.move_to_end(key)
            return hit[1]
    current = _stamp(path)
    if current != stamp:
        raise EmioError(
            f"{path}: the file changed since the lazy array was created "
            "(modification time or size differ); open it again"
        )
    datasets = _emio.open(path, format, list(options))
    with _open_lock:
        _open_files[key] = (stamp, datasets)
        _open_files.move_to_end(key)
        while len(_open_files) > _OPEN_LIMIT:
            _open_files.popitem(last=False)
    return datasets


def region_of(key, shape):
    """Split a basic index into the bounding region to read (``start``, ``count``) and the
    index that picks the result out of it (None when the region is the result)."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = next(j for j, k in enumerate(key) if k is Ellipsis)
        fill = len(shape) - (len(key) - 1)
        key = key[:i] + (slice(None),) * fill + key[i + 1 :]
    if len(key) > len(shape):
        raise IndexError(f"too many indices ({len(key)}) for an array of {len(shape)} dimensions")
    key = key + (slice(None),) * (len(shape) - len(key))
    start, count, post = [], [], []
    for k, n in zip(key, shape):
        if isinstance(k, (int, np.integer)):
            i = int(k) + (n if k < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {int(k)} is out of bounds for an axis of size {n}")
            start.append(i)
            count.append(1)
            post.append(0)
        elif isinstance(k, slice):
            indices = range(*k.indices(n))
            if len(indices) == 0:
                start.append(0)
                count.append(0)
                post.append(slice(None))
                continue
            first, last = min(indices[0], indices[-1]), max(indices[0], indices[-1])
            start.append(first)
            count.append(last - first + 1)
            step = indices.step
            post.append(slice(None, None, step) if step > 0 else slice(indices[0] - first, None, step))
        else:
            raise TypeError(
                f"emio lazy arrays take integer and slice indices, not {type(k).__name__} "
                "(index the Dask array instead)"
            )
    trivial = all(p == slice(None) or p == slice(None, None, 1) for p in post)
    return start, count, None if trivial else tuple(post)


class RegionReader:
    """Array-like view of dataset ``index`` of a file, read region by region.

    Pickles to its path, format, options and index only (no open handle). ``stamp`` (file
    modification time and size) guards against reading a file that changed since.
    """

    def __init__(self, path, format, options, index, shape, dtype, stamp=None):
        self.path = os.path.abspath(os.fspath(path))
        self.format = format
        self.options = tuple((str(k), str(v)) for k, v in options)
        self.index = int(index)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.stamp = tuple(stamp) if stamp is not None else _stamp(self.path)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def dataset(self):
        """The native dataset, opened (once per process) on first use."""
        datasets = _open_cached(self.path, self.format, self.options, self.stamp)
        return datasets[self.index]

    def view(self):
        """A read-only NumPy view of the whole dataset on the memory map, or None when its
        stored layout needs decoding (compression, byte swapping, bit packing)."""
        key = (self.path, self.format, self.options, self.stamp, self.index)
        with _open_lock:
            hit = _views.get(key, _MISSING)
        if hit is _MISSING:
            ds = self.dataset()
            hit = as_numpy(ds.read(), self.dtype, self.shape) if ds.is_mapped else None
            with _open_lock:
                _views[key] = hit
                while len(_views) > _OPEN_LIMIT:
                    _views.popitem(last=False)
        return hit

    def __getitem__(self, key):
        view = self.view()
        if view is not None:
            return view[key]
        start, count, post = region_of(key, self.shape)
        if 0 in count:
            array = np.empty(count, dtype=self.dtype)
        else:
            array = as_numpy(self.dataset().read_region(start, count), self.dtype, count)
        return array if post is None else array[post]

    def __array__(self, dtype=None, copy=None):
        array = self[...]
        return array if dtype is None else array.astype(dtype)

    def __getstate__(self):
        return {k: getattr(self, k) for k in ("path", "format", "options", "index", "shape", "dtype", "stamp")}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __dask_tokenize__(self):
        return ("emio.RegionReader", self.path, self.stamp, self.format, self.options, self.index)

    def __repr__(self):
        return f"RegionReader({self.path!r}, format={self.format!r}, index={self.index}, shape={self.shape}, dtype={self.dtype})"


def dask_chunks(chunks, shape, dtype, natural):
    """Normalize rsciio-style ``chunks`` ("auto", a tuple, a dict, -1, ...): "auto" keeps
    multiples of the file's natural chunk (frames, tiles, HDF5 chunks) near Dask's
    configured ``array.chunk-size``."""
    from dask.array.core import normalize_chunks

    if chunks is None:
        chunks = "auto"
    if 0 in shape:
        return tuple((n,) for n in shape)
    natural = tuple(max(1, min(int(c), int(n))) for c, n in zip(natural, shape))
    return normalize_chunks(chunks, shape, dtype=dtype, previous_chunks=natural)


def dask_array(reader, chunks, natural):
    """A Dask array whose chunks are region reads of ``reader``."""
    import dask.array as da
    from dask.base import tokenize

    chunks = dask_chunks(chunks, reader.shape, reader.dtype, natural)
    name = "emio-read-" + tokenize(reader, chunks)
    return da.from_array(
        reader,
        chunks=chunks,
        name=name,
        asarray=False,
        fancy=False,
        lock=False,
        inline_array=True,
        meta=np.empty((0,) * reader.ndim, dtype=reader.dtype),
    )
