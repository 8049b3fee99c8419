"""emio's lazy arrays on a dask.distributed cluster of worker processes: the graph is
shipped to other processes (pickled: file path, options, region), each worker opens the
file itself, and the results equal NumPy's. Writing Dask data computed on the cluster."""

import numpy as np
import pytest

import emio
from conftest import CORPUS, REPO, corpus_entries, readable_formats

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_lazy_sum_on_worker_processes(client, tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 1000, size=(16, 64, 64), dtype=np.uint16)
    path = tmp_path / "stack.npy"
    np.save(path, a)
    lazy = emio.file_reader(path, lazy=True, chunks=(2, 32, 64))[0]["data"]
    assert lazy.npartitions == 16
    total = client.compute(lazy.sum(dtype=np.uint64)).result()
    assert int(total) == int(a.sum(dtype=np.uint64))
    # The chunks really ran in the worker processes.
    pids = client.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2
    per_axis = client.compute(lazy.mean(axis=0)).result()
    np.testing.assert_allclose(per_axis, a.mean(axis=0))


def test_big_endian_view_chunks_on_workers(client, tmp_path):
    """MIB counters are viewed in place as big-endian ``>u2`` (like rsciio); the workers
    rebuild the same view from the path and their chunks sum to NumPy's."""
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4000, size=(4, 6, 32, 32), dtype=np.uint16)
    path = tmp_path / "scan.mib"
    emio.file_writer(path, {"data": a})
    lazy = emio.file_reader(path, lazy=True, chunks=(1, 3, 32, 32))[0]["data"]
    assert lazy.dtype == np.dtype(">u2") and lazy.npartitions == 8
    assert int(client.compute(lazy.sum(dtype=np.uint64)).result()) == int(a.sum(dtype=np.uint64))
    np.testing.assert_array_equal(client.compute(lazy[2, 5]).result(), a[2, 5])


def test_corpus_files_sum_on_workers(client):
    """The largest corpus file of each readable format, summed on the cluster."""
    readable = readable_formats()
    largest = {}
    for file, fmt, reference in corpus_entries():
        if fmt in readable and reference.endswith(file.split("/")[-1] + ".expected.json"):
            size = (CORPUS / file).stat().st_size
            if size > largest.get(fmt, ("", -1))[1]:
                largest[fmt] = (file, size)
    checked = 0
    for fmt, (file, _) in sorted(largest.items()):
        try:
            eager = emio.file_reader(CORPUS / file)
        except emio.EmioError:
            continue
        lazy = emio.file_reader(CORPUS / file, lazy=True)
        for e, l in zip(eager, lazy):
            # Records, ragged (object) arrays and empty arrays have no numeric sum.
            if e["data"].dtype.names or e["data"].dtype == object or e["data"].size == 0:
                continue
            got = client.compute(l["data"].sum(dtype=np.complex128 if e["data"].dtype.kind == "c" else np.float64)).result()
            want = e["data"].sum(dtype=np.complex128 if e["data"].dtype.kind == "c" else np.float64)
            np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True)
            checked += 1
    if not checked:
        pytest.skip("no corpus format is readable yet")


def test_write_dask_computed_on_cluster(client, tmp_path):
    import dask.array as da

    a = np.arange(12 * 20 * 30, dtype=np.float32).reshape(12, 20, 30)
    d = da.from_array(a, chunks=(5, 7, 30)) * 3
    path = tmp_path / "out.npy"
    emio.file_writer(path, {"data": d})
    np.testing.assert_array_equal(np.load(path), a * 3)


def test_camera_formats_chunk_along_frames_on_workers(client, tmp_path):
    """ARINA (bitshuffle-LZ4 frames in data files behind external links) and EER (run-length
    coded electron events) are decoded chunk by chunk on the workers: lazy arrays chunked
    along the scan/frames, whole frames per chunk, equal to the frames that were stored."""
    arina = REPO / "testdata" / "arina" / "scan_master.h5"
    frames = np.load(REPO / "testdata" / "arina" / "scan_frames.npy")
    lazy = emio.file_reader(arina, lazy=True, dtype="uint32", chunks=(1, 2, 24, 32))[0]["data"]
    assert lazy.shape == (3, 2, 24, 32) and lazy.npartitions == 3
    np.testing.assert_array_equal(client.compute(lazy).result(), frames.reshape(3, 2, 24, 32))

    rng = np.random.default_rng(5)
    movie = (rng.random((6, 32, 32)) < 0.2).astype(np.uint8)
    eer = tmp_path / "movie.eer"
    emio.file_writer(eer, {"data": movie})
    lazy = emio.file_reader(eer, lazy=True, chunks=(2, 32, 32))[0]["data"]
    assert lazy.npartitions == 3
    np.testing.assert_array_equal(client.compute(lazy).result(), movie)
    # Grouped frames (dose fractionation) are decoded on the workers too.
    grouped = emio.file_reader(eer, lazy=True, group=3)[0]["data"]
    np.testing.assert_array_equal(client.compute(grouped).result(), movie.reshape(2, 3, 32, 32).sum(axis=1))
