//! [`ChunkedSource`]: an array stored as a grid of chunks that a [`ChunkDecoder`] decodes
//! (compressed strips/tiles, HDF5 and Zarr chunks, bit-packed or event-stream data), in
//! parallel, with a small cache. A decoder that can list its stored chunks
//! ([`StoredChunks`]) lets sparse arrays (huge shapes, few chunks present) be read with the
//! absent chunks filled in bulk, and long reads stop once the caller's [`Progress`] is
//! cancelled. Re-exported from [`crate::source`].

use std::cell::Cell;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::copy::copy_nd;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::source::{ArraySource, Threads};
use crate::strides::{c_strides, element_count, for_each_index, Layout};

/// Decodes one chunk of a [`ChunkedSource`].
pub trait ChunkDecoder: Send + Sync {
    /// Write chunk `index` (chunk-grid coordinates) into `out`: the chunk's extent clipped
    /// to the array bounds, in C order, native-endian, logical dtype. `out` arrives zeroed
    /// unless [`ChunkDecoder::writes_every_byte`] says it need not be.
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()>;
    /// Write chunk `index`, whole and inside the array, into `runs`: its bytes as
    /// [`ChunkDecoder::decode_chunk`] writes them, cut into consecutive pieces of equal
    /// length (the stretches of a region's buffer the chunk covers), zeroed under the same
    /// rule. The default decodes into a scratch buffer and copies the pieces
    /// ([`decode_chunk_through_scratch`]); a decoder whose last step can write piece by
    /// piece (an HDF5 byte unshuffle) overrides it to skip that copy.
    fn decode_chunk_runs(&self, index: &[u64], runs: &mut [&mut [u8]]) -> Result<()> {
        decode_chunk_through_scratch(self, index, runs)
    }
    /// Whether [`ChunkDecoder::decode_chunk`] writes every byte of `out` whenever it
    /// succeeds (a decompressor producing exactly the chunk), so `out` is not zeroed first:
    /// one pass less through memory per chunk. `false` (the default) for decoders that
    /// accumulate (event streams) or leave parts untouched (padding).
    fn writes_every_byte(&self) -> bool {
        false
    }
    /// The chunks that hold data, when the decoder knows them (listed once, bounded): a
    /// region touching more chunks than are stored is then filled with the fill value in
    /// bulk and only the stored chunks are decoded. `None` (the default): every chunk a
    /// region touches is decoded.
    fn stored_chunks(&self) -> Option<&StoredChunks> {
        None
    }
}

/// [`ChunkDecoder::decode_chunk_runs`] through [`ChunkDecoder::decode_chunk`]: a single
/// run is decoded into directly, several are decoded into this thread's scratch buffer
/// and copied out.
pub fn decode_chunk_through_scratch<D: ChunkDecoder + ?Sized>(
    decoder: &D,
    index: &[u64],
    runs: &mut [&mut [u8]],
) -> Result<()> {
    if let [run] = runs {
        return decoder.decode_chunk(index, run);
    }
    let total = runs.iter().map(|r| r.len()).sum();
    with_scratch(total, !decoder.writes_every_byte(), |buf| {
        decoder.decode_chunk(index, buf)?;
        copy_into_runs(buf, runs);
        Ok(())
    })
}

/// Copy `bytes` into `runs`, consecutive pieces as long as `bytes` together.
pub fn copy_into_runs(bytes: &[u8], runs: &mut [&mut [u8]]) {
    let mut at = 0;
    for run in runs.iter_mut() {
        run.copy_from_slice(&bytes[at..at + run.len()]);
        at += run.len();
    }
}

/// The chunks of a [`ChunkedSource`] that are stored (e.g. the chunk files of a Zarr
/// array), and the value every other chunk reads as.
#[derive(Debug, Clone, Default)]
pub struct StoredChunks {
    chunks: HashSet<Vec<u64>>,
    fill: Vec<u8>,
}

impl StoredChunks {
    /// The stored chunk indices (chunk-grid coordinates) and the bytes of one element of
    /// the fill value (logical dtype, native-endian) absent chunks read as.
    pub fn new(chunks: HashSet<Vec<u64>>, fill: Vec<u8>) -> Self {
        StoredChunks { chunks, fill }
    }

    /// Number of stored chunks.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Whether no chunk is stored.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Whether chunk `index` is stored.
    pub fn contains(&self, index: &[u64]) -> bool {
        self.chunks.contains(index)
    }

    /// The stored chunks inside the grid box `first ..= last`, found by walking the box or
    /// the stored set, whichever is smaller.
    fn within(&self, first: &[u64], last: &[u64]) -> Vec<Vec<u64>> {
        let counts: Vec<u64> = first.iter().zip(last).map(|(f, l)| l - f + 1).collect();
        let in_box = counts.iter().map(|&n| u128::from(n)).product::<u128>();
        if in_box <= self.chunks.len() as u128 {
            let mut found = Vec::new();
            let mut key = first.to_vec();
            for_each_index(&counts, |i| {
                for ((k, i), f) in key.iter_mut().zip(i).zip(first) {
                    *k = i + f;
                }
                if self.chunks.contains(key.as_slice()) {
                    found.push(key.clone());
                }
            });
            found
        } else {
            self.chunks
                .iter()
                .filter(|c| {
                    c.iter()
                        .zip(first.iter().zip(last))
                        .all(|(i, (f, l))| (f..=l).contains(&i))
                })
                .cloned()
                .collect()
        }
    }

    /// Write the fill value into every element of `out`.
    fn fill(&self, out: &mut [u8]) {
        if self.fill.iter().all(|&b| b == 0) || self.fill.is_empty() {
            out.fill(0);
        } else {
            for element in out.chunks_exact_mut(self.fill.len()) {
                element.copy_from_slice(&self.fill);
            }
        }
    }
}

/// Chunks (or rows of chunks) read between two checks of cancellation: a check may be
/// costly (Python's progress takes the GIL to look for Ctrl-C).
const CHUNKS_PER_CHECK: usize = 64;

/// Where a chunk meets a region: the chunk's start and extent, the overlap's first index
/// and shape, and the overlap's byte offset in the region's C-order buffer.
struct Overlap {
    cstart: Vec<u64>,
    cextent: Vec<u64>,
    lo: Vec<u64>,
    part: Vec<u64>,
    dst_off: i64,
}

impl Overlap {
    /// Bytes of the whole (clipped) chunk.
    fn chunk_bytes(&self, elem_size: usize) -> usize {
        element_count(&self.cextent).unwrap_or(0) as usize * elem_size
    }

    /// The stretches of a C-order buffer of the region's `shape` that this overlap covers,
    /// as `(byte offset, length)` in order, all of one length: the overlap's rows, joined
    /// over the inner dimensions it spans whole.
    fn runs(&self, shape: &[u64], es: usize) -> Vec<Run> {
        let start = self.dst_off as usize;
        let Some(cut) = (0..shape.len()).rev().find(|&k| self.part[k] != shape[k]) else {
            return vec![(start, self.part_bytes(es))];
        };
        let len = element_count(&self.part[cut..]).unwrap_or(0) as usize * es;
        let strides = c_strides(shape, es);
        let mut runs = Vec::new();
        for_each_index(&self.part[..cut], |outer| {
            let at: i64 = outer.iter().zip(&strides).map(|(&i, s)| i as i64 * s).sum();
            runs.push((start + at as usize, len));
        });
        runs
    }

    /// Bytes of the overlap.
    fn part_bytes(&self, elem_size: usize) -> usize {
        element_count(&self.part).unwrap_or(0) as usize * elem_size
    }
}

/// A stretch of a region's buffer: byte offset and length.
type Run = (usize, usize);

/// Shortest stretch of a region's buffer that a whole chunk is decoded into piece by piece
/// ([`ChunkDecoder::decode_chunk_runs`]); chunks covering shorter stretches (a chunk a few
/// elements wide) are decoded into a scratch buffer and copied with strides.
const MIN_RUN_BYTES: usize = 64;

/// Largest scratch buffer a thread keeps for its next chunk (larger ones are freed).
const SCRATCH_KEPT_BYTES: usize = 64 << 20;

thread_local! {
    /// Per thread: the buffer whole chunks are decoded into before being copied into place.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Run `f` on a buffer of `n` bytes, zeroed when `zeroed`, reused across calls on this
/// thread (taken out while `f` runs, so a nested call gets a new one).
fn with_scratch<T>(n: usize, zeroed: bool, f: impl FnOnce(&mut [u8]) -> T) -> T {
    let mut buf = SCRATCH.with(Cell::take);
    if zeroed {
        buf.clear();
    }
    buf.resize(n, 0);
    let result = f(&mut buf);
    if buf.capacity() <= SCRATCH_KEPT_BYTES {
        SCRATCH.with(|s| s.set(buf));
    }
    result
}

/// [`Error::Cancelled`] once `progress` is cancelled, checked for every
/// [`CHUNKS_PER_CHECK`]-th step `i` of a loop.
fn check_cancelled(progress: &dyn Progress, i: usize) -> Result<()> {
    if i.is_multiple_of(CHUNKS_PER_CHECK) && progress.is_cancelled() {
        return Err(Error::Cancelled);
    }
    Ok(())
}

/// Budget of decoded chunk bytes a [`ChunkedSource`] keeps for reuse.
const CHUNK_CACHE_BYTES: usize = 64 << 20;

/// Most bytes of evicted chunk buffers a [`ChunkCache`] keeps to decode the next chunks
/// into: a new buffer of a few hundred KiB or more is fresh memory from the kernel (page
/// faults, zeroing, unmapping when freed), a quarter of a conversion's time for chunks of
/// HyperSpy's sizes.
const SPARE_BYTES: usize = 16 << 20;

type CachedChunk = (Vec<u64>, Arc<Vec<u8>>);

/// The decoded chunks a [`ChunkedSource`] keeps (first in, first out, within
/// [`CHUNK_CACHE_BYTES`]), and the buffers of evicted ones no reader holds any more,
/// reused for the next chunks decoded.
#[derive(Default)]
struct ChunkCache {
    chunks: VecDeque<CachedChunk>,
    spare: Vec<Vec<u8>>,
}

impl ChunkCache {
    /// Chunk `index`, when it is cached.
    fn get(&self, index: &[u64]) -> Option<Arc<Vec<u8>>> {
        self.chunks
            .iter()
            .find(|(i, _)| i == index)
            .map(|(_, bytes)| bytes.clone())
    }

    /// A buffer of `n` bytes to decode a chunk into: a spare one when there is one, its
    /// old bytes left in place unless `zeroed` (for decoders that write every byte).
    fn buffer(&mut self, n: usize, zeroed: bool) -> Vec<u8> {
        let mut buf = self.spare.pop().unwrap_or_default();
        if zeroed {
            buf.clear();
        }
        buf.resize(n, 0);
        buf
    }

    /// Keep chunk `index`, evicting the oldest chunks past [`CHUNK_CACHE_BYTES`] (the
    /// newest stays, however large) and keeping their buffers when no reader holds them.
    fn insert(&mut self, index: &[u64], bytes: Arc<Vec<u8>>) {
        self.chunks.push_back((index.to_vec(), bytes));
        let mut total: usize = self.chunks.iter().map(|(_, b)| b.len()).sum();
        while total > CHUNK_CACHE_BYTES && self.chunks.len() > 1 {
            let Some((_, evicted)) = self.chunks.pop_front() else {
                break;
            };
            total -= evicted.len();
            let kept: usize = self.spare.iter().map(Vec::capacity).sum();
            if let Ok(buf) = Arc::try_unwrap(evicted) {
                if kept + buf.capacity() <= SPARE_BYTES {
                    self.spare.push(buf);
                }
            }
        }
    }
}

/// A source cut into a regular grid of chunks, each produced by a [`ChunkDecoder`].
pub struct ChunkedSource {
    dtype: DType,
    shape: Vec<u64>,
    chunk: Vec<u64>,
    decoder: Box<dyn ChunkDecoder>,
    cache: Mutex<ChunkCache>,
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

/// Largest chunk a [`ChunkedSource`] decodes (2 GiB): a reader holds whole chunks in
/// memory, so a chunk grid must keep them this small (HDF5 caps a chunk at 4 GiB; real
/// files use kilobytes to a few hundred megabytes).
pub const MAX_CHUNK_BYTES: u64 = 1 << 31;

impl ChunkedSource {
    /// A chunked source; chunk sizes must be non-zero for non-empty dims.
    pub fn new(
        dtype: DType,
        shape: Vec<u64>,
        chunk: Vec<u64>,
        decoder: Box<dyn ChunkDecoder>,
    ) -> Result<Self> {
        if chunk.len() != shape.len() || chunk.iter().zip(&shape).any(|(&c, &n)| c == 0 && n > 0) {
            return Err(Error::Layout(format!(
                "chunk shape {chunk:?} does not fit array shape {shape:?}"
            )));
        }
        element_count(&shape)
            .and_then(|n| n.checked_mul(dtype.size() as u64))
            .ok_or_else(|| Error::Layout(format!("shape {shape:?} overflows")))?;
        let chunk_bytes = element_count(&chunk)
            .and_then(|n| n.checked_mul(dtype.size() as u64))
            .ok_or_else(|| Error::Layout(format!("chunk {chunk:?} overflows")))?;
        if chunk_bytes > MAX_CHUNK_BYTES {
            return Err(Error::Layout(format!(
                "chunk {chunk:?} of {chunk_bytes} bytes: a chunk may hold at most 2 GiB"
            )));
        }
        Ok(ChunkedSource {
            dtype,
            shape,
            chunk,
            decoder,
            cache: Mutex::new(ChunkCache::default()),
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
        let (_, extent) = self.chunk_extent(index);
        let n = element_count(&extent).unwrap_or(0) as usize * self.dtype.size();
        let zeroed = !self.decoder.writes_every_byte();
        let mut buf = {
            let mut cache = self.cache.lock().expect("cache lock");
            if let Some(bytes) = cache.get(index) {
                return Ok(bytes);
            }
            cache.buffer(n, zeroed)
        };
        self.decoder.decode_chunk(index, &mut buf)?;
        let buf = Arc::new(buf);
        self.cache
            .lock()
            .expect("cache lock")
            .insert(index, buf.clone());
        Ok(buf)
    }

    /// The first and last chunk-grid index (inclusive) a region touches, per dimension.
    fn grid_box(&self, start: &[u64], shape: &[u64]) -> (Vec<u64>, Vec<u64>) {
        let first = start.iter().zip(&self.chunk).map(|(s, c)| s / c).collect();
        let last = start
            .iter()
            .zip(shape)
            .zip(&self.chunk)
            .map(|((s, n), c)| (s + n - 1) / c)
            .collect();
        (first, last)
    }

    /// Where chunk `index` meets the region `start .. start + shape` (it must touch it).
    fn overlap(&self, index: &[u64], start: &[u64], shape: &[u64]) -> Overlap {
        let (cstart, cextent) = self.chunk_extent(index);
        let lo: Vec<u64> = cstart.iter().zip(start).map(|(c, s)| *c.max(s)).collect();
        let part: Vec<u64> = lo
            .iter()
            .zip(cstart.iter().zip(&cextent))
            .zip(start.iter().zip(shape))
            .map(|((l, (c, e)), (s, n))| (c + e).min(s + n) - l)
            .collect();
        let dst_strides = c_strides(shape, self.dtype.size());
        let dst_off = lo
            .iter()
            .zip(start)
            .zip(&dst_strides)
            .map(|((l, s), d)| (l - s) as i64 * d)
            .sum();
        Overlap {
            cstart,
            cextent,
            lo,
            part,
            dst_off,
        }
    }

    /// Copy the part of a decoded chunk (`bytes`) that meets the region of `shape` into
    /// the region's buffer `out`.
    fn copy_overlap(&self, o: &Overlap, bytes: &[u8], shape: &[u64], out: &mut [u8]) {
        let es = self.dtype.size();
        let src_strides = c_strides(&o.cextent, es);
        let src_off: i64 =
            o.lo.iter()
                .zip(&o.cstart)
                .zip(&src_strides)
                .map(|((l, c), s)| (l - c) as i64 * s)
                .sum();
        copy_nd(
            bytes,
            Layout {
                offset: src_off,
                strides: &src_strides,
            },
            out,
            Layout {
                offset: o.dst_off,
                strides: &c_strides(shape, es),
            },
            &o.part,
            es,
        );
    }

    /// Read a region of a sparse array: `out` is filled with the fill value in bulk, then
    /// the stored chunks it touches (`present`) are decoded, a batch at a time, and copied
    /// in; cancellation is checked between batches.
    fn read_sparse(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        stored: &StoredChunks,
        present: &[Vec<u64>],
        progress: &dyn Progress,
    ) -> Result<()> {
        stored.fill(out);
        for batch in present.chunks(CHUNKS_PER_CHECK) {
            check_cancelled(progress, 0)?;
            let chunks: Vec<Arc<Vec<u8>>> = batch
                .par_iter()
                .map(|index| self.load_chunk(index))
                .collect::<Result<_>>()?;
            for (index, bytes) in batch.iter().zip(&chunks) {
                self.copy_overlap(&self.overlap(index, start, shape), bytes, shape, out);
            }
        }
        Ok(())
    }

    /// Read a region lying within one row of chunks along the first dimension: chunks
    /// wholly inside the region whose bytes are contiguous in `out` are decoded straight
    /// into it (no cache, no copy), the others through the cache and copied. Stops with
    /// [`Error::Cancelled`] once `progress` is cancelled (checked every
    /// [`CHUNKS_PER_CHECK`] chunks).
    fn read_slab(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
    ) -> Result<()> {
        let es = self.dtype.size();
        let (first, last) = self.grid_box(start, shape);
        // Every chunk index the region touches.
        let counts: Vec<u64> = first.iter().zip(&last).map(|(f, l)| l - f + 1).collect();
        let mut indices = Vec::new();
        for_each_index(&counts, |i| {
            indices.push(
                i.iter()
                    .zip(&first)
                    .map(|(i, f)| i + f)
                    .collect::<Vec<u64>>(),
            )
        });
        // Where each chunk meets the region: decoded in place, in as many pieces as it
        // covers stretches of `out` (whole chunks), decoded and copied (whole chunks a few
        // elements wide), or through the cache (chunks the region cuts, whose other parts
        // neighbouring regions are likely to read).
        let mut whole: Vec<(&[u64], Vec<Run>)> = Vec::new();
        let mut copied = Vec::new();
        let mut cached = Vec::new();
        for index in &indices {
            let o = self.overlap(index, start, shape);
            if o.part != o.cextent {
                cached.push((index, o));
                continue;
            }
            let runs = o.runs(shape, es);
            if runs.len() == 1 || runs[0].1 >= MIN_RUN_BYTES {
                whole.push((index.as_slice(), runs));
            } else {
                copied.push((index, o));
            }
        }
        if !whole.is_empty() {
            // `out` cut into the stretches, in order, each handed to its chunk.
            let mut stretches: Vec<(usize, usize, usize)> = whole
                .iter()
                .enumerate()
                .flat_map(|(c, (_, runs))| runs.iter().map(move |&(at, len)| (at, len, c)))
                .collect();
            stretches.sort_unstable();
            let mut pieces: Vec<Vec<&mut [u8]>> = whole.iter().map(|_| Vec::new()).collect();
            let mut rest: &mut [u8] = out;
            let mut at = 0usize;
            for (offset, len, c) in stretches {
                let (_, tail) = std::mem::take(&mut rest).split_at_mut(offset - at);
                let (piece, tail) = tail.split_at_mut(len);
                rest = tail;
                at = offset + len;
                pieces[c].push(piece);
            }
            whole.into_par_iter().zip(pieces).enumerate().try_for_each(
                |(i, ((index, _), mut runs))| {
                    check_cancelled(progress, i)?;
                    // Decoders may accumulate (event streams): they get zeroed memory.
                    if !self.decoder.writes_every_byte() {
                        runs.iter_mut().for_each(|run| run.fill(0));
                    }
                    self.decoder.decode_chunk_runs(index, &mut runs)
                },
            )?;
        }
        if !copied.is_empty() {
            // Each thread decodes into its own scratch buffer and copies the chunk into
            // its place; the copies write disjoint parts of `out`, handed out under a lock
            // only long enough to copy (the decoding, the long part, runs unlocked).
            let shared = Mutex::new(&mut *out);
            copied
                .par_iter()
                .enumerate()
                .try_for_each(|(i, (index, o))| {
                    check_cancelled(progress, i)?;
                    let zeroed = !self.decoder.writes_every_byte();
                    with_scratch(o.chunk_bytes(self.dtype.size()), zeroed, |buf| {
                        self.decoder.decode_chunk(index, buf)?;
                        let mut out = shared.lock().expect("region lock");
                        self.copy_overlap(o, buf, shape, &mut out);
                        Ok(())
                    })
                })?;
        }
        // A batch at a time, so that a region cutting hundreds of chunks (h5py's chunks of
        // a transposed dataset) holds no more of them decoded than the cache does.
        let chunk_bytes = element_count(&self.chunk).unwrap_or(1) as usize * es;
        let batch = (CHUNK_CACHE_BYTES / chunk_bytes.max(1)).max(rayon::current_num_threads());
        for part in cached.chunks(batch) {
            check_cancelled(progress, 0)?;
            let chunks: Vec<Arc<Vec<u8>>> = part
                .par_iter()
                .map(|(index, _)| self.load_chunk(index))
                .collect::<Result<_>>()?;
            for ((_, o), bytes) in part.iter().zip(&chunks) {
                self.copy_overlap(o, bytes, shape, out);
            }
        }
        Ok(())
    }
}

impl ArraySource for ChunkedSource {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Unless at most half of the chunks are stored.
    fn decodes_whole_chunks(&self) -> bool {
        let Some(stored) = self.decoder.stored_chunks() else {
            return true;
        };
        let grid = (self.shape.iter().zip(&self.chunk))
            .map(|(&n, &c)| u128::from(n.div_ceil(c.max(1))))
            .product::<u128>();
        stored.len() as u128 * 2 > grid
    }

    /// Chunks are decoded in parallel on rayon's pool whatever `threads` says (decoding,
    /// unlike a copy, is worth spreading even from the engine's workers).
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        _threads: Threads,
    ) -> Result<()> {
        if shape.contains(&0) {
            return Ok(());
        }
        if let Some(stored) = self.decoder.stored_chunks() {
            let (first, last) = self.grid_box(start, shape);
            let touched = first
                .iter()
                .zip(&last)
                .map(|(f, l)| u128::from(l - f + 1))
                .product::<u128>();
            let present = stored.within(&first, &last);
            if (present.len() as u128) < touched {
                return self.read_sparse(start, shape, out, stored, &present, progress);
            }
        }
        let Some((&c0, &n0)) = self.chunk.first().zip(shape.first()) else {
            return self.read_slab(start, shape, out, progress);
        };
        let (s0, end0) = (start[0], start[0] + n0);
        if s0 / c0 == (end0 - 1) / c0 {
            return self.read_slab(start, shape, out, progress);
        }
        // Several rows of chunks along the first dimension: each row is one contiguous slab
        // of `out`, read on its own thread, so memory holds one row's chunks per thread.
        let row_bytes = out.len() / n0 as usize;
        let mut slabs = Vec::new();
        let mut rest = out;
        let mut first = s0;
        while first < end0 {
            let end = ((first / c0 + 1) * c0).min(end0);
            let (slab, tail) =
                std::mem::take(&mut rest).split_at_mut((end - first) as usize * row_bytes);
            rest = tail;
            slabs.push((first, end - first, slab));
            first = end;
        }
        slabs
            .into_par_iter()
            .enumerate()
            .try_for_each(|(i, (first, n, slab))| {
                check_cancelled(progress, i)?;
                let mut slab_start = start.to_vec();
                slab_start[0] = first;
                let mut slab_shape = shape.to_vec();
                slab_shape[0] = n;
                self.read_slab(&slab_start, &slab_shape, slab, progress)
            })
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.chunk.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes its chunk's index + 1 into every byte of a chunk, or, unless it claims to
    /// write every byte, into the first half only of every odd chunk.
    struct Stamps {
        every_byte: bool,
    }

    impl ChunkDecoder for Stamps {
        fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
            let half = !self.every_byte && index[0] % 2 == 1;
            let n = if half { out.len() / 2 } else { out.len() };
            out[..n].fill(index[0] as u8 + 1);
            Ok(())
        }

        fn writes_every_byte(&self) -> bool {
            self.every_byte
        }
    }

    /// Stamps, listing the chunks `stored` as the only ones the array holds.
    struct Listed(StoredChunks);

    impl ChunkDecoder for Listed {
        fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
            Stamps { every_byte: true }.decode_chunk(index, out)
        }
        fn stored_chunks(&self) -> Option<&StoredChunks> {
            Some(&self.0)
        }
    }

    /// Chunks decode whole unless most of them are absent (then re-reading them costs
    /// little: regions are filled, not decoded).
    #[test]
    fn sparse_arrays_do_not_count_as_decoding_whole_chunks() {
        let source = |stored: Option<u64>| {
            let decoder: Box<dyn ChunkDecoder> = match stored {
                None => Box::new(Stamps { every_byte: true }),
                Some(n) => {
                    let chunks = (0..n).map(|i| vec![i, 0]).collect();
                    Box::new(Listed(StoredChunks::new(chunks, vec![0])))
                }
            };
            ChunkedSource::new(DType::U8, vec![8, 3], vec![2, 3], decoder).unwrap()
        };
        assert!(source(None).decodes_whole_chunks());
        assert!(source(Some(3)).decodes_whole_chunks());
        assert!(!source(Some(2)).decodes_whole_chunks());
        assert!(!source(Some(0)).decodes_whole_chunks());
    }

    /// Chunks read through the cache long after it has started evicting (and so decoded
    /// into the buffers of evicted chunks) hold their own values, and the bytes a decoder
    /// leaves unwritten are zero, not an earlier chunk's.
    #[test]
    fn chunks_decoded_into_evicted_buffers_hold_their_own_values() {
        let chunk = 4usize << 20;
        let chunks = 3 * CHUNK_CACHE_BYTES / chunk;
        for every_byte in [true, false] {
            let source = ChunkedSource::new(
                DType::U8,
                vec![chunks as u64, chunk as u64],
                vec![1, chunk as u64],
                Box::new(Stamps { every_byte }),
            )
            .unwrap();
            for i in 0..chunks {
                // Two bytes of chunk i, one on each side of the half: a region cutting
                // the chunk, read through the cache.
                let mut two = [9u8; 2];
                let at = [i as u64, (chunk / 2 - 1) as u64];
                source.read_region(&at, &[1, 2], &mut two).unwrap();
                let stamp = i as u8 + 1;
                let after = if !every_byte && i % 2 == 1 { 0 } else { stamp };
                assert_eq!(two, [stamp, after], "chunk {i}, every byte {every_byte}");
            }
            let spare = source.cache.lock().unwrap().spare.len();
            assert!(spare > 0, "evicted buffers are kept for reuse");
        }
    }
}
