//! Writing a dataset's values in C order into one file at their byte positions, the regions
//! in any order: how writers of plain C-order arrays (`.npy`, `.mrc`, Ripple's `.raw`) put
//! their values in the file.
//!
//! Positioned writes free the region grid from the file's order. Where the C-order
//! stream's regions would cut the source's chunks (h5py's chunks of an NCEM dataset stored
//! transposed span every scan position but 15 × 15 pixels of a frame, so every 16 MiB
//! stretch of frames needs a sliver of every chunk: bands of the stream (`bands.rs`)
//! still decode each chunk twice and hold up to 128 MiB each), the regions follow the
//! source's chunks instead ([`Dataset::read_chunk_shape`]): every chunk is read once, into
//! a region of at most [`crate::output::STREAM_REGION_BYTES`], whose values then go to the
//! file in runs of at least [`MIN_RUN_BYTES`], one system call each.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::bands::{reads_per_chunk, MIN_READS_PER_CHUNK};
use crate::dataset::{Dataset, Region};
use crate::dtype::{swap_bytes_in_place, ByteOrder};
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::plan::WritePlan;
use crate::strides::{for_each_run, last_cut};

/// Shortest run of the file that regions following the source's chunks may write with one
/// system call (a page): regions whose runs are shorter (a spectrum image stored
/// energy-major, whose chunks are single energy planes) follow the C-order stream instead.
pub const MIN_RUN_BYTES: u64 = 4 << 10;

/// A file holding an array's values in C order from byte `at` on, into which regions of
/// the array are written at their places, in any order ([`COrderFile::place`]), or a
/// whole dataset region by region ([`COrderFile::write`]).
#[derive(Debug, Clone, Copy)]
pub struct COrderFile<'a> {
    file: &'a File,
    path: &'a Path,
    at: u64,
    shape: &'a [u64],
}

impl<'a> COrderFile<'a> {
    /// The values of an array of `shape` in `file` (named `path` in errors) from byte `at`
    /// on.
    pub fn new(file: &'a File, path: &'a Path, at: u64, shape: &'a [u64]) -> Self {
        COrderFile {
            file,
            path,
            at,
            shape,
        }
    }

    /// Write `bytes`, the values of `region` in C order as the file holds them (every
    /// value the same number of bytes, whatever the dataset's type), at their places:
    /// one positioned write per run of the region that lies in one piece in the file.
    pub fn place(&self, region: &Region, bytes: &[u8]) -> Result<()> {
        let count = region.len();
        if count == 0 {
            return Ok(());
        }
        let es = bytes.len() as u64 / count;
        if es * count != bytes.len() as u64 {
            return Err(Error::Layout(format!(
                "{} bytes for the {count} values of a region",
                bytes.len()
            )));
        }
        for_each_run(self.shape, es, region, |offset, from, len| {
            let run = &bytes[from..from + len];
            write_all_at(self.file, run, self.at + offset).map_err(|e| Error::io(self.path, e))
        })
    }

    /// Write all of `dataset` (of this file's shape) in byte `order`: regions read in
    /// parallel on the engine's workers ([`WritePlan::positioned`]), each placed as it
    /// arrives. Progress, cancellation and the memory bound are the engine's; the file
    /// ends up `at + dataset.nbytes()` bytes long at least.
    pub fn write(
        &self,
        dataset: &Dataset,
        order: ByteOrder,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.write_through(WritePlan::positioned(dataset), dataset, order, progress)
    }

    /// [`COrderFile::write`] through `plan`.
    fn write_through(
        &self,
        plan: WritePlan,
        dataset: &Dataset,
        order: ByteOrder,
        progress: &dyn Progress,
    ) -> Result<()> {
        debug_assert_eq!(dataset.shape(), self.shape);
        let unit = dataset.dtype().swap_unit();
        let swap = !order.is_native() && unit > 1;
        // One thread writes (the calling one, as the workers read on): two writing at
        // once spent a fifth of a conversion to /dev/shm waiting for the file's lock.
        plan.write_in_order(
            dataset,
            progress,
            |_, buffer| {
                if swap {
                    swap_bytes_in_place(buffer, unit);
                }
                Ok(())
            },
            |region, bytes| self.place(region, bytes),
        )
        .map(|_| ())
    }
}

/// The region shape of [`WritePlan::positioned`], regions of about
/// `region_bytes`: the C-order stream's ([`Dataset::streaming_chunk_shape`]), unless its
/// regions would read each of the source's own chunks [`MIN_READS_PER_CHUNK`] times or more
/// (a source without a memory-mapped view, which decodes or gathers whole chunks: its
/// cache then holds too few of them) and whole chunks grown to at most `region_bytes`
/// ([`Dataset::read_chunk_shape`]) lie in the file in runs of [`MIN_RUN_BYTES`] or more.
pub(crate) fn region_grid(dataset: &Dataset, region_bytes: u64) -> Vec<u64> {
    let shape = dataset.shape();
    let es = dataset.dtype().size() as u64;
    let stream = dataset.streaming_chunk_shape(region_bytes);
    let cut = reads_per_chunk(dataset, &stream).is_some_and(|r| r >= MIN_READS_PER_CHUNK);
    if !cut {
        return stream;
    }
    let follow = dataset.read_chunk_shape(region_bytes);
    let bytes = follow.iter().product::<u64>().saturating_mul(es);
    let run = follow[last_cut(shape, &follow)..].iter().product::<u64>() * es;
    if bytes <= region_bytes && run >= MIN_RUN_BYTES {
        follow
    } else {
        stream
    }
}

/// Write all of `bytes` at `offset` of `file` without moving a shared cursor (on Windows,
/// which has no such write, the file's cursor moves).
pub fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < bytes.len() {
            let n = std::os::windows::fs::FileExt::seek_write(
                file,
                &bytes[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            done += n;
        }
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::axis::Axis;
    use crate::dtype::DType;
    use crate::format::NoProgress;
    use crate::source::{ChunkDecoder, ChunkedSource, StridedSource};
    use crate::strides::for_each_index;

    /// The C-order index of every element as a `u16` (wrapping), native-endian.
    fn ramp(shape: &[u64]) -> Vec<u8> {
        let n = shape.iter().product::<u64>();
        (0..n).flat_map(|i| (i as u16).to_ne_bytes()).collect()
    }

    /// Chunks of [`ramp`] values, decoded on demand (no memory-mapped view).
    struct RampChunks {
        shape: Vec<u64>,
        chunk: Vec<u64>,
    }

    impl ChunkDecoder for RampChunks {
        fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
            let n = self.shape.len();
            let start: Vec<u64> = (0..n).map(|d| index[d] * self.chunk[d]).collect();
            let extent: Vec<u64> = (0..n)
                .map(|d| self.chunk[d].min(self.shape[d] - start[d]))
                .collect();
            let region = Region {
                start,
                shape: extent,
            };
            // The chunk's values, run by run, from the array's ramp.
            let all = ramp(&self.shape);
            let mut at = 0;
            for_each_run(&self.shape, 2, &region, |offset, _, len| {
                let offset = offset as usize;
                out[at..at + len].copy_from_slice(&all[offset..offset + len]);
                at += len;
                Ok(())
            })
        }
    }

    fn dataset(source: Arc<dyn crate::source::ArraySource>) -> Dataset {
        let axes = source
            .shape()
            .iter()
            .map(|_| Axis::default_for(false))
            .collect();
        Dataset::new(source, axes, Default::default(), Default::default()).unwrap()
    }

    fn chunked(shape: &[u64], chunk: &[u64]) -> Dataset {
        let decoder = RampChunks {
            shape: shape.to_vec(),
            chunk: chunk.to_vec(),
        };
        let source = ChunkedSource::new(
            DType::U16,
            shape.to_vec(),
            chunk.to_vec(),
            Box::new(decoder),
        );
        dataset(Arc::new(source.unwrap()))
    }

    /// What [`COrderFile::write_through`] leaves in a file, in regions of `grid`, after `at`
    /// placeholder bytes.
    fn written(ds: &Dataset, grid: &[u64], at: u64, order: ByteOrder) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!("emio-positioned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{grid:?}-{at}-{order:?}.bin"));
        let file = File::create(&path).unwrap();
        write_all_at(&file, &vec![7; at as usize], 0).unwrap();
        COrderFile::new(&file, &path, at, ds.shape())
            .write_through(WritePlan::new(grid), ds, order, &NoProgress)
            .unwrap();
        drop(file);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            bytes[..at as usize].iter().all(|&b| b == 7),
            "the bytes before `at` stay"
        );
        bytes[at as usize..].to_vec()
    }

    /// Chunks spanning the whole scan (h5py's of a transposed NCEM dataset) cut every
    /// region of the C-order stream: the regions are whole chunks instead, and the file
    /// holds the array in C order.
    #[test]
    fn regions_follow_chunks_the_stream_would_cut() {
        let (shape, chunk) = ([16, 4, 64, 256], [16, 4, 8, 256]);
        let ds = chunked(&shape, &chunk);
        assert_eq!(ds.streaming_chunk_shape(256 << 10), [2, 4, 64, 256]);
        let grid = region_grid(&ds, 256 << 10);
        assert_eq!(grid, chunk);
        assert_eq!(written(&ds, &grid, 80, ByteOrder::NATIVE), ramp(&shape));
        // Written in the other byte order, every value's bytes reversed.
        let mut swapped = ramp(&shape);
        swap_bytes_in_place(&mut swapped, 2);
        let other = match ByteOrder::NATIVE {
            ByteOrder::Little => ByteOrder::Big,
            ByteOrder::Big => ByteOrder::Little,
        };
        assert_eq!(written(&ds, &grid, 3, other), swapped);
    }

    /// The stream's regions stay where they are made of whole chunks, where they read each
    /// chunk only a few times (the source's cache holds them meanwhile), where the source
    /// is memory-mapped (any region is a copy), where whole chunks would be larger than a
    /// region, or where their runs in the file would be short.
    #[test]
    fn regions_follow_the_stream_otherwise() {
        let shape = [16, 4, 64, 256];
        let stream = [2, 4, 64, 256];
        let region_bytes = 256 << 10;
        for (chunk, why) in [
            ([1, 1, 64, 256], "whole frames"),
            ([3, 4, 16, 256], "each chunk read twice"),
            ([16, 4, 64, 256], "chunks larger than a region"),
            ([16, 4, 64, 8], "runs of 64 bytes"),
        ] {
            let grid = region_grid(&chunked(&shape, &chunk), region_bytes);
            assert_eq!(grid, stream, "{why}");
        }
        let mapped = StridedSource::from_bytes(ramp(&shape), DType::U16, shape.to_vec());
        let mapped = dataset(Arc::new(mapped.unwrap()));
        assert_eq!(region_grid(&mapped, region_bytes), stream);
        assert_eq!(
            written(&mapped, &stream, 0, ByteOrder::NATIVE),
            ramp(&shape)
        );
    }

    proptest! {
        /// The runs of any region of any array, placed at their offsets, give the region's
        /// values and nothing else.
        #[test]
        fn runs_place_a_region_in_the_array(
            shape in prop::collection::vec(1u64..6, 1..5),
            picks in prop::collection::vec((0u64..6, 0u64..6), 4),
        ) {
            let region = Region {
                start: shape.iter().zip(&picks).map(|(&n, &(s, _))| s % n).collect(),
                shape: shape
                    .iter()
                    .zip(&picks)
                    .map(|(&n, &(s, e))| 1 + e % (n - s % n))
                    .collect(),
            };
            let all = ramp(&shape);
            let ds = Dataset::from_bytes(all.clone(), DType::U16, shape.clone()).unwrap();
            let values = ds.read_region_bytes(&region.start, &region.shape).unwrap();
            let mut runs = Vec::new();
            let Ok(()) = for_each_run::<Infallible>(&shape, 2, &region, |offset, from, len| {
                runs.push((offset as usize, from, len));
                Ok(())
            });
            let mut placed = vec![0u8; all.len()];
            let mut next = 0;
            for (offset, from, len) in runs {
                prop_assert_eq!(from, next, "runs follow each other in the region");
                next += len;
                placed[offset..offset + len].copy_from_slice(&values[from..from + len]);
            }
            prop_assert_eq!(next, values.len());
            let mut want = vec![0u8; all.len()];
            for_each_index(&region.shape, |index| {
                let i = (0..shape.len())
                    .fold(0, |i, d| i * shape[d] + region.start[d] + index[d]) as usize;
                want[2 * i..2 * i + 2].copy_from_slice(&all[2 * i..2 * i + 2]);
            });
            prop_assert_eq!(placed, want);
        }
    }
}
