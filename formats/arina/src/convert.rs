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
        self.stored == self.out && self.is_plain_cast()
    }

    /// Whether each value is only cast (no flat field, mask or binning).
    fn is_plain_cast(&self) -> bool {
        self.rebin == 1 && self.correction.is_none() && self.mask.is_none()
    }

    /// Convert the stored rectangle `stored` (native-endian), `rows x cols` pixels from
    /// row `row` and column `col` of a frame, into `out`: its `rows/rebin x cols/rebin`
    /// output pixels. The rectangle starts and ends on bin boundaries.
    pub fn rect(
        &self,
        stored: &[u8],
        (row, col): (usize, usize),
        (rows, cols): (usize, usize),
        out: &mut [u8],
    ) -> Result<()> {
        let r = self.rebin;
        let (oh, ow) = (rows / r, cols / r);
        if stored.len() != rows * cols * self.stored.size()
            || out.len() != oh * ow * self.out.size()
            || row + rows > self.height
            || col + cols > self.width
        {
            return Err(Error::malformed_at_unknown(
                "arina",
                format!(
                    "a {rows}x{cols} rectangle at ({row}, {col}) of a {}x{} frame in {} bytes \
                     (output {} bytes), got {} (output {})",
                    self.height,
                    self.width,
                    rows * cols * self.stored.size(),
                    oh * ow * self.out.size(),
                    stored.len(),
                    out.len()
                ),
            ));
        }
        if self.is_plain_cast() {
            return cast_slice(self.stored, self.out, stored, out);
        }
        let value = |y: usize, x: usize| -> f64 {
            let pixel = (row + y) * self.width + col + x;
            if self.mask.as_ref().is_some_and(|m| m[pixel]) {
                return 0.0;
            }
            let v = stored_value(self.stored, stored, y * cols + x);
            match &self.correction {
                Some(c) => f64::from(v as f32 * c[pixel]),
                None => cast(v, self.out),
            }
        };
        if r == 1 {
            for y in 0..rows {
                for x in 0..cols {
                    store(self.out, out, y * cols + x, value(y, x));
                }
            }
            return Ok(());
        }
        let area = (r * r) as f64;
        for y in 0..oh {
            for x in 0..ow {
                let mut sum = 0.0;
                for dy in 0..r {
                    for dx in 0..r {
                        sum += value(y * r + dy, x * r + dx);
                    }
                }
                store(self.out, out, y * ow + x, sum / area);
            }
        }
        Ok(())
    }
}

/// A numeric element type read from and written to native-endian bytes.
trait Element: Copy {
    /// Bytes per element.
    const SIZE: usize;
    /// The element in `b` (exactly [`Element::SIZE`] bytes).
    fn read(b: &[u8]) -> Self;
    /// Write the element into `b` (exactly [`Element::SIZE`] bytes).
    fn write(self, b: &mut [u8]);
}

/// numpy's `astype` from one element type to another: Rust's `as` (integers wrap, floats
/// round to nearest).
trait CastTo<O> {
    fn cast_to(self) -> O;
}

macro_rules! elements {
    ($($t:ty),*) => {$(
        impl Element for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(b: &[u8]) -> Self {
                <$t>::from_ne_bytes(b.try_into().expect("one element"))
            }
            fn write(self, b: &mut [u8]) {
                b.copy_from_slice(&self.to_ne_bytes());
            }
        }
        elements!(@cast $t; u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
    )*};
    (@cast $s:ty; $($o:ty),*) => {$(
        impl CastTo<$o> for $s {
            #[allow(clippy::unnecessary_cast, clippy::cast_lossless)]
            fn cast_to(self) -> $o {
                self as $o
            }
        }
    )*};
}
elements!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

/// Cast every element of `src` (type `S`) into `dst` (type `O`), one tight loop per pair.
fn cast_run<S: Element + CastTo<O>, O: Element>(src: &[u8], dst: &mut [u8]) {
    for (s, d) in src.chunks_exact(S::SIZE).zip(dst.chunks_exact_mut(O::SIZE)) {
        S::read(s).cast_to().write(d);
    }
}

/// Cast native-endian `src` of `from` into `dst` of `to` as numpy's `astype` does.
fn cast_slice(from: DType, to: DType, src: &[u8], dst: &mut [u8]) -> Result<()> {
    macro_rules! to {
        ($s:ty) => {
            match to {
                DType::U8 => cast_run::<$s, u8>(src, dst),
                DType::U16 => cast_run::<$s, u16>(src, dst),
                DType::U32 => cast_run::<$s, u32>(src, dst),
                DType::U64 => cast_run::<$s, u64>(src, dst),
                DType::I8 => cast_run::<$s, i8>(src, dst),
                DType::I16 => cast_run::<$s, i16>(src, dst),
                DType::I32 => cast_run::<$s, i32>(src, dst),
                DType::I64 => cast_run::<$s, i64>(src, dst),
                DType::F32 => cast_run::<$s, f32>(src, dst),
                DType::F64 => cast_run::<$s, f64>(src, dst),
                _ => return Err(unsupported(from, to)),
            }
        };
    }
    match from {
        DType::U8 => to!(u8),
        DType::U16 => to!(u16),
        DType::U32 => to!(u32),
        DType::U64 => to!(u64),
        DType::I8 => to!(i8),
        DType::I16 => to!(i16),
        DType::I32 => to!(i32),
        DType::I64 => to!(i64),
        _ => return Err(unsupported(from, to)),
    }
    Ok(())
}

/// The error for a conversion emio does not make (the open checks the dtypes first).
fn unsupported(from: DType, to: DType) -> Error {
    Error::unsupported("arina", format!("frames of {from} read as {to}"))
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
        conv(DType::U16, 1)
            .rect(&stored, (0, 0), (2, 2), &mut out)
            .unwrap();
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
        conv(DType::U16, 2)
            .rect(&stored, (0, 0), (2, 2), &mut out)
            .unwrap();
        assert_eq!(u16::from_ne_bytes([out[0], out[1]]), 1);
        let mut out = vec![0u8; 4];
        conv(DType::F32, 2)
            .rect(&stored, (0, 0), (2, 2), &mut out)
            .unwrap();
        assert_eq!(f32::from_ne_bytes(out[..4].try_into().unwrap()), 1.75);
    }

    #[test]
    fn casts_are_numpy_astype() {
        let cast = |from: DType, to: DType, src: &[u8], n: usize| {
            let mut dst = vec![0u8; n * to.size()];
            cast_slice(from, to, src, &mut dst).unwrap();
            dst
        };
        let src: Vec<u8> = [-1i16, 300, -129]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(cast(DType::I16, DType::U8, &src, 3), [255, 44, 127]);
        // Exact beyond 2^53, where a detour through f64 would round.
        let big = (1u64 << 60) + 1;
        let out = cast(DType::U64, DType::I64, &big.to_ne_bytes(), 1);
        assert_eq!(i64::from_ne_bytes(out.try_into().unwrap()), big as i64);
        let out = cast(DType::U8, DType::F32, &[7], 1);
        assert_eq!(f32::from_ne_bytes(out.try_into().unwrap()), 7.0);
        let mut dst = [0u8; 4];
        assert!(cast_slice(DType::F32, DType::U8, &[0; 4], &mut dst).is_err());
    }

    #[test]
    fn rectangles_index_mask_and_flat_field_by_frame_pixel() {
        // A 4x4 frame of values 0..16; the 2x2 rectangle at (1, 2) holds 6, 7, 10, 11.
        let mut c = conv(DType::U16, 1);
        (c.height, c.width) = (4, 4);
        let mut mask = vec![false; 16];
        mask[7] = true;
        c.mask = Some(mask);
        let stored: Vec<u8> = [6u32, 7, 10, 11]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let mut out = vec![0u8; 8];
        c.rect(&stored, (1, 2), (2, 2), &mut out).unwrap();
        assert_eq!(values(&out), [6, 0, 10, 11]);
        c.mask = None;
        let mut correction = vec![1.0f32; 16];
        correction[10] = 2.0;
        c.correction = Some(correction);
        c.out = DType::F32;
        let mut out = vec![0u8; 16];
        c.rect(&stored, (1, 2), (2, 2), &mut out).unwrap();
        let got: Vec<f32> = out
            .chunks(4)
            .map(|b| f32::from_ne_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(got, [6.0, 7.0, 20.0, 11.0]);
        // A rectangle outside the frame is an error, not a panic.
        assert!(c.rect(&stored, (3, 3), (2, 2), &mut out).is_err());
    }

    fn values(bytes: &[u8]) -> Vec<u16> {
        bytes
            .chunks(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn flatfield_median_and_zero() {
        assert_eq!(correction(&[1.0, 2.0, 0.0, 4.0]), [1.5, 0.75, 1.0, 0.375]);
    }
}
