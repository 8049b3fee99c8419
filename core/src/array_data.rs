//! [`ArrayData`]: an owned N-D array of any emio dtype (what a full or region read
//! returns), allocated for large reads with transparent huge pages.

use half::f16;
use ndarray::{ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};

use crate::dtype::DType;
use crate::error::{Error, Result};

/// `$body` evaluated on the array inside whichever variant `$value` is.
macro_rules! with_array {
    ($value:expr, $a:ident => $body:expr) => {
        match $value {
            ArrayData::Bool($a) => $body,
            ArrayData::U8($a) => $body,
            ArrayData::U16($a) => $body,
            ArrayData::U32($a) => $body,
            ArrayData::U64($a) => $body,
            ArrayData::I8($a) => $body,
            ArrayData::I16($a) => $body,
            ArrayData::I32($a) => $body,
            ArrayData::I64($a) => $body,
            ArrayData::F16($a) => $body,
            ArrayData::F32($a) => $body,
            ArrayData::F64($a) => $body,
            ArrayData::C64($a) => $body,
            ArrayData::C128($a) => $body,
            ArrayData::Rgb8($a) => $body,
            ArrayData::Rgba8($a) => $body,
            ArrayData::Rgb16($a) => $body,
            ArrayData::Rgba16($a) => $body,
        }
    };
}

/// The same variant rebuilt around `$body` computed from its array.
macro_rules! map_array {
    ($value:expr, $a:ident => $body:expr) => {
        match $value {
            ArrayData::Bool($a) => ArrayData::Bool($body),
            ArrayData::U8($a) => ArrayData::U8($body),
            ArrayData::U16($a) => ArrayData::U16($body),
            ArrayData::U32($a) => ArrayData::U32($body),
            ArrayData::U64($a) => ArrayData::U64($body),
            ArrayData::I8($a) => ArrayData::I8($body),
            ArrayData::I16($a) => ArrayData::I16($body),
            ArrayData::I32($a) => ArrayData::I32($body),
            ArrayData::I64($a) => ArrayData::I64($body),
            ArrayData::F16($a) => ArrayData::F16($body),
            ArrayData::F32($a) => ArrayData::F32($body),
            ArrayData::F64($a) => ArrayData::F64($body),
            ArrayData::C64($a) => ArrayData::C64($body),
            ArrayData::C128($a) => ArrayData::C128($body),
            ArrayData::Rgb8($a) => ArrayData::Rgb8($body),
            ArrayData::Rgba8($a) => ArrayData::Rgba8($body),
            ArrayData::Rgb16($a) => ArrayData::Rgb16($body),
            ArrayData::Rgba16($a) => ArrayData::Rgba16($body),
        }
    };
}

/// An owned N-D array of any emio dtype, dispatched once per read.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// bool values.
    Bool(ArrayD<bool>),
    /// u8 values.
    U8(ArrayD<u8>),
    /// u16 values.
    U16(ArrayD<u16>),
    /// u32 values.
    U32(ArrayD<u32>),
    /// u64 values.
    U64(ArrayD<u64>),
    /// i8 values.
    I8(ArrayD<i8>),
    /// i16 values.
    I16(ArrayD<i16>),
    /// i32 values.
    I32(ArrayD<i32>),
    /// i64 values.
    I64(ArrayD<i64>),
    /// f16 values.
    F16(ArrayD<f16>),
    /// f32 values.
    F32(ArrayD<f32>),
    /// f64 values.
    F64(ArrayD<f64>),
    /// complex64 values.
    C64(ArrayD<Complex32>),
    /// complex128 values.
    C128(ArrayD<Complex64>),
    /// RGB u8 records.
    Rgb8(ArrayD<[u8; 3]>),
    /// RGBA u8 records.
    Rgba8(ArrayD<[u8; 4]>),
    /// RGB u16 records.
    Rgb16(ArrayD<[u16; 3]>),
    /// RGBA u16 records.
    Rgba16(ArrayD<[u16; 4]>),
}

fn typed<T: bytemuck::Pod>(
    dims: &[usize],
    nbytes: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<()>,
) -> Result<ArrayD<T>> {
    let mut v: Vec<T> = bytemuck::zeroed_vec(nbytes / std::mem::size_of::<T>());
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut v);
    advise_huge_pages(bytes);
    fill(bytes)?;
    ArrayD::from_shape_vec(IxDyn(dims), v).map_err(|e| Error::Layout(e.to_string()))
}

/// Ask the kernel to back a large, freshly allocated (not yet touched) buffer with
/// transparent huge pages: filling a 2 GB array then takes one page fault per 2 MiB instead
/// of one per 4 KiB, which otherwise costs about as much as copying the data itself.
/// Smaller buffers and other systems are left alone; the advice is only a hint. Every
/// buffer a full read fills goes through here (this module's arrays, the Python package's
/// owned buffers).
pub fn advise_huge_pages(bytes: &mut [u8]) {
    const HUGE_PAGE: usize = 2 << 20;
    if bytes.len() < 4 * HUGE_PAGE {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = (bytes.as_mut_ptr() as usize).next_multiple_of(HUGE_PAGE);
        let end = (bytes.as_mut_ptr() as usize + bytes.len()) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: `start..end` lies inside `bytes`, memory this thread owns exclusively,
            // and is page-aligned. MADV_HUGEPAGE only changes how the kernel backs the
            // pages (it never discards or changes their contents), so no Rust-visible
            // state changes; a failure (e.g. THP disabled) is harmless and ignored.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
}

impl ArrayData {
    /// Allocate an array of `dtype` and `dims` and let `fill` write its native C-order bytes.
    pub fn fill(
        dtype: DType,
        dims: &[usize],
        nbytes: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<Self> {
        Ok(match dtype {
            DType::Bool => {
                let bytes: ArrayD<u8> = typed(dims, nbytes, fill)?;
                ArrayData::Bool(bytes.mapv(|b| b != 0))
            }
            DType::U8 => ArrayData::U8(typed(dims, nbytes, fill)?),
            DType::U16 => ArrayData::U16(typed(dims, nbytes, fill)?),
            DType::U32 => ArrayData::U32(typed(dims, nbytes, fill)?),
            DType::U64 => ArrayData::U64(typed(dims, nbytes, fill)?),
            DType::I8 => ArrayData::I8(typed(dims, nbytes, fill)?),
            DType::I16 => ArrayData::I16(typed(dims, nbytes, fill)?),
            DType::I32 => ArrayData::I32(typed(dims, nbytes, fill)?),
            DType::I64 => ArrayData::I64(typed(dims, nbytes, fill)?),
            DType::F16 => ArrayData::F16(typed(dims, nbytes, fill)?),
            DType::F32 => ArrayData::F32(typed(dims, nbytes, fill)?),
            DType::F64 => ArrayData::F64(typed(dims, nbytes, fill)?),
            DType::C64 => ArrayData::C64(typed(dims, nbytes, fill)?),
            DType::C128 => ArrayData::C128(typed(dims, nbytes, fill)?),
            DType::Rgb8 => ArrayData::Rgb8(typed(dims, nbytes, fill)?),
            DType::Rgba8 => ArrayData::Rgba8(typed(dims, nbytes, fill)?),
            DType::Rgb16 => ArrayData::Rgb16(typed(dims, nbytes, fill)?),
            DType::Rgba16 => ArrayData::Rgba16(typed(dims, nbytes, fill)?),
        })
    }

    /// The array's logical dtype.
    pub fn dtype(&self) -> DType {
        match self {
            ArrayData::Bool(_) => DType::Bool,
            ArrayData::U8(_) => DType::U8,
            ArrayData::U16(_) => DType::U16,
            ArrayData::U32(_) => DType::U32,
            ArrayData::U64(_) => DType::U64,
            ArrayData::I8(_) => DType::I8,
            ArrayData::I16(_) => DType::I16,
            ArrayData::I32(_) => DType::I32,
            ArrayData::I64(_) => DType::I64,
            ArrayData::F16(_) => DType::F16,
            ArrayData::F32(_) => DType::F32,
            ArrayData::F64(_) => DType::F64,
            ArrayData::C64(_) => DType::C64,
            ArrayData::C128(_) => DType::C128,
            ArrayData::Rgb8(_) => DType::Rgb8,
            ArrayData::Rgba8(_) => DType::Rgba8,
            ArrayData::Rgb16(_) => DType::Rgb16,
            ArrayData::Rgba16(_) => DType::Rgba16,
        }
    }

    /// The array's shape.
    pub fn shape(&self) -> &[usize] {
        with_array!(self, a => a.shape())
    }

    /// The same values with their axes reordered without copying: axis `i` of the result
    /// is axis `axes[i]` of this array (ndarray's `permuted_axes`).
    pub fn permuted_axes(self, axes: &[usize]) -> Self {
        map_array!(self, a => a.permuted_axes(IxDyn(axes)))
    }

    /// Real scalar values as f64 (bool as 0/1); `None` for complex and RGB data.
    pub fn to_f64(&self) -> Option<ArrayD<f64>> {
        Some(match self {
            ArrayData::Bool(a) => a.mapv(|v| f64::from(u8::from(v))),
            ArrayData::U8(a) => a.mapv(f64::from),
            ArrayData::U16(a) => a.mapv(f64::from),
            ArrayData::U32(a) => a.mapv(f64::from),
            ArrayData::U64(a) => a.mapv(|v| v as f64),
            ArrayData::I8(a) => a.mapv(f64::from),
            ArrayData::I16(a) => a.mapv(f64::from),
            ArrayData::I32(a) => a.mapv(f64::from),
            ArrayData::I64(a) => a.mapv(|v| v as f64),
            ArrayData::F16(a) => a.mapv(f64::from),
            ArrayData::F32(a) => a.mapv(f64::from),
            ArrayData::F64(a) => a.clone(),
            _ => return None,
        })
    }
}
