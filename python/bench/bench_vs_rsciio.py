"""Benchmark emio against rsciio in the same run, on generated uncompressed files: a 4D
MIB scan (uint16 counts, big-endian as Merlin detectors write them, 256×256 frames) and a
float32 MRC stack (256×256 images).

    python bench/bench_vs_rsciio.py --dir /data/bench             # 2 GiB each (issue 10)
    python bench/bench_vs_rsciio.py --mib 256 --repeat 3           # quick run
    python bench/bench_vs_rsciio.py --keep --dir D ; ... --reuse --dir D   # generate once

Measured for each library and format (median of ``--repeat`` runs, page cache warm for
both: every file is read once before timing):

- eager read: ``file_reader(path)`` returning the array;
- eager read + sum: the same, then a float64 sum that touches every value;
- lazy open: ``file_reader(path, lazy=True)`` returning the Dask array (graph built),
  called repeatedly (warm, as ``timeit`` measures); "lazy open, 1st call": the first call
  after the other library ran (cold caches);
- lazy sum: ``.sum(dtype=float64).compute()`` of that array on Dask's threaded scheduler;
- lazy open + sum: both together (what a user waits for).

The lazy rows marked "(warm)" are medians of repeated runs in one process, where emio's
tasks reuse the memory-mapped file it keeps open per process between repeats; the rows
marked "1st after open" are the first run after the file was opened afresh (emio's
per-process cache of open files emptied first): what a user pays once. Every sum is
checked against the generator's own sum of the values it wrote (computed with numpy from
the same seed, without reading the file); a mismatch stops the benchmark.

Ratios are rsciio time / emio time (> 1: emio is faster). Issue 10's targets: eager read
>= 3x rsciio and lazy open >= 100x rsciio for MIB and MRC; each is printed as met or not,
with the time it would take, and whether that is below the cost of building any Dask
array at all (then the target cannot be met). Not a test: it asserts nothing.

What the two libraries do (rsciio 0.15): rsciio's MIB and MRC readers build a Dask array
over ``numpy.memmap`` slices (``rsciio.utils.file.memmap_distributed``: one task per
chunk maps the file again and slices it) and, when not lazy, compute it: an eager read is
a full copy made on Dask's threads, in the file's byte order (``>u2`` for MIB). Its MIB
reader also parses frame timestamps in Python to find the scan shape. emio's eager read
of these files is a writable view of a private copy-on-write map of the file (no copy;
``>u2`` for MIB too), and
its lazy array is one graph layer whose tasks (made on demand) slice that view (per worker
process), with "auto" chunks of whole frames (whole scan rows for MIB).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

import emio
from _common import median_time
from _realistic import diffraction, images

FRAME = (256, 256)
#: Targets of issue 10 (rsciio time / emio time).
TARGETS = {"eager read": 3.0, "lazy open": 100.0, "lazy open, 1st call": 100.0}


def touch(array):
    """Force every value to be read (a view alone costs nothing)."""
    return float(np.asarray(array).sum(dtype=np.float64))


def shapes(mib):
    """The generated shapes for files of about ``mib`` MiB: MIB (scan_y, scan_x, 256, 256)
    uint16 with 128 scan columns (128×128 at 2 GiB), MRC (z, 256, 256) float32."""
    frames = max(1, (mib << 20) // (FRAME[0] * FRAME[1] * 2))
    columns = min(128, frames)
    mib_shape = (max(1, frames // columns), columns) + FRAME
    mrc_shape = (max(1, (mib << 20) // (FRAME[0] * FRAME[1] * 4)),) + FRAME
    return {"mib": (mib_shape, "<u2"), "mrc": (mrc_shape, "<f4")}


def generator_block(shape, dtype):
    """The distinct frames the generator repeats (64 frames, seed 0): detector-like values
    (``_realistic``): diffraction frames with a drifting disc for 4D data (MIB), a smooth
    image with shot noise for stacks (MRC)."""
    frames = min(int(np.prod(shape[:-2])), 64)
    if len(shape) == 4:
        return diffraction(0, frames, shape[1], shape[0], FRAME, seed=0, dtype=dtype)
    return images(0, frames, FRAME, seed=0, dtype=dtype)


def generator_sum(shape, dtype):
    """The sum of every value the generator writes for ``shape``, from the generator alone."""
    frames = int(np.prod(shape[:-2]))
    block = generator_block(shape, dtype)
    per_frame = block.reshape(len(block), -1).sum(axis=1, dtype=np.float64)
    full, rest = divmod(frames, len(block))
    return float(per_frame.sum() * full + per_frame[:rest].sum())


def make_file(folder, fmt, shape, dtype):
    """Write ``folder/bench.<fmt>`` with emio, streamed from a memory-mapped NPY of
    detector-like values (64 distinct frames repeated), which is then deleted."""
    npy = os.path.join(folder, f"bench-{fmt}.npy")
    out = np.lib.format.open_memmap(npy, mode="w+", dtype=dtype, shape=shape)
    flat = out.reshape((-1,) + FRAME)
    block = generator_block(shape, dtype)
    for i in range(0, len(flat), len(block)):
        n = min(len(block), len(flat) - i)
        flat[i : i + n] = block[:n]
    out.flush()
    del out, flat
    path = os.path.join(folder, f"bench.{fmt}")
    emio.convert(npy, path, overwrite=True)
    os.remove(npy)
    return path


def rsciio_reader(fmt):
    if fmt == "mrc":
        from rsciio.mrc import file_reader
    else:
        from rsciio.quantumdetector import file_reader
    return file_reader


KINDS = ("eager read", "eager read + sum", "lazy open", "lazy sum", "lazy open + sum")
#: Lazy kinds whose first run after a fresh open is reported beside the warm median.
FIRST_AFTER_OPEN = ("lazy sum", "lazy open + sum")
#: Rows of the report: the kinds, the lazy open's first call of each run, and the first run
#: after opening of the lazy sums.
ROWS = (
    KINDS[:3]
    + ("lazy open, 1st call", "lazy sum (warm)", "lazy sum, 1st after open")
    + ("lazy open + sum (warm)", "lazy open + sum, 1st after open")
)
#: Calls in a row of the quick steps: the first runs with caches cold from the other
#: library's run, the rest warm (the ``timeit`` convention).
QUICK_CALLS = {"eager read": 5, "lazy open": 5}


def steps(reader, path):
    """The measured steps of one library on one file, by kind. "lazy sum" computes the
    array of the last "lazy open"."""
    lazy = {}

    def lazy_open():
        lazy["data"] = reader(path, lazy=True)[0]["data"]
        return lazy["data"]

    return {
        "eager read": lambda: reader(path)[0]["data"],
        "eager read + sum": lambda: touch(reader(path)[0]["data"]),
        "lazy open": lazy_open,
        "lazy sum": lambda: float(lazy["data"].sum(dtype=np.float64).compute()),
        "lazy open + sum": lambda: float(reader(path, lazy=True)[0]["data"].sum(dtype=np.float64).compute()),
    }


def forget_open_files():
    """Empty emio's per-process cache of open files (the lazy arrays' tasks reuse it), so
    the next lazy run pays for opening and mapping the file as a new process would."""
    from emio import _lazy

    with _lazy._open_lock:
        _lazy._open_files.clear()


def bench(files, repeat, sizes):
    """Time both libraries on each file, alternating emio and rsciio run by run, so that
    load from other processes on the machine hits both alike. Quick steps are called
    several times in a row per run: "lazy open" is the median of the repeated (warm)
    calls, "lazy open, 1st call" of the first calls, made right after the other library
    ran (caches and branch predictors cold: on a small shared machine this alone makes a
    sub-millisecond call two to four times slower)."""
    import dask
    import dask.array  # noqa: F401  (imported before timing: lazy opens build Dask arrays)

    results = {}
    for fmt, path in files.items():
        print(f"{fmt}: {path} ({os.path.getsize(path) / 2**20:.0f} MiB)", file=sys.stderr)
        libraries = {"emio": emio.file_reader, "rsciio": rsciio_reader(fmt)}
        runs = {name: steps(reader, path) for name, reader in libraries.items()}
        times = {name: {row: [] for row in ROWS} for name in libraries}
        totals = {}
        for name, reader in libraries.items():
            data = reader(path)[0]["data"]
            touch(data)  # warm the page cache
            lazy = reader(path, lazy=True)[0]["data"]
            print(
                f"  {name:<6} {data.dtype.str} {data.shape}, lazy: {lazy.npartitions} Dask chunks "
                f"of {lazy.chunksize}",
                file=sys.stderr,
            )
            del data, lazy
        with dask.config.set(scheduler="threads"):
            for kind in KINDS:
                for run in range(repeat):
                    for name in libraries:
                        calls = []
                        for _ in range(QUICK_CALLS.get(kind, 1)):
                            if kind in FIRST_AFTER_OPEN and run == 0 and not calls:
                                forget_open_files()
                                if kind == "lazy sum":
                                    runs[name]["lazy open"]()
                            t0 = time.perf_counter()
                            result = runs[name][kind]()
                            calls.append(time.perf_counter() - t0)
                            if kind in ("eager read + sum", "lazy sum", "lazy open + sum"):
                                totals[(name, kind)] = result
                            del result
                        if kind == "lazy open":
                            times[name]["lazy open, 1st call"].append(calls[0])
                            times[name][kind].extend(calls[1:] or calls)
                        elif kind in FIRST_AFTER_OPEN and run == 0:
                            times[name][f"{kind}, 1st after open"].append(calls[0])
                        elif kind in FIRST_AFTER_OPEN:
                            times[name][f"{kind} (warm)"].extend(calls)
                        else:
                            times[name][kind].extend(calls)
        expected = generator_sum(*sizes[fmt])
        wrong = {k: v for k, v in totals.items() if v != expected}
        if wrong:
            raise SystemExit(f"{fmt}: sums differ from the generator's {expected}: {wrong}")
        print(f"  sums equal the generator's ({expected:.6e})", file=sys.stderr)
        results[fmt] = tuple(
            {row: statistics.median(times[name][row]) for row in ROWS} for name in libraries
        )
    return results


def dask_array_floor(repeat=200):
    """Seconds to build the cheapest possible Dask array (one chunk, a one-task graph):
    no lazy open can be faster than this."""
    import dask.array as da

    meta = np.empty((0,), dtype=np.float32)
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        da.Array({(f"floor-{i}", 0): 0}, f"floor-{i}", ((1,),), meta=meta)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(results):
    floor = dask_array_floor()
    print(f"{'format':<6} {'measurement':<32} {'emio s':>9} {'rsciio s':>9} {'x':>9}")
    verdicts = []
    for fmt, (ours, theirs) in results.items():
        for row in ROWS:
            e, t = ours[row], theirs[row]
            print(f"{fmt:<6} {row:<32} {e:9.5f} {t:9.5f} {t / e:9.1f}")
        for kind, factor in TARGETS.items():
            e, t = ours[kind], theirs[kind]
            ok = t / e >= factor
            line = (
                f"{fmt} {kind}: {t / e:.1f}x rsciio (target {factor:g}x): "
                f"{'met' if ok else 'NOT met'} (emio {e * 1e3:.3f} ms, rsciio {t * 1e3:.3f} ms"
            )
            if not ok:
                line += f"; the target needs emio <= {t / factor * 1e3:.3f} ms"
                if kind.startswith("lazy open") and t / factor < floor:
                    line += (
                        f", less than building the smallest Dask array object alone "
                        f"({floor * 1e3:.3f} ms), so it cannot be met"
                    )
            verdicts.append(line + ")")
    print("(x = rsciio time / emio time; > 1 means emio is faster)")
    print("\n".join(verdicts))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=2048, help="size of each generated file in MiB (default 2048)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--dir", default=None, help="folder for the generated files (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files in --dir")
    parser.add_argument("--reuse", action="store_true", help="use bench.mib/bench.mrc already in --dir")
    parser.add_argument("--formats", default="mib,mrc", help="comma-separated subset of mib,mrc")
    args = parser.parse_args(argv)
    # rsciio warns on every MIB open that there is no .hdr file (emio needs none either:
    # both read the scan shape from the frame timestamps).
    import rsciio

    rsciio.set_log_level("ERROR")
    if (args.keep or args.reuse) and not args.dir:
        parser.error("--keep and --reuse need --dir")
    wanted = [f for f in args.formats.split(",") if f]
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    folder = args.dir if args.keep or args.reuse else tempfile.mkdtemp(dir=args.dir)
    try:
        files = {}
        for fmt, (shape, dtype) in shapes(args.mib).items():
            if fmt not in wanted:
                continue
            path = os.path.join(folder, f"bench.{fmt}")
            if not (args.reuse and os.path.exists(path)):
                t0 = time.perf_counter()
                make_file(folder, fmt, shape, dtype)
                print(f"generated {path} {shape} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            files[fmt] = path
        if args.repeat < 2:
            parser.error("--repeat must be at least 2 (the first run after opening is reported apart)")
        report(bench(files, args.repeat, shapes(args.mib)))
    finally:
        if not (args.keep or args.reuse):
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
