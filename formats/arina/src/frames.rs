//! The lazy source of an ARINA dataset: the frames of the data files, concatenated and
//! seen as `navigation_shape + (height, width) / rebin`, converted region by region.
//!
//! A region is read as runs of consecutive frames of one data file: each run is one read
//! of the data file's source (which decodes its chunks in parallel), straight into the
//! output when frames are kept as stored, else through a scratch buffer of the stored
//! rectangle that the region needs (never more than it, so a small region of a large
//! frame costs a small read).

use std::sync::Arc;

use emio_core::format::Progress;
use emio_core::source::Threads;
use emio_core::{ArraySource, DType, Result};

use crate::convert::Conversion;
use crate::read::Part;

/// Stored bytes converted per step at most (whole frames, at least one).
const SCRATCH_BYTES: usize = 16 << 20;

/// Frames of the concatenated data datasets, converted.
pub(crate) struct FrameSource {
    /// The data datasets.
    parts: Vec<Part>,
    /// Cumulative frame counts (`starts[k]` = first frame of part `k`).
    starts: Vec<u64>,
    /// The navigation shape.
    nav: [u64; 2],
    /// The conversion of each frame.
    conversion: Conversion,
    /// `nav + out_frame`.
    shape: Vec<u64>,
}

impl FrameSource {
    /// The source `nav + (height, width) / rebin` over `parts` (whose frames number
    /// `nav[0] * nav[1]`).
    pub fn new(parts: Vec<Part>, nav: [u64; 2], conversion: Conversion) -> Self {
        let mut starts = Vec::with_capacity(parts.len());
        let mut n = 0u64;
        for p in &parts {
            starts.push(n);
            n = n.saturating_add(p.frames);
        }
        let (oh, ow) = conversion.out_frame();
        let shape = vec![nav[0], nav[1], oh as u64, ow as u64];
        FrameSource {
            parts,
            starts,
            nav,
            conversion,
            shape,
        }
    }

    /// Read `count` frames of `part` from its frame `local` (output rows `rows` and columns
    /// `cols` of each, as `(first, count)`) into `out`.
    #[allow(clippy::too_many_arguments)]
    fn read_run(
        &self,
        part: &Part,
        local: u64,
        count: u64,
        rows: (usize, usize),
        cols: (usize, usize),
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        let c = &self.conversion;
        let r = c.rebin;
        let at = |frame: u64, buf: &mut [u8], n: u64| {
            part.source
                .read_region_with(
                    &[frame, (rows.0 * r) as u64, (cols.0 * r) as u64],
                    &[n, (rows.1 * r) as u64, (cols.1 * r) as u64],
                    buf,
                    progress,
                    threads,
                )
                .map_err(|e| {
                    e.in_context(|expected| {
                        format!("{expected} (frames {frame}.. of {})", part.origin)
                    })
                })
        };
        if c.is_identity() {
            return at(local, out, count);
        }
        let stored_rect = (rows.1 * r, cols.1 * r);
        let stored_frame = stored_rect.0 * stored_rect.1 * c.stored.size();
        let out_frame = rows.1 * cols.1 * c.out.size();
        let per_step = (SCRATCH_BYTES / stored_frame.max(1)).max(1) as u64;
        let mut scratch = vec![0u8; stored_frame * per_step.min(count) as usize];
        let mut done = 0u64;
        while done < count {
            let n = per_step.min(count - done);
            let buf = &mut scratch[..stored_frame * n as usize];
            at(local + done, buf, n)?;
            let dst = &mut out[done as usize * out_frame..(done + n) as usize * out_frame];
            for (src, dst) in buf
                .chunks_exact(stored_frame)
                .zip(dst.chunks_exact_mut(out_frame))
            {
                c.rect(src, (rows.0 * r, cols.0 * r), stored_rect, dst)?;
            }
            done += n;
        }
        Ok(())
    }
}

impl ArraySource for FrameSource {
    fn dtype(&self) -> DType {
        self.conversion.out
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn chunk_shape(&self) -> Vec<u64> {
        vec![1, 1, self.shape[2], self.shape[3]]
    }

    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        let rows = (start[2] as usize, shape[2] as usize);
        let cols = (start[3] as usize, shape[3] as usize);
        let frame_bytes = rows.1 * cols.1 * self.conversion.out.size();
        let mut at = 0usize;
        for y in start[0]..start[0] + shape[0] {
            let (mut x, end) = (start[1], start[1] + shape[1]);
            while x < end {
                let frame = y * self.nav[1] + x;
                let k = self.starts.partition_point(|&s| s <= frame) - 1;
                let part = &self.parts[k];
                let local = frame - self.starts[k];
                let count = (end - x).min(part.frames - local);
                let bytes = count as usize * frame_bytes;
                let dst = &mut out[at..at + bytes];
                self.read_run(part, local, count, rows, cols, dst, progress, threads)?;
                at += bytes;
                x += count;
            }
        }
        Ok(())
    }
}

/// The source as the dataset holds it.
pub(crate) fn source(
    parts: Vec<Part>,
    nav: [u64; 2],
    conversion: Conversion,
) -> Arc<dyn ArraySource> {
    Arc::new(FrameSource::new(parts, nav, conversion))
}
