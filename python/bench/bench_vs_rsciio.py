"""Benchmark emio against rsciio in the same run: eager read (alone, and followed by a
sum that touches every value), lazy open, and a lazy sum through Dask, on generated uncompressed MRC and MIB files (and NPY for emio alone).

    python bench/bench_vs_rsciio.py                 # 512 MiB files
    python bench/bench_vs_rsciio.py --mib 64 --repeat 3

The files are written by emio (streamed from a memory-mapped NPY) into a temporary folder
(``--dir``). Each measurement is the median of ``--repeat`` runs; the page cache is warm
for both libraries (each file is read once before timing). Ratios > 1 mean emio is faster.
Targets (issue 10): eager >= 3x rsciio, lazy open >= 100x rsciio for MIB and MRC.
Not a test: it asserts nothing.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import emio


def median_time(fn, repeat):
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def touch(array):
    """Force every value to be read (a view alone costs nothing)."""
    return float(np.asarray(array).sum(dtype=np.float64))


def make_files(folder, mib):
    frames = max(1, (mib << 20) // (256 * 256 * 2))
    shape = (frames, 256, 256)
    npy = os.path.join(folder, "bench.npy")
    out = np.lib.format.open_memmap(npy, mode="w+", dtype="<u2", shape=shape)
    rng = np.random.default_rng(0)
    block = rng.integers(0, 4000, size=(min(frames, 64), 256, 256), dtype=np.uint16)
    for i in range(0, frames, block.shape[0]):
        n = min(block.shape[0], frames - i)
        out[i : i + n] = block[:n]
    out.flush()
    del out
    files = {"npy": npy}
    for fmt in ("mrc", "mib"):
        path = os.path.join(folder, f"bench.{fmt}")
        emio.convert(npy, path, overwrite=True)
        files[fmt] = path
    return files


def rsciio_reader(fmt):
    if fmt == "mrc":
        from rsciio.mrc import file_reader
    elif fmt == "mib":
        from rsciio.quantumdetector import file_reader
    else:
        return None
    return file_reader


def bench(files, repeat):
    import dask
    import dask.array  # noqa: F401  (imported before timing: lazy opens build Dask arrays)

    rows = []
    for fmt, path in files.items():
        size = os.path.getsize(path)
        theirs = rsciio_reader(fmt)
        touch(emio.file_reader(path)[0]["data"])  # warm the page cache
        e_read, _ = median_time(lambda: emio.file_reader(path)[0]["data"], repeat)
        e_eager, _ = median_time(lambda: touch(emio.file_reader(path)[0]["data"]), repeat)
        e_open, lazy = median_time(lambda: emio.file_reader(path, lazy=True)[0]["data"], repeat)
        with dask.config.set(scheduler="threads"):
            e_sum, e_total = median_time(lambda: float(lazy.sum(dtype=np.float64).compute()), repeat)
        row = {"format": fmt, "MiB": size / 2**20, "emio read": e_read, "emio eager": e_eager, "emio open": e_open, "emio lazy sum": e_sum}
        if theirs is not None:
            touch(theirs(path)[0]["data"])
            r_read, _ = median_time(lambda: theirs(path)[0]["data"], repeat)
            r_eager, _ = median_time(lambda: touch(theirs(path)[0]["data"]), repeat)
            r_open, rlazy = median_time(lambda: theirs(path, lazy=True)[0]["data"], repeat)
            with dask.config.set(scheduler="threads"):
                r_sum, r_total = median_time(lambda: float(rlazy.sum(dtype=np.float64).compute()), repeat)
            if r_total != e_total:
                print(f"warning: {fmt}: sums differ (emio {e_total}, rsciio {r_total})", file=sys.stderr)
            row.update({"rsciio read": r_read, "rsciio eager": r_eager, "rsciio open": r_open, "rsciio lazy sum": r_sum})
        rows.append(row)
    return rows


def report(rows):
    print(
        f"{'format':<6} {'MiB':>7} | {'eager read s':>17} {'x':>7} | {'eager read+sum s':>17} {'x':>6} "
        f"| {'lazy open s':>17} {'x':>7} | {'lazy sum s':>17} {'x':>6}"
    )
    for r in rows:
        def pair(kind):
            e = r[f"emio {kind}"]
            t = r.get(f"rsciio {kind}")
            if t is None:
                return f"{e:8.4f} {'-':>8}", f"{'-':>6}"
            return f"{e:8.4f} {t:8.4f}", f"{t / e:6.1f}"
        read, xr = pair("read")
        eager, xe = pair("eager")
        lazy_open, xo = pair("open")
        lazy_sum, xs = pair("lazy sum")
        print(f"{r['format']:<6} {r['MiB']:7.1f} | {read} {xr:>7} | {eager} {xe} | {lazy_open} {xo:>7} | {lazy_sum} {xs}")
    print("(columns: emio, rsciio; x = rsciio time / emio time)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=512, help="size of each generated file in MiB")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--dir", default=None, help="folder for the generated files (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        files = make_files(folder, args.mib)
        report(bench(files, args.repeat))


if __name__ == "__main__":
    main()
