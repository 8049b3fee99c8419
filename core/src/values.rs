//! One real number per element, read straight out of a region's native-endian bytes: the
//! common ground of every reduction (statistics, sums over axes, previews).
//!
//! Real types give their value (bool as 0/1), complex types their magnitude and RGB(A)
//! records the mean of their R, G and B channels (alpha ignored).

use crate::DType;
use half::f16;

/// How an element becomes one number, for messages and reports.
pub fn meaning(dtype: DType) -> &'static str {
    if dtype.is_complex() {
        "magnitude"
    } else if dtype.is_rgb() {
        "mean of R, G, B"
    } else {
        "value"
    }
}

/// Call `f` with one number per element of `bytes` (C order, native-endian, of `dtype`).
#[inline]
pub fn for_each(dtype: DType, bytes: &[u8], mut f: impl FnMut(f64)) {
    macro_rules! each {
        ($t:ty, $n:expr, $conv:expr) => {
            for b in bytes.chunks_exact($n) {
                let v = <$t>::from_ne_bytes(b.try_into().expect("element size"));
                f($conv(v));
            }
        };
    }
    match dtype {
        DType::Bool => bytes.iter().for_each(|&b| f(f64::from(u8::from(b != 0)))),
        DType::U8 => bytes.iter().for_each(|&b| f(f64::from(b))),
        DType::I8 => bytes.iter().for_each(|&b| f(f64::from(b as i8))),
        DType::U16 => each!(u16, 2, f64::from),
        DType::I16 => each!(i16, 2, f64::from),
        DType::U32 => each!(u32, 4, f64::from),
        DType::I32 => each!(i32, 4, f64::from),
        DType::U64 => each!(u64, 8, |v: u64| v as f64),
        DType::I64 => each!(i64, 8, |v: i64| v as f64),
        DType::F16 => each!(u16, 2, |v: u16| f64::from(f16::from_bits(v))),
        DType::F32 => each!(f32, 4, f64::from),
        DType::F64 => each!(f64, 8, |v: f64| v),
        DType::C64 => {
            for b in bytes.chunks_exact(8) {
                let re = f32::from_ne_bytes(b[..4].try_into().expect("4 bytes"));
                let im = f32::from_ne_bytes(b[4..].try_into().expect("4 bytes"));
                f(f64::from(re).hypot(f64::from(im)));
            }
        }
        DType::C128 => {
            for b in bytes.chunks_exact(16) {
                let re = f64::from_ne_bytes(b[..8].try_into().expect("8 bytes"));
                let im = f64::from_ne_bytes(b[8..].try_into().expect("8 bytes"));
                f(re.hypot(im));
            }
        }
        DType::Rgb8 | DType::Rgba8 => {
            for b in bytes.chunks_exact(dtype.size()) {
                f((f64::from(b[0]) + f64::from(b[1]) + f64::from(b[2])) / 3.0);
            }
        }
        DType::Rgb16 | DType::Rgba16 => {
            for b in bytes.chunks_exact(dtype.size()) {
                let c = |i: usize| f64::from(u16::from_ne_bytes([b[2 * i], b[2 * i + 1]]));
                f((c(0) + c(1) + c(2)) / 3.0);
            }
        }
    }
}

/// The phase (argument, radians) of every complex element; `None` for other types.
pub fn phases(dtype: DType, bytes: &[u8]) -> Option<Vec<f64>> {
    match dtype {
        DType::C64 => Some(
            bytes
                .chunks_exact(8)
                .map(|b| {
                    let re = f32::from_ne_bytes(b[..4].try_into().expect("4 bytes"));
                    let im = f32::from_ne_bytes(b[4..].try_into().expect("4 bytes"));
                    f64::from(im).atan2(f64::from(re))
                })
                .collect(),
        ),
        DType::C128 => Some(
            bytes
                .chunks_exact(16)
                .map(|b| {
                    let re = f64::from_ne_bytes(b[..8].try_into().expect("8 bytes"));
                    let im = f64::from_ne_bytes(b[8..].try_into().expect("8 bytes"));
                    im.atan2(re)
                })
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(dtype: DType, bytes: &[u8]) -> Vec<f64> {
        let mut v = Vec::new();
        for_each(dtype, bytes, |x| v.push(x));
        v
    }

    #[test]
    fn every_kind_of_element() {
        let u16s: Vec<u8> = [1u16, 500].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(collect(DType::U16, &u16s), [1.0, 500.0]);
        assert_eq!(collect(DType::I8, &[0xff]), [-1.0]);
        let c: Vec<u8> = [3f32, 4.0].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(collect(DType::C64, &c), [5.0]);
        assert_eq!(collect(DType::Rgba8, &[3, 6, 9, 255]), [6.0]);
        let h = f16::from_f32(0.5).to_bits().to_ne_bytes();
        assert_eq!(collect(DType::F16, &h), [0.5]);
        assert_eq!(phases(DType::C64, &c).unwrap()[0], 4f64.atan2(3.0));
        assert!(phases(DType::U8, &[1]).is_none());
    }
}
