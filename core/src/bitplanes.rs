//! Undoing a bit-plane transpose ("bitshuffle": HDF5 filter 32008 as DECTRIS detectors
//! write it, Blosc's bitshuffle) at memory speed.
//!
//! A block of `n` elements of `es` bytes is stored as `8 × es` bit rows of `n / 8` bytes:
//! row `8b + k` holds bit `k` of byte `b` of every element (element `i` at bit `i % 8` of
//! byte `i / 8`). The 8 bytes at the same position `g` of the 8 rows of byte `b` form an
//! 8×8 bit matrix whose transpose is byte `b` of elements `8g .. 8g + 8`.
//!
//! On x86_64, SSE2 does 16 such positions at once: 16 bytes of each of the 8 rows are
//! loaded and byte-transposed with unpack instructions (two matrices per register), then
//! shifting bit `i` of every byte to its top bit and taking the top bits (`movemask`) gives
//! element `i`'s byte of two matrices in one instruction — for even element sizes the
//! matrices of bytes `b` and `b + 1` share a register, so each `movemask` yields two bytes
//! of one element. Positions left over (fewer than 16) and other targets use a
//! shift-and-mask transpose of each matrix held in a `u64`.

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
    let done = arch::unshuffle_wide(planes, out, es, row);
    unshuffle_positions(planes, out, es, row, done..row);
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
mod arch {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm_movemask_epi8, _mm_slli_epi64, _mm_unpackhi_epi16,
        _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpackhi_epi8, _mm_unpacklo_epi16,
        _mm_unpacklo_epi32, _mm_unpacklo_epi64, _mm_unpacklo_epi8,
    };

    /// Positions handled per step: 16 bytes of each row.
    const STEP: usize = 16;

    /// 16 bytes of `bytes` (exactly 16) in a register.
    #[inline(always)]
    fn load(bytes: &[u8]) -> __m128i {
        let bytes: &[u8; 16] = bytes.try_into().expect("16 bytes");
        // SAFETY: SSE2 is part of the x86_64 baseline; the unaligned load reads exactly
        // the 16 bytes of `bytes`.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>()) }
    }

    /// Bit `i` of each of the 16 bytes of `v`, as 16 bits.
    #[inline(always)]
    fn bit_of_each_byte(v: __m128i, i: usize) -> u16 {
        // SAFETY: SSE2 is part of the x86_64 baseline, the only requirement of these
        // intrinsics; they only read and write registers.
        unsafe {
            let shifted = match i {
                0 => _mm_slli_epi64::<7>(v),
                1 => _mm_slli_epi64::<6>(v),
                2 => _mm_slli_epi64::<5>(v),
                3 => _mm_slli_epi64::<4>(v),
                4 => _mm_slli_epi64::<3>(v),
                5 => _mm_slli_epi64::<2>(v),
                6 => _mm_slli_epi64::<1>(v),
                _ => v,
            };
            _mm_movemask_epi8(shifted) as u16
        }
    }

    /// The 16 bit matrices at positions `g0 .. g0 + 16` of the 8 rows of byte `b`, two per
    /// register: register `p` holds positions `g0 + 2p` (low half) and `g0 + 2p + 1`.
    #[inline(always)]
    fn matrices(planes: &[u8], row: usize, b: usize, g0: usize) -> [__m128i; 8] {
        let rows = &planes[8 * b * row + g0..];
        // Spelled out (not `array::from_fn`, which is not always inlined here).
        let at = |k: usize| load(&rows[k * row..k * row + STEP]);
        let r = [at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7)];
        // SAFETY: SSE2 is part of the x86_64 baseline; unpacks only touch registers.
        unsafe {
            let a = [
                _mm_unpacklo_epi8(r[0], r[1]),
                _mm_unpackhi_epi8(r[0], r[1]),
                _mm_unpacklo_epi8(r[2], r[3]),
                _mm_unpackhi_epi8(r[2], r[3]),
                _mm_unpacklo_epi8(r[4], r[5]),
                _mm_unpackhi_epi8(r[4], r[5]),
                _mm_unpacklo_epi8(r[6], r[7]),
                _mm_unpackhi_epi8(r[6], r[7]),
            ];
            // Rows 0-3 (c[0..4]) and 4-7 (c[4..8]) of positions 0-3, 4-7, 8-11, 12-15.
            let c = [
                _mm_unpacklo_epi16(a[0], a[2]),
                _mm_unpackhi_epi16(a[0], a[2]),
                _mm_unpacklo_epi16(a[1], a[3]),
                _mm_unpackhi_epi16(a[1], a[3]),
                _mm_unpacklo_epi16(a[4], a[6]),
                _mm_unpackhi_epi16(a[4], a[6]),
                _mm_unpacklo_epi16(a[5], a[7]),
                _mm_unpackhi_epi16(a[5], a[7]),
            ];
            [
                _mm_unpacklo_epi32(c[0], c[4]),
                _mm_unpackhi_epi32(c[0], c[4]),
                _mm_unpacklo_epi32(c[1], c[5]),
                _mm_unpackhi_epi32(c[1], c[5]),
                _mm_unpacklo_epi32(c[2], c[6]),
                _mm_unpackhi_epi32(c[2], c[6]),
                _mm_unpacklo_epi32(c[3], c[7]),
                _mm_unpackhi_epi32(c[3], c[7]),
            ]
        }
    }

    /// Unshuffle positions `0 .. 16 × (row / 16)` of every row for 1-byte and even-sized
    /// elements; returns the first position not done (0 for other sizes).
    pub fn unshuffle_wide(planes: &[u8], out: &mut [u8], es: usize, row: usize) -> usize {
        let wide = row / STEP * STEP;
        if es != 1 && !es.is_multiple_of(2) {
            return 0;
        }
        for g0 in (0..wide).step_by(STEP) {
            let chunk = &mut out[g0 * 8 * es..(g0 + STEP) * 8 * es];
            if es == 1 {
                for (p, m) in matrices(planes, row, 0, g0).into_iter().enumerate() {
                    let (mut first, mut second) = (0u64, 0u64);
                    for i in 0..8 {
                        let [lo, hi] = bit_of_each_byte(m, i).to_le_bytes();
                        first |= u64::from(lo) << (8 * i);
                        second |= u64::from(hi) << (8 * i);
                    }
                    chunk[16 * p..16 * p + 8].copy_from_slice(&first.to_le_bytes());
                    chunk[16 * p + 8..16 * p + 16].copy_from_slice(&second.to_le_bytes());
                }
                continue;
            }
            for pair in 0..es / 2 {
                let low = matrices(planes, row, 2 * pair, g0);
                let high = matrices(planes, row, 2 * pair + 1, g0);
                for p in 0..8 {
                    // SAFETY: SSE2 is part of the x86_64 baseline; unpacks only touch
                    // registers.
                    let both = unsafe {
                        [
                            _mm_unpacklo_epi64(low[p], high[p]),
                            _mm_unpackhi_epi64(low[p], high[p]),
                        ]
                    };
                    for (half, m) in both.into_iter().enumerate() {
                        let g = 2 * p + half;
                        let elements = &mut chunk[g * 8 * es..(g + 1) * 8 * es];
                        let bit = |i| bit_of_each_byte(m, i);
                        let bytes = [
                            bit(0),
                            bit(1),
                            bit(2),
                            bit(3),
                            bit(4),
                            bit(5),
                            bit(6),
                            bit(7),
                        ];
                        if es == 2 {
                            let word = |q: usize| {
                                (0..4)
                                    .fold(0u64, |w, i| w | u64::from(bytes[4 * q + i]) << (16 * i))
                            };
                            elements[..8].copy_from_slice(&word(0).to_le_bytes());
                            elements[8..].copy_from_slice(&word(1).to_le_bytes());
                            continue;
                        }
                        for (two, element) in bytes.iter().zip(elements.chunks_exact_mut(es)) {
                            element[2 * pair..2 * pair + 2].copy_from_slice(&two.to_le_bytes());
                        }
                    }
                }
            }
        }
        wide
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod arch {
    /// No vector path: every position is left to the `u64` transpose.
    pub fn unshuffle_wide(_: &[u8], _: &mut [u8], _: usize, _: usize) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    proptest! {
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
            let mut scalar = vec![0u8; planes.len()];
            unshuffle_positions(&planes, &mut scalar, es, positions, 0..positions);
            prop_assert_eq!(scalar, out);
        }
    }
}
