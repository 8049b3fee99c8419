"""MIB: files written by emio read back identically by rsciio's quantumdetector reader, and
emio's readings of the corpus equal rsciio's (RAW files, which rsciio cannot read, are
checked against the processed file of the same settings)."""
import numpy as np
import pytest

from conftest import save_npy

import rsciio.quantumdetector as rsciio_qd  # noqa: E402 (required: tests/interop/requirements.txt)


def rsciio_read(path, **kwargs):
    return rsciio_qd.file_reader(str(path), **kwargs)[0]


def emio_read(emconvert, tmp_path, path, *options):
    out = tmp_path / f"read-{path.stem}-{len(options)}.npy"
    args = [path, out]
    for o in options:
        args += ["-o", o]
    emconvert(*args, "--force")
    return np.load(out)


@pytest.mark.parametrize("dtype", ["u1", "<u2", ">u4"])
@pytest.mark.parametrize("shape", [(3, 5, 16, 24), (7, 12, 12), (32, 40), (2, 2, 300, 260)])
def test_rsciio_reads_emio_mib(tmp_path, emconvert, dtype, shape):
    rng = np.random.default_rng(3)
    top = {"u1": 255, "<u2": 4095, ">u4": 2**24 - 1}[dtype]
    a = rng.integers(0, top + 1, size=shape).astype(dtype)
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.mib"
    emconvert(src, out, "-w", "exposure=2.5")
    s = rsciio_read(out)
    assert s["data"].shape == a.shape
    np.testing.assert_array_equal(s["data"], a)
    assert s["metadata"]["Acquisition_instrument"]["dwell_time"] == pytest.approx(2.5e-3)
    header_size = 384 if shape[-1] <= 256 and shape[-2] <= 256 else 768
    assert s["original_metadata"]["mib_properties"]["head_size"] == header_size
    # and emio reads its own file back identically
    np.testing.assert_array_equal(emio_read(emconvert, tmp_path, out), a)


def test_emio_mib_headers_parse_like_merlin(tmp_path, emconvert):
    a = np.arange(2 * 3 * 8 * 8, dtype="u1").reshape(2, 3, 8, 8)
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.mib"
    emconvert(src, out)
    _, headers = rsciio_qd.load_mib_data(str(out), return_headers=True)
    assert len(headers) == 6
    stamps = rsciio_qd.parse_timestamps(headers)
    exposures = rsciio_qd.parse_exposures(headers)
    assert len(set(stamps)) == 6 and exposures == [1.0] * 6
    for i, h in enumerate(headers):
        fields = h.decode().split(",")
        assert fields[0] == "MQ1" and int(fields[1]) == i + 1 and fields[6] == "U08"


@pytest.mark.parametrize(
    "name",
    [
        "001_4x2_6bit.mib",
        "002_4x2_6bit_roi128.mib",
        "Quad_1_Frame_CounterDepth_12_Rows_256.mib",
        "Quad_1_Frame_CounterDepth_24_Rows_256.mib",
        "Single_9_Frame_CounterDepth_6_Rows_256.mib",
    ],
)
def test_emio_reads_corpus_like_rsciio(tmp_path, emconvert, corpus, name):
    path = corpus / "mib" / name
    np.testing.assert_array_equal(emio_read(emconvert, tmp_path, path), rsciio_read(path)["data"])


@pytest.mark.parametrize(
    "kwargs,options",
    [
        ({"first_frame": 2, "last_frame": -1}, ["first_frame=2", "last_frame=-1"]),
        ({"navigation_shape": (2, 4)}, ["navigation_shape=2,4"]),
    ],
)
def test_read_options_match_rsciio(tmp_path, emconvert, corpus, kwargs, options):
    path = corpus / "mib" / "001_4x2_6bit.mib"
    ours = emio_read(emconvert, tmp_path, path, *options)
    theirs = rsciio_read(path, **kwargs)["data"]
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_a_navigation_shape_that_does_not_fit_is_refused_where_rsciio_cuts_it(
    tmp_path, emconvert, corpus
):
    """A (3, 4) scan cannot hold the file's 8 frames: rsciio silently keeps the two
    complete rows of 3 (6 frames, 2 dropped); emio refuses with every format's misfit
    wording (issue 14, item 9), so no frame is lost without the user asking."""
    path = corpus / "mib" / "001_4x2_6bit.mib"
    assert rsciio_read(path, navigation_shape=(3, 4))["data"].shape[:2] == (2, 3)
    out = tmp_path / "misfit.npy"
    proc = emconvert(path, out, "-o", "navigation_shape=3,4", check=False)
    assert proc.returncode == 1
    assert "does not fit the file" in proc.stderr and "8 frames" in proc.stderr
    assert not out.exists()


def test_raw_corpus_file_matches_the_processed_acquisition(tmp_path, emconvert, corpus):
    raw = emio_read(emconvert, tmp_path, corpus / "mib" / "Single_1_Frame_CounterDepth_1_Rows_256RAW.mib")
    with pytest.raises(NotImplementedError):
        rsciio_read(corpus / "mib" / "Single_1_Frame_CounterDepth_1_Rows_256RAW.mib")
    processed = rsciio_read(corpus / "mib" / "Single_1_Frame_CounterDepth_1_Rows_256.mib")["data"]
    assert raw.shape == processed.shape and raw.dtype == np.uint8
    assert (raw == processed).mean() > 0.999


def test_quad_gap_option(tmp_path, emconvert, corpus):
    path = corpus / "mib" / "Quad_1_Frame_CounterDepth_12_Rows_256.mib"
    plain = rsciio_read(path)["data"]
    gapped = emio_read(emconvert, tmp_path, path, "quad_gap=3")
    assert gapped.shape == (515, 515)
    np.testing.assert_array_equal(np.delete(np.delete(gapped, [256, 257, 258], 0), [256, 257, 258], 1), plain)
    assert not gapped[256:259].any() and not gapped[:, 256:259].any()


def test_refuses_float_data(tmp_path, emconvert):
    src = save_npy(tmp_path / "f.npy", np.zeros((2, 4, 4), "f4"))
    proc = emconvert(src, tmp_path / "f.mib", check=False)
    assert proc.returncode != 0 and "u8, u16 or u32" in proc.stderr
