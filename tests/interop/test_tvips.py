"""TVIPS: recordings written by emio (single and split files, extra frame-header bytes) are
read back by rsciio's tvips reader with identical frames, calibrations and metadata, also
as 4D-STEM scans; corpus recordings converted by emio read back like the originals."""
import numpy as np
import pytest

from conftest import save_npy

tvips = pytest.importorskip("rsciio.tvips")


def rsciio_read(path, **kwargs):
    return tvips.file_reader(str(path), **kwargs)[0]


@pytest.mark.parametrize("dtype", ["u1", "<u2", "<u4"])
@pytest.mark.parametrize("max_file_size", [None, 600])
@pytest.mark.parametrize("extra", [0, 13])
def test_rsciio_reads_emio_tvips(tmp_path, emconvert, dtype, max_file_size, extra):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 200, size=(6, 8, 9)).astype(dtype)
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "rec_000.tvips"
    options = ["-w", f"frame_header_extra_bytes={extra}"]
    if max_file_size:
        options += ["-w", f"max_file_size={max_file_size}"]
    emconvert(src, out, *options)
    parts = sorted(tmp_path.glob("rec_*.tvips"))
    assert (len(parts) > 1) == bool(max_file_size)
    s = rsciio_read(out)
    np.testing.assert_array_equal(s["data"], a)
    r = rsciio_read(out, scan_shape=(2, 3))
    np.testing.assert_array_equal(r["data"], a.reshape(2, 3, 8, 9))


@pytest.mark.parametrize("name,kwargs", [
    ("test_tvips_2233_000.tvips", {}),
    ("test_tvips_2345_split_000.tvips", {}),
    ("test_tvips_2233_000.tvips", {"scan_shape": "auto"}),
])
def test_corpus_round_trip(tmp_path, emconvert, corpus, name, kwargs):
    original = corpus / "tvips" / name
    out = tmp_path / "copy_000.tvips"
    options = [x for k, v in kwargs.items() for x in ("-o", f"{k}={v}")]
    emconvert(original, out, *options)
    expected = rsciio_read(original, **kwargs)
    s = rsciio_read(out, **kwargs)
    np.testing.assert_array_equal(s["data"], expected["data"])
    for ours, theirs in zip(s["axes"], expected["axes"], strict=True):
        for key in ("name", "units", "size", "navigate"):
            assert ours[key] == theirs[key], key
        if ours["name"] != "time":
            assert ours["scale"] == pytest.approx(theirs["scale"])
            assert ours["offset"] == pytest.approx(theirs["offset"])
    assert s["metadata"]["General"]["date"] == expected["metadata"]["General"]["date"]
    assert s["metadata"]["General"]["time"] == expected["metadata"]["General"]["time"]
    tem, theirs = s["metadata"]["Acquisition_instrument"]["TEM"], expected["metadata"]["Acquisition_instrument"]["TEM"]
    for key in ("beam_energy", "beam_current", "defocus", "magnification"):
        assert tem[key] == pytest.approx(theirs[key]), key
    assert tem["Stage"] == pytest.approx(theirs["Stage"])
