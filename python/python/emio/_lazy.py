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

import functools
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from . import _emio
from ._convert import as_numpy, ragged_array, view_dtype
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


def remember_open(path, format, options, stamp, datasets):
    """Keep ``datasets``, just opened by ``file_reader``, for the region reads of lazy
    arrays of the same file in this process (which would otherwise open it again)."""
    with _open_lock:
        _open_files[(path, format, options)] = (stamp, datasets)
        _open_files.move_to_end((path, format, options))
        while len(_open_files) > _OPEN_LIMIT:
            _open_files.popitem(last=False)


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
    remember_open(path, format, options, stamp, datasets)
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
        """A read-only NumPy view of the whole dataset on the memory map (in the file's byte
        order), or None when its stored layout needs decoding (compression, bit packing) or
        the view's dtype is not this reader's."""
        key = (self.path, self.format, self.options, self.stamp, self.index, self.dtype)
        with _open_lock:
            hit = _views.get(key, _MISSING)
        if hit is _MISSING:
            ds = self.dataset()
            hit = None
            if ds.is_mapped:
                hit = as_numpy(ds.read(False), view_dtype(ds), self.shape)
                if hit.dtype != self.dtype:
                    hit = None
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
            buffer = self.dataset().read_region(start, count)
            array = as_numpy(buffer, self.dtype.newbyteorder("="), count)
            if array.dtype != self.dtype:
                array = array.astype(self.dtype)
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


class RaggedReader(RegionReader):
    """Array-like view of a ragged dataset (an object array of per-position arrays, as
    rsciio returns it), read box by box: a chunk reads only its own positions' items.
    Pickles like :class:`RegionReader`."""

    def __init__(self, path, format, options, index, shape, stamp=None):
        super().__init__(path, format, options, index, shape, object, stamp)

    def view(self):
        return None

    def __getitem__(self, key):
        start, count, post = region_of(key, self.shape)
        array = ragged_array(self.dataset(), start, count)
        return array if post is None else array[post]

    def __dask_tokenize__(self):
        return ("emio.RaggedReader",) + super().__dask_tokenize__()[1:]

    def __repr__(self):
        return f"RaggedReader({self.path!r}, format={self.format!r}, index={self.index}, shape={self.shape})"


#: Positions per chunk of a lazy ragged array when ``chunks`` is "auto" (Dask cannot size
#: object chunks in bytes).
RAGGED_CHUNK_POSITIONS = 4096


def ragged_chunks(chunks, shape):
    """Dask chunks of a lazy ragged array: ``chunks`` as given, or for "auto" (and None)
    whole rows of the last axes, up to :data:`RAGGED_CHUNK_POSITIONS` positions a chunk."""
    from dask.array.core import normalize_chunks

    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        chunk, budget = [], RAGGED_CHUNK_POSITIONS
        for n in reversed(shape):
            c = max(1, min(int(n), budget))
            chunk.insert(0, c)
            budget = max(1, budget // c)
        chunks = tuple(chunk)
    return normalize_chunks(chunks, tuple(shape), dtype=object)


def ragged_dask_array(reader, chunks):
    """A lazy ragged array: one task per chunk of :func:`ragged_chunks`, each reading only
    its positions' items through ``reader`` (a :class:`RaggedReader`)."""
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    chunks = ragged_chunks(chunks, reader.shape)
    name = _name(reader, chunks)
    meta = np.empty((0,) * reader.ndim, dtype=object)
    graph = HighLevelGraph.from_collections(name, ChunkTasks(name, reader, chunks))
    return da.Array(graph, name, chunks, meta=meta)


def _chunk_limit():
    """Dask's configured ``array.chunk-size`` in bytes."""
    import dask

    limit = dask.config.get("array.chunk-size")
    return _parse_bytes(limit) if isinstance(limit, str) else int(limit)


@functools.lru_cache(maxsize=8)
def _parse_bytes(text):
    from dask.utils import parse_bytes

    return parse_bytes(text)


def _regular(shape, chunk):
    """Dask's chunks tuple of a regular ``chunk`` shape."""
    out = []
    for n, c in zip(shape, chunk):
        n = int(n)
        if n == 0:
            out.append((0,))
            continue
        full, rest = divmod(n, c)
        out.append((c,) * full + ((rest,) if rest else ()))
    return tuple(out)


def dask_chunks(chunks, shape, dtype, natural, auto=None):
    """Normalize rsciio-style ``chunks`` ("auto", a tuple, a dict, -1, ...). "auto" is
    ``auto(limit)`` when given (emio's read chunk shape: whole natural chunks of the file
    (frames, tiles, HDF5 chunks) grown innermost dimension first up to Dask's configured
    ``array.chunk-size``, so a chunk is a run of consecutive frames or whole scan rows);
    otherwise, or when one natural chunk alone exceeds the limit, Dask's "auto" keeping
    multiples of the natural chunk."""
    from dask.array.core import normalize_chunks

    if chunks is None:
        chunks = "auto"
    if 0 in shape:
        return tuple((n,) for n in shape)
    natural = tuple(max(1, min(int(c), int(n))) for c, n in zip(natural, shape))
    if auto is not None and isinstance(chunks, str) and chunks == "auto":
        limit = _chunk_limit()
        chunk = tuple(int(c) for c in auto(limit))
        nbytes = np.dtype(dtype).itemsize
        for c in chunk:
            nbytes *= c
        if nbytes <= limit:
            return _regular(shape, chunk)
    return normalize_chunks(chunks, shape, dtype=dtype, previous_chunks=natural)


def _name(reader, chunks):
    """A deterministic Dask name for ``reader`` read in ``chunks``: the same file (path,
    modification time and size), options, dataset and chunks give the same name."""
    import hashlib  # here, not at import: a worker that only reads chunks never needs it

    key = repr((reader.path, reader.stamp, reader.format, reader.options, reader.index, reader.dtype.str, chunks))
    return "emio-read-" + hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()


def read_chunk(reader, index):
    """The task of one chunk: ``reader[index]``."""
    return reader[index]


class ChunkTasks(Mapping):
    """The tasks of a lazy array, made on demand: key ``(name, i, j, ...)`` maps to
    ``(read_chunk, reader, slices of chunk (i, j, ...))``. Nothing is built per chunk when
    the array is created, so opening costs the same for 10 or 100,000 chunks; Dask makes
    the tasks it needs when it computes. Pickles to the reader (path and options), the
    name and the chunks."""

    def __init__(self, name, reader, chunks):
        self.name = name
        self.reader = reader
        self.chunks = chunks
        self._edges = None

    def edges(self):
        if self._edges is None:
            self._edges = tuple(tuple(itertools.accumulate(c, initial=0)) for c in self.chunks)
        return self._edges

    def __getitem__(self, key):
        if not (type(key) is tuple and len(key) == len(self.chunks) + 1 and key[0] == self.name):
            raise KeyError(key)
        index = []
        for e, i in zip(self.edges(), key[1:]):
            if not (isinstance(i, int) and 0 <= i < len(e) - 1):
                raise KeyError(key)
            index.append(slice(e[i], e[i + 1]))
        return (read_chunk, self.reader, tuple(index))

    def __iter__(self):
        blocks = itertools.product(*(range(len(c)) for c in self.chunks))
        return ((self.name,) + b for b in blocks)

    def __len__(self):
        n = 1
        for c in self.chunks:
            n *= len(c)
        return n

    def __getstate__(self):
        return {"name": self.name, "reader": self.reader, "chunks": self.chunks}

    def __setstate__(self, state):
        self.__dict__.update(state, _edges=None)


def dask_array(reader, chunks, natural, auto=None):
    """A Dask array whose chunks are slices of ``reader`` (slices of a zero-copy view of
    the memory map, or region reads in Rust); ``natural`` and ``auto`` as in
    :func:`dask_chunks`. Its graph is one layer of :class:`ChunkTasks`."""
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph

    chunks = dask_chunks(chunks, reader.shape, reader.dtype, natural, auto)
    name = _name(reader, chunks)
    meta = np.empty((0,) * reader.ndim, dtype=reader.dtype)
    graph = HighLevelGraph.from_collections(name, ChunkTasks(name, reader, chunks))
    return da.Array(graph, name, chunks, meta=meta)
