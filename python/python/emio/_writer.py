"""Python data as emio datasets, so every emio writer streams it region by region.

- NumPy arrays are read in place by Rust (no copy, any strides and byte order, no GIL
  while writing).
- Dask arrays are computed block by block (through whatever scheduler is active, so a
  ``dask.distributed`` client computes them on its workers), keeping a bounded cache of
  computed blocks; a block is computed once even when the writer's regions cut across it.
- Other array-likes (h5py/Zarr datasets, emio's own lazy readers) are sliced per region.
"""

import json
import threading
from collections import OrderedDict
from itertools import product

import numpy as np

from . import _emio
from ._convert import dtype_spec, readable_array, to_json

#: Bytes of computed Dask blocks kept for reuse while writing.
DASK_BLOCK_CACHE_BYTES = 512 << 20


def _native_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.names:
        return np.dtype([(n, dtype.fields[n][0].newbyteorder("=")) for n in dtype.names])
    return dtype.newbyteorder("=")


class DaskBlockReader:
    """``read(start, shape)`` over a Dask array: computes the blocks a region touches
    (together, through the active scheduler) and keeps recently used ones, within
    ``budget`` bytes (at least two blocks)."""

    def __init__(self, array, dtype, budget=DASK_BLOCK_CACHE_BYTES):
        if any(np.isnan(c) for dim in array.chunks for c in dim):
            raise ValueError(
                "the Dask array has unknown chunk sizes; call compute_chunk_sizes() before writing"
            )
        self.array = array
        self.dtype = dtype
        self.bounds = [np.cumsum((0,) + tuple(int(c) for c in dim)) for dim in array.chunks]
        block_bytes = int(np.prod(array.chunksize, dtype=np.int64)) * dtype.itemsize
        self.budget = max(budget, 2 * block_bytes)
        self.cache = OrderedDict()
        self.cached_bytes = 0
        self.lock = threading.Lock()

    def _blocks(self, start, shape):
        ranges = []
        for b, s, n in zip(self.bounds, start, shape):
            first = int(np.searchsorted(b, s, side="right")) - 1
            last = int(np.searchsorted(b, s + n - 1, side="right")) - 1
            ranges.append(range(first, last + 1))
        return list(product(*ranges))

    def __call__(self, start, shape):
        import dask

        out = np.empty(shape, dtype=self.dtype)
        if 0 in shape:
            return out
        wanted = self._blocks(start, shape)
        with self.lock:
            missing = [i for i in wanted if i not in self.cache]
            if missing:
                computed = dask.compute(*[self.array.blocks[i] for i in missing])
                for i, block in zip(missing, computed):
                    block = np.ascontiguousarray(block, dtype=self.dtype)
                    self.cache[i] = block
                    self.cached_bytes += block.nbytes
            for i in wanted:
                self.cache.move_to_end(i)
                block = self.cache[i]
                lo = [int(b[k]) for b, k in zip(self.bounds, i)]
                src, dst = [], []
                for l, bn, s, n in zip(lo, block.shape, start, shape):
                    a, z = max(l, s), min(l + bn, s + n)
                    src.append(slice(a - l, z - l))
                    dst.append(slice(a - s, z - s))
                out[tuple(dst)] = block[tuple(src)]
            while self.cached_bytes > self.budget and len(self.cache) > 1:
                _, old = self.cache.popitem(last=False)
                self.cached_bytes -= old.nbytes
        return out


class SliceReader:
    """``read(start, shape)`` over any array-like supporting basic slicing."""

    def __init__(self, array, dtype):
        self.array = array
        self.dtype = dtype

    def __call__(self, start, shape):
        key = tuple(slice(s, s + n) for s, n in zip(start, shape))
        return np.ascontiguousarray(np.asarray(self.array[key]), dtype=self.dtype).reshape(shape)


def _axis_tuples(axes, shape):
    """emio axis tuples ``(name, units, navigate, scale, offset, values)`` from rsciio /
    HyperSpy axis dicts (array order, or sorted by ``index_in_array``)."""
    if not axes:
        return [("", "", False, 1.0, 0.0, None) for _ in shape]
    axes = list(axes)
    if all("index_in_array" in a for a in axes):
        axes.sort(key=lambda a: a["index_in_array"])
    if len(axes) != len(shape):
        raise ValueError(f"{len(axes)} axes given for data of shape {tuple(shape)}")
    out = []
    for a, n in zip(axes, shape):
        name = a.get("name")
        units = a.get("units")
        name = name if isinstance(name, str) else ""
        units = units if isinstance(units, str) else ""
        navigate = bool(a.get("navigate", False))
        values = a.get("axis")
        if values is not None:
            values = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
            if len(values) != n:
                raise ValueError(f"axis {name!r} has {len(values)} values for {n} indices")
            out.append((name, units, navigate, 1.0, 0.0, values))
        elif "expression" in a:
            raise ValueError(
                f"axis {name!r} is a functional axis: give its coordinates as `axis` values"
            )
        else:
            out.append(
                (name, units, navigate, float(a.get("scale", 1.0)), float(a.get("offset", 0.0)), None)
            )
    return out


def _ragged_items(data):
    """The items of an object array of per-position arrays (HyperSpy's ragged data), as
    ``(element, [(shape, values), ...])`` in C order: ``element`` is the NumPy type string
    of the first non-text item (as rsciio takes it) or ``"str"``, ``values`` native bytes
    or a list of strings."""
    items = [np.asarray(x) for x in np.asarray(data, dtype=object).reshape(-1)]
    text = [x.dtype.kind in "USO" for x in items]
    if items and all(text):
        return "str", [(list(x.shape), [str(v) for v in x.reshape(-1)]) for x in items]
    if any(text):
        raise ValueError("a ragged array mixes text and numbers")
    dtype = _native_dtype(items[0].dtype) if items else np.dtype(np.float64)
    return dtype.str, [
        (list(x.shape), np.ascontiguousarray(x, dtype=dtype).tobytes()) for x in items
    ]


def dataset_from_signal(signal):
    """An emio dataset over an rsciio signal dict (``data``, ``axes``, ``metadata``,
    ``original_metadata``, and ``package``/``package_version`` where given) or a HyperSpy
    signal."""
    if not isinstance(signal, dict) and hasattr(signal, "_to_dictionary"):
        signal = signal._to_dictionary(add_learning_results=True, add_models=True)
    dataset = _dataset(signal)
    if "package" in signal or "package_version" in signal:
        dataset = dataset.with_signal_package(
            (str(signal.get("package") or ""), str(signal.get("package_version") or ""))
        )
    # HyperSpy's ``_to_dictionary`` (and rsciio's writers) put them at the top level,
    # rsciio's readers under ``attributes``.
    for group in ("learning_results", "peak_learning_results"):
        results = signal.get(group) or (signal.get("attributes") or {}).get(group)
        if results:
            dataset = _with_learning_results(dataset, results, group)
    models = signal.get("models")
    if hasattr(models, "as_dictionary"):  # HyperSpy's DictionaryTreeBrowser
        models = models.as_dictionary()
    if models:
        dataset = dataset.with_models([_model(name, model) for name, model in models.items()])
    return dataset


def _model(name, model):
    """``(name, tree, arrays)`` of a model's dictionary as HyperSpy keeps it, for
    ``Dataset.with_models``: each array (a parameter map, the channel switches, ...)
    replaced by a placeholder naming its place in ``arrays``."""
    arrays = []

    def lift(value):
        if hasattr(value, "__dask_graph__"):
            value = value.compute()
        if isinstance(value, np.ndarray):
            array = readable_array(value)
            dtype = array.dtype
            descr = (
                [[n, dtype.fields[n][0].str] for n in dtype.names] if dtype.names else dtype.str
            )
            arrays.append(
                (json.dumps(descr), [int(n) for n in array.shape], np.ascontiguousarray(array).tobytes())
            )
            return {"__emio_model_array__": len(arrays) - 1}
        if hasattr(value, "as_dictionary"):
            value = value.as_dictionary()
        if isinstance(value, dict):
            return {str(k): lift(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [lift(v) for v in value]
        return value

    tree = lift(model)
    return str(name), to_json(tree), arrays


def _is_array(value):
    """Whether a learning-results value is an array (NumPy, Dask or array-like) rather than
    a setting, a flag, ``None`` or a tuple."""
    return (isinstance(value, np.ndarray) and value.ndim > 0) or hasattr(value, "__dask_graph__")


def _with_learning_results(dataset, results, group):
    """``dataset`` with HyperSpy's learning results dict as ``group``: arrays become
    datasets of their own, the rest the values tree."""
    values = {k: v for k, v in results.items() if not _is_array(v)}
    arrays = [(k, _dataset({"data": v})) for k, v in results.items() if _is_array(v)]
    return dataset.with_learning_results(to_json(values), arrays, group)


def _dataset(signal):
    """:func:`dataset_from_signal` of a signal dict, without its package."""
    if "data" not in signal:
        raise ValueError("the signal dict has no 'data'")
    data = signal["data"]
    metadata = to_json(signal.get("metadata") or {})
    original = to_json(signal.get("original_metadata") or {})
    if getattr(data, "dtype", None) == np.dtype(object):
        # Ragged data: every position holds an array of its own length (computed whole).
        if hasattr(data, "__dask_graph__"):
            data = data.compute()
        element, items = _ragged_items(data)
        shape = [int(n) for n in data.shape]
        axes = _axis_tuples(signal.get("axes"), shape)
        return _emio.from_ragged(element, shape, items, axes, metadata, original)
    if hasattr(data, "__dask_graph__"):
        dtype = _native_dtype(data.dtype)
        shape = tuple(int(n) for n in data.shape)
        reader = DaskBlockReader(data, dtype)
        chunk_shape = [int(c) for c in data.chunksize]
    elif not isinstance(data, np.ndarray) and all(hasattr(data, a) for a in ("shape", "dtype", "__getitem__")):
        dtype = _native_dtype(data.dtype)
        shape = tuple(int(n) for n in data.shape)
        reader = SliceReader(data, dtype)
        natural = getattr(data, "chunks", None)
        chunk_shape = (
            [int(c) for c in natural]
            if isinstance(natural, tuple) and len(natural) == len(shape) and all(isinstance(c, (int, np.integer)) for c in natural)
            else [1] * max(0, len(shape) - 2) + list(shape[-2:])
        )
    else:
        array = readable_array(data)
        typestr, fields = dtype_spec(array.dtype)
        axes = _axis_tuples(signal.get("axes"), array.shape)
        return _emio.from_array(
            array,
            array.__array_interface__["data"][0],
            typestr,
            fields,
            list(array.shape),
            list(array.strides),
            axes,
            metadata,
            original,
        )
    typestr, fields = dtype_spec(dtype)
    axes = _axis_tuples(signal.get("axes"), shape)
    return _emio.from_callback(reader, typestr, fields, list(shape), chunk_shape, axes, metadata, original)
