"""Helper of ``benches/emio_bench.rs`` (run with ``--python PY``): writes its HDF5 rows with
HyperSpy itself (rsciio over h5py, rsciio's default chunking) and times h5py's read of
them in the same run.

    python benches/rsciio_h5.py write KIND GZIP SHAPE PATH   # KIND emd|hspy, GZIP 0|1, SHAPE 64x64x256x256
    python benches/rsciio_h5.py h5py PATH RUNS                # prints: median seconds, min, max

The values are the Rust benchmark's synthetic counts (``synthetic_count`` in
``emio_bench.rs``: sparse low counts and a bright disc, from a hash of the flat index), so
the benchmark checks emio's sum of the file against its own generator. Not a test.
"""

import statistics
import sys
import time

import numpy as np

MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def hash64(x):
    """``hash`` of emio_bench.rs on uint64 arrays (wrapping multiply)."""
    x = x ^ (x >> np.uint64(33))
    x = x * np.uint64(0xFF51AFD7ED558CCD)
    return x ^ (x >> np.uint64(33))


def counts(shape):
    """The uint16 values emio_bench.rs generates for a dataset of ``shape`` (C order)."""
    inner = shape[-1]
    data = np.empty(shape, np.uint16)
    flat = data.reshape(-1)
    step = 1 << 22
    with np.errstate(over="ignore"):
        for begin in range(0, flat.size, step):
            idx = np.arange(begin, min(begin + step, flat.size), dtype=np.uint64)
            row = ((idx // np.uint64(inner)) % np.uint64(inner)).astype(np.int64)
            col = (idx % np.uint64(inner)).astype(np.int64)
            dr, dc = row - inner // 2, col - inner // 2
            disc = dr * dr + dc * dc < (inner // 8) ** 2
            h = hash64(idx)
            low = (h & np.uint64(7)).astype(np.int64) - 5
            count = np.where(disc, 200 + (h & np.uint64(0x3FF)).astype(np.int64), np.maximum(low, 0))
            flat[begin:begin + idx.size] = np.minimum(count, 4095)
    return data


def write(kind, gzip, shape, path):
    import hyperspy.api as hs

    s = hs.signals.Signal2D(counts(shape))
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
        kind, gzip, shape, path = argv[1:5]
        write(kind, gzip == "1", tuple(int(n) for n in shape.split("x")), path)
    elif argv[0] == "h5py":
        h5py_read(argv[1], int(argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
