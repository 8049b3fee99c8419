"""Ripple: .rpl + .raw pairs written by emio are read back by rsciio's ripple reader with
identical values, calibrations and metadata, for every dtype, layout and byte order."""
import numpy as np
import pytest

from conftest import save_npy

ripple = pytest.importorskip("rsciio.ripple")


def rsciio_read(path, **kwargs):
    return ripple.file_reader(str(path), **kwargs)[0]


@pytest.mark.parametrize("dtype", ["i1", "u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (6, 7), (9,)])
@pytest.mark.parametrize("order", ["little-endian", "big-endian"])
def test_rsciio_reads_emio_ripple(tmp_path, emconvert, dtype, shape, order):
    rng = np.random.default_rng(11)
    a = (rng.normal(size=shape) * 100).astype(dtype)
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.rpl"
    emconvert(src, out, "-w", f"byte_order={order}")
    s = rsciio_read(out)
    np.testing.assert_array_equal(s["data"], a)
    assert s["data"].dtype.newbyteorder("=") == a.dtype.newbyteorder("=")


@pytest.mark.parametrize("name", [
    "test_ripple_sdim-1_ndim-2_int32_meta.rpl",   # spectrum image (vector)
    "test_ripple_sdim-2_ndim-1_float32_meta.rpl",  # image stack (image)
    "test_ripple_sdim-2_ndim-0_uint16_meta.rpl",   # one image (dont-care)
    "test_ripple_sdim-1_ndim-1_uint16_meta.rpl",   # line of spectra
])
def test_calibrations_and_metadata_survive_a_round_trip(tmp_path, emconvert, corpus, name):
    original = corpus / "ripple" / name
    out = tmp_path / name
    emconvert(original, out)
    expected = rsciio_read(original)
    s = rsciio_read(out)
    np.testing.assert_array_equal(s["data"], expected["data"])
    for ours, theirs in zip(s["axes"], expected["axes"], strict=True):
        for key in ("name", "units", "size", "navigate"):
            assert ours[key] == theirs[key], key
        assert ours["scale"] == pytest.approx(theirs["scale"])
        assert ours["offset"] == pytest.approx(theirs["offset"])
    assert s["metadata"]["General"] == expected["metadata"]["General"] | {"original_filename": name}
    assert s["metadata"]["Signal"] == expected["metadata"]["Signal"]
    theirs = expected["metadata"].get("Acquisition_instrument", {})
    ours = s["metadata"].get("Acquisition_instrument", {})
    # rsciio writes EDS and EELS instrument keys only; EDS keys must survive.
    for key, value in theirs.get("TEM", {}).get("Detector", {}).get("EDS", {}).items():
        assert ours["TEM"]["Detector"]["EDS"][key] == pytest.approx(value)
