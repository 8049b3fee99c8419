"""Benchmark emio's full reads of compressed files against the C-backed readers that wrote
them (issue 21): the same file, read by both in the same run.

- TIFF written by tifffile (imagecodecs underneath): Deflate, Deflate with the horizontal
  predictor, LZW and Zstd; read back by ``tifffile.imread`` (given every core:
  ``maxworkers=os.cpu_count()``).
- Zarr v3 written by zarr-python: its default codec (Zstd), Blosc LZ4 with bit shuffle
  (emio's default) and Blosc Zstd with byte shuffle (HyperSpy's); one chunk per image,
  read back by ``zarr.open_array(path)[...]``.
- MRC written by mrcfile with gzip and with bzip2 compression (one compressed stream, as
  mrcfile writes it); read back by ``mrcfile.open(path).data``.

(gzip HDF5 written by HyperSpy against h5py: ``bench_h5.py``.)

The values are a stack of smooth images with shot noise (uint16 Poisson counts of ~500:
``_realistic.images``), ``round(128 * scale)`` images of 1024 x 1024: 256 MiB at scale 1,
as in the issue. emio's read is the one rsciio code makes, ``emio.file_reader(path)[0]
["data"]`` (every chunk, strip or stream decoded in Rust, chunks in parallel, straight into
the output), each run from a fresh open. Every time is the median of ``--repeat`` runs after
one warm-up run (warm page cache); the two arrays are compared once (a mismatch stops the
benchmark). ``peer/emio`` is the peer's time over emio's (> 1: emio is faster); the issue's
goal is >= 1.5x on every row.

    python python/bench/bench_compressed.py                      # scale 0.5: 128 MiB of values
    python python/bench/bench_compressed.py --scale 1 --dir /tmp/emio-compressed

The numbers measure the emio build installed in the venv: build it in release mode
(``pip install ./python``) before drawing conclusions. Not a test: it asserts nothing
about speed.
"""

import argparse
import os
import shutil
import tempfile

import numpy as np

import emio
from _common import forget_open_files, median_time
from _realistic import images

FRAME = (1024, 1024)


def _tiff(compression, predictor=False):
    def write(path, data):
        import tifffile

        tifffile.imwrite(path, data, compression=compression, predictor=predictor)

    def read(path):
        import tifffile

        return tifffile.imread(path, maxworkers=os.cpu_count())

    return write, read


def _zarr(compressors):
    def write(path, data):
        import zarr

        z = zarr.create_array(store=path, shape=data.shape, chunks=(1,) + FRAME, dtype=data.dtype,
                              compressors=compressors(), zarr_format=3, overwrite=True)
        z[...] = data

    def read(path):
        import zarr

        return zarr.open_array(path, mode="r")[...]

    return write, read


def _mrc(compression):
    def write(path, data):
        import mrcfile

        with mrcfile.new(path, compression=compression, overwrite=True) as m:
            m.set_data(data)

    def read(path):
        import mrcfile

        with mrcfile.open(path, mode="r") as m:
            return np.array(m.data)

    return write, read


def _blosc(cname, clevel, shuffle):
    def make():
        from zarr.codecs import BloscCodec

        return [BloscCodec(cname=cname, clevel=clevel, shuffle=shuffle)]

    return make


#: name, file suffix, peer, (write, read)
ROWS = [
    ("tiff-deflate", ".tif", "tifffile", _tiff("zlib")),
    ("tiff-deflate-predictor", ".tif", "tifffile", _tiff("zlib", predictor=True)),
    ("tiff-lzw", ".tif", "tifffile", _tiff("lzw")),
    ("tiff-zstd", ".tif", "tifffile", _tiff("zstd")),
    ("zarr-zstd", ".zarr", "zarr-python", _zarr(lambda: "auto")),
    ("zarr-blosc-lz4-bitshuffle", ".zarr", "zarr-python", _zarr(_blosc("lz4", 5, "bitshuffle"))),
    ("zarr-blosc-zstd-shuffle", ".zarr", "zarr-python", _zarr(_blosc("zstd", 1, "shuffle"))),
    ("mrc-gzip", ".mrc.gz", "mrcfile", _mrc("gzip")),
    ("mrc-bzip2", ".mrc.bz2", "mrcfile", _mrc("bzip2")),
]


def stored_bytes(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def bench_row(folder, row, scale, repeat):
    name, suffix, peer, (write, read) = row
    shape = (max(1, round(128 * scale)),) + FRAME
    path = os.path.join(folder, f"{name}-{'x'.join(map(str, shape))}{suffix}")
    if not os.path.exists(path):
        write(path, images(0, shape[0], FRAME, seed=21))

    def emio_read():
        forget_open_files()
        return emio.file_reader(path)[0]["data"]

    ours, theirs = emio_read(), read(path)
    if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
        raise SystemExit(f"{path}: emio's array {ours.shape} differs from {peer}'s {theirs.shape}")
    nbytes = ours.nbytes
    del ours, theirs
    t_peer, _ = median_time(lambda: read(path), repeat, warm_up=True)
    t_emio, _ = median_time(emio_read, repeat, warm_up=True)
    return {
        "name": name,
        "peer": peer,
        "MiB": stored_bytes(path) / 2**20,
        "ratio": nbytes / stored_bytes(path),
        "peer_t": t_peer,
        "emio_t": t_emio,
        "nbytes": nbytes,
    }


def report(rows):
    print(f"{'file':28} {'MiB':>6} {'ratio':>5} | {'peer':12} {'peer ms':>8} {'emio ms':>8} "
          f"{'peer/emio':>9} {'emio GB/s':>9} | goal >= 1.5x")
    for r in rows:
        speedup = r["peer_t"] / r["emio_t"]
        print(f"{r['name']:28} {r['MiB']:6.0f} {r['ratio']:5.2f} | {r['peer']:12} "
              f"{r['peer_t'] * 1e3:8.0f} {r['emio_t'] * 1e3:8.0f} {speedup:8.2f}x "
              f"{r['nbytes'] / r['emio_t'] / 1e9:9.2f} | {'met' if speedup >= 1.5 else 'NOT met'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.5,
                        help="fraction of the 128 images (1: 256 MiB of values)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--dir", default=None,
                        help="folder for the written files, kept for later runs "
                             "(default: a temporary one, removed)")
    parser.add_argument("--only", default=None,
                        help="comma-separated names or prefixes (tiff, zarr, mrc, tiff-lzw, ...)")
    args = parser.parse_args(argv)
    folder = args.dir or tempfile.mkdtemp(prefix="emio-compressed-")
    os.makedirs(folder, exist_ok=True)
    wanted = args.only.split(",") if args.only else None
    print(f"{os.cpu_count()} cores; files in {folder}")
    rows = []
    try:
        for row in ROWS:
            if wanted and not any(row[0].startswith(w) for w in wanted):
                continue
            rows.append(bench_row(folder, row, args.scale, args.repeat))
            print(f"  {row[0]} done", flush=True)
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    report(rows)


if __name__ == "__main__":
    main()
