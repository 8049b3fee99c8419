//! Copy kernels behind every region read: an N-D block of stored bytes, laid out with any
//! byte strides, copied into a C-order buffer.
//!
//! `gather` is the fast path every strided read takes. It merges dimensions that are
//! contiguous together, fixes the stored byte order while the bytes are still in cache,
//! splits large regions across threads (which also spreads the page faults of a freshly
//! allocated output), and copies transposed layouts (Fortran order, DigitalMicrograph
//! spectrum images stored energy-major) through small cache-resident tiles instead of one
//! element per memory page. [`copy_nd`] is the general N-D copy between two arbitrary
//! layouts (chunk → region) used where the destination is not C-order.

use rayon::prelude::*;

use crate::dtype::swap_bytes_in_place;
use crate::strides::{c_strides, walk};
pub use crate::strides::{for_each_index, for_each_run, Layout};

/// Copy an N-D block of `shape` elements of `elem_size` bytes from `src` laid out as
/// `from` to `dst` laid out as `to`.
///
/// Trailing dimensions that are contiguous in both are merged into one `memcpy` run. Callers
/// guarantee every addressed byte lies inside both buffers.
pub fn copy_nd(
    src: &[u8],
    from: Layout<'_>,
    dst: &mut [u8],
    to: Layout<'_>,
    shape: &[u64],
    elem_size: usize,
) {
    let stream = dst.len() >= STREAMING_BYTES;
    if shape.contains(&0)
        || crate::transpose::transpose(src, from, dst, to, shape, elem_size, stream)
    {
        return;
    }
    let (src_off, src_strides, dst_off, dst_strides) =
        (from.offset, from.strides, to.offset, to.strides);
    // Merge trailing dimensions into a contiguous run.
    let es = elem_size as i64;
    let mut run = es;
    let mut ndim = shape.len();
    while ndim > 0 {
        let d = ndim - 1;
        if src_strides[d] == run && dst_strides[d] == run {
            run = run.saturating_mul(shape[d] as i64);
            ndim -= 1;
        } else {
            break;
        }
    }
    let run = run as usize;
    let (shape, src_strides, dst_strides) =
        (&shape[..ndim], &src_strides[..ndim], &dst_strides[..ndim]);
    if ndim == 0 {
        let (s, d) = (src_off as usize, dst_off as usize);
        dst[d..d + run].copy_from_slice(&src[s..s + run]);
        return;
    }
    // Single elements (no axis contiguous in both) and short runs (rows of small chunks,
    // staged transposes, thin regions: 7 × 7 pixels of an h5py chunk) are copied by a
    // typed loop along the last axis, as one or two fixed-size moves, rather than one
    // `memcpy` call each.
    let rows = Rows {
        shape,
        src_strides,
        dst_strides,
        src_off,
        dst_off,
    };
    match run {
        1 => rows.copy::<1>(src, dst),
        2 => rows.copy::<2>(src, dst),
        4 => rows.copy::<4>(src, dst),
        8 => rows.copy::<8>(src, dst),
        16 => rows.copy::<16>(src, dst),
        32 => rows.copy::<32>(src, dst),
        64 => rows.copy::<64>(src, dst),
        3 => rows.copy_overlapping::<2>(run, src, dst),
        5..=7 => rows.copy_overlapping::<4>(run, src, dst),
        9..=15 => rows.copy_overlapping::<8>(run, src, dst),
        17..=31 => rows.copy_overlapping::<16>(run, src, dst),
        33..=63 => rows.copy_overlapping::<32>(run, src, dst),
        _ => walk(shape, src_strides, dst_strides, src_off, |s, d| {
            let (s, d) = (s as usize, (d + dst_off) as usize);
            dst[d..d + run].copy_from_slice(&src[s..s + run]);
        }),
    }
}

/// The short-run part of [`copy_nd`]: rows along the last axis of `shape` of runs of a
/// fixed size (an element, or a few contiguous ones), both sides at any strides.
struct Rows<'a> {
    shape: &'a [u64],
    src_strides: &'a [i64],
    dst_strides: &'a [i64],
    src_off: i64,
    dst_off: i64,
}

impl Rows<'_> {
    /// Call `visit(source offset, destination offset)` for every run.
    fn each(&self, mut visit: impl FnMut(usize, usize)) {
        let last = self.shape.len() - 1;
        let n = self.shape[last] as usize;
        let (ss, ds) = (self.src_strides[last], self.dst_strides[last]);
        walk(
            &self.shape[..last],
            &self.src_strides[..last],
            &self.dst_strides[..last],
            self.src_off,
            |s, d| {
                let (mut s, mut d) = (s, d + self.dst_off);
                for _ in 0..n {
                    visit(s as usize, d as usize);
                    s += ss;
                    d += ds;
                }
            },
        );
    }

    /// Copy every run, `E` bytes each.
    fn copy<const E: usize>(&self, src: &[u8], dst: &mut [u8]) {
        self.each(|a, b| {
            let value: [u8; E] = src[a..a + E].try_into().expect("one element");
            dst[b..b + E].copy_from_slice(&value);
        });
    }

    /// Copy every run of `run` bytes, `E < run < 2E`, as two `E`-byte moves that overlap
    /// inside it (its first and its last `E` bytes): no byte outside the run is written.
    fn copy_overlapping<const E: usize>(&self, run: usize, src: &[u8], dst: &mut [u8]) {
        debug_assert!(E < run && run < 2 * E);
        let tail = run - E;
        self.each(|a, b| {
            let head: [u8; E] = src[a..a + E].try_into().expect("a run's head");
            let end: [u8; E] = src[a + tail..a + run].try_into().expect("a run's end");
            dst[b..b + E].copy_from_slice(&head);
            dst[b + tail..b + run].copy_from_slice(&end);
        });
    }
}

/// Whether a read may spread its copying over every core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// The caller waits for this one region: large copies are split across all threads.
    #[default]
    All,
    /// The caller is one of several threads each reading its own region (the engine's
    /// workers): the cores are already busy, so the copy stays on the calling thread.
    One,
}

/// Output regions at least this large are copied on all threads.
const PARALLEL_BYTES: usize = 4 << 20;
/// Runs that need a byte swap are copied in pieces this large, and swapped once this much
/// output has been copied (several short runs at a time), so the swap reads bytes the copy
/// just left in L1/L2 rather than making a second pass through memory. Runs that need no
/// swap are copied whole; into large destinations, shorter runs than this go through
/// non-temporal stores.
const RUN_PIECE: usize = 64 << 10;
/// Rows stored in reverse order are copied in groups of about this many bytes: one forward
/// copy, then the rows reordered in L2.
const REVERSED_GROUP: usize = 128 << 10;
/// Pieces a parallel copy is cut into per thread, for load balance.
const PIECES_PER_THREAD: u64 = 4;
/// Destinations at least this large (four times a large L2 cache: the first of their bytes
/// are out of the caches before the last are written, so nothing copied will be read back
/// from them soon) take their short runs and transposes through non-temporal stores
/// ([`crate::stream_copy`], [`crate::transpose`]). This covers the write pipeline's 16 MiB
/// regions: with plain stores, each line read before it was written, converting a DM4
/// spectrum image to `.npy` took 2.5-3 times the user CPU time (docs/performance.md,
/// session 43).
const STREAMING_BYTES: usize = 8 << 20;

/// Copy the N-D block of `shape` elements of `elem_size` bytes laid out in `src` as `from`
/// into `dst` in C order, reversing the bytes of every `swap_unit`-byte group when
/// `swap_unit > 1` (stored byte order differs from the native one). Large blocks are split
/// across threads when `threads` allows it. The fast path of every strided read
/// ([`crate::StridedView::read_region`]).
///
/// `dst.len()` must be the block's size; callers guarantee every addressed source byte lies
/// inside `src`.
pub(crate) fn gather(
    src: &[u8],
    from: Layout<'_>,
    dst: &mut [u8],
    shape: &[u64],
    elem_size: usize,
    swap_unit: usize,
    threads: Threads,
) {
    let block = Block {
        src,
        elem_size,
        swap_unit,
        // Short runs are stored non-temporally into large destinations that need no byte
        // swap (which must happen while the bytes are cached).
        streaming: dst.len() >= STREAMING_BYTES && swap_unit <= 1,
    };
    block.gather(from, dst, shape, threads);
}

/// Drop unit dimensions and merge neighbours that are contiguous with each other in the
/// source (the destination is C-order, where every neighbour pair merges).
pub(crate) fn simplify(shape: &[u64], strides: &[i64], elem_size: usize) -> (Vec<u64>, Vec<i64>) {
    let mut out_shape: Vec<u64> = Vec::with_capacity(shape.len());
    let mut out_strides: Vec<i64> = Vec::with_capacity(shape.len());
    for (&n, &s) in shape.iter().zip(strides) {
        if n == 1 {
            continue;
        }
        match (out_shape.last_mut(), out_strides.last_mut()) {
            (Some(prev_n), Some(prev_s)) if *prev_s == s * n as i64 => {
                *prev_n *= n;
                *prev_s = s;
            }
            _ => {
                out_shape.push(n);
                out_strides.push(s);
            }
        }
    }
    if out_shape.is_empty() {
        return (vec![1], vec![elem_size as i64]);
    }
    (out_shape, out_strides)
}

/// The source side of one [`gather`]: the stored bytes and how to read their elements.
struct Block<'a> {
    src: &'a [u8],
    elem_size: usize,
    swap_unit: usize,
    /// Runs shorter than [`RUN_PIECE`] go through non-temporal stores (except rows stored
    /// in reverse order: the source walked backwards row by row, 2 KiB rows of a TIA
    /// series, ran 10% slower than a forward copy reordered in L2).
    streaming: bool,
}

impl Block<'_> {
    /// [`gather`] of this block's source.
    fn gather(&self, from: Layout<'_>, dst: &mut [u8], shape: &[u64], threads: Threads) {
        if shape.contains(&0) || dst.is_empty() {
            return;
        }
        let elem_size = self.elem_size;
        let (shape, strides) = simplify(shape, from.strides, elem_size);
        if dst.len() < PARALLEL_BYTES || rayon::current_num_threads() < 2 || threads == Threads::One
        {
            self.copy(from.offset, &shape, &strides, dst);
            return;
        }
        let pieces_wanted = rayon::current_num_threads() as u64 * PIECES_PER_THREAD;
        // Split the leading dimensions into single indices until there are enough pieces,
        // and the next one into ranges: every piece is then one contiguous stretch of
        // `dst`, and keeps whole the inner dimensions a transposed copy tiles over.
        let mut lead = 1u64;
        let mut j = 0;
        while j + 1 < shape.len() && lead * shape[j] < pieces_wanted {
            lead *= shape[j];
            j += 1;
        }
        let range = shape[j].div_ceil(pieces_wanted.div_ceil(lead).clamp(1, shape[j]));
        let inner_bytes = shape[j + 1..].iter().product::<u64>() * elem_size as u64;
        let mut pieces: Vec<(i64, u64, &mut [u8])> = Vec::new();
        let mut rest = dst;
        walk(
            &shape[..j],
            &strides[..j],
            &vec![0; j],
            from.offset,
            |lead_offset, _| {
                let mut first = 0;
                while first < shape[j] {
                    let n = range.min(shape[j] - first);
                    let (piece, tail) =
                        std::mem::take(&mut rest).split_at_mut((n * inner_bytes) as usize);
                    rest = tail;
                    pieces.push((lead_offset + first as i64 * strides[j], n, piece));
                    first += n;
                }
            },
        );
        pieces.into_par_iter().for_each(|(offset, n, piece)| {
            let mut piece_shape = shape[j..].to_vec();
            piece_shape[0] = n;
            self.copy(offset, &piece_shape, &strides[j..], piece);
        });
    }

    /// Copy the simplified block (`shape`, `strides`, starting at byte `offset` of the
    /// source) into the C-order `dst` on this thread.
    fn copy(&self, offset: i64, shape: &[u64], strides: &[i64], dst: &mut [u8]) {
        let es = self.elem_size as i64;
        let last = shape.len() - 1;
        if strides[last] == es {
            if last > 0 && strides[last - 1] == -(shape[last] as i64 * es) {
                self.copy_reversed_rows(offset, shape, strides, dst);
            } else {
                self.copy_runs(offset, shape, strides, dst);
            }
        } else if (0..last).any(|k| strides[k] == es) {
            self.copy_transposed(offset, shape, strides, dst);
        } else {
            self.copy_elements(offset, shape, strides, dst);
        }
    }

    fn fix_order(&self, bytes: &mut [u8]) {
        if self.swap_unit > 1 {
            swap_bytes_in_place(bytes, self.swap_unit);
        }
    }

    /// The last dimension is contiguous: one run per index of the others.
    fn copy_runs(&self, offset: i64, shape: &[u64], strides: &[i64], dst: &mut [u8]) {
        let last = shape.len() - 1;
        let run = shape[last] as usize * self.elem_size;
        // Runs that need no swap go to `memcpy` whole: copies of 64 KiB whose destination
        // lies a few bytes past the source modulo 4 KiB (a TIFF's first strip at offset 8
        // into a fresh buffer) ran 4x slower (4K aliasing), long ones take another path.
        let piece = if self.swap_unit > 1 {
            RUN_PIECE.next_multiple_of(self.elem_size).min(run)
        } else {
            run
        };
        let rows = c_strides(&shape[..last], run);
        if self.streaming && run < RUN_PIECE {
            walk(&shape[..last], &strides[..last], &rows, offset, |s, d| {
                let (s, d) = (s as usize, d as usize);
                crate::stream_copy::copy(&mut dst[d..d + run], &self.src[s..s + run]);
            });
            crate::stream_copy::fence();
            return;
        }
        // Bytes of `dst` before this are in native order: the swap follows the copy a
        // piece behind, so it finds the bytes cached, and short runs (rows of a frame
        // stored upside down) are swapped many at a time rather than one call each.
        let mut swapped = 0;
        walk(&shape[..last], &strides[..last], &rows, offset, |s, d| {
            let (s, d) = (s as usize, d as usize);
            let mut at = 0;
            while at < run {
                let n = piece.min(run - at);
                dst[d + at..d + at + n].copy_from_slice(&self.src[s + at..s + at + n]);
                at += n;
                if d + at - swapped >= RUN_PIECE {
                    self.fix_order(&mut dst[swapped..d + at]);
                    swapped = d + at;
                }
            }
        });
        self.fix_order(&mut dst[swapped..]);
    }

    /// Rows stored one after another in reverse order (frames stored upside down, as
    /// Medipix MIB files hold them: the second-to-last stride is minus a row): a group of
    /// rows is one contiguous stretch of the source, copied by one forward `memcpy`
    /// (which the prefetchers follow, where row-by-row copies walk the file backwards),
    /// then put back in order, bytes swapped, while it is still cached.
    fn copy_reversed_rows(&self, offset: i64, shape: &[u64], strides: &[i64], dst: &mut [u8]) {
        let last = shape.len() - 1;
        let run = shape[last] as usize * self.elem_size;
        let rows = shape[last - 1] as usize;
        let group = (REVERSED_GROUP / run).clamp(1, rows);
        let frames = c_strides(&shape[..last - 1], rows * run);
        walk(
            &shape[..last - 1],
            &strides[..last - 1],
            &frames,
            offset,
            |s, d| {
                let (s, d) = (s as usize, d as usize);
                let mut first = 0;
                while first < rows {
                    let n = group.min(rows - first);
                    // Row `first + n - 1` of this group lies lowest in the source.
                    let low = s - (first + n - 1) * run;
                    let out = &mut dst[d + first * run..d + (first + n) * run];
                    out.copy_from_slice(&self.src[low..low + n * run]);
                    self.reverse_rows(out, run);
                    first += n;
                }
            },
        );
    }

    /// Reverse the order of the `run`-byte rows of `rows` and fix their byte order, in one
    /// pass: each pair of rows exchanged with their bytes swapped on the way.
    fn reverse_rows(&self, rows: &mut [u8], run: usize) {
        let n = rows.len() / run;
        let (front, back) = rows.split_at_mut(n / 2 * run);
        let (middle, back) = back.split_at_mut(n % 2 * run);
        for (a, b) in front
            .chunks_exact_mut(run)
            .zip(back.chunks_exact_mut(run).rev())
        {
            crate::swap::exchange_swapped(a, b, self.swap_unit);
        }
        self.fix_order(middle);
    }

    /// Dimension `k` is contiguous in the source but the last one is not (a transposed
    /// layout): tiled transposes ([`crate::transpose`]), the byte order fixed afterwards.
    fn copy_transposed(&self, offset: i64, shape: &[u64], strides: &[i64], dst: &mut [u8]) {
        let dst_strides = c_strides(shape, self.elem_size);
        let from = Layout { offset, strides };
        let to = Layout {
            offset: 0,
            strides: &dst_strides,
        };
        let stream = self.streaming;
        if crate::transpose::transpose(self.src, from, dst, to, shape, self.elem_size, stream) {
            self.fix_order(dst);
        } else {
            self.copy_elements(offset, shape, strides, dst);
        }
    }

    /// No dimension is contiguous in the source (sub-sampled or interleaved data): copy
    /// element by element along the last dimension.
    fn copy_elements(&self, offset: i64, shape: &[u64], strides: &[i64], dst: &mut [u8]) {
        let last = shape.len() - 1;
        let es = self.elem_size;
        let row = shape[last] as usize * es;
        let step = strides[last];
        let rows = c_strides(&shape[..last], row);
        walk(&shape[..last], &strides[..last], &rows, offset, |s, d| {
            let out = &mut dst[d as usize..d as usize + row];
            for (j, cell) in out.chunks_exact_mut(es).enumerate() {
                let from = (s + j as i64 * step) as usize;
                cell.copy_from_slice(&self.src[from..from + es]);
            }
            self.fix_order(out);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A block large enough to be split across threads is copied the same on one.
    #[test]
    fn one_thread_copies_like_all() {
        let (rows, cols) = (1024u64, 2048u64);
        let src: Vec<u8> = (0..rows * cols * 2).map(|i| (i * 7 % 251) as u8).collect();
        // Transposed, so the copy is not one run.
        let strides = [2i64, cols as i64 * 2];
        let from = Layout {
            offset: 0,
            strides: &strides,
        };
        let shape = [cols, rows];
        let mut all = vec![0u8; src.len()];
        let mut one = vec![0u8; src.len()];
        assert!(all.len() >= PARALLEL_BYTES);
        gather(&src, from, &mut all, &shape, 2, 1, Threads::All);
        gather(&src, from, &mut one, &shape, 2, 1, Threads::One);
        assert_eq!(all, one);
        assert_eq!(all, naive(&src, from, &shape, 2, 1));
    }

    /// Element by element, the obvious way: the reference every fast path must match.
    fn naive(src: &[u8], from: Layout<'_>, shape: &[u64], es: usize, unit: usize) -> Vec<u8> {
        let n: u64 = shape.iter().product();
        let mut out = Vec::with_capacity(n as usize * es);
        let mut index = vec![0u64; shape.len()];
        for _ in 0..n {
            let at: i64 = from.offset
                + index
                    .iter()
                    .zip(from.strides)
                    .map(|(&i, &s)| i as i64 * s)
                    .sum::<i64>();
            let mut value = src[at as usize..at as usize + es].to_vec();
            if unit > 1 {
                value.chunks_mut(unit).for_each(|c| c.reverse());
            }
            out.extend_from_slice(&value);
            for k in (0..shape.len()).rev() {
                index[k] += 1;
                if index[k] < shape[k] {
                    break;
                }
                index[k] = 0;
            }
        }
        out
    }

    /// The bytes of a C-order array of `stored` (a fixed pattern), and the shape, strides
    /// and offset that see it through `perm` (a transposed layout), with the dims in
    /// `flip` reversed and every `step`-th index of the first dim kept.
    fn viewed(
        stored: &[u64],
        perm: &[usize],
        flip: &[bool],
        step: u64,
        es: usize,
    ) -> (Vec<u8>, Vec<u64>, Vec<i64>, i64) {
        let total: u64 = stored.iter().product::<u64>() * es as u64;
        let src: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
        let c = c_strides(stored, es);
        let mut shape: Vec<u64> = perm.iter().map(|&p| stored[p]).collect();
        let mut strides: Vec<i64> = perm.iter().map(|&p| c[p]).collect();
        let mut offset = 0i64;
        for (d, &f) in flip.iter().enumerate() {
            if f {
                offset += (shape[d] as i64 - 1) * strides[d];
                strides[d] = -strides[d];
            }
        }
        shape[0] = shape[0].div_ceil(step);
        strides[0] *= step as i64;
        (src, shape, strides, offset)
    }

    /// [`gather`] of a [`viewed`] array against the element-by-element copy.
    fn check(stored: &[u64], perm: &[usize], flip: &[bool], step: u64, es: usize, unit: usize) {
        let (src, shape, strides, offset) = viewed(stored, perm, flip, step, es);
        let from = Layout {
            offset,
            strides: &strides,
        };
        let expected = naive(&src, from, &shape, es, unit);
        // With and without non-temporal stores.
        for streaming in [false, true] {
            let mut out = vec![0u8; expected.len()];
            let block = Block {
                src: &src,
                elem_size: es,
                swap_unit: unit,
                streaming: streaming && unit <= 1,
            };
            block.gather(from, &mut out, &shape, Threads::All);
            assert!(
                out == expected,
                "{stored:?} {perm:?} {flip:?} {step} {es} {unit} {streaming}"
            );
        }
    }

    fn case() -> impl Strategy<Value = (Vec<u64>, Vec<usize>, Vec<bool>, u64, usize, usize)> {
        (
            1usize..=4,
            prop::sample::select(vec![1usize, 2, 3, 4, 8, 16]),
            any::<bool>(),
        )
            .prop_flat_map(|(rank, es, swap)| {
                (
                    prop::collection::vec(1u64..12, rank),
                    Just((0..rank).collect::<Vec<_>>()).prop_shuffle(),
                    prop::collection::vec(any::<bool>(), rank),
                    1u64..3,
                    Just(es),
                    Just(if swap && es > 1 && es != 3 {
                        es.min(8)
                    } else {
                        1
                    }),
                )
            })
    }

    proptest! {
        /// `copy_nd` into a C-order destination (runs merged, tiled transposes, typed
        /// element loops) gives the same bytes as the element-by-element copy.
        #[test]
        fn copy_nd_matches_the_element_by_element_copy(
            (stored, perm, flip, step, es, _unit) in case()
        ) {
            let (src, shape, strides, offset) = viewed(&stored, &perm, &flip, step, es);
            let from = Layout { offset, strides: &strides };
            let expected = naive(&src, from, &shape, es, 1);
            let mut out = vec![0u8; expected.len()];
            let to_strides = c_strides(&shape, es);
            let to = Layout { offset: 0, strides: &to_strides };
            copy_nd(&src, from, &mut out, to, &shape, es);
            prop_assert!(out == expected, "{:?} {:?} {:?} {} {}", stored, perm, flip, step, es);
        }

        /// `copy_nd` from a C-order source into a destination stored in another axis
        /// order (a writer laying a region out as an HDF5 dataset stored transposed) gives
        /// the same bytes as the element-by-element copy.
        #[test]
        fn copy_nd_into_a_permuted_destination_matches_the_element_by_element_copy(
            (stored, perm, _flip, _step, es, _unit) in case()
        ) {
            let shape: Vec<u64> = perm.iter().map(|&p| stored[p]).collect();
            let n = shape.iter().product::<u64>() as usize * es;
            let src: Vec<u8> = (0..n).map(|i| (i * 7 + i / 251) as u8).collect();
            let stored_strides = c_strides(&stored, es);
            let to_strides: Vec<i64> = perm.iter().map(|&p| stored_strides[p]).collect();
            let from_strides = c_strides(&shape, es);
            let offset = |index: &[u64], strides: &[i64]| -> usize {
                index.iter().zip(strides).map(|(&i, &s)| i as i64 * s).sum::<i64>() as usize
            };
            let mut want = vec![0u8; n];
            crate::strides::for_each_index(&shape, |index| {
                let (s, d) = (offset(index, &from_strides), offset(index, &to_strides));
                want[d..d + es].copy_from_slice(&src[s..s + es]);
            });
            let mut got = vec![0u8; n];
            let from = Layout { offset: 0, strides: &from_strides };
            let to = Layout { offset: 0, strides: &to_strides };
            copy_nd(&src, from, &mut got, to, &shape, es);
            prop_assert!(got == want, "{:?} {:?} {}", stored, perm, es);
        }

        /// `copy_nd` of a C-order block into a part of a larger C-order array (a decoded
        /// chunk into a region's buffer: runs of any length, 1 to 96 bytes) writes the
        /// block's bytes at their places and leaves every other byte as it was.
        #[test]
        fn copy_nd_into_part_of_an_array_writes_only_the_part(
            block in prop::collection::vec(1u64..7, 1..=3),
            margins in prop::collection::vec((0u64..3, 0u64..3), 3),
            es in prop::sample::select(vec![1usize, 2, 3, 4, 8, 16]),
        ) {
            let rank = block.len();
            let start: Vec<u64> = margins[..rank].iter().map(|m| m.0).collect();
            let outer: Vec<u64> =
                (0..rank).map(|d| start[d] + block[d] + margins[d].1).collect();
            let n = block.iter().product::<u64>() as usize * es;
            let src: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let outer_strides = c_strides(&outer, es);
            let at = |index: &[u64]| -> usize {
                (0..rank).map(|d| (start[d] + index[d]) * outer_strides[d] as u64).sum::<u64>()
                    as usize
            };
            let len = outer.iter().product::<u64>() as usize * es;
            let mut want = vec![0xEEu8; len];
            let mut from = 0;
            crate::strides::for_each_index(&block, |index| {
                want[at(index)..at(index) + es].copy_from_slice(&src[from..from + es]);
                from += es;
            });
            let mut got = vec![0xEEu8; len];
            let block_strides = c_strides(&block, es);
            let zeros = vec![0u64; rank];
            let to = Layout { offset: at(&zeros) as i64, strides: &outer_strides };
            copy_nd(&src, Layout { offset: 0, strides: &block_strides }, &mut got, to, &block, es);
            prop_assert!(got == want, "{:?} {:?} {:?} {}", block, start, outer, es);
        }

        #[test]
        fn gather_matches_the_element_by_element_copy(
            (stored, perm, flip, step, es, unit) in case()
        ) {
            check(&stored, &perm, &flip, step, es, unit);
        }
    }

    #[test]
    fn large_regions_split_across_threads_give_the_same_bytes() {
        // Above PARALLEL_BYTES: one contiguous run, frames with gaps, a transposed
        // spectrum-image layout, and big-endian data.
        check(&[5 << 20], &[0], &[false], 1, 1, 1);
        check(&[3, 700, 1000], &[0, 1, 2], &[false; 3], 1, 4, 4);
        check(&[64, 40, 600], &[1, 2, 0], &[false; 3], 1, 4, 1);
        check(&[32, 48, 800], &[2, 1, 0], &[true, false, false], 1, 2, 2);
        check(&[9, 400, 700], &[0, 1, 2], &[false; 3], 2, 2, 2);
    }

    #[test]
    fn rows_stored_in_reverse_are_copied_in_groups() {
        // Frames stored upside down, each several groups of rows (the last one partial),
        // an odd number of rows per group, with and without a byte swap.
        for (es, unit) in [(2, 2), (2, 1), (4, 4), (1, 1)] {
            check(
                &[3, 701, 1000],
                &[0, 1, 2],
                &[false, true, false],
                1,
                es,
                unit,
            );
        }
        check(
            &[2, 3, 131, 6000],
            &[0, 1, 2, 3],
            &[true, false, true, false],
            1,
            1,
            1,
        );
    }
}
