//! The x86_64 kernels of the bit and byte shuffles ([`super`]): SSE2 unpacks for the
//! byte transposes, three shift-and-mask steps or GFNI's affine transform for the 8 × 8
//! bit matrices.

use std::arch::asm;
use std::arch::x86_64::{
    __m128i, _mm_and_si128, _mm_gf2p8affine_epi64_epi8, _mm_loadu_si128, _mm_prefetch,
    _mm_set1_epi64x, _mm_setzero_si128, _mm_slli_epi64, _mm_srli_epi64, _mm_storeu_si128,
    _mm_unpackhi_epi16, _mm_unpackhi_epi32, _mm_unpackhi_epi8, _mm_unpacklo_epi16,
    _mm_unpacklo_epi32, _mm_unpacklo_epi8, _mm_xor_si128, _MM_HINT_T0,
};

/// Whether the processor runs GFNI's affine byte transform.
pub fn has_gfni() -> bool {
    std::is_x86_feature_detected!("gfni")
}

/// Positions handled per step: 16 bytes of each row.
const STEP: usize = 16;
// A step bit-shuffles 8 elements per position: the runs [`shuffle_runs_wide`] takes.
const _: () = assert!(8 * STEP == super::RUN_ELEMENTS);
/// How many runs ahead of the one being shuffled the first pass asks for: runs read in
/// place are the rows of frames in a memory map, flipped frames' rows backwards, which the
/// processor's prefetchers do not follow (without it a MIB block shuffled from the map
/// took 12-20% longer than copied out first; 2, 4 and 8 runs ahead ran alike).
const AHEAD: usize = 4;

/// 16 bytes of `bytes` (exactly 16) in a register.
#[inline(always)]
fn load(bytes: &[u8]) -> __m128i {
    let bytes: &[u8; 16] = bytes.try_into().expect("16 bytes");
    // SAFETY: SSE2 is part of the x86_64 baseline; the unaligned load reads exactly
    // the 16 bytes of `bytes`.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>()) }
}

/// Store `v` into `bytes` (exactly 16).
#[inline(always)]
fn store(bytes: &mut [u8], v: __m128i) {
    let bytes: &mut [u8; 16] = bytes.try_into().expect("16 bytes");
    // SAFETY: SSE2 is part of the x86_64 baseline; the unaligned store writes exactly
    // the 16 bytes of `bytes`.
    unsafe { _mm_storeu_si128(bytes.as_mut_ptr().cast::<__m128i>(), v) }
}

/// [`super::transpose8`] of both 64-bit halves of `x`.
#[inline(always)]
fn transpose8x2(x: __m128i) -> __m128i {
    // SAFETY: SSE2 is part of the x86_64 baseline; these only touch registers.
    unsafe {
        let m1 = _mm_set1_epi64x(0x00AA_00AA_00AA_00AA);
        let m2 = _mm_set1_epi64x(0x0000_CCCC_0000_CCCC);
        let m3 = _mm_set1_epi64x(0x0000_0000_F0F0_F0F0);
        let t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64::<7>(x)), m1);
        let x = _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64::<7>(t)));
        let t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64::<14>(x)), m2);
        let x = _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64::<14>(t)));
        let t = _mm_and_si128(_mm_xor_si128(x, _mm_srli_epi64::<28>(x)), m3);
        _mm_xor_si128(x, _mm_xor_si128(t, _mm_slli_epi64::<28>(t)))
    }
}

/// [`super::transpose8`] of both 64-bit halves of `x` holding their matrix rows in
/// reverse order (byte `k` is row `7 - k`), by GFNI: each output byte `j` is the
/// matrix `x` times the unit vector `1 << j`, bit `i` of it the parity of `x`'s byte
/// `7 - i` (row `i`) masked to bit `j`: row `i`'s bit `j`, the transpose.
///
/// # Safety
/// The processor has GFNI.
#[target_feature(enable = "gfni")]
#[inline]
unsafe fn transpose8x2_gfni(x: __m128i) -> __m128i {
    const UNITS: i64 = 0x8040_2010_0804_0201_u64 as i64;
    let mut x = x;
    // `x` is the instruction's matrix operand, which may be memory: without this, an
    // optimized build folds an unaligned load of `x` into the SSE form of
    // `gf2p8affineqb`, which faults on addresses that are not 16-byte aligned
    // (rustc 1.95; the byte planes of `shuffle` for wide elements start anywhere).
    // SAFETY: the template is a comment: it only keeps `x` in a register.
    asm!("/* {0} */", inout(xmm_reg) x, options(pure, nomem, nostack, preserves_flags));
    _mm_gf2p8affine_epi64_epi8::<0>(_mm_set1_epi64x(UNITS), x)
}

/// [`super::transpose8`] of both 64-bit halves of `x` holding their rows in order, by
/// GFNI: [`transpose8x2_gfni`] of rows in order gives the transpose with the bits of
/// every byte reversed, which a second affine transform, with the unit vectors as the
/// matrix, reverses back.
///
/// # Safety
/// The processor has GFNI.
#[target_feature(enable = "gfni")]
#[inline]
unsafe fn transpose8x2_gfni_in_order(x: __m128i) -> __m128i {
    const UNITS: i64 = 0x8040_2010_0804_0201_u64 as i64;
    _mm_gf2p8affine_epi64_epi8::<0>(transpose8x2_gfni(x), _mm_set1_epi64x(UNITS))
}

/// Byte `b` of the 128 elements at positions `g0 .. g0 + 16`: register `p` holds
/// elements `16p .. 16p + 16` of the step. `GFNI`: the processor has GFNI, and the
/// caller is compiled with it enabled.
#[inline(always)]
fn byte_of_elements<const GFNI: bool>(
    planes: &[u8],
    row: usize,
    b: usize,
    g0: usize,
) -> [__m128i; 8] {
    let rows = &planes[8 * b * row + g0..];
    // Spelled out (not `array::from_fn`, which is not always inlined here).
    let at = |k: usize| load(&rows[k * row..k * row + STEP]);
    let r = if GFNI {
        [at(7), at(6), at(5), at(4), at(3), at(2), at(1), at(0)]
    } else {
        [at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7)]
    };
    // Byte-transpose the 8 rows so that each 64-bit half holds one position's bit
    // matrix (byte k from row k), then transpose the bits of every matrix.
    // SAFETY: SSE2 is part of the x86_64 baseline; unpacks only touch registers.
    let m = unsafe {
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
    };
    if GFNI {
        // SAFETY: GFNI is present (the caller's contract).
        unsafe { m.map(|x| transpose8x2_gfni(x)) }
    } else {
        m.map(transpose8x2)
    }
}

/// `rounds` perfect shuffles of the first `count` of the `N` registers (`count` a
/// power of two up to `N`): each round zips register `b` with register `b + count / 2`
/// byte by byte into registers `2b` and `2b + 1`. Numbering the bytes of the registers
/// in a row by (register, byte), a round rotates that number's bits left by one.
#[inline(always)]
fn zip_rounds<const N: usize>(regs: [__m128i; N], count: usize, rounds: usize) -> [__m128i; N] {
    let mut cur = regs;
    let half = count / 2;
    for _ in 0..rounds {
        let mut next = cur;
        for b in 0..half {
            // SAFETY: SSE2 is part of the x86_64 baseline; unpacks only touch registers.
            unsafe {
                next[2 * b] = _mm_unpacklo_epi8(cur[b], cur[b + half]);
                next[2 * b + 1] = _mm_unpackhi_epi8(cur[b], cur[b + half]);
            }
        }
        cur = next;
    }
    cur
}

/// The 16 elements of register `p` of every byte plane (`planes[b]`: byte `b` of each
/// element; `es` = 1, 2, 4 or 8 planes) put together, as `es` registers of consecutive
/// output bytes: log2(`es`) rounds of [`zip_rounds`] turn (plane, element) into
/// (element, byte).
#[inline(always)]
fn interleave(planes: [__m128i; 8], es: usize) -> [__m128i; 8] {
    zip_rounds(planes, es, es.trailing_zeros() as usize)
}

/// The inverse of [`interleave`]: the `ES` registers of 16 consecutive elements at the
/// start of `bytes` split into their `ES` byte planes (4 rounds complete the rotation
/// of the byte numbers).
#[inline(always)]
fn deinterleave<const ES: usize>(bytes: &[u8]) -> [__m128i; ES] {
    // SAFETY: SSE2 is part of the x86_64 baseline; this only sets a register.
    let mut regs = [unsafe { _mm_setzero_si128() }; ES];
    for (k, reg) in regs.iter_mut().enumerate() {
        *reg = load(&bytes[16 * k..16 * (k + 1)]);
    }
    if ES == 1 {
        return regs;
    }
    zip_rounds(regs, ES, 4)
}

/// Unshuffle positions `0 .. 16 × (row / 16)` of every row for elements of 1, 2, 4 or
/// 8 bytes, with GFNI's transposes when `gfni` (which only a processor with GFNI may
/// ask for: [`has_gfni`]); returns the first position not done (0 for other sizes).
pub fn unshuffle_wide(planes: &[u8], out: &mut [u8], es: usize, row: usize, gfni: bool) -> usize {
    assert!(
        !gfni || has_gfni(),
        "GFNI asked for on a processor without it"
    );
    // SAFETY (the GFNI arms): the processor has GFNI, checked above.
    match (es, gfni) {
        (1, false) => wide::<1, false>(planes, out, row),
        (2, false) => wide::<2, false>(planes, out, row),
        (4, false) => wide::<4, false>(planes, out, row),
        (8, false) => wide::<8, false>(planes, out, row),
        (1, true) => unsafe { wide_gfni::<1>(planes, out, row) },
        (2, true) => unsafe { wide_gfni::<2>(planes, out, row) },
        (4, true) => unsafe { wide_gfni::<4>(planes, out, row) },
        (8, true) => unsafe { wide_gfni::<8>(planes, out, row) },
        _ => 0,
    }
}

/// [`wide`] compiled with GFNI enabled, so its transposes are inlined.
///
/// # Safety
/// The processor has GFNI.
#[target_feature(enable = "gfni")]
unsafe fn wide_gfni<const ES: usize>(planes: &[u8], out: &mut [u8], row: usize) -> usize {
    wide::<ES, true>(planes, out, row)
}

/// Unshuffle the first `16 × (m / 16)` of the `m` elements `out` holds, elements
/// `first ..` of the `n` of 2, 4 or 8 bytes whose byte planes `planes` holds
/// ([`super::unshuffle_elements`]); returns how many elements were done (0 for other
/// sizes).
pub fn unshuffle_bytes_wide(
    planes: &[u8],
    n: usize,
    first: usize,
    out: &mut [u8],
    es: usize,
) -> usize {
    match es {
        2 => bytes_wide::<2>(planes, n, first, out),
        4 => bytes_wide::<4>(planes, n, first, out),
        8 => bytes_wide::<8>(planes, n, first, out),
        _ => 0,
    }
}

/// [`unshuffle_bytes_wide`] for elements of `ES` bytes.
fn bytes_wide<const ES: usize>(planes: &[u8], n: usize, first: usize, out: &mut [u8]) -> usize {
    let wide = out.len() / ES / STEP * STEP;
    for g0 in (0..wide).step_by(STEP) {
        let at = first + g0;
        let lead = load(&planes[at..at + STEP]);
        let mut bytes = [lead; 8];
        for (b, plane) in bytes.iter_mut().enumerate().take(ES).skip(1) {
            *plane = load(&planes[b * n + at..b * n + at + STEP]);
        }
        let regs = interleave(bytes, ES);
        let elements = &mut out[g0 * ES..(g0 + STEP) * ES];
        for (k, v) in regs.iter().take(ES).enumerate() {
            store(&mut elements[16 * k..16 * (k + 1)], *v);
        }
    }
    wide
}

/// [`unshuffle_wide`] for elements of `ES` bytes (compiled once per size, so that the
/// registers of every byte plane stay in registers); `GFNI` as in
/// [`byte_of_elements`].
#[inline(always)]
fn wide<const ES: usize, const GFNI: bool>(planes: &[u8], out: &mut [u8], row: usize) -> usize {
    let wide = row / STEP * STEP;
    for g0 in (0..wide).step_by(STEP) {
        let chunk = &mut out[g0 * 8 * ES..(g0 + STEP) * 8 * ES];
        let bytes: [[__m128i; 8]; ES] =
            std::array::from_fn(|b| byte_of_elements::<GFNI>(planes, row, b, g0));
        for p in 0..8 {
            let mut column = [bytes[0][p]; 8];
            for (b, plane) in bytes.iter().enumerate() {
                column[b] = plane[p];
            }
            let regs = interleave(column, ES);
            let elements = &mut chunk[16 * p * ES..16 * (p + 1) * ES];
            for (k, v) in regs.iter().take(ES).enumerate() {
                store(&mut elements[16 * k..16 * (k + 1)], *v);
            }
        }
    }
    wide
}

/// Bit-shuffle positions `0 .. 16 × (row / 16)` of every row for elements of 1 or 2
/// bytes (the inverse of [`unshuffle_wide`], same arguments with input and output
/// exchanged; [`super::shuffle`] splits wider elements into bytes first); returns the
/// first position not done (0 for other sizes).
pub fn shuffle_wide(
    elements: &[u8],
    planes: &mut [u8],
    es: usize,
    row: usize,
    gfni: bool,
) -> usize {
    let wide = row / STEP * STEP;
    let whole = [(0, wide * 8 * es)];
    if shuffle_runs_wide(elements, &whole, planes, es, row, false, gfni) {
        wide
    } else {
        0
    }
}

/// Bit-shuffle a block whose elements lie in `runs` of `bytes` (offset and length, in
/// order, each a whole number of steps of [`super::RUN_ELEMENTS`] elements of `es` bytes,
/// `row / 16` steps in all), each element byte-reversed first when `swapped`, with GFNI's
/// transposes when `gfni`; false (nothing done) for elements other than 1 or 2 bytes.
pub fn shuffle_runs_wide(
    bytes: &[u8],
    runs: &[(usize, usize)],
    planes: &mut [u8],
    es: usize,
    row: usize,
    swapped: bool,
    gfni: bool,
) -> bool {
    assert!(
        !gfni || has_gfni(),
        "GFNI asked for on a processor without it"
    );
    // SAFETY (the GFNI arms): the processor has GFNI, checked above.
    match (es, gfni) {
        (1, false) => forward::<1, false>(bytes, runs, planes, row, false),
        (2, false) => forward::<2, false>(bytes, runs, planes, row, swapped),
        (1, true) => unsafe { forward_gfni::<1>(bytes, runs, planes, row, false) },
        (2, true) => unsafe { forward_gfni::<2>(bytes, runs, planes, row, swapped) },
        _ => return false,
    }
    true
}

/// [`forward`] compiled with GFNI enabled, so its transposes are inlined.
///
/// # Safety
/// The processor has GFNI.
#[target_feature(enable = "gfni")]
unsafe fn forward_gfni<const ES: usize>(
    bytes: &[u8],
    runs: &[(usize, usize)],
    planes: &mut [u8],
    row: usize,
    swapped: bool,
) {
    forward::<ES, true>(bytes, runs, planes, row, swapped)
}

/// Bit-shuffle the `runs` of `bytes` (offset, length: consecutive steps of 16 positions,
/// 128 elements of `ES` bytes each) into the rows of `planes` (`row` bytes each); with
/// `swapped`, the bytes of each element are taken in reverse order (big-endian values
/// shuffled as the little-endian ones they are). Per step: each register's 16 elements are split into
/// byte planes ([`deinterleave`]); the 8 registers of byte `b` hold the 16 bit matrices
/// of the step (two per register, one per 64-bit half), which are transposed, and 4
/// rounds of [`zip_rounds`] turn (matrix, row) into (row, matrix): the 16 bytes of each
/// bit row.
#[inline(always)]
fn forward<const ES: usize, const GFNI: bool>(
    bytes: &[u8],
    runs: &[(usize, usize)],
    planes: &mut [u8],
    row: usize,
    swapped: bool,
) {
    // One byte of the elements at a time, so that only its 8 rows are written at once
    // (rows lie a power of two apart; 16 or more would evict each other from L1).
    for b in 0..ES {
        // The rows of stored byte `b`: those of the value's byte `ES - 1 - b` when the
        // stored bytes are reversed.
        let rows = 8 * if swapped { ES - 1 - b } else { b };
        let mut g0 = 0;
        for (i, &(at, len)) in runs.iter().enumerate() {
            if b == 0 {
                if let Some(&(next, len)) = runs.get(i + AHEAD) {
                    for line in bytes[next..next + len].chunks(64) {
                        // SAFETY: a prefetch only hints the cache; the address is inside a slice.
                        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
                    }
                }
            }
            for chunk in bytes[at..at + len].chunks_exact(STEP * 8 * ES) {
                // Plane `b` of each register's 16 elements.
                // SAFETY: SSE2 is part of the x86_64 baseline; this only sets a register.
                let mut matrices = [unsafe { _mm_setzero_si128() }; 8];
                for (p, m) in matrices.iter_mut().enumerate() {
                    *m = deinterleave::<ES>(&chunk[16 * p * ES..])[b];
                }
                let transposed = if GFNI {
                    // SAFETY: GFNI is present (the caller's contract).
                    unsafe { matrices.map(|x| transpose8x2_gfni_in_order(x)) }
                } else {
                    matrices.map(transpose8x2)
                };
                let out = zip_rounds(transposed, 8, 4);
                for (k, v) in out.iter().enumerate() {
                    let at = (rows + k) * row + g0;
                    store(&mut planes[at..at + STEP], *v);
                }
                g0 += STEP;
            }
        }
    }
}

/// Byte-shuffle the first `16 × (n / 16)` of the `n` elements of 2, 4 or 8 bytes in
/// `input` into the planes of `out` (plane `b` at `out[b * n..]`); returns how many
/// elements were done (0 for other sizes).
pub fn shuffle_bytes_wide(input: &[u8], out: &mut [u8], n: usize, es: usize) -> usize {
    match es {
        2 => bytes_forward::<2>(input, out, n),
        4 => bytes_forward::<4>(input, out, n),
        8 => bytes_forward::<8>(input, out, n),
        _ => 0,
    }
}

/// [`shuffle_bytes_wide`] for elements of `ES` bytes.
fn bytes_forward<const ES: usize>(input: &[u8], out: &mut [u8], n: usize) -> usize {
    let wide = n / STEP * STEP;
    for i0 in (0..wide).step_by(STEP) {
        let planes = deinterleave::<ES>(&input[i0 * ES..(i0 + STEP) * ES]);
        for (b, v) in planes.iter().enumerate() {
            store(&mut out[b * n + i0..b * n + i0 + STEP], *v);
        }
    }
    wide
}
