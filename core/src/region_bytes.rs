//! The bytes of one region as a writer's encode step gets them: already read into a
//! buffer, or read on demand, part by part, so that an encoder working through a chunk in
//! cache-sized blocks (Blosc) reads each block from the source just before it uses it and
//! the chunk never crosses memory as a whole (issue 23: a MIB → Zarr conversion spent a
//! sixth of its time copying 8 MiB chunks into buffers that had left the cache by the
//! time the encoder read them). Reductions take them through [`RegionBytes::visit`]
//! (module `visit`).

use crate::dataset::{Dataset, Region};
use crate::error::Result;
use crate::format::Progress;
use crate::source::{StoredRuns, Threads};

mod visit;

pub use visit::{DECODED_PIECE_BYTES, PIECE_BYTES, WHOLE_DECODED_BYTES};

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

    /// The region (in the dataset's coordinates).
    pub fn region(&self) -> &'a Region {
        self.region
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
    pub(super) struct Frames {
        pub(super) frames: u64,
        pub(super) rows: u64,
        pub(super) cols: u64,
        pub(super) gap: u64,
        pub(super) dtype: DType,
        pub(super) flipped: bool,
        pub(super) order: crate::dtype::ByteOrder,
        pub(super) transpose: bool,
    }

    impl Frames {
        /// The dataset, and the region `cut` picks in it (first frame, first row, frames,
        /// rows: each kept inside the dataset; rows whole).
        pub(super) fn dataset_and_region(&self, cut: (u64, u64, u64, u64)) -> (Dataset, Region) {
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
