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

Beside each row, the codec alone: every stored block (strip, chunk file or stream) of the
same file decoded from memory by imagecodecs' C decoder (libdeflate, libzstd,
c-blosc, libbzip2, its LZW) on all cores (a thread pool: imagecodecs releases the GIL),
without reading files or assembling an array: what no reader of that codec on this
machine can beat, so ``codec/emio`` (the codec's time over emio's) says how close emio is.

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
import glob
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import emio
from _common import add_folder_arguments, bench_folder, forget_open_files, median_time
from _realistic import images

FRAME = (1024, 1024)


def _tiff(compression, predictor=False):
    def write(path, data):
        import tifffile

        tifffile.imwrite(path, data, compression=compression, predictor=predictor)

    def read(path):
        import tifffile

        return tifffile.imread(path, maxworkers=os.cpu_count())

    def blocks(path):
        import imagecodecs
        import tifffile

        codec = {"zlib": imagecodecs.deflate_decode, "lzw": imagecodecs.lzw_decode,
                 "zstd": imagecodecs.zstd_decode}[compression]
        stored = []
        with tifffile.TiffFile(path) as tif, open(path, "rb") as f:
            for page in tif.pages:
                row = page.imagewidth * page.samplesperpixel * page.bitspersample // 8
                for k, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts)):
                    f.seek(offset)
                    rows = min(page.rowsperstrip, page.imagelength - k * page.rowsperstrip)
                    stored.append((f.read(count), rows * row))
        # With the strip's size as tifffile passes it (libdeflate needs it to decode at once).
        return (lambda block: codec(block[0], out=block[1])), stored
    return write, read, blocks


def _zarr(compressors):
    def write(path, data):
        import zarr

        z = zarr.create_array(store=path, shape=data.shape, chunks=(1,) + FRAME, dtype=data.dtype,
                              compressors=compressors(), zarr_format=3, overwrite=True)
        z[...] = data

    def read(path):
        import zarr

        return zarr.open_array(path, mode="r")[...]

    def blocks(path):
        import imagecodecs

        decode = imagecodecs.blosc_decode if "blosc" in path else imagecodecs.zstd_decode
        stored = []
        for name in sorted(glob.glob(os.path.join(path, "c", "**"), recursive=True)):
            if os.path.isfile(name):
                with open(name, "rb") as f:
                    stored.append(f.read())
        return decode, stored

    return write, read, blocks


def _mrc(compression):
    def write(path, data):
        import mrcfile

        with mrcfile.new(path, compression=compression, overwrite=True) as m:
            m.set_data(data)

    def read(path):
        import mrcfile

        with mrcfile.open(path, mode="r") as m:
            return np.array(m.data)

    def blocks(path):
        import imagecodecs

        decode = {"gzip": imagecodecs.gzip_decode, "bzip2": imagecodecs.bz2_decode}[compression]
        with open(path, "rb") as f:
            return decode, [f.read()]

    return write, read, blocks


def _blosc(cname, clevel, shuffle):
    def make():
        from zarr.codecs import BloscCodec

        return [BloscCodec(cname=cname, clevel=clevel, shuffle=shuffle)]

    return make


#: name, file suffix, peer, (write, read, stored blocks with their decoder)
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


def read_time(read, repeat):
    """Median wall time of ``repeat`` calls of ``read`` after a warm-up, each array freed
    outside the timing (two 256 MiB arrays alive at once made the next read fault in fresh
    memory)."""
    times = []
    for k in range(repeat + 1):
        t0 = time.perf_counter()
        data = read()
        elapsed = time.perf_counter() - t0
        del data
        if k:
            times.append(elapsed)
    return statistics.median(times)


def stored_bytes(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def bench_row(folder, row, scale, repeat):
    name, suffix, peer, (write, read, blocks) = row
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
    t_peer = read_time(lambda: read(path), repeat)
    t_emio = read_time(emio_read, repeat)
    decode, stored = blocks(path)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        t_codec, decoded = median_time(lambda: sum(len(b) for b in pool.map(decode, stored)),
                                       repeat, warm_up=True)
    if decoded < nbytes:  # (an MRC stream holds its header too)
        raise SystemExit(f"{path}: the codec alone decoded {decoded} bytes, fewer than {nbytes}")
    return {
        "name": name,
        "peer": peer,
        "MiB": stored_bytes(path) / 2**20,
        "ratio": nbytes / stored_bytes(path),
        "peer_t": t_peer,
        "emio_t": t_emio,
        "codec_t": t_codec,
        "blocks": len(stored),
        "nbytes": nbytes,
    }


def report(rows):
    print(f"{'file':28} {'MiB':>6} {'ratio':>5} {'blocks':>6} | {'peer':12} {'peer ms':>8} "
          f"{'emio ms':>8} {'peer/emio':>9} {'emio GB/s':>9} | {'codec ms':>8} "
          f"{'codec/emio':>10} | goal >= 1.5x")
    for r in rows:
        speedup = r["peer_t"] / r["emio_t"]
        print(f"{r['name']:28} {r['MiB']:6.0f} {r['ratio']:5.2f} {r['blocks']:6} | "
              f"{r['peer']:12} {r['peer_t'] * 1e3:8.0f} {r['emio_t'] * 1e3:8.0f} "
              f"{speedup:8.2f}x {r['nbytes'] / r['emio_t'] / 1e9:9.2f} | "
              f"{r['codec_t'] * 1e3:8.0f} {r['codec_t'] / r['emio_t']:9.2f}x | "
              f"{'met' if speedup >= 1.5 else 'NOT met'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.5,
                        help="fraction of the 128 images (1: 256 MiB of values)")
    add_folder_arguments(parser)
    parser.add_argument("--only", default=None,
                        help="comma-separated names or prefixes (tiff, zarr, mrc, tiff-lzw, ...)")
    args = parser.parse_args(argv)
    wanted = args.only.split(",") if args.only else None
    rows = []
    with bench_folder(args.dir, "emio-compressed-") as folder:
        for row in ROWS:
            if wanted and not any(row[0].startswith(w) for w in wanted):
                continue
            rows.append(bench_row(folder, row, args.scale, args.repeat))
            print(f"  {row[0]} done", flush=True)
    report(rows)


if __name__ == "__main__":
    main()
