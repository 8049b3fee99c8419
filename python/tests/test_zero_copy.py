"""Zero-copy eager reads: reading a large uncompressed NPY, MRC or MIB file gives a
writable view of a private copy-on-write map of the file (``mmap_mode="r"``: a read-only
view of the shared map), so the process's resident memory does not grow by the file size
(it grows only as pages are touched or written), and writing to the array never changes
the file. The files (128-256 MB) are generated in
the test's temporary folder; MRC and MIB are streamed from an NPY by ``emio.convert``.

MIB frames are viewed in place between their per-frame headers, rows flipped like rsciio's;
16/32-bit counters keep the file's big-endian byte order (``>u2``, as rsciio returns them)."""

import os

import numpy as np
import pytest

import emio

SHAPE = (64, 1024, 2048)  # 256 MiB of uint16
FRAMES = 64


def rss_bytes():
    """Resident set size of this process (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        psutil = pytest.importorskip("psutil")
        return psutil.Process().memory_info().rss


def make_npy(folder, dtype):
    path = folder / f"big-{np.dtype(dtype).name}.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=SHAPE)
    for i in range(FRAMES):
        out[i] = i
    out.flush()
    del out
    return path


@pytest.fixture(scope="module")
def big_npy(tmp_path_factory):
    return make_npy(tmp_path_factory.mktemp("big"), "<u2")


def expected_frame_value(i):
    return i


def check_zero_copy(path, fmt):
    size = os.path.getsize(path)
    (dataset,) = emio.open(path)
    assert dataset.is_mapped, f"{fmt}: emio does not view this layout in place"
    before = rss_bytes()
    (signal,) = emio.file_reader(path)
    after = rss_bytes()
    data = signal["data"]
    assert data.shape[-2:] == SHAPE[-2:] and data.size == np.prod(SHAPE)
    assert data.flags.writeable and not data.flags.owndata
    grown = after - before
    assert grown < size // 20, f"{fmt}: RSS grew by {grown} bytes reading a {size}-byte file"
    # Values are right where they are looked at (touches a few pages only).
    frames = data.reshape(-1, *SHAPE[-2:])
    for i in (0, 17, FRAMES - 1):
        assert frames[i, 5, 7] == expected_frame_value(i)
        assert frames[i, -1, -1] == expected_frame_value(i)
    # Writing copies only the pages written (HyperSpy's `s.data[...] += 1` on a frame)...
    before = rss_bytes()
    frames[17] += 1
    assert frames[17, 5, 7] == expected_frame_value(17) + 1
    assert rss_bytes() - before < size // 20
    # ... and never reaches the file, nor another reading of it.
    (again,) = emio.file_reader(path, mmap_mode="r")
    view = again["data"]
    assert not view.flags.writeable
    assert view.reshape(-1, *SHAPE[-2:])[17, 5, 7] == expected_frame_value(17)
    with pytest.raises(ValueError):
        view.reshape(-1, *SHAPE[-2:])[17, 5, 7] = 0


def test_npy_is_zero_copy(big_npy):
    check_zero_copy(big_npy, "npy")


@pytest.mark.parametrize("fmt,dtype", [("mrc", "<u2"), ("mib", "|u1"), ("mib", "<u2")])
def test_converted_file_is_zero_copy(big_npy, tmp_path, fmt, dtype):
    formats = {f["name"]: f for f in emio.formats()}
    assert formats.get(fmt, {}).get("can_write") and formats[fmt]["can_read"], f"emio has no {fmt} reader and writer"
    source = big_npy if np.dtype(dtype) == np.dtype("<u2") else make_npy(tmp_path, dtype)
    path = tmp_path / f"big.{fmt}"
    before = rss_bytes()
    emio.convert(source, path)
    # Streaming conversion: bounded by the engine's buffers, far below the file size.
    assert rss_bytes() - before < os.path.getsize(source) // 2
    if source != big_npy:
        source.unlink()
    check_zero_copy(path, fmt)
    if fmt == "mib" and np.dtype(dtype).itemsize > 1:
        (signal,) = emio.file_reader(path)
        assert signal["data"].dtype == np.dtype(dtype).newbyteorder(">")
