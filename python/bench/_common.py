"""Helpers shared by the benchmark scripts in this folder (imported as a sibling module:
run the scripts as ``python bench/<script>.py``)."""

import statistics
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
