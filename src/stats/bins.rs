//! The histogram pass of data without a value table (32- and 64-bit integers, floats,
//! complex, RGB): typed loops that put each finite value in its bin exactly as
//! [`Histogram::bin`] does, without its division.
//!
//! `f32` and `f64` data with up to [`COMPARED_BINS`] bins (the default is 16) is counted
//! without looking bins up at all: every element's order key is compared with the key of
//! every bin's first value, in vector lanes ([`compared`]). Other data looks up each
//! value's bin, as follows.
//!
//! A value's bin, `floor((v − start) / width)` clamped to the bins, never decreases as `v`
//! grows (every rounding step is monotonic). So bin `k` begins at a threshold: the smallest
//! `f64` whose bin is `k` or more, found once per histogram by bisection over the ordered
//! `f64` bit patterns. Per element, a multiplication by `1 / width` guesses the bin and
//! comparisons with the thresholds on either side correct the guess: the bin is the
//! division's, bit for bit. Counts go to [`SUB`] interleaved sub-histograms so runs of
//! values in the same bin do not wait on each other's increments.

use emio_core::half::f16;
use emio_core::summary::{Bit, Float, Number};
use emio_core::DType;

use super::Histogram;

/// Interleaved sub-histograms.
const SUB: usize = 4;

/// Elements per piece whose counts fit a `u32` counter.
const PIECE: usize = 1 << 31;

/// Finds the bin of a value of one histogram.
pub(super) struct Binner {
    start: f64,
    /// 1 / width: the guess.
    inverse: f64,
    /// Index of the last bin.
    last: usize,
    /// `thresholds[k]`: the smallest value in bin `k` or above (−∞ for bin 0, +∞ past the
    /// last bin or for bins no value reaches).
    thresholds: Vec<f64>,
}

impl Binner {
    /// The binner of `h`'s bins.
    pub(super) fn new(h: &Histogram) -> Binner {
        let n = h.counts.len();
        let mut thresholds = Vec::with_capacity(n + 1);
        thresholds.push(f64::NEG_INFINITY);
        for k in 1..n {
            thresholds.push(first_in(h, k));
        }
        thresholds.push(f64::INFINITY);
        Binner {
            start: h.start,
            inverse: 1.0 / h.width,
            last: n - 1,
            thresholds,
        }
    }

    /// How many bins.
    pub(super) fn bins(&self) -> usize {
        self.last + 1
    }

    /// The bin of the finite value `v`.
    #[inline(always)]
    pub(super) fn bin(&self, v: f64) -> usize {
        let guess = (v - self.start) * self.inverse;
        let mut b = if guess >= 1.0 {
            (guess as usize).min(self.last)
        } else {
            0
        };
        while v < self.thresholds[b] {
            b -= 1;
        }
        while v >= self.thresholds[b + 1] {
            b += 1;
        }
        b
    }
}

/// The smallest finite `f64` whose bin in `h` is `k` or more (+∞ if none).
fn first_in(h: &Histogram, k: usize) -> f64 {
    let (mut lo, mut hi) = (key(-f64::MAX), key(f64::MAX));
    if h.bin(from_key(hi)) < k {
        return f64::INFINITY;
    }
    if h.bin(from_key(lo)) >= k {
        return -f64::MAX;
    }
    // bin(lo) < k <= bin(hi)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if h.bin(from_key(mid)) >= k {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    from_key(hi)
}

/// `x`'s bits as a key ordered like the numbers.
fn key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The `f64` of a [`key`].
fn from_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// Count every finite value of one region's bytes (`dtype`) into `counts` (one per bin of
/// `binner`), by the fastest build this processor runs (AVX2 where present).
pub(super) fn fill(dtype: DType, bytes: &[u8], binner: &Binner, counts: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    if super::avx2::available() {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe { super::avx2::fill(dtype, bytes, binner, counts) };
    }
    portable_fill(dtype, bytes, binner, counts)
}

/// [`fill`] in code for any processor (and, inlined into an AVX2 function, the AVX2 build).
#[inline(always)]
pub(super) fn portable_fill(dtype: DType, bytes: &[u8], binner: &Binner, counts: &mut [u64]) {
    match dtype {
        DType::Bool => typed::<Bit>(bytes, binner, counts),
        DType::U8 => typed::<u8>(bytes, binner, counts),
        DType::I8 => typed::<i8>(bytes, binner, counts),
        DType::U16 => typed::<u16>(bytes, binner, counts),
        DType::I16 => typed::<i16>(bytes, binner, counts),
        DType::U32 => typed::<u32>(bytes, binner, counts),
        DType::I32 => typed::<i32>(bytes, binner, counts),
        DType::U64 => typed::<u64>(bytes, binner, counts),
        DType::I64 => typed::<i64>(bytes, binner, counts),
        DType::F16 => typed::<f16>(bytes, binner, counts),
        DType::F32 if binner.bins() <= COMPARED_BINS => compared::<f32>(bytes, binner, counts),
        DType::F64 if binner.bins() <= COMPARED_BINS => compared::<f64>(bytes, binner, counts),
        DType::F32 => typed::<f32>(bytes, binner, counts),
        DType::F64 => typed::<f64>(bytes, binner, counts),
        _ => crate::values::for_each(dtype, bytes, |v| {
            if v.is_finite() {
                counts[binner.bin(v)] += 1;
            }
        }),
    }
}

/// A float type whose histograms are counted by comparing keys ([`compared`]).
trait Compared: Float {
    /// The key of the smallest value of this type that is `t` or more, in the order of
    /// [`Float::key`] (−0 below +0, as [`Binner`]'s thresholds are found).
    fn first_key_at_least(t: f64) -> Self::Key;
    /// Add to `above[i]` how many of `keys` are `starts[i]` or more, by the fastest loop
    /// this processor runs.
    fn count_at_least(keys: &[Self::Key], starts: &[Self::Key], above: &mut [u64]);
}

impl Compared for f32 {
    fn first_key_at_least(t: f64) -> i32 {
        let f = t as f32;
        if f64::from(f) < t { f.next_up() } else { f }.key()
    }
    #[inline(always)]
    fn count_at_least(keys: &[i32], starts: &[i32], above: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if super::avx2::available() {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { super::avx2::count_at_least(keys, starts, above) };
        }
        portable_count_at_least(keys, starts, above);
    }
}

impl Compared for f64 {
    fn first_key_at_least(t: f64) -> i64 {
        t.key()
    }
    #[inline(always)]
    fn count_at_least(keys: &[i64], starts: &[i64], above: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if super::avx2::available() {
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { super::avx2::count_at_least(keys, starts, above) };
        }
        portable_count_at_least(keys, starts, above);
    }
}

/// [`Compared::count_at_least`] in code for any processor.
pub(super) fn portable_count_at_least<K: Copy + Ord>(keys: &[K], starts: &[K], above: &mut [u64]) {
    for (a, &start) in above.iter_mut().zip(starts) {
        *a += keys.iter().filter(|&&key| key >= start).count() as u64;
    }
}

/// Histograms of at most this many bins are counted by comparisons with every bin's start
/// ([`compared`]); larger ones look each value's bin up ([`typed`]).
const COMPARED_BINS: usize = 32;

/// Elements whose keys [`compared`] takes at once (8 KiB of `f32` keys: they stay in the
/// L1 cache while every bin's start is compared with them).
const KEYS: usize = 2048;

/// [`fill`] for floats by counting, for every bin `k`, the elements at or above the bin's
/// first value (as keys, in vector lanes): bin `k` holds those above its start but not
/// above the next bin's. The last start is +∞, so infinities and NaNs with the sign bit
/// clear drop out; −∞ and NaNs with the sign bit set are below every start.
#[inline(always)]
fn compared<T: Compared>(bytes: &[u8], binner: &Binner, counts: &mut [u64]) {
    let n = counts.len();
    // Start of bin 0: the smallest finite value; of bin n: +∞.
    let starts: Vec<T::Key> = (0..=n)
        .map(|k| match k {
            0 => T::first_key_at_least(-f64::MAX),
            k => T::first_key_at_least(binner.thresholds[k]),
        })
        .collect();
    let mut above = vec![0u64; n + 1];
    let mut keys = [T::KEY_MIN; KEYS];
    for group in bytes.chunks(T::SIZE * KEYS) {
        let keys = &mut keys[..group.len() / T::SIZE];
        for (key, e) in keys.iter_mut().zip(group.chunks_exact(T::SIZE)) {
            *key = T::read(e).key();
        }
        T::count_at_least(keys, &starts, &mut above);
    }
    for (k, c) in counts.iter_mut().enumerate() {
        *c += above[k] - above[k + 1];
    }
}

/// [`fill`] for elements of type `T`.
#[inline(always)]
fn typed<T: Number>(bytes: &[u8], binner: &Binner, counts: &mut [u64]) {
    let n = counts.len();
    let mut sub = vec![0u32; SUB * n];
    let add = |sub: &mut [u32], k: usize, e: &[u8]| {
        let v = T::read(e).to_f64();
        if v.is_finite() {
            sub[k * n + binner.bin(v)] += 1;
        }
    };
    for piece in bytes.chunks(T::SIZE * PIECE) {
        let blocks = piece.chunks_exact(T::SIZE * SUB);
        let rest = blocks.remainder();
        for block in blocks {
            for (k, e) in block.chunks_exact(T::SIZE).enumerate() {
                add(&mut sub, k, e);
            }
        }
        for e in rest.chunks_exact(T::SIZE) {
            add(&mut sub, 0, e);
        }
        for s in sub.chunks_exact_mut(n) {
            for (c, x) in counts.iter_mut().zip(s.iter_mut()) {
                *c += u64::from(*x);
                *x = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fastest comparison loop this processor runs counts as the portable one,
        /// for both key widths, extreme starts included.
        #[test]
        fn the_comparison_loops_agree(
            keys in proptest::collection::vec(any::<i64>(), 0..300),
            starts in proptest::collection::vec(
                prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(0)],
                1..20,
            ),
        ) {
            let narrow = |v: &[i64]| v.iter().map(|&k| (k >> 32) as i32).collect::<Vec<i32>>();
            let (keys32, starts32) = (narrow(&keys), narrow(&starts));
            let mut fast = vec![0u64; starts.len()];
            let mut plain = vec![0u64; starts.len()];
            f32::count_at_least(&keys32, &starts32, &mut fast);
            portable_count_at_least(&keys32, &starts32, &mut plain);
            prop_assert_eq!(&fast, &plain);
            let mut fast = vec![0u64; starts.len()];
            let mut plain = vec![0u64; starts.len()];
            f64::count_at_least(&keys, &starts, &mut fast);
            portable_count_at_least(&keys, &starts, &mut plain);
            prop_assert_eq!(fast, plain);
        }
    }
}
