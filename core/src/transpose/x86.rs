//! x86_64 block transposes at three vector widths: SSE2 (16 bytes, the x86_64 baseline),
//! AVX2 (32) and AVX-512 (64, with AVX512BW for 1- and 2-byte elements).
//!
//! Every kernel reads one vector from each of `N` source lines (`N` elements of `E` bytes
//! per vector), transposes the `N` × `N` block in registers and writes one vector to each
//! of `N` destination lines. The shuffles of all three widths work within 16-byte lanes,
//! so a wide vector first holds one 16-byte block per lane (the same in-lane network for
//! every width, [`lane_transpose`]); the wide kernels then exchange whole lanes between
//! vectors so that every stored vector is one contiguous destination line. Loads and
//! stores go through bounds-checked slices; `unsafe` is left for the pointer intrinsics
//! and for calling a kernel whose features were detected at run time.

use std::arch::x86_64::*;

use super::{Kernel, Part, TILE_BYTES};

/// Transpose `part` (sides whole multiples of `kernel`'s block side, at most one tile of
/// rows) with `kernel`, which must be one this processor runs (at most [`Kernel::best`]).
pub(super) fn blocks<const E: usize>(kernel: Kernel, src: &[u8], dst: &mut [u8], part: &Part) {
    debug_assert!(part.rows * E <= TILE_BYTES && kernel <= Kernel::best());
    match kernel {
        Kernel::Scalar => super::elements::<E>(src, dst, part),
        Kernel::Sse2 => sse2::blocks::<E>(src, dst, part),
        // SAFETY: callers pass at most `Kernel::best()`, which is `Avx2` or wider only when
        // the processor reported AVX2.
        Kernel::Avx2 => unsafe { avx2::blocks::<E>(src, dst, part) },
        // SAFETY: `Kernel::best()` is `Avx512` only when the processor reported AVX512F and
        // AVX512BW.
        Kernel::Avx512 => unsafe { avx512::blocks::<E>(src, dst, part) },
    }
}

/// The in-lane transpose for one vector type: `unpack` (interleave in units of `E` bytes)
/// and `lanes` (transpose, within every 16-byte lane, `L` lines of `L` elements of `E`
/// bytes, `L * E = 16`), compiled for `$feature`.
macro_rules! lane_transpose {
    ($feature:literal, $v:ty, $lo8:ident, $hi8:ident, $lo16:ident, $hi16:ident,
     $lo32:ident, $hi32:ident, $lo64:ident, $hi64:ident) => {
        /// Interleave the low and the high halves of every lane of `a` and `b` in units
        /// of `E` bytes.
        #[target_feature(enable = $feature)]
        #[inline]
        fn unpack<const E: usize>(a: $v, b: $v) -> ($v, $v) {
            match E {
                1 => ($lo8(a, b), $hi8(a, b)),
                2 => ($lo16(a, b), $hi16(a, b)),
                4 => ($lo32(a, b), $hi32(a, b)),
                _ => ($lo64(a, b), $hi64(a, b)),
            }
        }

        /// Transpose `L` lines of `L` elements of `E` bytes in every 16-byte lane:
        /// log2(L) rounds of interleaving line `i` with line `i + L/2` (a perfect
        /// shuffle of the lines).
        #[target_feature(enable = $feature)]
        #[inline]
        fn lanes<const E: usize, const L: usize>(mut a: [$v; L]) -> [$v; L] {
            for _ in 0..L.trailing_zeros() {
                let mut next = a;
                for i in 0..L / 2 {
                    let (lo, hi) = unpack::<E>(a[i], a[i + L / 2]);
                    next[2 * i] = lo;
                    next[2 * i + 1] = hi;
                }
                a = next;
            }
            a
        }
    };
}

mod sse2 {
    //! 16-byte blocks: `16 / E` lines of one vector each.

    use super::*;

    lane_transpose!(
        "sse2",
        __m128i,
        _mm_unpacklo_epi8,
        _mm_unpackhi_epi8,
        _mm_unpacklo_epi16,
        _mm_unpackhi_epi16,
        _mm_unpacklo_epi32,
        _mm_unpackhi_epi32,
        _mm_unpacklo_epi64,
        _mm_unpackhi_epi64
    );

    /// [`super::blocks`] with SSE2.
    pub fn blocks<const E: usize>(src: &[u8], dst: &mut [u8], part: &Part) {
        // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 processor runs it.
        unsafe {
            match E {
                1 => run::<1, 16>(src, dst, part),
                2 => run::<2, 8>(src, dst, part),
                4 => run::<4, 4>(src, dst, part),
                _ => run::<8, 2>(src, dst, part),
            }
        }
    }

    /// Blocks of `L` × `L` elements of `E` bytes.
    #[target_feature(enable = "sse2")]
    fn run<const E: usize, const L: usize>(src: &[u8], dst: &mut [u8], p: &Part) {
        let line = p.rows * E;
        for c in (0..p.cols).step_by(L) {
            let lines: [&[u8]; L] = std::array::from_fn(|k| {
                let o = p.s + (c + k) * p.s_col;
                &src[o..o + line]
            });
            for j in 0..line / 16 {
                let mut a = [_mm_setzero_si128(); L];
                for (v, l) in a.iter_mut().zip(&lines) {
                    *v = bytemuck::pod_read_unaligned(&l[16 * j..16 * j + 16]);
                }
                for (k, v) in lanes::<E, L>(a).iter().enumerate() {
                    let o = p.d + (j * L + k) * p.d_row + c * E;
                    dst[o..o + 16].copy_from_slice(bytemuck::bytes_of(v));
                }
            }
        }
    }
}

mod avx2 {
    //! 32-byte blocks: `N = 32 / E` lines of one vector each, as two sets of `L = N / 2`
    //! lines whose two lanes are transposed in place, then recombined lane by lane.

    use super::*;

    lane_transpose!(
        "avx2",
        __m256i,
        _mm256_unpacklo_epi8,
        _mm256_unpackhi_epi8,
        _mm256_unpacklo_epi16,
        _mm256_unpackhi_epi16,
        _mm256_unpacklo_epi32,
        _mm256_unpackhi_epi32,
        _mm256_unpacklo_epi64,
        _mm256_unpackhi_epi64
    );

    /// [`super::blocks`] with AVX2.
    #[target_feature(enable = "avx2")]
    pub fn blocks<const E: usize>(src: &[u8], dst: &mut [u8], part: &Part) {
        match E {
            1 => run::<1, 16, 32>(src, dst, part),
            2 => run::<2, 8, 16>(src, dst, part),
            4 => run::<4, 4, 8>(src, dst, part),
            _ => run::<8, 2, 4>(src, dst, part),
        }
    }

    /// 32 bytes of `bytes` from `at`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn load(bytes: &[u8], at: usize) -> __m256i {
        let v = &bytes[at..at + 32];
        // SAFETY: `v` is 32 readable bytes; the load has no alignment requirement.
        unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
    }

    /// `v` into the 32 bytes of `bytes` from `at`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn store(bytes: &mut [u8], at: usize, v: __m256i) {
        let out = &mut bytes[at..at + 32];
        // SAFETY: `out` is 32 writable bytes; the store has no alignment requirement.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) }
    }

    /// Blocks of `N` × `N` elements of `E` bytes (`N = 2 L`, `L * E = 16`).
    #[target_feature(enable = "avx2")]
    fn run<const E: usize, const L: usize, const N: usize>(src: &[u8], dst: &mut [u8], p: &Part) {
        debug_assert_eq!(N, 2 * L);
        let line = p.rows * E;
        for c in (0..p.cols).step_by(N) {
            let mut lines: [&[u8]; N] = [&[]; N];
            for (k, l) in lines.iter_mut().enumerate() {
                let o = p.s + (c + k) * p.s_col;
                *l = &src[o..o + line];
            }
            for j in 0..line / 32 {
                // Lane 0 of every vector holds rows j N.., lane 1 rows j N + L..; the
                // first `L` vectors columns c.., the others c + L...
                let (mut left, mut right) =
                    ([_mm256_setzero_si256(); L], [_mm256_setzero_si256(); L]);
                for k in 0..L {
                    left[k] = load(lines[k], 32 * j);
                    right[k] = load(lines[L + k], 32 * j);
                }
                let (left, right) = (lanes::<E, L>(left), lanes::<E, L>(right));
                for i in 0..L {
                    let at = |row: usize| p.d + row * p.d_row + c * E;
                    let (low, high) = (
                        _mm256_permute2x128_si256::<0x20>(left[i], right[i]),
                        _mm256_permute2x128_si256::<0x31>(left[i], right[i]),
                    );
                    store(dst, at(j * N + i), low);
                    store(dst, at(j * N + L + i), high);
                }
            }
        }
    }
}

mod avx512 {
    //! 64-byte blocks: `N = 64 / E` lines of one vector each, as four sets of `L = N / 4`
    //! lines whose four lanes are transposed in place, then a 4 × 4 transpose of lanes.

    use super::*;

    lane_transpose!(
        "avx512f,avx512bw",
        __m512i,
        _mm512_unpacklo_epi8,
        _mm512_unpackhi_epi8,
        _mm512_unpacklo_epi16,
        _mm512_unpackhi_epi16,
        _mm512_unpacklo_epi32,
        _mm512_unpackhi_epi32,
        _mm512_unpacklo_epi64,
        _mm512_unpackhi_epi64
    );

    /// [`super::blocks`] with AVX-512.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub fn blocks<const E: usize>(src: &[u8], dst: &mut [u8], part: &Part) {
        match E {
            1 => run::<1, 16, 64>(src, dst, part),
            2 => run::<2, 8, 32>(src, dst, part),
            4 => run::<4, 4, 16>(src, dst, part),
            _ => run::<8, 2, 8>(src, dst, part),
        }
    }

    /// 64 bytes of `bytes` from `at`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load(bytes: &[u8], at: usize) -> __m512i {
        let v = &bytes[at..at + 64];
        // SAFETY: `v` is 64 readable bytes; the load has no alignment requirement.
        unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
    }

    /// `v` into the 64 bytes of `bytes` from `at`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn store(bytes: &mut [u8], at: usize, v: __m512i) {
        let out = &mut bytes[at..at + 64];
        // SAFETY: `out` is 64 writable bytes; the store has no alignment requirement.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), v) }
    }

    /// Blocks of `N` × `N` elements of `E` bytes (`N = 4 L`, `L * E = 16`).
    #[target_feature(enable = "avx512f,avx512bw")]
    fn run<const E: usize, const L: usize, const N: usize>(src: &[u8], dst: &mut [u8], p: &Part) {
        debug_assert_eq!(N, 4 * L);
        let line = p.rows * E;
        for c in (0..p.cols).step_by(N) {
            let mut lines: [&[u8]; N] = [&[]; N];
            for (k, l) in lines.iter_mut().enumerate() {
                let o = p.s + (c + k) * p.s_col;
                *l = &src[o..o + line];
            }
            for j in 0..line / 64 {
                // Lane m of every vector holds rows j N + m L..; set q of `L` vectors
                // columns c + q L...
                let mut sets = [[_mm512_setzero_si512(); L]; 4];
                for (q, set) in sets.iter_mut().enumerate() {
                    for (k, v) in set.iter_mut().enumerate() {
                        *v = load(lines[q * L + k], 64 * j);
                    }
                    *set = lanes::<E, L>(*set);
                }
                let [s0, s1, s2, s3] = sets;
                let vectors = s0.into_iter().zip(s1).zip(s2).zip(s3);
                for (i, (((g0, g1), g2), g3)) in vectors.enumerate() {
                    let at = |row: usize| p.d + row * p.d_row + c * E;
                    // Lane m of set q's vector i is row j N + m L + i, columns c + q L..:
                    // a 4 × 4 transpose of lanes gives each row all four sets in turn.
                    let even01 = _mm512_shuffle_i64x2::<0x88>(g0, g1);
                    let odd01 = _mm512_shuffle_i64x2::<0xDD>(g0, g1);
                    let even23 = _mm512_shuffle_i64x2::<0x88>(g2, g3);
                    let odd23 = _mm512_shuffle_i64x2::<0xDD>(g2, g3);
                    store(
                        dst,
                        at(j * N + i),
                        _mm512_shuffle_i64x2::<0x88>(even01, even23),
                    );
                    store(
                        dst,
                        at(j * N + L + i),
                        _mm512_shuffle_i64x2::<0x88>(odd01, odd23),
                    );
                    store(
                        dst,
                        at(j * N + 2 * L + i),
                        _mm512_shuffle_i64x2::<0xDD>(even01, even23),
                    );
                    store(
                        dst,
                        at(j * N + 3 * L + i),
                        _mm512_shuffle_i64x2::<0xDD>(odd01, odd23),
                    );
                }
            }
        }
    }
}
