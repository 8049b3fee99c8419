"""Detector-like values for the Python benchmarks (issue 23), the same kinds the Rust
benchmark writes (``benches/data``): 4D-STEM diffraction frames with a bright disc of ~200
counts per pixel (radius a quarter of the frame) on a Poisson background of 0.05
counts/pixel, the disc drifting by 1/16 of the frame across the scan; and smooth images
with shot noise. Deterministic (NumPy's PCG64 seeded per block), so a block can be
regenerated to check a sum."""

import numpy as np

DISC_COUNTS = 200.0
BACKGROUND_COUNTS = 0.05
IMAGE_COUNTS = 500.0


def diffraction(first, n, scan_x, scan_y, frame, seed, dtype=np.uint16):
    """Frames ``first`` to ``first + n`` of a ``scan_y`` × ``scan_x`` scan of ``frame``-shaped
    diffraction patterns (flat navigation index), counts clipped at 4095 (12-bit)."""
    h, w = frame
    rng = np.random.default_rng(seed)
    data = rng.poisson(BACKGROUND_COUNTS, size=(n, h, w))
    yy, xx = np.mgrid[:h, :w]
    radius = min(h, w) / 4
    for k in range(n):
        sy, sx = divmod(first + k, scan_x)
        cy = h / 2 + h / 16 * ((sy + 0.5) / scan_y - 0.5)
        cx = w / 2 + w / 16 * ((sx + 0.5) / scan_x - 0.5)
        disc = (yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 < radius**2
        data[k][disc] = rng.poisson(DISC_COUNTS, size=int(disc.sum()))
    return np.minimum(data, 4095).astype(dtype)


def diffraction_scan(shape, seed, dtype=np.uint16):
    """A whole 4D-STEM dataset of ``shape`` (scan_y, scan_x, h, w), generated scan row by
    scan row."""
    scan_y, scan_x, h, w = shape
    out = np.empty(shape, dtype)
    for row in range(scan_y):
        out[row] = diffraction(row * scan_x, scan_x, scan_x, scan_y, (h, w), seed + row, dtype).reshape(
            scan_x, h, w
        )
    return out


def images(first, n, frame, seed, dtype=np.uint16):
    """Frames ``first`` to ``first + n`` of a stack of a smooth image of ~500 counts drifting
    from frame to frame, with shot noise: Poisson counts, or real-valued for float types."""
    h, w = frame
    rng = np.random.default_rng(seed)
    y = (np.arange(h) / h)[:, None]
    x = np.arange(w) / w
    out = np.empty((n, h, w), dtype)
    for k in range(n):
        f = first + k
        shifted = np.roll(x, -(f % w))
        mean = IMAGE_COUNTS * (
            0.7 + 0.2 * np.sin(2 * np.pi * 3 * y + 0.05 * f) * np.cos(2 * np.pi * 2 * shifted)
            + 0.1 * np.cos(2 * np.pi * 7 * shifted)
        )
        if np.issubdtype(dtype, np.floating):
            out[k] = mean + np.sqrt(mean) * rng.standard_normal((h, w))
        else:
            out[k] = np.minimum(rng.poisson(mean), 4095)
    return out
