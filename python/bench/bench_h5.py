"""Benchmark emio's HDF5 reads against h5py on files written by HyperSpy/rsciio (issue 17):
the same files, read by both in the same run.

Four files of the same 4D-STEM uint16 data (a disc of ~200 counts drifting across the scan on
a Poisson background of 0.05 counts/pixel: ``_realistic.diffraction_scan``), saved by
HyperSpy (``Signal2D.save``, i.e. rsciio's writers, h5py underneath) with rsciio's default
chunking, which does not follow the frames:

- NCEM ``.emd``, uncompressed and gzip: rsciio stores the array transposed, so a 64×64 scan
  of 256×256 frames is stored (256, 256, 64, 64) in chunks of (11, 11, 64, 64) (rsciio picks
  the chunks on the transposed shape); emio presents it in HyperSpy's order.
- ``.hspy``, uncompressed and gzip (+ shuffle, rsciio's default): a 256×256 scan of 64×64
  frames in chunks of (11, 11, 64, 64).

For each: ``cat`` of the file; the full read into memory by h5py (``dataset[...]``) and by
emio (``emio.file_reader``: every chunk decoded in Rust, chunk-parallel, straight into the
output); a sum of every value (h5py: read then ``ndarray.sum``; emio: ``emio.stats``,
streamed on all cores in bounded memory); emio's lazy open (``file_reader(lazy=True)``).
Ratios: ``h5py/emio`` is h5py's time over emio's (> 1: emio is faster); ``x cat`` is
emio's throughput over ``cat``'s. Issue 17's targets: full read >= 0.8x cat (uncompressed),
sum >= 1.0x cat, gzip full read >= 2x h5py, lazy open <= 5 ms.

    python python/bench/bench_h5.py                        # scale 0.25: 135 MiB files
    python python/bench/bench_h5.py --scale 1 --dir /tmp/emio-h5   # the issue's 0.54 GB

Every time is the median of ``--repeat`` runs after one warm-up run (warm page cache).
emio's and h5py's arrays are compared once (same values in the same logical order); a
mismatch stops the benchmark. The numbers measure the emio build installed in the venv: build
it in release mode (``pip install ./python``) before drawing conclusions. Not a test: it
asserts nothing about speed.
"""

import argparse
import os
import subprocess

import numpy as np

import emio
from _common import add_folder_arguments, bench_folder, forget_open_files, median_time
from _realistic import diffraction_scan


def make(folder, kind, gzip, scale):
    """Save the benchmark signal of ``kind`` (``emd`` or ``hspy``) with HyperSpy; returns
    the path, the dataset's path in the file and the sum of the values."""
    import hyperspy.api as hs

    if kind == "emd":
        nav, sig = (max(1, round(64 * scale)), 64), (256, 256)
    else:
        nav, sig = (max(1, round(256 * scale)), 256), (64, 64)
    shape = nav + sig
    name = f"rsciio-{kind}-{'gzip' if gzip else 'raw'}-{'x'.join(map(str, shape))}"
    path = os.path.join(folder, f"{name}.{kind}")
    data = diffraction_scan(shape, seed=17)
    total = int(data.sum(dtype=np.uint64))
    if not os.path.exists(path):
        s = hs.signals.Signal2D(data)
        s.metadata.General.title = "bench"
        if kind == "hspy":
            s.save(path, compression="gzip" if gzip else None, overwrite=True)
        else:
            s.save(path, overwrite=True, **({"compression": "gzip"} if gzip else {}))
    inner = "signals/bench/data" if kind == "emd" else "Experiments/bench/data"
    return path, inner, total


def cat_time(path, repeat):
    def run():
        with open(os.devnull, "wb") as null:
            subprocess.run(["cat", path], stdout=null, check=True)

    return median_time(run, repeat, warm_up=True)[0]


def bench_file(path, inner, total, repeat):
    import h5py

    def h5py_read():
        with h5py.File(path, "r") as f:
            return f[inner][...]

    def emio_read():
        return emio.file_reader(path)[0]["data"]

    with h5py.File(path, "r") as f:
        ds = f[inner]
        stored, chunks, compression = ds.shape, ds.chunks, ds.compression
    ours, theirs = emio_read(), h5py_read()
    if path.endswith(".emd"):
        theirs = theirs.T  # NCEM stores the transposed array; both present HyperSpy's order
    if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
        raise SystemExit(f"{path}: emio's array {ours.shape} differs from h5py's {theirs.shape}")
    del ours, theirs
    nbytes = int(np.prod(stored)) * 2
    t_cat = cat_time(path, repeat)
    t_h5py, _ = median_time(h5py_read, repeat, warm_up=True)
    t_emio, _ = median_time(emio_read, repeat, warm_up=True)
    t_h5py_sum, s_h5py = median_time(lambda: int(h5py_read().sum(dtype=np.uint64)), repeat, warm_up=True)
    t_emio_sum, s_emio = median_time(lambda: emio.stats(path, bins=0)["sum"], repeat, warm_up=True)
    if s_h5py != total or int(s_emio) != total:
        raise SystemExit(f"{path}: sums {s_emio} (emio), {s_h5py} (h5py), expected {total}")

    def lazy_open():
        forget_open_files()
        return emio.file_reader(path, lazy=True)[0]["data"]

    t_open, _ = median_time(lazy_open, max(repeat, 20), warm_up=True)
    return {
        "file": os.path.basename(path),
        "stored": stored,
        "chunks": chunks,
        "compression": compression or "none",
        "MiB": os.path.getsize(path) / 2**20,
        "cat": nbytes / t_cat,
        "read": (t_h5py, t_emio),
        "sum": (t_h5py_sum, t_emio_sum),
        "open": t_open,
        "nbytes": nbytes,
        "file_bytes": os.path.getsize(path),
        "t_cat": t_cat,
    }


def report(rows):
    print(f"{'file':36} {'MiB':>6} {'cat GB/s':>8} | {'full read: h5py  emio  h5py/emio  x cat':^40} | "
          f"{'sum: h5py  emio  h5py/emio  x cat':^38} | {'open ms':>7}")
    for r in rows:
        cat_rate = r["file_bytes"] / r["t_cat"] / 1e9

        def cell(times):
            theirs, ours = times
            rate = r["nbytes"] / ours / 1e9
            return (f"{theirs * 1e3:7.0f}ms {ours * 1e3:6.0f}ms {theirs / ours:6.2f}x "
                    f"{rate:5.2f} GB/s {rate / cat_rate:5.2f}x")

        print(f"{r['file']:36} {r['MiB']:6.0f} {cat_rate:8.2f} | {cell(r['read'])} | "
              f"{cell(r['sum'])} | {r['open'] * 1e3:7.2f}")
        print(f"{'':36} stored {r['stored']}, chunks {r['chunks']}, {r['compression']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.25,
                        help="fraction of the first navigation axis (1: 0.54 GB files)")
    add_folder_arguments(parser)
    parser.add_argument("--only", default="emd,hspy", help="comma-separated subset of emd,hspy")
    args = parser.parse_args(argv)
    rows = []
    with bench_folder(args.dir, "emio-h5-") as folder:
        for kind in args.only.split(","):
            for gzip in (False, True):
                path, inner, total = make(folder, kind, gzip, args.scale)
                rows.append(bench_file(path, inner, total, args.repeat))
    report(rows)


if __name__ == "__main__":
    main()
