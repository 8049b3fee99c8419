//! Undoing a bit-plane transpose ("bitshuffle": HDF5 filter 32008 as DECTRIS detectors
//! write it, Blosc's bitshuffle) and a byte-plane one (HDF5's shuffle filter, which h5py
//! and rsciio apply by default) at memory speed, and making them ([`shuffle`],
//! [`shuffle_bytes`]: the same steps in reverse) for the writers' Blosc frames.
//!
//! Byte planes ([`unshuffle_bytes`]): `n` elements of `es` bytes are stored as `es` planes
//! of `n` bytes, plane `b` holding byte `b` of every element. On x86_64, 16 bytes of each
//! plane are zipped together with the same unpack rounds as the last step below (a byte
//! per store was 2.4-7 GB/s in cache, whole vectors 17 GB/s for 2-byte elements).
//!
//! A block of `n` elements of `es` bytes is stored as `8 × es` bit rows of `n / 8` bytes:
//! row `8b + k` holds bit `k` of byte `b` of every element (element `i` at bit `i % 8` of
//! byte `i / 8`). The 8 bytes at the same position `g` of the 8 rows of byte `b` form an
//! 8×8 bit matrix whose transpose is byte `b` of elements `8g .. 8g + 8`.
//!
//! On x86_64, SSE2 does 16 such positions at once for elements of 1, 2, 4 and 8 bytes: 16
//! bytes of each of the 8 rows are loaded and byte-transposed with unpack instructions
//! (two matrices per register), every matrix is bit-transposed by the same three
//! shift-and-mask steps as [`transpose8`] in both 64-bit lanes, and the byte planes of an
//! element are zipped together with unpacks. Where the processor has GFNI, one affine byte
//! transform (`gf2p8affineqb` with the data as the matrix and unit vectors as the bytes)
//! transposes both matrices of a register instead of the three steps; the rows are then
//! taken in reverse order, as the instruction numbers matrix rows from the top. Positions
//! left over (fewer than 16), other element sizes and other targets use [`transpose8`] of
//! each matrix held in a `u64`.
//!
//! Shuffling runs the same steps backwards: 16 elements are split into byte planes by 4
//! rounds of the unpacks that zip them, 16 matrices transposed (GFNI: the transform above
//! then a bit reversal of every byte), and 4 rounds turn (matrix, row) into (row, matrix).
//! Elements wider than 2 bytes are split into byte planes first and each plane shuffled
//! as 1-byte elements, which is faster than splitting them in the registers.
//! [`shuffle_runs`] takes a block's elements where a memory map stores them (rows of
//! frames, in any place and order, in either byte order: a stored byte's rows are written
//! to the other byte's place) instead of copied together first.

use crate::source::StoredRuns;

/// Transpose the 8x8 bit matrix in `x` (bit `8r + c` goes to bit `8c + r`) with three
/// shift-and-mask steps.
#[inline(always)]
pub fn transpose8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^= t ^ (t << 28);
    x
}

/// Undo the bit transpose of one block: `planes` holds `8 × es` bit rows of `n / 8` bytes
/// (`n` a multiple of 8), `out` receives the `n` elements of `es` bytes.
pub fn unshuffle(planes: &[u8], out: &mut [u8], es: usize) {
    assert!(
        es > 0 && planes.len() == out.len() && planes.len().is_multiple_of(8 * es),
        "bitplanes::unshuffle of {} bytes into {} bytes of {es}-byte elements",
        planes.len(),
        out.len()
    );
    let row = planes.len() / (8 * es);
    let done = arch::unshuffle_wide(planes, out, es, row, arch::has_gfni());
    unshuffle_positions(planes, out, es, row, done..row);
}

/// Undo a byte shuffle: `input` holds `es` planes of `n = input.len() / es` bytes (byte `b`
/// of element `i` at `input[b * n + i]`), `out` (as long) receives the `n` elements; bytes
/// after the last whole element are copied as they are.
pub fn unshuffle_bytes(input: &[u8], out: &mut [u8], es: usize) {
    assert_eq!(input.len(), out.len(), "bitplanes::unshuffle_bytes lengths");
    if es <= 1 {
        out.copy_from_slice(input);
        return;
    }
    let n = input.len() / es;
    unshuffle_elements(input, n, 0, &mut out[..n * es], es);
    out[n * es..].copy_from_slice(&input[n * es..]);
}

/// Undo a byte shuffle for some of the elements: `planes` holds `es` planes of `n` bytes
/// (byte `b` of element `i` at `planes[b * n + i]`), `out` receives elements `first ..
/// first + out.len() / es` (`out` holds whole elements): the piece of a shuffled chunk
/// that lands in one stretch of a region's buffer.
pub fn unshuffle_elements(planes: &[u8], n: usize, first: usize, out: &mut [u8], es: usize) {
    let es = es.max(1);
    let m = out.len() / es;
    assert!(
        out.len().is_multiple_of(es) && first + m <= n && planes.len() >= es * n,
        "bitplanes::unshuffle_elements: {m} elements from {first} of {n} in {} bytes",
        planes.len()
    );
    if es == 1 {
        out.copy_from_slice(&planes[first..first + m]);
        return;
    }
    let done = arch::unshuffle_bytes_wide(planes, n, first, out, es);
    for b in 0..es {
        let plane = &planes[b * n + first + done..b * n + first + m];
        for (cell, &v) in out[done * es..].chunks_exact_mut(es).zip(plane) {
            cell[b] = v;
        }
    }
}

/// Bit-transpose one block (the inverse of [`unshuffle`]): `elements` holds `n` elements
/// of `es` bytes (`n` a multiple of 8), `planes` (as long) receives their `8 × es` bit rows
/// of `n / 8` bytes, as Blosc's and DECTRIS' bitshuffle store them.
pub fn shuffle(elements: &[u8], planes: &mut [u8], es: usize) {
    assert!(
        es > 0 && planes.len() == elements.len() && planes.len().is_multiple_of(8 * es),
        "bitplanes::shuffle of {} bytes of {es}-byte elements into {} bytes",
        elements.len(),
        planes.len()
    );
    if es > 2 && !elements.is_empty() {
        // Split into byte planes first, then transpose each as 1-byte elements (its rows
        // are the element's): in one pass, wider elements cost more register shuffles
        // than the two passes (3.5-6 GB/s against 12).
        let mut bytes = vec![0u8; elements.len()];
        shuffle_bytes(elements, &mut bytes, es);
        for (plane, rows) in bytes
            .chunks_exact(elements.len() / es)
            .zip(planes.chunks_exact_mut(elements.len() / es))
        {
            shuffle(plane, rows, 1);
        }
        return;
    }
    let row = planes.len() / (8 * es);
    let done = arch::shuffle_wide(elements, planes, es, row, arch::has_gfni());
    shuffle_positions(elements, planes, es, row, done..row);
}

/// Elements in each step of [`shuffle_runs`]: its runs hold whole numbers of them.
pub const RUN_ELEMENTS: usize = 128;

/// [`shuffle`] of a block whose elements are not in one slice but in `stored` runs, in
/// order (rows of frames in a memory map, read in place instead of copied together
/// first), each element's bytes reversed first when they are stored in the other byte
/// order (big-endian values shuffled as the little-endian ones they stand for). Returns
/// whether it shuffled them: only elements of 1 or 2 bytes in runs of whole multiples of
/// [`RUN_ELEMENTS`] elements, as long together as `planes`, on targets with a vector
/// kernel; otherwise nothing is written and the caller copies the runs together for
/// [`shuffle`].
pub fn shuffle_runs(stored: &StoredRuns<'_>, planes: &mut [u8], es: usize) -> bool {
    let step = RUN_ELEMENTS * es;
    let fits = matches!(es, 1 | 2)
        && stored.runs.iter().all(|&(at, len)| {
            len.is_multiple_of(step)
                && at
                    .checked_add(len)
                    .is_some_and(|end| end <= stored.bytes.len())
        })
        && stored.runs.iter().map(|run| run.1).sum::<usize>() == planes.len();
    fits && arch::shuffle_runs_wide(
        stored.bytes,
        &stored.runs,
        planes,
        es,
        planes.len() / (8 * es),
        !stored.order.is_native(),
        arch::has_gfni(),
    )
}

/// Byte-shuffle (the inverse of [`unshuffle_bytes`]): `input` holds `n = input.len() / es`
/// elements, `out` (as long) receives their `es` planes of `n` bytes; bytes after the last
/// whole element are copied as they are.
pub fn shuffle_bytes(input: &[u8], out: &mut [u8], es: usize) {
    assert_eq!(input.len(), out.len(), "bitplanes::shuffle_bytes lengths");
    if es <= 1 {
        out.copy_from_slice(input);
        return;
    }
    let n = input.len() / es;
    let done = arch::shuffle_bytes_wide(input, out, n, es);
    for (i, element) in input[..n * es].chunks_exact(es).enumerate().skip(done) {
        for (b, &v) in element.iter().enumerate() {
            out[b * n + i] = v;
        }
    }
    out[n * es..].copy_from_slice(&input[n * es..]);
}

/// Bit-transpose positions `range` of every row, one `u64` matrix at a time (the inverse
/// of [`unshuffle_positions`]).
fn shuffle_positions(
    elements: &[u8],
    planes: &mut [u8],
    es: usize,
    row: usize,
    range: std::ops::Range<usize>,
) {
    for b in 0..es {
        let rows = &mut planes[b * 8 * row..(b + 1) * 8 * row];
        for g in range.clone() {
            let group = &elements[g * 8 * es..(g + 1) * 8 * es];
            let mut x = 0u64;
            for (j, element) in group.chunks_exact(es).enumerate() {
                x |= u64::from(element[b]) << (8 * j);
            }
            for (k, v) in transpose8(x).to_le_bytes().iter().enumerate() {
                rows[k * row + g] = *v;
            }
        }
    }
}

/// Positions `range` of every row, one `u64` matrix at a time.
fn unshuffle_positions(
    planes: &[u8],
    out: &mut [u8],
    es: usize,
    row: usize,
    range: std::ops::Range<usize>,
) {
    for b in 0..es {
        let rows = &planes[b * 8 * row..(b + 1) * 8 * row];
        for g in range.clone() {
            let mut x = 0u64;
            for k in 0..8 {
                x |= u64::from(rows[k * row + g]) << (8 * k);
            }
            let elements = &mut out[g * 8 * es..(g + 1) * 8 * es];
            for (v, element) in transpose8(x)
                .to_le_bytes()
                .iter()
                .zip(elements.chunks_exact_mut(es))
            {
                element[b] = *v;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
use x86 as arch;

#[cfg(not(target_arch = "x86_64"))]
mod arch {
    /// No GFNI on this target.
    pub fn has_gfni() -> bool {
        false
    }

    /// No vector path: every position is left to the `u64` transpose.
    pub fn unshuffle_wide(_: &[u8], _: &mut [u8], _: usize, _: usize, _: bool) -> usize {
        0
    }

    /// No vector path: every element is left to the byte loop.
    pub fn unshuffle_bytes_wide(_: &[u8], _: usize, _: usize, _: &mut [u8], _: usize) -> usize {
        0
    }

    /// No vector path: every position is left to the `u64` transpose.
    pub fn shuffle_wide(_: &[u8], _: &mut [u8], _: usize, _: usize, _: bool) -> usize {
        0
    }

    /// No vector path: runs are copied together for the `u64` transpose.
    pub fn shuffle_runs_wide(
        _: &[u8],
        _: &[(usize, usize)],
        _: &mut [u8],
        _: usize,
        _: usize,
        _: bool,
        _: bool,
    ) -> bool {
        false
    }

    /// No vector path: every element is left to the byte loop.
    pub fn shuffle_bytes_wide(_: &[u8], _: &mut [u8], _: usize, _: usize) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::ByteOrder;
    use proptest::prelude::*;

    /// The definition, bit by bit: bit `k` of byte `b` of element `i` is bit `i % 8` of
    /// byte `i / 8` of row `8b + k`.
    fn naive(planes: &[u8], es: usize) -> Vec<u8> {
        let n = planes.len() / es;
        let row = n / 8;
        let mut out = vec![0u8; planes.len()];
        for i in 0..n {
            for b in 0..es {
                for k in 0..8 {
                    let bit = (planes[(8 * b + k) * row + i / 8] >> (i % 8)) & 1;
                    out[i * es + b] |= bit << k;
                }
            }
        }
        out
    }

    /// Elements and planes at every alignment give what aligned buffers give, through
    /// `shuffle` and `unshuffle` and through each vector kernel this processor runs (an
    /// optimized build once folded an unaligned load into the SSE form of GFNI's
    /// transform, which faults: `.ci/run` runs these tests in release too).
    #[test]
    fn kernels_take_buffers_at_any_alignment() {
        for es in [1usize, 2, 4, 8] {
            let n = 8 * 16 * 3;
            let row = n / 8;
            let elements: Vec<u8> = (0..n * es).map(|i| (i * 37 % 251) as u8).collect();
            let mut planes = vec![0u8; n * es];
            shuffle(&elements, &mut planes, es);
            for skew in 0..16 {
                let mut input = vec![0u8; skew + n * es];
                let mut out = vec![0u8; skew + n * es];
                input[skew..].copy_from_slice(&elements);
                shuffle(&input[skew..], &mut out[skew..], es);
                assert_eq!(&out[skew..], &planes[..], "shuffle, es {es}, skew {skew}");
                for gfni in [false, arch::has_gfni()] {
                    let (from, to) = (&input[skew..], &mut out[skew..]);
                    to.fill(0xA5);
                    // The kernels shuffle elements of 1 and 2 bytes (`shuffle` splits
                    // wider ones into bytes first).
                    let done = arch::shuffle_wide(from, to, es, row, gfni);
                    if es <= 2 {
                        assert_eq!(done, row, "kernel {gfni}, es {es}");
                        shuffle_positions(from, to, es, row, done..row);
                        assert_eq!(&to[..], &planes[..], "kernel {gfni}, es {es}, skew {skew}");
                    }
                }
                input[skew..].copy_from_slice(&planes);
                unshuffle(&input[skew..], &mut out[skew..], es);
                let what = format!("unshuffle, es {es}, skew {skew}");
                assert_eq!(&out[skew..], &elements[..], "{what}");
                for gfni in [false, arch::has_gfni()] {
                    let (from, to) = (&input[skew..], &mut out[skew..]);
                    to.fill(0xA5);
                    let done = arch::unshuffle_wide(from, to, es, row, gfni);
                    unshuffle_positions(from, to, es, row, done..row);
                    assert_eq!(&to[..], &elements[..], "{what}, kernel {gfni}");
                }
            }
        }
    }

    proptest! {
        /// The vector and byte loops together agree with the byte definition (byte `b` of
        /// element `i` is byte `i` of plane `b`) at any length, whole elements or not.
        #[test]
        fn unshuffle_bytes_matches_the_definition(
            es in prop::sample::select(vec![1usize, 2, 3, 4, 8, 16]),
            data in proptest::collection::vec(any::<u8>(), 0..700),
        ) {
            let n = data.len() / es;
            let mut got = vec![0u8; data.len()];
            unshuffle_bytes(&data, &mut got, es);
            for i in 0..n {
                for b in 0..es {
                    prop_assert_eq!(got[i * es + b], data[b * n + i]);
                }
            }
            prop_assert_eq!(&got[n * es..], &data[n * es..]);
        }

        /// Any stretch of elements unshuffled on its own equals the same stretch of the
        /// whole unshuffle (vector steps starting anywhere in the planes).
        #[test]
        fn unshuffle_elements_matches_the_whole(
            es in prop::sample::select(vec![1usize, 2, 3, 4, 8]),
            n in 0usize..300,
            cut in any::<(u16, u16)>(),
            seed in any::<u8>(),
        ) {
            let data: Vec<u8> = (0..n * es).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let mut whole = vec![0u8; data.len()];
            unshuffle_bytes(&data, &mut whole, es);
            let first = usize::from(cut.0) % (n + 1);
            let m = usize::from(cut.1) % (n - first + 1);
            let mut part = vec![0u8; m * es];
            unshuffle_elements(&data, n, first, &mut part, es);
            prop_assert_eq!(&part[..], &whole[first * es..(first + m) * es]);
        }

        /// Vector and `u64` paths together (rows of 0-69 positions: whole steps of 16
        /// and leftovers) against the definition, for even, odd and 1-byte elements.
        #[test]
        fn unshuffle_matches_the_bit_definition(
            es in prop::sample::select(vec![1usize, 2, 3, 4, 6, 8, 16]),
            positions in 0usize..70,
            seed in any::<u64>(),
        ) {
            let mut s = seed | 1;
            let planes: Vec<u8> = (0..positions * 8 * es).map(|_| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                s as u8
            }).collect();
            let mut out = vec![0u8; planes.len()];
            unshuffle(&planes, &mut out, es);
            prop_assert_eq!(&out, &naive(&planes, es));
            // Each vector kernel this processor runs, completed by the `u64` path.
            for gfni in [false, arch::has_gfni()] {
                let mut kernel = vec![0u8; planes.len()];
                let done = arch::unshuffle_wide(&planes, &mut kernel, es, positions, gfni);
                unshuffle_positions(&planes, &mut kernel, es, positions, done..positions);
                prop_assert_eq!(&kernel, &out, "gfni {}", gfni);
            }
            let mut scalar = vec![0u8; planes.len()];
            unshuffle_positions(&planes, &mut scalar, es, positions, 0..positions);
            prop_assert_eq!(scalar, out);
        }

        /// Byte shuffling agrees with the definition (byte `b` of element `i` goes to byte
        /// `i` of plane `b`) at any length, and byte unshuffling undoes it.
        #[test]
        fn shuffle_bytes_matches_the_definition(
            es in prop::sample::select(vec![1usize, 2, 3, 4, 8, 16]),
            data in proptest::collection::vec(any::<u8>(), 0..700),
        ) {
            let n = data.len() / es;
            let mut planes = vec![0u8; data.len()];
            shuffle_bytes(&data, &mut planes, es);
            for i in 0..n {
                for b in 0..es {
                    prop_assert_eq!(planes[b * n + i], data[i * es + b]);
                }
            }
            prop_assert_eq!(&planes[n * es..], &data[n * es..]);
            let mut back = vec![0u8; data.len()];
            unshuffle_bytes(&planes, &mut back, es);
            prop_assert_eq!(back, data);
        }

        /// Bit shuffling (vector kernels this processor runs and the `u64` path) is the
        /// definition's inverse: unshuffling it by the definition gives the elements back.
        #[test]
        fn shuffle_inverts_the_bit_definition(
            es in prop::sample::select(vec![1usize, 2, 3, 4, 6, 8, 16]),
            positions in 0usize..70,
            seed in any::<u64>(),
        ) {
            let mut s = seed | 1;
            let elements: Vec<u8> = (0..positions * 8 * es).map(|_| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                s as u8
            }).collect();
            let mut planes = vec![0u8; elements.len()];
            shuffle(&elements, &mut planes, es);
            prop_assert_eq!(&naive(&planes, es), &elements);
            for gfni in [false, arch::has_gfni()] {
                let mut kernel = vec![0u8; elements.len()];
                let done = arch::shuffle_wide(&elements, &mut kernel, es, positions, gfni);
                shuffle_positions(&elements, &mut kernel, es, positions, done..positions);
                prop_assert_eq!(&kernel, &planes, "gfni {}", gfni);
            }
            let mut scalar = vec![0u8; elements.len()];
            shuffle_positions(&elements, &mut scalar, es, positions, 0..positions);
            prop_assert_eq!(scalar, planes);
        }

        /// A block shuffled from runs lying anywhere (in place of frames' rows in a
        /// map, in any order there), byte-reversed or not, equals the shuffle of the runs
        /// copied together with their bytes fixed, by both kernels; runs that do not
        /// qualify (other element sizes, parts of a step) are refused untouched.
        #[test]
        fn shuffle_runs_equals_the_shuffle_of_the_runs_copied_together(
            es in prop::sample::select(vec![1usize, 2, 3]),
            lengths in proptest::collection::vec(0usize..4, 0..6),
            swapped in any::<bool>(),
            ragged in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut s = seed | 1;
            let step = RUN_ELEMENTS * es;
            // Runs of whole steps (one a byte short when `ragged`), stored back to back
            // in reverse order with a gap of 3 bytes before each.
            let mut sizes: Vec<usize> = lengths.iter().map(|&n| n * step).collect();
            let cut = sizes.last_mut().filter(|n| ragged && **n > 0).map(|n| *n -= 1);
            let total: usize = sizes.iter().sum();
            let store: Vec<u8> = (0..total + 3 * sizes.len()).map(|_| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                s as u8
            }).collect();
            let mut runs = Vec::new();
            let mut end = store.len();
            for &n in &sizes {
                runs.push((end - n, n));
                end -= n + 3;
            }
            let order = match (swapped, ByteOrder::NATIVE) {
                (false, native) => native,
                (true, ByteOrder::Little) => ByteOrder::Big,
                (true, ByteOrder::Big) => ByteOrder::Little,
            };
            let stored = StoredRuns { bytes: &store, runs: runs.clone(), order };
            let mut together: Vec<u8> = runs.iter().flat_map(|&(at, n)| store[at..at + n].to_vec()).collect();
            if swapped {
                together.chunks_exact_mut(es).for_each(|e| e.reverse());
            }
            let whole = together.len() - together.len() % (8 * es);
            let mut expected = vec![0u8; whole];
            shuffle(&together[..whole], &mut expected, es);
            let qualifies = es <= 2 && cut.is_none() && cfg!(target_arch = "x86_64");
            let mut got = vec![0xA5u8; total];
            prop_assert_eq!(shuffle_runs(&stored, &mut got, es), qualifies);
            if qualifies {
                prop_assert_eq!(&got, &expected);
                for gfni in [false, arch::has_gfni()] {
                    let mut kernel = vec![0u8; total];
                    let row = total / (8 * es);
                    prop_assert!(arch::shuffle_runs_wide(&store, &runs, &mut kernel, es, row, swapped, gfni));
                    prop_assert_eq!(&kernel, &expected, "gfni {}", gfni);
                }
            } else {
                prop_assert!(got.iter().all(|&v| v == 0xA5));
            }
        }
    }
}
