//! Order-free passes over every stored value of a dataset (sums, statistics, checks):
//! the values are handed over in pieces, in parallel and in no particular order, as the
//! storage holds them. A dataset whose bytes lie in a memory map in native order is
//! scanned in place, without copying a byte; any other goes through the engine's
//! regions (read into pooled buffers, in storage order).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::dataset::Dataset;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::Progress;

/// Hand every value of `dataset` to `work` in pieces of about `piece_bytes` (whole
/// elements), on `engine.threads` threads, in no particular order; stops at the first
/// error `work` returns, or with [`Error::Cancelled`] when `progress` asks.
///
/// Only for passes whose result does not depend on where a value lies: the pieces follow
/// the storage, which may be another order than the dataset's C order (see
/// [`Dataset::in_stored_order`]).
pub fn for_each_piece<W>(
    engine: &Engine,
    dataset: &Dataset,
    piece_bytes: u64,
    progress: &dyn Progress,
    work: W,
) -> Result<()>
where
    W: Fn(&[u8]) -> Result<()> + Sync,
{
    let stored = dataset.in_stored_order();
    match stored.mapped() {
        Some(bytes) => in_place(
            engine,
            bytes,
            stored.dtype().size(),
            piece_bytes,
            progress,
            &work,
        ),
        None => {
            let chunk = stored.read_chunk_shape(piece_bytes);
            engine
                .for_each_region(&stored, &chunk, progress, |_, buf| work(buf))
                .map(|_| ())
        }
    }
}

/// [`for_each_piece`] over bytes already in memory: pieces of whole `element`s claimed by
/// the threads one after the other.
fn in_place(
    engine: &Engine,
    bytes: &[u8],
    element: usize,
    piece_bytes: u64,
    progress: &dyn Progress,
    work: &(dyn Fn(&[u8]) -> Result<()> + Sync),
) -> Result<()> {
    progress.set_total(bytes.len() as u64);
    let element = element.max(1);
    let piece = (usize::try_from(piece_bytes).unwrap_or(usize::MAX) / element).max(1) * element;
    let pieces = bytes.len().div_ceil(piece);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let error = Mutex::new(None);
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= pieces || failed.load(Ordering::Relaxed) {
            return;
        }
        let outcome = if progress.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            let part = &bytes[i * piece..((i + 1) * piece).min(bytes.len())];
            work(part).map(|()| progress.advance(part.len() as u64))
        };
        if let Err(e) = outcome {
            failed.store(true, Ordering::Relaxed);
            error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e);
            return;
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..engine.threads.max(1).min(pieces) {
            scope.spawn(worker);
        }
        worker();
    });
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Bytes per block of [`in_blocks`]: small enough for the L1/L2 cache, large enough that
/// the fetch of the next block overlaps the work on this one.
const BLOCK_BYTES: usize = 64 << 10;

/// Hand `bytes` to `work` in consecutive blocks of whole `element`s (about 64 KiB each),
/// asking the processor to fetch every next block while `work` runs on the current one.
///
/// For loops that do much work per byte: on their own they keep too few cache lines in
/// flight and wait on memory; with the next block already on its way they run at the
/// speed of their arithmetic.
pub fn in_blocks(bytes: &[u8], element: usize, mut work: impl FnMut(&[u8])) {
    let element = element.max(1);
    let block = (BLOCK_BYTES / element).max(1) * element;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (this, next) = rest.split_at(block.min(rest.len()));
        prefetch(&next[..block.min(next.len())]);
        work(this);
        rest = next;
    }
}

/// Ask the processor to bring every cache line of `bytes` into its caches (a hint: it
/// neither waits nor fails).
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is a hint that never faults, whatever the address; SSE is
        // part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CancelFlag, DType, NoProgress};
    use std::sync::atomic::AtomicU64;

    fn sum_u16(ds: &Dataset, piece: u64) -> Result<u64> {
        let total = AtomicU64::new(0);
        for_each_piece(&Engine::new(3, 1), ds, piece, &NoProgress, |b| {
            let s: u64 = b
                .chunks_exact(2)
                .map(|e| u64::from(u16::from_ne_bytes([e[0], e[1]])))
                .sum();
            total.fetch_add(s, Ordering::Relaxed);
            Ok(())
        })?;
        Ok(total.into_inner())
    }

    #[test]
    fn every_value_is_seen_once_whatever_the_piece_size() {
        let values: Vec<u16> = (0..10_007u32).map(|i| (i * 7 % 65_521) as u16).collect();
        let expected: u64 = values.iter().map(|&v| u64::from(v)).sum();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let ds = Dataset::from_bytes(bytes, DType::U16, vec![10_007]).unwrap();
        for piece in [1, 2, 3, 64, 1001, 1 << 20] {
            assert_eq!(sum_u16(&ds, piece).unwrap(), expected, "piece {piece}");
        }
    }

    /// A source that only reads regions (no memory map): scanned through the engine.
    struct Unmapped(Dataset);

    impl crate::ArraySource for Unmapped {
        fn dtype(&self) -> DType {
            self.0.dtype()
        }
        fn shape(&self) -> &[u64] {
            self.0.shape()
        }
        fn read_region_with(
            &self,
            start: &[u64],
            shape: &[u64],
            out: &mut [u8],
            progress: &dyn crate::Progress,
            threads: crate::source::Threads,
        ) -> Result<()> {
            self.0
                .read_region_into_with(start, shape, out, progress, threads)
        }
        fn chunk_shape(&self) -> Vec<u64> {
            vec![1]
        }
    }

    #[test]
    fn a_source_without_a_map_is_scanned_through_regions() {
        let values: Vec<u16> = (0..5_000u16).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let inner = Dataset::from_bytes(bytes, DType::U16, vec![5_000]).unwrap();
        let axes = inner.axes.clone();
        let source = std::sync::Arc::new(Unmapped(inner));
        let ds = Dataset::new(source, axes, Default::default(), Default::default()).unwrap();
        assert!(ds.mapped().is_none());
        let expected: u64 = values.iter().map(|&v| u64::from(v)).sum();
        assert_eq!(sum_u16(&ds, 256).unwrap(), expected);
    }

    #[test]
    fn blocks_cover_the_bytes_in_order_in_whole_elements() {
        let bytes: Vec<u8> = (0..200_003u32).map(|i| (i % 251) as u8).collect();
        for element in [1, 2, 3, 8, 100_000, 300_000] {
            let mut seen = Vec::new();
            in_blocks(&bytes, element, |b| {
                assert!(b.len() % element == 0 || b.as_ptr_range().end == bytes.as_ptr_range().end);
                seen.extend_from_slice(b);
            });
            assert_eq!(seen, bytes, "element {element}");
        }
    }

    #[test]
    fn a_cancelled_scan_stops_with_cancelled() {
        let ds = Dataset::from_bytes(vec![0; 4096], DType::U8, vec![4096]).unwrap();
        let flag = CancelFlag::default();
        flag.0.store(true, Ordering::Relaxed);
        let err = for_each_piece(&Engine::default(), &ds, 64, &flag, |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }

    #[test]
    fn the_first_error_of_work_is_returned() {
        let ds = Dataset::from_bytes(vec![0; 4096], DType::U8, vec![4096]).unwrap();
        let err = for_each_piece(&Engine::default(), &ds, 64, &NoProgress, |_| {
            Err(Error::Cancelled)
        })
        .unwrap_err();
        assert!(matches!(err, Error::Cancelled));
    }
}
