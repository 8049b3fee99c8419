"""EER written by emio (from an integer event-count movie) decodes, in tifffile +
imagecodecs (`eer_decode`) and in eerfile, to exactly the frames emio renders, for every
encoding (65000, 65001, 65002) and upsampling (1, 2, 4)."""

import numpy as np
import pytest
import tifffile

from conftest import save_npy

eerfile = pytest.importorskip("eerfile")
imagecodecs = pytest.importorskip("imagecodecs")


def sparse_movie(frames, h, w, up, seed):
    """At most one event per sensor pixel and frame, at a random sub-pixel."""
    rng = np.random.default_rng(seed)
    side = 1 << up
    movie = np.zeros((frames, h * side, w * side), np.uint8)
    for f in range(frames):
        ys, xs = np.nonzero(rng.random((h, w)) < 0.2)
        movie[f, ys * side + rng.integers(0, side, ys.size), xs * side + rng.integers(0, side, xs.size)] = 1
    return movie


def emio_frames(emconvert, path, tmp_path, *options):
    out = tmp_path / f"render{len(list(tmp_path.iterdir()))}.npy"
    args = []
    for o in options:
        args += ["-o", o]
    emconvert("convert", path, out, *args)
    return np.load(out)


ENCODINGS = [
    ("65000", []),
    ("65001", []),
    ("65002", ["-w", "rle_bits=6", "-w", "subpixel_bits=2"]),
]


@pytest.mark.parametrize("compression,extra", ENCODINGS)
@pytest.mark.parametrize("up", [0, 1, 2])
def test_eer_readers_decode_emio_frames(emconvert, tmp_path, compression, extra, up):
    frames, h, w = 4, 32, 48
    movie = sparse_movie(frames, h, w, up, seed=up * 10 + int(compression) % 10)
    src = save_npy(tmp_path / "movie.npy", movie)
    eer = tmp_path / "movie.eer"
    emconvert("convert", src, eer, "-w", f"compression={compression}", "-w", f"upsampling={1 << up}", *extra)

    for read_up in range(up + 1):
        ours = emio_frames(emconvert, eer, tmp_path, f"upsampling={1 << read_up}")
        side = 1 << (up - read_up)
        expected = movie.reshape(frames, h << read_up, side, w << read_up, side).sum(axis=(2, 4))
        np.testing.assert_array_equal(ours, expected)

        with tifffile.TiffFile(eer, superres=read_up) as tif:
            assert tif.is_eer
            theirs = tif.asarray()
        np.testing.assert_array_equal(theirs.reshape(ours.shape), ours)

        # imagecodecs on the raw strips, page by page.
        with tifffile.TiffFile(eer) as tif:
            for i, page in enumerate(tif.pages):
                fh = tif.filehandle
                fh.seek(page.dataoffsets[0])
                strip = fh.read(page.databytecounts[0])
                skip, horz, vert = {"65000": (8, 2, 2), "65001": (7, 2, 2), "65002": (6, 2, 2)}[compression]
                decoded = imagecodecs.eer_decode(strip, (h << read_up, w << read_up), skip, horz, vert, superres=read_up)
                np.testing.assert_array_equal(decoded, ours[i])

    theirs = eerfile.read(eer)
    ours = emio_frames(emconvert, eer, tmp_path)
    np.testing.assert_array_equal(theirs, ours)


def test_eer_grouping_matches_eerfile_sum(emconvert, tmp_path):
    movie = sparse_movie(7, 16, 16, 0, seed=3)
    eer = tmp_path / "g.eer"
    emconvert("convert", save_npy(tmp_path / "g.npy", movie), eer)
    raw = eerfile.read(eer).astype(np.uint16)
    dropped = emio_frames(emconvert, eer, tmp_path, "group=3")
    kept = emio_frames(emconvert, eer, tmp_path, "group=3", "keep_partial_group=true")
    np.testing.assert_array_equal(dropped, raw[:6].reshape(2, 3, 16, 16).sum(axis=1))
    np.testing.assert_array_equal(kept[-1], raw[6:].sum(axis=0))
