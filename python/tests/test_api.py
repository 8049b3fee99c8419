"""The Python API on data the tests make: NumPy round trips for every dtype and layout,
rsciio-style dicts, lazy indexing, errors, options, convert, pickling."""

import pickle

import numpy as np
import pytest

import emio
from emio._lazy import region_of


def npy(tmp_path, array, name="a.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


DTYPES = ["|b1", "|u1", "<u2", "<u4", "<u8", "|i1", "<i2", "<i4", "<i8", "<f2", "<f4", "<f8", "<c8", "<c16", ">u2", ">f8"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_eager_read_every_dtype(tmp_path, dtype):
    rng = np.random.default_rng(1)
    a = (rng.random((3, 5, 7)) * 100).astype(dtype)
    (signal,) = emio.file_reader(npy(tmp_path, a))
    data = signal["data"]
    # Like np.load: the file's dtype, byte order included, viewed in place (copy-on-write).
    assert data.dtype == np.load(npy(tmp_path, a, "b.npy")).dtype == a.dtype
    np.testing.assert_array_equal(data, a)
    assert data.flags.writeable and not data.flags.owndata


def test_signal_dict_is_shaped_like_rsciio(tmp_path):
    a = np.zeros((2, 3, 4), dtype=np.float32)
    (signal,) = emio.file_reader(npy(tmp_path, a, "title.npy"))
    assert set(signal) == {"data", "axes", "metadata", "original_metadata", "mapping", "post_process"}
    assert [ax["size"] for ax in signal["axes"]] == [2, 3, 4]
    for i, ax in enumerate(signal["axes"]):
        assert ax == {
            "name": "",
            "units": "",
            "scale": 1.0,
            "offset": 0.0,
            "size": a.shape[i],
            "navigate": False,
            "index_in_array": i,
        }
    assert signal["metadata"]["General"]["title"] == "title"
    assert signal["metadata"]["General"]["original_filename"] == "title.npy"
    assert signal["original_metadata"]["fortran_order"] is False


def test_zero_copy_view_keeps_mapping_alive(tmp_path):
    a = np.arange(1000, dtype="<i4").reshape(10, 100)
    path = npy(tmp_path, a)
    data = emio.file_reader(path)[0]["data"]
    assert data.flags.writeable and not data.flags.owndata
    base = data
    while isinstance(base, np.ndarray):
        base = base.base
    assert type(base).__name__ == "ArrayBuffer" and base.is_view
    del base
    import gc

    gc.collect()
    np.testing.assert_array_equal(data, a)


def test_fortran_order_is_a_strided_view(tmp_path):
    a = np.asfortranarray(np.arange(60, dtype="<u2").reshape(3, 4, 5))
    data = emio.file_reader(npy(tmp_path, a))[0]["data"]
    np.testing.assert_array_equal(data, a)
    assert data.flags.f_contiguous and data.flags.writeable and not data.flags.owndata


def test_rgb_records_are_structured_arrays(tmp_path):
    rgb = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
    a = np.zeros((4, 5), dtype=rgb)
    a["R"] = np.arange(20).reshape(4, 5)
    a["B"] = 7
    path = tmp_path / "rgb.npy"
    emio.file_writer(path, {"data": a})
    (signal,) = emio.file_reader(path)
    assert signal["data"].dtype.names == ("R", "G", "B")
    np.testing.assert_array_equal(signal["data"]["R"], a["R"])
    np.testing.assert_array_equal(signal["data"]["B"], 7)
    lazy = emio.file_reader(path, lazy=True)[0]["data"]
    assert lazy.dtype == signal["data"].dtype
    assert lazy.compute().tobytes() == signal["data"].tobytes()


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a,
        lambda a: a[:, ::-1],
        lambda a: a[::2, 1:, ::3],
        lambda a: a.transpose(2, 0, 1),
        lambda a: np.asfortranarray(a),
        lambda a: a.astype(">f4"),
        lambda a: np.broadcast_to(a[:1], a.shape),
    ],
)
def test_write_numpy_any_layout(tmp_path, view):
    a = view(np.arange(4 * 6 * 9, dtype=np.float32).reshape(4, 6, 9))
    path = tmp_path / "out.npy"
    assert emio.file_writer(path, {"data": a}) == "npy"
    np.testing.assert_array_equal(np.load(path), a)


def test_write_dask_block_by_block(tmp_path):
    da = pytest.importorskip("dask.array")
    a = np.arange(7 * 11 * 13, dtype=np.int32).reshape(7, 11, 13)
    d = da.from_array(a, chunks=(2, 3, 5)) * 2 + 1
    path = tmp_path / "dask.npy"
    emio.file_writer(path, {"data": d})
    np.testing.assert_array_equal(np.load(path), a * 2 + 1)


def test_write_dask_cache_bounded(tmp_path):
    da = pytest.importorskip("dask.array")
    from emio._writer import DaskBlockReader

    d = da.arange(64 * 32, dtype=np.float64, chunks=100).reshape(64, 32).rechunk((8, 32))
    reader = DaskBlockReader(d, np.dtype(np.float64), budget=8 * 32 * 8 * 2)
    out = np.concatenate([reader([i, 0], [5, 32]) for i in range(0, 64, 5) if i + 5 <= 64])
    np.testing.assert_array_equal(out, np.arange(64 * 32).reshape(64, 32)[:60])
    assert reader.cached_bytes <= reader.budget


def test_write_array_like_sliced_per_region(tmp_path):
    class Sliceable:
        def __init__(self, a):
            self.a, self.shape, self.dtype, self.calls = a, a.shape, a.dtype, 0

        def __getitem__(self, key):
            self.calls += 1
            return self.a[key]

    src = Sliceable(np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4))
    path = tmp_path / "like.npy"
    emio.file_writer(path, {"data": src})
    np.testing.assert_array_equal(np.load(path), src.a)
    assert src.calls >= 1


def test_errors_raised_in_python_sources_propagate(tmp_path):
    class Broken:
        shape, dtype = (4, 4), np.dtype(np.float32)

        def __getitem__(self, key):
            raise ZeroDivisionError("no pixels today")

    with pytest.raises(ZeroDivisionError, match="no pixels today"):
        emio.file_writer(tmp_path / "broken.npy", {"data": Broken()})
    assert not (tmp_path / "broken.npy").exists()
    assert list(tmp_path.iterdir()) == []  # the temporary output was removed


def test_lazy_indexing_matches_numpy(tmp_path):
    a = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    path = npy(tmp_path, a)
    lazy = emio.file_reader(path, lazy=True)[0]["data"]
    for key in [
        (1,),
        (slice(None), 2),
        (Ellipsis, -1),
        (slice(4, 0, -2), slice(None, None, 3), 5),
        (slice(1, 1),),
        (-5, Ellipsis, slice(2, 5)),
    ]:
        np.testing.assert_array_equal(lazy[key].compute(), a[key])
    r = emio.RegionReader(path, "npy", [], 0, a.shape, a.dtype)
    np.testing.assert_array_equal(r[2:4, ::-1, 3], a[2:4, ::-1, 3])
    np.testing.assert_array_equal(np.asarray(r), a)
    with pytest.raises(IndexError):
        r[5]
    with pytest.raises(IndexError):
        r[0, 0, 0, 0]


def test_region_of():
    assert region_of((slice(None),), (4, 5)) == ([0, 0], [4, 5], None)
    start, count, post = region_of((1, slice(4, None, -2)), (4, 5))
    assert (start, count) == ([1, 0], [1, 5])
    assert post == (0, slice(4, None, -2))


def test_lazy_chunks_like_rsciio(tmp_path):
    a = np.arange(8 * 16 * 16, dtype=np.uint8).reshape(8, 16, 16)
    path = npy(tmp_path, a)
    assert emio.file_reader(path, lazy=True, chunks=(2, 16, 8))[0]["data"].chunks == (
        (2, 2, 2, 2),
        (16,),
        (8, 8),
    )
    assert emio.file_reader(path, lazy=True, chunks={0: 3})[0]["data"].chunks[0] == (3, 3, 2)
    auto = emio.file_reader(path, lazy=True)[0]["data"]
    assert auto.chunks[1:] == ((16,), (16,))  # whole frames, the file's natural chunk


@pytest.mark.parametrize("ext", ["npy", "mrc", "mib"])
def test_write_big_endian_views_in_place(tmp_path, ext):
    """Big-endian NumPy data (such as emio's own ``>u2`` MIB views) is written without a
    converted copy: Rust swaps the bytes region by region."""
    a = np.arange(4 * 6 * 8, dtype=">u2").reshape(4, 6, 8)[:, ::-1, :]
    emio.file_writer(tmp_path / f"a.{ext}", {"data": a})
    back = emio.file_reader(tmp_path / f"a.{ext}")[0]["data"]
    np.testing.assert_array_equal(back.reshape(a.shape), a)
    # And a MIB view written on to another format.
    emio.file_writer(tmp_path / f"b.{ext}", {"data": back})
    np.testing.assert_array_equal(emio.file_reader(tmp_path / f"b.{ext}")[0]["data"], back)


def test_auto_chunks_grow_natural_chunks_innermost_first(tmp_path):
    import dask

    stack = np.arange(100 * 16 * 16, dtype=np.uint8).reshape(100, 16, 16)
    scan = (np.arange(4 * 6 * 32 * 32) % 4000).astype(np.uint16).reshape(4, 6, 32, 32)
    emio.file_writer(tmp_path / "scan.mib", {"data": scan})
    big_frames = np.zeros((3, 64, 64), dtype=np.float64)
    npy(tmp_path, big_frames, "big.npy")

    def chunks(name, limit):
        with dask.config.set({"array.chunk-size": limit}):
            return emio.file_reader(tmp_path / name, lazy=True)[0]["data"].chunks

    npy(tmp_path, stack, "stack.npy")
    # Runs of whole frames, as many as fit.
    assert chunks("stack.npy", 40 * 256) == ((40, 40, 20), (16,), (16,))
    assert chunks("stack.npy", "128MiB") == ((100,), (16,), (16,))
    # A 4D scan: whole scan rows once a row fits, else runs of frames within a row.
    assert chunks("scan.mib", 12 * 2048) == ((2, 2), (6,), (32,), (32,))
    assert chunks("scan.mib", 4 * 2048) == ((1,) * 4, (4, 2), (32,), (32,))
    # A frame larger than the limit: Dask splits it.
    split = chunks("big.npy", 16 << 10)
    assert split[0] == (1, 1, 1) and max(split[1]) * max(split[2]) * 8 <= 16 << 10


def test_lazy_graph_tasks_are_made_on_demand(tmp_path):
    """Opening builds no per-chunk task (the cost does not grow with the chunk count);
    computing part of the array makes only the tasks of the chunks it needs."""
    from emio._lazy import ChunkTasks

    a = np.arange(40 * 8 * 8, dtype=np.float32).reshape(40, 8, 8)
    path = npy(tmp_path, a)
    lazy = emio.file_reader(path, lazy=True, chunks=(1, 2, 2))[0]["data"]
    assert lazy.npartitions == 40 * 4 * 4
    (layer,) = lazy.dask.layers.values()
    tasks = layer.mapping
    assert isinstance(tasks, ChunkTasks) and tasks._edges is None
    made = []
    getitem = ChunkTasks.__getitem__

    def counting(self, key):
        made.append(key)
        return getitem(self, key)

    ChunkTasks.__getitem__ = counting
    try:
        np.testing.assert_array_equal(lazy[7, 1:5, 3].compute(), a[7, 1:5, 3])
    finally:
        ChunkTasks.__getitem__ = getitem
    # The chunks of frame 7 holding rows 1..4 of column 3 (Dask may also peek at the first).
    needed = {(lazy.name, 7, r, 1) for r in (0, 1, 2)}
    assert needed <= set(made) <= needed | {(lazy.name, 0, 0, 0)}
    assert len(tasks) == 640 and len(list(tasks)) == 640
    assert tasks[(lazy.name, 39, 3, 3)][2] == (slice(39, 40), slice(6, 8), slice(6, 8))
    for bad in [(lazy.name, 40, 0, 0), (lazy.name, -1, 0, 0), ("other", 0, 0, 0), (lazy.name, 0, 0)]:
        with pytest.raises(KeyError):
            tasks[bad]
    np.testing.assert_array_equal(lazy.compute(), a)


def test_lazy_graph_pickles_without_handles(tmp_path):
    a = np.arange(100, dtype=np.float64).reshape(10, 10)
    path = npy(tmp_path, a)
    lazy = emio.file_reader(path, lazy=True, chunks=(5, 5))[0]["data"]
    blob = pickle.dumps(dict(lazy.__dask_graph__()))
    assert len(blob) < 20000
    import cloudpickle

    restored = cloudpickle.loads(cloudpickle.dumps(lazy))
    np.testing.assert_array_equal(restored.compute(), a)


def test_lazy_refuses_a_changed_file(tmp_path):
    path = npy(tmp_path, np.zeros((4, 4), np.float32))
    r = emio.RegionReader(path, "npy", [], 0, (4, 4), np.float32)
    reopened = pickle.loads(pickle.dumps(r))
    np.save(path, np.ones((5, 5), np.float32))
    from emio import _lazy

    _lazy._open_files.clear()
    with pytest.raises(emio.EmioError, match="changed"):
        reopened[0]


def test_exceptions_map_to_python_types(tmp_path):
    with pytest.raises(FileNotFoundError):
        emio.file_reader(tmp_path / "missing.npy")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': 'zz'     \n")
    with pytest.raises(emio.EmioError) as info:
        emio.file_reader(bad)
    assert isinstance(info.value, (ValueError, NotImplementedError))
    assert "bad.npy" in str(info.value)
    unknown = tmp_path / "x.unknownext"
    unknown.write_bytes(b"nothing to see")
    with pytest.raises(emio.NoFormatError):
        emio.file_reader(unknown)
    with pytest.raises(emio.InvalidOptionError, match="foo"):
        emio.file_reader(npy(tmp_path, np.zeros(3)), foo=1)
    with pytest.raises(emio.NoFormatError):
        emio.file_writer(tmp_path / "x.unknownext", {"data": np.zeros(3)})
    out = npy(tmp_path, np.zeros(3), "exists.npy")
    with pytest.raises(FileExistsError):
        emio.file_writer(out, {"data": np.ones(3)}, overwrite=False)
    with pytest.raises(emio.UnsupportedError):
        emio.file_writer(tmp_path / "obj.npy", {"data": np.array([object()])})
    with pytest.raises(IndexError):
        emio.open(out)[0].read_region([0], [4])


def test_codec_and_layout_errors_have_their_own_classes(tmp_path):
    """Every emio error variant is one exception class: compressed data its codec rejects
    is a CodecError (still a MalformedFileError and a ValueError)."""
    assert issubclass(emio.CodecError, emio.MalformedFileError)
    assert issubclass(emio.LayoutError, ValueError)
    path = tmp_path / "deflate.tif"
    data = np.random.default_rng(0).integers(0, 60000, (64, 64), dtype=np.uint16)
    emio.file_writer(path, {"data": data}, compression="deflate")
    raw = bytearray(path.read_bytes())
    assert raw[:2] == b"II"
    ifd = int.from_bytes(raw[4:8], "little")
    entries = int.from_bytes(raw[ifd : ifd + 2], "little")
    for k in range(entries):
        at = ifd + 2 + 12 * k
        if int.from_bytes(raw[at : at + 2], "little") == 273:  # StripOffsets
            strip = int.from_bytes(raw[at + 8 : at + 12], "little")
    raw[strip + 2 : strip + 40] = b"\xff" * 38
    path.write_bytes(bytes(raw))
    with pytest.raises(emio.CodecError) as info:
        emio.file_reader(path)
    assert isinstance(info.value, ValueError)
    assert "deflate.tif" in str(info.value)


def test_an_input_changed_before_the_write_commits_discards_the_output(tmp_path):
    """A dataset whose file was rewritten after it was opened is not written out: the
    output could mix old and new bytes."""
    src = npy(tmp_path, np.arange(12, dtype=np.uint16), "src.npy")
    dataset = emio.open(src)[0]
    with open(src, "ab") as f:
        f.write(b"appended")
    out = tmp_path / "out.npy"
    with pytest.raises(emio.InputChangedError) as changed:
        dataset.write(out)
    assert "src.npy" in str(changed.value) and "size" in str(changed.value)
    assert isinstance(changed.value, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.npy"]


def test_messages_speak_python_not_the_command_line(tmp_path):
    """Each error says what to do in Python terms: keyword arguments, ``overwrite=True``;
    never the command line's ``-w mode=2`` or ``--force``."""
    cli = ("-w ", "-o ", "--force", "emconvert", "invalid option")
    out = npy(tmp_path, np.zeros(3), "exists.npy")
    with pytest.raises(emio.OutputExistsError) as exists:
        emio.file_writer(out, {"data": np.ones(3)}, overwrite=False)
    with pytest.raises(emio.UnsupportedError) as lossy:
        emio.file_writer(tmp_path / "u8.mrc", {"data": np.zeros((2, 2), np.uint64)})
    with pytest.raises(emio.InvalidOptionError) as option:
        emio.file_reader(out, nonsense=1)
    assert "overwrite=True" in str(exists.value)
    assert "mode=2" in str(lossy.value) and "keyword argument" in str(lossy.value)
    assert "nonsense" in str(option.value) and "keyword argument" in str(option.value)
    for error in (exists.value, lossy.value, option.value):
        assert not any(phrase in str(error) for phrase in cli), str(error)


def test_formats_lists_options():
    formats = {f["name"]: f for f in emio.formats()}
    assert formats["npy"]["can_read"] and formats["npy"]["can_write"]
    assert "npy" in formats["npy"]["extensions"]
    for f in formats.values():
        for o in f["read_options"] + f["write_options"]:
            choice = o["kind"].startswith("choice:")
            assert set(o) == {"name", "kind", "default", "help"} | ({"choices"} if choice else set())
            if choice:
                assert list(o["choices"]) == o["kind"][len("choice:"):].split("|")
    mode = next(o for o in formats["mrc"]["write_options"] if o["name"] == "mode")
    assert mode["kind"] == "choice:auto|0|1|2|3|4|6|12"
    assert mode["choices"]["auto"] == "from the dtype" and mode["choices"]["12"] == "float16"


def test_metadata_round_trips_through_json(tmp_path):
    from emio._convert import to_json
    import json

    tree = {
        "General": {"title": "t", "date": __import__("datetime").date(2024, 1, 2)},
        "values": np.arange(3),
        "scalar": np.float32(1.5),
        "nan": float("nan"),
        "bytes": b"\xff\x00",
        "nested": ({"a": (1, 2)},),
    }
    assert json.loads(to_json(tree)) == {
        "General": {"title": "t", "date": "2024-01-02"},
        "values": [0, 1, 2],
        "scalar": 1.5,
        "nan": "NaN",
        "bytes": {"__bytes_hex__": "ff00"},
        "nested": [{"a": [1, 2]}],
    }


def test_convert_streams_file_to_file(tmp_path):
    a = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    src = npy(tmp_path, a)
    dst = tmp_path / "copy.npy"
    emio.convert(src, dst)
    np.testing.assert_array_equal(np.load(dst), a)
    with pytest.raises(FileExistsError):
        emio.convert(src, dst)
    emio.convert(src, dst, overwrite=True)
    with pytest.raises(emio.InvalidOptionError, match="nonsense"):
        emio.convert(src, dst, overwrite=True, nonsense=3)


def test_writer_axes_and_metadata_from_signal_dict(tmp_path):
    a = np.zeros((2, 3), np.float32)
    ds = emio.dataset_from_signal(
        {
            "data": a,
            "axes": [
                {"name": "x", "units": "nm", "scale": 0.5, "offset": 1.0, "navigate": False, "index_in_array": 1},
                {"name": "t", "units": "s", "axis": [0.0, 1.0], "navigate": True, "index_in_array": 0},
            ],
            "metadata": {"General": {"title": "hello"}},
            "original_metadata": {"k": [1, 2]},
        }
    )
    assert ds.shape == [2, 3]
    assert ds.title == "hello"
    assert ds.axes[0] == ("t", "s", True, None, None, [0.0, 1.0])
    assert ds.axes[1] == ("x", "nm", False, 0.5, 1.0, None)
    assert ds.original_metadata == {"k": [1, 2]}
    with pytest.raises(ValueError):
        emio.dataset_from_signal({"data": a, "axes": [{"name": "x"}]})


def test_progress_callback_and_cancellation(tmp_path):
    a = np.zeros((64, 256, 256), np.uint8)
    seen = []
    emio.file_writer(tmp_path / "p.npy", {"data": a}, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (a.nbytes, a.nbytes)
    assert all(d <= t for d, t in seen)
    seen.clear()
    emio.convert(tmp_path / "p.npy", tmp_path / "q.npy", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (a.nbytes, a.nbytes)

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        emio.file_writer(tmp_path / "stopped.npy", {"data": np.zeros((512, 256, 256), np.uint8)}, progress=stop)
    assert not (tmp_path / "stopped.npy").exists()


def test_dict_options_reach_the_reader_as_json(tmp_path):
    """Ripple's ``rpl_info`` (a dict in rsciio) reads a ``.raw`` without its ``.rpl``."""
    raw = tmp_path / "frames.raw"
    data = np.arange(24, dtype="<u2").reshape(2, 3, 4)
    data.tofile(raw)
    info = {"width": 4, "height": 3, "depth": 2, "offset": 0, "data-length": "2",
            "data-type": "unsigned", "byte-order": "little-endian", "record-by": "image"}
    (s,) = emio.file_reader(raw, format="ripple", rpl_info=info)
    np.testing.assert_array_equal(s["data"], data)
    assert [a["name"] for a in s["axes"]] == ["depth", "height", "width"]


@pytest.mark.parametrize("dtype", ["<u2", ">f4", "|u1"])
def test_eager_arrays_are_writable_and_the_file_never_changes(tmp_path, dtype):
    a = np.arange(4 * 6 * 8).reshape(4, 6, 8).astype(dtype)
    path = npy(tmp_path, a)
    (signal,) = emio.file_reader(path)
    data = signal["data"]
    assert data.flags.writeable and not data.flags.owndata  # zero-copy, copy-on-write
    data += 1  # what HyperSpy users do with `s.data += 1`
    np.testing.assert_array_equal(data, a + 1)
    np.testing.assert_array_equal(np.load(path), a)
    (again,) = emio.file_reader(path)
    np.testing.assert_array_equal(again["data"], a)


def test_read_only_arrays_on_request(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    path = npy(tmp_path, a)
    (signal,) = emio.file_reader(path, mmap_mode="r")
    assert not signal["data"].flags.writeable
    with pytest.raises(ValueError):
        signal["data"][0, 0] = 1
    assert emio.file_reader(path, mmap_mode="c")[0]["data"].flags.writeable
    with pytest.raises(emio.InvalidOptionError, match="never writes"):
        emio.file_reader(path, mmap_mode="r+")


def test_copied_layouts_are_writable_too(tmp_path):
    # A big-endian MRC is converted to native order in Rust (a copy): writable as well.
    a = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    path = tmp_path / "a.mrc"
    emio.file_writer(path, {"data": a})
    for mode, writable in ((None, True), ("r", False)):
        (signal,) = emio.file_reader(path, mmap_mode=mode)
        assert signal["data"].flags.writeable == writable
        np.testing.assert_array_equal(signal["data"], a)


def test_what_a_reader_repairs_is_a_python_warning(tmp_path):
    """A multi-page TIFF truncated so that a page is lost still opens; the loss is raised
    as an ``emio.EmioWarning`` naming the file (issue 15), by ``open`` and ``file_reader``,
    and a sound file raises none."""
    import warnings

    whole = tmp_path / "pages.tif"
    emio.file_writer(whole, {"data": np.arange(2 * 32 * 32, dtype=np.uint16).reshape(2, 32, 32)},
                     imagej=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", emio.EmioWarning)
        emio.file_reader(whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.tif"
    for keep in range(len(data) // 4, len(data), 97):
        cut.write_bytes(data[:keep])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                datasets = emio.open(cut)
        except emio.EmioError:
            continue
        lost = [w for ds in datasets for w in ds.warnings]
        if lost:
            break
    else:
        pytest.fail("no truncation lost a page with a warning")
    assert issubclass(emio.EmioWarning, UserWarning)
    # Lazily: the page that is left may itself be cut short, which an eager read reports.
    for read in (emio.open, lambda path: emio.file_reader(path, lazy=True)):
        with pytest.warns(emio.EmioWarning) as caught:
            read(cut)
        messages = [str(w.message) for w in caught]
        assert messages == [f"{cut}: {w}" for w in dict.fromkeys(lost)], messages
        assert caught[0].filename == __file__
