//! Staging a source whose compressed chunks the bands of a run would decode many times.
//!
//! Bands (module `bands`) decode each of the source's chunks once per band that needs a
//! part of it. rsciio picks the chunks of an NCEM dataset on its transposed shape, so
//! they span the whole scan whatever its size: every band needs every chunk, and a gzip
//! dataset of 8 GiB written to Zarr, `.hspy` or EMD would be decoded 64 times over. Such a
//! run is staged instead: the dataset is first copied in C order into a scratch file in
//! the temporary folder ([`std::env::temp_dir`]: `TMPDIR` on Unix), in regions of whole
//! chunks read in the order the source stores them (each chunk decoded once, as one run),
//! transposed on the workers and put at their places ([`COrderFile::place`]), and the
//! run's regions are then read from that file's memory map. The page cache holds the copy
//! while memory allows and the file system the rest, so memory stays bounded.
//!
//! The scratch file loses its name as soon as it is created (on Unix an open file
//! outlives its name), so nothing is left behind however the process ends; elsewhere it
//! is removed when the run is over. A run is staged only when the temporary folder has
//! twice the dataset's size free, and falls back to the bands when the scratch file
//! cannot be created or written.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::axis::Axis;
use crate::bands::{reads_per_chunk, Bands};
use crate::dataset::{Dataset, Region};
use crate::dtype::ByteOrder;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::metadata::Tree;
use crate::plan::WritePlan;
use crate::positioned::COrderFile;
use crate::source::{Storage, StridedSource};

/// Largest region of the copy into the scratch file: whole chunks of the source, grown
/// along the innermost dimensions (rsciio's chunks of a 64 × 128 scan of 256 × 256
/// frames, 7 × 7 pixels of every frame, grow to 7 whole rows of every frame, 29 MiB:
/// runs of 3.5 KiB in the file; with half as much, runs of 224 bytes).
const STAGING_REGION_BYTES: u64 = 32 << 20;

/// A dataset's values copied in C order into a scratch file, read through its memory map.
pub(crate) struct Staged {
    /// Over the scratch file's map; `None` only while dropping (the map goes before the
    /// file is removed, which some systems require).
    dataset: Option<Dataset>,
    /// The scratch file's name (in errors; removed on drop where it could not be removed
    /// at once).
    path: PathBuf,
}

impl Staged {
    /// Stage `dataset` when `bands` would decode its chunks more than once each and its
    /// own chunks can be copied once each (by `engine`'s workers): `None` (read through
    /// the bands) otherwise, or when the temporary folder lacks the space or the scratch
    /// file fails. `progress` gets half of the dataset's bytes as the copy goes (the
    /// run's reads the other half, through [`Half::second`]) and may cancel the copy.
    pub(crate) fn plan(
        dataset: &Dataset,
        bands: &Bands<'_>,
        engine: Engine,
        progress: &dyn Progress,
    ) -> Result<Option<Self>> {
        // Regions of whole chunks grown along the logical order's innermost dimensions
        // (long runs in the C-order file), read in the order the source stores them
        // (each chunk decoded once, in place), transposed into the logical order on the
        // workers and put at their places (then read as any uncompressed array).
        if !bands.decode_chunks_again() {
            return Ok(None);
        }
        let grid = dataset.read_chunk_shape(STAGING_REGION_BYTES);
        let rank = dataset.ndim();
        let (perm, stored) = match dataset.source().stored_order() {
            Some((perm, source)) => (perm, bare(source)?),
            None => ((0..rank).collect(), bare(dataset.source().clone())?),
        };
        let stored_grid: Vec<u64> = perm.iter().map(|&d| grid[d]).collect();
        if reads_per_chunk(&stored, &stored_grid) != Some(1) {
            return Ok(None);
        }
        // Logical dimension `k` is the stored dataset's `position[k]`.
        let mut position = vec![0; rank];
        for (i, &logical) in perm.iter().enumerate() {
            position[logical] = i;
        }
        let dir = std::env::temp_dir();
        let needed = dataset.nbytes().saturating_mul(2);
        if crate::budget::free_space(&dir).is_some_and(|free| free < needed) {
            return Ok(None);
        }
        let Ok((file, path)) = create_scratch(&dir) else {
            return Ok(None);
        };
        let mut staged = Staged {
            dataset: None,
            path,
        };
        let shape = dataset.shape();
        let scratch = COrderFile::new(&file, &staged.path, 0, shape);
        let logical = |region: &Region| Region {
            start: position.iter().map(|&p| region.start[p]).collect(),
            shape: position.iter().map(|&p| region.shape[p]).collect(),
        };
        let written = WritePlan::new(&stored_grid)
            .stored_order(&position)
            .on(engine)
            .write_in_order(
                &stored,
                &Half::first(progress),
                |_, _| Ok(()),
                |region, bytes| scratch.place(&logical(region), bytes),
            );
        match written {
            Ok(_) => {}
            // The scratch file could not be written (its folder filled up meanwhile):
            // the bands read the source as if nothing had been staged.
            Err(Error::Io { path, .. }) if path == staged.path => return Ok(None),
            Err(e) => return Err(e),
        }
        let storage = Storage::map_file(&file, dataset.nbytes(), &staged.path)?;
        let source = StridedSource::contiguous(
            "staging",
            storage,
            0,
            dataset.dtype(),
            shape.to_vec(),
            ByteOrder::NATIVE,
        )?;
        staged.dataset = Some(bare(Arc::new(source))?);
        Ok(Some(staged))
    }

    /// The staged values, in the original dataset's shape and type.
    pub(crate) fn dataset(&self) -> &Dataset {
        self.dataset
            .as_ref()
            .expect("a staged dataset until dropped")
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.dataset = None;
        #[cfg(not(unix))]
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A dataset of `source`'s values alone (uncalibrated axes, no metadata): what a run
/// reads.
fn bare(source: Arc<dyn crate::source::ArraySource>) -> Result<Dataset> {
    let axes = source
        .shape()
        .iter()
        .map(|_| Axis::default_for(false))
        .collect();
    Dataset::new(source, axes, Tree::new(), Tree::new())
}

/// A new empty scratch file in `dir` (readable and writable), and its name; on Unix the
/// name is already gone.
fn create_scratch(dir: &Path) -> std::io::Result<(File, PathBuf)> {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    loop {
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".emio-staging-{pid}-{serial}.raw"));
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        #[cfg(unix)]
        std::fs::remove_file(&path)?;
        return Ok((file, path));
    }
}

/// Half of every byte a phase of a staged run processes, passed on to the caller's
/// progress: the copy into the scratch file and the run's reads of it each count for half
/// of the dataset, so the caller sees the dataset's size once in all.
pub(crate) struct Half<'a> {
    inner: &'a dyn Progress,
    /// Bytes this phase processed so far.
    done: AtomicU64,
    /// Whether the phase passes on `ceil(done / 2)` (the run's reads) rather than
    /// `floor(done / 2)` (the copy): the halves of a dataset of `n` bytes add up to `n`.
    rounds_up: bool,
}

impl<'a> Half<'a> {
    /// The copy's half of `inner`.
    fn first(inner: &'a dyn Progress) -> Self {
        Half {
            inner,
            done: AtomicU64::new(0),
            rounds_up: false,
        }
    }

    /// The run's half of `inner`, after the copy.
    pub(crate) fn second(inner: &'a dyn Progress) -> Self {
        Half {
            rounds_up: true,
            ..Half::first(inner)
        }
    }

    fn of(&self, bytes: u64) -> u64 {
        if self.rounds_up {
            bytes.div_ceil(2)
        } else {
            bytes / 2
        }
    }
}

impl Progress for Half<'_> {
    /// The run set the caller's total already.
    fn set_total(&self, _bytes: u64) {}
    fn advance(&self, bytes: u64) {
        let before = self.done.fetch_add(bytes, Ordering::Relaxed);
        self.inner
            .advance(self.of(before + bytes) - self.of(before));
    }
    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
    fn note(&self, message: &str) {
        self.inner.note(message);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;

    use super::*;
    use crate::chunked::{ChunkDecoder, ChunkedSource};
    use crate::dtype::DType;
    use crate::source::ArraySource;
    use crate::strides::for_each_index;

    /// Chunks of a u16 array holding each value's C-order index, counting its decodes;
    /// the array may be another's seen with its dimensions permuted (`perm[i]`, the other
    /// array's dimension that is this one's `i`-th), the values that array's indices.
    struct Indices {
        shape: Vec<u64>,
        chunk: Vec<u64>,
        perm: Vec<usize>,
        decodes: Arc<AtomicU64>,
    }

    impl ChunkDecoder for Indices {
        fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
            self.decodes.fetch_add(1, Ordering::SeqCst);
            let rank = self.shape.len();
            let start: Vec<u64> = index.iter().zip(&self.chunk).map(|(i, c)| i * c).collect();
            let extent: Vec<u64> = (0..rank)
                .map(|d| self.chunk[d].min(self.shape[d] - start[d]))
                .collect();
            let mut other = vec![0; rank];
            let mut other_shape = vec![0; rank];
            for (i, &d) in self.perm.iter().enumerate() {
                other_shape[d] = self.shape[i];
            }
            let mut values = out.chunks_exact_mut(2);
            for_each_index(&extent, |at| {
                for (i, &d) in self.perm.iter().enumerate() {
                    other[d] = start[i] + at[i];
                }
                let flat = (0..rank).fold(0, |acc, d| acc * other_shape[d] + other[d]);
                let value = values.next().expect("one value per index");
                value.copy_from_slice(&(flat as u16).to_ne_bytes());
            });
            Ok(())
        }
    }

    /// A source of [`Indices`] chunks of `chunk` over `shape` seen through `perm`, and its
    /// decode count.
    fn indices(shape: &[u64], chunk: &[u64], perm: &[usize]) -> (ChunkedSource, Arc<AtomicU64>) {
        let decodes = Arc::new(AtomicU64::new(0));
        let decoder = Indices {
            shape: shape.to_vec(),
            chunk: chunk.to_vec(),
            perm: perm.to_vec(),
            decodes: decodes.clone(),
        };
        let source = ChunkedSource::new(
            DType::U16,
            shape.to_vec(),
            chunk.to_vec(),
            Box::new(decoder),
        );
        (source.unwrap(), decodes)
    }

    /// A dataset of `shape` in compressed-like chunks of `chunk`, and its decode count.
    fn chunked(shape: &[u64], chunk: &[u64]) -> (Dataset, Arc<AtomicU64>) {
        let (source, decodes) = indices(shape, chunk, &(0..shape.len()).collect::<Vec<_>>());
        (bare(Arc::new(source)).unwrap(), decodes)
    }

    /// An array stored with its dimensions reversed, as NCEM's HDF5 (the logical view's
    /// chunks decode through the stored ones, as HDF5's do).
    struct Reversed {
        logical: ChunkedSource,
        stored: Arc<ChunkedSource>,
    }

    impl ArraySource for Reversed {
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
            progress: &dyn Progress,
            threads: crate::source::Threads,
        ) -> Result<()> {
            (self.logical).read_region_with(start, shape, out, progress, threads)
        }
        fn chunk_shape(&self) -> Vec<u64> {
            self.logical.chunk_shape()
        }
        fn decodes_whole_chunks(&self) -> bool {
            true
        }
        fn stored_order(&self) -> Option<(Vec<usize>, Arc<dyn ArraySource>)> {
            Some((vec![3, 2, 1, 0], self.stored.clone()))
        }
    }

    /// Progress that records its total and what was done, and cancels once asked to.
    #[derive(Default)]
    struct Recorded {
        total: Mutex<Vec<u64>>,
        done: AtomicU64,
        cancel: AtomicBool,
    }

    impl Progress for Recorded {
        fn set_total(&self, bytes: u64) {
            self.total.lock().unwrap().push(bytes);
        }
        fn advance(&self, bytes: u64) {
            self.done.fetch_add(bytes, Ordering::SeqCst);
        }
        fn is_cancelled(&self) -> bool {
            self.cancel.load(Ordering::SeqCst)
        }
    }

    /// Frames of `ds` (an 8 × 6 scan of 10 × 10 pixels), written whole-frame by an engine
    /// whose bands hold two scan rows.
    fn write_frames(ds: &Dataset, progress: &Recorded) -> Result<Vec<u8>> {
        let engine = Engine {
            band_bytes: 2 * 6 * 100 * 2,
            ..Engine::new(2, 2)
        };
        let mut written = Vec::new();
        WritePlan::new(&[1, 1, 10, 10])
            .on(engine)
            .write_in_order(
                ds,
                progress,
                |_, _| Ok(()),
                |_, bytes| {
                    written.extend_from_slice(bytes);
                    Ok(())
                },
            )
            .map(|_| written)
    }

    /// The values of an 8 × 6 scan of 10 × 10 pixels holding their indices.
    fn frames() -> Vec<u8> {
        (0..4800u16).flat_map(u16::to_ne_bytes).collect()
    }

    #[test]
    fn chunks_spanning_the_bands_are_decoded_once_into_a_scratch_file() {
        // Chunks of 3 × 3 pixels of every frame, as h5py's of an NCEM dataset.
        let (ds, decodes) = chunked(&[8, 6, 10, 10], &[8, 6, 3, 3]);
        let progress = Recorded::default();
        assert_eq!(write_frames(&ds, &progress).unwrap(), frames());
        // 16 chunks, each decoded once; through the four bands, 64 decodes.
        assert_eq!(decodes.load(Ordering::SeqCst), 16);
        // The copy and the reads each count for half: the dataset's size once in all.
        assert_eq!(*progress.total.lock().unwrap(), [9600]);
        assert_eq!(progress.done.load(Ordering::SeqCst), 9600);
    }

    #[test]
    fn chunks_stored_transposed_are_copied_in_their_order() {
        let (logical, logical_decodes) = indices(&[8, 6, 10, 10], &[8, 6, 3, 3], &[0, 1, 2, 3]);
        let (stored, stored_decodes) = indices(&[10, 10, 6, 8], &[3, 3, 6, 8], &[3, 2, 1, 0]);
        let ds = bare(Arc::new(Reversed {
            logical,
            stored: Arc::new(stored),
        }))
        .unwrap();
        assert_eq!(write_frames(&ds, &Recorded::default()).unwrap(), frames());
        assert_eq!(stored_decodes.load(Ordering::SeqCst), 16);
        assert_eq!(logical_decodes.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_cancelled_copy_stops_the_run() {
        let (ds, decodes) = chunked(&[8, 6, 10, 10], &[8, 6, 3, 3]);
        let progress = Recorded::default();
        progress.cancel.store(true, Ordering::SeqCst);
        let written = write_frames(&ds, &progress);
        assert!(matches!(written, Err(Error::Cancelled)), "{written:?}");
        assert_eq!(decodes.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn chunks_within_a_band_are_read_through_the_bands() {
        // Chunks two scan rows deep: each band decodes each chunk it needs once.
        let (ds, decodes) = chunked(&[8, 6, 10, 10], &[2, 6, 3, 3]);
        let grid = ds.chunks(&[1, 1, 10, 10]);
        let bands = Bands::plan_within(&ds, &grid, 2 * 6 * 100 * 2).expect("bands pay");
        assert!(!bands.decode_chunks_again());
        let staged = Staged::plan(&ds, &bands, Engine::new(2, 2), &Recorded::default());
        assert!(staged.unwrap().is_none());
        assert_eq!(decodes.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_halves_of_a_dataset_add_up_to_it() {
        let progress = Recorded::default();
        let (first, second) = (Half::first(&progress), Half::second(&progress));
        for step in [3, 1, 4, 1, 5] {
            first.advance(step);
            second.advance(step);
        }
        assert_eq!(progress.done.load(Ordering::SeqCst), 14);
        assert_eq!(first.done.load(Ordering::SeqCst), 14);
    }
}
