"""Helpers shared by the benchmark scripts in this folder (imported as a sibling module:
run the scripts as ``python bench/<script>.py``)."""

import contextlib
import os
import shutil
import statistics
import tempfile
import time


def median_time(fn, repeat, warm_up=False):
    """Median wall time of ``repeat`` calls of ``fn`` (after one untimed call when
    ``warm_up``), and the last call's result."""
    if warm_up:
        fn()
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def forget_open_files():
    """Empty emio's per-process cache of open files, so a lazy open starts afresh."""
    from emio import _lazy

    with _lazy._open_lock:
        _lazy._open_files.clear()
        _lazy._views.clear()


def add_folder_arguments(parser, repeat=3):
    """The options every benchmark here shares: ``--repeat`` (runs per measurement) and
    ``--dir`` (where the generated files go)."""
    parser.add_argument("--repeat", type=int, default=repeat, help="runs per measurement (median)")
    parser.add_argument("--dir", default=None,
                        help="folder for the generated files, kept for later runs "
                             "(default: a temporary one, removed)")


@contextlib.contextmanager
def bench_folder(kept, prefix):
    """The folder of a benchmark's files: ``kept`` (``--dir``: created if needed and left
    in place), or a temporary one removed at the end; its path is printed with the core
    count."""
    folder = kept or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(folder, exist_ok=True)
    print(f"{os.cpu_count()} cores; files in {folder}")
    try:
        yield folder
    finally:
        if kept is None:
            shutil.rmtree(folder, ignore_errors=True)
