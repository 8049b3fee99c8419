//! The bytes of one region as a writer's encode step gets them: already read into a
//! buffer, or read on demand, part by part, so that an encoder working through a chunk in
//! cache-sized blocks (Blosc) reads each block from the source just before it uses it and
//! the chunk never crosses memory as a whole (issue 23: a MIB → Zarr conversion spent a
//! sixth of its time copying 8 MiB chunks into buffers that had left the cache by the
//! time the encoder read them).

use crate::dataset::{streaming_chunk, whole_chunks, Chunks, Dataset, Region};
use crate::error::Result;
use crate::format::Progress;
use crate::source::{StoredRuns, Threads};

/// Bytes of the largest piece [`RegionBytes::visit`] reads into a buffer: half the 512 KiB
/// L2 cache of the smaller current x86 cores, so that a piece is still in that cache when
/// the visit's step reads it (a sum of MIB frames read in 2 MiB regions ran at 0.5× `cat`
/// on such a core, in 256 KiB pieces at 0.8×).
pub const PIECE_BYTES: u64 = 256 << 10;

/// Most bytes of a region of decoded values ([`RegionBytes::visit`]) read in one piece.
pub const WHOLE_DECODED_BYTES: usize = 16 << 20;

/// Bytes of the pieces of whole chunks a visit cuts a larger region of decoded values into
/// ([`RegionBytes::visit`]): a piece decoded into the buffer is still in the L2 cache when
/// the step reads it (a sum of HyperSpy's shuffled `.hspy`, 1 MiB chunks, in regions of
/// two chunks decoded whole ran at 0.52× the rate of the same values stored unshuffled,
/// chunk by chunk at 0.73×).
pub const DECODED_PIECE_BYTES: u64 = 1 << 20;

/// Shortest stored run handed over in place, by [`RegionBytes::visit`] and by the
/// order-free scans of `crate::scan`: shorter runs (the rows of a transposed frame, thin
/// frames, sub-sampled views) would cost a step each; they are read in pieces instead.
pub(crate) const MIN_RUN_BYTES: usize = 32 << 10;

/// A region's C-order, native-endian bytes (laid out as its write plan asks), either read
/// into a buffer or read on demand from the dataset.
pub struct RegionBytes<'a> {
    buf: &'a mut Vec<u8>,
    len: usize,
    region: &'a Region,
    unread: Option<Unread<'a>>,
    /// Bytes of `buf` an unread region's reads have filled (they are in memory too).
    buffered: usize,
}

/// Where an unread region comes from.
#[derive(Clone, Copy)]
struct Unread<'a> {
    dataset: &'a Dataset,
    progress: &'a dyn Progress,
}

impl<'a> RegionBytes<'a> {
    /// The bytes of `region` in `buf`, already read.
    pub fn read(region: &'a Region, buf: &'a mut Vec<u8>) -> Self {
        let len = buf.len();
        RegionBytes {
            buf,
            len,
            region,
            unread: None,
            buffered: 0,
        }
    }

    /// `region` of `dataset` (its C-order bytes), not read yet; `buf` is where
    /// [`RegionBytes::whole`] reads it if asked.
    pub fn on_demand(
        dataset: &'a Dataset,
        region: &'a Region,
        progress: &'a dyn Progress,
        buf: &'a mut Vec<u8>,
    ) -> Self {
        let len = region.len() as usize * dataset.dtype().size();
        RegionBytes {
            buf,
            len,
            region,
            unread: Some(Unread { dataset, progress }),
            buffered: 0,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the buffer that reads of an unread region have filled so far (the whole
    /// region, or the largest piece of a visit), which the engine counts in flight.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// The bytes, when they are already in memory.
    pub fn in_memory(&self) -> Option<&[u8]> {
        self.unread.is_none().then_some(&self.buf[..])
    }

    /// Hand the region to `step` as sub-regions covering it once (in the dataset's
    /// coordinates), each with its C-order native-endian bytes, without changing them:
    /// the whole region when it is already in memory; else, when its values are stored
    /// in the dataset's memory map as runs of at least `MIN_RUN_BYTES` in native order
    /// (frames of a file, whole chunks of an uncompressed HDF5 dataset:
    /// [`Dataset::region_in_place`]), one run at a time, in place (no copy), in C order;
    /// else, when its values are decoded (no stored view) and the region holds at most
    /// [`WHOLE_DECODED_BYTES`], read into the buffer whole or, when it is larger than
    /// [`DECODED_PIECE_BYTES`] and starts on a chunk of the source, in pieces of whole
    /// chunks of about that size, in the C order of their grid (not the region's: a
    /// region two chunks wide is handed over chunk by chunk), each chunk decoded straight
    /// into the buffer; else read into the buffer in pieces of at most [`PIECE_BYTES`],
    /// in C order, each still in the cache when `step` reads it.
    pub fn visit(&mut self, step: &mut dyn FnMut(&Region, &[u8]) -> Result<()>) -> Result<()> {
        let Some(Unread { dataset, progress }) = self.unread else {
            return step(self.region, &self.buf[..]);
        };
        let region = self.region;
        let es = dataset.dtype().size() as u64;
        let whole = usize::try_from(region.len() * es).unwrap_or(usize::MAX);
        // The fewest leading unit dimensions that make the rest of the region a run, the
        // first dimension left whole or, in a region spanning several of the source's
        // chunks along it, cut at the chunks' size (the chunks of an HDF5 file, each a run
        // of the map): pieces that are all whole but the one dimension cut still follow
        // one another in C order.
        let chunk = dataset.chunk_shape();
        let runs = (0..=region.shape.len()).find_map(|lead| {
            let mut shape = region.shape.clone();
            shape[..lead].fill(1);
            let mut cut = shape.clone();
            if let Some((n, &c)) = cut.get_mut(lead).zip(chunk.get(lead)) {
                *n = (*n).min(c.max(1));
            }
            [shape, cut].into_iter().find(|shape| {
                dataset
                    .region_in_place(&region.start, shape)
                    .is_some_and(|run| run.len() >= MIN_RUN_BYTES.min(whole))
            })
        });
        let in_map = runs.is_some();
        // Values with no stored view are decoded (filtered HDF5 chunks, Zarr, compressed
        // TIFF): a region read whole, or in pieces of whole chunks, decodes each of its
        // chunks straight into the buffer, where pieces that cut a chunk decode it into the
        // source's chunk cache, a new buffer, and copy every piece out of it (a sum of a
        // shuffled `.hspy` ran at half the rate of its full read).
        let pieces = runs.unwrap_or_else(|| {
            if dataset.stored_view().is_none() && whole <= WHOLE_DECODED_BYTES {
                decoded_pieces(region, &chunk, es, DECODED_PIECE_BYTES)
            } else {
                streaming_chunk(&region.shape, es, PIECE_BYTES)
            }
        });
        for piece in Chunks::new(&region.shape, &pieces) {
            let piece = Region {
                start: piece
                    .start
                    .iter()
                    .zip(&region.start)
                    .map(|(a, b)| a + b)
                    .collect(),
                shape: piece.shape,
            };
            let in_place = in_map
                .then(|| dataset.region_in_place(&piece.start, &piece.shape))
                .flatten();
            match in_place {
                Some(bytes) => step(&piece, bytes)?,
                None => {
                    self.buf.resize((piece.len() * es) as usize, 0);
                    self.buffered = self.buffered.max(self.buf.len());
                    dataset.read_region_into_with(
                        &piece.start,
                        &piece.shape,
                        self.buf,
                        progress,
                        Threads::One,
                    )?;
                    step(&piece, &self.buf[..])?;
                }
            }
        }
        Ok(())
    }

    /// Copy bytes `at..at + out.len()` into `out`. Unread regions read just those bytes
    /// from the source (the elements they cut, when they cut some, through a small
    /// buffer); a range past the end is a caller's mistake and panics.
    pub fn fill(&self, at: usize, out: &mut [u8]) -> Result<()> {
        assert!(at + out.len() <= self.len, "a range past the region's end");
        let Some(unread) = &self.unread else {
            out.copy_from_slice(&self.buf[at..at + out.len()]);
            return Ok(());
        };
        let es = unread.dataset.dtype().size();
        let (first, end) = (at / es, (at + out.len()).div_ceil(es));
        if at.is_multiple_of(es) && out.len().is_multiple_of(es) {
            unread.read_elements(self.region, first, end - first, out)
        } else {
            let mut whole = vec![0u8; (end - first) * es];
            unread.read_elements(self.region, first, end - first, &mut whole)?;
            let skip = at - first * es;
            out.copy_from_slice(&whole[skip..skip + out.len()]);
            Ok(())
        }
    }

    /// Bytes `at..at + len` (whole elements) of an unread region as the runs of stored
    /// bytes that hold them, in C order, with their stored byte order, when the dataset's
    /// values lie in its memory map in whole rows ([`Dataset::stored_view`] with the last
    /// dimension contiguous; rows may lie anywhere, flipped frames' rows backwards): an
    /// encoder that rearranges the bytes anyway (Blosc's bit shuffle) reads them there
    /// instead of from a copy, reversing the bytes of each `unit` bytes itself when they
    /// are stored in the other byte order. `None` for regions in memory, other sources,
    /// and values stored in the other byte order whose elements are not `unit` bytes or
    /// whose byte order is not per element (complex numbers). A range past the end is a
    /// caller's mistake and panics.
    pub fn stored_runs(&self, at: usize, len: usize, unit: usize) -> Option<StoredRuns<'a>> {
        assert!(at + len <= self.len, "a range past the region's end");
        let dataset = self.unread?.dataset;
        let view = dataset.stored_view()?;
        let dtype = dataset.dtype();
        let es = dtype.size();
        let region = self.region;
        let n = region.shape.len();
        let whole_elements = at.is_multiple_of(es) && len.is_multiple_of(es);
        if !whole_elements
            || (!view.order.is_native() && (dtype.swap_unit() != es || unit != es))
            || n == 0
            || view.strides.len() != n
            || (view.strides[n - 1] != es as i64 && region.shape[n - 1] > 1)
        {
            return None;
        }
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let (mut p, end) = (at / es, (at + len) / es);
        if p == end {
            // Nothing asked for (and maybe nothing there: a region with an empty dimension).
            return Some(StoredRuns {
                bytes: view.bytes,
                runs,
                order: view.order,
            });
        }
        let width = region.shape[n - 1] as usize;
        // The index of the row of element `p` in every dimension but the last (an
        // odometer, stepped row by row), and the stored offset of that row's first value.
        let mut index = vec![0u64; n - 1];
        let mut row = p / width;
        for d in (0..n - 1).rev() {
            let extent = region.shape[d] as usize;
            index[d] = (row % extent) as u64;
            row /= extent;
        }
        let mut offset = view.offset as i64
            + (0..n)
                .map(|d| {
                    (region.start[d] + index.get(d).copied().unwrap_or(0)) as i64 * view.strides[d]
                })
                .sum::<i64>();
        while p < end {
            let column = p % width;
            let take = (width - column).min(end - p);
            let first = usize::try_from(offset + column as i64 * view.strides[n - 1]).ok()?;
            let bytes = take * es;
            view.bytes.get(first..first.checked_add(bytes)?)?;
            match runs.last_mut() {
                Some((start, length)) if *start + *length == first => *length += bytes,
                _ => runs.push((first, bytes)),
            }
            p += take;
            for d in (0..n - 1).rev() {
                index[d] += 1;
                offset += view.strides[d];
                if index[d] < region.shape[d] {
                    break;
                }
                index[d] = 0;
                offset -= region.shape[d] as i64 * view.strides[d];
            }
        }
        Some(StoredRuns {
            bytes: view.bytes,
            runs,
            order: view.order,
        })
    }

    /// The buffer holding all the bytes (read first if they were not yet), which the
    /// engine's in-place steps may change.
    pub(crate) fn buffer(&mut self) -> Result<&mut Vec<u8>> {
        self.whole()?;
        Ok(&mut *self.buf)
    }

    /// All the bytes, read into the buffer first if they were not yet.
    pub fn whole(&mut self) -> Result<&[u8]> {
        if let Some(unread) = &self.unread {
            self.buf.resize(self.len, 0);
            self.buffered = self.len;
            let count = self.region.len() as usize;
            unread.read_elements(self.region, 0, count, self.buf)?;
            self.unread = None;
        }
        Ok(&self.buf[..])
    }
}

impl Unread<'_> {
    /// Read `region`'s C-order elements `first..first + count` into `out`, box by box.
    fn read_elements(
        &self,
        region: &Region,
        first: usize,
        count: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let es = self.dataset.dtype().size();
        let mut done = 0;
        for (offset, shape) in boxes(&region.shape, first, count) {
            let start: Vec<u64> = region
                .start
                .iter()
                .zip(&offset)
                .map(|(a, b)| a + b)
                .collect();
            let n = shape.iter().product::<u64>() as usize * es;
            self.dataset.read_region_into_with(
                &start,
                &shape,
                &mut out[done..done + n],
                self.progress,
                Threads::One,
            )?;
            done += n;
        }
        Ok(())
    }
}

/// The C-order elements `first..first + count` of an array of `shape`, as the fewest
/// boxes (start, shape) in C order: a ragged head up to the next boundary of each axis,
/// runs of whole sub-arrays, then a ragged tail.
fn boxes(shape: &[u64], first: usize, count: usize) -> Vec<(Vec<u64>, Vec<u64>)> {
    let n = shape.len();
    if n == 0 {
        // A scalar: one element, one box.
        return if count > 0 {
            vec![(Vec::new(), Vec::new())]
        } else {
            Vec::new()
        };
    }
    // Elements in one index of each axis (the product of the axes after it).
    let mut step = vec![1u64; n];
    for d in (0..n.saturating_sub(1)).rev() {
        step[d] = step[d + 1] * shape[d + 1];
    }
    let (mut at, end) = (first as u64, (first + count) as u64);
    let mut out = Vec::new();
    while at < end {
        // The outermost axis whose whole indices start at `at` and fit before `end`: take
        // as many of them as fit, without passing the end of that axis.
        let d = (0..n)
            .find(|&d| at.is_multiple_of(step[d]) && at + step[d] <= end)
            .unwrap_or(n - 1);
        let index = at / step[d] % shape[d];
        let take = ((end - at) / step[d]).min(shape[d] - index).max(1);
        let start: Vec<u64> = (0..n).map(|k| at / step[k] % shape[k]).collect();
        let mut extent = vec![1u64; n];
        extent[d] = take;
        extent[d + 1..].copy_from_slice(&shape[d + 1..]);
        out.push((start, extent));
        at += take * step[d];
    }
    out
}

/// The shape of the pieces a visit reads a region of decoded values in: whole chunks of
/// the source grouped to about `budget` bytes ([`DECODED_PIECE_BYTES`]) when the region
/// starts on a chunk (so that every piece but those at the region's far edges is made of
/// whole chunks), else the whole region (a piece that cut chunks would decode them more
/// than once).
fn decoded_pieces(region: &Region, chunk: &[u64], es: u64, budget: u64) -> Vec<u64> {
    let on_a_chunk = chunk.len() == region.shape.len()
        && region
            .start
            .iter()
            .zip(chunk)
            .all(|(&at, &c)| at.is_multiple_of(c.max(1)));
    if !on_a_chunk {
        return region.shape.clone();
    }
    whole_chunks(&region.shape, chunk, es, budget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::format::NoProgress;
    use crate::source::ArraySource;
    use proptest::prelude::*;

    proptest! {
        /// Every range of whole elements of a region, filled on demand, equals the same
        /// range of the region read whole; the boxes tile the range in C order.
        #[test]
        fn ranges_filled_on_demand_equal_the_region_read_whole(
            shape in proptest::collection::vec(1u64..6, 1..5),
            cut in proptest::collection::vec(0u64..3, 4),
            range in (0.0f64..1.0, 0.0f64..1.0),
        ) {
            let total: u64 = shape.iter().product::<u64>();
            let values: Vec<u8> = (0..total * 2).map(|i| (i * 7 % 251) as u8).collect();
            let ds = Dataset::from_bytes(values, DType::U16, shape.clone()).unwrap();
            // A region inside the dataset, not at its origin.
            let start: Vec<u64> = shape.iter().zip(&cut).map(|(&n, &c)| c.min(n - 1)).collect();
            let extent: Vec<u64> = shape.iter().zip(&start).map(|(&n, &s)| n - s).collect();
            let region = Region { start: start.clone(), shape: extent.clone() };
            let mut buf = Vec::new();
            let mut whole = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut buf);
            let expected = whole.whole().unwrap().to_vec();
            let elements = region.len() as usize;
            let a = (range.0 * elements as f64) as usize;
            let b = a + ((range.1 * (elements - a) as f64) as usize);
            let mut scratch = Vec::new();
            let lazy = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut scratch);
            let mut got = vec![0u8; (b - a) * 2];
            lazy.fill(a * 2, &mut got).unwrap();
            prop_assert_eq!(&got[..], &expected[a * 2..b * 2]);
            prop_assert!(lazy.in_memory().is_none());
            // Ranges that cut elements (Blosc blocks of a smaller type size).
            if b > a + 1 {
                let mut cut = vec![0u8; (b - a) * 2 - 1];
                lazy.fill(a * 2 + 1, &mut cut).unwrap();
                prop_assert_eq!(&cut[..], &expected[a * 2 + 1..b * 2]);
            }
            let pieces = boxes(&extent, a, b - a);
            let covered: u64 = pieces.iter().map(|(_, s)| s.iter().product::<u64>()).sum();
            prop_assert_eq!(covered, (b - a) as u64);
            prop_assert!(pieces.len() <= 2 * extent.len());
        }
    }

    /// Frames of `rows` × `cols` values of `dtype` stored after a 16-byte header,
    /// `gap × 8` bytes between frames, each frame's rows upside down when `flipped`, in
    /// byte `order`; their dataset has its last two axes exchanged when `transpose`.
    struct Frames {
        frames: u64,
        rows: u64,
        cols: u64,
        gap: u64,
        dtype: DType,
        flipped: bool,
        order: crate::dtype::ByteOrder,
        transpose: bool,
    }

    impl Frames {
        /// The dataset, and the region `cut` picks in it (first frame, first row, frames,
        /// rows: each kept inside the dataset; rows whole).
        fn dataset_and_region(&self, cut: (u64, u64, u64, u64)) -> (Dataset, Region) {
            let Frames {
                frames,
                rows,
                cols,
                gap,
                dtype,
                flipped,
                order,
                transpose,
            } = *self;
            let es = dtype.size() as u64;
            let frame = rows * cols * es + gap * 8;
            let values: Vec<u8> = (0..16 + frames * frame)
                .map(|i| (i * 13 % 251) as u8)
                .collect();
            let (offset, row_stride) = if flipped {
                (16 + (rows - 1) * cols * es, -((cols * es) as i64))
            } else {
                (16, (cols * es) as i64)
            };
            let mut source = crate::source::StridedSource::new(
                "test",
                crate::source::Storage::owned(values),
                offset,
                dtype,
                vec![frames, rows, cols],
                vec![frame as i64, row_stride, es as i64],
                order,
            )
            .unwrap();
            if transpose {
                source = source.permuted(&[0, 2, 1]).unwrap();
            }
            let shape = source.shape().to_vec();
            let axes = vec![crate::axis::Axis::default_for(false); 3];
            let tree = crate::metadata::Tree::new();
            let ds = Dataset::new(std::sync::Arc::new(source), axes, tree.clone(), tree).unwrap();
            let start = [cut.0 % frames, cut.1 % shape[1], 0];
            let extent = [
                cut.2.min(frames - start[0]),
                cut.3.min(shape[1] - start[1]),
                shape[2],
            ];
            let region = Region {
                start: start.to_vec(),
                shape: extent.to_vec(),
            };
            (ds, region)
        }
    }

    proptest! {
        /// A visit hands over the region's values once, in C order, in pieces: frames
        /// stored with gaps between them (headers) in place when they are long runs, read
        /// in pieces of at most PIECE_BYTES otherwise (transposed, or short runs).
        #[test]
        fn visits_hand_over_the_region_in_c_order_pieces(
            frames in 1u64..5,
            rows in prop_oneof![Just(1u64), Just(3), Just(64), Just(256)],
            cols in prop_oneof![Just(5u64), Just(64), Just(128)],
            gap in 0u64..3,
            transpose in any::<bool>(),
            cut in (0u64..4, 0u64..300, 1u64..5, 1u64..300),
        ) {
            let stored = Frames {
                frames, rows, cols, gap,
                dtype: DType::U32,
                flipped: false,
                order: crate::dtype::ByteOrder::NATIVE,
                transpose,
            };
            let (ds, region) = stored.dataset_and_region(cut);
            let (start, extent, shape) = (&region.start, &region.shape, ds.shape());
            let storage = {
                let range = ds.stored_view().unwrap().bytes.as_ptr_range();
                range.start as usize..range.end as usize
            };
            let mut buf = Vec::new();
            let mut bytes = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut buf);
            let (mut got, mut in_place) = (Vec::new(), Vec::new());
            bytes
                .visit(&mut |piece, b| {
                    assert_eq!(b.len() as u64, piece.len() * 4);
                    assert_eq!(b, ds.read_region_bytes(&piece.start, &piece.shape).unwrap());
                    in_place.push(storage.contains(&(b.as_ptr() as usize)));
                    got.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            prop_assert_eq!(got, ds.read_region_bytes(start, extent).unwrap());
            // Stored runs: the rows of each frame (whole rows, or a single row), joined
            // into one when whole frames lie back to back (no gap); a transposed frame
            // has none unless its stored rows are one value long.
            let run_bytes = if extent[0] > 1 && (gap > 0 || extent[1] < shape[1]) {
                extent[1] * extent[2] * 4
            } else {
                region.len() * 4
            };
            let long = run_bytes >= (MIN_RUN_BYTES as u64).min(region.len() * 4);
            let expected = (!transpose || rows == 1) && long;
            prop_assert!(in_place.iter().all(|&p| p == expected), "{:?} {:?}", in_place, region);
            if !expected {
                prop_assert!(bytes.buffered() as u64 <= PIECE_BYTES.max(extent[2] * 4));
            }
        }
    }

    proptest! {
        /// The stored runs of any range of whole elements of a region (frames with
        /// headers between them, rows flipped or not, either byte order), copied together
        /// with each element's bytes fixed, are the range of the region read whole; runs
        /// lying back to back are one; none for values whose rows are not stored whole
        /// (transposed) or whose byte order is not per element.
        #[test]
        fn stored_runs_hold_the_range_of_the_region(
            frames in 1u64..4,
            rows in 1u64..5,
            cols in 1u64..6,
            gap in 0u64..2,
            flipped in any::<bool>(),
            big_endian in any::<bool>(),
            dtype in prop::sample::select(vec![DType::U8, DType::U16, DType::U32, DType::C64]),
            transpose in any::<bool>(),
            cut in (0u64..4, 0u64..5, 1u64..4, 1u64..5),
            range in (0.0f64..1.0, 0.0f64..1.0),
        ) {
            let es = dtype.size() as u64;
            let order = if big_endian { crate::dtype::ByteOrder::Big } else { crate::dtype::ByteOrder::Little };
            let stored = Frames { frames, rows, cols, gap, dtype, flipped, order, transpose };
            let (ds, region) = stored.dataset_and_region(cut);
            let (start, extent) = (&region.start, &region.shape);
            let whole = ds.read_region_bytes(start, extent).unwrap();
            let elements = region.len() as usize;
            let a = (range.0 * elements as f64) as usize;
            let b = a + ((range.1 * (elements - a) as f64) as usize);
            let es = es as usize;
            let mut buf = Vec::new();
            let bytes = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut buf);
            let runs = bytes.stored_runs(a * es, (b - a) * es, es);
            let per_element = !big_endian || dtype.swap_unit() == es;
            let rows_whole = ds.stored_view().unwrap().strides[2] == es as i64 || extent[2] == 1;
            prop_assert_eq!(runs.is_some(), per_element && rows_whole);
            if let Some(runs) = runs {
                let mut together: Vec<u8> = runs.runs.iter().flat_map(|&(at, n)| runs.bytes[at..at + n].to_vec()).collect();
                if !runs.order.is_native() {
                    together.chunks_exact_mut(es).for_each(|e| e.reverse());
                }
                prop_assert_eq!(&together[..], &whole[a * es..b * es]);
                prop_assert!(runs.runs.windows(2).all(|w| w[0].0 + w[0].1 != w[1].0));
            }
            // An empty range has no runs, even of an empty region.
            let empty = Region { start: vec![0, 0, 0], shape: vec![0, rows, cols] };
            let mut none = Vec::new();
            let nothing = RegionBytes::on_demand(&ds, &empty, &NoProgress, &mut none);
            prop_assert!(nothing.stored_runs(0, 0, es).is_none_or(|r| r.runs.is_empty()));
            // The region in memory has none.
            let mut copy = whole.clone();
            prop_assert!(RegionBytes::read(&region, &mut copy).stored_runs(0, 0, es).is_none());
            // Nor does a range whose bytes the caller would reverse in other units.
            if big_endian && es > 1 {
                prop_assert!(bytes.stored_runs(0, 0, 2 * es).is_none());
            }
        }
    }

    proptest! {
        /// The pieces of a region of decoded values that starts on a chunk never split a
        /// chunk of the source between two of them (each is decoded once), and hold at
        /// most the budget unless one chunk alone is larger; a region starting inside a
        /// chunk is one piece.
        #[test]
        fn decoded_pieces_keep_every_chunk_whole(
            dims in prop::collection::vec((1u64..50, 1u64..20, 0u64..3, 0.0f64..1.0), 1..4),
            budget in 1u64..4000,
        ) {
            let chunk: Vec<u64> = dims.iter().map(|d| d.1).collect();
            // The region starts `d.2` chunks in, one value further (inside a chunk) when
            // `d.3` is small, and holds a share `d.3` of up to `d.0` values.
            let off_chunk = |d: &(u64, u64, u64, f64)| d.3 < 0.2 && d.1 > 1;
            let inside = dims.iter().any(off_chunk);
            let start: Vec<u64> =
                dims.iter().map(|d| d.2 * d.1 + u64::from(off_chunk(d))).collect();
            let shape: Vec<u64> = dims.iter().map(|d| 1 + (d.0 as f64 * d.3) as u64).collect();
            let region = Region { start: start.clone(), shape: shape.clone() };
            let pieces = decoded_pieces(&region, &chunk, 2, budget);
            if inside {
                prop_assert_eq!(&pieces, &shape);
                return Ok(());
            }
            let clipped = chunk.iter().zip(&shape).map(|(&c, &n)| c.min(n));
            let one_chunk = clipped.product::<u64>() * 2;
            let piece_bytes = pieces.iter().product::<u64>() * 2;
            prop_assert!(piece_bytes <= budget.max(one_chunk), "{:?} of {}", pieces, budget);
            for piece in Chunks::new(&shape, &pieces) {
                for d in 0..shape.len() {
                    let from = start[d] + piece.start[d];
                    let to = from + piece.shape[d];
                    prop_assert!(from.is_multiple_of(chunk[d]), "{:?} starts inside a chunk", piece);
                    let ends_on_chunk = to.is_multiple_of(chunk[d]) || to == start[d] + shape[d];
                    prop_assert!(ends_on_chunk, "{:?} ends inside a chunk", piece);
                }
            }
        }
    }

    /// Chunks whose values follow from their index, counting how often each is decoded.
    struct CountingChunks {
        decodes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl CountingChunks {
        /// A `u16` dataset of `shape` in chunks of `chunk` decoded by counting chunks, and
        /// the count of their decodes.
        fn dataset(
            shape: Vec<u64>,
            chunk: Vec<u64>,
        ) -> (Dataset, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
            let decodes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let decoder = Box::new(CountingChunks {
                decodes: decodes.clone(),
            });
            let axes = vec![crate::axis::Axis::default_for(false); shape.len()];
            let source =
                crate::chunked::ChunkedSource::new(DType::U16, shape, chunk, decoder).unwrap();
            let tree = crate::metadata::Tree::new();
            let ds = Dataset::new(std::sync::Arc::new(source), axes, tree.clone(), tree).unwrap();
            (ds, decodes)
        }
    }

    impl crate::chunked::ChunkDecoder for CountingChunks {
        fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
            self.decodes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let seed = index.iter().fold(7u64, |a, &i| a * 31 + i);
            for (k, b) in out.iter_mut().enumerate() {
                *b = (seed as usize + k * 13) as u8;
            }
            Ok(())
        }
    }

    /// A region of decoded values (no stored view) is visited as one piece, each of its
    /// chunks decoded once, straight into the buffer, even when the region is far larger
    /// than PIECE_BYTES; the bytes are those of a read.
    #[test]
    fn decoded_regions_are_visited_whole() {
        use std::sync::atomic::Ordering::Relaxed;
        let (ds, decodes) = CountingChunks::dataset(vec![6, 300, 256], vec![3, 100, 256]);
        assert!(ds.stored_view().is_none());
        // Two chunks along the middle dimension: 3 x 200 x 256 values, 300 KiB.
        let region = Region {
            start: vec![3, 100, 0],
            shape: vec![3, 200, 256],
        };
        assert!(region.len() * 2 > PIECE_BYTES);
        let expected = ds.read_region_bytes(&region.start, &region.shape).unwrap();
        let before = decodes.load(Relaxed);
        let mut buf = Vec::new();
        let mut bytes = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut buf);
        let mut pieces = Vec::new();
        bytes
            .visit(&mut |piece, b| {
                pieces.push(piece.clone());
                assert_eq!(b, &expected[..]);
                Ok(())
            })
            .unwrap();
        assert_eq!(pieces, std::slice::from_ref(&region));
        assert_eq!(bytes.buffered(), expected.len());
        assert_eq!(decodes.load(Relaxed) - before, 2, "each chunk decoded once");
    }

    /// A region of decoded values larger than DECODED_PIECE_BYTES that starts on a chunk
    /// is handed over in pieces of whole chunks (in the order of their grid, not the
    /// region's C order), each chunk decoded once, the pieces covering the region once
    /// with the bytes of a read; one that starts inside a chunk is handed over whole.
    #[test]
    fn large_decoded_regions_are_visited_chunk_by_chunk() {
        use std::sync::atomic::Ordering::Relaxed;
        // Chunks of 2 x 300 x 512 values (600 KiB): one chunk per piece.
        let (ds, decodes) = CountingChunks::dataset(vec![8, 900, 512], vec![2, 300, 512]);
        let visit = |region: &Region| {
            let expected = ds.read_region_bytes(&region.start, &region.shape).unwrap();
            let before = decodes.load(Relaxed);
            let (mut buf, mut pieces) = (Vec::new(), Vec::new());
            let mut got = vec![0u8; expected.len()];
            let mut bytes = RegionBytes::on_demand(&ds, region, &NoProgress, &mut buf);
            bytes
                .visit(&mut |piece, b| {
                    assert_eq!(b, ds.read_region_bytes(&piece.start, &piece.shape).unwrap());
                    // Each row of the piece in its place in the region.
                    let row = piece.shape[2] as usize * 2;
                    for (k, values) in b.chunks_exact(row).enumerate() {
                        let (i, j) = (k / piece.shape[1] as usize, k % piece.shape[1] as usize);
                        let i = (piece.start[0] - region.start[0]) as usize + i;
                        let j = (piece.start[1] - region.start[1]) as usize + j;
                        let at = (i * region.shape[1] as usize + j) * row;
                        assert!(got[at..at + row].iter().all(|&v| v == 0), "covered twice");
                        got[at..at + row].copy_from_slice(values);
                    }
                    pieces.push(piece.clone());
                    Ok(())
                })
                .unwrap();
            assert_eq!(got, expected);
            (pieces, decodes.load(Relaxed) - before, bytes.buffered())
        };
        // Rows 300..800 of frames 2..6: chunks (1, 1), (1, 2), (2, 1) and (2, 2), the
        // second of each pair cut by the region's end.
        let region = Region {
            start: vec![2, 300, 0],
            shape: vec![4, 500, 512],
        };
        assert!(region.len() * 2 > DECODED_PIECE_BYTES);
        let (pieces, decoded, buffered) = visit(&region);
        let starts: Vec<Vec<u64>> = pieces.iter().map(|p| p.start.clone()).collect();
        assert_eq!(
            starts,
            [[2, 300, 0], [2, 600, 0], [4, 300, 0], [4, 600, 0]],
            "{pieces:?}"
        );
        assert_eq!(decoded, 4, "each chunk decoded once");
        assert_eq!(buffered, 2 * 300 * 512 * 2, "a chunk at a time");
        // Starting inside a chunk: whole (a piece of whole chunks would cut them twice).
        let inside = Region {
            start: vec![1, 300, 0],
            shape: vec![4, 500, 512],
        };
        let (pieces, _, _) = visit(&inside);
        assert_eq!(pieces, std::slice::from_ref(&inside));
    }

    #[test]
    fn whole_frames_are_one_box() {
        assert_eq!(boxes(&[], 0, 1), [(vec![], vec![])]);
        assert_eq!(
            boxes(&[1, 64, 256, 256], 2 * 65536, 2 * 65536),
            [(vec![0, 2, 0, 0], vec![1, 2, 256, 256])]
        );
        assert_eq!(
            boxes(&[3, 4], 2, 7),
            [
                (vec![0, 2], vec![1, 2]),
                (vec![1, 0], vec![1, 4]),
                (vec![2, 0], vec![1, 1])
            ]
        );
    }

    #[test]
    fn read_regions_fill_from_their_buffer() {
        let mut buf = vec![1u8, 2, 3, 4];
        let region = Region {
            start: vec![0],
            shape: vec![2],
        };
        let bytes = RegionBytes::read(&region, &mut buf);
        let mut out = [0u8; 2];
        bytes.fill(1, &mut out).unwrap();
        assert_eq!(out, [2, 3]);
        assert_eq!(bytes.in_memory(), Some(&[1u8, 2, 3, 4][..]));
    }
}
