//! The streaming conversion engine: region-by-region processing of a dataset in bounded
//! memory, in parallel, with progress (bytes, rate, ETA) and cancellation.
//!
//! A dataset is cut into regions on a grid (the output's chunk grid, or
//! [`Dataset::streaming_chunk_shape`] for formats that just append bytes). Worker threads
//! claim regions in grid order, read them from the lazy source into buffers taken from a
//! fixed pool, and then either
//! - process them independently ([`Engine::for_each_region`]: e.g. encode and store a Zarr
//!   chunk; a write plan may leave such regions unread, for an encoder to read part by part
//!   as it goes: [`RegionBytes`]), or only look at them ([`Engine::for_each_region_in_place`]:
//!   long runs of a memory map are seen there, not copied; the rest is read in pieces
//!   that stay in the cache), or
//! - hand them to a sink on the calling thread strictly in grid order
//!   ([`Engine::for_each_region_ordered`]: e.g. append to a `.npy`, `.mrc` or `.mib`),
//!   while later regions are already being read.
//!
//! The pool holds `threads + queue` buffers, so at most that many regions are in flight:
//! memory is bounded by `(threads + queue) × region size`, independent of the dataset size.
//! Regions that cut the source's chunks into many pieces are read through bands of the
//! source (module `bands`), which add at most three times `bands::BAND_BYTES`; where the
//! bands would decode the source's chunks again and again, the dataset is first copied
//! into a scratch file, each chunk decoded once, and the regions read from there (module
//! `staging`).
//! [`Stats::peak_bytes_in_flight`] reports the high-water mark actually reached.
//!
//! Writers do not call the engine directly: they describe their output as a
//! [`crate::plan::WritePlan`] (grid, order, padding of edge chunks, stored axis order),
//! which runs on this engine.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bands::{Bands, BAND_BYTES};
use crate::dataset::{Chunks, Dataset, Region};
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::plan::Placement;
use crate::region_bytes::RegionBytes;
use crate::source::Threads;
use crate::staging::{Half, Staged};

/// Parallelism and buffering of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engine {
    /// Worker threads reading (and, unordered, processing) regions.
    pub threads: usize,
    /// Extra regions that may wait (read, not yet consumed) beyond one per thread.
    pub queue: usize,
    /// Largest band of the source read for regions that cut its chunks (module `bands`):
    /// [`BAND_BYTES`], smaller in tests.
    pub(crate) band_bytes: u64,
}

impl Default for Engine {
    /// One worker per core of rayon's pool, and as many queued regions.
    fn default() -> Self {
        let threads = rayon::current_num_threads().max(1);
        Engine {
            threads,
            queue: threads,
            band_bytes: BAND_BYTES,
        }
    }
}

/// What a run of the engine did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Regions processed.
    pub regions: u64,
    /// Bytes of logical data processed.
    pub bytes: u64,
    /// Most bytes of region data held in engine buffers at any moment.
    pub peak_bytes_in_flight: u64,
}

/// Byte accounting of buffers holding region data.
#[derive(Default)]
struct InFlight {
    now: AtomicU64,
    peak: AtomicU64,
}

impl InFlight {
    fn add(&self, n: u64) {
        let now = self.now.fetch_add(n, Ordering::SeqCst) + n;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }
    fn sub(&self, n: u64) {
        self.now.fetch_sub(n, Ordering::SeqCst);
    }
}

/// Where the regions of a run go once `work` has had them.
pub(crate) enum Delivery<'s, 'f> {
    /// Nowhere: `work` is the last step, and gets every region read into a buffer.
    Work,
    /// Nowhere: `work` is the last step, and gets regions laid out as read (not padded or
    /// reordered) unread, to read part by part, whole or in place
    /// ([`RegionBytes::on_demand`]).
    WorkUnread,
    /// On to this sink on the calling thread, in grid order.
    Sink(&'s mut Sink<'f>),
}

/// Per-region processing on a worker thread.
type Work<'a> = dyn Fn(&Region, &mut RegionBytes<'_>) -> Result<()> + Sync + 'a;
/// The in-order consumer on the calling thread.
type Sink<'a> = dyn FnMut(&Region, &[u8]) -> Result<()> + 'a;

/// A filled region travelling from a worker to the ordered sink.
struct Filled {
    index: u64,
    region: Region,
    buf: Vec<u8>,
    /// Whether `buf` holds the region (else the worker's step reads it on demand).
    read: bool,
    /// Bytes counted in flight for this buffer.
    counted: u64,
    /// Bytes of the region's logical data (what progress counts; less than `counted` for
    /// a padded edge chunk).
    logical: u64,
}

/// State shared by the workers of one run.
struct Shared<'a> {
    dataset: &'a Dataset,
    /// Where regions are read from when they cut the source's chunks into many pieces.
    bands: Option<Bands<'a>>,
    progress: &'a dyn Progress,
    placement: Option<&'a Placement>,
    /// Whether regions already laid out as planned are left for the step to read on
    /// demand ([`RegionBytes::on_demand`]).
    on_demand: bool,
    grid: Mutex<(u64, Chunks)>,
    pool_rx: Mutex<Receiver<Vec<u8>>>,
    pool_tx: SyncSender<Vec<u8>>,
    failed: AtomicBool,
    error: Mutex<Option<Error>>,
    in_flight: InFlight,
    regions: AtomicU64,
}

impl Shared<'_> {
    /// Stop the run with `e` (the first error is kept, but a cause beats a cancellation
    /// that only followed from it).
    fn fail(&self, e: Error) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        let cause = !matches!(e, Error::Cancelled);
        if slot.is_none() || cause && matches!(*slot, Some(Error::Cancelled)) {
            *slot = Some(e);
        }
        self.failed.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        if self.failed.load(Ordering::SeqCst) {
            return true;
        }
        if self.progress.is_cancelled() {
            self.fail(Error::Cancelled);
            return true;
        }
        false
    }

    /// Give a buffer back to the pool (its `counted` bytes are no longer in flight).
    fn release(&self, buf: Vec<u8>, counted: u64) {
        self.in_flight.sub(counted);
        // The pool has room for every buffer it ever handed out, so this never blocks;
        // it fails only when the run is over and the receiver is gone.
        let _ = self.pool_tx.send(buf);
    }

    /// Take a buffer, claim the next region and read it (laid out as the placement asks,
    /// through the worker's `scratch` buffer). `None` when the grid is exhausted or the
    /// run failed.
    fn next_filled(&self, scratch: &mut Vec<u8>) -> Option<Filled> {
        if self.stopped() {
            return None;
        }
        let mut buf = {
            let rx = self.pool_rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv().ok()?
        };
        let claimed = {
            let mut grid = self.grid.lock().unwrap_or_else(|p| p.into_inner());
            let index = grid.0;
            grid.1.next().map(|region| {
                grid.0 += 1;
                (index, region)
            })
        };
        let Some((index, region)) = claimed.filter(|_| !self.stopped()) else {
            let _ = self.pool_tx.send(buf);
            return None;
        };
        let es = self.dataset.dtype().size();
        let n = region.len() as usize * es;
        let placement = self.placement.filter(|p| !p.is_direct(&region));
        if self.on_demand && placement.is_none() && self.bands.is_none() {
            self.regions.fetch_add(1, Ordering::Relaxed);
            return Some(Filled {
                index,
                region,
                buf,
                read: false,
                counted: 0,
                logical: n as u64,
            });
        }
        // Sources overwrite every byte of a region, so a reused buffer is not zeroed again
        // (which would be one more pass through memory per region).
        let target = match placement {
            Some(_) => &mut *scratch,
            None => &mut buf,
        };
        target.resize(n, 0);
        self.in_flight.add(n as u64);
        let read = match &self.bands {
            Some(bands) => bands.read(&region, target, self.progress),
            None => self.dataset.read_region_into_with(
                &region.start,
                &region.shape,
                target,
                self.progress,
                // One region per worker: the cores are busy, copies stay on the thread.
                Threads::One,
            ),
        };
        let counted = match (read, placement) {
            (Err(e), _) => {
                self.fail(e);
                self.release(buf, n as u64);
                return None;
            }
            (Ok(()), None) => n as u64,
            (Ok(()), Some(placement)) => {
                placement.place(&region, scratch, &mut buf, es);
                self.in_flight.add(buf.len() as u64);
                self.in_flight.sub(n as u64);
                buf.len() as u64
            }
        };
        self.regions.fetch_add(1, Ordering::Relaxed);
        Some(Filled {
            index,
            region,
            buf,
            read: true,
            counted,
            logical: n as u64,
        })
    }
}

impl Engine {
    /// An engine with `threads` workers and `queue` extra buffered regions.
    pub fn new(threads: usize, queue: usize) -> Self {
        Engine {
            threads: threads.max(1),
            queue,
            band_bytes: BAND_BYTES,
        }
    }

    /// How many regions can be in flight at once.
    pub fn buffers(&self) -> usize {
        self.threads.max(1) + self.queue
    }

    /// The memory budget for regions of `chunk` in `dataset`: `buffers × region bytes`.
    pub fn budget_bytes(&self, dataset: &Dataset, chunk: &[u64]) -> u64 {
        let region: u64 = dataset
            .shape()
            .iter()
            .enumerate()
            .map(|(d, &n)| chunk.get(d).copied().unwrap_or(n).clamp(1, n.max(1)))
            .product();
        (self.buffers() as u64)
            .saturating_mul(region)
            .saturating_mul(dataset.dtype().size() as u64)
    }

    /// Read every region of the grid `chunk` and call `work` on it from a worker thread, in
    /// no particular order. `work` gets the region's C-order native-endian bytes and may
    /// modify them in place (e.g. pad, byte-swap, encode from them).
    pub fn for_each_region<W>(
        &self,
        dataset: &Dataset,
        chunk: &[u64],
        progress: &dyn Progress,
        work: W,
    ) -> Result<Stats>
    where
        W: Fn(&Region, &mut Vec<u8>) -> Result<()> + Sync,
    {
        let work = |region: &Region, bytes: &mut RegionBytes<'_>| work(region, bytes.buffer()?);
        let grid = dataset.chunks(chunk);
        self.run(dataset, grid, None, progress, &work, Delivery::Work)
    }

    /// Visit every region of the grid `chunk` from a worker thread, in no particular order,
    /// without changing it (reductions), as [`RegionBytes::visit`] hands it over:
    /// `work` gets sub-regions (a region whole, or pieces covering it once) with their
    /// C-order native-endian bytes, in place in the dataset's memory map where they are
    /// stored there as long runs (no copy, no buffer), else read in cache-sized pieces.
    pub fn for_each_region_in_place<W>(
        &self,
        dataset: &Dataset,
        chunk: &[u64],
        progress: &dyn Progress,
        work: W,
    ) -> Result<Stats>
    where
        W: Fn(&Region, &[u8]) -> Result<()> + Sync,
    {
        self.for_each_region_numbered(dataset, chunk, progress, |_, bytes| {
            bytes.visit(&mut |piece, b| work(piece, b))
        })
    }

    /// [`Engine::for_each_region_in_place`] with each region whole: its number in the
    /// grid's C order ([`Chunks::number`]: the same on every run, with any number of
    /// threads) and its bytes, for `work` to visit ([`RegionBytes::visit`]). For passes that
    /// merge what they find region by region in a fixed order.
    pub fn for_each_region_numbered<W>(
        &self,
        dataset: &Dataset,
        chunk: &[u64],
        progress: &dyn Progress,
        work: W,
    ) -> Result<Stats>
    where
        W: Fn(u64, &mut RegionBytes<'_>) -> Result<()> + Sync,
    {
        let grid = dataset.chunks(chunk);
        let numbers = grid.clone();
        let work =
            |region: &Region, bytes: &mut RegionBytes<'_>| work(numbers.number(region), bytes);
        self.run(dataset, grid, None, progress, &work, Delivery::WorkUnread)
    }

    /// Read every region of the grid `chunk` in parallel, apply `work` on the worker (e.g. a
    /// byte-order conversion), and hand the results to `sink` on the calling thread in the
    /// grid's C order.
    pub fn for_each_region_ordered<W, S>(
        &self,
        dataset: &Dataset,
        chunk: &[u64],
        progress: &dyn Progress,
        work: W,
        mut sink: S,
    ) -> Result<Stats>
    where
        W: Fn(&Region, &mut Vec<u8>) -> Result<()> + Sync,
        S: FnMut(&Region, &[u8]) -> Result<()>,
    {
        let work = |region: &Region, bytes: &mut RegionBytes<'_>| work(region, bytes.buffer()?);
        self.run(
            dataset,
            dataset.chunks(chunk),
            None,
            progress,
            &work,
            Delivery::Sink(&mut sink),
        )
    }

    /// Read every region of `grid` (laid out as `placement` asks, when given), apply
    /// `work` on a worker, and deliver the results as `delivery` says.
    pub(crate) fn run(
        &self,
        dataset: &Dataset,
        grid: Chunks,
        placement: Option<&Placement>,
        progress: &dyn Progress,
        work: &Work<'_>,
        delivery: Delivery<'_, '_>,
    ) -> Result<Stats> {
        progress.set_total(dataset.nbytes());
        let mut bands = Bands::plan_within(dataset, &grid, self.band_bytes);
        let staged = match &bands {
            Some(b) => Staged::plan(dataset, b, *self, progress)?,
            None => None,
        };
        let second_half;
        let (dataset, progress): (&Dataset, &dyn Progress) = match &staged {
            Some(staged) => {
                bands = None;
                second_half = Half::second(progress);
                (staged.dataset(), &second_half)
            }
            None => (dataset, progress),
        };
        let buffers = self.buffers();
        let (pool_tx, pool_rx) = sync_channel(buffers);
        for _ in 0..buffers {
            pool_tx.send(Vec::new()).expect("the pool has room");
        }
        let shared = Shared {
            dataset,
            bands,
            progress,
            placement,
            on_demand: matches!(delivery, Delivery::WorkUnread),
            grid: Mutex::new((0, grid)),
            pool_rx: Mutex::new(pool_rx),
            pool_tx,
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
            in_flight: InFlight::default(),
            regions: AtomicU64::new(0),
        };
        let bytes_done = AtomicU64::new(0);
        let shared = &shared;
        let bytes_done_ref = &bytes_done;
        let workers = self.threads.max(1);
        std::thread::scope(|scope| match delivery {
            Delivery::Work | Delivery::WorkUnread => {
                for _ in 0..workers {
                    scope.spawn(move || {
                        let mut scratch = Vec::new();
                        while let Some(Filled {
                            region,
                            mut buf,
                            read,
                            counted,
                            logical,
                            ..
                        }) = shared.next_filled(&mut scratch)
                        {
                            let mut bytes = if read {
                                RegionBytes::read(&region, &mut buf)
                            } else {
                                RegionBytes::on_demand(dataset, &region, progress, &mut buf)
                            };
                            let done = work(&region, &mut bytes);
                            // A step that read an unread region (whole or in pieces) did
                            // so into the pool's buffer: count it in flight too.
                            let counted = match bytes.buffered() as u64 {
                                0 => counted,
                                held => {
                                    shared.in_flight.add(held);
                                    held
                                }
                            };
                            match done {
                                Ok(()) => {
                                    bytes_done_ref.fetch_add(logical, Ordering::Relaxed);
                                    progress.advance(logical);
                                }
                                Err(e) => shared.fail(e),
                            }
                            shared.release(buf, counted);
                        }
                    });
                }
            }
            Delivery::Sink(sink) => {
                let (done_tx, done_rx) = channel::<Filled>();
                for _ in 0..workers {
                    let done_tx = done_tx.clone();
                    scope.spawn(move || {
                        let mut scratch = Vec::new();
                        while let Some(mut filled) = shared.next_filled(&mut scratch) {
                            let done = work(
                                &filled.region,
                                &mut RegionBytes::read(&filled.region, &mut filled.buf),
                            );
                            if let Err(e) = done {
                                shared.fail(e);
                                shared.release(filled.buf, filled.counted);
                                break;
                            }
                            if let Err(returned) = done_tx.send(filled) {
                                shared.release(returned.0.buf, returned.0.counted);
                                break;
                            }
                        }
                    });
                }
                drop(done_tx);
                // Regions are claimed in grid order after a buffer is taken, so the next
                // region to write always belongs to a worker holding a buffer: the
                // reordering below cannot starve the pool.
                let mut pending: BTreeMap<u64, Filled> = BTreeMap::new();
                let mut next = 0u64;
                for filled in done_rx.iter() {
                    if shared.failed.load(Ordering::SeqCst) {
                        shared.release(filled.buf, filled.counted);
                        continue;
                    }
                    pending.insert(filled.index, filled);
                    while let Some(ready) = pending.remove(&next) {
                        next += 1;
                        let n = ready.counted;
                        if shared.failed.load(Ordering::SeqCst) {
                            shared.release(ready.buf, n);
                            continue;
                        }
                        match sink(&ready.region, &ready.buf) {
                            Ok(()) => {
                                bytes_done_ref.fetch_add(ready.logical, Ordering::Relaxed);
                                progress.advance(ready.logical);
                            }
                            Err(e) => shared.fail(e),
                        }
                        shared.release(ready.buf, n);
                    }
                    if shared.failed.load(Ordering::SeqCst) {
                        for (_, f) in std::mem::take(&mut pending) {
                            shared.release(f.buf, f.counted);
                        }
                    }
                }
                for (_, f) in pending {
                    shared.release(f.buf, f.counted);
                }
            }
        });
        if let Some(e) = shared
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(e);
        }
        Ok(Stats {
            regions: shared.regions.load(Ordering::SeqCst),
            bytes: bytes_done.load(Ordering::SeqCst),
            peak_bytes_in_flight: shared.in_flight.peak.load(Ordering::SeqCst),
        })
    }
}

/// A snapshot of a running operation for progress displays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressReport {
    /// Bytes processed so far.
    pub bytes: u64,
    /// Total bytes (0 when unknown).
    pub total: u64,
    /// Average throughput since the start, bytes per second.
    pub rate: f64,
    /// Estimated time to completion at the average rate (`None` until measurable).
    pub eta: Option<Duration>,
}

/// [`Progress`] that turns byte counts into [`ProgressReport`]s (bytes, rate, ETA) for a
/// callback, at most every `interval`, plus once at the end. It also carries a cancellation
/// flag (e.g. set from a Ctrl-C handler or a GUI button).
pub struct ReportingProgress<F: Fn(&ProgressReport) + Sync> {
    callback: F,
    interval: Duration,
    start: Instant,
    total: AtomicU64,
    done: AtomicU64,
    last_report: Mutex<Option<Instant>>,
    cancel: AtomicBool,
}

impl<F: Fn(&ProgressReport) + Sync> ReportingProgress<F> {
    /// Report to `callback` at most every `interval`.
    pub fn new(interval: Duration, callback: F) -> Self {
        ReportingProgress {
            callback,
            interval,
            start: Instant::now(),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            last_report: Mutex::new(None),
            cancel: AtomicBool::new(false),
        }
    }

    /// Ask the running operation to stop (it then fails with [`Error::Cancelled`]).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// The current state.
    pub fn report(&self) -> ProgressReport {
        let bytes = self.done.load(Ordering::SeqCst);
        let total = self.total.load(Ordering::SeqCst);
        let secs = self.start.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
        let eta = (rate > 0.0 && total >= bytes)
            .then(|| Duration::from_secs_f64((total - bytes) as f64 / rate));
        ProgressReport {
            bytes,
            total,
            rate,
            eta,
        }
    }
}

impl<F: Fn(&ProgressReport) + Sync> Progress for ReportingProgress<F> {
    fn set_total(&self, bytes: u64) {
        self.total.store(bytes, Ordering::SeqCst);
        (self.callback)(&self.report());
    }

    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::SeqCst) + bytes;
        let finished = done >= self.total.load(Ordering::SeqCst);
        let now = Instant::now();
        let due = {
            let mut last = self.last_report.lock().unwrap_or_else(|p| p.into_inner());
            let due = finished || last.is_none_or(|t| now.duration_since(t) >= self.interval);
            if due {
                *last = Some(now);
            }
            due
        };
        if due {
            (self.callback)(&self.report());
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::format::NoProgress;

    fn ramp(shape: &[u64]) -> Dataset {
        let n: u64 = shape.iter().product();
        let bytes: Vec<u8> = (0..n as u32).flat_map(|v| v.to_ne_bytes()).collect();
        Dataset::from_bytes(bytes, DType::U32, shape.to_vec()).unwrap()
    }

    /// Regions visited in place hold the bytes a read gives; those stored as one run are
    /// the storage itself (no copy), the others are read (in a transposed view, only a
    /// region along the stored rows is such a run).
    #[test]
    fn visits_in_place_see_stored_runs_and_read_the_rest() {
        let ds = ramp(&[6, 4, 5]);
        let transposed = {
            let values = ds.mapped().unwrap().to_vec();
            let strided =
                crate::source::StridedSource::from_bytes(values, DType::U32, vec![6, 4, 5])
                    .and_then(|s| s.permuted(&[2, 0, 1]))
                    .unwrap();
            let axes = vec![crate::axis::Axis::default_for(false); 3];
            let tree = crate::metadata::Tree::new();
            Dataset::new(std::sync::Arc::new(strided), axes, tree.clone(), tree).unwrap()
        };
        for (ds, chunk, in_place) in [
            (&ds, [4, 4, 5], true),
            (&ds, [1, 3, 5], true),
            (&ds, [2, 2, 5], false),
            (&ds, [2, 4, 2], false),
            (&transposed, [5, 6, 1], false),
            (&transposed, [1, 6, 4], false),
            // Five values stored one after another: a (short, but whole-region) run.
            (&transposed, [5, 1, 1], true),
        ] {
            let storage = {
                let range = ds.stored_view().unwrap().bytes.as_ptr_range();
                range.start as usize..range.end as usize
            };
            let seen = Mutex::new(Vec::new());
            Engine::new(2, 1)
                .for_each_region_in_place(ds, &chunk, &NoProgress, |region, bytes| {
                    let expected = ds.read_region_bytes(&region.start, &region.shape)?;
                    assert_eq!(bytes, expected, "{chunk:?} {region:?}");
                    let inside = storage.contains(&(bytes.as_ptr() as usize));
                    seen.lock().unwrap().push((region.start.clone(), inside));
                    Ok(())
                })
                .unwrap();
            let seen = seen.into_inner().unwrap();
            assert_eq!(seen.len() as u64, ds.chunks(&chunk).count_total());
            assert!(
                seen.iter().all(|(_, inside)| *inside == in_place),
                "{chunk:?}"
            );
        }
    }

    #[test]
    fn ordered_run_reproduces_the_c_order_stream() {
        let ds = ramp(&[7, 5, 3]);
        let mut out = Vec::new();
        let stats = Engine::new(3, 1)
            .for_each_region_ordered(
                &ds,
                &[1, 2, 3],
                &NoProgress,
                |_, _| Ok(()),
                |_, b| {
                    out.extend_from_slice(b);
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(out, ds.read_region_bytes(&[0, 0, 0], &[7, 5, 3]).unwrap());
        assert_eq!(stats.regions, 21);
        assert!(stats.peak_bytes_in_flight <= 4 * 2 * 3 * 4);
    }

    #[test]
    fn unordered_run_visits_every_region_once() {
        let ds = ramp(&[9, 4]);
        let seen = Mutex::new(Vec::new());
        Engine::new(2, 0)
            .for_each_region(&ds, &[2, 3], &NoProgress, |r, b| {
                assert_eq!(*b, ds.read_region_bytes(&r.start, &r.shape).unwrap());
                seen.lock().unwrap().push(r.start.clone());
                Ok(())
            })
            .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        let mut expected: Vec<Vec<u64>> = ds.chunks(&[2, 3]).map(|r| r.start).collect();
        expected.sort();
        assert_eq!(seen, expected);
    }

    #[test]
    fn errors_and_cancellation_stop_the_run() {
        let ds = ramp(&[50, 4]);
        let calls = AtomicU64::new(0);
        let err = Engine::new(2, 2)
            .for_each_region_ordered(
                &ds,
                &[1, 4],
                &NoProgress,
                |_, _| Ok(()),
                |r, _| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    if r.start[0] == 10 {
                        Err(Error::OutOfBounds("injected".into()))
                    } else {
                        Ok(())
                    }
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("injected"));
        assert_eq!(calls.load(Ordering::SeqCst), 11);
        let progress = ReportingProgress::new(Duration::ZERO, |_| {});
        progress.cancel();
        let err = Engine::default()
            .for_each_region(&ds, &[1, 4], &progress, |_, _| Ok(()))
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled));
    }

    #[test]
    fn reports_rate_and_eta() {
        let ds = ramp(&[16, 16]);
        let reports = Mutex::new(Vec::new());
        let progress = ReportingProgress::new(Duration::ZERO, |r| reports.lock().unwrap().push(*r));
        Engine::default()
            .for_each_region(&ds, &[1, 16], &progress, |_, _| Ok(()))
            .unwrap();
        let reports = reports.into_inner().unwrap();
        let last = reports.last().unwrap();
        assert_eq!((last.bytes, last.total), (1024, 1024));
        assert_eq!(last.eta, Some(Duration::ZERO));
    }
}
