"""NPY written by emio equals numpy's own reading of the source array."""
import numpy as np
import pytest

from conftest import save_npy


@pytest.mark.parametrize("dtype", ["u1", "<u2", ">i4", "<f4", ">f8", "<c8", "?", "<f2"])
def test_npy_round_trip_through_emconvert(tmp_path, emconvert, dtype):
    rng = np.random.default_rng(1)
    a = (rng.random((3, 4, 5)) * 100).astype(dtype)
    src = save_npy(tmp_path / "in.npy", np.asfortranarray(a))
    emconvert(src, tmp_path / "out.npy")
    b = np.load(tmp_path / "out.npy")
    assert b.shape == a.shape
    np.testing.assert_array_equal(b, a)


def test_checksum_matches_numpy(tmp_path, emconvert):
    import hashlib
    import json

    a = np.arange(60, dtype=">u2").reshape(3, 4, 5)
    src = save_npy(tmp_path / "x.npy", a)
    info = json.loads(emconvert("info", "--json", "--checksum", src).stdout)
    expected = hashlib.sha256(np.ascontiguousarray(a.astype("<u2")).tobytes()).hexdigest()
    assert info["datasets"][0]["sha256"] == expected
    assert info["datasets"][0]["dtype"] == "<u2"
