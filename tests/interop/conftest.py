"""Interop tests: files written by emio are read back by the established Python readers
(rsciio, ncempy, mrcfile, tifffile, zarr-python, h5py).

`.ci/run` builds `emconvert` and sets EMCONVERT to its path; locally:
    cargo build --release && .venv/bin/pytest tests/interop
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from emio_corpus import corpus_dir  # noqa: E402

CORPUS = corpus_dir()


@pytest.fixture(scope="session")
def emconvert():
    exe = os.environ.get("EMCONVERT") or str(ROOT / "target" / "release" / "emconvert")
    if not pathlib.Path(exe).is_file():
        raise RuntimeError(f"emconvert not built at {exe}: run `cargo build --release`")

    def run(*args, check=True):
        proc = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"emconvert {' '.join(map(str, args))} failed:\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def corpus():
    return CORPUS


def save_npy(path, array):
    """Write an input array for emconvert (NPY is emio's pilot format)."""
    np.save(path, array)
    return path
