//! Handing a region to an order-free step ([`RegionBytes::visit`]): in place where the
//! memory map stores it in long runs, else read into the buffer whole, in pieces of whole
//! chunks (decoded values), or in cache-sized pieces.

use super::{RegionBytes, Unread, MIN_RUN_BYTES};
use crate::dataset::{streaming_chunk, whole_chunks, Chunks, Region};
use crate::error::Result;
use crate::source::Threads;

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

impl RegionBytes<'_> {
    /// Hand the region to `step` as sub-regions covering it once (in the dataset's
    /// coordinates), each with its C-order native-endian bytes, without changing them:
    /// the whole region when it is already in memory; else, when its values are stored
    /// in the dataset's memory map as runs of at least `MIN_RUN_BYTES` in native order
    /// (frames of a file, whole chunks of an uncompressed HDF5 dataset:
    /// [`crate::Dataset::region_in_place`]), one run at a time, in place (no copy), in C order;
    /// else, when its values are decoded (no stored view): when the region starts on a
    /// chunk of the source, in pieces of whole chunks of about [`DECODED_PIECE_BYTES`]
    /// (one piece when the region holds no more; none over [`WHOLE_DECODED_BYTES`]), in
    /// the C order of their grid (not the region's: a region two chunks wide is handed
    /// over chunk by chunk), each chunk decoded straight into the buffer, or, when that
    /// cannot be and the region holds at most [`WHOLE_DECODED_BYTES`], read into the
    /// buffer whole; else read into the buffer in pieces of at most [`PIECE_BYTES`], in C
    /// order, each still in the cache when `step` reads it.
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
            let decoded = dataset.stored_view().is_none();
            let whole_chunks = decoded
                .then(|| decoded_pieces(region, &chunk, es, DECODED_PIECE_BYTES))
                .flatten()
                .filter(|p| p.iter().product::<u64>() * es <= WHOLE_DECODED_BYTES as u64);
            match whole_chunks {
                Some(pieces) => pieces,
                None if decoded && whole <= WHOLE_DECODED_BYTES => region.shape.clone(),
                None => streaming_chunk(&region.shape, es, PIECE_BYTES),
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
}

/// The shape of the pieces a visit reads a region of decoded values in when the region
/// starts on a chunk of the source: whole chunks grouped to about `budget` bytes
/// ([`DECODED_PIECE_BYTES`]), so that every piece but those at the region's far edges is
/// made of whole chunks, each decoded once; `None` for a region starting inside a chunk.
fn decoded_pieces(region: &Region, chunk: &[u64], es: u64, budget: u64) -> Option<Vec<u64>> {
    let on_a_chunk = chunk.len() == region.shape.len()
        && region
            .start
            .iter()
            .zip(chunk)
            .all(|(&at, &c)| at.is_multiple_of(c.max(1)));
    on_a_chunk.then(|| whole_chunks(&region.shape, chunk, es, budget))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::dtype::DType;
    use crate::format::NoProgress;
    use crate::region_bytes::tests::Frames;
    use proptest::prelude::*;

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
        /// The pieces of a region of decoded values that starts on a chunk never split a
        /// chunk of the source between two of them (each is decoded once), and hold at
        /// most the budget unless one chunk alone is larger; a region starting inside a
        /// chunk has none.
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
            prop_assert_eq!(pieces.is_none(), inside);
            let Some(pieces) = pieces else {
                return Ok(());
            };
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

    /// A region of decoded values too large to read whole that starts on a chunk is still
    /// handed over in pieces of whole chunks, each decoded once, never whole.
    #[test]
    fn decoded_regions_too_large_to_read_whole_go_chunk_by_chunk() {
        use std::sync::atomic::Ordering::Relaxed;
        // 36 frames of 512 x 512 u16 (18 MiB), chunks of two half frames (512 KiB).
        let (ds, decodes) = CountingChunks::dataset(vec![36, 512, 512], vec![2, 256, 512]);
        let region = Region {
            start: vec![0; 3],
            shape: vec![36, 512, 512],
        };
        assert!(region.len() * 2 > WHOLE_DECODED_BYTES as u64);
        let (mut buf, mut pieces) = (Vec::new(), Vec::new());
        let mut bytes = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut buf);
        bytes
            .visit(&mut |piece, b| {
                if pieces.is_empty() {
                    assert_eq!(b, ds.read_region_bytes(&piece.start, &piece.shape).unwrap());
                }
                assert_eq!(b.len() as u64, piece.len() * 2);
                pieces.push(piece.clone());
                Ok(())
            })
            .unwrap();
        assert_eq!(pieces.len(), 18, "two chunks a piece");
        assert!(pieces
            .iter()
            .all(|p| p.start[0] % 2 == 0 && p.shape == [2, 512, 512]));
        assert_eq!(
            decodes.load(Relaxed),
            36 + 2,
            "each chunk decoded once (and the check's)"
        );
        assert_eq!(bytes.buffered() as u64, DECODED_PIECE_BYTES);
    }
}
