"""The emconvert verbs from Python: check, ls, stats and preview give what the command
line gives (as Python objects), on files the tests make."""

import os

import numpy as np
import pytest

import emio


def npy(tmp_path, array, name="a.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


def test_check_says_valid_problems_or_unreadable(tmp_path):
    good = npy(tmp_path, np.arange(12, dtype=np.float32).reshape(3, 4))
    report = emio.check(good)
    assert report["verdict"] == "valid" and report["format"] == "npy" and report["datasets"] == 1
    assert report["problems"] == []
    # An MRC file of an older version: readable, but not MRC2014.
    mrc = tmp_path / "old.mrc"
    emio.file_writer(mrc, {"data": np.ones((2, 3, 4), dtype=np.float32)})
    raw = bytearray(mrc.read_bytes())
    raw[108:112] = (0).to_bytes(4, "little")
    mrc.write_bytes(bytes(raw))
    report = emio.check(mrc, quick=True)
    assert report["verdict"] == "problems"
    (problem,) = report["problems"]
    assert problem["field"] == "nversion" and problem["value"] == "0" and "20140" in problem["why"]
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"\x93NUMPY nonsense")
    report = emio.check(garbage)
    assert report["verdict"] == "unreadable" and report["error"]


def test_check_reads_every_pixel_unless_quick(tmp_path):
    path = npy(tmp_path, np.arange(4096, dtype=np.uint16).reshape(64, 64))
    seen = []
    emio.check(path, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (8192, 8192)


def test_ls_lists_every_dataset_and_unreadable_files(tmp_path):
    npy(tmp_path, np.zeros((5, 6), dtype=np.uint8), "image.npy")
    emio.file_writer(tmp_path / "stack.mrc", {"data": np.zeros((2, 3, 4), dtype=np.int16)})
    (tmp_path / "broken.mrc").write_bytes(b"\0" * 100)
    rows = {os.path.basename(r["file"]): r for r in emio.ls(tmp_path)}
    assert rows["image.npy"]["shape"] == [5, 6] and rows["image.npy"]["dtype"] == "uint8"
    assert rows["stack.mrc"]["format"] == "mrc" and rows["stack.mrc"]["shape"] == [2, 3, 4]
    assert "error" in rows["broken.mrc"]


def test_stats_agree_with_numpy(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.normal(10, 2, size=(6, 50, 40)).astype(np.float32)
    a[0, 0, 0] = np.nan
    a[1, 1, 1] = np.inf
    s = emio.stats(npy(tmp_path, a), bins=32)
    finite = a[np.isfinite(a)].astype(np.float64)
    assert s["count"] == finite.size and s["nan"] == 1 and s["pos_inf"] == 1 and s["neg_inf"] == 0
    assert s["min"] == pytest.approx(finite.min()) and s["max"] == pytest.approx(finite.max())
    assert s["mean"] == pytest.approx(finite.mean(), rel=1e-9)
    assert s["std"] == pytest.approx(finite.std(), rel=1e-6)
    assert sum(s["histogram"]["counts"]) == finite.size
    assert s["histogram"]["percentiles"]["50"] == pytest.approx(np.median(finite), abs=0.5)
    assert "histogram" not in emio.stats(npy(tmp_path, a, "b.npy"), bins=0)


def test_stats_count_a_histogram_by_default_only_in_the_one_pass(tmp_path):
    # 16-bit data: 16 bins by default; float data: none unless asked (a second pass).
    counted = emio.stats(npy(tmp_path, np.arange(600, dtype=np.uint16).reshape(20, 30)))
    assert len(counted["histogram"]["counts"]) == 16
    floats = npy(tmp_path, np.arange(60, dtype=np.float32).reshape(6, 10), "f.npy")
    assert "histogram" not in emio.stats(floats)
    assert emio.stats(floats, bins=6)["histogram"]["counts"] == [10] * 6


def test_stats_and_convert_take_the_main_dataset_of_a_blockfile(tmp_path):
    a = (np.arange(2 * 3 * 8 * 8) % 251).astype(np.uint8).reshape(2, 3, 8, 8)
    blo = tmp_path / "scan.blo"
    emio.file_writer(blo, {"data": a})
    assert emio.stats(blo)["count"] == a.size
    emio.convert(blo, tmp_path / "scan.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "scan.npy"), a)
    # The virtual bright-field image on request.
    assert emio.stats(blo, dataset=1)["count"] == 2 * 3


def test_preview_returns_a_png_and_never_replaces_a_file(tmp_path):
    path = npy(tmp_path, np.arange(64 * 64, dtype=np.float32).reshape(64, 64))
    png = emio.preview(path, size=128)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "p.png"
    assert emio.preview(path, out=out, size=128) == out.read_bytes()
    with pytest.raises(emio.OutputExistsError):
        emio.preview(path, out=out, size=128)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "p.png"]
    with pytest.raises(emio.InvalidOptionError):
        emio.preview(path, dataset=3)


def test_sum_over_gives_the_sums_numpy_gives(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 1000, size=(4, 5, 16, 12), dtype=np.uint16)
    axes = [
        {"name": n, "size": s, "navigate": nav, "index_in_array": i}
        for i, (n, s, nav) in enumerate(zip("yxvu", a.shape, [True, True, False, False]))
    ]
    path = tmp_path / "scan.hspy"
    emio.file_writer(path, {"data": a, "axes": axes})
    pattern = emio.sum_over(path, "navigation")
    assert pattern.dtype == np.float64 and pattern.shape == (16, 12)
    np.testing.assert_array_equal(pattern, a.sum(axis=(0, 1), dtype=np.float64))
    np.testing.assert_array_equal(emio.sum_over(path, "signal"), a.sum(axis=(2, 3), dtype=np.float64))
    # A detector mask over the signal gives a virtual detector image, 2D or flat.
    mask = np.zeros((16, 12), bool)
    mask[4:10, 3:8] = True
    want = (a * mask).sum(axis=(2, 3), dtype=np.float64)
    np.testing.assert_array_equal(emio.sum_over(path, "signal", weights=mask), want)
    np.testing.assert_array_equal(emio.sum_over(path, "signal", weights=mask.ravel()), want)
    seen = []
    emio.sum_over(path, "navigation", progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (a.nbytes, a.nbytes)
    # Axes by name or index, as NumPy's axis, weights over the summed axes.
    np.testing.assert_array_equal(emio.sum_over(path, "x"), a.sum(axis=1, dtype=np.float64))
    np.testing.assert_array_equal(emio.sum_over(path, (0, -1)), a.sum(axis=(0, 3), dtype=np.float64))
    np.testing.assert_array_equal(emio.sum_over(path, np.int64(2)), a.sum(axis=2, dtype=np.float64))
    np.testing.assert_array_equal(emio.sum_over(path, np.array([0, 3])), a.sum(axis=(0, 3), dtype=np.float64))
    w = rng.random((4, 16))
    want = np.einsum("yxvu,yv->xu", a.astype(np.float64), w)
    np.testing.assert_allclose(emio.sum_over(path, ("v", "y"), weights=w), want, rtol=1e-12)
    for wrong in ["sideways", (1, "x"), 4, ()]:
        with pytest.raises(ValueError):
            emio.sum_over(path, wrong)
    with pytest.raises(ValueError):
        emio.sum_over(path, "signal", weights=np.ones(5))
