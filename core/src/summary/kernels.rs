//! Typed per-region moment kernels: the [`Summary`] of one region's bytes, read as a typed
//! slice in plain loops the compiler vectorises, instead of one `f64` callback per element.
//!
//! - Integers: one loop for min, max and the exact sum (`i64` per block of at most 2^24
//!   elements, `i128` for 64-bit types). 8- and 16-bit integers and bool also sum their
//!   squares exactly (a `u32` product into `u64`), so the squared deviations come out of
//!   `n·Σx² − (Σx)²` in `i128` without cancellation; wider integers take a second loop over
//!   the region, still in cache, for `Σ(x − mean)²` in `f64` lanes.
//! - Floats: one loop for sum (in independent `f64` lanes), min and max (of integer keys
//!   ordered as the numbers, which vectorise where floating-point comparisons do not),
//!   assuming every value is finite. If the sum is not finite (a NaN or an infinity was there, or the sum
//!   overflowed) the region is summarised again by the exact per-element path, which counts
//!   the special values; otherwise a second loop in cache sums `(x − mean)²` in lanes.
//! - Complex and RGB elements, reduced to one number by [`crate::values`], take the
//!   per-element path ([`exact`]).

use half::f16;

use crate::DType;

use super::Summary;

/// Independent accumulators per loop: enough to hide the latency of a floating-point add
/// and to fill several vector registers.
const LANES: usize = 16;

/// Elements per block whose integer sums stay within `i64` (and squares of 16-bit values
/// within `u64`) whatever the values.
const BLOCK: usize = 1 << 24;

/// An element type read out of native-endian bytes.
pub trait Element: Copy {
    /// Bytes per element.
    const SIZE: usize;
    /// The element in `b` (exactly [`Self::SIZE`] bytes).
    fn read(b: &[u8]) -> Self;
}

/// An element that is one real number.
pub trait Number: Element {
    /// The element's value.
    fn to_f64(self) -> f64;
}

macro_rules! element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            fn read(b: &[u8]) -> Self {
                <$t>::from_ne_bytes(b.try_into().expect("element size"))
            }
        }

        impl Number for $t {
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
element!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

impl Element for f16 {
    const SIZE: usize = 2;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        f16::from_bits(u16::read(b))
    }
}

impl Number for f16 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// A bool element: 0 or 1 (any non-zero byte is true).
#[derive(Clone, Copy)]
pub struct Bit(u8);

impl Element for Bit {
    const SIZE: usize = 1;
    #[inline(always)]
    fn read(b: &[u8]) -> Self {
        Bit(u8::from(b[0] != 0))
    }
}

impl Number for Bit {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self.0)
    }
}

impl From<Bit> for i128 {
    fn from(b: Bit) -> i128 {
        i128::from(b.0)
    }
}

/// Bytes summarised at a time: the kernels look at their values twice (the sums and
/// extremes, then the squared deviations from their mean), the second time in the L2
/// cache. The MRC writer hands over 16 MiB regions; summarised whole, its conversion of a
/// 1 GiB `f32` spectrum image took a tenth more processor time.
const CACHED_BYTES: usize = 1 << 20;

/// The summary of one region's bytes (C order, native-endian `dtype`), by the fastest
/// build of the kernels this processor runs (AVX2 where present), a piece of at most
/// a megabyte (`CACHED_BYTES`) at a time.
pub fn summary_of(dtype: DType, bytes: &[u8]) -> Summary {
    let piece = CACHED_BYTES / dtype.size() * dtype.size();
    if bytes.len() <= piece {
        return summary_of_piece(dtype, bytes);
    }
    let mut summary = Summary::default();
    for part in bytes.chunks(piece) {
        summary.merge(&summary_of_piece(dtype, part));
    }
    summary
}

/// [`summary_of`] of one piece.
fn summary_of_piece(dtype: DType, bytes: &[u8]) -> Summary {
    #[cfg(target_arch = "x86_64")]
    if super::avx2::available() {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe { super::avx2::summary(dtype, bytes) };
    }
    portable_summary(dtype, bytes)
}

/// [`summary_of`] in code for any processor (and, inlined into an AVX2 function, the AVX2
/// build).
#[inline(always)]
pub(super) fn portable_summary(dtype: DType, bytes: &[u8]) -> Summary {
    match dtype {
        DType::Bool => integers::<Bit>(bytes),
        DType::U8 => integers::<u8>(bytes),
        DType::I8 => integers::<i8>(bytes),
        DType::U16 => integers::<u16>(bytes),
        DType::I16 => integers::<i16>(bytes),
        DType::U32 => integers::<u32>(bytes),
        DType::I32 => integers::<i32>(bytes),
        DType::U64 => integers::<u64>(bytes),
        DType::I64 => integers::<i64>(bytes),
        DType::F16 => floats::<f16>(dtype, bytes),
        DType::F32 => floats::<f32>(dtype, bytes),
        DType::F64 => floats::<f64>(dtype, bytes),
        _ => exact(dtype, bytes),
    }
}

/// The summary of integer elements: exact sums, extremes, and squared deviations exact for
/// 8- and 16-bit types.
#[inline(always)]
fn integers<T: Number + Into<i128>>(bytes: &[u8]) -> Summary {
    let n = (bytes.len() / T::SIZE) as u64;
    if n == 0 {
        return Summary::default();
    }
    let value = |b: &[u8]| -> i128 { T::read(b).into() };
    let (mut min, mut max) = (i128::MAX, i128::MIN);
    let (mut sum, mut squares) = (0i128, 0u128);
    for block in bytes.chunks(T::SIZE * BLOCK) {
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        if T::SIZE <= 2 {
            // |x| < 2^16, so x² < 2^32 and a block's sums fit 64 bits.
            let (mut s, mut q) = (0i64, 0u64);
            for b in block.chunks_exact(T::SIZE) {
                let x = value(b) as i64;
                lo = lo.min(x);
                hi = hi.max(x);
                s += x;
                let a = x.unsigned_abs() as u32;
                q += u64::from(a * a);
            }
            sum += i128::from(s);
            squares += u128::from(q);
        } else if T::SIZE == 4 {
            let mut s = 0i64;
            for b in block.chunks_exact(T::SIZE) {
                let x = value(b) as i64;
                lo = lo.min(x);
                hi = hi.max(x);
                s += x;
            }
            sum += i128::from(s);
        } else {
            for b in block.chunks_exact(T::SIZE) {
                let x = value(b);
                min = min.min(x);
                max = max.max(x);
                sum += x;
            }
        }
        if lo <= hi {
            min = min.min(i128::from(lo));
            max = max.max(i128::from(hi));
        }
    }
    let count = n as f64;
    let mean = sum as f64 / count;
    let m2 = if T::SIZE <= 2 {
        // n·Σx² − (Σx)² = n·Σ(x − mean)²: exact in i128 (n < 2^40, Σx² < 2^72).
        let n = i128::from(n);
        (n * squares as i128 - sum * sum) as f64 / count
    } else {
        squared_deviations::<T>(bytes, mean)
    };
    Summary {
        count: n,
        min: min as f64,
        max: max as f64,
        sum: sum as f64,
        mean,
        m2,
        ..Summary::default()
    }
}

/// A floating-point element of the fast summary lanes: its value, and an integer key that
/// orders finite values as the numbers (integer minimum and maximum vectorise where the
/// floating-point ones do not).
pub trait Float: Number {
    /// The ordered key.
    type Key: Copy + Ord;
    /// The key below and above every other.
    const KEY_MIN: Self::Key;
    /// See [`Float::KEY_MIN`].
    const KEY_MAX: Self::Key;
    /// The key of a finite value (−0 orders just below +0).
    fn key(self) -> Self::Key;
    /// The value of a key.
    fn from_key(key: Self::Key) -> f64;
}

macro_rules! float_key {
    ($t:ty, $bits:ty, $key:ty, $shift:expr) => {
        impl Float for $t {
            type Key = $key;
            const KEY_MIN: $key = <$key>::MIN;
            const KEY_MAX: $key = <$key>::MAX;
            #[inline(always)]
            fn key(self) -> $key {
                let b = self.to_bits() as $key;
                // Negative numbers: flip every bit but the sign, so larger magnitudes order
                // lower.
                b ^ ((b >> $shift) & <$key>::MAX)
            }
            fn from_key(key: $key) -> f64 {
                let b = key ^ ((key >> $shift) & <$key>::MAX);
                f64::from(<$t>::from_bits(b as $bits))
            }
        }
    };
}
float_key!(f32, u32, i32, 31);
float_key!(f64, u64, i64, 63);

impl Float for f16 {
    type Key = i32;
    const KEY_MIN: i32 = i32::MIN;
    const KEY_MAX: i32 = i32::MAX;
    #[inline(always)]
    fn key(self) -> i32 {
        f32::from(self).key()
    }
    fn from_key(key: i32) -> f64 {
        f32::from_key(key)
    }
}

/// The summary of float elements: the fast lanes when every value is finite, else
/// [`exact`].
#[inline(always)]
fn floats<T: Float>(dtype: DType, bytes: &[u8]) -> Summary {
    let n = bytes.len() / T::SIZE;
    if n == 0 {
        return Summary::default();
    }
    let mut sum = [0f64; LANES];
    let mut min = [T::KEY_MAX; LANES];
    let mut max = [T::KEY_MIN; LANES];
    let mut lane = |k: usize, x: T| {
        sum[k] += x.to_f64();
        let key = x.key();
        min[k] = min[k].min(key);
        max[k] = max[k].max(key);
    };
    let blocks = bytes.chunks_exact(T::SIZE * LANES);
    let rest = blocks.remainder();
    for block in blocks {
        for (k, e) in block.chunks_exact(T::SIZE).enumerate() {
            lane(k, T::read(e));
        }
    }
    for e in rest.chunks_exact(T::SIZE) {
        lane(0, T::read(e));
    }
    let sum: f64 = sum.iter().sum();
    if !sum.is_finite() {
        return exact(dtype, bytes);
    }
    let count = n as f64;
    let mean = sum / count;
    let key_of = |keys: &[T::Key; LANES], pick: fn(T::Key, T::Key) -> T::Key| {
        T::from_key(keys.iter().copied().reduce(pick).expect("lanes"))
    };
    Summary {
        count: n as u64,
        min: key_of(&min, Ord::min),
        max: key_of(&max, Ord::max),
        sum,
        mean,
        m2: squared_deviations::<T>(bytes, mean),
        ..Summary::default()
    }
}

/// Σ(x − mean)² over every element of `bytes` (all finite), in independent lanes.
#[inline(always)]
fn squared_deviations<T: Number>(bytes: &[u8], mean: f64) -> f64 {
    let mut acc = [0f64; LANES];
    let blocks = bytes.chunks_exact(T::SIZE * LANES);
    let rest = blocks.remainder();
    for block in blocks {
        for (k, a) in acc.iter_mut().enumerate() {
            let d = T::read(&block[k * T::SIZE..(k + 1) * T::SIZE]).to_f64() - mean;
            *a += d * d;
        }
    }
    for b in rest.chunks_exact(T::SIZE) {
        let d = T::read(b).to_f64() - mean;
        acc[0] += d * d;
    }
    acc.iter().sum()
}

/// The summary by the per-element path of [`crate::values::for_each`]: any dtype, any
/// values (NaN and infinities counted apart).
pub fn exact(dtype: DType, bytes: &[u8]) -> Summary {
    let mut s = Summary::default();
    crate::values::for_each(dtype, bytes, |v| {
        if v.is_finite() {
            s.count += 1;
            s.sum += v;
            s.min = s.min.min(v);
            s.max = s.max.max(v);
        } else if v.is_nan() {
            s.nan += 1;
        } else if v > 0.0 {
            s.pos_inf += 1;
        } else {
            s.neg_inf += 1;
        }
    });
    if s.count > 0 {
        let mean = s.sum / s.count as f64;
        s.mean = mean;
        crate::values::for_each(dtype, bytes, |v| {
            if v.is_finite() {
                s.m2 += (v - mean) * (v - mean);
            }
        });
    }
    s
}
