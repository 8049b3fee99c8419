"""Helper of ``benches/emio_bench.rs`` (run with ``--python PY``): writes its HDF5 rows with
HyperSpy itself (rsciio over h5py, rsciio's default chunking) and times h5py's read of
them in the same run.

    python benches/rsciio_h5.py write KIND GZIP NPY PATH   # KIND emd|hspy, GZIP 0|1, values from NPY
    python benches/rsciio_h5.py h5py PATH RUNS              # prints: median seconds, min, max

The values are the Rust benchmark's generated detector data, handed over as an ``.npy``
file written by emio (so the benchmark checks emio's sum of the file against its own
generator). Not a test.
"""

import statistics
import sys
import time

import numpy as np


def write(kind, gzip, npy, path):
    import hyperspy.api as hs

    s = hs.signals.Signal2D(np.load(npy))
    s.metadata.General.title = "bench"
    if kind == "hspy":
        s.save(path, compression="gzip" if gzip else None, overwrite=True)
    else:
        s.save(path, overwrite=True, **({"compression": "gzip"} if gzip else {}))


def h5py_read(path, runs):
    """Time h5py's full read of the file's largest dataset (the signal's data)."""
    import h5py

    sizes = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: sizes.update({name: obj.nbytes})
                     if isinstance(obj, h5py.Dataset) else None)
    dataset = max(sizes, key=sizes.get)

    def once():
        t = time.perf_counter()
        with h5py.File(path, "r") as f:
            f[dataset][...]
        return time.perf_counter() - t

    once()
    times = sorted(once() for _ in range(runs))
    print(statistics.median(times), times[0], times[-1])


def main(argv):
    if argv[0] == "write":
        kind, gzip, npy, path = argv[1:5]
        write(kind, gzip == "1", npy, path)
    elif argv[0] == "h5py":
        h5py_read(argv[1], int(argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
