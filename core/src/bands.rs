//! Reading a write grid whose regions cut the source's own chunks into many pieces.
//!
//! A region of the output's grid (a Zarr chunk of whole frames, a 16 MiB stretch of a
//! byte stream) may touch dozens of the source's chunks and need a sliver of each: h5py's
//! chunks of a transposed NCEM dataset span the whole scan but 11 × 11 pixels of a frame,
//! so every region of frames touches every chunk. Each chunk would then be decoded once
//! for every region that touches it (64 times over for a 64 × 64 scan written by rsciio),
//! and no cache of bounded size helps, as the regions visit all chunks in turn.
//!
//! Instead the regions are served from *bands*: stretches of the outermost axis the grid
//! cuts (in the order the grid is visited), whole along every other axis, each read from
//! the source in one call (every chunk it touches decoded once) and kept while the regions
//! inside it are read. The engine claims regions in grid order, so the workers share the
//! band being read; at most two are held (three alive while a slow reader finishes with
//! an older one), each at most [`BAND_BYTES`].

use std::sync::{Arc, Mutex, OnceLock};

use crate::copy::copy_nd;
use crate::dataset::{Chunks, Dataset, Region};
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::source::Threads;
use crate::strides::{c_strides, Layout};

/// Largest band.
pub const BAND_BYTES: u64 = 128 << 20;

/// How many of the grid's regions must read each source chunk before bands pay for the
/// copy out of them (and before positioned writes follow the source's chunks instead of
/// the C-order stream, [`crate::positioned`]).
pub(crate) const MIN_READS_PER_CHUNK: u64 = 4;

/// How many regions of shape `region` read each of `dataset`'s own chunks (the product,
/// over the dimensions, of how many region extents one chunk spans), or `None` when
/// cutting chunks costs nothing: the source hands out its values in place (a memory-mapped
/// array, however strided, reads any region at the cost of a copy), or has no chunk of
/// the array's rank.
pub(crate) fn reads_per_chunk(dataset: &Dataset, region: &[u64]) -> Option<u64> {
    let shape = dataset.shape();
    let chunk = dataset.source().chunk_shape();
    if dataset.source().stored_view().is_some() || chunk.len() != shape.len() {
        return None;
    }
    let cuts = |d: usize| chunk[d].clamp(1, shape[d]).div_ceil(region[d].max(1));
    Some((0..shape.len()).map(cuts).product())
}

/// The bands of one run of the engine.
pub(crate) struct Bands<'a> {
    dataset: &'a Dataset,
    /// The dimension the bands cut.
    axis: usize,
    /// Extent of a band along `axis` (a whole number of the grid's regions).
    height: u64,
    /// Bytes of one index along `axis`.
    row_bytes: u64,
    /// The bands being read or held, by index, oldest first.
    held: Mutex<Vec<(u64, Arc<Band>)>>,
}

/// One band: its values (C order), read once by the first worker that needs it.
#[derive(Default)]
struct Band {
    /// `None` when the read failed.
    bytes: OnceLock<Option<Vec<u8>>>,
    /// The failed read's error, for the first worker to report it.
    error: Mutex<Option<Error>>,
}

impl<'a> Bands<'a> {
    /// Bands for reading the regions of `grid` from `dataset`, when they pay: the source
    /// decodes or gathers its chunks (it has no stored view), each chunk is read by
    /// [`MIN_READS_PER_CHUNK`] regions or more, and a band of at most `band_bytes`
    /// ([`BAND_BYTES`] in a conversion) holding several regions reads it fewer times.
    pub(crate) fn plan_within(
        dataset: &'a Dataset,
        grid: &Chunks,
        band_bytes: u64,
    ) -> Option<Self> {
        let shape = dataset.shape();
        let region = grid.chunk();
        if dataset.is_empty() {
            return None;
        }
        let reads = reads_per_chunk(dataset, region)?;
        let source_chunk = dataset.source().chunk_shape();
        let cuts = |d: usize, extent: u64| source_chunk[d].clamp(1, shape[d]).div_ceil(extent);
        // The outermost dimension the grid cuts, in the order it is visited.
        let axis = *grid.order().iter().find(|&&d| region[d] < shape[d])?;
        let row_bytes = dataset.nbytes() / shape[axis];
        let height = (band_bytes / row_bytes.max(1) / region[axis] * region[axis]).min(shape[axis]);
        let region_bytes = region.iter().product::<u64>() * dataset.dtype().size() as u64;
        let pays = reads >= MIN_READS_PER_CHUNK
            && height > 0
            && height * row_bytes > region_bytes
            && cuts(axis, height) < reads;
        pays.then(|| Bands {
            dataset,
            axis,
            height,
            row_bytes,
            held: Mutex::new(Vec::new()),
        })
    }

    /// Whether the bands would decode the source's chunks more than once each: a chunk
    /// spans more than one band along the axis the bands cut, and reading any part of it
    /// decodes all of it ([`crate::source::ArraySource::decodes_whole_chunks`]).
    pub(crate) fn decode_chunks_again(&self) -> bool {
        let source = self.dataset.source();
        let chunk = source.chunk_shape()[self.axis].min(self.dataset.shape()[self.axis]);
        chunk > self.height && source.decodes_whole_chunks()
    }

    /// The band with index `index`, created (unread) if it is not held.
    fn band(&self, index: u64) -> Arc<Band> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, band)) = held.iter().find(|(i, _)| *i == index) {
            return band.clone();
        }
        let band = Arc::new(Band::default());
        held.push((index, band.clone()));
        if held.len() > 2 {
            held.remove(0);
        }
        band
    }

    /// Start and shape of band `index`.
    fn extent(&self, index: u64) -> (Vec<u64>, Vec<u64>) {
        let shape = self.dataset.shape();
        let mut start = vec![0; shape.len()];
        start[self.axis] = index * self.height;
        let mut extent = shape.to_vec();
        extent[self.axis] = self.height.min(shape[self.axis] - start[self.axis]);
        (start, extent)
    }

    /// Read `region` (which lies in one band) into `out` through its band, reading the
    /// band first if no worker has.
    pub(crate) fn read(
        &self,
        region: &Region,
        out: &mut [u8],
        progress: &dyn Progress,
    ) -> Result<()> {
        let index = region.start[self.axis] / self.height;
        let band = self.band(index);
        let (start, extent) = self.extent(index);
        let bytes = band.bytes.get_or_init(|| {
            let mut bytes = vec![0u8; (self.row_bytes * extent[self.axis]) as usize];
            match self.dataset.read_region_into_with(
                &start,
                &extent,
                &mut bytes,
                progress,
                Threads::All,
            ) {
                Ok(()) => Some(bytes),
                Err(e) => {
                    *band.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    None
                }
            }
        });
        let Some(bytes) = bytes else {
            // The worker that read the band reports its error; the others stop.
            let error = band.error.lock().unwrap_or_else(|p| p.into_inner()).take();
            return Err(error.unwrap_or(Error::Cancelled));
        };
        let es = self.dataset.dtype().size();
        let from = c_strides(&extent, es);
        let offset = (region.start.iter().zip(&start).zip(&from))
            .map(|((&at, &band), &stride)| (at - band) as i64 * stride)
            .sum();
        copy_nd(
            bytes,
            Layout {
                offset,
                strides: &from,
            },
            out,
            Layout {
                offset: 0,
                strides: &c_strides(&region.shape, es),
            },
            &region.shape,
            es,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::dtype::DType;
    use crate::format::NoProgress;
    use crate::plan::WritePlan;
    use crate::source::{ArraySource, StridedSource};
    use crate::Axis;

    /// A u16 ramp whose natural unit is `chunk`, counting the reads it serves.
    struct Counted {
        inner: StridedSource,
        chunk: Vec<u64>,
        reads: AtomicUsize,
        /// Every read fails.
        broken: bool,
        /// Hands out its values in place.
        mapped: bool,
    }

    impl ArraySource for Counted {
        fn dtype(&self) -> DType {
            self.inner.dtype()
        }
        fn shape(&self) -> &[u64] {
            self.inner.shape()
        }
        fn read_region_with(
            &self,
            start: &[u64],
            shape: &[u64],
            out: &mut [u8],
            progress: &dyn Progress,
            threads: Threads,
        ) -> Result<()> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.broken {
                return Err(Error::Layout("broken".into()));
            }
            self.inner
                .read_region_with(start, shape, out, progress, threads)
        }
        fn chunk_shape(&self) -> Vec<u64> {
            self.chunk.clone()
        }
        fn stored_view(&self) -> Option<crate::source::StridedView<'_>> {
            self.inner.stored_view().filter(|_| self.mapped)
        }
    }

    fn ramp(shape: &[u64]) -> Vec<u8> {
        let n = shape.iter().product::<u64>();
        (0..n).flat_map(|i| (i as u16).to_ne_bytes()).collect()
    }

    fn counted(shape: &[u64], chunk: &[u64]) -> (Dataset, Arc<Counted>) {
        source(shape, chunk, false, false)
    }

    fn source(shape: &[u64], chunk: &[u64], broken: bool, mapped: bool) -> (Dataset, Arc<Counted>) {
        let inner = StridedSource::from_bytes(ramp(shape), DType::U16, shape.to_vec()).unwrap();
        let source = Arc::new(Counted {
            inner,
            chunk: chunk.to_vec(),
            reads: AtomicUsize::new(0),
            broken,
            mapped,
        });
        let axes = shape.iter().map(|_| Axis::default_for(false)).collect();
        let ds = Dataset::new(source.clone(), axes, Default::default(), Default::default());
        (ds.unwrap(), source)
    }

    #[test]
    fn regions_cutting_the_chunks_are_read_from_bands() {
        // Chunks span the whole first axis; regions of two rows cut each one 8 times.
        let (ds, source) = counted(&[16, 6, 10], &[16, 2, 3]);
        let grid = ds.chunks(&[2, 6, 10]);
        let bands = Bands::plan_within(&ds, &grid, 600).expect("bands pay");
        assert_eq!((bands.axis, bands.height), (0, 4));
        let want = ramp(&[16, 6, 10]);
        for region in ds.chunks(&[2, 6, 10]) {
            let mut out = vec![0u8; region.len() as usize * 2];
            bands.read(&region, &mut out, &NoProgress).unwrap();
            let at = region.start[0] as usize * 120;
            assert_eq!(out, want[at..at + out.len()], "{region:?}");
        }
        // Four bands of four rows, each read once.
        assert_eq!(source.reads.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn bands_follow_the_order_the_grid_is_visited_in() {
        // Visited with the last axis slowest (an HDF5 dataset stored with reversed axes),
        // regions cut the first and the last axis: bands cut the last.
        let (ds, source) = counted(&[6, 8, 4], &[6, 8, 1]);
        let grid = ds.chunks(&[1, 8, 1]).in_order(&[2, 1, 0]);
        let bands = Bands::plan_within(&ds, &grid, 1 << 20).expect("bands pay");
        assert_eq!((bands.axis, bands.height), (2, 4));
        let want = ramp(&[6, 8, 4]);
        let mut out = vec![0u8; 16];
        for region in grid {
            bands.read(&region, &mut out, &NoProgress).unwrap();
            for (j, value) in out.chunks(2).enumerate() {
                let at = ((region.start[0] * 8 + j as u64) * 4 + region.start[2]) as usize * 2;
                assert_eq!(value, &want[at..at + 2], "{region:?} {j}");
            }
        }
        assert_eq!(source.reads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn aligned_or_cheap_grids_read_directly() {
        // Regions of whole chunks.
        let (ds, _) = counted(&[16, 6, 10], &[2, 6, 10]);
        assert!(Bands::plan_within(&ds, &ds.chunks(&[2, 6, 10]), BAND_BYTES).is_none());
        // Each chunk cut into fewer than four pieces.
        let (ds, _) = counted(&[16, 6, 10], &[4, 6, 10]);
        assert!(Bands::plan_within(&ds, &ds.chunks(&[2, 6, 10]), BAND_BYTES).is_none());
        // Values handed out in place: any region is a copy away.
        let (ds, _) = source(&[16, 6, 10], &[16, 2, 3], false, true);
        assert!(Bands::plan_within(&ds, &ds.chunks(&[2, 6, 10]), BAND_BYTES).is_none());
        // A band could hold no more than one region.
        let (ds, _) = counted(&[16, 6, 10], &[16, 6, 10]);
        assert!(Bands::plan_within(&ds, &ds.chunks(&[2, 6, 10]), 300).is_none());
    }

    #[test]
    fn the_engine_writes_through_bands_what_it_reads_directly() {
        let (ds, source) = counted(&[16, 6, 10], &[16, 2, 3]);
        let mut written = Vec::new();
        WritePlan::new(&[2, 6, 10])
            .write_in_order(
                &ds,
                &NoProgress,
                |_, _| Ok(()),
                |_, bytes| {
                    written.extend_from_slice(bytes);
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(written, ramp(&[16, 6, 10]));
        // The whole array fits one band: one read of the source.
        assert_eq!(source.reads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_band_read_is_reported_once_and_stops_the_others() {
        let (ds, source) = source(&[16, 6, 10], &[16, 2, 3], true, false);
        let grid = ds.chunks(&[2, 6, 10]);
        let bands = Bands::plan_within(&ds, &grid, 600).unwrap();
        let mut regions = grid.clone();
        let (a, b) = (regions.next().unwrap(), regions.next().unwrap());
        let mut out = vec![0u8; 240];
        let first = bands.read(&a, &mut out, &NoProgress).unwrap_err();
        assert!(matches!(first, Error::Layout(_)), "{first}");
        let second = bands.read(&b, &mut out, &NoProgress).unwrap_err();
        assert!(matches!(second, Error::Cancelled), "{second}");
        // The band was read once.
        assert_eq!(source.reads.load(Ordering::SeqCst), 1);
    }
}
