//! Order-free passes over every stored value of a dataset (sums, statistics, checks):
//! the values are handed over in pieces, in parallel and in no particular order, as the
//! storage holds them. A dataset whose bytes lie in a memory map is scanned there: in
//! place when its values are contiguous, or lie in long runs between other bytes (frames
//! after their headers, unfiltered HDF5 chunks: [`Dataset::stored_runs`]), in native
//! byte order; values in the other byte order are copied piece by piece into a small
//! buffer of the thread and swapped there while cached, unless the pass takes them as
//! stored ([`Visitor::as_stored`]). Any other dataset goes through the engine's
//! regions (read into pooled buffers, in storage order). Each piece belongs to a numbered
//! unit ([`Visitor`]), so that passes whose result depends on the order they merge in
//! (floating-point moments) can merge in a fixed one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::dataset::{Dataset, Region};
use crate::dtype::ByteOrder;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::region_bytes::MIN_RUN_BYTES;
use crate::source::StridedView;

mod cut;

use cut::{Cut, Pieces};

/// Hand every value of `dataset` to `work` in pieces of at most about `piece_bytes` (whole
/// elements, native byte order), on `engine.threads` threads, in no particular order;
/// stops at the first error `work` returns, or with [`Error::Cancelled`] when `progress`
/// asks.
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
    let each = EachPiece {
        work: |b: &[u8], _| work(b),
        as_stored: false,
    };
    visit(engine, dataset, piece_bytes, progress, &each)
}

/// A pass over every value of a dataset that takes them unit by unit ([`visit`]). The
/// units are what the scan cuts the values into (pieces of a memory map, regions of the
/// engine's grid), numbered `0, 1, 2, …` without gaps the same way on every run and with
/// any number of threads; each unit is handed over by one thread, as one or more pieces
/// one after the other (in the same cut every run), then closed. A pass that merges what
/// it finds in the units' order ([`crate::in_order::InOrder`]) therefore gives the same
/// result to the last bit every time.
pub trait Visitor: Sync {
    /// Whether the pass takes the values in the byte order they are stored in (told with
    /// each piece), rather than always the machine's (values then swapped in a buffer).
    fn as_stored(&self) -> bool {
        false
    }

    /// A piece of unit `unit`: whole elements in byte order `order`.
    fn piece(&self, unit: u64, bytes: &[u8], order: ByteOrder) -> Result<()>;

    /// Every piece of unit `unit` has been handed over (called by the thread that handed
    /// them, after the last).
    fn close(&self, unit: u64) -> Result<()> {
        let _ = unit;
        Ok(())
    }
}

/// Hand every value of `dataset` to `visitor` unit by unit ([`Visitor`]), in pieces of at
/// most about `piece_bytes`, on `engine.threads` threads; stops at the first error the
/// visitor returns, or with [`Error::Cancelled`] when `progress` asks. As
/// [`for_each_piece`], the pieces follow the storage.
pub fn visit(
    engine: &Engine,
    dataset: &Dataset,
    piece_bytes: u64,
    progress: &dyn Progress,
    visitor: &dyn Visitor,
) -> Result<()> {
    let stored = dataset.in_stored_order();
    let element = stored.dtype().size().max(1);
    let piece = (usize::try_from(piece_bytes).unwrap_or(usize::MAX) / element).max(1) * element;
    if let Some(bytes) = stored.mapped() {
        let pieces = Pieces {
            bytes,
            cut: Cut::whole(bytes.len(), piece),
            swap_unit: 1,
        };
        return in_map(engine, &pieces, ByteOrder::NATIVE, progress, visitor);
    }
    let in_runs = stored
        .stored_view()
        .and_then(|view| {
            let cut = Cut::strided(&view, stored.shape(), element, piece)?;
            Some((view.bytes, view.order, cut))
        })
        .or_else(|| {
            let listed = stored.stored_runs(MIN_RUN_BYTES)?;
            let cut = Cut::listed(listed.runs, piece);
            Some((listed.bytes, listed.order, cut))
        });
    if let Some((bytes, stored_order, cut)) = in_runs {
        let (order, swap_unit) = if stored_order.is_native() || visitor.as_stored() {
            (stored_order, 1)
        } else {
            (ByteOrder::NATIVE, stored.dtype().swap_unit())
        };
        let pieces = Pieces {
            bytes,
            cut,
            swap_unit,
        };
        return in_map(engine, &pieces, order, progress, visitor);
    }
    let chunk = stored.read_chunk_shape(piece_bytes);
    engine
        .for_each_region_numbered(&stored, &chunk, progress, |unit, bytes| {
            bytes.visit(&mut |_, b| visitor.piece(unit, b, ByteOrder::NATIVE))?;
            visitor.close(unit)
        })
        .map(|_| ())
}

/// A visitor that hands every piece, whatever its unit, to a closure with its byte order
/// ([`for_each_piece`], and passes that need no fixed order).
pub struct EachPiece<W> {
    /// Called with each piece and the byte order of its values.
    pub work: W,
    /// Whether `work` takes the values in the byte order they are stored in
    /// ([`Visitor::as_stored`]).
    pub as_stored: bool,
}

impl<W> Visitor for EachPiece<W>
where
    W: Fn(&[u8], ByteOrder) -> Result<()> + Sync,
{
    fn as_stored(&self) -> bool {
        self.as_stored
    }

    fn piece(&self, _: u64, bytes: &[u8], order: ByteOrder) -> Result<()> {
        (self.work)(bytes, order)
    }
}

/// Scan `pieces` (values in byte order `order`) on `engine.threads` threads, claimed one
/// after the other: each piece a unit of its own, numbered as the cut numbers it.
fn in_map(
    engine: &Engine,
    pieces: &Pieces<'_>,
    order: ByteOrder,
    progress: &dyn Progress,
    visitor: &dyn Visitor,
) -> Result<()> {
    progress.set_total(pieces.cut.total() as u64);
    in_parallel(engine, pieces.cut.count(), progress, &|i, scratch| {
        let part = pieces.get(i, scratch);
        visitor.piece(i as u64, part, order)?;
        visitor.close(i as u64)?;
        Ok(part.len() as u64)
    })
}

/// Hand every region of the grid `chunk` over `dataset` to `work` with its number in the
/// grid's C order ([`crate::dataset::Chunks::number`]) and the dataset's stored view,
/// where the region's values lie in the memory map (strided, in the stored byte order,
/// never copied), on `engine.threads` threads, in no particular order; stops
/// at the first error `work` returns, or with [`Error::Cancelled`] when `progress` asks.
/// `None` when the dataset has no stored view, or one whose last dimension is not a run
/// of consecutive values (its rows then need a gather: read regions instead).
///
/// For passes that need to know where each value lies (sums over some axes) and can take
/// rows of values in the byte order they are stored in: frames stored upside down, after
/// their headers and big-endian (MIB) are read where they lie, and the pass swaps each
/// row as it takes it, while cached, instead of the whole region being copied first.
/// Pass a dataset in its stored order ([`Dataset::in_stored_order`]) for regions that
/// follow the storage.
pub fn for_each_region_in_view<W>(
    engine: &Engine,
    dataset: &Dataset,
    chunk: &[u64],
    progress: &dyn Progress,
    work: W,
) -> Option<Result<()>>
where
    W: Fn(u64, &Region, &StridedView<'_>) -> Result<()> + Sync,
{
    let view = dataset.stored_view()?;
    let element = dataset.dtype().size() as i64;
    if dataset.ndim() == 0 || view.strides.last() != Some(&element) {
        return None;
    }
    let regions: Vec<Region> = dataset.chunks(chunk).collect();
    progress.set_total(dataset.nbytes());
    Some(in_parallel(engine, regions.len(), progress, &|i, _| {
        let region = &regions[i];
        work(i as u64, region, &view)
            .map(|()| region.shape.iter().product::<u64>() * element as u64)
    }))
}

/// Run `work` on items `0..count` on `engine.threads` threads, claimed one after the other
/// in a [`SpreadOrder`], each with a scratch buffer of its thread; `work` returns the
/// bytes it covered, for `progress`. Stops at the first error, or with
/// [`Error::Cancelled`] when `progress` asks.
fn in_parallel(
    engine: &Engine,
    count: usize,
    progress: &dyn Progress,
    work: &(dyn Fn(usize, &mut Vec<u8>) -> Result<u64> + Sync),
) -> Result<()> {
    let order = SpreadOrder::new(count, engine.threads);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let error = Mutex::new(None);
    let worker = || {
        let mut scratch = Vec::new();
        loop {
            let turn = next.fetch_add(1, Ordering::Relaxed);
            if turn >= order.turns() || failed.load(Ordering::Relaxed) {
                return;
            }
            let Some(i) = order.piece(turn) else {
                continue;
            };
            let outcome = if progress.is_cancelled() {
                Err(Error::Cancelled)
            } else {
                work(i, &mut scratch).map(|bytes| progress.advance(bytes))
            };
            if let Err(e) = outcome {
                failed.store(true, Ordering::Relaxed);
                error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                return;
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..engine.threads.max(1).min(count) {
            scope.spawn(worker);
        }
        worker();
    });
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The order in which the threads take the pieces of a map: the pieces cut into one
/// span per thread (`spans`), turn `k` the `k / spans`-th piece of span `k % spans`.
/// Threads taking consecutive turns then read parts of the map far apart: on two
/// neighbouring pieces, their first touches of the mapped pages contended for the lock
/// of the page table both fall in (one per 2 MiB of addresses), a fifth of the
/// page-fault time of a two-thread scan (docs/performance.md, session 32).
struct SpreadOrder {
    spans: usize,
    span: usize,
    count: usize,
}

impl SpreadOrder {
    fn new(count: usize, threads: usize) -> Self {
        let spans = threads.clamp(1, count.max(1));
        SpreadOrder {
            spans,
            span: count.div_ceil(spans),
            count,
        }
    }

    /// How many turns there are (some past the last piece when the spans are uneven).
    fn turns(&self) -> usize {
        self.spans * self.span
    }

    /// The piece of turn `turn`, or None for a turn past the last piece.
    fn piece(&self, turn: usize) -> Option<usize> {
        let piece = (turn % self.spans) * self.span + turn / self.spans;
        (piece < self.count).then_some(piece)
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
#[inline]
pub fn prefetch(bytes: &[u8]) {
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

    /// The spread order takes every piece exactly once, and the pieces of two
    /// consecutive turns lie a span apart (at least one less) whenever there are several.
    #[test]
    fn spread_order_takes_every_piece_once_from_far_apart() {
        for count in 0..40 {
            for threads in 1..6 {
                let order = SpreadOrder::new(count, threads);
                let taken: Vec<usize> = (0..order.turns()).filter_map(|t| order.piece(t)).collect();
                let mut sorted = taken.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..count).collect::<Vec<_>>(), "{count} {threads}");
                if order.spans > 1 {
                    for t in 1..order.turns() {
                        if let (Some(a), Some(b)) = (order.piece(t - 1), order.piece(t)) {
                            assert!(a.abs_diff(b) + 1 >= order.span, "{count} {threads} {t}");
                        }
                    }
                }
            }
        }
    }

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

    /// A source without a memory map: regions are read from `logical` (scanned through
    /// the engine), unless it lists its values as runs of other bytes (`listed`), as
    /// [`crate::ArraySource::stored_runs`] offers them.
    struct Unmapped {
        logical: Dataset,
        listed: Option<Listed>,
    }

    /// Runs of `bytes` as (offset, bytes), values in byte order `order`.
    struct Listed {
        bytes: Vec<u8>,
        runs: Vec<(usize, usize)>,
        order: ByteOrder,
    }

    impl crate::ArraySource for Unmapped {
        fn dtype(&self) -> DType {
            self.logical.dtype()
        }
        fn shape(&self) -> &[u64] {
            self.logical.shape()
        }
        fn read_region_with(
            &self,
            start: &[u64],
            shape: &[u64],
            out: &mut [u8],
            progress: &dyn crate::Progress,
            threads: crate::source::Threads,
        ) -> Result<()> {
            self.logical
                .read_region_into_with(start, shape, out, progress, threads)
        }
        fn chunk_shape(&self) -> Vec<u64> {
            vec![1]
        }
        fn stored_runs(&self, min_mean_run: usize) -> Option<crate::source::StoredRuns<'_>> {
            let listed = self.listed.as_ref()?;
            let total: usize = listed.runs.iter().map(|&(_, len)| len).sum();
            (total / listed.runs.len().max(1) >= min_mean_run).then(|| crate::source::StoredRuns {
                bytes: &listed.bytes,
                runs: listed.runs.clone(),
                order: listed.order,
            })
        }
    }

    #[test]
    fn a_source_without_a_map_is_scanned_through_regions() {
        let values: Vec<u16> = (0..5_000u16).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let inner = Dataset::from_bytes(bytes, DType::U16, vec![5_000]).unwrap();
        let axes = inner.axes.clone();
        let source = std::sync::Arc::new(Unmapped {
            logical: inner,
            listed: None,
        });
        let ds = Dataset::new(source, axes, Default::default(), Default::default()).unwrap();
        assert!(ds.mapped().is_none());
        let expected: u64 = values.iter().map(|&v| u64::from(v)).sum();
        assert_eq!(sum_u16(&ds, 256).unwrap(), expected);
    }

    /// One unit as a visitor saw it: its pieces in the order they came, the thread that
    /// handed them, whether it was closed (once, by that thread, after its last piece).
    struct Unit {
        pieces: Vec<Vec<u8>>,
        thread: std::thread::ThreadId,
        closed: bool,
    }

    /// Every unit a visitor saw, by number.
    #[derive(Default)]
    struct Units(Mutex<std::collections::HashMap<u64, Unit>>);

    impl Units {
        /// Unit `unit`, checked to be handed over by this thread and still open.
        fn open(&self, unit: u64, step: impl FnOnce(&mut Unit)) {
            let thread = std::thread::current().id();
            let mut units = self.0.lock().unwrap();
            let seen = units.entry(unit).or_insert(Unit {
                pieces: Vec::new(),
                thread,
                closed: false,
            });
            assert!(seen.thread == thread && !seen.closed, "unit {unit}");
            step(seen);
        }
    }

    impl Visitor for Units {
        fn piece(&self, unit: u64, bytes: &[u8], _: ByteOrder) -> Result<()> {
            self.open(unit, |u| u.pieces.push(bytes.to_vec()));
            Ok(())
        }

        fn close(&self, unit: u64) -> Result<()> {
            self.open(unit, |u| u.closed = true);
            Ok(())
        }
    }

    /// Units are numbered 0, 1, 2, … without gaps, each handed over by one thread and
    /// closed once, cut into the same pieces whatever the number of threads: in a memory
    /// map, in runs of one (swapped into buffers), through the engine's regions.
    #[test]
    fn units_are_the_same_with_any_number_of_threads() {
        let values: Vec<u16> = (0..30_011u32).map(|i| (i * 7 % 65_521) as u16).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let mapped = Dataset::from_bytes(bytes.clone(), DType::U16, vec![30_011]).unwrap();
        let big: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
        let in_runs = Unmapped {
            logical: mapped.clone(),
            listed: Some(Listed {
                bytes: big,
                runs: vec![(0, 40_000), (40_000, 20_022)],
                order: ByteOrder::Big,
            }),
        };
        let unmapped = Unmapped {
            logical: mapped.clone(),
            listed: None,
        };
        let wrap = |source: Unmapped| {
            let axes = source.logical.axes.clone();
            Dataset::new(
                std::sync::Arc::new(source),
                axes,
                Default::default(),
                Default::default(),
            )
            .unwrap()
        };
        for ds in [mapped, wrap(in_runs), wrap(unmapped)] {
            let seen = |threads: usize| {
                let units = Units::default();
                visit(&Engine::new(threads, 1), &ds, 4096, &NoProgress, &units).unwrap();
                let mut units: Vec<(u64, Vec<Vec<u8>>, bool)> = units
                    .0
                    .into_inner()
                    .unwrap()
                    .into_iter()
                    .map(|(number, unit)| (number, unit.pieces, unit.closed))
                    .collect();
                units.sort_by_key(|u| u.0);
                units
            };
            let one = seen(1);
            assert!(one.len() > 10, "{} units", one.len());
            for (i, (unit, pieces, closed)) in one.iter().enumerate() {
                assert_eq!(*unit, i as u64);
                assert!(*closed && !pieces.is_empty());
            }
            let all: Vec<u8> = one.iter().flat_map(|u| u.1.concat()).collect();
            let mut got: Vec<u16> = all
                .chunks_exact(2)
                .map(|e| u16::from_ne_bytes([e[0], e[1]]))
                .collect();
            got.sort_unstable();
            let mut want = values.clone();
            want.sort_unstable();
            assert_eq!(got, want);
            assert!(seen(3) == one, "three threads cut the same units");
        }
    }

    /// Every value of `ds` as [`for_each_piece`] (`as_stored` false) or a visitor that
    /// takes them as stored (true, swapped back here) hands them over, sorted (the scan's
    /// order is free).
    fn scanned_sorted(ds: &Dataset, piece: u64, as_stored: bool) -> Vec<u16> {
        let seen = Mutex::new(Vec::new());
        let work = |b: &[u8]| {
            assert_eq!(b.len() % 2, 0, "whole elements");
            let values = b.chunks_exact(2).map(|e| u16::from_ne_bytes([e[0], e[1]]));
            seen.lock().unwrap().extend(values);
            Ok(())
        };
        let engine = Engine::new(3, 1);
        if as_stored {
            let as_stored = EachPiece {
                work: |b: &[u8], order: ByteOrder| {
                    let mut b = b.to_vec();
                    if !order.is_native() {
                        crate::swap::in_place(&mut b, 2);
                    }
                    work(&b)
                },
                as_stored: true,
            };
            visit(&engine, ds, piece, &NoProgress, &as_stored).unwrap();
        } else {
            for_each_piece(&engine, ds, piece, &NoProgress, work).unwrap();
        }
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        seen
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Frames after headers, in either byte order, some axes flipped (runs long or
        /// short, or not contiguous: scanned through regions): both scans see every value
        /// once, as a read of the whole dataset does.
        #[test]
        fn strided_views_are_scanned_value_for_value(
            frames in 1u64..4,
            rows in 1u64..40,
            cols in 1u64..1200,
            header in 0u64..100,
            big in proptest::bool::ANY,
            flip_frames in proptest::bool::ANY,
            flip_cols in proptest::bool::ANY,
            piece in 1u64..40_000,
        ) {
            use crate::source::{Storage, StridedSource};
            let frame = rows * cols * 2;
            let len = (frames * (header + frame)) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut offset = header;
            let mut strides = vec![(header + frame) as i64, cols as i64 * 2, 2];
            if flip_frames {
                offset += (frames - 1) * (header + frame);
                strides[0] = -strides[0];
            }
            if flip_cols {
                offset += (cols - 1) * 2;
                strides[2] = -2;
            }
            let order = if big { ByteOrder::Big } else { ByteOrder::Little };
            let source = StridedSource::new(
                "test",
                Storage::owned(bytes),
                offset,
                DType::U16,
                vec![frames, rows, cols],
                strides,
                order,
            )
            .unwrap();
            let ds = Dataset::new(
                std::sync::Arc::new(source),
                vec![crate::Axis::default_for(false); 3],
                Default::default(),
                Default::default(),
            )
            .unwrap();
            let all = ds.read_region_bytes(&[0, 0, 0], &[frames, rows, cols]).unwrap();
            let mut expected: Vec<u16> =
                all.chunks_exact(2).map(|e| u16::from_ne_bytes([e[0], e[1]])).collect();
            expected.sort_unstable();
            proptest::prop_assert_eq!(&scanned_sorted(&ds, piece, false), &expected);
            proptest::prop_assert_eq!(&scanned_sorted(&ds, piece, true), &expected);
        }
    }

    /// Runs a source lists (unfiltered HDF5 chunks, edge chunks' lines) are scanned where
    /// they lie, in either byte order and for any piece size: every value once, none of
    /// the bytes between.
    #[test]
    fn listed_runs_are_scanned_in_place() {
        // Run lengths in elements (16-bit): a short one among long ones, the mean over
        // MIN_RUN_BYTES.
        let lengths = [MIN_RUN_BYTES / 2, MIN_RUN_BYTES / 6, MIN_RUN_BYTES - 7];
        let firsts: Vec<usize> = lengths
            .iter()
            .scan(0, |at, &len| {
                *at += len;
                Some(*at - len)
            })
            .collect();
        let gap = 10usize;
        let values: Vec<u16> = (0..lengths.iter().sum::<usize>())
            .map(|i| (i * 7 % 65_521) as u16)
            .collect();
        for order in [ByteOrder::Little, ByteOrder::Big] {
            // Run k at position 2 - k, each after `gap` bytes of 0xEE.
            let mut stored = Vec::new();
            let mut runs = vec![(0, 0); lengths.len()];
            for k in (0..lengths.len()).rev() {
                stored.extend(std::iter::repeat_n(0xEE, gap));
                runs[k] = (stored.len(), lengths[k] * 2);
                for &v in &values[firsts[k]..firsts[k] + lengths[k]] {
                    stored.extend(match order {
                        ByteOrder::Little => v.to_le_bytes(),
                        ByteOrder::Big => v.to_be_bytes(),
                    });
                }
            }
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
            let n = values.len() as u64;
            let logical = Dataset::from_bytes(bytes, DType::U16, vec![n]).unwrap();
            let axes = logical.axes.clone();
            let source = Unmapped {
                logical,
                listed: Some(Listed {
                    bytes: stored,
                    runs,
                    order,
                }),
            };
            let ds = Dataset::new(
                std::sync::Arc::new(source),
                axes,
                Default::default(),
                Default::default(),
            )
            .unwrap();
            assert!(ds.stored_view().is_none() && ds.stored_runs(MIN_RUN_BYTES).is_some());
            // In place: no piece longer than a run (a region would hold them all).
            let longest = AtomicUsize::new(0);
            for_each_piece(&Engine::new(2, 1), &ds, 1 << 20, &NoProgress, |b| {
                longest.fetch_max(b.len(), Ordering::Relaxed);
                Ok(())
            })
            .unwrap();
            assert_eq!(longest.into_inner(), (MIN_RUN_BYTES - 7) * 2);
            let mut expected = values.clone();
            expected.sort_unstable();
            for piece in [2, 1000, 1 << 20] {
                // Pieces never cross a run: a piece over the gap would hold 0xEEEE.
                assert_eq!(
                    scanned_sorted(&ds, piece, false),
                    expected,
                    "{order:?} {piece}"
                );
                assert_eq!(
                    scanned_sorted(&ds, piece, true),
                    expected,
                    "{order:?} {piece}"
                );
            }
        }
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
