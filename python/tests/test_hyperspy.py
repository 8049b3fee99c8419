"""HyperSpy convenience layer (skipped when HyperSpy is not installed)."""

import numpy as np
import pytest

pytest.importorskip("hyperspy.api")

import emio.hyperspy  # noqa: E402


def test_load_and_save_signals(tmp_path):
    a = np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
    path = tmp_path / "stack.npy"
    np.save(path, a)
    signal = emio.hyperspy.load(path)
    np.testing.assert_array_equal(signal.data, a)
    assert signal.metadata.General.original_filename == "stack.npy"
    lazy = emio.hyperspy.load(path, lazy=True)
    assert lazy._lazy
    np.testing.assert_array_equal(lazy.data.compute(), a)
    # HyperSpy's own reductions agree between the lazy and the eager signal.
    np.testing.assert_array_equal(lazy.sum(axis=0).data.compute(), signal.sum(axis=0).data)
    out = tmp_path / "copy.npy"
    emio.hyperspy.save(out, signal)
    np.testing.assert_array_equal(np.load(out), a)


def test_save_calibrated_lazy_signal(tmp_path):
    import hyperspy.api as hs

    a = np.arange(3 * 16 * 16, dtype=np.float32).reshape(3, 16, 16)
    signal = hs.signals.Signal2D(a).as_lazy()
    signal.axes_manager.signal_axes[0].scale = 0.25
    signal.axes_manager.signal_axes[0].units = "nm"
    signal.axes_manager.signal_axes[1].scale = 0.25
    signal.axes_manager.signal_axes[1].units = "nm"
    out = tmp_path / "cal.mrc"
    assert emio.hyperspy.save(out, signal) == "mrc"
    back = emio.hyperspy.load(out)
    np.testing.assert_array_equal(back.data, a)
    assert back.axes_manager.signal_axes[0].scale == pytest.approx(0.25)
    assert back.axes_manager.signal_axes[0].units == "nm"


@pytest.mark.parametrize("keyword", ["file_format", "reader"])
def test_hyperspy_load_with_emio_as_the_reader(tmp_path, keyword):
    """``hs.load(path, file_format=emio)`` (and the deprecated ``reader=emio``), eager and
    lazy: HyperSpy calls ``emio.file_reader`` and builds its signals from the dicts."""
    import warnings

    import hyperspy.api as hs

    import emio

    a = np.arange(2 * 3 * 16 * 16, dtype=np.float32).reshape(2, 3, 16, 16)
    path = tmp_path / "scan.mrc"
    emio.file_writer(path, {"data": a})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # `reader=` is deprecated in favour of `file_format=`
        eager = hs.load(path, **{keyword: emio})
        lazy = hs.load(path, lazy=True, **{keyword: emio})
        read_only = hs.load(path, mmap_mode="r", **{keyword: emio})
    assert eager.metadata.General.FileIO["0"].io_plugin == "emio"
    assert eager.metadata.General.original_filename == "scan.mrc"
    np.testing.assert_array_equal(eager.data.reshape(a.shape), a)
    eager.data += 1  # eager data are writable (copy-on-write: the file is unchanged)
    np.testing.assert_array_equal(eager.data.reshape(a.shape), a + 1)
    assert lazy._lazy
    np.testing.assert_array_equal(lazy.data.compute().reshape(a.shape), a)
    np.testing.assert_array_equal(hs.load(path, file_format=emio).data.reshape(a.shape), a)
    assert not read_only.data.flags.writeable


def test_learning_results_round_trip(tmp_path):
    """A decomposition HyperSpy saved is read with its learning results (as rsciio reads
    them), and one emio saves is loaded back by HyperSpy with the same results."""
    import hyperspy.api as hs
    import rsciio.hspy

    rng = np.random.default_rng(0)
    signal = hs.signals.Signal1D(rng.poisson(5, (6, 5, 32)).astype(np.float32))
    signal.decomposition(output_dimension=3, print_info=False)
    theirs_path = tmp_path / "theirs.hspy"
    signal.save(theirs_path)
    (ours,) = emio.file_reader(theirs_path)
    (theirs,) = rsciio.hspy.file_reader(str(theirs_path))
    _assert_learning_results_equal(
        ours["attributes"]["learning_results"], theirs["attributes"]["learning_results"]
    )

    for fmt in ("hspy", "zspy"):
        ours_path = tmp_path / f"ours.{fmt}"
        assert emio.hyperspy.save(ours_path, signal) == fmt
        back = hs.load(ours_path)
        for key in ("factors", "loadings", "explained_variance"):
            np.testing.assert_array_equal(
                np.asarray(getattr(back.learning_results, key)),
                getattr(signal.learning_results, key),
            )
        assert back.learning_results.decomposition_algorithm == "SVD", fmt
        assert back.learning_results.output_dimension == 3, fmt


def _assert_learning_results_equal(got, want):
    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value)
            assert got[key].dtype == value.dtype, key
        elif isinstance(value, tuple):
            assert tuple(got[key]) == value, key
        else:
            assert got[key] == value, key


@pytest.mark.parametrize("version", ["1.0", "3.1"])
def test_peak_and_old_named_learning_results(tmp_path, version):
    """HyperSpy 1.x's peak learning results, and the groups format 1.0 named
    ``mva_results`` / ``peak_mva_results``, are read as rsciio reads them and written back
    under today's names."""
    import h5py
    import hyperspy.api as hs
    import rsciio.hspy

    rng = np.random.default_rng(1)
    signal = hs.signals.Signal1D(rng.poisson(5, (4, 3, 16)).astype(np.float32))
    signal.decomposition(output_dimension=2, print_info=False)
    path = tmp_path / "old.hspy"
    signal.save(path)
    with h5py.File(path, "r+") as f:
        group = f["Experiments/__unnamed__"]
        group.copy("learning_results", "peak_learning_results")
        del group["peak_learning_results/loadings"]
        group["peak_learning_results"].attrs["decomposition_algorithm"] = "NMF"
        if version == "1.0":
            group.move("learning_results", "mva_results")
            group.move("peak_learning_results", "peak_mva_results")
            group.move("metadata", "mapped_parameters")
            group.move("original_metadata", "original_parameters")
            f.attrs["file_format_version"] = version
    (theirs,) = rsciio.hspy.file_reader(str(path))
    (ours,) = emio.file_reader(path)
    for group in ("learning_results", "peak_learning_results"):
        _assert_learning_results_equal(ours["attributes"][group], theirs["attributes"][group])
    again = tmp_path / "again.hspy"
    emio.file_writer(str(again), ours)
    (back,) = rsciio.hspy.file_reader(str(again))
    for group in ("learning_results", "peak_learning_results"):
        _assert_learning_results_equal(back["attributes"][group], theirs["attributes"][group])


def _assert_same_tree(got, want, path="models"):
    """rsciio's dictionary ``want`` and ``got`` agree key by key, arrays with their dtype
    (a tuple may come back as a list: JSON has one kind of sequence)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for key in want:
            _assert_same_tree(got[key], want[key], f"{path}/{key}")
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same_tree(g, w, f"{path}/{i}")
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype, path
        np.testing.assert_array_equal(got, want, err_msg=path)
    else:
        assert got == want, (path, got, want)


def _assert_same_model(got, want):
    assert [c.name for c in got] == [c.name for c in want]
    for a, b in zip(got, want):
        for p, q in zip(a.parameters, b.parameters):
            assert p.map.dtype == q.map.dtype, p
            np.testing.assert_array_equal(p.map, q.map, err_msg=str(p))
            assert (p.value, p.free, p.bmin, p.bmax) == (q.value, q.free, q.bmin, q.bmax), p
    np.testing.assert_array_equal(got.chisq.data, want.chisq.data)
    np.testing.assert_array_equal(got._channel_switches, want._channel_switches)


def test_models_round_trip(tmp_path):
    """A model HyperSpy fitted and stored (``s.models``) is read as rsciio reads it, and
    HyperSpy restores the same model from the ``.hspy`` and ``.zspy`` files emio writes,
    from a HyperSpy signal (``emio.hyperspy.save``) and by converting the file."""
    import hyperspy.api as hs
    import rsciio.hspy

    x = np.linspace(-5, 5, 40)
    signal = hs.signals.Signal1D(
        np.array([[8 * np.exp(-((x - c) ** 2)) + 1 for c in (0.0, 0.5, 1.0)]] * 2)
    )
    model = signal.create_model()
    model.extend([hs.model.components1D.Gaussian(), hs.model.components1D.Offset()])
    model[0].centre.bmin = -2.0
    model.multifit()
    model.store("fit")
    theirs_path = tmp_path / "theirs.hspy"
    signal.save(theirs_path)
    (ours,) = emio.file_reader(theirs_path)
    (theirs,) = rsciio.hspy.file_reader(str(theirs_path))
    _assert_same_tree(ours["models"], theirs["models"])
    want = hs.load(theirs_path).models.fit.restore()

    for fmt in ("hspy", "zspy"):
        saved = tmp_path / f"saved.{fmt}"
        assert emio.hyperspy.save(saved, emio.hyperspy.load(theirs_path)) == fmt
        converted = tmp_path / f"converted.{fmt}"
        emio.convert(theirs_path, converted)
        for path in (saved, converted):
            _assert_same_model(hs.load(path).models.fit.restore(), want)
