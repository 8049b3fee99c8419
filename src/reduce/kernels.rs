//! The loops that add up one run of values of a sum ([`super::layout::Layout::reduce`]):
//! typed, in interleaved lanes the compiler vectorizes, integers exactly.

use std::iter::repeat;

use emio_core::{ByteOrder, DType};

/// The sum of the values in `bytes` (of `dtype`), each times its weight in `weights` if
/// there are weights: unweighted integers of up to 32 bits exactly, in integer lanes
/// ([`integer_lanes`]), everything else in eight interleaved partial sums ([`Lanes`]; one
/// chain of additions was four cycles per value), the types that are not real numbers
/// (complex magnitudes, RGB, f16, 64-bit integers) in four; the compiler vectorizes the
/// lanes.
#[inline(always)]
pub(super) fn sum(dtype: DType, bytes: &[u8], weights: Option<&[f64]>) -> f64 {
    match (dtype, weights) {
        (DType::U8, None) => integer_lanes::<1, i32>(bytes, SMALL_BLOCK, |a| i32::from(a[0])),
        (DType::I8, None) => integer_lanes::<1, i32>(bytes, SMALL_BLOCK, |a| i32::from(a[0] as i8)),
        (DType::U16, None) => {
            integer_lanes::<2, i32>(bytes, SMALL_BLOCK, |a| i32::from(u16::from_ne_bytes(a)))
        }
        (DType::I16, None) => {
            integer_lanes::<2, i32>(bytes, SMALL_BLOCK, |a| i32::from(i16::from_ne_bytes(a)))
        }
        (DType::U32, None) => {
            integer_lanes::<4, i64>(bytes, WIDE_BLOCK, |a| i64::from(u32::from_ne_bytes(a)))
        }
        (DType::I32, None) => {
            integer_lanes::<4, i64>(bytes, WIDE_BLOCK, |a| i64::from(i32::from_ne_bytes(a)))
        }
        _ => typed(dtype, bytes, Lanes(weights)).unwrap_or_else(|| {
            let (mut sums, mut at) = ([0f64; 4], 0);
            crate::values::for_each(dtype, bytes, |v| {
                sums[at & 3] += v * weights.map_or(1.0, |w| w[at]);
                at += 1;
            });
            (sums[0] + sums[1]) + (sums[2] + sums[3])
        }),
    }
}

/// The sum of a run's values, each times its weight if there are weights (as many as
/// values), in eight interleaved partial sums.
struct Lanes<'a>(Option<&'a [f64]>);

impl Typed for Lanes<'_> {
    type Out = f64;
    #[inline(always)]
    fn run<const N: usize>(self, values: &[[u8; N]], value: impl Fn([u8; N]) -> f64) -> f64 {
        match self.0 {
            Some(weights) => {
                let (groups, rest) = weights.as_chunks::<LANES>();
                eight_lanes(values, groups.iter(), rest.iter(), value)
            }
            // Weights of one: the multiplications fold away.
            None => eight_lanes(values, repeat(&[1.0; LANES]), repeat(&1.0), value),
        }
    }
}

/// The number of interleaved partial sums of [`Lanes`].
const LANES: usize = 8;

/// The sum of `value(v) * w` over `values` and their weights: `groups` for whole groups of
/// [`LANES`] values, `rest` for the values after them.
#[inline(always)]
fn eight_lanes<'w, const N: usize>(
    values: &[[u8; N]],
    groups: impl Iterator<Item = &'w [f64; LANES]>,
    rest: impl Iterator<Item = &'w f64>,
    value: impl Fn([u8; N]) -> f64,
) -> f64 {
    let (value_groups, value_rest) = values.as_chunks::<LANES>();
    let mut sums = [0f64; LANES];
    for (group, w) in value_groups.iter().zip(groups) {
        for ((sum, &v), &w) in sums.iter_mut().zip(group).zip(w) {
            *sum += value(v) * w;
        }
    }
    let total = sums.chunks(2).map(|p| p[0] + p[1]).sum::<f64>();
    value_rest
        .iter()
        .zip(rest)
        .fold(total, |t, (&v, &w)| t + value(v) * w)
}

/// The exact sum of the integers in `bytes` (`value` widens each to the lane type `L`): 16
/// lanes over blocks of `block` values, few enough that no lane overflows and a block's
/// total fits `i64`, the blocks added in `i64`. A widening integer add per value, against a
/// conversion to f64 and a float add (a `u16` signal summed 2.5x faster).
#[inline(always)]
fn integer_lanes<const N: usize, L>(bytes: &[u8], block: usize, value: impl Fn([u8; N]) -> L) -> f64
where
    L: Copy + Default + std::ops::AddAssign + Into<i64>,
{
    const LANES: usize = 16;
    let (values, _) = bytes.as_chunks::<N>();
    let mut total = 0i64;
    for block in values.chunks(block) {
        let (groups, rest) = block.as_chunks::<LANES>();
        let mut sums = [L::default(); LANES];
        for group in groups {
            for (sum, &v) in sums.iter_mut().zip(group) {
                *sum += value(v);
            }
        }
        let lanes: i64 = sums.iter().map(|&s| s.into()).sum();
        let rest: i64 = rest.iter().map(|&v| value(v).into()).sum();
        total = total.saturating_add(lanes + rest);
    }
    total as f64
}

/// Values of 8 or 16 bits per block of [`integer_lanes`] in `i32` lanes: 4,096 per lane,
/// of at most 2^16 each.
const SMALL_BLOCK: usize = 1 << 16;

/// Values of 32 bits per block of [`integer_lanes`] in `i64` lanes: at most 2^62 a block.
const WIDE_BLOCK: usize = 1 << 30;

/// A loop over the values of one run, written once for every real type ([`typed`]).
trait Typed {
    type Out;
    /// Run over `values`, each decoded to f64 by `value`.
    fn run<const N: usize>(self, values: &[[u8; N]], value: impl Fn([u8; N]) -> f64) -> Self::Out;
}

/// `kernel` run on the values of `bytes` as `dtype` (typed loops without a bounds check per
/// value, which the compiler vectorizes); `None` for the types that are not real numbers
/// (complex, RGB, f16, 64-bit integers), which callers take value by value.
#[inline(always)]
fn typed<K: Typed>(dtype: DType, bytes: &[u8], kernel: K) -> Option<K::Out> {
    Some(match dtype {
        DType::U8 => kernel.run::<1>(bytes.as_chunks().0, |a| f64::from(a[0])),
        DType::I8 => kernel.run::<1>(bytes.as_chunks().0, |a| f64::from(a[0] as i8)),
        DType::U16 => kernel.run::<2>(bytes.as_chunks().0, |a| f64::from(u16::from_ne_bytes(a))),
        DType::I16 => kernel.run::<2>(bytes.as_chunks().0, |a| f64::from(i16::from_ne_bytes(a))),
        DType::U32 => kernel.run::<4>(bytes.as_chunks().0, |a| f64::from(u32::from_ne_bytes(a))),
        DType::I32 => kernel.run::<4>(bytes.as_chunks().0, |a| f64::from(i32::from_ne_bytes(a))),
        DType::F32 => kernel.run::<4>(bytes.as_chunks().0, |a| f64::from(f32::from_ne_bytes(a))),
        DType::F64 => kernel.run::<8>(bytes.as_chunks().0, f64::from_ne_bytes),
        _ => return None,
    })
}

/// Add each value of `bytes` (of `dtype`) times `scale` to its place in `out`, as many as
/// there are values.
#[inline(always)]
pub(super) fn add_values(dtype: DType, bytes: &[u8], scale: f64, out: &mut [f64]) {
    struct AddInto<'a>(&'a mut [f64], f64);
    impl Typed for AddInto<'_> {
        type Out = ();
        #[inline(always)]
        fn run<const N: usize>(self, values: &[[u8; N]], value: impl Fn([u8; N]) -> f64) {
            for (o, &v) in self.0.iter_mut().zip(values) {
                *o += value(v) * self.1;
            }
        }
    }
    if typed(dtype, bytes, AddInto(out, scale)).is_none() {
        let mut at = 0;
        crate::values::for_each(dtype, bytes, |v| {
            out[at] += v * scale;
            at += 1;
        });
    }
}

/// Integers of 8 or 16 bits, whose sums along a kept dimension are taken exactly in `i32`
/// ([`super::layout::Accumulator`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SmallIntegers {
    U8,
    I8,
    U16,
    I16,
}

impl SmallIntegers {
    /// The kind of `dtype`, if it is one.
    pub(super) fn of(dtype: DType) -> Option<Self> {
        Some(match dtype {
            DType::U8 => SmallIntegers::U8,
            DType::I8 => SmallIntegers::I8,
            DType::U16 => SmallIntegers::U16,
            DType::I16 => SmallIntegers::I16,
            _ => return None,
        })
    }

    /// Add each value of `bytes` (native byte order) to its place in `out`, as many as
    /// there are values (a widening integer add, vectorized).
    #[inline(always)]
    pub(super) fn add(self, bytes: &[u8], out: &mut [i32]) {
        fn add<const N: usize>(bytes: &[u8], out: &mut [i32], value: impl Fn([u8; N]) -> i32) {
            for (o, &v) in out.iter_mut().zip(bytes.as_chunks::<N>().0) {
                *o += value(v);
            }
        }
        match self {
            SmallIntegers::U8 => add::<1>(bytes, out, |a| i32::from(a[0])),
            SmallIntegers::I8 => add::<1>(bytes, out, |a| i32::from(a[0] as i8)),
            SmallIntegers::U16 => add::<2>(bytes, out, |a| i32::from(u16::from_ne_bytes(a))),
            SmallIntegers::I16 => add::<2>(bytes, out, |a| i32::from(i16::from_ne_bytes(a))),
        }
    }
}

/// `run` (values of `dtype` in byte order `order`) in the machine's byte order: itself, or
/// its values swapped into `scratch`.
#[inline(always)]
pub(super) fn in_native_order<'a>(
    run: &'a [u8],
    order: ByteOrder,
    dtype: DType,
    scratch: &'a mut Vec<u8>,
) -> &'a [u8] {
    if order.is_native() {
        return run;
    }
    scratch.clear();
    scratch.extend_from_slice(run);
    emio_core::swap::in_place(scratch, dtype.swap_unit());
    scratch
}
