"""EMPAD: .xml + .raw pairs written by emio are read back by rsciio's empad reader with
identical values and calibrations, and follow the layout LiberTEM's EMPAD reader parses."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from conftest import save_npy

empad = pytest.importorskip("rsciio.empad")


def rsciio_read(path, **kwargs):
    return empad.file_reader(str(path), **kwargs)[0]


def libertem_params(path):
    """What LiberTEM's `get_params_from_xml` extracts (raw path, navigation shape)."""
    root = ET.parse(path).getroot()
    raw = path.parent / root.find("raw_file").attrib["filename"]
    typ = root.find("type")
    if typ is None or typ.text == "scan":
        params = [e for e in root.findall("scan_parameters") if e.attrib["mode"] == "acquire"][0]
        nav = (int(params.find("scan_resolution_y").text), int(params.find("scan_resolution_x").text))
    else:
        assert typ.text == "series"
        nav = (int(root.find("count").text),)
    return raw, nav


@pytest.mark.parametrize("shape", [(3, 2, 128, 128), (4, 128, 128), (128, 128)])
def test_rsciio_and_libertem_read_emio_empad(tmp_path, emconvert, shape):
    rng = np.random.default_rng(3)
    a = rng.normal(size=shape).astype("<f4")
    a.flat[5] = np.nan
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.xml"
    emconvert(src, out)
    s = rsciio_read(out)
    np.testing.assert_array_equal(s["data"], a)
    raw, nav = libertem_params(out)
    frames = int(np.prod(nav))
    assert raw.stat().st_size == frames * 130 * 128 * 4
    stored = np.fromfile(raw, dtype="<f4").reshape(frames, 130, 128)[:, :128]
    np.testing.assert_array_equal(stored.reshape(a.shape), a)
    if len(shape) == 3:
        assert [ax["name"] for ax in s["axes"]][0] == "series_count"


@pytest.mark.parametrize("kwargs", [{}, {"q_calibration": 0.3315}])
def test_calibrations_survive_a_round_trip(tmp_path, emconvert, corpus, kwargs):
    original = corpus / "empad" / "map4x4.xml"
    out = tmp_path / "copy.xml"
    options = [x for k, v in kwargs.items() for x in ("-o", f"{k}={v}")]
    emconvert(original, out, *options)
    expected = rsciio_read(original, **kwargs)
    s = rsciio_read(out)
    np.testing.assert_array_equal(s["data"], expected["data"])
    for ours, theirs in zip(s["axes"], expected["axes"]):
        assert ours["name"] == theirs["name"]
        assert ours["units"] == theirs["units"]
        assert ours["size"] == theirs["size"]
        assert ours["scale"] == pytest.approx(theirs["scale"], rel=1e-9)
        assert ours["offset"] == pytest.approx(theirs["offset"], rel=1e-9)
    assert s["metadata"]["General"]["date"] == expected["metadata"]["General"]["date"]
    assert s["metadata"]["General"]["time"] == expected["metadata"]["General"]["time"]


@pytest.mark.parametrize("dtype", ["<u2", "<i4", "<u8", "<f8"])
def test_other_types_are_stored_as_exact_float32(tmp_path, emconvert, dtype):
    """EMPAD's .raw is float32 (rsciio and LiberTEM read it as such): emio converts other
    real types when every value is exact, and refuses the file, writing nothing, when one
    is not."""
    rng = np.random.default_rng(5)
    a = rng.integers(0, 1 << 20, size=(2, 128, 128)).astype(dtype)
    if dtype == "<f8":
        a = a / 4  # quarters: exact in float32
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.xml"
    emconvert(src, out)
    s = rsciio_read(out)
    assert s["data"].dtype == np.float32
    np.testing.assert_array_equal(s["data"], a.astype("<f4"))
    np.testing.assert_array_equal(s["data"].astype(a.dtype), a)

    lossy = a.astype("<f8") + 0.1
    src = save_npy(tmp_path / "lossy.npy", lossy)
    bad = tmp_path / "lossy.xml"
    proc = emconvert(src, bad, check=False)
    assert proc.returncode != 0 and "float32" in proc.stderr
    assert not bad.exists() and not bad.with_suffix(".raw").exists()
