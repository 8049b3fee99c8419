//! Pixel sources for DM layouts that are not a plain strided array: BGRA colour images and
//! packed complex FFT data. Each wraps a source over the stored values (memory-mapped tag
//! file data, or an HDF5 dataset in DM5) and converts only the region asked for.

use std::sync::Arc;

use emio_core::source::Threads;
use emio_core::{ArraySource, DType, Progress, Result};

/// RGBA images stored as 32-bit `0xAARRGGBB` values (B, G, R, A bytes in little-endian
/// files, A, R, G, B in big-endian ones): reads as [`DType::Rgba8`] (R, G, B, A).
pub struct BgraSource {
    inner: Arc<dyn ArraySource>,
    big_endian: bool,
}

impl BgraSource {
    /// Wrap a source of the stored 4-byte colour values, whose bytes are A, R, G, B when
    /// `big_endian`, else B, G, R, A.
    pub fn new(inner: Arc<dyn ArraySource>, big_endian: bool) -> Self {
        BgraSource { inner, big_endian }
    }
}

impl ArraySource for BgraSource {
    fn dtype(&self) -> DType {
        DType::Rgba8
    }

    fn shape(&self) -> &[u64] {
        self.inner.shape()
    }

    /// Reads the wrapped source with the caller's progress and [`Threads`].
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        self.inner
            .read_region_with(start, shape, out, progress, threads)?;
        for px in out.chunks_exact_mut(4) {
            let [a, b, c, d] = [px[0], px[1], px[2], px[3]];
            px.copy_from_slice(&if self.big_endian {
                [b, c, d, a]
            } else {
                [c, b, a, d]
            });
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.inner.chunk_shape()
    }

    fn decodes_whole_chunks(&self) -> bool {
        self.inner.decodes_whole_chunks()
    }
}

/// Flip the sign of the imaginary part of native-endian complex values in place.
fn conjugate(values: &mut [u8], dtype: DType) {
    match dtype {
        DType::C64 => {
            for c in values.chunks_exact_mut(8) {
                let im = -f32::from_ne_bytes(c[4..8].try_into().expect("4 bytes"));
                c[4..8].copy_from_slice(&im.to_ne_bytes());
            }
        }
        _ => {
            for c in values.chunks_exact_mut(16) {
                let im = -f64::from_ne_bytes(c[8..16].try_into().expect("8 bytes"));
                c[8..16].copy_from_slice(&im.to_ne_bytes());
            }
        }
    }
}

/// Half-plane complex FFT rows (DataType 27/28): each stored row holds `W/2 + 1` values;
/// the full row is the stored one reversed followed by the conjugates of its inner values
/// (rsciio's `hstack((row[::-1], conj(row[1:-1])))`).
pub struct PackedComplexSource {
    inner: Arc<dyn ArraySource>,
    shape: Vec<u64>,
}

impl PackedComplexSource {
    /// `inner` holds rows of `W/2 + 1` complex values; `shape` is the full logical shape.
    pub fn new(inner: Arc<dyn ArraySource>, shape: Vec<u64>) -> Self {
        PackedComplexSource { inner, shape }
    }
}

impl ArraySource for PackedComplexSource {
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Reads the wrapped source with the caller's progress and [`Threads`].
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        let n = shape.len();
        let es = self.dtype().size();
        let half = self.inner.shape()[n - 1];
        // Whole stored rows for the region's leading indices.
        let mut row_start = start.to_vec();
        let mut row_shape = shape.to_vec();
        row_start[n - 1] = 0;
        row_shape[n - 1] = half;
        let rows_len = row_shape.iter().product::<u64>() as usize * es;
        let mut rows = vec![0u8; rows_len];
        self.inner
            .read_region_with(&row_start, &row_shape, &mut rows, progress, threads)?;
        let out_row = shape[n - 1] as usize * es;
        let stored_row = half as usize * es;
        for (dst, src) in out
            .chunks_exact_mut(out_row)
            .zip(rows.chunks_exact(stored_row))
        {
            for (k, px) in dst.chunks_exact_mut(es).enumerate() {
                let c = start[n - 1] + k as u64;
                // Columns 0..=W/2 are the stored row reversed, the rest conjugated values.
                let (j, conj) = if c < half {
                    (half - 1 - c, false)
                } else {
                    (c + 1 - half, true)
                };
                let j = j as usize;
                px.copy_from_slice(&src[j * es..(j + 1) * es]);
                if conj {
                    conjugate(px, self.dtype());
                }
            }
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        let mut c = vec![1; self.shape.len()];
        let n = c.len();
        c[n - 1] = self.shape[n - 1];
        if n >= 2 {
            c[n - 2] = self.shape[n - 2];
        }
        c
    }
}

/// DM 2's packed complex FFT layout (DataType 5): a `2N x 2N` complex image stored as
/// `4N^2` floats holding its non-redundant half; the rest follows from Hermitian symmetry.
pub struct OldPackedComplexSource {
    inner: Arc<dyn ArraySource>,
}

impl OldPackedComplexSource {
    /// `inner` is the stored float32 array of the (square, even) logical shape.
    pub fn new(inner: Arc<dyn ArraySource>) -> Self {
        OldPackedComplexSource { inner }
    }

    /// The whole unpacked image as (re, im) pairs in C order, the stored values read with
    /// the caller's progress and [`Threads`].
    fn unpack(&self, progress: &dyn Progress, threads: Threads) -> Result<Vec<(f32, f32)>> {
        let side = self.inner.shape()[0] as usize;
        let n = side / 2;
        let mut raw = vec![0u8; side * side * 4];
        self.inner.read_region_with(
            &[0, 0],
            &[side as u64, side as u64],
            &mut raw,
            progress,
            threads,
        )?;
        let t: Vec<f32> = raw
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes(b.try_into().expect("4 bytes")))
            .collect();
        let mut d = vec![(0f32, 0f32); side * side];
        let at = |r: usize, c: usize| r * side + c;
        let pair = |i: usize| (t[i], t[i + 1]);
        d[at(n, 0)] = (t[0], 0.0);
        d[at(0, 0)] = (t[1], 0.0);
        d[at(n, n)] = (t[2 * n * n], 0.0);
        d[at(0, n)] = (t[2 * n * n + 1], 0.0);
        for i in 0..n {
            for k in 0..n - 1 {
                d[at(i, n + 1 + k)] = pair(2 * i * n + 2 + 2 * k);
            }
        }
        for k in 0..n - 1 {
            d[at(n + 1 + k, 0)] = pair(2 * n + 2 * n * k);
            d[at(n, n + 1 + k)] = pair(2 * n * n + 2 + 2 * k);
        }
        let base = 2 * n * n + 2 * n;
        for r in 0..n - 1 {
            for c in 0..n {
                d[at(n + 1 + r, n + c)] = pair(base + 2 * (r * n + c));
            }
        }
        let conj = |v: (f32, f32)| (v.0, -v.1);
        for j in 1..n {
            d[at(0, j)] = conj(d[at(0, side - j)]);
            d[at(n, j)] = conj(d[at(n, side - j)]);
            d[at(j, 0)] = conj(d[at(side - j, 0)]);
            d[at(j, n)] = conj(d[at(side - j, n)]);
        }
        for i in 1..n {
            for j in 1..n {
                d[at(i, j)] = conj(d[at(side - i, side - j)]);
            }
        }
        for a in 0..n - 1 {
            for b in 0..n - 1 {
                d[at(n + 1 + a, 1 + b)] = conj(d[at(n - 1 - a, side - 1 - b)]);
            }
        }
        Ok(d)
    }
}

impl ArraySource for OldPackedComplexSource {
    fn dtype(&self) -> DType {
        DType::C64
    }

    fn shape(&self) -> &[u64] {
        self.inner.shape()
    }

    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        let side = self.inner.shape()[0] as usize;
        let full = self.unpack(progress, threads)?;
        let mut px = out.chunks_exact_mut(8);
        for r in start[0] as usize..(start[0] + shape[0]) as usize {
            for c in start[1] as usize..(start[1] + shape[1]) as usize {
                let (re, im) = full[r * side + c];
                let dst = px.next().expect("region sized by the caller");
                dst[..4].copy_from_slice(&re.to_ne_bytes());
                dst[4..].copy_from_slice(&im.to_ne_bytes());
            }
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.inner.shape().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::StridedSource;

    #[test]
    fn packed_complex_rows_unpack_like_rsciio() {
        // One row of W = 4: stored [s0, s1, s2] -> [s2, s1, s0, conj(s1)].
        let vals = [(1.0f32, 0.0f32), (2.0, 3.0), (4.0, -5.0)];
        let bytes: Vec<u8> = vals
            .iter()
            .flat_map(|(r, i)| r.to_ne_bytes().into_iter().chain(i.to_ne_bytes()))
            .collect();
        let inner = StridedSource::from_bytes(bytes, DType::C64, vec![1, 3]).unwrap();
        let src = PackedComplexSource::new(Arc::new(inner), vec![1, 4]);
        let mut out = vec![0u8; 32];
        src.read_region(&[0, 0], &[1, 4], &mut out).unwrap();
        let got: Vec<(f32, f32)> = out
            .chunks_exact(8)
            .map(|c| {
                (
                    f32::from_ne_bytes(c[..4].try_into().unwrap()),
                    f32::from_ne_bytes(c[4..].try_into().unwrap()),
                )
            })
            .collect();
        assert_eq!(got, [(4.0, -5.0), (2.0, 3.0), (1.0, 0.0), (2.0, -3.0)]);
    }
}
