//! What the statistics run on x86_64 processors with AVX2 (detected once, at run time, by
//! core, whose summary kernels have their own AVX2 build): an AVX2 build of the portable
//! histogram kernels, and a counting loop for the value tables ([`super::table`]) written
//! with AVX2 instructions. The portable code stays the fallback and the reference the
//! proptests compare these with.
//!
//! In the counting loop, a block is 64 bytes (32 `u16` or 64 `u8` elements) in two 256-bit
//! registers. Each of the [`COMMON`] common values is compared with every lane, and the
//! comparison masks (−1 per equal lane) are subtracted from lane counters of the element
//! width, so equal elements are counted without touching memory. Blocks with a few elements
//! that match none of the common values (a `movemask` of the combined masks) increment
//! those elements one by one, element `l` of the block in sub-table `l % SUB`; blocks with
//! many (the bright disc of a diffraction pattern) increment every element instead, without
//! a branch per element. Lane counters grow by at most 2 per block and are folded into
//! 64-bit totals before they could overflow.

use std::arch::x86_64::{
    __m256i, _mm256_add_epi16, _mm256_add_epi32, _mm256_add_epi8, _mm256_and_si256,
    _mm256_cmpeq_epi16, _mm256_cmpeq_epi8, _mm256_cmpgt_epi32, _mm256_cmpgt_epi64,
    _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256, _mm256_sad_epu8, _mm256_set1_epi16,
    _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_set1_epi8, _mm256_setzero_si256,
    _mm256_srli_epi32, _mm256_storeu_si256, _mm256_sub_epi16, _mm256_sub_epi32, _mm256_sub_epi64,
    _mm256_sub_epi8,
};

use emio_core::summary::Element;
use emio_core::DType;

use super::bins::{portable_fill, Binner};
use super::table::{count_group, Raw, COMMON, PREFETCH_AHEAD, SUB};

/// Whether this processor runs AVX2 (core's one check; also for `reduce`'s AVX2 build).
pub(crate) use emio_core::summary::avx2::available;

/// [`super::bins::fill`] compiled for AVX2.
///
/// # Safety
/// The processor must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn fill(dtype: DType, bytes: &[u8], binner: &Binner, counts: &mut [u64]) {
    portable_fill(dtype, bytes, binner, counts)
}

/// An order key [`count_at_least`] compares in 256-bit registers.
pub(super) trait Key: Copy + Ord {
    /// Keys per register.
    const PER_REGISTER: usize;
    /// The key just below this one (none below the smallest).
    fn predecessor(self) -> Option<Self>;
    /// Every lane set to `k`.
    fn splat(k: Self) -> __m256i;
    /// −1 in the lanes where `a > b`, 0 elsewhere.
    fn greater(a: __m256i, b: __m256i) -> __m256i;
    /// Lane-wise `a − b` (wrapping).
    fn sub(a: __m256i, b: __m256i) -> __m256i;
    /// The sum of the lanes (each a small non-negative count).
    fn total(counters: __m256i) -> u64;
}

// SAFETY (every `unsafe` block of the two impls below): these run only inlined into
// `count_at_least`, which is compiled with AVX2 and called only after `available()`
// confirmed the processor has it; the intrinsics only touch registers and a local array.
impl Key for i32 {
    const PER_REGISTER: usize = 8;
    fn predecessor(self) -> Option<i32> {
        self.checked_sub(1)
    }
    #[inline(always)]
    fn splat(k: i32) -> __m256i {
        unsafe { _mm256_set1_epi32(k) }
    }
    #[inline(always)]
    fn greater(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_cmpgt_epi32(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn total(counters: __m256i) -> u64 {
        let mut lanes = [0i32; 8];
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), counters) };
        lanes.iter().map(|&n| n as u64).sum()
    }
}

impl Key for i64 {
    const PER_REGISTER: usize = 4;
    fn predecessor(self) -> Option<i64> {
        self.checked_sub(1)
    }
    #[inline(always)]
    fn splat(k: i64) -> __m256i {
        unsafe { _mm256_set1_epi64x(k) }
    }
    #[inline(always)]
    fn greater(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_cmpgt_epi64(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_sub_epi64(a, b) }
    }
    #[inline(always)]
    fn total(counters: __m256i) -> u64 {
        let mut lanes = [0i64; 4];
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), counters) };
        lanes.iter().map(|&n| n as u64).sum()
    }
}

/// Add to `above[i]` how many of `keys` are `starts[i]` or more (at most 2^31 keys): two
/// registers of keys compared with each start per step, the masks (−1 where greater than
/// the key just below the start) subtracted from lane counters.
///
/// # Safety
/// The processor must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn count_at_least<K: Key>(keys: &[K], starts: &[K], above: &mut [u64]) {
    let parts = keys.chunks_exact(2 * K::PER_REGISTER);
    let rest = parts.remainder();
    for (a, &start) in above.iter_mut().zip(starts) {
        let Some(below) = start.predecessor() else {
            // Every key is at least the smallest one.
            *a += keys.len() as u64;
            continue;
        };
        let below = K::splat(below);
        let (mut c0, mut c1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for part in parts.clone() {
            // SAFETY: `part` holds two registers' worth of keys: both unaligned loads are
            // inside it.
            let (x0, x1) = unsafe {
                let p = part.as_ptr().cast::<__m256i>();
                (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
            };
            c0 = K::sub(c0, K::greater(x0, below));
            c1 = K::sub(c1, K::greater(x1, below));
        }
        let tail = rest.iter().filter(|&&key| key >= start).count() as u64;
        *a += K::total(c0) + K::total(c1) + tail;
    }
}

/// An element width the AVX2 loop counts: its lane operations.
pub(super) trait Lanes {
    /// Blocks after which the lane counters are folded (each grows by at most 2 a block).
    const FOLD_EVERY: usize;
    /// Every lane set to `v`.
    fn splat(v: u16) -> __m256i;
    /// −1 in the lanes where `a` and `b` are equal, 0 elsewhere.
    fn equal(a: __m256i, b: __m256i) -> __m256i;
    /// Lane-wise `a + b` (wrapping).
    fn add(a: __m256i, b: __m256i) -> __m256i;
    /// Lane-wise `a − b` (wrapping).
    fn sub(a: __m256i, b: __m256i) -> __m256i;
    /// The sum of every lane counter.
    fn total(counters: __m256i) -> u64;
    /// The block's bits of `movemask` that stand for whole elements: one per element.
    const ELEMENT_BITS: u64;
    /// The element that `movemask` bit `bit` belongs to.
    fn element_of(bit: u32) -> usize;
    /// The elements as the tables read them one by one (their size is the lanes' width).
    type Raw: Raw;
}

/// 16-bit elements read as `R`: `u16`, or `Swapped16` for bytes in the other order
/// (compared with the common values' bytes reversed, and reversed as they are read one by
/// one, so the tables index native values).
pub(super) struct U16<R>(std::marker::PhantomData<R>);
/// 8-bit elements.
pub(super) struct U8;

// SAFETY (every `unsafe` block of the two impls below): these functions run only inside
// `count`, which is compiled with AVX2 enabled and called only after `available()`
// confirmed the processor has it; the intrinsics only touch registers.
impl<R: Raw> Lanes for U16<R> {
    const FOLD_EVERY: usize = 32_767;
    #[inline(always)]
    fn splat(v: u16) -> __m256i {
        let stored = if R::SWAPPED { v.swap_bytes() } else { v };
        unsafe { _mm256_set1_epi16(stored as i16) }
    }
    #[inline(always)]
    fn equal(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_cmpeq_epi16(a, b) }
    }
    #[inline(always)]
    fn add(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi16(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_sub_epi16(a, b) }
    }
    #[inline(always)]
    fn total(counters: __m256i) -> u64 {
        let mut lanes = [0u32; 8];
        unsafe {
            let low = _mm256_and_si256(counters, _mm256_set1_epi32(0xffff));
            let high = _mm256_srli_epi32::<16>(counters);
            _mm256_storeu_si256(
                lanes.as_mut_ptr().cast::<__m256i>(),
                _mm256_add_epi32(low, high),
            );
        }
        lanes.iter().map(|&n| u64::from(n)).sum()
    }
    const ELEMENT_BITS: u64 = 0x5555_5555_5555_5555;
    #[inline(always)]
    fn element_of(bit: u32) -> usize {
        bit as usize / 2
    }
    type Raw = R;
}

impl Lanes for U8 {
    const FOLD_EVERY: usize = 127;
    #[inline(always)]
    fn splat(v: u16) -> __m256i {
        unsafe { _mm256_set1_epi8(v as u8 as i8) }
    }
    #[inline(always)]
    fn equal(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_cmpeq_epi8(a, b) }
    }
    #[inline(always)]
    fn add(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi8(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_sub_epi8(a, b) }
    }
    #[inline(always)]
    fn total(counters: __m256i) -> u64 {
        let mut lanes = [0u64; 4];
        unsafe {
            let sums = _mm256_sad_epu8(counters, _mm256_setzero_si256());
            _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), sums);
        }
        lanes.iter().sum()
    }
    const ELEMENT_BITS: u64 = u64::MAX;
    #[inline(always)]
    fn element_of(bit: u32) -> usize {
        bit as usize
    }
    type Raw = u8;
}

/// Bytes per block.
const BLOCK_BYTES: usize = 64;

/// The share of a block's elements (numerator, denominator) beyond which, if that many
/// match no common value, the block is counted whole by plain increments.
const DENSE: (usize, usize) = (1, 4);

/// Count the elements of `bytes` (of `L`'s width) into the sub-tables `subs`: those equal
/// to one of `common` by lane counters, added to sub-table 0 at the end, the others one by
/// one (element `l` of a block in sub-table `l % SUB`). A block in which more than
/// [`DENSE`] of the elements match no common value (the disc of a diffraction pattern) is
/// counted whole by plain increments ([`count_group`]): a loop over its missed elements
/// would cost a bit scan and an unpredictable branch each. Every block asks for the one
/// [`PREFETCH_AHEAD`] bytes further: without it the loop waited on memory at every block's
/// first load (the hardware prefetcher stops at page boundaries): `emconvert stats` of
/// the realistic 1 GiB MIB took 178 ms (0.67× `cat`), with it 82 ms (1.46×).
/// Returns how many elements were counted one by one.
///
/// # Safety
/// The processor must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn count<L: Lanes, const K: usize>(
    subs: &mut [&mut [u32; K]; SUB],
    common: [u16; COMMON],
    bytes: &[u8],
) -> u64 {
    let splats = common.map(L::splat);
    let mut totals = [0u64; COMMON];
    let mut scattered = 0u64;
    let elements = BLOCK_BYTES / L::Raw::SIZE;
    let blocks = bytes.chunks_exact(BLOCK_BYTES);
    let rest = blocks.remainder();
    let whole = &bytes[..bytes.len() - rest.len()];
    for group in whole.chunks(BLOCK_BYTES * L::FOLD_EVERY) {
        let mut counters = [_mm256_setzero_si256(); COMMON];
        for (i, block) in group.chunks_exact(BLOCK_BYTES).enumerate() {
            let ahead = i * BLOCK_BYTES + PREFETCH_AHEAD;
            if let Some(far) = group.get(ahead..ahead + 1) {
                emio_core::scan::prefetch(far);
            }
            // SAFETY: `block` is 64 bytes long: both unaligned 32-byte loads are inside it.
            let (a, b) = unsafe {
                let p = block.as_ptr().cast::<__m256i>();
                (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
            };
            let equal = splats.map(|v| (L::equal(a, v), L::equal(b, v)));
            let (mut any_a, mut any_b) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            for &(ea, eb) in &equal {
                any_a = _mm256_or_si256(any_a, ea);
                any_b = _mm256_or_si256(any_b, eb);
            }
            let matched = u64::from(_mm256_movemask_epi8(any_a) as u32)
                | u64::from(_mm256_movemask_epi8(any_b) as u32) << 32;
            let mut missed = !matched & L::ELEMENT_BITS;
            let n_missed = missed.count_ones() as usize;
            if n_missed * DENSE.1 > elements * DENSE.0 {
                for group in block.chunks_exact(L::Raw::SIZE * SUB) {
                    count_group::<L::Raw, K>(subs, group);
                }
                scattered += elements as u64;
                continue;
            }
            for (counter, &(ea, eb)) in counters.iter_mut().zip(&equal) {
                *counter = L::sub(*counter, L::add(ea, eb));
            }
            scattered += n_missed as u64;
            while missed != 0 {
                let l = L::element_of(missed.trailing_zeros());
                let x = L::Raw::read(&block[l * L::Raw::SIZE..(l + 1) * L::Raw::SIZE]);
                subs[l % SUB][x.index() & (K - 1)] += 1;
                missed &= missed - 1;
            }
        }
        for (t, &c) in totals.iter_mut().zip(&counters) {
            *t += L::total(c);
        }
    }
    for e in rest.chunks_exact(L::Raw::SIZE) {
        subs[0][L::Raw::read(e).index() & (K - 1)] += 1;
        scattered += 1;
    }
    for (&v, &t) in common.iter().zip(&totals) {
        // The caller keeps every counter below 2^32 (it folds sub-tables in time).
        subs[0][usize::from(v) & (K - 1)] += t as u32;
    }
    scattered
}
