//! Lazy pixel sources over HDF5 datasets that are not plain contiguous storage (that case
//! is a memory-mapped `StridedSource`).
//!
//! - [`MappedChunks`]: unfiltered chunked datasets. Every region is copied straight from
//!   the memory map, chunk by chunk, with the logical axis order applied during the copy
//!   (NCEM's transposed storage), on several threads for large regions.
//! - [`FilteredChunks`]: the [`ChunkDecoder`] of filtered (deflate, shuffle, LZF, ...)
//!   datasets, run by a `ChunkedSource` (parallel decoding, cache); each decoded chunk is
//!   permuted into the logical axis order.
//! - [`Eager`]: layouts emio does not read itself (compact, virtual, v2 B-tree indexes,
//!   filters emio does not decode), read whole through `hdf5-pure` on first access.
//! - [`ZeroSource`]: a dataset whose storage was never allocated.
//!
//! The chunk index (module `index`: address, stored size and filter mask of every chunk)
//! is read once, on the first pixel access, so opening a file reads headers only. Every
//! chunk is checked to lie inside the file before it is used.
//!
//! When the logical axis order is not the stored one (NCEM's transposed storage), the
//! chunked sources offer an order close to the storage through `ArraySource::stored_order`
//! (one where whole chunks are contiguous runs of the output when there is one, NCEM's
//! frames, else the stored order itself): full reads and order-free reductions then copy
//! (or decode) chunk after chunk as runs of rows and see a permuted view, instead of
//! transposing every chunk.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use emio_core::dtype::swap_bytes_in_place;
use emio_core::source::{c_strides, copy_nd, element_count, Layout};
use emio_core::source::{decode_chunk_through_scratch, StoredRuns, StridedView, Threads};
use emio_core::StridedSource;
use emio_core::{ArraySource, ByteOrder, ChunkDecoder, DType, Error, Progress, Result, Storage};
use rayon::prelude::*;

use crate::filters::{self, FilterStep};

mod index;
mod runs;
mod staged;

pub(crate) use index::check_before_eager_read;
use index::{Entry, LazyIndex};

/// Regions at least this large are copied on several threads.
const PARALLEL_BYTES: usize = 8 << 20;
/// Size of the pieces a large region is cut into for the threads.
const PIECE_BYTES: usize = 1 << 20;
/// Largest chunk accepted (HDF5 itself limits chunks to 4 GiB).
const MAX_CHUNK_BYTES: u64 = 1 << 32;

/// A copy of `e` (errors are not `Clone`; the lazy index hands its error to every reader).
fn again(e: &Error, file: &std::path::Path) -> Error {
    match e {
        Error::Malformed {
            format,
            path,
            offset,
            expected,
        } => Error::Malformed {
            format,
            path: path.clone(),
            offset: *offset,
            expected: expected.clone(),
        },
        Error::Unsupported { format, path, what } => Error::Unsupported {
            format,
            path: path.clone(),
            what: what.clone(),
        },
        other => Error::Malformed {
            format: "hdf5",
            path: Some(file.to_path_buf()),
            offset: None,
            expected: other.to_string(),
        },
    }
}

/// Where a dataset lives (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The file.
    pub file: PathBuf,
    /// The dataset's path inside it.
    pub dataset: String,
}

impl Origin {
    pub(crate) fn malformed(&self, offset: Option<u64>, expected: impl std::fmt::Display) -> Error {
        Error::Malformed {
            format: "hdf5",
            path: Some(self.file.clone()),
            offset,
            expected: format!("{expected} (dataset {})", self.dataset),
        }
    }
}

/// The geometry of a chunked dataset: stored (HDF5) shape and chunk, and the logical view
/// with axes reordered (logical axis `i` is stored axis `perm[i]`).
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    dtype: DType,
    order: ByteOrder,
    stored_shape: Vec<u64>,
    stored_chunk: Vec<u64>,
    perm: Vec<usize>,
    shape: Vec<u64>,
    chunk: Vec<u64>,
    /// Byte strides of one stored chunk (C order), in logical axis order.
    chunk_strides: Vec<i64>,
    /// Bytes of one whole stored chunk.
    chunk_bytes: u64,
    /// Chunks per stored axis.
    grid: Vec<u64>,
    /// C-order strides of the stored chunk grid (chunk keys).
    grid_strides: Vec<u64>,
}

impl Geometry {
    /// The geometry of a dataset of `stored_shape` in chunks of `stored_chunk`, seen with
    /// axes `perm` (a permutation, checked by the caller).
    pub fn new(
        origin: &Origin,
        dtype: DType,
        order: ByteOrder,
        stored_shape: Vec<u64>,
        stored_chunk: Vec<u64>,
        perm: Vec<usize>,
    ) -> Result<Self> {
        let es = dtype.size();
        let chunk_bytes = element_count(&stored_chunk)
            .and_then(|n| n.checked_mul(es as u64))
            .filter(|&b| b <= MAX_CHUNK_BYTES);
        let bad_rank = stored_chunk.len() != stored_shape.len();
        let zero = stored_chunk
            .iter()
            .zip(&stored_shape)
            .any(|(&c, &n)| c == 0 && n > 0);
        let Some(chunk_bytes) = chunk_bytes.filter(|_| !bad_rank && !zero) else {
            return Err(origin.malformed(
                None,
                format!("a chunk shape fitting the shape {stored_shape:?}, got {stored_chunk:?}"),
            ));
        };
        let grid: Vec<u64> = stored_shape
            .iter()
            .zip(&stored_chunk)
            .map(|(&n, &c)| if n == 0 { 0 } else { n.div_ceil(c) })
            .collect();
        let mut grid_strides = vec![1u64; grid.len()];
        for k in (0..grid.len().saturating_sub(1)).rev() {
            grid_strides[k] = grid_strides[k + 1].saturating_mul(grid[k + 1].max(1));
        }
        let stored_strides = c_strides(&stored_chunk, es);
        Ok(Geometry {
            dtype,
            order,
            shape: perm.iter().map(|&p| stored_shape[p]).collect(),
            chunk: perm.iter().map(|&p| stored_chunk[p].max(1)).collect(),
            chunk_strides: perm.iter().map(|&p| stored_strides[p]).collect(),
            chunk_bytes,
            stored_shape,
            stored_chunk,
            perm,
            grid,
            grid_strides,
        })
    }

    /// The same dataset seen with axes `perm` instead.
    fn with_perm(&self, perm: Vec<usize>) -> Geometry {
        let stored_strides = c_strides(&self.stored_chunk, self.dtype.size());
        Geometry {
            shape: perm.iter().map(|&p| self.stored_shape[p]).collect(),
            chunk: perm.iter().map(|&p| self.stored_chunk[p].max(1)).collect(),
            chunk_strides: perm.iter().map(|&p| stored_strides[p]).collect(),
            perm,
            ..self.clone()
        }
    }

    /// The order of the stored axes a full read copies in, when it is not the logical
    /// order: the order in which whole chunks are contiguous runs of a C-order output when
    /// there is one (axes chunked one index at a time first, NCEM's frames, then the others
    /// in stored order, of which only the first may be cut into several chunks): a `memcpy`
    /// per chunk (or chunk row); otherwise the stored order itself, where every chunk is
    /// copied as runs of its inner rows. The logical order of a transposed view may need a
    /// transpose of every chunk, through tiles no wider than a chunk (h5py's chunks cut the
    /// axes into pieces of a few indices).
    ///
    /// Returned as `(logical axis stored i-th, the stored axes in that order)`.
    fn copy_order(&self) -> Option<(Vec<usize>, Vec<usize>)> {
        let n = self.stored_shape.len();
        let single = |k: usize| self.stored_chunk[k] == 1 && self.stored_shape[k] > 1;
        let frames: Vec<usize> = (0..n)
            .filter(|&k| single(k))
            .chain((0..n).filter(|&k| !single(k)))
            .collect();
        let cut = frames[..]
            .iter()
            .filter(|&&k| !single(k) && self.stored_shape[k] > 1)
            .skip(1)
            .any(|&k| self.stored_chunk[k] < self.stored_shape[k]);
        let order: Vec<usize> = if cut { (0..n).collect() } else { frames };
        let mut logical_of = vec![0; n];
        for (i, &p) in self.perm.iter().enumerate() {
            logical_of[p] = i;
        }
        let logical: Vec<usize> = order.iter().map(|&k| logical_of[k]).collect();
        let same = logical.iter().enumerate().all(|(i, &l)| i == l);
        (!same).then_some((logical, order))
    }

    /// Key of the chunk at logical chunk-grid index `index`.
    fn key(&self, index: &[u64]) -> u64 {
        index
            .iter()
            .zip(&self.perm)
            .map(|(&i, &p)| i * self.grid_strides[p])
            .sum()
    }

    fn swap(&self, out: &mut [u8]) {
        if !self.order.is_native() {
            swap_bytes_in_place(out, self.dtype.swap_unit());
        }
    }
}

/// Write zeros to the block `part` of `out` laid out as `to`.
fn zero_fill(out: &mut [u8], to: Layout<'_>, part: &[u64], es: usize) {
    let Some(&inner) = part.last() else {
        out[..es].fill(0);
        return;
    };
    let zeros = vec![0u8; inner as usize * es];
    let mut strides = vec![0i64; part.len()];
    strides[part.len() - 1] = es as i64;
    copy_nd(
        &zeros,
        Layout {
            offset: 0,
            strides: &strides,
        },
        out,
        to,
        part,
        es,
    );
}

/// An unfiltered chunked dataset read straight from the memory map.
pub(crate) struct MappedChunks {
    storage: Storage,
    geo: Geometry,
    index: Arc<LazyIndex>,
}

impl MappedChunks {
    /// Copy the region `start .. start + shape` (non-empty) from every chunk it touches.
    fn fill(&self, table: &HashMap<u64, Entry>, start: &[u64], shape: &[u64], out: &mut [u8]) {
        let g = &self.geo;
        if let Some(b) = staged::stored_inner_axis(g, shape) {
            staged::fill(&self.storage, g, table, start, shape, b, out);
            g.swap(out);
            return;
        }
        let n = shape.len();
        let es = g.dtype.size();
        let dst_strides = c_strides(shape, es);
        let first: Vec<u64> = (0..n).map(|k| start[k] / g.chunk[k]).collect();
        let last: Vec<u64> = (0..n)
            .map(|k| (start[k] + shape[k] - 1) / g.chunk[k])
            .collect();
        let mut index = first.clone();
        let mut part = vec![0u64; n];
        loop {
            let (mut src, mut dst) = (0i64, 0i64);
            for k in 0..n {
                let c0 = index[k] * g.chunk[k];
                let lo = c0.max(start[k]);
                let hi = (c0 + g.chunk[k]).min(start[k] + shape[k]);
                part[k] = hi - lo;
                src += (lo - c0) as i64 * g.chunk_strides[k];
                dst += (lo - start[k]) as i64 * dst_strides[k];
            }
            let to = Layout {
                offset: dst,
                strides: &dst_strides,
            };
            match table.get(&g.key(&index)) {
                Some(e) => {
                    let from = Layout {
                        offset: e.address as i64 + src,
                        strides: &g.chunk_strides,
                    };
                    copy_nd(&self.storage, from, out, to, &part, es);
                }
                None => zero_fill(out, to, &part, es),
            }
            let mut k = n;
            loop {
                if k == 0 {
                    g.swap(out);
                    return;
                }
                k -= 1;
                index[k] += 1;
                if index[k] <= last[k] {
                    break;
                }
                index[k] = first[k];
            }
        }
    }
}

impl ArraySource for MappedChunks {
    fn dtype(&self) -> DType {
        self.geo.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.geo.shape
    }

    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let table = self.index.get(&self.geo)?;
        if shape.contains(&0) {
            return Ok(());
        }
        // Large regions, when the caller allows all threads: pieces along the outermost
        // axis that has more than one index (each piece is then contiguous in `out`),
        // copied on all threads. When that axis
        // is the one contiguous in storage (a transposed view), a piece takes a share of
        // it rather than single indices: copying single elements out of every line of a
        // chunk reads each line once per element, a transpose of whole lines reads it once.
        let split = shape
            .iter()
            .position(|&n| n > 1)
            .filter(|_| threads == Threads::All);
        let threads = rayon::current_num_threads();
        match split {
            Some(d) if out.len() >= PARALLEL_BYTES && threads > 1 => {
                let row = out.len() / shape[d] as usize;
                let mut rows = (PIECE_BYTES / row.max(1)).max(1);
                if self.geo.chunk_strides[d] == self.geo.dtype.size() as i64 {
                    rows = rows.max(shape[d].div_ceil(threads as u64) as usize);
                }
                out.par_chunks_mut(rows * row)
                    .enumerate()
                    .for_each(|(i, dst)| {
                        let mut s = start.to_vec();
                        let mut n = shape.to_vec();
                        s[d] += (i * rows) as u64;
                        n[d] = (dst.len() / row) as u64;
                        self.fill(table, &s, &n, dst);
                    });
            }
            _ => self.fill(table, start, shape, out),
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.geo.chunk.clone()
    }

    /// A region inside one stored chunk, in native byte order, whose values are one run of
    /// that chunk (e.g. a whole chunk of NCEM's frames, seen in stored order).
    fn region_in_place(&self, start: &[u64], shape: &[u64]) -> Option<&[u8]> {
        let g = &self.geo;
        let table = self.index.get(g).ok()?;
        let index: Vec<u64> = start.iter().zip(&g.chunk).map(|(&s, &c)| s / c).collect();
        let inside = start
            .iter()
            .zip(shape)
            .zip(&g.chunk)
            .zip(&index)
            .all(|(((&s, &n), &c), &i)| n == 0 || (s + n - 1) / c == i);
        if !inside {
            return None;
        }
        let entry = table.get(&g.key(&index))?;
        let within: Vec<u64> = start.iter().zip(&g.chunk).map(|(&s, &c)| s % c).collect();
        StridedView::of(
            &self.storage,
            entry.address,
            &g.chunk_strides,
            g.dtype,
            g.order,
        )
        .region_run(g.dtype, &within, shape)
    }

    /// The stored chunks' values in file order ([`runs::stored_runs`]).
    fn stored_runs(&self, min_mean_run: usize) -> Option<StoredRuns<'_>> {
        runs::stored_runs(&self.storage, &self.geo, &self.index, min_mean_run)
    }

    fn stored_order(&self) -> Option<(Vec<usize>, Arc<dyn ArraySource>)> {
        let (logical, order) = self.geo.copy_order()?;
        let stored = MappedChunks {
            storage: self.storage.clone(),
            geo: self.geo.with_perm(order),
            index: self.index.clone(),
        };
        Some((logical, Arc::new(stored)))
    }
}

/// Decodes the chunks of a filtered dataset for a `ChunkedSource` (logical axis order).
pub(crate) struct FilteredChunks {
    storage: Storage,
    geo: Geometry,
    index: Arc<LazyIndex>,
    pipeline: Vec<FilterStep>,
}

impl FilteredChunks {
    /// The extent of chunk `index` (clipped to the array) and whether it is the whole
    /// stored chunk seen in its stored order, so that its decoded bytes are its C-order
    /// bytes as they are.
    fn extent(&self, index: &[u64]) -> (Vec<u64>, bool) {
        let g = &self.geo;
        let extent: Vec<u64> = index
            .iter()
            .zip(&g.chunk)
            .zip(&g.shape)
            .map(|((&i, &c), &n)| c.min(n - i * c))
            .collect();
        let as_stored = extent == g.chunk && c_strides(&extent, g.dtype.size()) == g.chunk_strides;
        (extent, as_stored)
    }

    /// Undo the filters of stored chunk `e` (grid index `index`) into `runs` (pieces of
    /// the whole stored chunk, in stored order), errors naming the chunk and the file.
    fn decode_stored(&self, index: &[u64], e: &Entry, runs: &mut [&mut [u8]]) -> Result<()> {
        // Validated against the file length when the index was read.
        let stored = &self.storage[e.address as usize..(e.address + e.size) as usize];
        let es = self.geo.dtype.size();
        filters::decode_chunk_into_runs(&self.pipeline, e.filter_mask, stored, runs, es).map_err(
            |err| match err {
                Error::Malformed { expected, .. } => self.index.origin.malformed(
                    Some(e.address),
                    format!(
                        "{expected}, in chunk {index:?} stored at byte {}",
                        e.address
                    ),
                ),
                Error::Codec {
                    format,
                    expected,
                    source,
                    ..
                } => Error::Codec {
                    format,
                    path: Some(self.index.origin.file.clone()),
                    offset: Some(e.address),
                    expected: format!(
                        "{expected}, in chunk {index:?} stored at byte {} (dataset {})",
                        e.address, self.index.origin.dataset
                    ),
                    source,
                },
                other => other,
            },
        )
    }
}

impl ChunkDecoder for FilteredChunks {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        let g = &self.geo;
        let table = self.index.get(g)?;
        let Some(e) = table.get(&g.key(index)) else {
            out.fill(0);
            return Ok(());
        };
        let (extent, as_stored) = self.extent(index);
        if as_stored {
            self.decode_stored(index, e, &mut [&mut *out])?;
        } else {
            let es = g.dtype.size();
            let mut decoded = vec![0u8; g.chunk_bytes as usize];
            self.decode_stored(index, e, &mut [&mut decoded[..]])?;
            copy_nd(
                &decoded,
                Layout {
                    offset: 0,
                    strides: &g.chunk_strides,
                },
                out,
                Layout {
                    offset: 0,
                    strides: &c_strides(&extent, es),
                },
                &extent,
                es,
            );
        }
        g.swap(out);
        Ok(())
    }

    /// A whole chunk in its stored order is decoded piece by piece (a last byte unshuffle
    /// writes every piece in place); others through [`decode_chunk_through_scratch`].
    fn decode_chunk_runs(&self, index: &[u64], runs: &mut [&mut [u8]]) -> Result<()> {
        let g = &self.geo;
        if !self.extent(index).1 {
            return decode_chunk_through_scratch(self, index, runs);
        }
        let table = self.index.get(g)?;
        match table.get(&g.key(index)) {
            Some(e) => self.decode_stored(index, e, runs)?,
            None => runs.iter_mut().for_each(|run| run.fill(0)),
        }
        runs.iter_mut().for_each(|run| g.swap(run));
        Ok(())
    }

    /// A missing chunk is zero-filled here; a stored one is decoded to exactly its bytes
    /// or fails.
    fn writes_every_byte(&self) -> bool {
        true
    }
}

/// A dataset read whole through `hdf5-pure` on first access (layouts and filters emio
/// does not read itself), seen with axes `perm`.
pub(crate) struct Eager {
    ds: hdf5_pure::Dataset,
    origin: Origin,
    /// Size of the file, to check the chunk index against before reading.
    file_len: u64,
    dtype: DType,
    order: ByteOrder,
    stored_shape: Vec<u64>,
    perm: Vec<usize>,
    shape: Vec<u64>,
    cell: OnceLock<Result<StridedSource>>,
}

impl Eager {
    /// A lazy eager reader of `ds` of a `file_len`-byte file (its size was checked by the
    /// caller).
    pub fn new(
        ds: hdf5_pure::Dataset,
        origin: Origin,
        file_len: u64,
        dtype: DType,
        order: ByteOrder,
        stored_shape: Vec<u64>,
        perm: Vec<usize>,
    ) -> Self {
        Eager {
            shape: perm.iter().map(|&p| stored_shape[p]).collect(),
            ds,
            origin,
            file_len,
            dtype,
            order,
            stored_shape,
            perm,
            cell: OnceLock::new(),
        }
    }

    fn load(&self) -> Result<StridedSource> {
        check_before_eager_read(&self.ds, &self.origin, self.file_len)?;
        let mut raw = self.ds.read_raw().map_err(|e| {
            self.origin
                .malformed(None, format!("readable values ({e})"))
        })?;
        let want = element_count(&self.stored_shape).unwrap_or(u64::MAX) * self.dtype.size() as u64;
        if raw.len() as u64 != want {
            return Err(self
                .origin
                .malformed(None, format!("{want} bytes of values, got {}", raw.len())));
        }
        if !self.order.is_native() {
            swap_bytes_in_place(&mut raw, self.dtype.swap_unit());
        }
        StridedSource::from_bytes(raw, self.dtype, self.stored_shape.clone())?.permuted(&self.perm)
    }
}

impl ArraySource for Eager {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Reads the wrapped source with the caller's progress and [`Threads`].
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        self.cell
            .get_or_init(|| self.load())
            .as_ref()
            .map_err(|e| again(e, &self.origin.file))?
            .read_region_with(start, shape, out, progress, threads)
    }

    fn chunk_shape(&self) -> Vec<u64> {
        // One frame: the last two axes whole.
        let n = self.shape.len();
        let mut chunk = vec![1; n];
        let keep = n.saturating_sub(2);
        chunk[keep..].copy_from_slice(&self.shape[keep..]);
        chunk
    }
}

/// A source of zeros (a dataset whose storage was never allocated reads as its fill value).
#[derive(Debug)]
pub(crate) struct ZeroSource {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<u64>,
}

impl ArraySource for ZeroSource {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn shape(&self) -> &[u64] {
        &self.shape
    }
    fn read_region_with(
        &self,
        _start: &[u64],
        _shape: &[u64],
        out: &mut [u8],
        _progress: &dyn Progress,
        _threads: Threads,
    ) -> Result<()> {
        out.fill(0);
        Ok(())
    }
    fn chunk_shape(&self) -> Vec<u64> {
        self.shape.iter().map(|&n| n.max(1)).collect()
    }
}

/// A filtered chunked dataset: its `ChunkedSource` in the logical axis order and, when
/// whole chunks are contiguous in another order, one in that order for full reads
/// (see [`ArraySource::stored_order`]).
struct Reordered {
    logical: Arc<dyn ArraySource>,
    stored: Option<(Vec<usize>, Arc<dyn ArraySource>)>,
}

impl ArraySource for Reordered {
    fn dtype(&self) -> DType {
        self.logical.dtype()
    }
    fn shape(&self) -> &[u64] {
        self.logical.shape()
    }
    /// Reads the wrapped source with the caller's progress and [`Threads`].
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        self.logical
            .read_region_with(start, shape, out, progress, threads)
    }
    fn chunk_shape(&self) -> Vec<u64> {
        self.logical.chunk_shape()
    }
    fn decodes_whole_chunks(&self) -> bool {
        self.logical.decodes_whole_chunks()
    }
    fn stored_order(&self) -> Option<(Vec<usize>, Arc<dyn ArraySource>)> {
        self.stored.clone()
    }
}

/// A `ChunkedSource` decoding the chunks of `index` through `pipeline`, seen as `geo`.
fn decoded(
    storage: &Storage,
    geo: Geometry,
    index: &Arc<LazyIndex>,
    pipeline: &[FilterStep],
) -> Result<Arc<dyn ArraySource>> {
    let (dtype, shape, chunk) = (geo.dtype, geo.shape.clone(), geo.chunk.clone());
    let decoder = FilteredChunks {
        storage: storage.clone(),
        geo,
        index: index.clone(),
        pipeline: pipeline.to_vec(),
    };
    Ok(Arc::new(emio_core::ChunkedSource::new(
        dtype,
        shape,
        chunk,
        Box::new(decoder),
    )?))
}

/// A lazy source over a chunked dataset `ds` of `storage` (the file's map): unfiltered
/// chunks are copied from the map, filtered ones decoded by a `ChunkedSource`.
pub(crate) fn chunked(
    storage: Storage,
    ds: hdf5_pure::Dataset,
    origin: Origin,
    geo: Geometry,
    pipeline: Vec<FilterStep>,
) -> Result<Arc<dyn ArraySource>> {
    let filtered = !pipeline.is_empty();
    let index = Arc::new(LazyIndex::new(
        ds,
        origin,
        storage.len() as u64,
        &geo,
        filtered,
    ));
    if !filtered {
        return Ok(Arc::new(MappedChunks {
            storage,
            geo,
            index,
        }));
    }
    let stored = match geo.copy_order() {
        Some((logical, order)) => Some((
            logical,
            decoded(&storage, geo.with_perm(order), &index, &pipeline)?,
        )),
        None => None,
    };
    Ok(Arc::new(Reordered {
        logical: decoded(&storage, geo, &index, &pipeline)?,
        stored,
    }))
}
