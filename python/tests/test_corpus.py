"""The whole conformance corpus through ``emio.file_reader``, compared with rsciio 0.15.0's
readings in the ``.expected.json`` files exactly as ``tests/conformance.rs`` does (count,
shape, dtype, sha256, axes, metadata leaves), plus lazy == eager for every file and a
direct comparison with rsciio itself on a sample of files.

Differences must be documented in ``tests/known_differences.json``; metadata leaves must
agree at least ``metadata_min_agreement`` per format. Formats whose reader has not landed
yet are xfailed with that reason.
"""

import hashlib
import json
import math
from collections import defaultdict

import numpy as np
import pytest

import emio
from conftest import corpus_entries, load_known, read_kwargs, readable_formats

ENTRIES = corpus_entries()
READABLE = readable_formats()
KNOWN = load_known() if ENTRIES else {"differences": [], "metadata_min_agreement": {}}


def covers(file, reference, key):
    """Whether the difference ``key`` of ``reference`` for ``file`` is documented."""
    for d in KNOWN["differences"]:
        if d["file"] not in (file, reference):
            continue
        field = d["field"]
        if field.endswith("*") and key.startswith(field[:-1]) or key == field:
            return True
    return False


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
    if isinstance(expected, (int, float)) and not isinstance(expected, bool) or (
        isinstance(ours, (int, float)) and not isinstance(ours, bool)
    ):
        a, b = value_f64(expected), value_f64(ours)
        return a is not None and b is not None and close(a, b)
    if isinstance(expected, list) and isinstance(ours, list):
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


def le_sha256(array):
    """SHA-256 of the array's values in C order, little-endian (records as raw bytes)."""
    array = np.ascontiguousarray(array)
    if array.dtype.names is None and array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return hashlib.sha256(array.tobytes()).hexdigest()


def compare_axes(prefix, expected, axes, out):
    if len(expected) != len(axes):
        out.append((f"{prefix}.axes", f"{len(expected)} axes expected, {len(axes)} read"))
        return
    for i, (exp, ax) in enumerate(zip(expected, axes)):
        def check(field, ok, ours):
            if not ok:
                out.append((f"{prefix}.axes[{i}].{field}", f"expected {exp.get(field)!r}, read {ours!r}"))

        if isinstance(exp.get("name"), str):
            check("name", exp["name"] == ax["name"], ax["name"])
        if isinstance(exp.get("units"), str):
            check("units", exp["units"] == ax["units"], ax["units"])
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
        elif "axis" in ax and not uniform:
            first = exp.get("axis_first5")
            if first is not None:
                ok = all(value_f64(e) is not None and close(value_f64(e), float(o)) for e, o in zip(first, ax["axis"]))
                check("axis_first5", ok, list(ax["axis"][:5]))
        elif "axis" in ax:
            check("uniform", False, "non-uniform values")
        elif "expression" not in exp:
            check("uniform", False, "uniform")


def compare(reference, signals):
    """``(differences, leaves, leaves_agree)`` of emio's signal dicts against a reference."""
    out = []
    n_leaves = n_agree = 0
    expected = reference.get("signals") or []
    if len(expected) != len(signals):
        out.append(("n_signals", f"{len(expected)} expected, {len(signals)} read"))
    for i, (sig, ours) in enumerate(zip(expected, signals)):
        p = f"signals[{i}]"
        data = ours["data"]
        shape = list(sig["data"]["shape"])
        if shape != list(data.shape):
            out.append((f"{p}.shape", f"expected {shape}, read {list(data.shape)}"))
        dtype = data.dtype.str
        if data.dtype.names:
            dtype = f"|V{data.dtype.itemsize}"
            fields = [[n, data.dtype.fields[n][0].str] for n in data.dtype.names]
            if sig["data"].get("dtype_fields") not in (None, fields):
                out.append((f"{p}.dtype", f"expected fields {sig['data']['dtype_fields']}, read {fields}"))
        if sig["data"]["dtype"] != dtype:
            out.append((f"{p}.dtype", f"expected {sig['data']['dtype']}, read {dtype}"))
        if sig["data"].get("sha256") and shape == list(data.shape):
            ours_hash = le_sha256(data)
            if ours_hash != sig["data"]["sha256"]:
                out.append((f"{p}.sha256", f"expected {sig['data']['sha256']}, read {ours_hash}"))
        compare_axes(p, sig.get("axes") or [], ours["axes"], out)
        for path, value in leaves(sig.get("metadata") or {}):
            if path[0] == "_HyperSpy" or (isinstance(value, dict) and "__ndarray__" in value):
                continue
            n_leaves += 1
            mine = ours["metadata"]
            for key in path:
                mine = mine.get(key) if isinstance(mine, dict) else None
                if mine is None:
                    break
            if mine is not None and same_value(value, mine):
                n_agree += 1
            else:
                out.append((f"{p}.metadata.{'.'.join(path)}", f"expected {value!r}, read {mine!r}"))
    return out, n_leaves, n_agree


_results = {}


def result(corpus, file, fmt, reference_key):
    """Read one corpus file once and compare it (cached for the metadata tally)."""
    key = (file, reference_key)
    if key not in _results:
        reference = json.loads((corpus / reference_key).read_text(encoding="utf-8"))
        path = corpus / file
        try:
            probed = emio.probe(path)
            if probed != fmt:
                raise AssertionError(f"probe picked {probed} for a {fmt} file")
            signals = emio.file_reader(path, **read_kwargs(reference))
        except Exception as e:  # noqa: BLE001 - every failure is a reported difference
            _results[key] = ([("read", f"{type(e).__name__}: {e}")], 0, 0)
        else:
            if reference.get("reader") is None:
                diffs = [("rsciio_cannot_read", f"emio reads {len(signals)} dataset(s)")] if signals else [("read", "no dataset")]
                _results[key] = (diffs, 0, 0)
            else:
                _results[key] = compare(reference, signals)
    return _results[key]


def pending(fmt):
    if fmt not in READABLE:
        pytest.xfail(f"emio's {fmt} reader has not landed yet (registered as unreadable)")


@pytest.mark.parametrize("file,fmt,reference_key", ENTRIES, ids=[e[2] for e in ENTRIES])
def test_corpus_file_matches_reference(corpus, file, fmt, reference_key):
    pending(fmt)
    differences, _, _ = result(corpus, file, fmt, reference_key)
    undocumented = [
        f"{k}: {d}" for k, d in differences if ".metadata." not in k and not covers(file, reference_key, k)
    ]
    assert not undocumented, "\n".join(undocumented)


FORMATS = sorted({e[1] for e in ENTRIES})


@pytest.mark.parametrize("fmt", FORMATS)
def test_corpus_metadata_agreement(corpus, fmt):
    pending(fmt)
    total = agree = 0
    for file, f, reference_key in ENTRIES:
        if f != fmt:
            continue
        differences, n, a = result(corpus, file, fmt, reference_key)
        documented = sum(1 for k, _ in differences if ".metadata." in k and covers(file, reference_key, k))
        total += n
        agree += a + documented
    minimum = KNOWN["metadata_min_agreement"].get(fmt, KNOWN["metadata_min_agreement"].get("default", 1.0))
    ratio = agree / total if total else 1.0
    assert ratio >= minimum, f"{fmt}: metadata leaves agree {100 * ratio:.1f}% < {100 * minimum:.1f}%"


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
    pending(fmt)
    reference = json.loads((corpus / reference_key).read_text(encoding="utf-8"))
    kwargs = read_kwargs(reference)
    try:
        eager = emio.file_reader(corpus / file, **kwargs)
    except emio.EmioError as e:
        pytest.xfail(f"emio cannot read this file yet: {e}")
    lazy = emio.file_reader(corpus / file, lazy=True, **kwargs)
    odd = emio.file_reader(corpus / file, lazy=True, chunks=None, **kwargs)
    assert len(eager) == len(lazy) == len(odd)
    for e, l, o in zip(eager, lazy, odd):
        assert l["data"].dtype == e["data"].dtype and l["data"].shape == e["data"].shape
        assert same_axes(l["axes"], e["axes"])
        assert l["metadata"] == e["metadata"]
        eager_bytes = np.ascontiguousarray(e["data"]).tobytes()
        assert l["data"].compute().tobytes() == eager_bytes
        # Chunks that cut the natural ones: regions straddling frames/tiles/HDF5 chunks.
        cut = l["data"].rechunk(small_chunks(e["data"].shape)) if e["data"].ndim else l["data"]
        assert cut.compute().tobytes() == eager_bytes
        assert o["data"].compute().tobytes() == eager_bytes


#: rsciio plugins by the reference's ``format`` field.
RSCIIO_PLUGINS = {
    "digitalmicrograph": "rsciio.digitalmicrograph",
    "emd": "rsciio.emd",
    "mrc": "rsciio.mrc",
    "blockfile": "rsciio.blockfile",
    "quantumdetector": "rsciio.quantumdetector",
    "tiff": "rsciio.tiff",
}


def rsciio_sample():
    """Up to three files per format that rsciio reads and for which no difference is
    documented."""
    per_format = defaultdict(list)
    for file, fmt, reference_key in DATA_FILES:
        if any(d["file"] in (file, reference_key) for d in KNOWN["differences"]):
            continue
        if len(per_format[fmt]) < 3:
            per_format[fmt].append((file, fmt, reference_key))
    return [e for v in per_format.values() for e in v]


SAMPLE = rsciio_sample()


@pytest.mark.parametrize("file,fmt,reference_key", SAMPLE, ids=[e[0] for e in SAMPLE])
def test_corpus_against_rsciio(corpus, file, fmt, reference_key):
    pending(fmt)
    import importlib

    reference = json.loads((corpus / reference_key).read_text(encoding="utf-8"))
    if reference.get("reader") != "rsciio":
        pytest.skip("rsciio does not read this file")
    plugin = importlib.import_module(RSCIIO_PLUGINS[reference["format"]])
    kwargs = read_kwargs(reference)
    theirs = plugin.file_reader(str(corpus / file), **kwargs)
    ours = emio.file_reader(corpus / file, **kwargs)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        tdata = np.asarray(t["data"])
        assert o["data"].shape == tdata.shape
        assert o["data"].dtype == tdata.dtype
        assert np.ascontiguousarray(o["data"]).tobytes() == np.ascontiguousarray(tdata).tobytes()
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
