"""HyperSpy convenience layer (skipped when HyperSpy is not installed)."""

import numpy as np
import pytest

pytest.importorskip("hyperspy.api")

import emio.hyperspy  # noqa: E402


def test_load_and_save_signals(tmp_path):
    a = np.arange(2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
    path = tmp_path / "stack.npy"
    np.save(path, a)
    signal = emio.hyperspy.load(path)
    np.testing.assert_array_equal(signal.data, a)
    assert signal.metadata.General.original_filename == "stack.npy"
    lazy = emio.hyperspy.load(path, lazy=True)
    assert lazy._lazy
    np.testing.assert_array_equal(lazy.sum(axis=0).data.compute() if hasattr(lazy.sum(axis=0).data, "compute") else lazy.sum(axis=0).data, a.sum(axis=0))
    out = tmp_path / "copy.npy"
    emio.hyperspy.save(out, signal)
    np.testing.assert_array_equal(np.load(out), a)
