"""Conversions between Python values and what emio's Rust core takes: option text, NumPy
dtypes, metadata JSON and NumPy views of native buffers."""

import datetime
import json
import math

import numpy as np


def option_text(value):
    """A keyword value as the ``key=value`` text emio's option parser reads (rsciio's
    keyword values: bools, numbers, strings, None, sequences of integers, dicts as JSON)."""
    if value is None:
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (str, bytes, bytearray)):
        return value.decode() if isinstance(value, (bytes, bytearray)) else value
    if hasattr(value, "__fspath__"):
        import os

        return os.fspath(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return ",".join(option_text(v) for v in value)
    if isinstance(value, dict):
        # Mappings (Ripple's ``rpl_info``) travel as JSON objects.
        import json

        return json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v))
    raise TypeError(
        f"option value {value!r} of type {type(value).__name__} cannot be given to emio "
        "(use a bool, number, string, None, a sequence of them or a dict)"
    )


def option_pairs(kwds):
    """``[(key, text), ...]`` for a dict of keyword options."""
    return [(str(k), option_text(v)) for k, v in kwds.items()]


def numpy_dtype(typestr, fields):
    """The NumPy dtype of an emio dataset (``fields`` for RGB(A) records)."""
    if fields:
        return np.dtype([(name, t) for name, t in fields])
    return np.dtype(typestr)


def view_dtype(dataset):
    """The NumPy dtype of the arrays ``dataset.read()`` gives: the stored byte order for
    zero-copy views (``>u2`` for MIB counters, as in rsciio's memory maps), else native."""
    dtype = numpy_dtype(dataset.dtype, dataset.fields)
    order = dataset.byte_order
    return dtype if order == "|" else dtype.newbyteorder(order)


def as_numpy(buffer, dtype, shape):
    """A NumPy array of ``dtype`` and ``shape`` over an ``ArrayBuffer``'s bytes, without a
    copy; the buffer stays alive as the array's base (read-only for views of a file).
    Strided views (per-frame headers, Fortran order, flipped axes) keep their strides and
    the stored byte order."""
    shape = tuple(int(n) for n in shape)
    if len(buffer) == 0 or 0 in shape:
        return np.empty(shape, dtype=dtype)
    layout = buffer.layout
    if layout is not None:
        offset, strides, order = layout
        dtype = dtype.newbyteorder(order)
        return np.ndarray(shape, dtype=dtype, buffer=np.asarray(buffer), offset=offset, strides=tuple(strides))
    return np.asarray(buffer).view(dtype).reshape(shape)


def ragged_array(dataset, start=None, count=None):
    """A ragged dataset as rsciio returns it: an object array holding each position's NumPy
    array (text as a ``<U`` array). ``start`` and ``count`` (one per axis) choose a box of
    positions (the whole grid by default); only the items inside it are read, one run of
    consecutive positions (a row along the last axis) at a time."""
    shape = tuple(int(n) for n in dataset.shape)
    start = (0,) * len(shape) if start is None else tuple(int(i) for i in start)
    count = shape if count is None else tuple(int(n) for n in count)
    element = dataset.ragged_element
    out = np.empty(count, dtype=object)
    if 0 in count:
        return out
    rows = out.reshape(-1, count[-1]) if count else out.reshape(1, 1)
    for r, outer in enumerate(np.ndindex(*count[:-1])):
        first = np.ravel_multi_index(tuple(s + i for s, i in zip(start, outer + (0,))), shape) if shape else 0
        items = dataset.ragged_items(int(first), count[-1] if count else 1)
        for k, (item_shape, values) in enumerate(items):
            if element == "str":
                item = np.array(values, dtype=str)
            else:
                item = np.frombuffer(values, dtype=np.dtype(element)).copy()
            rows[r, k] = item.reshape(tuple(int(n) for n in item_shape))
    return out


def readable_array(array):
    """``array`` as an ndarray emio's sources read in place: any strides and either byte
    order (swapped in Rust as regions are copied out, e.g. the ``>u2`` views of MIB files);
    records packed, in native byte order. Arrays that already are come back unchanged (no
    copy)."""
    array = np.asarray(array)
    dtype = array.dtype
    if dtype.names:
        packed = np.dtype([(n, dtype.fields[n][0].newbyteorder("=")) for n in dtype.names])
        return array if dtype == packed else array.astype(packed)
    return array


def dtype_spec(dtype):
    """``(typestr, fields)`` of a NumPy dtype, as emio's constructors take them."""
    dtype = np.dtype(dtype)
    if dtype.names:
        return dtype.str, [(n, dtype.fields[n][0].str) for n in dtype.names]
    return dtype.str, None


def _jsonable(value):
    """``value`` as plain JSON types; non-finite floats become "NaN"/"Infinity"/"-Infinity"
    (emio's spelling, as in the corpus references)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "as_dictionary"):  # HyperSpy's DictionaryTreeBrowser
        return _jsonable(value.as_dictionary())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, complex):
        return {"__complex__": [_jsonable(value.real), _jsonable(value.imag)]}
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return {"__bytes_hex__": bytes(value).hex()}
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def to_json(tree):
    """A metadata dict as the JSON text emio's Rust core parses."""
    if tree is None:
        return ""
    return json.dumps(_jsonable(tree), ensure_ascii=False, allow_nan=False)
