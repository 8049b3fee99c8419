//! The bytes of one region as a writer's encode step gets them: already read into a
//! buffer, or read on demand, part by part, so that an encoder working through a chunk in
//! cache-sized blocks (Blosc) reads each block from the source just before it uses it and
//! the chunk never crosses memory as a whole (issue 23: a MIB → Zarr conversion spent a
//! sixth of its time copying 8 MiB chunks into buffers that had left the cache by the
//! time the encoder read them).

use crate::dataset::{Dataset, Region};
use crate::error::Result;
use crate::format::Progress;
use crate::source::Threads;

/// A region's C-order, native-endian bytes (laid out as its write plan asks), either read
/// into a buffer or read on demand from the dataset.
pub struct RegionBytes<'a> {
    buf: &'a mut Vec<u8>,
    len: usize,
    unread: Option<Unread<'a>>,
}

/// Where an unread region comes from.
struct Unread<'a> {
    dataset: &'a Dataset,
    region: &'a Region,
    progress: &'a dyn Progress,
}

impl<'a> RegionBytes<'a> {
    /// The bytes in `buf`, already read.
    pub fn read(buf: &'a mut Vec<u8>) -> Self {
        let len = buf.len();
        RegionBytes {
            buf,
            len,
            unread: None,
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
            unread: Some(Unread {
                dataset,
                region,
                progress,
            }),
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
            unread.read_elements(first, end - first, out)
        } else {
            let mut whole = vec![0u8; (end - first) * es];
            unread.read_elements(first, end - first, &mut whole)?;
            let skip = at - first * es;
            out.copy_from_slice(&whole[skip..skip + out.len()]);
            Ok(())
        }
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
            unread.read_elements(0, unread.region.len() as usize, self.buf)?;
            self.unread = None;
        }
        Ok(&self.buf[..])
    }
}

impl Unread<'_> {
    /// Read the region's C-order elements `first..first + count` into `out`, box by box.
    fn read_elements(&self, first: usize, count: usize, out: &mut [u8]) -> Result<()> {
        let es = self.dataset.dtype().size();
        let mut done = 0;
        for (offset, shape) in boxes(&self.region.shape, first, count) {
            let start: Vec<u64> = self
                .region
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
        let bytes = RegionBytes::read(&mut buf);
        let mut out = [0u8; 2];
        bytes.fill(1, &mut out).unwrap();
        assert_eq!(out, [2, 3]);
        assert_eq!(bytes.in_memory(), Some(&[1u8, 2, 3, 4][..]));
    }
}
