"""Ragged data (HyperSpy's ragged signals: at each position an array of its own length)
through the Python API: read as rsciio reads it (object arrays of NumPy arrays,
``attributes["ragged"]``), written to ``.hspy`` from object arrays and HyperSpy signals,
and read back identically by rsciio and emio, eagerly and lazily."""
import numpy as np
import pytest

import emio

rsciio_hspy = pytest.importorskip("rsciio.hspy")


def peaks():
    """(k, 2) float32 peak lists on a 2 x 3 scan, the first one empty."""
    data = np.empty((2, 3), dtype=object)
    for k, i in enumerate(np.ndindex(data.shape)):
        data[i] = (np.arange(2 * k, dtype=np.float32) / 3).reshape(k, 2)
    return data


def words():
    data = np.empty((4,), dtype=object)
    for i in range(4):
        data[i] = np.array(["a" * (i + 1), "bb", "c", "d"][: i + 1])
    return data


AXES = [
    {"name": "y", "units": "nm", "scale": 2.0, "offset": 1.0, "size": 2, "navigate": True},
    {"name": "x", "units": "nm", "scale": 2.0, "offset": 0.0, "size": 3, "navigate": True},
]


def same_items(got, want):
    assert got.dtype == object and got.shape == want.shape
    for i in np.ndindex(want.shape):
        g, w = np.asarray(got[i]), np.asarray(want[i])
        assert g.shape == w.shape and g.dtype.kind == w.dtype.kind
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("kind", ["peaks", "words"])
def test_ragged_object_arrays_round_trip_through_hspy(tmp_path, kind):
    data = peaks() if kind == "peaks" else words()
    axes = AXES if kind == "peaks" else [dict(AXES[1], size=4)]
    path = tmp_path / "ragged.hspy"
    emio.file_writer(path, {"data": data, "axes": axes, "metadata": {"General": {"title": kind}}})
    theirs = rsciio_hspy.file_reader(str(path))[0]
    assert theirs["attributes"]["ragged"]
    same_items(np.asarray(theirs["data"]), data)
    ours = emio.file_reader(path)[0]
    assert ours["attributes"]["ragged"] and ours["metadata"]["General"]["title"] == kind
    same_items(ours["data"], data)
    assert [a["size"] for a in ours["axes"]] == list(data.shape)
    same_items(emio.file_reader(path, lazy=True)[0]["data"].compute(), data)
    if kind == "peaks":
        assert ours["data"][1, 2].dtype == np.float32


def test_hyperspy_ragged_signal_saved_and_loaded_through_emio(tmp_path):
    hs = pytest.importorskip("hyperspy.api")
    import emio.hyperspy
    s = hs.signals.BaseSignal(peaks(), ragged=True)
    path = tmp_path / "signal.hspy"
    emio.hyperspy.save(path, s)
    back = hs.load(path)
    assert back.ragged
    same_items(back.data, s.data)
    again = emio.hyperspy.load(path)
    assert again.ragged
    same_items(again.data, s.data)


def counts_grid():
    """Integer items of 0 to 3 values on a 6 x 5 scan."""
    data = np.empty((6, 5), dtype=object)
    for k, i in enumerate(np.ndindex(data.shape)):
        data[i] = np.arange(10 * k, 10 * k + k % 4, dtype=np.int32)
    return data


def test_lazy_ragged_arrays_read_only_the_chunks_computed(tmp_path, monkeypatch):
    data = counts_grid()
    path = tmp_path / "grid.hspy"
    axes = [dict(AXES[0], size=6), dict(AXES[1], size=5)]
    emio.file_writer(path, {"data": data, "axes": axes})
    from emio import _lazy

    boxes = []
    real = _lazy.ragged_array

    def recording(dataset, start=None, count=None):
        boxes.append((tuple(start), tuple(count)))
        return real(dataset, start, count)

    monkeypatch.setattr(_lazy, "ragged_array", recording)
    lazy = emio.file_reader(path, lazy=True, chunks=(2, 5))[0]
    assert lazy["attributes"]["ragged"] and boxes == []  # opening reads no item
    assert lazy["data"].chunks == ((2, 2, 2), (5,)) and lazy["data"].dtype == object
    same_items(lazy["data"][2:4].compute(), data[2:4])
    assert boxes == [((2, 0), (2, 5))]
    same_items(lazy["data"][1::2, ::-2].compute(), data[1::2, ::-2])
    same_items(lazy["data"].compute(), data)
    # "auto": whole rows up to emio._lazy.RAGGED_CHUNK_POSITIONS positions a chunk.
    auto = emio.file_reader(path, lazy=True)[0]["data"]
    assert auto.chunks == ((6,), (5,))
    same_items(auto.compute(), data)


def test_ragged_items_by_position_range(tmp_path):
    data = counts_grid()
    path = tmp_path / "grid.hspy"
    emio.file_writer(path, {"data": data})
    (ds,) = emio.open(path)
    items = ds.ragged_items(7, 3)
    assert [tuple(shape) for shape, _ in items] == [(3,), (0,), (1,)]
    assert np.frombuffer(items[0][1], dtype=np.int32).tolist() == [70, 71, 72]
    assert len(ds.ragged_items()) == 30 and ds.ragged_items(30, 0) == []
    with pytest.raises(emio.OutOfBoundsError):
        ds.ragged_items(28, 5)
