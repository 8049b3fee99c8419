"""TIFF written by emio is read back identically by tifffile and rsciio (pixels, shape,
calibration), and an emio TIFF read by emio keeps axes and metadata exactly."""
import json

import numpy as np
import pytest
import tifffile

from conftest import save_npy

DTYPES = ["u1", "<u2", "<i2", "<u4", ">i4", "<f4", "<f8", "<c8", "<c16", "<f2", "<i8", "<u8", "?"]


def info(emconvert, path, *options):
    args = ["info", "--json", "--checksum", path]
    for o in options:
        args += ["-o", o]
    return json.loads(emconvert(*args).stdout)["datasets"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_read_by_tifffile(tmp_path, emconvert, dtype):
    rng = np.random.default_rng(2)
    a = (rng.random((3, 5, 7)) * 100).astype(dtype)
    src = save_npy(tmp_path / "in.npy", a)
    emconvert(src, tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        b = tif.series[0].asarray()
    assert b.shape == a.shape
    np.testing.assert_array_equal(b, a.astype(a.dtype.newbyteorder("=")))


@pytest.mark.parametrize(
    "options",
    [
        ["compression=deflate"],
        ["compression=zstd"],
        ["tile=16"],
        ["compression=zstd", "tile=32"],
        ["bigtiff=true"],
        ["bigtiff=true", "compression=deflate", "tile=16"],
        ["rows_per_strip=3", "compression=deflate"],
    ],
)
def test_compression_tiles_bigtiff(tmp_path, emconvert, options):
    a = np.arange(4 * 45 * 37, dtype="<u2").reshape(4, 45, 37) % 1000
    src = save_npy(tmp_path / "in.npy", a)
    args = [src, tmp_path / "out.tif"]
    for o in options:
        args += ["-w", o]
    emconvert(*args)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.is_bigtiff == ("bigtiff=true" in options)
        assert tif.pages[0].is_tiled == any(o.startswith("tile=") for o in options)
        np.testing.assert_array_equal(tif.series[0].asarray(), a)
    # emio reads its own file back identically.
    ours = info(emconvert, tmp_path / "out.tif")[0]
    assert ours["shape"] == list(a.shape)
    import hashlib

    assert ours["sha256"] == hashlib.sha256(a.tobytes()).hexdigest()


def test_rgb_read_by_tifffile_and_rsciio(tmp_path, emconvert):
    from rsciio.tiff import file_reader

    rng = np.random.default_rng(3)
    rgb = np.zeros((2, 6, 9), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    for c in "RGB":
        rgb[c] = rng.integers(0, 255, (2, 6, 9))
    src = save_npy(tmp_path / "rgb.npy", rgb)
    emconvert(src, tmp_path / "rgb.tif")
    b = tifffile.imread(tmp_path / "rgb.tif")
    assert b.shape == (2, 6, 9, 3)
    for i, c in enumerate("RGB"):
        np.testing.assert_array_equal(b[..., i], rgb[c])
    s = file_reader(str(tmp_path / "rgb.tif"))[0]
    assert s["data"].dtype.names == ("R", "G", "B")
    np.testing.assert_array_equal(s["data"]["G"], rgb["G"])


CALIBRATED = [
    "test_loading_image_saved_with_imageJ_stack.tif",
    "test_loading_image_saved_with_DM.tif",
    "test_loading_image_saved_with_imageJ.tif",
    "FEI-Helios-Ebeam-16bits.tif",
    "test_tiff_Zeiss_SEM_512.tif",
]


@pytest.mark.parametrize("name", CALIBRATED)
def test_calibration_read_by_rsciio_and_tifffile(tmp_path, emconvert, corpus, name):
    from rsciio.tiff import file_reader

    original = file_reader(str(corpus / "tiff" / name))[0]
    out = tmp_path / "out.tif"
    emconvert(corpus / "tiff" / name, out)
    s = file_reader(str(out))[0]
    np.testing.assert_array_equal(s["data"], original["data"])
    for ours, theirs in zip(s["axes"], original["axes"]):
        assert ours["size"] == theirs["size"]
        assert ours["scale"] == pytest.approx(theirs["scale"], rel=1e-9)
        assert ours["offset"] == pytest.approx(theirs["offset"], rel=1e-9, abs=1e-12)
        if theirs["units"]:
            assert ours["units"] in (theirs["units"], "µm" if theirs["units"] == "um" else None)
    # tifffile sees the pixel size in the resolution tags.
    with tifffile.TiffFile(out) as tif:
        np.testing.assert_array_equal(tif.series[0].asarray(), original["data"])
        page = tif.pages[0]
        xres = page.tags["XResolution"].value
        assert xres[1] / xres[0] == pytest.approx(original["axes"][-1]["scale"], rel=1e-9)
        if tif.is_imagej and len(original["axes"]) == 3:
            assert tif.imagej_metadata["spacing"] == pytest.approx(original["axes"][0]["scale"])


@pytest.mark.parametrize(
    "name,options",
    [
        ("test_loading_image_saved_with_DM_stack.tif", []),
        ("olympus_SIS.tif", []),
        ("test_hamamatsu_streak_SCAN.tif", ["hamamatsu_streak_axis_type=data"]),
        ("test_rgba16.tif", []),
        ("FEI-Helios-navcam.tif", []),
    ],
)
def test_emio_round_trip_keeps_axes_and_metadata(tmp_path, emconvert, corpus, name, options):
    src = corpus / "tiff" / name
    first = info(emconvert, src, *options)
    index = len(first) - 1
    args = ["convert", src, tmp_path / "a.tif", "--dataset", index]
    for o in options:
        args += ["-o", o]
    emconvert(*args)
    emconvert(tmp_path / "a.tif", tmp_path / "b.tif", "-w", "compression=zstd")
    a = info(emconvert, tmp_path / "a.tif")[0]
    b = info(emconvert, tmp_path / "b.tif")[0]
    for d in (a, b):
        assert d["shape"] == first[index]["shape"]
        assert d["dtype"] == first[index]["dtype"]
        assert d["sha256"] == first[index]["sha256"]
        assert d["axes"] == first[index]["axes"]
        assert d["metadata"] == first[index]["metadata"]


def test_non_imagej_stack_uses_shaped_description(tmp_path, emconvert):
    a = np.arange(2 * 3 * 4 * 5, dtype="<i4").reshape(2, 3, 4, 5)
    src = save_npy(tmp_path / "in.npy", a)
    emconvert(src, tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert not tif.is_imagej
        assert tif.series[0].shape == a.shape
        np.testing.assert_array_equal(tif.series[0].asarray(), a)


def test_tifffile_written_files_read_by_emio(tmp_path, emconvert):
    """Files written by tifffile with every codec emio decodes, predictors, planar RGB,
    big-endian and BigTIFF layouts."""
    rng = np.random.default_rng(4)
    cases = []
    base = (rng.random((5, 33, 29)) * 1000).astype("<u2")
    cases.append(("lzw", base, dict(compression="lzw")))
    cases.append(("packbits", base, dict(compression="packbits")))
    cases.append(("deflate_pred", base, dict(compression="zlib", predictor=True)))
    cases.append(("zstd_tiles", base, dict(compression="zstd", tile=(16, 16))))
    cases.append(("be", base.astype(">u2"), dict(byteorder=">")))
    cases.append(("big", base, dict(bigtiff=True, compression="adobe_deflate")))
    f = rng.random((2, 17, 23)).astype("<f4")
    cases.append(("fpred", f, dict(compression="zlib", predictor=3)))
    f64 = rng.random((2, 17, 23)).astype("<f8")
    cases.append(("fpred64_be", f64.astype(">f8"), dict(compression="zlib", predictor=3, byteorder=">")))
    rgb = rng.integers(0, 255, (2, 3, 19, 21)).astype("u1")
    cases.append(("planar", rgb, dict(photometric="rgb", planarconfig="separate")))
    i8 = rng.integers(-100, 100, (6, 5, 7)).astype("i1")
    cases.append(("int8_pred", i8, dict(compression="lzw", predictor=True)))
    # tifffile stores a trailing/leading 4 as separate sample planes; both read [S, Y, X].
    planes = rng.integers(-100, 100, (4, 5, 6)).astype("i1")
    cases.append(
        ("sample_planes", planes, dict(compression="zlib", photometric="minisblack", planarconfig="separate"))
    )
    bits = rng.random((9, 13)) > 0.5
    cases.append(("bool", bits, dict()))
    for name, data, kw in cases:
        path = tmp_path / f"{name}.tif"
        tifffile.imwrite(path, data, **kw)
        expected = tifffile.imread(path)
        d = info(emconvert, path)[0]
        if name == "planar":
            # Stored as separate planes; emio gives interleaved RGB records.
            records = np.ascontiguousarray(np.moveaxis(expected, 1, -1))
            assert d["shape"] == list(records.shape[:-1]), name
            assert d["dtype"] == "|V3", name
        else:
            records = np.ascontiguousarray(expected)
            assert d["shape"] == list(expected.shape), name
        import hashlib

        le = records.astype(records.dtype.newbyteorder("<"))
        assert d["sha256"] == hashlib.sha256(le.tobytes()).hexdigest(), name


JEOL_XML = """<?xml version="1.0" encoding="utf-8"?>
<TemReporter>
  <Instruments>JEM-ARM200F</Instruments>
  <ElectronGun><AccelerationVoltage>200000</AccelerationVoltage><BeamCurrent>12.5</BeamCurrent></ElectronGun>
  <Eos><EosMode>eosTEM</EosMode></Eos>
  <IlluminationSystem><ImageField>modeBright</ImageField></IlluminationSystem>
  <ImageFormingSystem>
    <ImageFormingMode>modeMAG</ImageFormingMode>
    <SelectorString>x 50000</SelectorString>
    <ModeString>MAG</ModeString>
    <SelectorValue>50000</SelectorValue>
    <SelectorUnitString>x</SelectorUnitString>
  </ImageFormingSystem>
  <GonioStage><MZ>1500</MZ><StagePosition><TX>1.5</TX><TY>-2.0</TY></StagePosition></GonioStage>
</TemReporter>
"""


def _compare_with_rsciio(emconvert, path):
    from rsciio.tiff import file_reader

    theirs = file_reader(str(path))[0]
    ours = info(emconvert, path)[0]
    for a, b in zip(ours["axes"], theirs["axes"]):
        assert a["name"] == b["name"]
        assert a["scale"] == pytest.approx(b["scale"], rel=1e-6)
        assert a["units"] == (b["units"] or "")
    return ours, theirs


def test_jeol_sightx_calibration_matches_rsciio(tmp_path, emconvert):
    path = tmp_path / "jeol.tif"
    data = np.arange(20 * 30, dtype="u2").reshape(20, 30)
    tifffile.imwrite(
        path,
        data,
        description=JEOL_XML,
        resolution=(2540.0, 2540.0),
        resolutionunit="INCH",
        extratags=[(271, "s", 0, "JEOL Ltd.", True)],
        metadata=None,
    )
    ours, theirs = _compare_with_rsciio(emconvert, path)
    assert ours["metadata"]["General"]["title"] == "TEM, Bright, MAG, x 50000"
    assert ours["metadata"]["Acquisition_instrument"]["TEM"]["magnification"] == 50000


def test_tvips_calibration_matches_rsciio(tmp_path, emconvert):
    v1 = np.zeros(1, dtype=tifffile.TIFF.TVIPS_HEADER_V1)
    v1["Version"] = 2
    v2 = np.zeros(1, dtype=tifffile.TIFF.TVIPS_HEADER_V2)
    v2["PixelSizeX"] = 0.25
    v2["PixelSizeY"] = 0.25
    v2["TemHighTension"] = 300000.0
    v2["TemMagnification"] = 80000.0
    v2["ExposureTime"] = 500.0
    v2["TemStagePosition"] = [1e-3, 2e-3, 3e-4, 10.0, -5.0]
    v2["Magic"] = 0xAAAAAAAA
    v2["CameraType"] = np.frombuffer("XF416".encode("utf-16-le").ljust(160, b"\0"), dtype="V160")
    blob = v1.tobytes() + v2.tobytes()
    path = tmp_path / "tvips.tif"
    data = np.arange(16 * 24, dtype="u2").reshape(16, 24)
    tifffile.imwrite(path, data, extratags=[(37706, "B", len(blob), blob, True)], metadata=None)
    ours, theirs = _compare_with_rsciio(emconvert, path)
    tem = ours["metadata"]["Acquisition_instrument"]["TEM"]
    assert tem["beam_energy"] == pytest.approx(300.0)
    assert tem["magnification"] == pytest.approx(80000.0)
    assert tem["Detector"]["Camera"]["name"] == "XF416"


def test_rgba16_stack_shaped_for_tifffile(tmp_path, emconvert, corpus):
    # RGBA16 does not fit ImageJ: written as a shaped series tifffile reshapes.
    src = corpus / "tiff" / "test_rgba16.tif"
    emconvert(src, tmp_path / "out.tif")
    expected = tifffile.imread(src)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert not tif.is_imagej
        assert tif.series[0].shape == expected.shape
        np.testing.assert_array_equal(tif.series[0].asarray(), expected)


def test_imagej_hyperstack_written_by_tifffile(tmp_path, emconvert):
    import hashlib

    a = np.arange(2 * 3 * 4 * 5 * 6, dtype="u2").reshape(2, 3, 4, 5, 6)
    path = tmp_path / "ij.tif"
    tifffile.imwrite(
        path,
        a,
        imagej=True,
        metadata={"axes": "TZCYX", "spacing": 0.5, "unit": "um", "finterval": 2.0},
        resolution=(4.0, 4.0),
    )
    d = info(emconvert, path)[0]
    assert d["shape"] == list(a.shape)
    assert d["sha256"] == hashlib.sha256(a.tobytes()).hexdigest()
    names = [x["name"] for x in d["axes"]]
    assert names == ["time", "depth", "color|em-wavelength|channel", "height", "width"]
    assert [x["scale"] for x in d["axes"]] == [2.0, 0.5, 1.0, 0.25, 0.25]
    assert [x["units"] for x in d["axes"]] == ["s", "", "", "µm", "µm"]
    # emio writes the same hyperstack back for ImageJ/tifffile.
    emconvert(path, tmp_path / "back.tif")
    with tifffile.TiffFile(tmp_path / "back.tif") as tif:
        assert tif.is_imagej
        assert tif.series[0].axes == "TZCYX"
        np.testing.assert_array_equal(tif.series[0].asarray(), a)
        assert tif.imagej_metadata["spacing"] == 0.5
        assert tif.imagej_metadata["finterval"] == 2.0
