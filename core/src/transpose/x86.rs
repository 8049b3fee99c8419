//! x86_64 block transposes at three vector widths: SSE2 (16 bytes, the x86_64 baseline),
//! AVX2 (32) and AVX-512 (64, with AVX512BW for 1- and 2-byte elements).
//!
//! One routine serves every width (`kernel!`): a block is `N` × `N` elements of `E` bytes,
//! `N` elements one row piece wide (a whole 64-byte cache line for AVX2 and AVX-512, one
//! 16-byte vector for SSE2, which covers the narrow strips the others leave). Each vector
//! is filled, one 16-byte lane from each of several source lines (`L = 16 / E` elements
//! per lane), as it is loaded; the shuffles then work within lanes only (the same network
//! for every width), and every vector they leave is one contiguous part of a destination
//! row's piece, stored whole: no exchange of lanes between vectors. The kernels ask for
//! the source lines of the next block column ahead of use (lines far apart defeat the
//! processor's own prefetchers), and when the caller streams (`Part::stream`), AVX2 and
//! AVX-512 write a part's row pieces with non-temporal stores when they all start cache
//! lines (two AVX2 stores or one AVX-512 store per line, close together). A block's
//! extent is checked once ([`extent`]); loads and stores then use pointers.

use std::arch::x86_64::*;

use super::{Kernel, Part, TILE_BYTES};

/// Transpose `part` (sides whole multiples of `kernel`'s block side, at most one tile of
/// rows) with `kernel`, which must be one this processor runs (at most [`Kernel::best`]).
pub(super) fn blocks<const E: usize>(kernel: Kernel, src: &[u8], dst: &mut [u8], part: &Part) {
    debug_assert!(part.rows * E <= TILE_BYTES && kernel <= Kernel::best());
    match kernel {
        Kernel::Scalar => super::elements::<E>(src, dst, part),
        // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 processor runs it.
        Kernel::Sse2 => unsafe { sse2::blocks::<E>(src, dst, part) },
        // SAFETY: callers pass at most `Kernel::best()`, which is `Avx2` or wider only when
        // the processor reported AVX2.
        Kernel::Avx2 => unsafe { avx2::blocks::<E>(src, dst, part) },
        // SAFETY: `Kernel::best()` is `Avx512` only when the processor reported AVX512F and
        // AVX512BW.
        Kernel::Avx512 if E >= 4 => unsafe { avx512::blocks_by_lines::<E>(src, dst, part) },
        // SAFETY: as above.
        Kernel::Avx512 => unsafe { avx512::blocks::<E>(src, dst, part) },
    }
}

/// Whether every destination row piece of `part` starts a cache line: pieces are `n`
/// elements wide at columns that are multiples of `n`, so they all do when the first row
/// starts a line, rows are whole lines apart and a piece is whole lines wide. Kernels
/// stream all of a part's pieces past the cache or none (one test per part, not per
/// store: an alignment test per store slowed the 2-byte plane's loop by a fifth).
fn pieces_start_lines<const E: usize>(dst: *const u8, part: &Part, n: usize) -> bool {
    (dst as usize + part.d).is_multiple_of(64)
        && part.d_row.is_multiple_of(64)
        && (n * E).is_multiple_of(64)
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

/// One width's kernel: `unpack` (interleave in units of `E` bytes), `lanes` (transpose,
/// within every 16-byte lane, `L` lines of `L` elements of `E` bytes, `L * E = 16`) and
/// `blocks`, for vectors of type `$v` holding `$lanes` lanes, `$group` vectors per row
/// piece, 2-byte elements' source lines fetched `$ahead2` block columns ahead into the
/// cache level `$hint` names, compiled for `$feature`. The module supplies `zero`, `fill`
/// (one vector from the 16 bytes at each of `$lanes` offsets) and `put` (store one
/// vector, streamed or not).
macro_rules! kernel {
    ($feature:literal, $v:ty, $lanes:literal, $group:literal, $ahead2:literal, $hint:ident,
     $lo8:ident, $hi8:ident, $lo16:ident, $hi16:ident, $lo32:ident, $hi32:ident,
     $lo64:ident, $hi64:ident) => {
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

        /// [`super::blocks`] with this width.
        #[target_feature(enable = $feature)]
        pub fn blocks<const E: usize>(src: &[u8], dst: &mut [u8], part: &Part) {
            match E {
                1 => run::<1, 16>(src, dst, part),
                2 => run::<2, 8>(src, dst, part),
                4 => run::<4, 4>(src, dst, part),
                _ => run::<8, 2>(src, dst, part),
            }
        }

        /// Blocks of `N` × `N` elements of `E` bytes, `N = $group $lanes L`, `L * E = 16`,
        /// in `N / L` bands of `L` rows: for each band and each group `g` of a row piece,
        /// `L` vectors whose lane `t` holds 16 bytes of source line `(g $lanes + t) L + k`,
        /// transposed within lanes, give part `g` of the band's `L` destination rows.
        #[target_feature(enable = $feature)]
        fn run<const E: usize, const L: usize>(src: &[u8], dst: &mut [u8], p: &Part) {
            let n = $group * $lanes * L;
            // How many columns ahead the source lines are fetched: the next block column's,
            // or for 2-byte elements `$ahead2` block columns' (SSE2 and AVX2: four; lines
            // of 256 `u16` frames are 512 bytes, one block column only 16 KiB of source,
            // too close to hide memory's latency on AMD family 23; docs/performance.md,
            // session 32. AVX-512 keeps one: two and four were no faster on an Intel
            // host, sessions 33 and 34).
            let ahead = if E == 2 { $ahead2 * n } else { n };
            let (src, dst) = super::extent::<E>(src, dst, p);
            let stream = p.stream && super::pieces_start_lines::<E>(dst, p, n);
            for c in (0..p.cols).step_by(n) {
                for j in 0..p.rows / n {
                    for m in 0..n / L {
                        let mut parts = [[zero(); L]; $group];
                        for (g, part) in parts.iter_mut().enumerate() {
                            let mut set = [zero(); L];
                            for (k, v) in set.iter_mut().enumerate() {
                                let at = |t: usize| {
                                    let column = c + (g * $lanes + t) * L + k;
                                    p.s + column * p.s_col + (j * n + m * L) * E
                                };
                                // SAFETY: `extent` checked that every source byte of `p`
                                // lies inside `src`: these are rows j n + m L.. of columns
                                // of it.
                                *v = unsafe { fill(src, at) };
                                // In which of the block's `n / L` bands the lines
                                // `ahead` are asked for: all in the first, or for 2-byte
                                // elements spread over the bands, line `k` of each group
                                // in band `k (n / L) / L` (on an Intel host the burst in
                                // the first band left the 2-byte plane at 0.34x `memcpy`
                                // with AVX2, 0.47x spread; other sizes gained nothing;
                                // docs/performance.md, session 34).
                                let due = if E == 2 { k * (n / L) / L == m } else { m == 0 };
                                if due {
                                    // The same rows of the lines `ahead` columns on. A
                                    // prefetch never faults, past the end of `src`
                                    // included.
                                    for t in 0..$lanes {
                                        let ahead = src.wrapping_add(at(t) + ahead * p.s_col);
                                        _mm_prefetch::<$hint>(ahead.cast());
                                    }
                                }
                            }
                            *part = lanes::<E, L>(set);
                        }
                        for i in 0..L {
                            let piece = p.d + (j * n + m * L + i) * p.d_row + c * E;
                            for (g, part) in parts.iter().enumerate() {
                                let at = piece + g * $lanes * L * E;
                                // SAFETY: `extent` checked that every destination byte of
                                // `p` lies inside `dst`: these are columns of one of its
                                // rows.
                                unsafe { put(dst.add(at), part[i], stream) };
                            }
                        }
                    }
                }
            }
        }
    };
}

mod sse2 {
    //! 16-byte vectors of one lane: blocks of `16 / E` lines.

    use super::*;

    kernel!(
        "sse2",
        __m128i,
        1,
        1,
        4,
        _MM_HINT_T1,
        _mm_unpacklo_epi8,
        _mm_unpackhi_epi8,
        _mm_unpacklo_epi16,
        _mm_unpackhi_epi16,
        _mm_unpacklo_epi32,
        _mm_unpackhi_epi32,
        _mm_unpacklo_epi64,
        _mm_unpackhi_epi64
    );

    #[target_feature(enable = "sse2")]
    #[inline]
    fn zero() -> __m128i {
        _mm_setzero_si128()
    }

    /// The 16 bytes at `src + at(0)`.
    ///
    /// # Safety
    /// They must be readable.
    #[target_feature(enable = "sse2")]
    #[inline]
    unsafe fn fill(src: *const u8, at: impl Fn(usize) -> usize) -> __m128i {
        // SAFETY: the caller's contract.
        unsafe { _mm_loadu_si128(src.add(at(0)).cast()) }
    }

    /// Store `v` at `to` (never streamed: a 16-byte piece is not a whole line).
    ///
    /// # Safety
    /// The 16 bytes at `to` must be writable.
    #[target_feature(enable = "sse2")]
    #[inline]
    unsafe fn put(to: *mut u8, v: __m128i, _stream: bool) {
        // SAFETY: the caller's contract; the store has no alignment requirement.
        unsafe { _mm_storeu_si128(to.cast(), v) }
    }
}

mod avx2 {
    //! 32-byte vectors of two lanes, two per row piece: blocks of `64 / E` lines.

    use super::*;

    kernel!(
        "avx2",
        __m256i,
        2,
        2,
        4,
        _MM_HINT_T1,
        _mm256_unpacklo_epi8,
        _mm256_unpackhi_epi8,
        _mm256_unpacklo_epi16,
        _mm256_unpackhi_epi16,
        _mm256_unpacklo_epi32,
        _mm256_unpackhi_epi32,
        _mm256_unpacklo_epi64,
        _mm256_unpackhi_epi64
    );

    #[target_feature(enable = "avx2")]
    #[inline]
    fn zero() -> __m256i {
        _mm256_setzero_si256()
    }

    /// The 16 bytes at `src + at(0)` and at `src + at(1)`, lane by lane.
    ///
    /// # Safety
    /// They must be readable.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn fill(src: *const u8, at: impl Fn(usize) -> usize) -> __m256i {
        // SAFETY: the caller's contract; the loads have no alignment requirement.
        let piece = |q: usize| unsafe { _mm_loadu_si128(src.add(at(q)).cast()) };
        _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(piece(0)), piece(1))
    }

    /// Store `v` at `to`: past the cache with `stream` (`to` then 32-byte aligned, one
    /// half of a line whose other half is stored soon after).
    ///
    /// # Safety
    /// The 32 bytes at `to` must be writable.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn put(to: *mut u8, v: __m256i, stream: bool) {
        // SAFETY: the caller's contract; the streamed store's address is 32-byte aligned
        // (a line's start or its middle), the other store needs no alignment.
        unsafe {
            if stream {
                _mm256_stream_si256(to.cast(), v)
            } else {
                _mm256_storeu_si256(to.cast(), v)
            }
        }
    }
}

mod avx512 {
    //! 64-byte vectors of four lanes: blocks of `64 / E` lines, each stored vector one
    //! whole cache line of a destination row when the rows start on lines.

    use super::*;

    kernel!(
        "avx512f,avx512bw",
        __m512i,
        4,
        1,
        1,
        // Into L1: on an Intel host the 2-byte plane ran 0.50-0.55x `memcpy` against
        // 0.41-0.44x fetched into L2 (session 34; the AVX2 kernel's L2 hint was tuned on
        // AMD family 23, where this was not measured).
        _MM_HINT_T0,
        _mm512_unpacklo_epi8,
        _mm512_unpackhi_epi8,
        _mm512_unpacklo_epi16,
        _mm512_unpackhi_epi16,
        _mm512_unpacklo_epi32,
        _mm512_unpackhi_epi32,
        _mm512_unpacklo_epi64,
        _mm512_unpackhi_epi64
    );

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn zero() -> __m512i {
        _mm512_setzero_si512()
    }

    /// The 16 bytes at `src + at(q)` for `q` in 0..4, lane by lane.
    ///
    /// # Safety
    /// They must be readable.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn fill(src: *const u8, at: impl Fn(usize) -> usize) -> __m512i {
        // SAFETY: the caller's contract; the loads have no alignment requirement.
        let piece = |q: usize| unsafe { _mm_loadu_si128(src.add(at(q)).cast()) };
        let v = _mm512_castsi128_si512(piece(0));
        let v = _mm512_inserti32x4::<1>(v, piece(1));
        let v = _mm512_inserti32x4::<2>(v, piece(2));
        _mm512_inserti32x4::<3>(v, piece(3))
    }

    /// [`super::blocks`] of 4- and 8-byte elements by whole source lines: each block's
    /// `N = 64 / E` source line pieces are loaded once, as whole 64-byte vectors, then
    /// transposed within lanes `L = 16 / E` lines at a time ([`lanes`]), and the four
    /// groups' lanes exchanged 4 × 4 (`vshufi32x4`), which leaves every vector one
    /// destination row piece. The lane-by-lane fill of [`blocks`] touches each source line
    /// `N / L` times, between which lines a power of two apart (the columns of an
    /// 8192 × 8192 `f32` plane, 32 KiB) evict each other from L1; it also spends more
    /// shuffles: for a 16 × 16 block of 4-byte elements, 64 inserting loads and 32
    /// interleaves against 16 loads, 32 interleaves and 32 lane exchanges here.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub fn blocks_by_lines<const E: usize>(src: &[u8], dst: &mut [u8], part: &Part) {
        match E {
            4 => by_lines::<4, 4, 16>(src, dst, part),
            _ => by_lines::<8, 2, 8>(src, dst, part),
        }
    }

    /// [`blocks_by_lines`] for `E`-byte elements, `L = 16 / E`, `N = 4 L`.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn by_lines<const E: usize, const L: usize, const N: usize>(
        src: &[u8],
        dst: &mut [u8],
        p: &Part,
    ) {
        let (src, dst) = super::extent::<E>(src, dst, p);
        let stream = p.stream && super::pieces_start_lines::<E>(dst, p, N);
        for c in (0..p.cols).step_by(N) {
            for j in 0..p.rows / N {
                let mut lines = [zero(); N];
                for (l, line) in lines.iter_mut().enumerate() {
                    let at = p.s + (c + l) * p.s_col + j * 64;
                    // SAFETY: `extent` checked that every source byte of `p` lies inside
                    // `src`: these are rows j N.. (N elements, 64 bytes) of column c + l.
                    *line = unsafe { _mm512_loadu_si512(src.add(at).cast()) };
                    // The same rows of the next block column's line; a prefetch never
                    // faults, past the end of `src` included.
                    let ahead = src.wrapping_add(at + N * p.s_col);
                    _mm_prefetch::<_MM_HINT_T1>(ahead.cast());
                }
                // Group t, vector e, lane m: elements of lines t L.. for row m L + e.
                let mut groups = [[zero(); L]; 4];
                for (t, group) in groups.iter_mut().enumerate() {
                    let mut set = [zero(); L];
                    set.copy_from_slice(&lines[t * L..(t + 1) * L]);
                    *group = lanes::<E, L>(set);
                }
                let mut rows = [zero(); N];
                for e in 0..L {
                    let [o0, o1, o2, o3] = [groups[0][e], groups[1][e], groups[2][e], groups[3][e]];
                    let low = _mm512_shuffle_i32x4::<0b01_00_01_00>(o0, o1);
                    let high = _mm512_shuffle_i32x4::<0b11_10_11_10>(o0, o1);
                    let low2 = _mm512_shuffle_i32x4::<0b01_00_01_00>(o2, o3);
                    let high2 = _mm512_shuffle_i32x4::<0b11_10_11_10>(o2, o3);
                    rows[e] = _mm512_shuffle_i32x4::<0b10_00_10_00>(low, low2);
                    rows[L + e] = _mm512_shuffle_i32x4::<0b11_01_11_01>(low, low2);
                    rows[2 * L + e] = _mm512_shuffle_i32x4::<0b10_00_10_00>(high, high2);
                    rows[3 * L + e] = _mm512_shuffle_i32x4::<0b11_01_11_01>(high, high2);
                }
                for (r, row) in rows.into_iter().enumerate() {
                    let piece = p.d + (j * N + r) * p.d_row + c * E;
                    // SAFETY: `extent` checked that every destination byte of `p` lies
                    // inside `dst`: these are columns c.. (N elements) of row j N + r.
                    unsafe { put(dst.add(piece), row, stream) };
                }
            }
        }
    }

    /// Store `v` at `to`: past the cache with `stream` (`to` then starts a line).
    ///
    /// # Safety
    /// The 64 bytes at `to` must be writable.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn put(to: *mut u8, v: __m512i, stream: bool) {
        // SAFETY: the caller's contract; the streamed store's address starts the line it
        // writes whole, the other store needs no alignment.
        unsafe {
            if stream {
                _mm512_stream_si512(to.cast(), v)
            } else {
                _mm512_storeu_si512(to.cast(), v)
            }
        }
    }
}
