"""BLO: blockfiles written by emio read back identically by rsciio's blockfile reader, with
rsciio's intensity scaling and navigator; emio's reading of the corpus equals rsciio's."""
import sys
import types

import numpy as np
import pytest

from conftest import save_npy

try:
    import skimage  # noqa: F401  (rsciio's blockfile module imports it for its writer)
    HAVE_SKIMAGE = True
except ImportError:
    # The reader does not use scikit-image: a placeholder lets the module import.
    sys.modules["skimage"] = types.ModuleType("skimage")
    HAVE_SKIMAGE = False

import rsciio.blockfile as blockfile  # noqa: E402 (required: tests/interop/requirements.txt)


def rsciio_read(path):
    return blockfile.file_reader(str(path))[0]


def rescale(x, lo, hi):
    """scikit-image's rescale_intensity(x, in_range=(lo, hi), out_range=np.uint8)."""
    x = np.clip(np.asarray(x, dtype=np.float64), lo, hi)
    return ((x - lo) / (hi - lo) * 255).astype(np.uint8)


def read_navigator(path, shape):
    header = np.fromfile(path, dtype=blockfile._api.get_header_dtype_list(), count=1)
    offset = int(header["Data_offset_1"][0])
    return np.fromfile(path, dtype=np.uint8, count=int(np.prod(shape)), offset=offset).reshape(shape)


@pytest.mark.parametrize("shape", [(3, 4, 16, 16), (5, 8, 8), (6, 6)])
def test_rsciio_reads_emio_blo(tmp_path, emconvert, shape):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, size=shape).astype("u1")
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.blo"
    emconvert(src, out)
    s = rsciio_read(out)
    np.testing.assert_array_equal(s["data"], a.squeeze())
    nav = shape[:-2] if len(shape) > 2 else (1,)
    np.testing.assert_array_equal(read_navigator(out, nav), a.mean(axis=(-2, -1)).astype("u1").reshape(nav))
    header = s["original_metadata"]["blockfile_header"]
    assert header["DP_SZ"] == shape[-1] and header["Data_offset_1"] == 4096


@pytest.mark.parametrize("scaling", ["dtype", "minmax", "crop", "100,3000"])
def test_intensity_scaling_matches_rsciio(tmp_path, emconvert, scaling):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 4000, size=(2, 3, 8, 8)).astype("<u2")
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.blo"
    emconvert(src, out, "-w", f"intensity_scaling={scaling}")
    lo, hi = {
        "dtype": (0, 65535),
        "minmax": (a.min(), a.max()),
        "crop": (0, 255),
        "100,3000": (100, 3000),
    }[scaling]
    np.testing.assert_array_equal(rsciio_read(out)["data"], rescale(a, lo, hi))
    np.testing.assert_array_equal(read_navigator(out, (2, 3)), rescale(a.mean(axis=(-2, -1)), lo, hi))


@pytest.mark.skipif(not HAVE_SKIMAGE, reason="rsciio's blockfile writer needs scikit-image")
@pytest.mark.parametrize("scaling", [None, "minmax"])
def test_same_pixels_as_rsciio_writer(tmp_path, emconvert, scaling):
    a = np.random.default_rng(9).integers(0, 255, size=(3, 2, 12, 12)).astype("u1")
    signal = {
        "data": a,
        "axes": [
            {"size": n, "scale": 1.0, "offset": 0.0, "units": "", "name": "", "navigate": i < 2}
            for i, n in enumerate(a.shape)
        ],
        "metadata": {},
        "original_metadata": {},
        "attributes": {"_lazy": False},
    }
    theirs = tmp_path / "theirs.blo"
    blockfile.file_writer(str(theirs), signal, intensity_scaling=scaling)
    src = save_npy(tmp_path / "in.npy", a)
    ours = tmp_path / "ours.blo"
    emconvert(src, ours, *(["-w", f"intensity_scaling={scaling}"] if scaling else []))
    np.testing.assert_array_equal(rsciio_read(ours)["data"], rsciio_read(theirs)["data"])
    np.testing.assert_array_equal(read_navigator(ours, (3, 2)), read_navigator(theirs, (3, 2)))


def test_refusals(tmp_path, emconvert):
    src = save_npy(tmp_path / "rect.npy", np.zeros((2, 4, 6), "u1"))
    proc = emconvert(src, tmp_path / "r.blo", check=False)
    assert proc.returncode != 0 and "square" in proc.stderr
    src = save_npy(tmp_path / "u16.npy", np.zeros((2, 4, 4), "u2"))
    proc = emconvert(src, tmp_path / "u.blo", check=False)
    assert proc.returncode != 0 and "intensity_scaling" in proc.stderr


def test_emio_reads_corpus_like_rsciio(tmp_path, emconvert, corpus):
    path = corpus / "blo" / "test1.blo"
    out = tmp_path / "main.npy"
    emconvert(path, out, "--dataset", "0")
    s = rsciio_read(path)
    np.testing.assert_array_equal(np.load(out), s["data"])
    vbf = tmp_path / "vbf.npy"
    emconvert(path, vbf, "--dataset", "1")
    np.testing.assert_array_equal(np.load(vbf), read_navigator(path, (3, 2)))


def test_blo_to_containers_keeps_the_virtual_image_for_rsciio(tmp_path, emconvert):
    """A blockfile converted to .hspy, .zspy or NCEM .emd holds the patterns and the stored
    virtual bright-field image as two signals, which rsciio loads as a list."""
    import rsciio.emd as emd
    import rsciio.hspy as hspy
    import rsciio.zspy as zspy

    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, size=(3, 4, 8, 8)).astype("u1")
    blo = tmp_path / "scan.blo"
    emconvert(save_npy(tmp_path / "in.npy", a), blo)
    vbf = read_navigator(blo, (3, 4))
    for suffix, reader in [(".hspy", hspy), (".zspy", zspy), (".emd", emd)]:
        out = tmp_path / f"scan{suffix}"
        emconvert(blo, out)
        signals = reader.file_reader(str(out))
        by_title = {s["metadata"]["General"]["title"]: s for s in signals}
        assert set(by_title) == {"Diffraction patterns", "Virtual bright field"}, suffix
        np.testing.assert_array_equal(by_title["Diffraction patterns"]["data"], a)
        np.testing.assert_array_equal(by_title["Virtual bright field"]["data"], vbf)
