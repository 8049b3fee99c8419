//! Lazy pixel sources: the bytes behind a dataset, read region by region on demand.
//!
//! Two implementations cover the formats:
//! - [`StridedSource`]: bytes at a fixed offset with a byte stride per dimension (contiguous,
//!   Fortran order, permuted axes, per-frame headers, in-memory buffers), either byte order,
//!   memory-mapped; zero-copy views where the stored layout is already the logical one.
//! - [`ChunkedSource`] (in `chunked.rs`, re-exported here): a chunk grid and a
//!   [`ChunkDecoder`], decoded in parallel, with a small cache and sparse reads.
//!
//! [`Select`] (in `select.rs`) views a source with some dimensions held at one index.
//!
//! Every source writes regions in C order with native-endian elements of its logical dtype.

use std::fmt;
use std::fs::File;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

pub use crate::chunked::{
    copy_into_runs, decode_chunk_through_scratch, ChunkDecoder, ChunkedSource, StoredChunks,
    MAX_CHUNK_BYTES,
};
pub use crate::copy::copy_nd;
use crate::copy::gather;
pub use crate::copy::Threads;
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::format::{NoProgress, Progress};
pub use crate::select::Select;
pub use crate::strides::{c_strides, element_count, for_each_index, Layout};
pub use crate::transpose::MERGE_ROW_BYTES;

/// A lazily read N-D array of one logical dtype.
pub trait ArraySource: Send + Sync {
    /// Logical element type of the values written by [`ArraySource::read_region`].
    fn dtype(&self) -> DType;
    /// C-order shape.
    fn shape(&self) -> &[u64];
    /// Copy the hyper-rectangle `start .. start + shape` into `out` in C order,
    /// native-endian: the one method every source implements. The caller guarantees the
    /// region lies inside the array and that `out.len()` is the region's element count
    /// times the dtype size ([`crate::Dataset`] checks both). Every byte of `out` must be
    /// written: callers reuse buffers without clearing them.
    ///
    /// `progress` is the caller's, consulted only for cancellation (the caller counts
    /// bytes): once it is cancelled, a source reading stored bytes stops with
    /// [`Error::Cancelled`] — a strided read before it starts, a read in many steps
    /// (chunks, frames, stacked parts) between steps. `threads` says whether a source
    /// copying from memory may split a large copy across threads ([`Threads::All`]) or
    /// must stay on the calling thread. A source wrapping others passes both on to every
    /// read it makes, so they reach the source that does the reading.
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()>;
    /// [`ArraySource::read_region_with`] for a caller that never cancels and waits for this
    /// one region (all threads).
    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        self.read_region_with(start, shape, out, &NoProgress, Threads::All)
    }
    /// The natural unit of reading (a frame, a strip, an HDF5 chunk): regions aligned to it
    /// are cheapest.
    fn chunk_shape(&self) -> Vec<u64>;
    /// Whether reading any part of one of [`ArraySource::chunk_shape`]'s chunks costs
    /// decoding all of it (compressed or encoded chunks): regions that cut a chunk then
    /// decode it once each. `false` (the default) when a part costs only its own bytes,
    /// and for sparse arrays whose chunks are mostly absent (filled, not decoded).
    fn decodes_whole_chunks(&self) -> bool {
        false
    }
    /// Zero-copy access, the one way a source offers it: the stored bytes seen in place
    /// (usually a whole memory-mapped file), where element `(0, 0, ...)` lies and the byte
    /// stride of each dimension (per-frame headers, Fortran order and flipped axes are
    /// strides), and the byte order of the stored values. `None` when the values are not
    /// stored as an array (compressed chunks, packed or converted values): read them with
    /// [`ArraySource::read_region`]. [`StridedView::native`] keeps only native-order
    /// views, [`StridedView::contiguous`] gives the C-contiguous array as one slice.
    fn stored_view(&self) -> Option<StridedView<'_>> {
        None
    }
    /// The bytes of the region `start .. start + shape` where the source holds them, when
    /// they are one run of C-ordered, native-order values (a frame of a memory-mapped file,
    /// a whole uncompressed chunk): what [`ArraySource::read_region`] would write, seen in
    /// place, without a copy. `None` when they are not (the caller reads them). The
    /// caller guarantees the region lies inside the array. By default, the region's run in
    /// [`ArraySource::stored_view`] ([`StridedView::region_run`]); chunked sources whose
    /// chunks are stored as they are answer for regions inside one chunk.
    fn region_in_place(&self, start: &[u64], shape: &[u64]) -> Option<&[u8]> {
        self.stored_view()?.region_run(self.dtype(), start, shape)
    }
    /// Not a view but a hint for copying a source that has none (chunked storage): when
    /// whole chunks are contiguous in a permuted order of the logical dimensions (Fortran
    /// order, a spectrum image stored energy-first), `perm`, where `perm[i]` is the logical
    /// dimension stored `i`-th (slowest first), and a source over the same data in that
    /// order, which a full read copies fastest. `None` for C-order storage.
    fn stored_order(&self) -> Option<(Vec<usize>, Arc<dyn ArraySource>)> {
        None
    }
    /// For passes whose result depends on no index (totals, reading everything to check
    /// it): the dimensions this source stores backwards (a negative stride: TIA's and
    /// MIB's frames, stored bottom-up) and a source over the same values with those
    /// dimensions' indices reversed, which walks them forwards, so that its regions are
    /// runs of the storage. `None` when no dimension is stored backwards.
    fn forwards(&self) -> Option<(Vec<usize>, Arc<dyn ArraySource>)> {
        None
    }
    /// The file whose bytes, from its first byte, are the `bytes` of
    /// [`ArraySource::stored_view`], when they are a memory map of a file (None when they
    /// are held in memory): a consumer may map that file itself (e.g. privately,
    /// copy-on-write) and find the values at the same offset and strides.
    fn view_file(&self) -> Option<&Path> {
        None
    }
    /// For passes whose result does not depend on where a value lies (sums, statistics,
    /// [`crate::scan`]): every value exactly once, as runs of bytes the source holds that
    /// are `min_mean_run` bytes long on average, in no particular order, when it has no
    /// [`ArraySource::stored_view`] but keeps its values unconverted in memory in another
    /// arrangement (the unfiltered chunks of an HDF5 dataset, edge chunks without their
    /// padding). `None` otherwise (the default), or when the runs would be shorter.
    fn stored_runs(&self, min_mean_run: usize) -> Option<StoredRuns<'_>> {
        let _ = min_mean_run;
        None
    }
}

/// Every value of a source exactly once, as runs of bytes it holds
/// ([`ArraySource::stored_runs`]).
#[derive(Debug, Clone)]
pub struct StoredRuns<'a> {
    /// The storage (usually a whole memory-mapped file).
    pub bytes: &'a [u8],
    /// Byte offset in `bytes` and length (whole elements, not 0) of each run; each run
    /// lies inside `bytes`.
    pub runs: Vec<(usize, usize)>,
    /// Byte order of the stored values (native for single-byte units).
    pub order: ByteOrder,
}

/// Where a source's values lie in bytes it holds ([`ArraySource::stored_view`]): element
/// `(0, 0, ...)` at byte `offset` of `bytes`, then one byte stride per dimension (negative
/// for flipped axes). Every addressed element lies inside `bytes`, in the logical dtype and
/// byte order `order`.
#[derive(Debug, Clone, Copy)]
pub struct StridedView<'a> {
    /// The storage (usually a whole memory-mapped file).
    pub bytes: &'a [u8],
    /// Byte offset of element `(0, 0, ...)`.
    pub offset: u64,
    /// Byte stride per dimension.
    pub strides: &'a [i64],
    /// Byte order of the stored values (native for single-byte units).
    pub order: ByteOrder,
}

/// A region of a [`StridedView`] as runs of consecutive values ([`StridedView::runs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRuns {
    /// Byte offset of the first run.
    pub first: i64,
    /// How many runs along each dimension they are laid out along (C order).
    pub outer: Vec<u64>,
    /// Byte stride of each of those dimensions.
    pub strides: Vec<i64>,
    /// Bytes of each run.
    pub run: usize,
}

impl<'a> StridedView<'a> {
    /// The view of values of `dtype` stored in `order` in `bytes`, element `(0, 0, ...)`
    /// at `offset`, `strides` apart; single-byte units read the same in either order, so
    /// theirs is the native one.
    pub fn of(
        bytes: &'a [u8],
        offset: u64,
        strides: &'a [i64],
        dtype: DType,
        order: ByteOrder,
    ) -> Self {
        StridedView {
            bytes,
            offset,
            strides,
            order: if dtype.swap_unit() == 1 {
                ByteOrder::NATIVE
            } else {
                order
            },
        }
    }

    /// This view when its values are in the machine's byte order (usable as they are).
    pub fn native(self) -> Option<Self> {
        self.order.is_native().then_some(self)
    }

    /// Copy the region `start .. start + shape` of the `dtype` values this view sees into
    /// `out` (C order, native byte order): the read of every strided source, as
    /// [`ArraySource::read_region_with`] asks (refused with [`Error::Cancelled`] once
    /// `progress` is cancelled; large copies split across threads only with
    /// [`Threads::All`]). The caller guarantees the region lies inside the view and `out`
    /// is its size.
    pub fn read_region(
        &self,
        dtype: DType,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let base = self.offset_of(start);
        let swap_unit = if self.order.is_native() {
            1
        } else {
            dtype.swap_unit()
        };
        gather(
            self.bytes,
            Layout {
                offset: base,
                strides: self.strides,
            },
            out,
            shape,
            dtype.size(),
            swap_unit,
            threads,
        );
        Ok(())
    }

    /// The region `start .. start + shape` of the `dtype` values this view sees as one
    /// slice of C-ordered, native-order bytes, when the view stores it so (a plain memory
    /// map of those values, in place: no copy). The caller guarantees the region lies
    /// inside the view.
    pub fn region_run(&self, dtype: DType, start: &[u64], shape: &[u64]) -> Option<&'a [u8]> {
        if !self.order.is_native() || shape.len() != self.strides.len() {
            return None;
        }
        // Contiguous when each dimension the region spans (last first) steps over exactly
        // the values of the dimensions after it.
        let mut step = dtype.size() as i64;
        for (&n, &stride) in shape.iter().zip(self.strides).rev() {
            if n == 0 {
                return Some(&[]);
            }
            if n > 1 {
                if stride != step {
                    return None;
                }
                step = step.checked_mul(i64::try_from(n).ok()?)?;
            }
        }
        let first = start
            .iter()
            .zip(self.strides)
            .try_fold(i64::try_from(self.offset).ok()?, |at, (&i, &s)| {
                at.checked_add(i64::try_from(i).ok()?.checked_mul(s)?)
            })?;
        let first = usize::try_from(first).ok()?;
        self.bytes
            .get(first..first.checked_add(usize::try_from(step).ok()?)?)
    }

    /// Byte offset in `bytes` of the element at index `start`.
    pub fn offset_of(&self, start: &[u64]) -> i64 {
        start
            .iter()
            .zip(self.strides)
            .fold(self.offset as i64, |at, (&i, &s)| at + i as i64 * s)
    }

    /// Where the values of the region `start .. start + shape` (elements of `element`
    /// bytes) lie as runs of consecutive values of `bytes`, every value exactly once:
    /// flipped dimensions walked forwards and neighbouring dimensions merged where
    /// contiguous, so a region of frames stored upside down after their headers is one run
    /// per frame. The first run's offset, the shape and byte strides of the dimensions
    /// the runs are laid out along (C order), and the bytes of a run (one element when no
    /// dimension is contiguous). `None` for an empty region. The caller guarantees the
    /// region lies inside the view.
    pub fn runs(&self, start: &[u64], shape: &[u64], element: usize) -> Option<ViewRuns> {
        if shape.contains(&0) {
            return None;
        }
        let mut first = self.offset_of(start);
        let mut forwards = self.strides.to_vec();
        for (s, &n) in forwards.iter_mut().zip(shape) {
            if *s < 0 {
                first += (n as i64 - 1) * *s;
                *s = -*s;
            }
        }
        let (mut outer, mut strides) = crate::copy::simplify(shape, &forwards, element);
        let mut run = element;
        if strides.last() == Some(&(element as i64)) {
            run *= outer.pop().unwrap_or(1) as usize;
            strides.pop();
        }
        Some(ViewRuns {
            first,
            outer,
            strides,
            run,
        })
    }

    /// Every value of the region `start .. start + shape` of the `dtype` values this view
    /// sees exactly once, as the runs of [`StridedView::runs`] in the view's byte order,
    /// handed to `visit` in no particular order: for order-free looks at a region in
    /// place. The caller guarantees the region lies inside the view.
    pub fn region_spans(
        &self,
        dtype: DType,
        start: &[u64],
        shape: &[u64],
        mut visit: impl FnMut(&'a [u8]),
    ) {
        let Some(runs) = self.runs(start, shape, dtype.size()) else {
            return;
        };
        let zeros = vec![0; runs.outer.len()];
        crate::strides::walk(&runs.outer, &runs.strides, &zeros, runs.first, |at, _| {
            visit(&self.bytes[at as usize..at as usize + runs.run]);
        });
    }

    /// The whole array of `shape` and `dtype` as one C-ordered, native-order slice, when
    /// the view is exactly that (a plain memory map of contiguous values).
    pub fn contiguous(&self, shape: &[u64], dtype: DType) -> Option<&'a [u8]> {
        if !self.order.is_native() || self.strides != c_strides(shape, dtype.size()) {
            return None;
        }
        let n = element_count(shape)? as usize * dtype.size();
        let start = self.offset as usize;
        self.bytes.get(start..start.checked_add(n)?)
    }
}

/// Bytes a source reads from: a read-only memory map of a file, or an owned buffer.
#[derive(Clone)]
pub enum Storage {
    /// A memory-mapped file (the whole file, from its first byte) and its path.
    Mapped(Arc<memmap2::Mmap>, Arc<Path>),
    /// Bytes held in memory.
    Owned(Arc<[u8]>),
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Mapped(m, path) => {
                write!(f, "Storage::Mapped({}: {} bytes)", path.display(), m.len())
            }
            Storage::Owned(b) => write!(f, "Storage::Owned({} bytes)", b.len()),
        }
    }
}

impl Storage {
    /// Map a file read-only. Empty files become an empty owned buffer (mapping zero
    /// bytes is not portable).
    pub fn map(path: &Path) -> Result<Self> {
        Ok(Storage::map_open(path)?.0)
    }

    /// Map a file read-only, and keep the open file too: a parser can read the structure
    /// with positioned reads ([`crate::read_at::FileAt`]) from the very file that is mapped.
    pub fn map_open(path: &Path) -> Result<(Self, File)> {
        let (file, meta) = crate::inputs::open_with_metadata(path)?;
        let storage = Storage::map_file(&file, meta.len(), path)?;
        Ok((storage, file))
    }

    /// Map the first `len` bytes of the open `file` read-only (`path` names it in
    /// errors; the file may have no name left, as a scratch file removed once opened).
    pub fn map_file(file: &File, len: u64, path: &Path) -> Result<Self> {
        if len == 0 {
            return Ok(Storage::Owned(Arc::from(Vec::new())));
        }
        // SAFETY: the map is read-only and emio never writes through it. Soundness relies on
        // no other process truncating or rewriting the file while it is mapped, the same
        // contract every memory-mapping reader (numpy.memmap, mrcfile) has; the bytes are
        // only ever read as plain `u8`, so concurrent modification cannot create invalid
        // values, only wrong pixels.
        // The length is given so that the map does not ask the file for it again.
        let len = usize::try_from(len).map_err(|_| {
            Error::io(
                path,
                std::io::Error::other(format!("{len} bytes do not fit in this address space")),
            )
        })?;
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file) }
            .map_err(|e| Error::io(path, e))?;
        Ok(Storage::Mapped(Arc::new(map), Arc::from(path)))
    }

    /// The file these bytes map, from its first byte (None for bytes held in memory).
    pub fn file(&self) -> Option<&Path> {
        match self {
            Storage::Mapped(_, path) => Some(path),
            Storage::Owned(_) => None,
        }
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
            Storage::Mapped(m, _) => m,
            Storage::Owned(b) => b,
        }
    }
}

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
            .ok_or_else(|| Error::Layout(format!("shape {shape:?} overflows")))?;
        if expected != bytes.len() as u64 {
            return Err(Error::Layout(format!(
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
            return Err(Error::Layout(format!("{perm:?} is not a permutation")));
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
            return Err(Error::Layout(format!(
                "cannot reshape {:?} into {shape:?}",
                self.shape
            )));
        }
        if self.strides != c_strides(&self.shape, self.dtype.size()) {
            return Err(Error::Layout("reshape needs C-contiguous storage".into()));
        }
        let strides = c_strides(&shape, self.dtype.size());
        Ok(StridedSource {
            shape,
            strides,
            ..self.clone()
        })
    }

    /// Whether the dims longer than one are C-contiguous (unit dims' strides do not
    /// matter for which bytes are addressed).
    fn is_c_contiguous_ignoring_unit_dims(&self) -> bool {
        let mut expected = self.dtype.size() as i64;
        for (&n, &s) in self.shape.iter().zip(&self.strides).rev() {
            if n > 1 {
                if s != expected {
                    return false;
                }
                expected *= n as i64;
            }
        }
        true
    }
}

impl ArraySource for StridedSource {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        let view = StridedView {
            bytes: &self.storage,
            offset: self.offset,
            strides: &self.strides,
            order: self.order,
        };
        view.read_region(self.dtype, start, shape, out, progress, threads)
    }

    fn chunk_shape(&self) -> Vec<u64> {
        // One stored "frame": the two dims that vary fastest in storage, whole (the last two
        // for C-order data; the first two for Fortran order; the navigation plane of a
        // spectrum image stored energy-major).
        let mut by_stride: Vec<usize> = (0..self.shape.len())
            .filter(|&d| self.shape[d] > 1)
            .collect();
        by_stride.sort_by_key(|&d| (self.strides[d].unsigned_abs(), std::cmp::Reverse(d)));
        let mut chunk = vec![1; self.shape.len()];
        for &d in by_stride.iter().take(2) {
            chunk[d] = self.shape[d];
        }
        chunk
    }

    fn stored_view(&self) -> Option<StridedView<'_>> {
        Some(StridedView::of(
            &self.storage,
            self.offset,
            &self.strides,
            self.dtype,
            self.order,
        ))
    }

    fn stored_order(&self) -> Option<(Vec<usize>, Arc<dyn ArraySource>)> {
        // Slowest-varying first; unit dims keep their logical place among equals.
        let mut perm: Vec<usize> = (0..self.shape.len()).collect();
        perm.sort_by_key(|&d| {
            let stride = if self.shape[d] > 1 {
                self.strides[d]
            } else {
                i64::MAX
            };
            (std::cmp::Reverse(stride), d)
        });
        let identity = perm.iter().enumerate().all(|(i, &d)| i == d);
        if identity
            || self.strides.iter().any(|&s| s < 0)
            || self.is_c_contiguous_ignoring_unit_dims()
        {
            return None;
        }
        let stored = self.permuted(&perm).ok()?;
        stored
            .is_c_contiguous_ignoring_unit_dims()
            .then(|| (perm, Arc::new(stored) as Arc<dyn ArraySource>))
    }

    fn forwards(&self) -> Option<(Vec<usize>, Arc<dyn ArraySource>)> {
        if self.strides.iter().all(|&s| s >= 0) {
            return None;
        }
        let mut forwards = self.clone();
        let mut reversed = Vec::new();
        for d in (0..self.shape.len()).filter(|&d| self.strides[d] < 0) {
            // Index 0 of the reversed dimension is its last index here (a dimension of
            // one index only loses the sign, which [`ArraySource::stored_order`] needs).
            let last = (self.shape[d].max(1) - 1) as i64 * self.strides[d];
            forwards.offset = forwards.offset.checked_add_signed(last)?;
            forwards.strides[d] = -self.strides[d];
            if self.shape[d] > 1 {
                reversed.push(d);
            }
        }
        Some((reversed, Arc::new(forwards)))
    }

    fn view_file(&self) -> Option<&Path> {
        self.storage.file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Dataset, Region};
    use proptest::prelude::*;

    proptest! {
        /// A region's stored run holds the bytes a read gives; in a C-order array every
        /// region that is one run of it (whole trailing dimensions after its first
        /// dimension longer than one) has one, in a transposed view none that crosses
        /// the swapped dimensions does.
        #[test]
        fn region_runs_are_the_regions_read(
            shape in proptest::collection::vec(1u64..5, 1..5),
            cut in proptest::collection::vec((0u64..4, 1u64..5), 4),
            transpose in any::<bool>(),
        ) {
            let total: u64 = shape.iter().product();
            let values: Vec<u8> = (0..total * 2).map(|i| (i * 7 % 251) as u8).collect();
            let mut source = StridedSource::from_bytes(values, DType::U16, shape.clone()).unwrap();
            let n = shape.len();
            if transpose {
                source = source.permuted(&(0..n).rev().collect::<Vec<_>>()).unwrap();
            }
            let logical = source.shape().to_vec();
            let axes = vec![crate::axis::Axis::default_for(false); n];
            let tree = crate::metadata::Tree::new();
            let ds = Dataset::new(std::sync::Arc::new(source), axes, tree.clone(), tree).unwrap();
            let start: Vec<u64> = logical.iter().zip(&cut).map(|(&l, &(s, _))| s.min(l - 1)).collect();
            let extent: Vec<u64> =
                logical.iter().zip(&start).zip(&cut).map(|((&l, &s), &(_, e))| e.min(l - s)).collect();
            let region = Region { start, shape: extent.clone() };
            let seen = ds
                .stored_view()
                .unwrap()
                .region_run(DType::U16, &region.start, &region.shape)
                .map(<[u8]>::to_vec);
            let read = ds.read_region_bytes(&region.start, &region.shape).unwrap();
            if let Some(seen) = &seen {
                prop_assert_eq!(seen, &read);
            }
            let spanning: Vec<usize> = (0..n).filter(|&d| extent[d] > 1).collect();
            let one_run = spanning
                .first()
                .is_none_or(|&d0| (d0 + 1..n).all(|d| extent[d] == logical[d]));
            if !transpose {
                prop_assert_eq!(seen.is_some(), one_run);
            } else if spanning.len() > 1 {
                prop_assert!(seen.is_none());
            }
        }
    }
}
