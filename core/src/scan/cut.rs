//! Where a memory-mapped dataset's values lie, cut into the pieces a scan hands its threads
//! (each piece a numbered unit of the scan).

use crate::region_bytes::MIN_RUN_BYTES;
use crate::source::StridedView;

/// A memory-mapped dataset's values cut into pieces for the threads ([`Cut`]), the groups
/// of `swap_unit` bytes reversed in a buffer when that is more than 1.
pub(super) struct Pieces<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) cut: Cut,
    pub(super) swap_unit: usize,
}

impl Pieces<'_> {
    /// Piece `i`: a slice of the map, or its bytes swapped into `scratch`.
    pub(super) fn get<'s>(&'s self, i: usize, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        let (start, len) = self.cut.piece(i);
        let bytes = &self.bytes[start..start + len];
        if self.swap_unit <= 1 {
            return bytes;
        }
        // Copied, then swapped while in the cache: a copy that swaps as it goes waits
        // longer on the mapped pages' memory than `memcpy` does.
        scratch.clear();
        scratch.extend_from_slice(bytes);
        crate::swap::in_place(scratch, self.swap_unit);
        scratch
    }
}

/// Where a dataset's values lie in a memory map, as contiguous runs of it, each cut into
/// pieces of at most `piece` bytes (whole elements).
pub(super) enum Cut {
    /// Equal runs of `run` bytes along dimensions: the first run's byte offset, then the
    /// shape and byte strides of the dimensions the runs are laid out along (a strided
    /// view's last dimensions merged as far as they are contiguous, the runs in C order
    /// of the others; a contiguous dataset is one run).
    Strided {
        offset: i64,
        outer: Vec<u64>,
        strides: Vec<i64>,
        run: usize,
        piece: usize,
    },
    /// Runs a source lists ([`crate::source::StoredRuns`]) as (offset, bytes), and the
    /// number of pieces before each run.
    Listed {
        runs: Vec<(usize, usize)>,
        first_piece: Vec<usize>,
        piece: usize,
    },
}

impl Cut {
    /// One run of `len` bytes from offset 0.
    pub(super) fn whole(len: usize, piece: usize) -> Self {
        Cut::Strided {
            offset: 0,
            outer: Vec::new(),
            strides: Vec::new(),
            run: len,
            piece,
        }
    }

    /// The runs of `view` for `shape` elements of `element` bytes, or None when no
    /// dimension is contiguous or its runs are short. Flipped dimensions are walked
    /// forwards (the scan's order is free), so frames stored with their rows upside down
    /// are one run each.
    pub(super) fn strided(
        view: &StridedView<'_>,
        shape: &[u64],
        element: usize,
        piece: usize,
    ) -> Option<Self> {
        let runs = view.runs(&vec![0; shape.len()], shape, element)?;
        if runs.run < MIN_RUN_BYTES {
            return None;
        }
        Some(Cut::Strided {
            offset: runs.first,
            outer: runs.outer,
            strides: runs.strides,
            run: runs.run,
            piece,
        })
    }

    /// Listed runs (offset, bytes).
    pub(super) fn listed(runs: Vec<(usize, usize)>, piece: usize) -> Self {
        let first_piece = runs
            .iter()
            .scan(0, |before, &(_, len)| {
                let first = *before;
                *before += len.div_ceil(piece);
                Some(first)
            })
            .collect();
        Cut::Listed {
            runs,
            first_piece,
            piece,
        }
    }

    /// Bytes of all pieces.
    pub(super) fn total(&self) -> usize {
        match self {
            Cut::Strided { outer, run, .. } => outer.iter().product::<u64>() as usize * run,
            Cut::Listed { runs, .. } => runs.iter().map(|&(_, len)| len).sum(),
        }
    }

    /// Number of pieces.
    pub(super) fn count(&self) -> usize {
        match self {
            Cut::Strided {
                outer, run, piece, ..
            } => outer.iter().product::<u64>() as usize * run.div_ceil(*piece),
            Cut::Listed {
                runs,
                first_piece,
                piece,
            } => match (runs.last(), first_piece.last()) {
                (Some(&(_, len)), Some(&first)) => first + len.div_ceil(*piece),
                _ => 0,
            },
        }
    }

    /// Byte offset and length of piece `i`.
    pub(super) fn piece(&self, i: usize) -> (usize, usize) {
        match self {
            Cut::Strided {
                offset,
                outer,
                strides,
                run,
                piece,
            } => {
                let per_run = run.div_ceil(*piece);
                let within = (i % per_run) * piece;
                let (mut r, mut at) = ((i / per_run) as u64, *offset);
                for (&n, &s) in outer.iter().zip(strides).rev() {
                    at += (r % n) as i64 * s;
                    r /= n;
                }
                (at as usize + within, (*piece).min(run - within))
            }
            Cut::Listed {
                runs,
                first_piece,
                piece,
            } => {
                let r = first_piece.partition_point(|&f| f <= i) - 1;
                let (start, len) = runs[r];
                let within = (i - first_piece[r]) * piece;
                (start + within, (*piece).min(len - within))
            }
        }
    }
}
