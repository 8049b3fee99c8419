//! Damaged HDF5 files generated with emio's writer (issue 15): a chunk whose stored size is
//! set to 2^31 is refused from the chunk index before `hdf5-pure` sizes a buffer by it, and a
//! deflated chunk that decodes to more than its chunk (here: the chunk shape shrunk in the
//! layout message) is an error after one byte too many, never decoded to its end; and the
//! dimensions `hdf5-pure` multiplies unchecked (a zero-sized dataset's others, a chunk's)
//! never reach it.

use std::path::Path;

use emio_core::{DType, Dataset, NoProgress};
use emio_h5::writer::{Compression, H5Writer};
use emio_h5::H5File;

/// Write one 64 × 64 u8 dataset `data`, a single chunk, with `compression`.
fn one_chunk(path: &Path, compression: Compression) {
    one_chunk_of(path, &[64, 64], compression);
}

/// Write one u8 dataset `data` of `shape`, a single chunk, with `compression`.
fn one_chunk_of(path: &Path, shape: &[u64], compression: Compression) {
    let mut w = H5Writer::create(path).unwrap();
    let n = shape.iter().product::<u64>() as usize;
    let zeros = Dataset::from_bytes(vec![0; n], DType::U8, shape.to_vec()).unwrap();
    let order: Vec<usize> = (0..shape.len()).collect();
    w.write_chunked("data", &zeros, shape, &order, compression, &[], &NoProgress)
        .unwrap();
    w.finish().unwrap();
}

/// Replace the only occurrence of `from` in the file by `to` (same length).
fn patch(path: &Path, from: &[u8], to: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let found: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "{from:?} found {} times", found.len());
    bytes[found[0]..found[0] + to.len()].copy_from_slice(to);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_chunk_stored_size_of_2_31_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("size.h5");
    one_chunk(&path, Compression::None);
    // The B-tree key of the chunk: stored size 4096, filter mask 0, offsets (0, 0, 0).
    let mut key = 4096u32.to_le_bytes().to_vec();
    key.extend([0u8; 4 + 24]);
    let mut damaged = (1u32 << 31).to_le_bytes().to_vec();
    damaged.extend([0u8; 4 + 24]);
    patch(&path, &key, &damaged);
    let file = H5File::open(&path).unwrap();
    let ds = file.dataset("data").unwrap();
    // The whole-dataset read through hdf5-pure (as `velox::frame_metadata` does).
    let err = ds.read_raw().unwrap_err().to_string();
    assert!(
        err.contains("inside the") && err.contains("2147483648"),
        "{err}"
    );
    // The lazy source checks the same index.
    let source = ds.source(None).unwrap();
    let mut out = vec![0u8; 64];
    let err = source
        .read_region(&[0, 0], &[1, 64], &mut out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("inside the"), "{err}");
}

#[test]
fn an_unfiltered_chunk_must_store_a_whole_chunk_before_an_eager_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("element.h5");
    one_chunk(&path, Compression::None);
    // The datatype message of u8 (fixed-point, version 1, size 1, precision 8): its size
    // becomes 65,536, so the one chunk declares 256 MiB while the file stores 4,096 bytes
    // of it (as a Velox `Version` dataset damaged at its datatype read 1 GiB of fill).
    let u8_type = [0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0];
    let mut wide = u8_type;
    wide[4..8].copy_from_slice(&65536u32.to_le_bytes());
    patch(&path, &u8_type, &wide);
    let file = H5File::open(&path).unwrap();
    let ds = file.dataset("data").unwrap();
    assert_eq!(ds.nbytes(), 256 << 20);
    let err = ds.read_raw().unwrap_err().to_string();
    assert!(
        err.contains("a whole unfiltered chunk of 268435456 bytes (its stored size is 4096)"),
        "{err}"
    );
}

#[test]
fn a_zero_sized_dataset_with_a_huge_dimension_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dims.h5");
    one_chunk_of(&path, &[2, 3, 5], Compression::None);
    // The dataspace's dimensions (2, 3, 5) become (0, 2^64 - 1, 2^64 - 1): no element, but
    // the other dimensions multiplied together (as `hdf5-pure` does for strides) overflow.
    let dims: Vec<u8> = [2u64, 3, 5].iter().flat_map(|d| d.to_le_bytes()).collect();
    let damaged: Vec<u8> = [0u64, u64::MAX, u64::MAX]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    patch(&path, &dims, &damaged);
    let file = H5File::open(&path).unwrap();
    let ds = file.dataset("data").unwrap();
    assert_eq!(ds.len(), 0);
    assert_eq!(ds.read_raw().unwrap(), Vec::<u8>::new());
}

#[test]
fn chunks_larger_than_hdf5_allows_are_refused_before_an_eager_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chunk.h5");
    one_chunk(&path, Compression::None);
    // The layout's chunk dimensions (64, 64, element size 1) become (2^32 - 1, 2^32 - 1, 1).
    let chunk: Vec<u8> = [64u32, 64, 1]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    let damaged: Vec<u8> = [u32::MAX, u32::MAX, 1]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    patch(&path, &chunk, &damaged);
    let file = H5File::open(&path).unwrap();
    let err = match file.dataset("data") {
        Ok(ds) => ds.read_raw().unwrap_err().to_string(),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("chunks of at most 4294967296 bytes"), "{err}");
}

#[test]
fn a_deflated_chunk_decoding_past_its_size_stops_one_byte_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.h5");
    one_chunk(&path, Compression::Gzip(6));
    // The layout message's chunk dimensions (64, 64; element size 1): the first becomes 8,
    // so the stored 4096-byte stream is 8 times what a chunk may hold.
    let dims = [64u32, 64, 1].map(u32::to_le_bytes).concat();
    let shrunk = [8u32, 64, 1].map(u32::to_le_bytes).concat();
    patch(&path, &dims, &shrunk);
    let file = H5File::open(&path).unwrap();
    let source = file.dataset("data").unwrap().source(None).unwrap();
    let mut out = vec![0u8; 64];
    let err = source
        .read_region(&[0, 0], &[1, 64], &mut out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("512 bytes from a deflated chunk, it decodes to more"),
        "{err}"
    );
}
