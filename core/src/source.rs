//! Lazy pixel sources: the bytes behind a dataset, read region by region on demand.
//!
//! Two implementations cover the formats:
//! - [`StridedSource`]: bytes at a fixed offset with a byte stride per dimension (contiguous,
//!   Fortran order, permuted axes, per-frame headers, in-memory buffers), either byte order,
//!   memory-mapped; zero-copy views where the stored layout is already the logical one.
//! - [`ChunkedSource`]: a chunk grid and a [`ChunkDecoder`] (compressed strips/tiles, HDF5
//!   chunks, bit-packed or event-stream data), decoded in parallel, with a small cache.
//!
//! Every source writes regions in C order with native-endian elements of its logical dtype.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::dtype::{swap_bytes_in_place, ByteOrder, DType};
use crate::error::{Error, Result};

/// A lazily read N-D array of one logical dtype.
pub trait ArraySource: Send + Sync {
    /// Logical element type of the values written by [`ArraySource::read_region`].
    fn dtype(&self) -> DType;
    /// C-order shape.
    fn shape(&self) -> &[u64];
    /// Copy the hyper-rectangle `start .. start + shape` into `out` in C order,
    /// native-endian. The caller guarantees the region lies inside the array and that
    /// `out.len()` is the region's element count times the dtype size
    /// ([`crate::Dataset`] checks both).
    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()>;
    /// The natural unit of reading (a frame, a strip, an HDF5 chunk): regions aligned to it
    /// are cheapest.
    fn chunk_shape(&self) -> Vec<u64>;
    /// The whole array as bytes already in C order and native byte order, when the storage
    /// holds it that way (zero-copy access to a memory map).
    fn mapped(&self) -> Option<&[u8]> {
        None
    }
    /// The stored bytes seen in place with any strides (per-frame headers, Fortran order,
    /// flipped axes), when the values are stored in native byte order: zero-copy strided
    /// views (e.g. NumPy arrays over a memory map). [`ArraySource::mapped`] is the
    /// C-contiguous special case.
    fn strided_view(&self) -> Option<StridedView<'_>> {
        None
    }
}

/// Where a source's values lie in bytes it holds: element `(0, 0, ...)` at byte `offset`
/// of `bytes`, then one byte stride per dimension (negative for flipped axes). Every
/// addressed element lies inside `bytes`, in native byte order and the logical dtype.
#[derive(Debug, Clone, Copy)]
pub struct StridedView<'a> {
    /// The storage (usually a whole memory-mapped file).
    pub bytes: &'a [u8],
    /// Byte offset of element `(0, 0, ...)`.
    pub offset: u64,
    /// Byte stride per dimension.
    pub strides: &'a [i64],
}

/// Bytes a source reads from: a read-only memory map of a file, or an owned buffer.
#[derive(Clone)]
pub enum Storage {
    /// A memory-mapped file.
    Mapped(Arc<memmap2::Mmap>),
    /// Bytes held in memory.
    Owned(Arc<[u8]>),
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Mapped(m) => write!(f, "Storage::Mapped({} bytes)", m.len()),
            Storage::Owned(b) => write!(f, "Storage::Owned({} bytes)", b.len()),
        }
    }
}

impl Storage {
    /// Map a file read-only. Empty files become an empty owned buffer (mapping zero
    /// bytes is not portable).
    pub fn map(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Ok(Storage::Owned(Arc::from(Vec::new())));
        }
        // SAFETY: the map is read-only and emio never writes through it. Soundness relies on
        // no other process truncating or rewriting the file while it is mapped, the same
        // contract every memory-mapping reader (numpy.memmap, mrcfile) has; the bytes are
        // only ever read as plain `u8`, so concurrent modification cannot create invalid
        // values, only wrong pixels.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Storage::Mapped(Arc::new(map)))
    }

    /// Wrap owned bytes.
    pub fn owned(bytes: impl Into<Arc<[u8]>>) -> Self {
        Storage::Owned(bytes.into())
    }
}

impl Deref for Storage {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(b) => b,
        }
    }
}

/// Number of elements in a shape, or `None` on overflow.
pub fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n))
}

/// Byte strides of a C-contiguous array of `shape` with elements of `elem_size` bytes.
pub fn c_strides(shape: &[u64], elem_size: usize) -> Vec<i64> {
    let mut strides = vec![0i64; shape.len()];
    let mut step = elem_size as i64;
    for (stride, &n) in strides.iter_mut().zip(shape).rev() {
        *stride = step;
        step = step.saturating_mul(n as i64);
    }
    strides
}

/// Where an N-D block lives in a byte buffer: the byte offset of its first element and the
/// byte stride of each dimension.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    /// Byte offset of element (0, 0, ...).
    pub offset: i64,
    /// Byte stride per dimension.
    pub strides: &'a [i64],
}

/// Copy an N-D block of `shape` elements of `elem_size` bytes from `src` laid out as
/// `from` to `dst` laid out as `to`.
///
/// Trailing dimensions that are contiguous in both are merged into one `memcpy` run. Callers
/// guarantee every addressed byte lies inside both buffers.
pub fn copy_nd(
    src: &[u8],
    from: Layout<'_>,
    dst: &mut [u8],
    to: Layout<'_>,
    shape: &[u64],
    elem_size: usize,
) {
    let (src_off, src_strides, dst_off, dst_strides) =
        (from.offset, from.strides, to.offset, to.strides);
    if shape.contains(&0) {
        return;
    }
    // Merge trailing dimensions into a contiguous run.
    let es = elem_size as i64;
    let mut run = es;
    let mut ndim = shape.len();
    while ndim > 0 {
        let d = ndim - 1;
        if src_strides[d] == run && dst_strides[d] == run {
            run = run.saturating_mul(shape[d] as i64);
            ndim -= 1;
        } else {
            break;
        }
    }
    let run = run as usize;
    let outer = &shape[..ndim];
    if outer.is_empty() {
        let (s, d) = (src_off as usize, dst_off as usize);
        dst[d..d + run].copy_from_slice(&src[s..s + run]);
        return;
    }
    // When the innermost remaining dim is not contiguous, copy element-sized runs along it.
    let mut index = vec![0u64; ndim];
    let (mut s, mut d) = (src_off, dst_off);
    loop {
        let (su, du) = (s as usize, d as usize);
        dst[du..du + run].copy_from_slice(&src[su..su + run]);
        // Advance the odometer.
        let mut k = ndim;
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            index[k] += 1;
            s += src_strides[k];
            d += dst_strides[k];
            if index[k] < outer[k] {
                break;
            }
            s -= src_strides[k] * outer[k] as i64;
            d -= dst_strides[k] * outer[k] as i64;
            index[k] = 0;
        }
    }
}

/// Regions at least this large are copied on several threads.
const PARALLEL_COPY_BYTES: usize = 8 << 20;

/// A source over bytes at a fixed offset with one byte stride per logical dimension.
///
/// Covers contiguous C-order data, Fortran order and permuted axes (permuted strides),
/// flipped axes (negative strides), per-frame headers (a frame stride larger than the frame)
/// and in-memory arrays. Stored byte order is converted on read.
#[derive(Debug, Clone)]
pub struct StridedSource {
    storage: Storage,
    offset: u64,
    dtype: DType,
    shape: Vec<u64>,
    strides: Vec<i64>,
    order: ByteOrder,
}

impl StridedSource {
    /// A general strided source. Fails (with `format` in the error) unless every addressed
    /// byte lies inside `storage`, so a header that lies about sizes is caught at open.
    pub fn new(
        format: &'static str,
        storage: Storage,
        offset: u64,
        dtype: DType,
        shape: Vec<u64>,
        strides: Vec<i64>,
        order: ByteOrder,
    ) -> Result<Self> {
        if strides.len() != shape.len() {
            return Err(Error::malformed_at_unknown(
                format,
                "one stride per dimension",
            ));
        }
        let too_big = || {
            Error::malformed(
                format,
                offset,
                format!(
                    "{} data of shape {shape:?} inside the {}-byte file",
                    dtype,
                    storage.len()
                ),
            )
        };
        if element_count(&shape).is_none() {
            return Err(too_big());
        }
        if !shape.contains(&0) {
            let (mut lo, mut hi) = (offset as i128, offset as i128);
            for (&n, &s) in shape.iter().zip(&strides) {
                let reach = (n as i128 - 1) * s as i128;
                if reach < 0 {
                    lo += reach;
                } else {
                    hi += reach;
                }
            }
            if lo < 0 || hi + dtype.size() as i128 > storage.len() as i128 {
                return Err(too_big());
            }
        }
        Ok(StridedSource {
            storage,
            offset,
            dtype,
            shape,
            strides,
            order,
        })
    }

    /// C-contiguous data at `offset`.
    pub fn contiguous(
        format: &'static str,
        storage: Storage,
        offset: u64,
        dtype: DType,
        shape: Vec<u64>,
        order: ByteOrder,
    ) -> Result<Self> {
        let strides = c_strides(&shape, dtype.size());
        Self::new(format, storage, offset, dtype, shape, strides, order)
    }

    /// An in-memory array: `bytes` in C order, native byte order.
    pub fn from_bytes(bytes: Vec<u8>, dtype: DType, shape: Vec<u64>) -> Result<Self> {
        let expected = element_count(&shape)
            .and_then(|n| n.checked_mul(dtype.size() as u64))
            .ok_or_else(|| Error::OutOfBounds(format!("shape {shape:?} overflows")))?;
        if expected != bytes.len() as u64 {
            return Err(Error::OutOfBounds(format!(
                "{} bytes given for {dtype} array of shape {shape:?} ({expected} bytes)",
                bytes.len()
            )));
        }
        Self::contiguous(
            "memory",
            Storage::owned(bytes),
            0,
            dtype,
            shape,
            ByteOrder::NATIVE,
        )
    }

    /// Byte strides per dimension.
    pub fn strides(&self) -> &[i64] {
        &self.strides
    }

    /// A view of the same bytes with dimensions reordered: logical dim `i` of the result is
    /// dim `perm[i]` of this source.
    pub fn permuted(&self, perm: &[usize]) -> Result<Self> {
        let mut seen = vec![false; self.shape.len()];
        if perm.len() != self.shape.len()
            || perm
                .iter()
                .any(|&p| p >= seen.len() || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::OutOfBounds(format!("{perm:?} is not a permutation")));
        }
        Ok(StridedSource {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            ..self.clone()
        })
    }

    /// The same bytes seen with a new shape; only allowed when this source is
    /// C-contiguous in its dims (so any C-order reshape keeps element order).
    pub fn reshaped(&self, shape: Vec<u64>) -> Result<Self> {
        if element_count(&shape) != element_count(&self.shape) {
            return Err(Error::OutOfBounds(format!(
                "cannot reshape {:?} into {shape:?}",
                self.shape
            )));
        }
        if self.strides != c_strides(&self.shape, self.dtype.size()) {
            return Err(Error::OutOfBounds(
                "reshape needs C-contiguous storage".into(),
            ));
        }
        let strides = c_strides(&shape, self.dtype.size());
        Ok(StridedSource {
            shape,
            strides,
            ..self.clone()
        })
    }

    fn is_c_contiguous(&self) -> bool {
        self.strides == c_strides(&self.shape, self.dtype.size())
    }
}

impl ArraySource for StridedSource {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        let es = self.dtype.size();
        let base = self.offset as i64
            + start
                .iter()
                .zip(&self.strides)
                .map(|(&i, &s)| i as i64 * s)
                .sum::<i64>();
        let dst_strides = c_strides(shape, es);
        let bytes: &[u8] = &self.storage;
        let swap = !self.order.is_native();
        let unit = self.dtype.swap_unit();
        let copy_part = |src_off: i64,
                         part_shape: &[u64],
                         dst: &mut [u8],
                         src_strides: &[i64],
                         dst_strides: &[i64]| {
            copy_nd(
                bytes,
                Layout {
                    offset: src_off,
                    strides: src_strides,
                },
                dst,
                Layout {
                    offset: 0,
                    strides: dst_strides,
                },
                part_shape,
                es,
            );
            if swap {
                swap_bytes_in_place(dst, unit);
            }
        };
        if out.len() >= PARALLEL_COPY_BYTES && !shape.is_empty() && shape[0] > 1 {
            let row = out.len() / shape[0] as usize;
            out.par_chunks_mut(row).enumerate().for_each(|(i, dst)| {
                copy_part(
                    base + i as i64 * self.strides[0],
                    &shape[1..],
                    dst,
                    &self.strides[1..],
                    &dst_strides[1..],
                )
            });
        } else {
            copy_part(base, shape, out, &self.strides, &dst_strides);
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        // One "frame": the last two dims (or the last dim for 1-D/2-D data) whole.
        let n = self.shape.len();
        let keep = n.min(2);
        let mut chunk = vec![1; n];
        chunk[n - keep..].copy_from_slice(&self.shape[n - keep..]);
        chunk
    }

    fn strided_view(&self) -> Option<StridedView<'_>> {
        (self.order.is_native() || self.dtype.swap_unit() == 1).then(|| StridedView {
            bytes: &self.storage,
            offset: self.offset,
            strides: &self.strides,
        })
    }

    fn mapped(&self) -> Option<&[u8]> {
        if !self.order.is_native() || !self.is_c_contiguous() {
            return None;
        }
        let n = element_count(&self.shape)? as usize * self.dtype.size();
        let start = self.offset as usize;
        self.storage.get(start..start + n)
    }
}

/// Decodes one chunk of a [`ChunkedSource`].
pub trait ChunkDecoder: Send + Sync {
    /// Write chunk `index` (chunk-grid coordinates) into `out`: the chunk's extent clipped
    /// to the array bounds, in C order, native-endian, logical dtype.
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()>;
}

/// Budget of decoded chunk bytes a [`ChunkedSource`] keeps for reuse.
const CHUNK_CACHE_BYTES: usize = 64 << 20;

type CachedChunk = (Vec<u64>, Arc<Vec<u8>>);

/// A source cut into a regular grid of chunks, each produced by a [`ChunkDecoder`].
pub struct ChunkedSource {
    dtype: DType,
    shape: Vec<u64>,
    chunk: Vec<u64>,
    decoder: Box<dyn ChunkDecoder>,
    cache: Mutex<VecDeque<CachedChunk>>,
}

impl fmt::Debug for ChunkedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedSource")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("chunk", &self.chunk)
            .finish()
    }
}

impl ChunkedSource {
    /// A chunked source; chunk sizes must be non-zero for non-empty dims.
    pub fn new(
        dtype: DType,
        shape: Vec<u64>,
        chunk: Vec<u64>,
        decoder: Box<dyn ChunkDecoder>,
    ) -> Result<Self> {
        if chunk.len() != shape.len() || chunk.iter().zip(&shape).any(|(&c, &n)| c == 0 && n > 0) {
            return Err(Error::OutOfBounds(format!(
                "chunk shape {chunk:?} does not fit array shape {shape:?}"
            )));
        }
        element_count(&shape)
            .and_then(|n| n.checked_mul(dtype.size() as u64))
            .ok_or_else(|| Error::OutOfBounds(format!("shape {shape:?} overflows")))?;
        let chunk_bytes = element_count(&chunk)
            .and_then(|n| n.checked_mul(dtype.size() as u64))
            .ok_or_else(|| Error::OutOfBounds(format!("chunk {chunk:?} overflows")))?;
        if chunk_bytes > 1 << 34 {
            return Err(Error::OutOfBounds(format!(
                "chunk {chunk:?} of {chunk_bytes} bytes is too large"
            )));
        }
        Ok(ChunkedSource {
            dtype,
            shape,
            chunk,
            decoder,
            cache: Mutex::new(VecDeque::new()),
        })
    }

    /// Start and clipped extent of chunk `index`.
    fn chunk_extent(&self, index: &[u64]) -> (Vec<u64>, Vec<u64>) {
        let start: Vec<u64> = index.iter().zip(&self.chunk).map(|(i, c)| i * c).collect();
        let extent = start
            .iter()
            .zip(&self.chunk)
            .zip(&self.shape)
            .map(|((s, c), n)| (*c).min(n - s))
            .collect();
        (start, extent)
    }

    fn load_chunk(&self, index: &[u64]) -> Result<Arc<Vec<u8>>> {
        if let Some((_, bytes)) = self
            .cache
            .lock()
            .expect("cache lock")
            .iter()
            .find(|(i, _)| i == index)
        {
            return Ok(bytes.clone());
        }
        let (_, extent) = self.chunk_extent(index);
        let n = element_count(&extent).unwrap_or(0) as usize * self.dtype.size();
        let mut buf = vec![0u8; n];
        self.decoder.decode_chunk(index, &mut buf)?;
        let buf = Arc::new(buf);
        let mut cache = self.cache.lock().expect("cache lock");
        cache.push_back((index.to_vec(), buf.clone()));
        let mut total: usize = cache.iter().map(|(_, b)| b.len()).sum();
        while total > CHUNK_CACHE_BYTES && cache.len() > 1 {
            if let Some((_, b)) = cache.pop_front() {
                total -= b.len();
            }
        }
        Ok(buf)
    }
}

impl ArraySource for ChunkedSource {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        if shape.contains(&0) {
            return Ok(());
        }
        let es = self.dtype.size();
        let first: Vec<u64> = start.iter().zip(&self.chunk).map(|(s, c)| s / c).collect();
        let last: Vec<u64> = start
            .iter()
            .zip(shape)
            .zip(&self.chunk)
            .map(|((s, n), c)| (s + n - 1) / c)
            .collect();
        // Every chunk index the region touches.
        let mut indices = Vec::new();
        let mut index = first.clone();
        'grid: loop {
            indices.push(index.clone());
            let mut k = index.len();
            loop {
                if k == 0 {
                    break 'grid;
                }
                k -= 1;
                index[k] += 1;
                if index[k] <= last[k] {
                    break;
                }
                index[k] = first[k];
            }
        }
        let chunks: Vec<Arc<Vec<u8>>> = if indices.len() > 1 {
            indices
                .par_iter()
                .map(|i| self.load_chunk(i))
                .collect::<Result<_>>()?
        } else {
            vec![self.load_chunk(&indices[0])?]
        };
        let dst_strides = c_strides(shape, es);
        for (index, bytes) in indices.iter().zip(&chunks) {
            let (cstart, cextent) = self.chunk_extent(index);
            let src_strides = c_strides(&cextent, es);
            let lo: Vec<u64> = cstart.iter().zip(start).map(|(c, s)| *c.max(s)).collect();
            let hi: Vec<u64> = cstart
                .iter()
                .zip(&cextent)
                .zip(start.iter().zip(shape))
                .map(|((c, e), (s, n))| (c + e).min(s + n))
                .collect();
            let part: Vec<u64> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
            let src_off: i64 = lo
                .iter()
                .zip(&cstart)
                .zip(&src_strides)
                .map(|((l, c), s)| (l - c) as i64 * s)
                .sum();
            let dst_off: i64 = lo
                .iter()
                .zip(start)
                .zip(&dst_strides)
                .map(|((l, s), d)| (l - s) as i64 * d)
                .sum();
            copy_nd(
                bytes,
                Layout {
                    offset: src_off,
                    strides: &src_strides,
                },
                out,
                Layout {
                    offset: dst_off,
                    strides: &dst_strides,
                },
                &part,
                es,
            );
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.chunk.clone()
    }
}
