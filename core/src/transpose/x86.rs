//! x86_64 block transposes at three vector widths: SSE2 (16 bytes, the x86_64 baseline),
//! AVX2 (32) and AVX-512 (64, with AVX512BW for 1- and 2-byte elements).
//!
//! Every kernel transposes `N` × `N` blocks (`N` elements of `E` bytes per vector) in
//! registers and writes one vector to each of `N` destination lines. The shuffles of all
//! three widths work within 16-byte lanes (the same in-lane network for every width,
//! [`lane_transpose`]). SSE2 and AVX2 load one vector from each of `N` source lines and
//! then exchange whole lanes between vectors; AVX-512 instead fills the four lanes of a
//! vector from four source lines as it loads (so every stored vector, one whole cache
//! line of a destination row, needs no lane exchange), asks for the next block column's
//! source lines ahead of use, and can store past the cache (`Part::stream`).
//! SSE2 and AVX2 load and store through bounds-checked slices; AVX-512 checks a block's
//! whole extent once ([`extent`]) and then uses pointers.

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

/// The base pointers of `src` and `dst` after checking that every byte `part` addresses
/// lies inside them (source: `cols` lines of `rows` elements, `s_col` apart; destination:
/// `rows` lines of `cols` elements, `d_row` apart), so that a kernel may then load and
/// store without a check per vector. Panics where a caller broke that contract.
fn extent<const E: usize>(src: &[u8], dst: &mut [u8], part: &Part) -> (*const u8, *mut u8) {
    let end = |at: usize, lines: usize, stride: usize, elements: usize| {
        (lines - 1)
            .checked_mul(stride)
            .and_then(|o| o.checked_add(at))
            .and_then(|o| o.checked_add(elements * E))
    };
    let src_end = end(part.s, part.cols, part.s_col, part.rows);
    let dst_end = end(part.d, part.rows, part.d_row, part.cols);
    assert!(
        part.rows > 0
            && part.cols > 0
            && src_end.is_some_and(|e| e <= src.len())
            && dst_end.is_some_and(|e| e <= dst.len()),
        "transpose block outside its buffers"
    );
    (src.as_ptr(), dst.as_mut_ptr())
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
    //! 64-byte blocks of `N = 64 / E` lines, in four bands of `L = N / 4` rows: for each
    //! band, `L` vectors whose lane `q` holds 16 bytes of source line `q L + k`, transposed
    //! within lanes, give the band's `L` destination rows, 64 bytes each.

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

    /// Blocks of `N` × `N` elements of `E` bytes (`N = 4 L`, `L * E = 16`).
    #[target_feature(enable = "avx512f,avx512bw")]
    fn run<const E: usize, const L: usize, const N: usize>(src: &[u8], dst: &mut [u8], p: &Part) {
        debug_assert_eq!(N, 4 * L);
        let (src, dst) = super::extent::<E>(src, dst, p);
        let line = p.rows * E;
        for c in (0..p.cols).step_by(N) {
            for j in 0..line / 64 {
                for m in 0..4 {
                    // Lane q of vector k: 16 bytes of column c + q L + k from row
                    // j N + m L; after the in-lane transpose, lane q of vector i holds
                    // row j N + m L + i, columns c + q L..: the vector is that row's 64
                    // bytes from column c.
                    let mut set = [_mm512_setzero_si512(); L];
                    for (k, v) in set.iter_mut().enumerate() {
                        let at = |q: usize| p.s + (c + q * L + k) * p.s_col + 64 * j + 16 * m;
                        // SAFETY: `extent` checked that every source byte of `p` lies
                        // inside `src`: these 16 are rows j N + m L.. of a column of it.
                        let piece = |q: usize| unsafe { _mm_loadu_si128(src.add(at(q)).cast()) };
                        let w = _mm512_castsi128_si512(piece(0));
                        let w = _mm512_inserti32x4::<1>(w, piece(1));
                        let w = _mm512_inserti32x4::<2>(w, piece(2));
                        *v = _mm512_inserti32x4::<3>(w, piece(3));
                        if m == 0 {
                            // Ask for the line the next block column will load from the
                            // same rows: lines far apart defeat the processor's own
                            // prefetchers. A prefetch never faults, past the end of
                            // `src` included.
                            for q in 0..4 {
                                let ahead = src.wrapping_add(at(q) + N * p.s_col);
                                _mm_prefetch::<_MM_HINT_T1>(ahead.cast());
                            }
                        }
                    }
                    for (i, v) in lanes::<E, L>(set).into_iter().enumerate() {
                        let at = p.d + (j * N + m * L + i) * p.d_row + c * E;
                        // SAFETY: `extent` checked that every destination byte of `p`
                        // lies inside `dst`: these 64 are columns c.. of that row.
                        // A streamed store needs the line-aligned address it writes whole.
                        unsafe {
                            let to = dst.add(at);
                            if p.stream && (to as usize).is_multiple_of(64) {
                                _mm512_stream_si512(to.cast(), v)
                            } else {
                                _mm512_storeu_si512(to.cast(), v)
                            }
                        };
                    }
                }
            }
        }
    }
}
