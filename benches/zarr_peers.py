"""Helper of ``benches/emio_bench.rs`` (run with ``--python PY``, issue 23): times, on the
benchmark's MIB file, the two ways users save it to Zarr today, so the benchmark prints
emio's conversion against them in the same run.

    python benches/zarr_peers.py MIB SHAPE CHUNKS OUT RUNS   # SHAPE/CHUNKS like 128x128x256x256

- ``memmap``: ``numpy.memmap`` of the frames (the per-frame headers skipped with a
  structured dtype, as rsciio does) written to a Zarr array with zarr-python (v3 with
  zarr-python 3, v2 with zarr-python 2), Blosc lz4 + byte shuffle (zarr-python's usual
  choice for speed), chunks ``CHUNKS`` (emio's), one scan row per write.
- ``hyperspy``: ``hs.load(MIB, lazy=True, navigation_shape=...)`` then ``s.save(...zspy)``
  (rsciio's default: Blosc zstd level 1 + byte shuffle, Dask on all cores).

Prints one JSON object: for each, the median, fastest and slowest of RUNS timed runs
after one untimed run, or, when the way fails here (HyperSpy's ``.zspy`` writer needs
zarr-python 2), the error as a string. Not a test.
"""

import contextlib
import json
import os
import shutil
import statistics
import sys
import time

import numpy as np


def header_length(path):
    """The frame header's length: the third field of the first ``MQ1,...`` header."""
    with open(path, "rb") as f:
        return int(f.read(64).split(b",")[2])


def blosc_lz4_array(out, shape, chunks):
    """An empty ``<u2`` Zarr array at ``out``, Blosc lz4 level 5 + byte shuffle: Zarr v3
    with zarr-python 3, v2 with zarr-python 2 (which HyperSpy's ``.zspy`` writer needs)."""
    import zarr

    if int(zarr.__version__.split(".")[0]) >= 3:
        from zarr.codecs import BloscCodec

        return zarr.create_array(
            out, shape=shape, chunks=chunks, dtype="<u2", overwrite=True,
            compressors=BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
        )
    from numcodecs import Blosc

    return zarr.open_array(
        out, mode="w", shape=shape, chunks=chunks, dtype="<u2",
        compressor=Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE),
    )


def memmap_to_zarr(path, shape, chunks, out):
    _, _, fr, fc = shape
    frames = np.memmap(
        path, mode="r", dtype=[("header", f"V{header_length(path)}"), ("data", ">u2", (fr, fc))]
    )["data"].reshape(shape)
    z = blosc_lz4_array(out, shape, chunks)
    ny = shape[0]
    for row in range(ny):
        z[row] = frames[row]


def hyperspy_zspy(path, shape, chunks, out):
    import hyperspy.api as hs

    ny, nx, _, _ = shape
    s = hs.load(path, lazy=True, navigation_shape=(nx, ny))
    s.save(out, overwrite=True)


def timed(step, runs, *args):
    """[median, fastest, slowest] seconds of ``step(*args)``, or its error as a string."""
    try:
        return timed_runs(step, runs, *args)
    except Exception as e:  # noqa: BLE001 - reported to the benchmark, which prints it
        shutil.rmtree(args[-1], ignore_errors=True)
        return f"{type(e).__name__}: {e}"


def timed_runs(step, runs, *args):
    out = args[-1]

    def once():
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        # Progress bars and messages go to stderr: stdout carries only the JSON result.
        with contextlib.redirect_stdout(sys.stderr):
            step(*args)
        return time.perf_counter() - t

    once()
    times = sorted(once() for _ in range(runs))
    shutil.rmtree(out, ignore_errors=True)
    return [statistics.median(times), times[0], times[-1]]


def main(argv):
    path, shape, chunks, out, runs = argv
    shape = tuple(int(n) for n in shape.split("x"))
    chunks = tuple(int(n) for n in chunks.split("x"))
    runs = int(runs)
    result = {
        "memmap": timed(memmap_to_zarr, runs, path, shape, chunks, os.path.join(out, "peer.zarr")),
        "hyperspy": timed(hyperspy_zspy, runs, path, shape, chunks, os.path.join(out, "peer.zspy")),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
