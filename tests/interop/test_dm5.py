"""DM5 files written by emio are read by h5py with identical pixels (in the DM5 layout:
``ImageList/[0]/ImageData/Data``, DM's dimensions reversed, colour as 32-bit 0xAARRGGBB
values) and the tag tree DM readers look for (Dimensions, calibrations, DataType).

Inputs: every DM file of the corpus (converted DM -> DM5 by emconvert, so calibrations,
spectrum images and colour come from real files, compared with rsciio's reading of the
original, which is the stored DM layout), and NPY arrays of every numeric dtype.
(Nion Swift's DM5 reader is not in a released nionswift-io yet, so h5py is the reader.)
"""
import h5py
import numpy as np
import pytest

from conftest import CORPUS, save_npy

import rsciio.digitalmicrograph as rsciio_dm  # noqa: E402 (required: tests/interop/requirements.txt)

DM_FILES = sorted((CORPUS / "dm").glob("*.dm[34]"))
assert DM_FILES, f"no DM file in {CORPUS / 'dm'}: the corpus is incomplete"

IMAGE = "ImageList/[0]"


def dimensions(f):
    """DM's dimensions (fastest first) from the ``[i]`` attributes."""
    attrs = f[f"{IMAGE}/ImageData/Dimensions"].attrs
    return [int(attrs[f"[{i}]"]) for i in range(len(attrs))]


def as_stored(data):
    """rsciio's array as DM5 stores it: RGBA records as 0xAARRGGBB uint32 values."""
    if data.dtype.names:
        r, g, b, a = (data[n].astype(np.uint32) for n in ("R", "G", "B", "A"))
        return (a << 24) | (r << 16) | (g << 8) | b
    return np.asarray(data)


@pytest.mark.parametrize("src", DM_FILES, ids=[p.name for p in DM_FILES])
def test_corpus_file_rewritten_as_dm5(tmp_path, emconvert, src):
    out = tmp_path / "out.dm5"
    emconvert(src, out)
    (orig,) = rsciio_dm.file_reader(str(src))
    with h5py.File(out, "r") as f:
        data = f[f"{IMAGE}/ImageData/Data"][()]
        expected = as_stored(orig["data"])
        assert data.shape == expected.shape
        if orig["data"].dtype.names:
            assert data.dtype == np.uint32
            np.testing.assert_array_equal(data & 0xFFFFFF, expected & 0xFFFFFF)
        else:
            assert data.dtype == expected.dtype
            np.testing.assert_array_equal(data, expected)
        assert dimensions(f) == list(reversed(data.shape))
        # rsciio's axes are in stored C order: calibrations are DM's, reversed.
        cals = f[f"{IMAGE}/ImageData/Calibrations/Dimension"]
        for i, axis in enumerate(reversed(orig["axes"])):
            cal = cals[f"[{i}]"].attrs
            assert np.isclose(cal["Scale"], axis["scale"], rtol=1e-6)
            assert np.isclose(-cal["Origin"] * cal["Scale"], axis["offset"], rtol=1e-6, atol=1e-9)
            assert cal["Units"].decode() == axis["units"]
        assert f[f"{IMAGE}"].attrs["Name"].decode() == orig["metadata"]["General"]["title"]


DTYPES = ["u1", "i1", "<i2", "<u2", "<i4", "<u4", "<f4", "<f8", "<c8", "<c16"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (5, 6), (3, 4, 5)])
def test_npy_to_dm5_read_by_h5py(tmp_path, emconvert, dtype, shape):
    rng = np.random.default_rng(7)
    a = (rng.random(shape) * 100 - 20).astype(dtype)
    if np.iscomplexobj(a):
        a = a + 1j * (rng.random(shape) * 50).astype(a.real.dtype)
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.dm5"
    emconvert(src, out)
    with h5py.File(out, "r") as f:
        data = f[f"{IMAGE}/ImageData/Data"][()]
        assert data.dtype == a.dtype
        assert dimensions(f) == list(reversed(data.shape))
        np.testing.assert_array_equal(data, a)
    # emio reads its own DM5 back unchanged.
    back = tmp_path / "back.npy"
    emconvert(out, back)
    np.testing.assert_array_equal(np.load(back), a)
