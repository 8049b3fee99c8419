//! The write pipeline: a writer describes its output as a [`WritePlan`] and supplies an
//! encode step and a sink; core does the rest.
//!
//! A plan says
//! - the region grid: the output's chunk (or strip, tile, frame group) shape, in the
//!   dataset's dimensions;
//! - the stored axis order: the grid is visited in C order of the stored axes, and each
//!   region is handed over with its values in that order (an HDF5 dataset stored with
//!   reversed axes);
//! - whether edge regions are padded with zeros to the whole chunk (chunked stores: Zarr,
//!   HDF5, TIFF tiles) or handed over clipped (byte streams, TIFF strips).
//!
//! The [`Engine`] runs it: worker threads read regions into buffers of a bounded pool, lay
//! them out as planned, and run the writer's *encode* step on them in parallel (compress,
//! convert, add per-frame headers); the encoded bytes then go to the writer's *sink*,
//! either strictly in grid order on the calling thread ([`WritePlan::write_in_order`]:
//! appending to one file) or on the workers as they come ([`WritePlan::write_by_key`]:
//! one file or slot per chunk). Progress, cancellation and the memory bound are the
//! engine's; atomic commit of the finished output is the registry's.

use std::borrow::Cow;

use crate::copy::copy_nd;
use crate::dataset::{Dataset, Region};
use crate::engine::{Delivery, Engine, Stats};
use crate::error::Result;
use crate::format::Progress;
use crate::output::STREAM_REGION_BYTES;
use crate::region_bytes::RegionBytes;
use crate::strides::{c_strides, Layout};

/// How a writer's output is cut into regions and how each region is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePlan {
    placement: Placement,
    engine: Engine,
}

/// Layout of a region in the buffer handed to the encode step: values in the stored axis
/// order, padded to the whole chunk at the array edges when asked. The one implementation
/// of edge padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Region shape in the dataset's dimensions.
    chunk: Vec<u64>,
    /// `order[i]` is the dataset dimension stored `i`-th (slowest first).
    order: Vec<usize>,
    /// Whether edge regions are padded with zeros to `chunk`.
    pad: bool,
}

impl Placement {
    fn identity_order(&self) -> bool {
        self.order.iter().enumerate().all(|(i, &d)| i == d)
    }

    /// Whether `region` as read (C order, clipped) is already its planned layout.
    pub(crate) fn is_direct(&self, region: &Region) -> bool {
        self.identity_order() && (!self.pad || region.shape == self.chunk)
    }

    /// The planned layout's shape of `region`, in stored order.
    fn stored_shape(&self, region: &Region) -> Vec<u64> {
        let full = if self.pad { &self.chunk } else { &region.shape };
        self.order.iter().map(|&d| full[d]).collect()
    }

    /// Lay out `read` (the C-order bytes of `region`) in `out` as planned, zero-filling
    /// what lies past the array edge.
    pub(crate) fn place(&self, region: &Region, read: &[u8], out: &mut Vec<u8>, es: usize) {
        let stored = self.stored_shape(region);
        let stored_strides = c_strides(&stored, es);
        let mut dst_strides = vec![0i64; stored.len()];
        for (i, &d) in self.order.iter().enumerate() {
            dst_strides[d] = stored_strides[i];
        }
        let n = stored.iter().product::<u64>() as usize * es;
        if self.pad && region.shape != self.chunk {
            out.clear();
        }
        out.resize(n, 0);
        copy_nd(
            read,
            Layout {
                offset: 0,
                strides: &c_strides(&region.shape, es),
            },
            out,
            Layout {
                offset: 0,
                strides: &dst_strides,
            },
            &region.shape,
            es,
        );
    }
}

impl WritePlan {
    /// Regions of `chunk` (in the dataset's dimensions; sizes past the array are clipped)
    /// in C order of the grid, handed over as read: C order, edge regions clipped.
    pub fn new(chunk: &[u64]) -> Self {
        WritePlan {
            placement: Placement {
                chunk: chunk.to_vec(),
                order: (0..chunk.len()).collect(),
                pad: false,
            },
            engine: Engine::default(),
        }
    }

    /// Regions that are consecutive stretches of the dataset's C-order byte stream, about
    /// [`STREAM_REGION_BYTES`] each: for writers that append the array as one stream.
    pub fn streaming(dataset: &Dataset) -> Self {
        Self::new(&dataset.streaming_chunk_shape(STREAM_REGION_BYTES))
    }

    /// Regions of about [`STREAM_REGION_BYTES`] for writers that put each region at its
    /// place in a C-order file ([`crate::positioned::COrderFile`]): the stream's, unless
    /// they would read each of the source's own chunks four times or more (h5py's chunks
    /// of a transposed NCEM dataset span the whole scan); then whole chunks of the source,
    /// each read once, when they lie in the file in runs of a page or more.
    pub fn positioned(dataset: &Dataset) -> Self {
        Self::new(&crate::positioned::region_grid(
            dataset,
            STREAM_REGION_BYTES,
        ))
    }

    /// Like [`WritePlan::streaming`] with regions of about `target_bytes`, but every
    /// region holds whole frames (the trailing `frame_dims` dimensions), one frame when a
    /// frame is larger: for writers that encode frame by frame (per-frame headers, flips).
    pub fn whole_frames(dataset: &Dataset, frame_dims: usize, target_bytes: u64) -> Self {
        let shape = dataset.shape();
        let mut chunk = dataset.streaming_chunk_shape(target_bytes);
        let lead = shape.len().saturating_sub(frame_dims);
        if chunk[lead..] != shape[lead..] {
            chunk[..lead].fill(1);
            chunk[lead..].copy_from_slice(&shape[lead..]);
        }
        Self::new(&chunk)
    }

    /// Edge regions padded with zeros to the whole chunk (chunked stores, tiles).
    pub fn padded(mut self) -> Self {
        self.placement.pad = true;
        self
    }

    /// Values stored with their axes permuted: `order[i]` is the dataset dimension stored
    /// `i`-th, slowest first. The grid is visited in C order of the stored axes and every
    /// region is handed over in that order (and its chunk shape is `order` applied to the
    /// plan's chunk). Ignored unless `order` is a permutation of the dimensions.
    pub fn stored_order(mut self, order: &[usize]) -> Self {
        let mut seen = vec![false; self.placement.chunk.len()];
        let permutation = order.len() == seen.len()
            && order
                .iter()
                .all(|&d| d < seen.len() && !std::mem::replace(&mut seen[d], true));
        if permutation {
            self.placement.order = order.to_vec();
        }
        self
    }

    /// Run on `engine` instead of the default one (tests, tuning).
    pub fn on(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// The region (chunk) shape in the dataset's dimensions.
    pub fn chunk(&self) -> &[u64] {
        &self.placement.chunk
    }

    /// The most bytes of region data the plan holds at once: every pool buffer and every
    /// worker's read buffer a whole chunk (encoded output larger than its input aside).
    pub fn budget_bytes(&self, dataset: &Dataset) -> u64 {
        let chunk: u64 = self.placement.chunk.iter().map(|&c| c.max(1)).product();
        let buffers = (self.engine.buffers() + self.engine.threads.max(1)) as u64;
        buffers
            .saturating_mul(chunk)
            .saturating_mul(dataset.dtype().size() as u64)
    }

    /// Write `dataset` through `encode` (run on worker threads, in parallel: it gets the
    /// region and its bytes laid out as planned, native-endian, and replaces them with
    /// what goes into the file) and `sink` (on the calling thread, strictly in grid
    /// order: appends the encoded bytes to the output).
    pub fn write_in_order<E, S>(
        &self,
        dataset: &Dataset,
        progress: &dyn Progress,
        encode: E,
        mut sink: S,
    ) -> Result<Stats>
    where
        E: Fn(&Region, &mut Vec<u8>) -> Result<()> + Sync,
        S: FnMut(&Region, &[u8]) -> Result<()>,
    {
        let encode = |region: &Region, bytes: &mut RegionBytes<'_>| encode(region, bytes.buffer()?);
        self.engine.run(
            dataset,
            self.grid(dataset),
            Some(&self.placement),
            progress,
            &encode,
            Delivery::Sink(&mut sink),
        )
    }

    /// Write `dataset` through `encode` then `store`, both on the worker threads in no
    /// particular order: for outputs whose chunks are stored by key (a file per chunk).
    /// `encode` gets the region's bytes (laid out as planned, native-endian): regions whose
    /// layout is the one read (not padded, not reordered) come unread, for an encoder to
    /// read part by part as it goes ([`RegionBytes::fill`]) or whole
    /// ([`RegionBytes::whole`]). It returns what goes into the store, borrowed from the
    /// bytes or new; the read buffer itself stays as it is, so the worker reuses it for
    /// the next region without growing (and zeroing) a fresh one: a compressed chunk
    /// returned in its place left the pool with buffers a sixth of a chunk long (issue 23:
    /// 6% of a MIB → Zarr conversion was that zeroing).
    pub fn write_by_key<E, S>(
        &self,
        dataset: &Dataset,
        progress: &dyn Progress,
        encode: E,
        store: S,
    ) -> Result<Stats>
    where
        E: for<'b> Fn(&Region, &'b mut RegionBytes<'_>) -> Result<Cow<'b, [u8]>> + Sync,
        S: Fn(&Region, &[u8]) -> Result<()> + Sync,
    {
        let work = |region: &Region, bytes: &mut RegionBytes<'_>| {
            let encoded = encode(region, bytes)?;
            store(region, &encoded)
        };
        self.engine.run(
            dataset,
            self.grid(dataset),
            Some(&self.placement),
            progress,
            &work,
            Delivery::WorkUnread,
        )
    }

    /// The plan's regions of `dataset`, in the order they are visited.
    pub(crate) fn grid(&self, dataset: &Dataset) -> crate::dataset::Chunks {
        dataset
            .chunks(&self.placement.chunk)
            .in_order(&self.placement.order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::format::NoProgress;

    fn ramp(shape: Vec<u64>) -> Dataset {
        let n = shape.iter().product::<u64>();
        Dataset::from_bytes((0..n).map(|i| i as u8).collect(), DType::U8, shape).unwrap()
    }

    #[test]
    fn whole_frames_never_split_a_frame() {
        let ds = ramp(vec![3, 4, 5]);
        assert_eq!(WritePlan::whole_frames(&ds, 2, 45).chunk(), [2, 4, 5]);
        assert_eq!(WritePlan::whole_frames(&ds, 2, 7).chunk(), [1, 4, 5]);
        assert_eq!(WritePlan::whole_frames(&ds, 1, 7).chunk(), [1, 1, 5]);
    }

    /// A region's start and the bytes the sink received for it.
    type Written = (Vec<u64>, Vec<u8>);

    /// The regions `plan` hands its sink for `ds`, in order, and the run's statistics.
    fn written(plan: WritePlan, ds: &Dataset) -> (Vec<Written>, Stats) {
        let mut seen = Vec::new();
        let stats = plan
            .write_in_order(
                ds,
                &NoProgress,
                |_, _| Ok(()),
                |r, b| {
                    seen.push((r.start.clone(), b.to_vec()));
                    Ok(())
                },
            )
            .unwrap();
        (seen, stats)
    }

    #[test]
    fn edge_chunks_are_padded_with_zeros() {
        let ds = ramp(vec![3, 5]);
        let (seen, _) = written(WritePlan::new(&[2, 4]).padded(), &ds);
        let starts: Vec<_> = seen.iter().map(|(s, _)| s.clone()).collect();
        assert_eq!(starts, [vec![0, 0], vec![0, 4], vec![2, 0], vec![2, 4]]);
        assert_eq!(seen[0].1, [0, 1, 2, 3, 5, 6, 7, 8]);
        assert_eq!(seen[1].1, [4, 0, 0, 0, 9, 0, 0, 0]);
        assert_eq!(seen[2].1, [10, 11, 12, 13, 0, 0, 0, 0]);
        assert_eq!(seen[3].1, [14, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn clipped_regions_stay_clipped_without_padding() {
        let ds = ramp(vec![3, 5]);
        let mut lens = Vec::new();
        WritePlan::new(&[2, 5])
            .write_in_order(
                &ds,
                &NoProgress,
                |_, _| Ok(()),
                |_, b| {
                    lens.push(b.len());
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(lens, [10, 5]);
    }

    #[test]
    fn stored_order_transposes_regions_and_orders_the_grid() {
        let ds = ramp(vec![2, 3]);
        let (seen, stats) = written(WritePlan::new(&[2, 2]).padded().stored_order(&[1, 0]), &ds);
        // Stored as a 3×2 array in chunks of 2×2: chunk (0,0) holds columns 0-1.
        assert_eq!(seen[0], (vec![0, 0], vec![0, 3, 1, 4]));
        assert_eq!(seen[1], (vec![0, 2], vec![2, 5, 0, 0]));
        assert_eq!(stats.bytes, 6, "progress counts the data, not the padding");
    }

    #[test]
    fn padded_and_transposed_writes_stay_within_the_budget() {
        let ds = ramp(vec![64, 37, 5]);
        let engine = Engine::new(2, 2);
        let plan = WritePlan::new(&[4, 8, 5])
            .padded()
            .stored_order(&[2, 1, 0])
            .on(engine);
        let stats = plan
            .write_in_order(&ds, &NoProgress, |_, _| Ok(()), |_, _| Ok(()))
            .unwrap();
        assert_eq!(stats.bytes, ds.nbytes());
        assert!(stats.peak_bytes_in_flight > 0);
        assert!(
            stats.peak_bytes_in_flight <= plan.budget_bytes(&ds),
            "{} > {}",
            stats.peak_bytes_in_flight,
            plan.budget_bytes(&ds)
        );
        assert!(plan.budget_bytes(&ds) < ds.nbytes());
    }

    #[test]
    fn chunks_stored_by_key_see_every_region_once() {
        let ds = ramp(vec![7, 3]);
        let seen = std::sync::Mutex::new(Vec::new());
        WritePlan::new(&[2, 2])
            .padded()
            .write_by_key(
                &ds,
                &NoProgress,
                |_, b| {
                    let mut encoded = b.whole()?.to_vec();
                    encoded.push(0xff);
                    Ok(Cow::Owned(encoded))
                },
                |r, b| {
                    seen.lock().unwrap().push((r.start.clone(), b.len()));
                    Ok(())
                },
            )
            .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen.len(), 8);
        assert!(seen.iter().all(|(_, n)| *n == 5));
    }

    /// Regions stored by key whose layout is the one read come unread and read part by
    /// part to their planned bytes; padded edge regions come read.
    #[test]
    fn chunks_stored_by_key_are_read_on_demand_unless_padded() {
        let ds = ramp(vec![7, 4]);
        let seen = std::sync::Mutex::new(Vec::new());
        WritePlan::new(&[2, 4])
            .padded()
            .write_by_key(
                &ds,
                &NoProgress,
                |region, bytes| {
                    let unread = bytes.in_memory().is_none();
                    // Byte by byte, ranges that start anywhere.
                    let mut parts = vec![0u8; bytes.len()];
                    for (at, byte) in parts.iter_mut().enumerate() {
                        bytes.fill(at, std::slice::from_mut(byte))?;
                    }
                    assert_eq!(parts, bytes.whole()?, "region {region:?}");
                    seen.lock().unwrap().push((region.start[0], unread));
                    Ok(Cow::Owned(parts))
                },
                |_, _| Ok(()),
            )
            .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, [(0, true), (2, true), (4, true), (6, false)]);
    }
}
