//! The chunk index of a chunked HDF5 dataset (address, stored size and filter mask of
//! every chunk, by its place in the chunk grid), read once on first use, every chunk
//! checked to lie inside the file; and the same check before `hdf5-pure` reads a chunked
//! dataset whole.

use std::collections::HashMap;
use std::sync::OnceLock;

use emio_core::Result;

use super::{again, Geometry, Origin};

/// One stored chunk.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) address: u64,
    pub(super) size: u64,
    pub(super) filter_mask: u32,
}

/// The chunk index of a dataset, read from the file on first use.
pub(super) struct LazyIndex {
    ds: hdf5_pure::Dataset,
    pub(super) origin: Origin,
    file_len: u64,
    /// Unfiltered datasets store whole chunks: each must hold at least this many bytes.
    min_size: u64,
    cell: OnceLock<Result<HashMap<u64, Entry>>>,
}

impl LazyIndex {
    /// The index of `ds` (read later); `filtered` tells whether stored chunks may be
    /// smaller than a whole chunk.
    pub(super) fn new(
        ds: hdf5_pure::Dataset,
        origin: Origin,
        file_len: u64,
        geo: &Geometry,
        filtered: bool,
    ) -> Self {
        LazyIndex {
            ds,
            origin,
            file_len,
            min_size: if filtered { 0 } else { geo.chunk_bytes },
            cell: OnceLock::new(),
        }
    }

    /// The chunks of the dataset by their index in the chunk grid (read on first use).
    pub(super) fn get(&self, geo: &Geometry) -> Result<&HashMap<u64, Entry>> {
        self.cell
            .get_or_init(|| self.read(geo))
            .as_ref()
            .map_err(|e| again(e, &self.origin.file))
    }

    fn read(&self, geo: &Geometry) -> Result<HashMap<u64, Entry>> {
        let chunks = self.ds.chunks().map_err(|e| {
            self.origin
                .malformed(None, format!("a readable chunk index ({e})"))
        })?;
        let rank = geo.stored_shape.len();
        let mut table = HashMap::with_capacity(chunks.len());
        'chunks: for c in chunks {
            check_chunk(&c, &self.origin, self.file_len, self.min_size)?;
            if c.offset.len() != rank {
                return Err(self.origin.malformed(
                    Some(c.address),
                    format!("a chunk offset of {rank} dimensions, got {:?}", c.offset),
                ));
            }
            let mut key = 0u64;
            for k in 0..rank {
                let (o, n) = (c.offset[k], geo.stored_chunk[k]);
                if n == 0 || o % n != 0 {
                    return Err(self.origin.malformed(
                        Some(c.address),
                        format!("a chunk offset on the chunk grid, got {:?}", c.offset),
                    ));
                }
                if o / n >= geo.grid[k] {
                    // Beyond the current extent (a shrunk dataset): never read.
                    continue 'chunks;
                }
                key += o / n * geo.grid_strides[k];
            }
            table.insert(
                key,
                Entry {
                    address: c.address,
                    size: c.storage_size,
                    filter_mask: c.filter_mask,
                },
            );
        }
        Ok(table)
    }
}

/// Fail unless chunk `c` lies inside the `file_len`-byte file and stores at least
/// `min_size` bytes (a whole chunk, when the dataset is unfiltered).
fn check_chunk(c: &hdf5_pure::Chunk, origin: &Origin, file_len: u64, min_size: u64) -> Result<()> {
    let inside = c
        .address
        .checked_add(c.storage_size)
        .is_some_and(|end| end <= file_len);
    if !inside {
        return Err(origin.malformed(
            Some(c.address),
            format!(
                "a chunk inside the {file_len}-byte file (its stored size is {})",
                c.storage_size
            ),
        ));
    }
    if c.storage_size < min_size {
        return Err(origin.malformed(
            Some(c.address),
            format!(
                "a whole unfiltered chunk of {min_size} bytes (its stored size is {})",
                c.storage_size
            ),
        ));
    }
    Ok(())
}

/// Check the chunk index of `ds`, when it is chunked, before `hdf5-pure` reads it whole:
/// `hdf5-pure` sizes its read buffer from each chunk's stored size, so a damaged size
/// (2^31) would allocate gigabytes before failing; and, as [`LazyIndex`] does, an
/// unfiltered chunk must store a whole chunk, so a damaged element size or chunk shape
/// (a chunk of 1 GiB stored in 16 bytes) fails here instead of being read as gigabytes of
/// fill value. Indexes `hdf5-pure` cannot enumerate (v2 B-trees) are left to it.
pub(crate) fn check_before_eager_read(
    ds: &hdf5_pure::Dataset,
    origin: &Origin,
    file_len: u64,
) -> Result<()> {
    if !ds.is_chunked() {
        return Ok(());
    }
    // `hdf5-pure` multiplies the chunk dimensions together (strides) unchecked: a chunk
    // must be one HDF5 allows (4 GiB at most) before it reads any.
    if let (Ok(hdf5_pure::Layout::Chunked { chunk_shape, .. }), Ok(datatype)) =
        (ds.layout(), ds.datatype())
    {
        let bytes = chunk_shape
            .iter()
            .try_fold(datatype.type_size() as u64, |n, &c| n.checked_mul(c));
        if bytes.is_none_or(|b| b > super::MAX_CHUNK_BYTES) {
            return Err(origin.malformed(
                None,
                format!(
                    "chunks of at most {} bytes (dimensions {chunk_shape:?})",
                    super::MAX_CHUNK_BYTES
                ),
            ));
        }
    }
    let rank = ds.shape().map(|s| s.len()).ok();
    let min_size = match (ds.layout(), ds.datatype()) {
        (Ok(hdf5_pure::Layout::Chunked { chunk_shape, .. }), Ok(datatype))
            if ds.filter_pipeline().is_empty() && rank == Some(chunk_shape.len()) =>
        {
            chunk_shape
                .iter()
                .fold(datatype.type_size() as u64, |n, &c| n.saturating_mul(c))
        }
        _ => 0,
    };
    if let Ok(chunks) = ds.chunks() {
        for c in &chunks {
            check_chunk(c, origin, file_len, min_size)?;
        }
    }
    Ok(())
}
