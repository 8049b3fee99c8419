//! Pixel sources of a series: a strided memory map when elements are evenly spaced (the
//! usual case; images flipped by a negative row stride), else one chunk per element read
//! at its own offset, with the elements an interrupted acquisition never stored filled
//! (NaN for floats, zero otherwise) as rsciio's `only_valid_data=False` does.

use std::sync::Arc;

use emio_core::dtype::swap_bytes_in_place;
use emio_core::{
    ArraySource, ByteOrder, ChunkDecoder, ChunkedSource, DType, Result, Storage, StridedSource,
};

use crate::ser::Series;
use crate::FORMAT;

/// Reads element `i` (linear index over the navigation shape) into a chunk.
struct Elements {
    storage: Storage,
    /// Offset of each stored element's values.
    values_at: Vec<u64>,
    nav_shape: Vec<u64>,
    /// Rows and row length in elements (images: flipped on read), or 1 and the length.
    rows: u64,
    row_len: u64,
    dtype: DType,
}

impl ChunkDecoder for Elements {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        let linear = index[..self.nav_shape.len()]
            .iter()
            .zip(&self.nav_shape)
            .fold(0u64, |acc, (&i, &n)| acc * n + i);
        let Some(&at) = self.values_at.get(linear as usize) else {
            match self.dtype {
                DType::F32 => fill(out, &f32::NAN.to_ne_bytes()),
                DType::F64 => fill(out, &f64::NAN.to_ne_bytes()),
                _ => out.fill(0),
            }
            return Ok(());
        };
        let row_bytes = (self.row_len * self.dtype.size() as u64) as usize;
        if out.is_empty() || row_bytes == 0 {
            return Ok(());
        }
        for (r, dst) in out.chunks_exact_mut(row_bytes).enumerate() {
            let src_row = self.rows - 1 - r as u64;
            let start = (at + src_row * row_bytes as u64) as usize;
            dst.copy_from_slice(&self.storage[start..start + row_bytes]);
        }
        if !ByteOrder::Little.is_native() {
            swap_bytes_in_place(out, self.dtype.swap_unit());
        }
        Ok(())
    }
}

fn fill(out: &mut [u8], pattern: &[u8]) {
    for chunk in out.chunks_exact_mut(pattern.len()) {
        chunk.copy_from_slice(pattern);
    }
}

/// The source of a series read as `nav_shape` elements (`elements` of them: its product,
/// as the caller counted it) of `signal_shape` (images as `[rows, columns]`, flipped
/// vertically as TIA stores them bottom-up).
pub fn series_source(
    storage: Storage,
    series: &Series,
    (nav_shape, elements): (&[u64], u64),
    signal_shape: &[u64],
) -> Result<Arc<dyn ArraySource>> {
    let dtype = series.element.dtype();
    let es = dtype.size() as i64;
    let (rows, row_len) = match signal_shape {
        [rows, cols] => (*rows, *cols),
        [n] => (1, *n),
        _ => (1, 1),
    };
    let mut shape = nav_shape.to_vec();
    shape.extend_from_slice(signal_shape);
    let values_at: Vec<u64> = series
        .offsets
        .iter()
        .map(|o| o + series.header_len())
        .collect();
    if let (Some(stride), true) = (series.regular_stride(), elements <= values_at.len() as u64) {
        let mut strides = vec![0i64; nav_shape.len()];
        let mut step = stride as i64;
        for (s, &n) in strides.iter_mut().zip(nav_shape).rev() {
            *s = step;
            step = step.saturating_mul(n as i64);
        }
        let row = row_len as i64 * es;
        let mut offset = values_at[0];
        if signal_shape.len() == 2 {
            offset += (rows.saturating_sub(1)) * row as u64;
            strides.extend([-row, es]);
        } else {
            strides.push(es);
        }
        return Ok(Arc::new(StridedSource::new(
            FORMAT,
            storage,
            offset,
            dtype,
            shape,
            strides,
            ByteOrder::Little,
        )?));
    }
    let mut chunk = vec![1; nav_shape.len()];
    chunk.extend_from_slice(signal_shape);
    Ok(Arc::new(ChunkedSource::new(
        dtype,
        shape,
        chunk,
        Box::new(Elements {
            storage,
            values_at,
            nav_shape: nav_shape.to_vec(),
            rows,
            row_len,
            dtype,
        }),
    )?))
}
