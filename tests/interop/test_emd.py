"""NCEM EMD written by emio is read back identically by rsciio, ncempy and h5py; corpus
EMD files converted by emio keep their data and calibrations."""
import json
import os
import subprocess

import h5py
import numpy as np
import pytest

from conftest import ROOT, save_npy


def _convert(emconvert, tmp_path, array, *write_opts):
    src = save_npy(tmp_path / "in.npy", array)
    out = tmp_path / "out.emd"
    args = [src, out]
    for o in write_opts:
        args += ["-w", o]
    emconvert(*args)
    return out


@pytest.mark.parametrize("dtype", ["u1", "<u2", "<i4", "<f4", "<f8", "<c8"])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_rsciio_and_ncempy_read_emio_ncem(tmp_path, emconvert, dtype, compression):
    from rsciio.emd import file_reader
    import ncempy.io.emd

    rng = np.random.default_rng(3)
    a = (rng.random((3, 4, 5)) * 100).astype(dtype)
    opts = [f"compression={compression}"] if compression else []
    out = _convert(emconvert, tmp_path, a, *opts)

    sig = file_reader(str(out))
    assert len(sig) == 1
    np.testing.assert_array_equal(sig[0]["data"], a)
    assert sig[0]["data"].dtype == a.dtype
    for axis in sig[0]["axes"]:
        assert axis["scale"] == pytest.approx(1.0)
        assert axis["offset"] == pytest.approx(0.0)

    # ncempy presents the stored (transposed) NCEM layout.
    with ncempy.io.emd.fileEMD(str(out), readonly=True) as emd:
        data, dims = emd.get_emdgroup(emd.list_emds[0])
    np.testing.assert_array_equal(data, a.T)
    assert len(dims) == 3

    with h5py.File(out, "r") as f:
        assert int(f.attrs["version_major"]) == 0 and int(f.attrs["version_minor"]) == 2
        for g in ["microscope", "sample", "user", "comments", "signals"]:
            assert g in f
        (name,) = list(f["signals"].keys())
        grp = f["signals"][name]
        assert int(grp.attrs["emd_group_type"]) == 1
        assert grp["data"].shape == a.T.shape
        assert grp["data"].chunks is not None
        if compression:
            assert grp["data"].compression == "gzip" and grp["data"].shuffle
        for k in (1, 2, 3):
            assert f"dim{k}" in grp
            assert "name" in grp[f"dim{k}"].attrs and "units" in grp[f"dim{k}"].attrs


def test_calibrated_axes_survive(tmp_path, emconvert, corpus):
    """A calibrated corpus file converted to NCEM EMD keeps data, scales, offsets, units."""
    from rsciio.emd import file_reader

    src = corpus / "emd" / "Si100_3D.emd"
    out = tmp_path / "si.emd"
    emconvert(src, out)
    ref = file_reader(str(src))[0]
    got = file_reader(str(out))[0]
    np.testing.assert_array_equal(got["data"], ref["data"])
    for ra, ga in zip(ref["axes"], got["axes"]):
        assert ga["name"] == ra["name"]
        assert ga["units"] == ra["units"]
        assert ga["scale"] == pytest.approx(ra["scale"], rel=1e-5)
        assert ga["offset"] == pytest.approx(ra["offset"], rel=1e-5, abs=1e-9)


def test_velox_image_to_ncem(tmp_path, emconvert, corpus):
    from rsciio.emd import file_reader

    src = corpus / "emd" / "fei_example_tem_stack.emd"
    out = tmp_path / "stack.emd"
    emconvert(src, out)
    ref = file_reader(str(src))[0]
    got = file_reader(str(out))[0]
    np.testing.assert_array_equal(got["data"], ref["data"])
    for ra, ga in zip(ref["axes"], got["axes"]):
        assert ga["units"] == ra["units"]
        assert ga["scale"] == pytest.approx(ra["scale"], rel=1e-9)
        assert ga["offset"] == pytest.approx(ra["offset"], rel=1e-9)
    with h5py.File(out, "r") as f:
        md = json.loads(f["comments"].attrs["emio_metadata"])
        assert md["General"]["title"] == "Ceta"


def test_spectrum_image_checksums_match_rsciio(emconvert, corpus):
    """The lazily decoded EDS spectrum image equals rsciio's reading recorded in the corpus
    (frames summed or not; rsciio itself needs the optional `sparse` package for it)."""
    src = corpus / "emd" / "SI_empty_selection.emd"
    for opts, ref in [
        ([], "SI_empty_selection.emd.expected.json"),
        (["-o", "sum_frames=false"], "SI_empty_selection.emd.sum_frames_false.expected.json"),
        (["-o", "sum_EDS_detectors=false"], "SI_empty_selection.emd.sum_EDS_detectors_false.expected.json"),
    ]:
        info = json.loads(emconvert("info", "--json", "--checksum", src, *opts).stdout)
        expected = json.loads((corpus / "emd" / ref).read_text())
        got = [(d["shape"], d["sha256"]) for d in info["datasets"]]
        want = [(s["data"]["shape"], s["data"]["sha256"]) for s in expected["signals"]]
        assert got == want


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_many_chunks_multilevel_index(tmp_path, emconvert, compression):
    """300 chunks need a two-level chunk B-tree: h5py finds every chunk, also by slicing."""
    from rsciio.emd import file_reader

    a = (np.arange(300 * 40 * 50, dtype=np.uint32) % 65521).astype("<u2").reshape(300, 40, 50)
    opts = ["chunks=1,40,50"] + ([f"compression={compression}"] if compression else [])
    out = _convert(emconvert, tmp_path, a, *opts)
    with h5py.File(out, "r") as f:
        (name,) = list(f["signals"].keys())
        d = f["signals"][name]["data"]
        assert d.chunks == (50, 40, 1)
        assert d.id.get_num_chunks() == 300
        np.testing.assert_array_equal(d[:, :, 123], a[123].T)
        np.testing.assert_array_equal(d[:], a.T)
    np.testing.assert_array_equal(file_reader(str(out))[0]["data"], a)


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_check_names_dangling_soft_links(tmp_path, emconvert, libver):
    """Soft links that h5py adds to an emio-written EMD, in old-style (symbol table,
    h5py's default) and new-style (link message) groups: `emconvert check` names the
    dangling ones and no other, and the data still reads (hdf5-pure cannot list an
    old-style group holding a soft link; emio lists its hard links itself)."""
    a = np.arange(60, dtype="<u2").reshape(3, 4, 5)
    out = _convert(emconvert, tmp_path, a)
    assert json.loads(emconvert("check", "--json", out).stdout)["verdict"] == "valid"
    with h5py.File(out, "a", libver=libver) as f:
        signal = next(k for k in f["signals"])
        extra = f.create_group("extra")
        extra["good"] = h5py.SoftLink(f"/signals/{signal}")
        extra["relative"] = h5py.SoftLink("good")
        extra["chained"] = h5py.SoftLink("/extra/good")
        extra["dangling"] = h5py.SoftLink("/signals/nothing_here")
        extra["relative_dangling"] = h5py.SoftLink("missing")
        extra.create_group("deeper")["loop"] = h5py.SoftLink("/extra/deeper/loop")
        f["signals"]["alias"] = h5py.SoftLink(f"/signals/{signal}")
    proc = emconvert("check", "--json", out, check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert report["verdict"] == "problems"
    named = {p["field"]: p["value"] for p in report["problems"]}
    assert named == {
        "soft link /extra/dangling": "/signals/nothing_here",
        "soft link /extra/relative_dangling": "missing",
        "soft link /extra/deeper/loop": "/extra/deeper/loop",
    }, report
    back = json.loads(emconvert("info", "--json", "--checksum", out).stdout)
    assert [d["shape"] for d in back["datasets"]] == [[3, 4, 5]]


def test_cyclic_group_links_are_walked_once(tmp_path, emconvert):
    """A group hard-linked into itself twice makes every level of the tree twice as wide
    as the one above for a walk by path (2^depth paths). emio visits each group once, by
    its object address, as h5py's `visititems` does: the file reads like any other."""
    a = np.arange(60, dtype="<u2").reshape(3, 4, 5)
    out = _convert(emconvert, tmp_path, a)
    with h5py.File(out, "a") as f:
        loop = f.create_group("loop")
        loop["left"] = loop
        loop["right"] = loop
    exe = os.environ.get("EMCONVERT") or str(ROOT / "target" / "release" / "emconvert")
    # The timeout only tells a hang from an answer: the walk ends far sooner.
    proc = subprocess.run(
        [exe, "info", "--json", "--checksum", str(out)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert [d["shape"] for d in json.loads(proc.stdout)["datasets"]] == [[3, 4, 5]]
