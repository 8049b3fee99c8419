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
