"""HyperSpy HDF5 interop: `.hspy` written by emconvert is loaded by HyperSpy (and rsciio)
with identical data, axes, metadata and original_metadata, for every dtype and
compression; and emio reads `.hspy` files HyperSpy writes in the test, for every dtype and
axis kind (uniform, non-uniform, functional) and metadata of every value type."""
import json

import numpy as np
import pytest
import zarr

from conftest import save_npy

hs = pytest.importorskip("hyperspy.api")

DTYPES = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
          "float16", "float32", "float64", "complex64", "complex128", "bool"]
RGB = ["rgb8", "rgba8", "rgb16", "rgba16"]


def info(emconvert, path):
    return json.loads(emconvert("info", "--json", "--original", path).stdout)["datasets"][0]


def text(value):
    """HyperSpy's unset axis name or unit (``t.Undefined``) as emio's empty text."""
    return "" if str(value) == "<undefined>" else value


def sample(dtype, shape=(3, 4, 5)):
    n = int(np.prod(shape))
    if dtype == "bool":
        return (np.arange(n) % 3 == 0).reshape(shape)
    values = np.arange(n, dtype=np.float64) * 7.25 - 20
    if np.dtype(dtype).kind == "u":
        values = np.abs(values) + 1
    if np.dtype(dtype).kind == "c":
        return (values + 1j * values[::-1]).astype(dtype).reshape(shape)
    return values.astype(dtype).reshape(shape)


@pytest.mark.parametrize("compression", ["gzip", "lzf", "none"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_hyperspy_loads_emio_hspy_of_every_dtype(emconvert, tmp_path, dtype, compression):
    data = sample(dtype)
    src = save_npy(tmp_path / "in.npy", data)
    out = tmp_path / "out.hspy"
    emconvert(src, out, "-w", f"compression={compression}")
    s = hs.load(out)
    assert s.data.dtype == data.dtype
    np.testing.assert_array_equal(s.data, data)
    lazy = hs.load(out, lazy=True)
    np.testing.assert_array_equal(lazy.data.compute(), data)


def test_chunks_option_is_what_h5py_sees(emconvert, tmp_path):
    import h5py

    data = sample("uint16", (6, 5, 7))
    src = save_npy(tmp_path / "in.npy", data)
    out = tmp_path / "chunked.hspy"
    emconvert(src, out, "-w", "chunks=2,5,3", "-w", "compression=gzip", "-w", "compression_opts=6")
    with h5py.File(out, "r") as f:
        d = f["Experiments/in/data"]
        assert d.chunks == (2, 5, 3)
        assert d.compression == "gzip" and d.compression_opts == 6 and d.shuffle
        np.testing.assert_array_equal(d[()], data)
    out = tmp_path / "lzf.hspy"
    emconvert(src, out, "-w", "compression=lzf")
    with h5py.File(out, "r") as f:
        assert f["Experiments/in/data"].compression == "lzf"
    # rsciio's default chunking: whole signals, ~1 MB
    out = tmp_path / "default.hspy"
    emconvert(src, out)
    from rsciio._hierarchical import get_signal_chunks

    with h5py.File(out, "r") as f:
        assert f["Experiments/in/data"].chunks == get_signal_chunks(data.shape, data.dtype, [2])


AXES = [
    {"name": "y", "units": "nm", "scale": 2.5, "offset": -1.0, "size": 3, "navigate": True},
    {"name": "t", "units": "s", "values": [0.0, 1.0, 4.0, 9.0], "size": 4, "navigate": True},
    {"name": "Energy loss", "units": "eV", "scale": 0.25, "offset": 280.0, "size": 16,
     "navigate": False},
]
METADATA = {
    "General": {"title": "EELS map", "original_filename": "map.dm4", "date": "2024-05-01"},
    "Signal": {"signal_type": "EELS", "quantity": "Intensity (counts)"},
    "Acquisition_instrument": {"TEM": {"beam_energy": 200.0, "convergence_angle": 21.5,
                                       "Detector": {"EELS": {"collection_angle": 36.0}}}},
    "Misc": {"count": 12, "big": 2 ** 60, "flag": True, "nothing": None, "empty": [],
             "ints": [1, 2, 3], "floats": [0.5, 1.5], "bools": [True, False],
             "names": ["a", "bb", "µm"], "mixed": ["a", 1, None], "nested": [[1, 2], [3, 4]],
             "maps": [{"a": 1}, {"b": "x"}], "text": "Ångström °"},
}
ORIGINAL = {"ImageList": {"Dims": [3, 4, 16], "Names": ["a", "bb"], "Gain": 1.5,
                          "Mode": "spectrum imaging", "Nothing": None,
                          "Deep": {"Deeper": {"Value": -7}}}}


@pytest.fixture
def calibrated(tmp_path):
    """An EELS SI with a non-uniform axis and metadata of every value type, in emio's .zarr
    schema written by zarr-python."""
    data = (np.arange(3 * 4 * 16, dtype=np.float32) / 7).reshape(3, 4, 16)
    path = tmp_path / "calibrated.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=3)
    root.attrs["emio"] = {"schema": 1, "datasets": ["data"]}
    arr = root.create_array("data", shape=data.shape, chunks=(1, 4, 16), dtype=data.dtype)
    arr[:] = data
    arr.attrs.update({"emio": {"schema": 1, "dtype": "float32", "rgb": False}, "axes": AXES,
                      "metadata": METADATA, "original_metadata": ORIGINAL})
    return path, data


def test_hyperspy_loads_emio_axes_and_metadata(emconvert, tmp_path, calibrated):
    src, data = calibrated
    out = tmp_path / "map.hspy"
    emconvert(src, out)
    for lazy in (False, True):
        s = hs.load(out, lazy=lazy)
        np.testing.assert_array_equal(np.asarray(s.data), data)
        assert s.axes_manager.navigation_shape == (4, 3)
        axes = [s.axes_manager[i] for i in range(3)]
        # HyperSpy's axes_manager lists navigation axes fastest first; by array order:
        by_index = sorted(s.axes_manager._axes, key=lambda a: a.index_in_array)
        for got, want in zip(by_index, AXES):
            assert (got.name, got.units, got.navigate, got.size) == (
                want["name"], want["units"], want["navigate"], want["size"])
            if "values" in want:
                assert not got.is_uniform
                np.testing.assert_array_equal(got.axis, want["values"])
            else:
                assert got.is_uniform and (got.scale, got.offset) == (want["scale"], want["offset"])
        assert len(axes) == 3
        assert s.metadata.as_dictionary()["Misc"] == METADATA["Misc"]
        md = s.metadata.as_dictionary()
        for key in ("General", "Signal", "Acquisition_instrument"):
            for k, v in METADATA[key].items():
                assert md[key][k] == v, (key, k)
        assert s.original_metadata.as_dictionary() == ORIGINAL
    assert type(hs.load(out)).__name__ == "EELSSpectrum" or hs.load(out).metadata.Signal.signal_type == "EELS"


def test_dm4_converts_to_hspy_hyperspy_loads(emconvert, tmp_path, corpus):
    """`emconvert x.dm4 x.hspy`: HyperSpy sees emio's data, axes and metadata."""
    candidates = sorted(corpus.glob("dm/*.dm4")) + sorted(corpus.glob("dm/*.dm3"))
    src = None
    for path in candidates:
        probe = emconvert("info", "--json", path, check=False)
        if probe.returncode == 0:
            ds = json.loads(probe.stdout)["datasets"]
            if len(ds) == 1 and "dtype_fields" not in ds[0] and ds[0]["dtype"] != "|b1":
                src = path
                break
    if src is None:
        pytest.skip("no readable single-dataset DM file in the corpus")
    out = tmp_path / "dm.hspy"
    emconvert(src, out)
    want = info(emconvert, src)
    s = hs.load(out)
    npy = tmp_path / "dm.npy"
    emconvert(src, npy)
    np.testing.assert_array_equal(s.data, np.load(npy))
    by_index = sorted(s.axes_manager._axes, key=lambda a: a.index_in_array)
    for got, w in zip(by_index, want["axes"]):
        assert (got.name if got.name != "<undefined>" else "") == w["name"]
        assert (got.units if got.units != "<undefined>" else "") == w["units"]
        assert got.navigate == w["navigate"] and got.size == w["size"]
        if "scale" in w:
            assert got.scale == pytest.approx(w["scale"]) and got.offset == pytest.approx(w["offset"])
    assert s.metadata.General.title == want["metadata"]["General"]["title"]
    # emio reads its own file back to the same description and metadata trees.
    back = info(emconvert, out)
    assert back["axes"] == want["axes"] and back["shape"] == want["shape"]
    assert back["metadata"] == want["metadata"]
    assert back["original_metadata"] == want["original_metadata"]


def hyperspy_signal(dtype, axes_kind):
    from hyperspy.axes import DataAxis, FunctionalDataAxis

    if dtype in RGB:
        # An RGB signal is a 2-D image of records: a stack of 2 images of 4 x 6.
        base = "uint8" if dtype.endswith("8") else "uint16"
        channels = 4 if dtype.startswith("rgba") else 3
        data = (np.arange(2 * 4 * 6 * channels) % 200).astype(base).reshape(2, 4, 6, channels)
        s = hs.signals.Signal1D(data)
        s.change_dtype(dtype)
    else:
        s = hs.signals.Signal1D(sample(dtype, (4, 6)))
    sig = s.axes_manager.signal_axes[0]
    nav = s.axes_manager.navigation_axes[0]
    sig.name, sig.units, nav.name, nav.units = "E", "eV", "pos", "nm"
    where = s.axes_manager._axes.index(sig)
    if axes_kind == "uniform":
        sig.scale, sig.offset = 0.5, -2.0
    elif axes_kind == "non-uniform":
        s.axes_manager.set_axis(
            DataAxis(axis=np.array([0.0, 0.5, 2.0, 4.5, 8.0, 12.5]), name="E", units="eV",
                     navigate=False), where)
    else:
        s.axes_manager.set_axis(
            FunctionalDataAxis(expression="a / (x + 1) + b", a=100, b=10, size=6, name="E",
                               units="eV", navigate=False), where)
    s.metadata.General.title = f"{dtype} {axes_kind}"
    return s


@pytest.mark.parametrize("axes_kind", ["uniform", "non-uniform", "functional"])
@pytest.mark.parametrize("dtype", DTYPES + RGB)
def test_emio_reads_hyperspy_hspy(emconvert, tmp_path, dtype, axes_kind):
    s = hyperspy_signal(dtype, axes_kind)
    path = tmp_path / "hs.hspy"
    s.save(path)
    got = info(emconvert, path)
    assert got["shape"] == list(s.data.shape)
    assert got["metadata"]["General"]["title"] == f"{dtype} {axes_kind}"
    for w, a in zip(got["axes"], sorted(s.axes_manager._axes, key=lambda a: a.index_in_array)):
        assert (w["name"], w["units"], w["navigate"], w["size"]) == (
            text(a.name), text(a.units), a.navigate, a.size)
        if "values" in w:
            np.testing.assert_allclose(w["values"], a.axis, rtol=1e-12)
        else:
            assert a.is_uniform and (w["scale"], w["offset"]) == (a.scale, a.offset)
    if dtype in RGB:
        return
    npy = tmp_path / "hs.npy"
    emconvert(path, npy)
    np.testing.assert_array_equal(np.load(npy), s.data)
    # ...and back through emio's writer: HyperSpy sees the same signal (functional axes
    # as non-uniform axes with the same coordinates).
    again = tmp_path / "again.hspy"
    emconvert(path, again)
    s2 = hs.load(again)
    np.testing.assert_array_equal(s2.data, s.data)
    for a, b in zip(s2.axes_manager._axes, s.axes_manager._axes):
        np.testing.assert_allclose(a.axis, b.axis, rtol=1e-12)
        assert (text(a.name), text(a.units), a.navigate) == (text(b.name), text(b.units), b.navigate)


def test_emio_reads_hyperspy_metadata_of_every_type(emconvert, tmp_path):
    s = hs.signals.Signal2D(np.zeros((2, 3, 4), dtype=np.uint8))
    values = {"int": 3, "float": 2.5, "text": "µm", "flag": False, "none": None,
              "ints": [1, 2], "floats": [1.5, 2.0], "names": ["x", "yy"], "bools": [True],
              "tuple": (1, 2), "empty": [], "mixed": [1, "a", None], "nested": [[1, 2], [3]],
              "dict": {"deep": {"deeper": 1}}}
    for k, v in values.items():
        s.metadata.set_item(f"Test.{k}", v)
        s.original_metadata.set_item(f"Orig.{k}", v)
    path = tmp_path / "md.hspy"
    s.save(path)
    got = info(emconvert, path)

    def jsonish(v):
        return json.loads(json.dumps(v, default=lambda o: o.item() if hasattr(o, "item") else list(o)))

    assert got["metadata"]["Test"] == jsonish(values)
    assert got["original_metadata"]["Orig"] == jsonish(values)
    again = tmp_path / "again.hspy"
    emconvert(path, again)
    s2 = hs.load(again)
    assert jsonish(s2.metadata.Test.as_dictionary()) == jsonish(values)
    assert jsonish(s2.original_metadata.Orig.as_dictionary()) == jsonish(values)


def test_hyperspy_reads_groups_of_many_members(emconvert, tmp_path):
    """A metadata group of thousands of items (DM and TIFF tag trees have them)."""
    s = hs.signals.Signal1D(np.arange(6, dtype=np.uint8))
    tags = {f"tag {i:05}": i for i in range(9000)}
    s.original_metadata.add_dictionary({"Tags": tags})
    path = tmp_path / "tags.hspy"
    s.save(path)
    again = tmp_path / "again.hspy"
    emconvert(path, again)
    assert hs.load(again).original_metadata.Tags.as_dictionary() == tags


def ragged_signal(kind):
    """A ragged signal as HyperSpy builds one: per-position arrays of their own length
    (N-D float peak lists on a 2-D scan, 1-D integers, text, single strings)."""
    rng = np.random.default_rng(3)
    if kind == "float peaks":
        data = np.empty((3, 4), dtype=object)
        for i in np.ndindex(data.shape):
            data[i] = rng.random((int(rng.integers(0, 5)), 2)) * 100
    elif kind == "int16":
        data = np.empty((5,), dtype=object)
        for i in range(5):
            data[i] = np.arange(i, dtype=np.int16) - 3
    elif kind == "text":
        data = np.empty((4,), dtype=object)
        for i in range(4):
            # ASCII: HyperSpy cannot load its own non-ASCII ragged text (rsciio's
            # unflatten_data decodes h5py's bytes as ASCII).
            data[i] = np.array(["a" * (i + 1), "um", "c", "d"][: i + 1])
    else:  # one string per position
        data = np.empty((2, 3), dtype=object)
        for k, i in enumerate(np.ndindex(data.shape)):
            data[i] = "x" * (k + 1)
    s = hs.signals.BaseSignal(data, ragged=True)
    s.metadata.General.title = kind
    return s


@pytest.mark.parametrize("compression", ["gzip", "none"])
@pytest.mark.parametrize("kind", ["float peaks", "int16", "text", "one string"])
def test_ragged_signals_round_trip_through_emio(emconvert, tmp_path, kind, compression):
    """emio reads HyperSpy's ragged signals (never drops them) and writes them back as
    HyperSpy does: HyperSpy loads emio's file as the same ragged signal."""
    s = ragged_signal(kind)
    path = tmp_path / "ragged.hspy"
    s.save(path)
    got = info(emconvert, path)
    assert got["dtype"] == "|O" and got["shape"] == list(s.data.shape)
    assert got["ragged_element"] == ("<U" if kind in ("text", "one string") else
                                     np.asarray(s.data.flat[1]).dtype.str)
    assert all(a["navigate"] for a in got["axes"])
    again = tmp_path / "again.hspy"
    emconvert(path, again, "-w", f"compression={compression}")
    for lazy in (False, True):
        s2 = hs.load(again, lazy=lazy)
        assert s2.ragged and s2.data.shape == s.data.shape
        assert s2.metadata.General.title == kind
        data = s2.data.compute() if lazy else s2.data
        for i in np.ndindex(s.data.shape):
            want = np.asarray(s.data[i])
            got_item = np.asarray(data[i])
            assert got_item.shape == want.shape
            np.testing.assert_array_equal(got_item, want)
    # A fixed-size format refuses ragged data rather than dropping it.
    failed = emconvert(path, tmp_path / "ragged.npy", check=False)
    assert failed.returncode != 0 and "ragged" in failed.stderr
