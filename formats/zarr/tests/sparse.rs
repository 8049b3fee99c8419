//! Sparse Zarr arrays (issue 15): a generated array of shape 2^31 in chunks of one element,
//! with only a few chunk files stored, reads a 16 MB region with the absent chunks filled
//! in bulk (its chunk files listed once, no file open per absent chunk), and a read of many
//! chunks stops with `Error::Cancelled` once the caller cancels.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use emio_core::source::Threads;
use emio_core::{Error, Format, Options, Progress};
use emio_zarr::Zarr;
use serde_json::json;

/// Elements in the array: 2^31, one per chunk.
const LEN: u64 = 1 << 31;
/// The fill value absent chunks read as.
const FILL: u16 = 7;

/// Which Zarr version a generated store uses.
#[derive(Clone, Copy, Debug)]
enum Version {
    V2,
    V3,
}

/// Write a uint16 array of [`LEN`] elements in chunks of one at `dir`, storing `stored`
/// (index, value) chunks uncompressed.
fn sparse_store(dir: &Path, version: Version, stored: &[(u64, u16)]) {
    std::fs::create_dir_all(dir).unwrap();
    let (file, doc, prefix) = match version {
        Version::V2 => (
            ".zarray",
            json!({"zarr_format": 2, "shape": [LEN], "chunks": [1], "dtype": "<u2",
                   "compressor": null, "fill_value": FILL, "order": "C", "filters": null}),
            "",
        ),
        Version::V3 => (
            "zarr.json",
            json!({"zarr_format": 3, "node_type": "array", "shape": [LEN],
                   "data_type": "uint16",
                   "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1]}},
                   "chunk_key_encoding": {"name": "default",
                                          "configuration": {"separator": "/"}},
                   "fill_value": FILL,
                   "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}]}),
            "c/",
        ),
    };
    std::fs::write(dir.join(file), doc.to_string()).unwrap();
    for &(index, value) in stored {
        let chunk = dir.join(format!("{prefix}{index}"));
        std::fs::create_dir_all(chunk.parent().unwrap()).unwrap();
        std::fs::write(chunk, value.to_le_bytes()).unwrap();
    }
}

#[test]
fn huge_chunk_one_array_reads_a_16_mb_region_with_fill() {
    const REGION: u64 = 8 << 20; // elements: 16 MB of uint16
    let stored = [(3, 1000), (REGION - 1, 2000), (REGION + 5, 3000)];
    for version in [Version::V2, Version::V3] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sparse.zarr");
        sparse_store(&dir, version, &stored);
        let datasets = Zarr.open(&dir, &Options::default()).unwrap();
        let ds = &datasets[0];
        assert_eq!(ds.shape(), [LEN], "{version:?}");
        let bytes = ds.read_region_bytes(&[0], &[REGION]).unwrap();
        let values: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(values[3], 1000, "{version:?}");
        assert_eq!(values[REGION as usize - 1], 2000, "{version:?}");
        let filled = values
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 3 && i != REGION as usize - 1)
            .all(|(_, &v)| v == FILL);
        assert!(filled, "{version:?}: absent chunks read as the fill value");
        // A region holding the third stored chunk, away from the first.
        let tail = ds.read_region_bytes(&[REGION], &[16]).unwrap();
        assert_eq!(
            u16::from_ne_bytes([tail[10], tail[11]]),
            3000,
            "{version:?}"
        );
    }
}

/// Progress that reports cancellation from its `after`-th check on, counting checks.
struct CancelAfter {
    after: usize,
    checks: AtomicUsize,
}

impl Progress for CancelAfter {
    fn is_cancelled(&self) -> bool {
        self.checks.fetch_add(1, Ordering::SeqCst) + 1 >= self.after
    }
}

#[test]
fn cancelled_read_of_a_big_region_stops_between_chunks() {
    // 1,000 stored chunks in the region: decoded in batches, cancellation checked between.
    let stored: Vec<(u64, u16)> = (0..1000).map(|i| (i * 1000, i as u16)).collect();
    for version in [Version::V2, Version::V3] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("many.zarr");
        sparse_store(&dir, version, &stored);
        let datasets = Zarr.open(&dir, &Options::default()).unwrap();
        let ds = &datasets[0];
        let region = 4 << 20;
        let mut out = vec![0u8; region as usize * 2];
        let progress = CancelAfter {
            after: 3,
            checks: AtomicUsize::new(0),
        };
        let result = ds.read_region_into_with(&[0], &[region], &mut out, &progress, Threads::All);
        assert!(
            matches!(result, Err(Error::Cancelled)),
            "{version:?}: {result:?}"
        );
        let checks = progress.checks.load(Ordering::SeqCst);
        assert_eq!(
            checks, 3,
            "{version:?}: the read stopped at the first cancelled check"
        );
        // Without cancellation the same read completes.
        ds.read_region_into(&[0], &[region], &mut out).unwrap();
        assert_eq!(u16::from_ne_bytes([out[2000 * 2], out[2000 * 2 + 1]]), 2);
    }
}
