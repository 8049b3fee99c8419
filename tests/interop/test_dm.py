"""DM4 files written by emio are read by rsciio and ncempy with identical pixels, shape,
calibrations and title.

Inputs: every DM file of the corpus (converted DM -> DM4 by emconvert, so calibrations,
titles and tags come from real files), and NPY arrays of every numeric dtype.
"""
import json

import numpy as np
import pytest

from conftest import CORPUS, save_npy

import rsciio.digitalmicrograph as rsciio_dm  # noqa: E402 (required: tests/interop/requirements.txt)
import ncempy.io.dm as ncempy_dm  # noqa: E402

DM_FILES = sorted((CORPUS / "dm").glob("*.dm[34]"))
assert DM_FILES, f"no DM file in {CORPUS / 'dm'}: the corpus is incomplete"


def rsciio_read(path):
    return rsciio_dm.file_reader(str(path))


def plain(data):
    """RGBA records as an (..., 4) uint8 array; everything else unchanged."""
    if data.dtype.names:
        return np.stack([data[n] for n in data.dtype.names], axis=-1)
    return np.asarray(data)


def assert_same_axes(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a["size"] == b["size"]
        assert a["units"] == b["units"]
        assert a["navigate"] == b["navigate"]
        assert np.isclose(a["scale"], b["scale"], rtol=1e-6), (a, b)
        assert np.isclose(a["offset"], b["offset"], rtol=1e-6, atol=1e-9), (a, b)


@pytest.mark.parametrize("src", DM_FILES, ids=[p.name for p in DM_FILES])
def test_corpus_file_rewritten_as_dm4(tmp_path, emconvert, src):
    out = tmp_path / "out.dm4"
    emconvert(src, out)
    (orig,) = rsciio_read(src)
    (new,) = rsciio_read(out)
    a, b = plain(orig["data"]), plain(new["data"])
    assert a.shape == b.shape
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)
    assert new["metadata"]["General"]["title"] == orig["metadata"]["General"]["title"]
    assert new["metadata"]["Signal"]["signal_type"] == orig["metadata"]["Signal"]["signal_type"]
    assert_same_axes(new["axes"], orig["axes"])
    # The image tags come back unchanged.
    assert (
        new["original_metadata"]["ImageList"]["TagGroup0"]["ImageTags"].keys()
        >= orig["original_metadata"]["ImageList"]["TagGroup0"]["ImageTags"].keys()
    )


DTYPES = ["u1", "i1", "<i2", "<u2", "<i4", "<u4", "<f4", "<f8", "<c8", "<c16"]


@pytest.mark.parametrize("ext", ["dm4", "dm3"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (5, 6), (3, 4, 5)])
def test_npy_to_dm_read_by_rsciio_and_ncempy(tmp_path, emconvert, dtype, shape, ext):
    rng = np.random.default_rng(7)
    a = (rng.random(shape) * 100 - 20).astype(dtype)
    if np.iscomplexobj(a):
        a = a + 1j * (rng.random(shape) * 50).astype(a.real.dtype)
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / f"out.{ext}"
    emconvert(src, out)
    assert out.read_bytes()[:4] == (b"\0\0\0\3" if ext == "dm3" else b"\0\0\0\4")

    (s,) = rsciio_read(out)
    assert s["data"].shape == a.shape
    assert s["data"].dtype == a.dtype
    np.testing.assert_array_equal(s["data"], a)
    for axis in s["axes"]:
        assert axis["scale"] == 1.0 and axis["offset"] == 0.0

    with ncempy_dm.fileDM(str(out)) as f:
        d = f.getDataset(0)
    np.testing.assert_array_equal(d["data"], a)
    assert d["data"].shape == a.shape


def test_bool_and_rgba_read_by_rsciio(tmp_path, emconvert):
    b = np.array([[True, False, True], [False, False, True]])
    emconvert(save_npy(tmp_path / "b.npy", b), tmp_path / "b.dm4")
    (s,) = rsciio_read(tmp_path / "b.dm4")
    np.testing.assert_array_equal(s["data"], b)


def test_calibrations_and_title_read_by_ncempy(tmp_path, emconvert):
    src = CORPUS / "dm" / "dmTest_float32_nonSquare_diffPixelSize.dm3"
    if not src.is_file():
        pytest.skip("corpus file missing")
    out = tmp_path / "cal.dm4"
    emconvert(src, out)
    (orig,) = rsciio_read(src)
    with ncempy_dm.fileDM(str(out)) as f:
        d = f.getDataset(0)
    np.testing.assert_array_equal(d["data"], orig["data"])
    # ncempy lists calibrations in C order.
    for ax, scale, unit in zip(orig["axes"], d["pixelSize"], d["pixelUnit"]):
        assert np.isclose(ax["scale"], scale)
        assert ax["units"] == unit
    info = json.loads(emconvert("info", "--json", out).stdout)
    assert info["datasets"][0]["title"] == orig["metadata"]["General"]["title"]


def _patch_image(path, data_type, first_dim=None):
    """Rewrite the DataType (and the first, fastest, dimension) of an emio-written DM4 file
    in place: DM4 scalar tags are `name, u64 size, "%%%%", u64 1, u64 type, i32 value`."""
    b = bytearray(path.read_bytes())
    name = b"\x00\x08DataType"
    at = b.index(name) + len(name) + 8 + 4 + 8 + 8
    b[at : at + 4] = np.int32(data_type).tobytes()
    if first_dim is not None:
        name = b"\x00\x0aDimensions"
        # group size, sorted/open flags, tag count, then the first unnamed data tag.
        at = b.index(name) + len(name) + 8 + 2 + 8 + (1 + 2 + 8 + 4 + 8 + 8)
        b[at : at + 4] = np.int32(first_dim).tobytes()
    path.write_bytes(bytes(b))


def _emio_array(emconvert, path):
    """emio's reading of `path`, through an NPY conversion."""
    out = path.with_name(path.stem + "-emio.npy")
    emconvert(path, out)
    return np.load(out)


def test_packed_complex_matches_rsciio(tmp_path, emconvert):
    """DataType 27 (half-plane FFT rows) and 5 (DM 2 packed layout) unpack like rsciio."""
    rng = np.random.default_rng(3)
    # DataType 27: rows of W/2 + 1 complex values stored as float pairs; W = 8, H = 6.
    stored = rng.random((6, 10)).astype("<f4")
    src = tmp_path / "p27.dm4"
    emconvert(save_npy(tmp_path / "p27.npy", stored), src)
    _patch_image(src, 27, first_dim=8)
    (s,) = rsciio_read(src)
    ours = _emio_array(emconvert, src)
    assert ours.shape == s["data"].shape == (6, 8)
    np.testing.assert_array_equal(ours, s["data"])
    # DataType 5: a 2N x 2N image stored as 4N^2 floats.
    stored = rng.random((8, 8)).astype("<f4")
    src = tmp_path / "p5.dm4"
    emconvert(save_npy(tmp_path / "p5.npy", stored), src)
    _patch_image(src, 5)
    (s,) = rsciio_read(src)
    ours = _emio_array(emconvert, src)
    assert ours.dtype == s["data"].dtype
    np.testing.assert_array_equal(ours, s["data"])


def test_data_type_4_is_read(tmp_path, emconvert):
    """DataType 4 (DM 2's unsigned 16-bit type), which rsciio rejects."""
    a = np.arange(12, dtype="<u2").reshape(3, 4)
    src = tmp_path / "t4.dm4"
    emconvert(save_npy(tmp_path / "t4.npy", a), src)
    _patch_image(src, 4)
    with pytest.raises(NotImplementedError):
        rsciio_read(src)
    np.testing.assert_array_equal(_emio_array(emconvert, src), a)
