"""Benchmark emio on the two fast-camera formats of issue 19 against the C-backed Python
readers, on the same generated files in the same run:

- ARINA / EIGER: a master file linking to a data file of bitshuffle-LZ4 frames (uint16,
  192×192, a disc of ~200 counts drifting across the scan on a Poisson background of 0.05
  counts/pixel: ``_realistic.diffraction``), written by h5py + hdf5plugin (DECTRIS' own
  filter code, so the encoder is not emio's). Compared: emio's eager read (every frame
  decoded in Rust, chunk-parallel) and h5py + hdf5plugin reading the dataset through the
  master's external link; then a float64 sum of the array (NumPy's, after each full read;
  and emio's own streamed reduction, ``emio.stats``, against h5py's read + NumPy sum); and
  emio's lazy open (``file_reader(lazy=True)``: headers only, Dask graph built).
- EER: a movie of 4096×4096 frames of electron events (one event per hit pixel, the
  density given), written by emio's EER writer (compression 65001). Compared: emio's
  eager read at upsampling 1 and 2 and tifffile + imagecodecs (``imread(superres=...)``,
  imagecodecs' ``eer_decode`` on tifffile's threads). Rates are raw frames per second and
  output GB/s.

    python bench/bench_cameras.py                        # small: 256 MiB ARINA, 16 EER frames
    python bench/bench_cameras.py --arina-mib 1024 --eer-frames 100 --dir /data/bench

Every time is the median of ``--repeat`` runs with a warm page cache (each file is read once
before timing). Each library's result is checked against the other's (same sum, same
frames); a mismatch stops the benchmark. Ratios are the peer's time / emio's time (> 1:
emio is faster). Issue 19's goals: ARINA full read and sum >= 2x h5py + hdf5plugin, lazy
open <= 5 ms; EER decode >= 2x tifffile + imagecodecs. Not a test: it asserts nothing.
"""

import argparse
import os

import numpy as np

import emio
from _common import add_folder_arguments, bench_folder, forget_open_files, median_time
from _realistic import diffraction

ARINA_FRAME = (192, 192)
EER_SIDE = 4096


def make_arina(folder, mib):
    """An ARINA-like master + one data file of ``mib`` MiB decoded (bitshuffle-LZ4, one
    frame per chunk, as DECTRIS writes them). Returns the master's path and the sum."""
    import h5py
    import hdf5plugin

    h, w = ARINA_FRAME
    n = max(1, (mib << 20) // (h * w * 2))
    side = int(np.sqrt(n))
    n = side * side
    total = 0
    data_name = "bench_data_000001.h5"
    with h5py.File(os.path.join(folder, data_name), "w") as f:
        ds = f.create_dataset(
            "entry/data/data", shape=(n, h, w), dtype=np.uint16, chunks=(1, h, w),
            **hdf5plugin.Bitshuffle(cname="lz4"),
        )
        step = 256
        for start in range(0, n, step):
            block = diffraction(start, min(step, n - start), side, side, ARINA_FRAME, seed=start)
            ds[start:start + len(block)] = block
            total += int(block.sum(dtype=np.uint64))
    master = os.path.join(folder, "bench_master.h5")
    # Compact link storage in every group (HDF5 1.8+ object headers), as DECTRIS' masters
    # have.
    with h5py.File(master, "w", libver=("v108", "v110")) as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = np.bytes_(b"NXentry")
        data = entry.create_group("data")
        data["data_000001"] = h5py.ExternalLink(data_name, "/entry/data/data")
        det = entry.create_group("instrument/detector")
        det["count_time"] = 1e-4
        det["description"] = np.bytes_(b"bench ARINA-like")
    return master, total, n


def make_eer(folder, frames, density):
    """An EER movie of ``frames`` 4096×4096 frames with about ``density`` events per pixel
    and frame, written by emio. Returns its path and the number of events."""
    rng = np.random.default_rng(7)
    movie = np.empty((frames, EER_SIDE, EER_SIDE), np.uint8)
    for frame in movie:
        frame[...] = rng.random((EER_SIDE, EER_SIDE), dtype=np.float32) < density
    path = os.path.join(folder, "bench.eer")
    emio.file_writer(path, {"data": movie})
    return path, int(movie.sum(dtype=np.uint64))


def bench_arina(master, expected_sum, frames, repeat):
    import h5py
    import hdf5plugin  # noqa: F401  (registers the bitshuffle/LZ4 filters with h5py)

    def emio_read():
        return emio.file_reader(master)[0]["data"]

    def h5py_read():
        with h5py.File(master, "r") as f:
            return f["entry/data/data_000001"][...]

    def emio_lazy_open():
        forget_open_files()
        return emio.file_reader(master, lazy=True)[0]["data"]

    def emio_streamed_sum():
        return emio.stats(master, bins=0)["sum"]

    rows = []
    emio_read(), h5py_read()  # warm the page cache for both
    h5py_sum = lambda: h5py_read().sum(dtype=np.float64)  # noqa: E731
    for what, ours, theirs in [
        ("full read", emio_read, h5py_read),
        ("full read + sum", lambda: emio_read().sum(dtype=np.float64), h5py_sum),
        # emio's own reduction: frames decoded and summed on all cores, never held whole.
        ("sum (emio.stats)", emio_streamed_sum, h5py_sum),
    ]:
        t_ours, r_ours = median_time(ours, repeat)
        t_theirs, r_theirs = median_time(theirs, repeat)
        if what == "full read":
            if r_ours.shape[-2:] != r_theirs.shape[-2:] or int(r_ours.sum(dtype=np.uint64)) != expected_sum:
                raise SystemExit(f"ARINA: emio read {r_ours.shape} summing to {r_ours.sum()}, expected {expected_sum}")
            if not np.array_equal(r_ours.reshape(r_theirs.shape), r_theirs):
                raise SystemExit("ARINA: emio's frames differ from h5py + hdf5plugin's")
        elif int(r_ours) != expected_sum or int(r_theirs) != expected_sum:
            raise SystemExit(f"ARINA sums {r_ours} (emio), {r_theirs} (h5py), expected {expected_sum}")
        rows.append((f"ARINA {what}", t_ours, t_theirs, frames / t_ours, frames / t_theirs))
    t_open, lazy = median_time(emio_lazy_open, max(repeat, 20))
    if int(lazy.sum(dtype=np.uint64).compute()) != expected_sum:
        raise SystemExit("ARINA: the lazy array sums differently")
    rows.append(("ARINA lazy open (emio only)", t_open, None, None, None))
    return rows


def bench_eer(path, expected_events, frames, repeat):
    import tifffile

    rows = []
    for up in (1, 2):
        def ours(up=up):
            return emio.file_reader(path, upsampling=up)[0]["data"]

        def theirs(up=up):
            return tifffile.imread(path, superres=up.bit_length() - 1)

        ours(), theirs()
        t_ours, r_ours = median_time(ours, repeat)
        t_theirs, r_theirs = median_time(theirs, repeat)
        if int(r_ours.sum(dtype=np.uint64)) != expected_events or not np.array_equal(r_ours, r_theirs.reshape(r_ours.shape)):
            raise SystemExit(f"EER upsampling {up}: emio and tifffile + imagecodecs disagree")
        rows.append((f"EER decode, upsampling {up}", t_ours, t_theirs, frames / t_ours, frames / t_theirs, r_ours.nbytes))
    return rows


def report(rows):
    print(f"{'step':34} {'emio':>10} {'peer':>10} {'ratio':>8}   rates (emio | peer)")
    for row in rows:
        what, t_ours, t_theirs, rate_ours, rate_theirs = row[:5]
        peer = f"{t_theirs * 1e3:8.1f}ms" if t_theirs is not None else f"{'-':>10}"
        ratio = f"{t_theirs / t_ours:7.2f}x" if t_theirs is not None else f"{'-':>8}"
        rates = ""
        if rate_ours is not None:
            rates = f"{rate_ours:8.1f} | {rate_theirs:8.1f} frames/s"
            if len(row) > 5:
                nbytes = row[5]
                rates += f"   {nbytes / t_ours / 1e9:5.2f} | {nbytes / t_theirs / 1e9:5.2f} GB/s"
        print(f"{what:34} {t_ours * 1e3:8.1f}ms {peer} {ratio}   {rates}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arina-mib", type=int, default=256, help="decoded size of the ARINA data in MiB")
    parser.add_argument("--eer-frames", type=int, default=16, help="raw EER frames (4096x4096)")
    parser.add_argument("--density", type=float, default=0.02, help="EER events per pixel and frame")
    add_folder_arguments(parser)
    parser.add_argument("--formats", default="arina,eer", help="comma-separated subset of arina,eer")
    args = parser.parse_args(argv)
    rows = []
    with bench_folder(args.dir, "emio-cameras-") as folder:
        if "arina" in args.formats:
            master, total, n = make_arina(folder, args.arina_mib)
            print(f"ARINA: {n} frames of {ARINA_FRAME[0]}x{ARINA_FRAME[1]} uint16, "
                  f"{n * ARINA_FRAME[0] * ARINA_FRAME[1] * 2 / 2**20:.0f} MiB decoded, "
                  f"{os.path.getsize(os.path.join(folder, 'bench_data_000001.h5')) / 2**20:.1f} MiB stored")
            rows += bench_arina(master, total, n, args.repeat)
        if "eer" in args.formats:
            path, events = make_eer(folder, args.eer_frames, args.density)
            print(f"EER: {args.eer_frames} frames of {EER_SIDE}x{EER_SIDE}, {events} events, "
                  f"{os.path.getsize(path) / 2**20:.1f} MiB")
            rows += bench_eer(path, events, args.eer_frames, args.repeat)
    report(rows)


if __name__ == "__main__":
    main()
