"""MRC interop: files written by emio pass `mrcfile.validate` and read back identically
with mrcfile and rsciio (data, dtype, voxel size); emio's reading of corpus files matches
mrcfile's data.
"""
import io

import mrcfile
import numpy as np
import pytest
from rsciio.mrc import file_reader

from conftest import save_npy

MODES = {
    "int8": (np.int8, 0),
    "int16": (np.int16, 1),
    "float32": (np.float32, 2),
    "complex64": (np.complex64, 4),
    "uint16": (np.uint16, 6),
    "float16": (np.float16, 12),
}


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.complexfloating):
        return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    # mrcfile.validate computes the RMS in the data's own precision: keep float16 small
    # enough that its sum of squares does not overflow.
    scale = 1 if dtype is np.float16 else 100
    return (rng.normal(size=shape) * scale).astype(dtype)


def validate(path):
    out = io.StringIO()
    ok = mrcfile.validate(str(path), print_file=out)
    assert ok, out.getvalue()


@pytest.mark.parametrize("name", sorted(MODES))
@pytest.mark.parametrize("shape", [(7, 5), (3, 6, 4), (2, 3, 4, 5)])
def test_written_files_validate_and_read_back(tmp_path, emconvert, name, shape):
    dtype, mode = MODES[name]
    data = sample(dtype, shape)
    src = save_npy(tmp_path / "in.npy", data)
    out = tmp_path / "out.mrc"
    emconvert("convert", src, out)
    validate(out)
    with mrcfile.open(out) as m:
        assert int(m.header.mode) == mode
        assert m.data.dtype == np.dtype(dtype)
        assert m.data.shape == data.shape
        np.testing.assert_array_equal(m.data, data)
        assert m.header.nversion == 20141
    # rsciio reads mode 0 as uint8 (pre-2014 convention): compare the same bytes.
    sig = file_reader(str(out))[0]
    np.testing.assert_array_equal(np.asarray(sig["data"]).view(dtype).reshape(data.shape), data)


def test_uint8_is_widened_to_mode_6(tmp_path, emconvert):
    data = np.arange(60, dtype=np.uint8).reshape(6, 10)
    out = tmp_path / "u8.mrc"
    emconvert("convert", save_npy(tmp_path / "u8.npy", data), out)
    validate(out)
    with mrcfile.open(out) as m:
        assert int(m.header.mode) == 6
        np.testing.assert_array_equal(m.data, data)


def test_big_endian_output(tmp_path, emconvert):
    data = sample(np.float32, (4, 5, 6), seed=3)
    out = tmp_path / "be.mrc"
    emconvert("convert", save_npy(tmp_path / "be.npy", data), out, "-w", "endianness=>")
    validate(out)
    with mrcfile.open(out) as m:
        assert m.data.dtype.byteorder == ">"
        np.testing.assert_array_equal(m.data, data)


@pytest.mark.parametrize("name", ["EMD-3197.map", "HAADFscan.mrc", "ncempy_temp.mrc"])
def test_corpus_round_trip_keeps_voxel_size(tmp_path, emconvert, corpus, name):
    src = corpus / "mrc" / name
    out = tmp_path / "copy.mrc"
    emconvert("convert", src, out)
    validate(out)
    with mrcfile.open(src, permissive=True) as a, mrcfile.open(out) as b:
        np.testing.assert_array_equal(np.squeeze(a.data), np.squeeze(b.data))
        for axis in "xy":
            assert b.voxel_size[axis] == pytest.approx(a.voxel_size[axis], rel=1e-6)
        if a.data.ndim == 3 and a.voxel_size["z"] > 0:
            assert b.voxel_size["z"] == pytest.approx(a.voxel_size["z"], rel=1e-6)
    ours = file_reader(str(out))[0]
    theirs = file_reader(str(src))[0]
    np.testing.assert_array_equal(ours["data"], theirs["data"])
    for ax_ours, ax_theirs in zip(ours["axes"], theirs["axes"]):
        assert ax_ours["size"] == ax_theirs["size"]
        assert ax_ours["scale"] == pytest.approx(ax_theirs["scale"], rel=1e-6)


def test_fei2_extended_header_survives(tmp_path, emconvert, corpus):
    src = corpus / "mrc" / "HAADFscan.mrc"
    out = tmp_path / "fei.mrc"
    emconvert("convert", src, out)
    with mrcfile.open(src, permissive=True) as a, mrcfile.open(out) as b:
        assert b.header.exttyp == b"FEI2"
        ea, eb = a.indexed_extended_header, b.indexed_extended_header
        assert len(eb) == b.header.nz
        for field in ["HT", "Pixel size X", "Alpha tilt", "Camera name", "Dwell time"]:
            assert eb[0][field] == ea[0][field]


@pytest.mark.parametrize("name", ["EMD-3197.map", "HAADFscan.mrc", "ncempy_temp.mrc", "ROI_Random_Scan_Sum.mrc"])
def test_reading_matches_mrcfile(tmp_path, emconvert, corpus, name):
    src = corpus / "mrc" / name
    out = tmp_path / "out.npy"
    emconvert("convert", src, out)
    with mrcfile.open(src, permissive=True) as m:
        np.testing.assert_array_equal(np.load(out), np.squeeze(m.data))


def test_compressed_corpus_copy_reads(tmp_path, emconvert, corpus):
    import bz2
    import gzip

    raw = (corpus / "mrc" / "ncempy_temp.mrc").read_bytes()
    (tmp_path / "t.mrc.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "t.mrc.bz2").write_bytes(bz2.compress(raw))
    with mrcfile.open(corpus / "mrc" / "ncempy_temp.mrc", permissive=True) as m:
        expected = m.data.copy()
    for name in ["t.mrc.gz", "t.mrc.bz2"]:
        out = tmp_path / (name + ".npy")
        emconvert("convert", tmp_path / name, out)
        np.testing.assert_array_equal(np.load(out), expected)
