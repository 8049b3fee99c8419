//! Per-frame conversion of stored ARINA counts to the output the options ask for, in the
//! order rsciio applies them: cast to the output dtype (numpy's `astype`: integers wrap),
//! or multiply by the flat-field correction in float32; blank masked pixels (emio's
//! `apply_pixel_mask`); bin `r x r` blocks to their mean, stored back in the output dtype
//! (integers truncated, as numpy's assignment does).

use emio_core::{DType, Error, Result};

/// What to do to every frame.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// Stored element type (unsigned or signed integers).
    pub stored: DType,
    /// Output element type.
    pub out: DType,
    /// Frame height and width as stored.
    pub height: usize,
    /// Frame width as stored.
    pub width: usize,
    /// Binning factor (1 = none).
    pub rebin: usize,
    /// Flat-field correction factors (`median / flatfield`, 1 where the flat field is 0).
    pub correction: Option<Vec<f32>>,
    /// Pixels to blank (non-zero in the detector's pixel mask).
    pub mask: Option<Vec<bool>>,
}

/// Read element `i` of native-endian integer bytes of `dtype` as a u64 bit pattern
/// (signed values sign-extended), which `as` casts then wrap like numpy's `astype`.
fn stored_value(dtype: DType, b: &[u8], i: usize) -> i128 {
    match dtype {
        DType::U8 => i128::from(b[i]),
        DType::U16 => i128::from(u16::from_ne_bytes([b[2 * i], b[2 * i + 1]])),
        DType::U32 => i128::from(u32::from_ne_bytes(
            b[4 * i..4 * i + 4].try_into().expect("4"),
        )),
        DType::U64 => i128::from(u64::from_ne_bytes(
            b[8 * i..8 * i + 8].try_into().expect("8"),
        )),
        DType::I8 => i128::from(b[i] as i8),
        DType::I16 => i128::from(i16::from_ne_bytes([b[2 * i], b[2 * i + 1]])),
        DType::I32 => i128::from(i32::from_ne_bytes(
            b[4 * i..4 * i + 4].try_into().expect("4"),
        )),
        _ => i128::from(i64::from_ne_bytes(
            b[8 * i..8 * i + 8].try_into().expect("8"),
        )),
    }
}

/// `v` cast to `dtype` the way numpy's `astype` does (integers wrap), as f64.
fn cast(v: i128, dtype: DType) -> f64 {
    match dtype {
        DType::U8 => f64::from(v as u8),
        DType::U16 => f64::from(v as u16),
        DType::U32 => f64::from(v as u32),
        DType::U64 => (v as u64) as f64,
        DType::I8 => f64::from(v as i8),
        DType::I16 => f64::from(v as i16),
        DType::I32 => f64::from(v as i32),
        DType::I64 => (v as i64) as f64,
        DType::F32 => f64::from(v as f32),
        _ => v as f64,
    }
}

/// Store `x` as element `i` of `out` in `dtype` (floats rounded, integers truncated).
fn store(dtype: DType, out: &mut [u8], i: usize, x: f64) {
    macro_rules! put {
        ($t:ty) => {{
            let n = std::mem::size_of::<$t>();
            out[i * n..(i + 1) * n].copy_from_slice(&(x as $t).to_ne_bytes());
        }};
    }
    match dtype {
        DType::U8 => put!(u8),
        DType::U16 => put!(u16),
        DType::U32 => put!(u32),
        DType::U64 => put!(u64),
        DType::I8 => put!(i8),
        DType::I16 => put!(i16),
        DType::I32 => put!(i32),
        DType::I64 => put!(i64),
        DType::F32 => put!(f32),
        _ => put!(f64),
    }
}

/// Whether emio converts stored values of `dtype`.
pub fn stored_supported(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::U8
            | DType::U16
            | DType::U32
            | DType::U64
            | DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
    )
}

/// Whether `dtype` can be an output.
pub fn out_supported(dtype: DType) -> bool {
    stored_supported(dtype) || matches!(dtype, DType::F32 | DType::F64)
}

impl Conversion {
    /// Output frame height and width.
    pub fn out_frame(&self) -> (usize, usize) {
        (self.height / self.rebin, self.width / self.rebin)
    }

    /// Whether a frame is copied as stored (no cast, flat field, mask or binning).
    pub fn is_identity(&self) -> bool {
        self.stored == self.out
            && self.rebin == 1
            && self.correction.is_none()
            && self.mask.is_none()
    }

    /// Convert one stored frame (`stored`, native-endian) into `out` (the output frame).
    pub fn frame(&self, stored: &[u8], out: &mut [u8]) -> Result<()> {
        let n = self.height * self.width;
        if stored.len() != n * self.stored.size() {
            return Err(Error::malformed_at_unknown(
                "arina",
                format!(
                    "a frame of {} bytes, got {}",
                    n * self.stored.size(),
                    stored.len()
                ),
            ));
        }
        let value = |i: usize| -> f64 {
            if self.mask.as_ref().is_some_and(|m| m[i]) {
                return 0.0;
            }
            let v = stored_value(self.stored, stored, i);
            match &self.correction {
                Some(c) => f64::from(v as f32 * c[i]),
                None => cast(v, self.out),
            }
        };
        if self.rebin == 1 {
            for i in 0..n {
                store(self.out, out, i, value(i));
            }
            return Ok(());
        }
        let r = self.rebin;
        let (oh, ow) = self.out_frame();
        let area = (r * r) as f64;
        for y in 0..oh {
            for x in 0..ow {
                let mut sum = 0.0;
                for dy in 0..r {
                    let row = (y * r + dy) * self.width + x * r;
                    for dx in 0..r {
                        sum += value(row + dx);
                    }
                }
                store(self.out, out, y * ow + x, sum / area);
            }
        }
        Ok(())
    }
}

/// Correction factors from a flat field, as rsciio computes them (`median / flatfield`,
/// 1 where the flat field is 0), in float32.
pub fn correction(flatfield: &[f32]) -> Vec<f32> {
    let mut sorted: Vec<f32> = flatfield.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f32::total_cmp);
    let median = match sorted.len() {
        0 => 1.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    flatfield
        .iter()
        .map(|&f| if f == 0.0 { 1.0 } else { median / f })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(out: DType, rebin: usize) -> Conversion {
        Conversion {
            stored: DType::U32,
            out,
            height: 2,
            width: 2,
            rebin,
            correction: None,
            mask: None,
        }
    }

    #[test]
    fn u32_to_u16_wraps_like_astype() {
        let stored: Vec<u8> = [70000u32, 1, 2, u32::MAX]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let mut out = vec![0u8; 8];
        conv(DType::U16, 1).frame(&stored, &mut out).unwrap();
        let got: Vec<u16> = out
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(got, [70000u32 as u16, 1, 2, u16::MAX]);
    }

    #[test]
    fn rebin_truncates_the_mean() {
        let stored: Vec<u8> = [1u32, 2, 2, 2]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let mut out = vec![0u8; 2];
        conv(DType::U16, 2).frame(&stored, &mut out).unwrap();
        assert_eq!(u16::from_ne_bytes([out[0], out[1]]), 1);
        let mut out = vec![0u8; 4];
        conv(DType::F32, 2).frame(&stored, &mut out).unwrap();
        assert_eq!(f32::from_ne_bytes(out[..4].try_into().unwrap()), 1.75);
    }

    #[test]
    fn flatfield_median_and_zero() {
        assert_eq!(correction(&[1.0, 2.0, 0.0, 4.0]), [1.5, 0.75, 1.0, 0.375]);
    }
}
