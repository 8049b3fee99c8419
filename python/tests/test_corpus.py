"""The whole conformance corpus through ``emio.file_reader``, compared with rsciio 0.15.0's
readings in the ``.expected.json`` files by the rules of ``tests/conformance.rs``: count,
shape, dtype, pixels (sha256, after the documented transformations), axes and every leaf of
the reading's ``hyperspy_metadata``; plus lazy == eager for every file and a direct
comparison with rsciio itself on a sample of files, and the claim of every documented pixel
tolerance against rsciio's own pixels.

Differences must be documented in ``tests/known_differences.json`` (exact fields for the
readings they apply to). A corpus format without a reader fails, unless it is in the one
list of formats whose reader has not landed (``FORMATS_WITHOUT_READER`` of conformance.rs).
"""

import hashlib
import importlib
import json
import math
from collections import defaultdict

import numpy as np
import pytest

import emio
from emio.exceptions import EmioError
from conftest import corpus_entries, formats_without_reader, load_known, read_kwargs, readable_formats

ENTRIES = corpus_entries()
READABLE = readable_formats()
KNOWN = load_known()
WITHOUT_READER = formats_without_reader()
if WITHOUT_READER:
    print(f"\n!!! corpus formats with no reader yet (FORMATS_WITHOUT_READER): {sorted(WITHOUT_READER)}")


def entries_for(file, reference_key):
    """Known-difference entries that apply to this reading."""
    name = reference_key.split("/")[-1]
    return [d for d in KNOWN["differences"] if d["file"] == file and name in d["readings"]]


def covers(file, reference_key, key):
    """Whether the difference ``key`` of ``reference`` for ``file`` is documented."""
    return any(key in d.get("fields", []) for d in entries_for(file, reference_key))


#: A metadata path emio does not hold (unlike a leaf that holds None).
MISSING = object()


def value_f64(v):
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v)
    return None


def close(a, b):
    return a == b or abs(a - b) <= 1e-6 * max(abs(a), abs(b)) or (math.isnan(a) and math.isnan(b))


def same_value(expected, ours):
    """Compare an expected JSON leaf with emio's Python value (rules of conformance.rs)."""
    if isinstance(ours, np.ndarray):
        ours = ours.tolist()
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) or (
        isinstance(ours, (int, float)) and not isinstance(ours, bool)
    ):
        a, b = value_f64(expected), value_f64(ours)
        return a is not None and b is not None and close(a, b)
    if isinstance(expected, list) and isinstance(ours, (list, tuple)):
        return len(expected) == len(ours) and all(same_value(x, y) for x, y in zip(expected, ours))
    if isinstance(expected, dict) and isinstance(ours, dict):
        return len(expected) == len(ours) and all(k in ours and same_value(v, ours[k]) for k, v in expected.items())
    return expected == ours


def leaves(tree, path=()):
    """(path, value) of every leaf of the expected metadata: any non-dict value, or an empty
    dict below the top level."""
    for key, value in tree.items():
        p = path + (key,)
        if isinstance(value, dict) and value:
            yield from leaves(value, p)
        else:
            yield p, value


def value_bytes(array):
    """The array's values as bytes in C order, little-endian (records raw); object arrays
    (ragged data) as the corpus hashes them (``json_of_tolist``: the JSON of
    ``tolist()`` with its arrays as lists, keys sorted)."""
    array = np.asarray(array)
    if array.dtype == object:

        def plain(v):
            if isinstance(v, np.ndarray):
                return plain(v.tolist())
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v.item() if isinstance(v, np.generic) else v

        return json.dumps(plain(array.tolist()), sort_keys=True).encode()
    array = np.ascontiguousarray(array)
    if array.dtype.names is None and array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array.tobytes()


def le_sha256(array):
    """SHA-256 of :func:`value_bytes`, the corpus' hash of a reading's data."""
    return hashlib.sha256(value_bytes(array)).hexdigest()


def compare_axis(prefix, i, exp, ax, out):
    def check(field, ok, ours):
        if not ok:
            out.append((f"{prefix}.axes[{i}].{field}", f"expected {exp.get(field)!r}, read {ours!r}"))

    for field in ("name", "units"):
        if field in exp and (exp[field] is None or isinstance(exp[field], str)):
            check(field, (exp[field] or "") == ax[field], ax[field])
    if isinstance(exp.get("size"), int):
        check("size", exp["size"] == ax["size"], ax["size"])
    if isinstance(exp.get("navigate"), bool):
        check("navigate", exp["navigate"] == ax["navigate"], ax["navigate"])
    uniform = exp.get("uniform", True)
    if "axis" not in ax and uniform:
        for field in ("scale", "offset"):
            if field in exp:
                e = value_f64(exp[field])
                check(field, e is not None and close(e, ax[field]), ax[field])
    elif "axis" in ax and not uniform and "expression" in exp:
        x = exp["x"]
        names = {k: v for k, v in exp.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        xs = x.get("offset", 0) + x.get("scale", 1) * np.arange(len(ax["axis"]))
        expected = eval(exp["expression"].replace("^", "**"), {"__builtins__": {}}, {**names, "x": xs})  # noqa: S307
        check("expression", np.allclose(expected, ax["axis"], rtol=1e-6, atol=0), list(ax["axis"][:5]))
    elif "axis" in ax and not uniform:
        first = exp.get("axis_first5")
        if first is not None:
            ok = all(value_f64(e) is not None and close(value_f64(e), float(o)) for e, o in zip(first, ax["axis"]))
            check("axis_first5", ok, list(ax["axis"][:5]))
        if "axis_len" in exp:
            check("axis_len", exp["axis_len"] == len(ax["axis"]), len(ax["axis"]))
    elif "axis" in ax:
        check("uniform", False, "non-uniform values")
    else:
        check("uniform", False, "uniform")


def frame_placement(sig, data, frame_ndim):
    """emio placed the reference's stack of frames on a scan grid: each frame once, empty
    positions zero; checked by count, min, max and mean over the placed frames."""
    ref_shape = sig["data"]["shape"]
    frame = ref_shape[len(ref_shape) - frame_ndim :]
    if list(data.shape[data.ndim - frame_ndim :]) != frame:
        return f"frame shape {frame}, read {list(data.shape)}"
    frames = np.asarray(data, dtype=np.float64).reshape(-1, int(np.prod(frame)))
    placed = frames[np.any(frames != 0, axis=1)]
    n = int(np.prod(ref_shape[: len(ref_shape) - frame_ndim]))
    if len(placed) != n:
        return f"{n} frames expected, {len(placed)} placed"
    for name, ours in (("min", placed.min()), ("max", placed.max()), ("mean", placed.mean())):
        expected = sig["data"][name]
        if abs(expected - ours) > 1e-9 * max(abs(expected), 1.0):
            return f"{name} {expected} expected, {ours} over the placed frames"
    return None


def compare(reference, signals, entries):
    """``(differences, leaves compared)`` of emio's signal dicts against a reference, with
    the documented transformations of ``entries`` applied."""
    out = []
    n_leaves = 0
    expected = reference.get("signals") or []
    if len(expected) != len(signals):
        out.append(("n_signals", f"{len(expected)} expected, {len(signals)} read"))
    for i, (sig, ours) in enumerate(zip(expected, signals)):
        p = f"signals[{i}]"
        entry = next((d for d in entries if d.get("signal") == i), {})
        perm = entry.get("permute_axes")
        place = entry.get("place_frames")
        data = ours["data"]
        shape = list(sig["data"]["shape"])
        expected_shape = [shape[a] for a in perm] if perm else shape
        if expected_shape != list(data.shape) and not place:
            out.append((f"{p}.shape", f"expected {expected_shape}, read {list(data.shape)}"))
        dtype = data.dtype.str
        if data.dtype.names:
            dtype = f"|V{data.dtype.itemsize}"
            fields = [[n, data.dtype.fields[n][0].str] for n in data.dtype.names]
            if sig["data"].get("dtype_fields") not in (None, fields):
                out.append((f"{p}.dtype", f"expected fields {sig['data']['dtype_fields']}, read {fields}"))
        if sig["data"]["dtype"] != dtype:
            out.append((f"{p}.dtype", f"expected {sig['data']['dtype']}, read {dtype}"))
        axes = sig.get("axes") or []
        if place:
            problem = frame_placement(sig, data, place["frame_ndim"])
            if problem:
                out.append((f"{p}.pixels", f"frame placement: {problem}"))
            k = place["frame_ndim"]
            for j in range(k):
                compare_axis(p, data.ndim - k + j, axes[len(axes) - k + j], ours["axes"][data.ndim - k + j], out)
        else:
            if sig["data"].get("sha256") and expected_shape == list(data.shape):
                theirs = np.transpose(data, np.argsort(perm)) if perm else data
                ours_hash = le_sha256(theirs)
                if ours_hash != sig["data"]["sha256"] and "pixel_tolerance" not in entry:
                    out.append((f"{p}.sha256", f"expected {sig['data']['sha256']}, read {ours_hash}"))
            if len(axes) != len(ours["axes"]):
                out.append((f"{p}.axes", f"{len(axes)} axes expected, {len(ours['axes'])} read"))
            else:
                for j, ax in enumerate(ours["axes"]):
                    compare_axis(p, j, axes[perm[j]] if perm else axes[j], ax, out)
        target = sig.get("hyperspy_metadata") or sig.get("metadata") or {}
        for path, value in leaves(target):
            n_leaves += 1
            mine = ours["metadata"]
            for key in path:
                mine = mine.get(key, MISSING) if isinstance(mine, dict) else MISSING
                if mine is MISSING:
                    break
            if isinstance(value, dict) and "__ndarray__" in value:
                ok = mine is not MISSING and mine is not None and len(mine) == value["__ndarray__"]["shape"][0]
            else:
                # A null leaf must be read as None: present, not missing.
                ok = mine is not MISSING and same_value(value, mine)
            if not ok:
                out.append((f"{p}.metadata.{'.'.join(path)}", f"expected {value!r}, read {mine!r}"))
    return out, n_leaves


_results = {}


def result(corpus, file, fmt, reference_key):
    """Read one corpus file once and compare it (cached)."""
    key = (file, reference_key)
    if key not in _results:
        reference = json.loads((corpus / reference_key).read_text(encoding="utf-8"))
        path = corpus / file
        try:
            probed = emio.probe(path)
            if probed != fmt:
                raise AssertionError(f"probe picked {probed} for a {fmt} file")
            signals = emio.file_reader(path, **read_kwargs(reference, path))
        except Exception as e:  # noqa: BLE001 - every failure is a reported difference
            _results[key] = ([("read", f"{type(e).__name__}: {e}")], 0)
        else:
            if reference.get("reader") is None:
                diffs = [("rsciio_cannot_read", f"emio reads {len(signals)} dataset(s)")] if signals else [("read", "no dataset")]
                _results[key] = (diffs, 0)
            else:
                entries = entries_for(file, reference_key)
                diffs, n = compare(reference, signals, entries)
                for entry in entries:
                    if "place_frames" in entry:
                        # The placed scan must be what rsciio gives when told the companions.
                        same_as = f"{reference_key.rsplit('/', 1)[0]}/{entry['place_frames']['same_as']}"
                        other = json.loads((corpus / same_as).read_text(encoding="utf-8"))
                        again, m = compare(other, signals, entries_for(file, same_as))
                        n += m
                        diffs += [(f"as {same_as}: {k}", d) for k, d in again if not covers(file, same_as, k)]
                _results[key] = (diffs, n)
    return _results[key]


def has_reader(fmt):
    """A corpus format must have a reader; only the formats listed as not landed yet (one
    list, printed) are exempt."""
    if fmt in READABLE:
        return True
    assert fmt in WITHOUT_READER, f"corpus format {fmt} has no reader registered in emio"
    print(f"!!! {fmt}: no reader yet (FORMATS_WITHOUT_READER)")
    return False


@pytest.mark.parametrize("file,fmt,reference_key", ENTRIES, ids=[e[2] for e in ENTRIES])
def test_corpus_file_matches_reference(corpus, file, fmt, reference_key):
    if not has_reader(fmt):
        return
    differences, _ = result(corpus, file, fmt, reference_key)
    undocumented = [f"{k}: {d}" for k, d in differences if not covers(file, reference_key, k)]
    assert not undocumented, "\n".join(undocumented)


@pytest.mark.parametrize(
    "entry",
    [d for d in KNOWN["differences"] if "pixel_tolerance" in d],
    ids=lambda d: d["file"],
)
def test_pixel_tolerance_claim(corpus, entry):
    """A documented lossy-decode tolerance holds against rsciio's own pixels: every value
    within max_abs_diff, at most max_share_differing of them differ, each channel's mean
    within mean_within of rsciio's."""
    tolerance = entry["pixel_tolerance"]
    folder = entry["file"].rsplit("/", 1)[0]
    for name in entry["readings"]:
        reference = json.loads((corpus / folder / name).read_text(encoding="utf-8"))
        plugin = rsciio_plugin(reference)
        theirs = np.asarray(plugin.file_reader(str(corpus / entry["file"]), **read_kwargs(reference, corpus / entry["file"]))[entry["signal"]]["data"])
        ours = np.asarray(emio.file_reader(corpus / entry["file"], **read_kwargs(reference, corpus / entry["file"]))[entry["signal"]]["data"])
        names = theirs.dtype.names or [None]
        diffs = []
        for n in names:
            a = (theirs[n] if n else theirs).astype(np.float64)
            b = (ours[n] if n else ours).astype(np.float64)
            assert abs(a.mean() - b.mean()) <= tolerance["mean_within"], (n, a.mean(), b.mean())
            diffs.append(np.abs(a - b).ravel())
        diffs = np.concatenate(diffs)
        assert diffs.max() <= tolerance["max_abs_diff"], diffs.max()
        assert np.count_nonzero(diffs) / diffs.size <= tolerance["max_share_differing"]


def rsciio_plugin(reference):
    """The rsciio plugin that made ``reference`` (its ``format`` is the plugin's module
    name); skips when the plugin's optional dependencies are missing."""
    try:
        return importlib.import_module(f"rsciio.{reference['format']}")
    except ImportError as e:
        pytest.skip(f"rsciio.{reference['format']} needs a missing optional dependency: {e}")


DATA_FILES = sorted({(e[0], e[1], e[2]) for e in ENTRIES if e[2].endswith(e[0].split("/")[-1] + ".expected.json")})


def same_axes(a, b):
    """Axis dicts equal key by key (``axis`` value arrays compared element-wise)."""
    return len(a) == len(b) and all(
        x.keys() == y.keys()
        and all(np.array_equal(x[k], y[k]) if k == "axis" else x[k] == y[k] for k in x)
        for x, y in zip(a, b)
    )


def small_chunks(shape):
    return tuple(max(1, (n + 2) // 3) for n in shape)


@pytest.mark.parametrize("file,fmt,reference_key", DATA_FILES, ids=[e[0] for e in DATA_FILES])
def test_corpus_lazy_equals_eager(corpus, file, fmt, reference_key):
    if not has_reader(fmt):
        return
    reference = json.loads((corpus / reference_key).read_text(encoding="utf-8"))
    kwargs = read_kwargs(reference, corpus / file)
    if covers(file, reference_key, "read"):
        # Documented as unreadable: it must fail lazily too.
        with pytest.raises(EmioError):
            emio.file_reader(corpus / file, lazy=True, **kwargs)
        return
    eager = emio.file_reader(corpus / file, **kwargs)
    lazy = emio.file_reader(corpus / file, lazy=True, **kwargs)
    odd = emio.file_reader(corpus / file, lazy=True, chunks=None, **kwargs)
    assert len(eager) == len(lazy) == len(odd)
    for e, l, o in zip(eager, lazy, odd):
        assert l["data"].dtype == e["data"].dtype and l["data"].shape == e["data"].shape
        assert same_axes(l["axes"], e["axes"])
        assert l["metadata"] == e["metadata"]
        eager_bytes = value_bytes(e["data"])
        assert value_bytes(l["data"].compute()) == eager_bytes
        # Chunks that cut the natural ones: regions straddling frames/tiles/HDF5 chunks.
        cut = l["data"].rechunk(small_chunks(e["data"].shape)) if e["data"].ndim else l["data"]
        assert value_bytes(cut.compute()) == eager_bytes
        assert value_bytes(o["data"].compute()) == eager_bytes


def rsciio_sample():
    """Up to three files per format that rsciio reads and for which no difference is
    documented."""
    per_format = defaultdict(list)
    for file, fmt, reference_key in DATA_FILES:
        if entries_for(file, reference_key):
            continue
        if len(per_format[fmt]) < 3:
            per_format[fmt].append((file, fmt, reference_key))
    return [e for v in per_format.values() for e in v]


SAMPLE = rsciio_sample()


#: Keys of rsciio's dicts that emio's readers do not return yet, with the reason: HyperSpy
#: models live in the file's ``Analysis`` group, which the hspy reader does not read yet
#: (issue 17).
NOT_YET_RETURNED = {"hspy": {"models"}}


@pytest.mark.parametrize("file,fmt,reference_key", SAMPLE, ids=[e[0] for e in SAMPLE])
def test_corpus_against_rsciio(corpus, file, fmt, reference_key):
    if not has_reader(fmt):
        return
    reference = json.loads((corpus / reference_key).read_text(encoding="utf-8"))
    if reference.get("reader") != "rsciio":
        pytest.skip("rsciio does not read this file")
    plugin = rsciio_plugin(reference)
    kwargs = read_kwargs(reference, corpus / file)
    theirs = plugin.file_reader(str(corpus / file), **kwargs)
    ours = emio.file_reader(corpus / file, **kwargs)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        # Every key of rsciio's dicts (``mapping``, ``post_process``, ``attributes``, ...).
        missing = set(t) - set(o) - NOT_YET_RETURNED.get(fmt, set())
        assert not missing, f"rsciio's dict has {sorted(missing)} too"
        tdata = np.asarray(t["data"])
        assert o["data"].shape == tdata.shape
        assert o["data"].dtype == tdata.dtype
        assert value_bytes(o["data"]) == value_bytes(tdata)
        taxes = sorted(t["axes"], key=lambda a: a.get("index_in_array", 0)) if all(
            "index_in_array" in a for a in t["axes"]
        ) else t["axes"]
        for oa, ta in zip(o["axes"], taxes):
            for key in ("scale", "offset"):
                if key in ta and key in oa:
                    assert close(float(ta[key]), oa[key]), (key, ta, oa)
            if isinstance(ta.get("units"), str):
                assert ta["units"] == oa["units"]
            if "navigate" in ta:
                assert bool(ta["navigate"]) == oa["navigate"]
        # The signal class's package (HyperSpy's own formats record it): rsciio's value.
        for key in ("package", "package_version"):
            if key in t:
                assert o.get(key) == t[key], (key, o.get(key), t[key])
