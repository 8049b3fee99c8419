"""Generate the small ARINA-like test files in this folder with h5py + hdf5plugin (the
DECTRIS filters encoded by the reference C implementations, not by emio).

scan_master.h5 links to scan_data_000001.h5 (bitshuffle + LZ4, 3 frames),
scan_data_000002.h5 (bitshuffle without compression, 2 frames) and
scan_data_000003.h5 (HDF5 LZ4 filter, 1 frame); scan.h5 is the scan-metadata file
(3 x 2 scan). Frames are 24 x 32 uint32 with a fixed pseudo-random pattern; the master
holds a pixel mask and a flat field. Run: python generate.py (numpy, h5py, hdf5plugin).
"""

import h5py
import hdf5plugin
import numpy as np

H, W = 24, 32
rng = np.random.default_rng(1234)
frames = rng.integers(0, 70000, size=(6, H, W), dtype=np.uint32)
frames[:, ::5, ::7] = rng.integers(0, 3, size=frames[:, ::5, ::7].shape)
np.save("scan_frames.npy", frames)

files = [
    ("scan_data_000001.h5", frames[0:3], hdf5plugin.Bitshuffle(cname="lz4")),
    ("scan_data_000002.h5", frames[3:5], hdf5plugin.Bitshuffle(cname="none")),
    ("scan_data_000003.h5", frames[5:6], hdf5plugin.LZ4(nbytes=512)),
]
for name, data, filt in files:
    with h5py.File(name, "w") as f:
        d = f.create_dataset(
            "entry/data/data", data=data, chunks=(1, H, W), **filt
        )
        d.attrs["image_nr_low"] = np.uint64(1)
        d.attrs["image_nr_high"] = np.uint64(len(data))

with h5py.File("scan_master.h5", "w", libver=("v108", "v110")) as f:
    entry = f.create_group("entry")
    entry.attrs["NX_class"] = np.bytes_(b"NXentry")
    data = entry.create_group("data")
    for i, (name, _, _) in enumerate(files):
        data[f"data_{i + 1:06d}"] = h5py.ExternalLink(name, "/entry/data/data")
    det = entry.create_group("instrument/detector")
    det["count_time"] = 0.001
    det["detector_distance"] = 0.115
    det["x_pixel_size"] = 7.5e-5
    det["threshold_energy"] = 4000.0
    det["description"] = np.bytes_(b"Dectris ARINA Si")
    spec = det.create_group("detectorSpecific")
    mask = np.zeros((H, W), np.uint32)
    mask[3, 4] = 1
    mask[10, 20] = 2
    spec["pixel_mask"] = mask
    spec["flatfield"] = np.linspace(0.5, 1.5, H * W, dtype=np.float32).reshape(H, W)
    spec["photon_energy"] = 300000.0

with h5py.File("scan.h5", "w") as f:
    g = f.create_group("STEM Metadata")
    g.attrs["NumPixelsX"] = np.int64(2)
    g.attrs["NumPixelsY"] = np.int64(3)
    g.attrs["Pixel Size"] = np.array([0.25])
    g.attrs["High Tension"] = np.array([200000.0])
    g.attrs["Camera Length"] = np.array([0.1])
