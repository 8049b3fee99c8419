"""Every dtype emio writes, in every format it writes, read back by the reference reader
of that format (zarr-python, rsciio, numpy, tifffile, mrcfile, ncempy). A format that cannot
hold a dtype must say so in a one-line error that names the dtype, and leave no output.
"""
import numpy as np
import pytest

from conftest import save_npy

RGB = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
DTYPES = ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8", "c8", "c16",
          "bool", "rgb"]


def sample(code):
    """A small 3-D array of `code` with distinct values (negative ones for signed types)."""
    shape = (2, 3, 4)
    n = int(np.prod(shape))
    if code == "rgb":
        flat = np.arange(n * 3, dtype=np.uint8).reshape(n, 3)
        out = np.empty(n, dtype=RGB)
        out["R"], out["G"], out["B"] = flat[:, 0], flat[:, 1], flat[:, 2]
        return out.reshape(shape)
    if code == "bool":
        return (np.arange(n) % 3 == 0).reshape(shape)
    dt = np.dtype(code)
    if dt.kind == "c":
        return (np.arange(n) - 5 + 1j * np.arange(n) / 4).astype(dt).reshape(shape)
    values = np.arange(n) - (5 if dt.kind in "if" else 0)
    return (values / (4 if dt.kind == "f" else 1)).astype(dt).reshape(shape)


def plain(array):
    """RGB records as an (..., 3) uint8 array; everything else as a plain ndarray."""
    array = np.asarray(array)
    if array.dtype.names:
        return np.stack([array[n] for n in array.dtype.names[:3]], axis=-1)
    return array


def read_zarr(path):
    import zarr
    return zarr.open_group(path, mode="r")["data"][:]


def read_zspy(path):
    from rsciio.zspy import file_reader
    return file_reader(str(path))[0]["data"]


def read_npy(path):
    return np.load(path)


def read_tiff(path):
    import tifffile
    return tifffile.imread(path)


def read_mrc(path):
    import mrcfile
    with mrcfile.open(path, permissive=False) as m:
        return np.array(m.data)


def read_emd(path):
    import ncempy.io.emd
    from rsciio.emd import file_reader
    data = file_reader(str(path))[0]["data"]
    # ncempy presents the stored (transposed) NCEM layout.
    with ncempy.io.emd.fileEMD(str(path), readonly=True) as emd:
        stored, _ = emd.get_emdgroup(emd.list_emds[0])
    np.testing.assert_array_equal(plain(stored), plain(data).T if data.dtype.names is None
                                  else np.moveaxis(plain(data), -1, 0).T)
    return data


def read_dm(path):
    from rsciio.digitalmicrograph import file_reader
    return file_reader(str(path))[0]["data"]


# The reader of each format, and the dtypes the format cannot hold (emio must refuse
# these with a clear error rather than write something the reader gets wrong).
FORMATS = {
    "zarr": (read_zarr, set()),
    # HyperSpy keeps RGB as a structured dtype, which emio's Zarr v2 writer cannot store.
    "zspy": (read_zspy, {"rgb"}),
    "npy": (read_npy, set()),
    "tif": (read_tiff, set()),
    # MRC2014 modes: int8, int16, uint16, float16, float32, complex64 (no RGB mode that
    # mrcfile accepts).
    "mrc": (read_mrc, {"u4", "i4", "u8", "i8", "f8", "c16", "rgb"}),
    "emd": (read_emd, set()),
    # DM image data types have no 64-bit integers.
    "dm4": (read_dm, {"u8", "i8"}),
}


def expected_back(ext, data):
    """What the reader should return for `data` written as `ext`: the same values, in a
    wider type where the format has no such type (documented in the README)."""
    data = plain(data)
    if ext == "mrc" and data.dtype == np.uint8:
        return data.astype(np.uint16)  # MRC2014 mode 0 is signed: uint8 becomes mode 6
    if ext == "mrc" and data.dtype == np.bool_:
        return data.astype(np.int8)  # mode 0
    if ext == "dm4" and data.dtype == np.float16:
        return data.astype(np.float32)  # DM has no half floats
    return data


@pytest.mark.parametrize("code", DTYPES)
@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_every_dtype_in_every_format(tmp_path, emconvert, ext, code):
    read, refused = FORMATS[ext]
    data = sample(code)
    src = save_npy(tmp_path / f"in_{code}.npy", data)
    out = tmp_path / f"out_{code}.{ext}"
    if code in refused:
        proc = emconvert(src, out, check=False)
        assert proc.returncode != 0
        err = proc.stderr.strip()
        assert len(err.splitlines()) == 1, err
        assert "unsupported" in err or "cannot" in err, err
        assert not out.exists()
        return
    emconvert(src, out)
    got = plain(read(out))
    want = expected_back(ext, data)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)
