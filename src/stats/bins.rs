//! The histogram pass of data without a value table (32- and 64-bit integers, floats,
//! complex, RGB): typed loops that put each finite value in its bin exactly as
//! [`Histogram::bin`] does, without its division.
//!
//! A value's bin, `floor((v − start) / width)` clamped to the bins, never decreases as `v`
//! grows (every rounding step is monotonic). So bin `k` begins at a threshold: the smallest
//! `f64` whose bin is `k` or more, found once per histogram by bisection over the ordered
//! `f64` bit patterns. Per element, a multiplication by `1 / width` guesses the bin and
//! comparisons with the thresholds on either side correct the guess: the bin is the
//! division's, bit for bit. Counts go to [`SUB`] interleaved sub-histograms so runs of
//! values in the same bin do not wait on each other's increments.

use emio_core::half::f16;
use emio_core::DType;

use super::kernels::{Bit, Number};
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
/// `binner`).
pub(super) fn fill(dtype: DType, bytes: &[u8], binner: &Binner, counts: &mut [u64]) {
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
        DType::F32 => typed::<f32>(bytes, binner, counts),
        DType::F64 => typed::<f64>(bytes, binner, counts),
        _ => crate::values::for_each(dtype, bytes, |v| {
            if v.is_finite() {
                counts[binner.bin(v)] += 1;
            }
        }),
    }
}

/// [`fill`] for elements of type `T`.
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
