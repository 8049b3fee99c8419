"""Every writable format through ``emio.file_writer`` (NumPy and Dask data), read back by
the established Python reader (rsciio's plugin for the format; NumPy/zarr for NPY and plain
Zarr; h5py for DM5; tifffile + imagecodecs for EER) and by emio itself."""

import importlib

import numpy as np
import pytest

import emio
from conftest import writable_formats

#: The established reader of each emio format: (module, function) returning rsciio-style
#: signal dicts.
RSCIIO_READERS = {
    "dm": "rsciio.digitalmicrograph",
    "mrc": "rsciio.mrc",
    "mib": "rsciio.quantumdetector",
    "blo": "rsciio.blockfile",
    "tiff": "rsciio.tiff",
    "emd": "rsciio.emd",
    "zspy": "rsciio.zspy",
    "empad": "rsciio.empad",
    "ripple": "rsciio.ripple",
    "tvips": "rsciio.tvips",
    "msa": "rsciio.msa",
}

#: A representative dataset per format: dtype, shape and how many leading dims navigate
#: (what the format's users store: BLO 4-D u8 scans, MIB frame stacks, ...).
CASES = {
    "blo": ("u1", (3, 4, 16, 16), 2),
    "mib": ("u2", (6, 16, 16), 1),
    "mrc": ("f4", (3, 16, 16), 1),
    "tiff": ("u2", (3, 16, 16), 1),
    "dm": ("f4", (12, 16), 0),
    "emd": ("f4", (3, 16, 16), 1),
    "zspy": ("f4", (3, 16, 16), 1),
    "zarr": ("f4", (3, 16, 16), 1),
    "npy": ("f4", (3, 16, 16), 1),
    "empad": ("f4", (2, 128, 128), 1),
    "tvips": ("u2", (3, 16, 16), 1),
    "msa": ("f4", (64,), 0),
    "eer": ("u1", (3, 16, 16), 1),
}
DEFAULT_CASE = ("f4", (3, 16, 16), 1)

#: Formats that store electron events, not values: at most one count per pixel and frame.
EVENT_FORMATS = {"eer"}

#: Units of the signal axes where a format fixes them (BLO stores diffraction scales in cm).
SIGNAL_UNITS = {"blo": "cm"}

#: Formats whose files carry the signal axes' scale and units for rsciio to read back.
CALIBRATED = {"dm", "emd", "zspy", "blo", "tiff", "mrc", "ripple"}

WRITERS = writable_formats()


def signal_for(fmt):
    dtype, shape, nav = CASES.get(fmt, DEFAULT_CASE)
    rng = np.random.default_rng(3)
    if fmt in EVENT_FORMATS:
        data = (rng.random(shape) < 0.2).astype(dtype)
    elif np.dtype(dtype).kind == "f":
        data = rng.normal(size=shape).astype(dtype)
    else:
        data = rng.integers(0, 200, size=shape).astype(dtype)
    names = "tzyx"[-len(shape):] if len(shape) <= 4 else [f"d{i}" for i in range(len(shape))]
    axes = []
    for i, n in enumerate(shape):
        navigate = i < nav
        axes.append(
            {
                "name": names[i],
                "units": "nm" if navigate else SIGNAL_UNITS.get(fmt, "nm"),
                "scale": 0.5 if navigate else 0.25,
                "offset": 0.0,
                "size": n,
                "navigate": navigate,
                "index_in_array": i,
            }
        )
    metadata = {"General": {"title": f"emio {fmt}"}, "Signal": {"signal_type": ""}}
    return {"data": data, "axes": axes, "metadata": metadata, "original_metadata": {}}


def read_back(fmt, path):
    """The arrays and axes the established reader gives."""
    if fmt == "npy":
        return [{"data": np.load(path), "axes": None}]
    if fmt == "dm5":
        # No rsciio plugin reads DM5: its pixels as h5py gives them (images are stored as
        # they are in C order).
        h5py = pytest.importorskip("h5py")
        with h5py.File(path, "r") as f:
            return [{"data": f["ImageList/[0]/ImageData/Data"][()], "axes": None}]
    if fmt == "zarr":
        zarr = pytest.importorskip("zarr")
        group = zarr.open(str(path), mode="r")
        arrays = [group] if hasattr(group, "shape") else [a for _, a in group.arrays()]
        return [{"data": np.asarray(a[...]), "axes": None} for a in arrays]
    if fmt == "eer":
        # rsciio has no EER reader: tifffile decodes it with imagecodecs' eer_decode.
        tifffile = pytest.importorskip("tifffile")
        pytest.importorskip("imagecodecs")
        return [{"data": tifffile.imread(path), "axes": None}]
    module = RSCIIO_READERS.get(fmt)
    if module is None:
        pytest.skip(f"no established reader known for {fmt}")
    if fmt == "blo":
        try:
            import skimage  # noqa: F401  (rsciio's blockfile module imports it for its writer)
        except ImportError:
            # Its reader does not use scikit-image: a placeholder lets the module import.
            import sys
            import types

            sys.modules["skimage"] = types.ModuleType("skimage")
    reader = importlib.import_module(module).file_reader
    return [{"data": np.asarray(s["data"]), "axes": s["axes"]} for s in reader(str(path))]


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("fmt", [f["name"] for f in WRITERS])
def test_write_then_read_back(tmp_path, fmt, kind):
    info = next(f for f in WRITERS if f["name"] == fmt)
    signal = signal_for(fmt)
    expected = signal["data"]
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        signal = dict(signal, data=da.from_array(expected, chunks=tuple(max(1, n // 2) for n in expected.shape)))
    # rsciio reads TVIPS recordings only from files named like a first part.
    stem = "out_000" if fmt == "tvips" else "out"
    path = tmp_path / f"{stem}.{info['extensions'][0]}"
    assert emio.file_writer(path, signal) == fmt
    theirs = read_back(fmt, path)
    assert len(theirs) >= 1
    got = theirs[0]["data"]
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_array_equal(got, expected)
    if fmt in CALIBRATED and theirs[0]["axes"] is not None:
        their_axes = theirs[0]["axes"]
        signal_axes = [a for a in signal["axes"] if not a["navigate"]]
        theirs_signal = their_axes[-len(signal_axes):]
        for want, have in zip(signal_axes, theirs_signal):
            assert have.get("scale") == pytest.approx(want["scale"], rel=1e-5), (fmt, have)
    # emio reads its own output back identically.
    (ours,) = [s for s in emio.file_reader(path)][:1]
    np.testing.assert_array_equal(ours["data"], expected)


@pytest.mark.parametrize("fmt", ["hspy", "zspy"])
def test_signal_package_round_trips_through_hyperspy_formats(tmp_path, fmt):
    """The package of the signal's class (e.g. exspy's EELS spectrum) is written as HyperSpy
    writes it, and read back by emio and by rsciio."""
    signal = dict(signal_for("zspy"), package="exspy", package_version="0.3.2")
    path = tmp_path / f"p.{fmt}"
    assert emio.file_writer(path, signal) == fmt
    (ours,) = emio.file_reader(path)
    assert (ours["package"], ours["package_version"]) == ("exspy", "0.3.2")
    reader = importlib.import_module(f"rsciio.{fmt}").file_reader
    (theirs,) = reader(str(path))
    assert (theirs["package"], theirs["package_version"]) == ("exspy", "0.3.2")
