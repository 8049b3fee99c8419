"""Distributed cold start: a fresh ``dask.distributed`` worker process that imports the
reader and sums a large MRC stack, emio against rsciio in the same run (issue 14, item 21).

    python bench/bench_cold_start.py                    # 1.5 GiB float32 MRC in /dev/shm
    python bench/bench_cold_start.py --mib 256 --dir /tmp --rounds 1   # quick

For each round and library (alternated, emio first in odd rounds): a new ``LocalCluster``
with one worker process (two threads) is started and waited for (not timed); then timed:

- cold: ``file_reader(path, lazy=True)`` in the client, and ``client.compute(a.sum())``
  until the result arrives. The worker has never imported the reader: unpickling the
  first task imports it, opens the file and reads its header, then every chunk is summed;
- warm: the same again on the same worker (reader imported, file open).

The file is generated once (float32 frames of 256 x 256, each frame a constant) in
``--dir`` (default /dev/shm, so the page cache holds it for both libraries) and deleted at
the end. Prints the times and the ratio rsciio / emio (> 1: emio is faster). Not a test:
it asserts nothing.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

FRAME = (256, 256)


def make_mrc(folder, mib):
    import dask.array as da
    import numpy as np

    import emio

    frames = max(1, (mib << 20) // (FRAME[0] * FRAME[1] * 4))
    path = os.path.join(folder, "emio-cold-start.mrc")
    values = da.arange(frames, dtype=np.float32, chunks=64)[:, None, None]
    data = da.broadcast_to(values, (frames,) + FRAME, chunks=(64,) + FRAME)
    emio.file_writer(path, {"data": data})
    return path, frames


def lazy_emio(path):
    import emio

    return emio.file_reader(path, lazy=True)[0]["data"]


def lazy_rsciio(path):
    from rsciio.mrc import file_reader

    return file_reader(path, lazy=True)[0]["data"]


LIBRARIES = {"emio": lazy_emio, "rsciio": lazy_rsciio}


def one_round(name, path):
    """(cold, warm) seconds of open + sum on a fresh one-worker cluster."""
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.wait_for_workers(1)
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                array = LIBRARIES[name](path)
                total = client.compute(array.sum(dtype="float64")).result()
                times.append(time.perf_counter() - t0)
            return times[0], times[1], float(total)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    parser.add_argument("--mib", type=int, default=1536, help="file size in MiB (default 1536)")
    parser.add_argument("--rounds", type=int, default=2, help="fresh clusters per library")
    args = parser.parse_args(argv)

    folder = tempfile.mkdtemp(prefix="emio-cold-", dir=args.dir)
    try:
        path, frames = make_mrc(folder, args.mib)
        size = os.path.getsize(path)
        print(f"{path}: {size / 2**30:.2f} GiB, {frames} float32 frames of {FRAME}")
        results = {name: {"cold": [], "warm": []} for name in LIBRARIES}
        sums = set()
        for r in range(args.rounds):
            order = list(LIBRARIES) if r % 2 == 0 else list(LIBRARIES)[::-1]
            for name in order:
                cold, warm, total = one_round(name, path)
                sums.add(total)
                results[name]["cold"].append(cold)
                results[name]["warm"].append(warm)
                print(f"round {r + 1} {name:7s} cold {cold:6.3f} s  warm {warm:6.3f} s", flush=True)
        if len(sums) != 1:
            print(f"warning: the libraries' sums differ: {sorted(sums)}")
        print()
        print(f"{'':6s} {'emio':>9s} {'rsciio':>9s} {'rsciio/emio':>12s}")
        for kind in ("cold", "warm"):
            e = statistics.median(results["emio"][kind])
            r = statistics.median(results["rsciio"][kind])
            print(f"{kind:6s} {e:8.3f}s {r:8.3f}s {r / e:11.2f}x")
    finally:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
