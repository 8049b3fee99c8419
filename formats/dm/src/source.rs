//! Pixel sources for DM layouts that are not a plain strided array: BGRA colour images and
//! packed complex FFT data. Each wraps a memory-mapped [`StridedSource`] over the stored
//! values and converts only the region asked for.

use emio_core::dtype::swap_bytes_in_place;
use emio_core::source::StridedView;
use emio_core::{ArraySource, ByteOrder, DType, Result, Storage, StridedSource};
use rayon::prelude::*;

/// RGBA images stored as 32-bit `0xAARRGGBB` values (B, G, R, A bytes in little-endian
/// files, A, R, G, B in big-endian ones): reads as [`DType::Rgba8`] (R, G, B, A).
pub struct BgraSource {
    inner: Box<dyn ArraySource>,
    big_endian: bool,
}

impl BgraSource {
    /// Wrap a source of the stored 4-byte records (declared as `Rgba8`, not swapped).
    pub fn new(inner: Box<dyn ArraySource>, big_endian: bool) -> Self {
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

    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        self.inner.read_region(start, shape, out)?;
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
    inner: StridedSource,
    shape: Vec<u64>,
}

impl PackedComplexSource {
    /// `inner` holds rows of `W/2 + 1` complex values; `shape` is the full logical shape.
    pub fn new(inner: StridedSource, shape: Vec<u64>) -> Self {
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

    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
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
        self.inner.read_region(&row_start, &row_shape, &mut rows)?;
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
    inner: StridedSource,
}

impl OldPackedComplexSource {
    /// `inner` is the stored float32 array of the (square, even) logical shape.
    pub fn new(inner: StridedSource) -> Self {
        OldPackedComplexSource { inner }
    }

    /// The whole unpacked image as (re, im) pairs in C order.
    fn unpack(&self) -> Result<Vec<(f32, f32)>> {
        let side = self.inner.shape()[0] as usize;
        let n = side / 2;
        let mut raw = vec![0u8; side * side * 4];
        self.inner
            .read_region(&[0, 0], &[side as u64, side as u64], &mut raw)?;
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

    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        let side = self.inner.shape()[0] as usize;
        let full = self.unpack()?;
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

/// A spectrum image stored energy-slowest (`(E, nav...)` in C order, as DM stores it) and
/// read energy-last (`(nav..., E)`): regions are transposed in cache-sized tiles from the
/// memory map, in parallel over navigation rows. The zero-copy strided view of the
/// permuted storage stays available for consumers that iterate in place.
pub struct SpectrumImageSource {
    /// The stored bytes seen with permuted strides (validated against the file).
    view: StridedSource,
    storage: Storage,
    offset: u64,
    swap: bool,
}

/// Side of the square tiles of the transpose (elements).
const TILE: usize = 32;

/// `dst[(x * de + e) * N ..]` = `src[base + e * plane + x * N ..]` for `e < de`, `x < dx`.
fn transpose<const N: usize>(
    src: &[u8],
    base: usize,
    plane: usize,
    dx: usize,
    de: usize,
    dst: &mut [u8],
) {
    for e0 in (0..de).step_by(TILE) {
        let e1 = (e0 + TILE).min(de);
        for x0 in (0..dx).step_by(TILE) {
            let x1 = (x0 + TILE).min(dx);
            for e in e0..e1 {
                let row = &src[base + e * plane + x0 * N..base + e * plane + x1 * N];
                for (k, v) in row.chunks_exact(N).enumerate() {
                    let d = ((x0 + k) * de + e) * N;
                    let v: &[u8; N] = v.try_into().expect("N bytes");
                    let out: &mut [u8; N] = (&mut dst[d..d + N]).try_into().expect("N bytes");
                    *out = *v;
                }
            }
        }
    }
}

impl SpectrumImageSource {
    /// `stored` is the C-contiguous `(E, nav...)` array over `storage` at `offset`.
    pub fn new(
        stored: StridedSource,
        storage: Storage,
        offset: u64,
        order: ByteOrder,
    ) -> Result<Self> {
        let n = stored.shape().len();
        let mut perm: Vec<usize> = (1..n).collect();
        perm.push(0);
        Ok(SpectrumImageSource {
            view: stored.permuted(&perm)?,
            storage,
            offset,
            swap: !order.is_native(),
        })
    }
}

impl ArraySource for SpectrumImageSource {
    fn dtype(&self) -> DType {
        self.view.dtype()
    }

    fn shape(&self) -> &[u64] {
        self.view.shape()
    }

    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        let n = shape.len();
        let es = self.dtype().size();
        let strides = self.view.strides();
        let (dx, de) = (shape[n - 2] as usize, shape[n - 1] as usize);
        let plane = strides[n - 1] as usize;
        let row_bytes = dx * de * es;
        let outer = &shape[..n - 2];
        let bytes: &[u8] = &self.storage;
        let fill = |i: usize, dst: &mut [u8]| {
            // Navigation index of this output row (mixed radix over the outer dims).
            let mut rem = i as u64;
            let mut base = self.offset as i64
                + start[n - 2] as i64 * strides[n - 2]
                + start[n - 1] as i64 * strides[n - 1];
            for d in (0..outer.len()).rev() {
                let idx = rem % outer[d];
                rem /= outer[d];
                base += (start[d] + idx) as i64 * strides[d];
            }
            let base = base as usize;
            match es {
                1 => transpose::<1>(bytes, base, plane, dx, de, dst),
                2 => transpose::<2>(bytes, base, plane, dx, de, dst),
                4 => transpose::<4>(bytes, base, plane, dx, de, dst),
                8 => transpose::<8>(bytes, base, plane, dx, de, dst),
                16 => transpose::<16>(bytes, base, plane, dx, de, dst),
                _ => {
                    for x in 0..dx {
                        for e in 0..de {
                            let s = base + e * plane + x * es;
                            let d = (x * de + e) * es;
                            dst[d..d + es].copy_from_slice(&bytes[s..s + es]);
                        }
                    }
                }
            }
            if self.swap {
                swap_bytes_in_place(dst, self.dtype().swap_unit());
            }
        };
        if row_bytes == 0 {
            return Ok(());
        }
        if out.len() >= PARALLEL_BYTES && out.len() > row_bytes {
            out.par_chunks_mut(row_bytes)
                .enumerate()
                .for_each(|(i, dst)| fill(i, dst));
        } else {
            for (i, dst) in out.chunks_mut(row_bytes).enumerate() {
                fill(i, dst);
            }
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        // Whole spectra for one navigation row.
        let shape = self.shape();
        let n = shape.len();
        let mut c = vec![1; n];
        c[n - 2..].copy_from_slice(&shape[n - 2..]);
        c
    }

    fn strided_view(&self) -> Option<StridedView<'_>> {
        self.view.strided_view()
    }
}

/// Regions at least this large are transposed on several threads.
const PARALLEL_BYTES: usize = 4 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiled transpose agrees with the plain permuted strided read on every region,
    /// for every element size and both byte orders.
    #[test]
    fn spectrum_image_regions_match_permuted_reads() {
        let stored_shape = vec![37u64, 5, 41]; // (E, y, x)
        for (dtype, order) in [
            (DType::U8, ByteOrder::Little),
            (DType::U16, ByteOrder::Big),
            (DType::Rgb8, ByteOrder::Little),
            (DType::F32, ByteOrder::Little),
            (DType::F64, ByteOrder::Big),
            (DType::C128, ByteOrder::Little),
        ] {
            let n = stored_shape.iter().product::<u64>() as usize * dtype.size();
            let bytes: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            let storage = Storage::owned(bytes);
            let stored = StridedSource::contiguous(
                "dm",
                storage.clone(),
                0,
                dtype,
                stored_shape.clone(),
                order,
            )
            .unwrap();
            let reference = stored.permuted(&[1, 2, 0]).unwrap();
            let si = SpectrumImageSource::new(stored, storage, 0, order).unwrap();
            assert_eq!(si.shape(), &[5, 41, 37]);
            for (start, shape) in [
                ([0u64, 0, 0], [5u64, 41, 37]),
                ([1, 3, 2], [3, 35, 33]),
                ([4, 40, 36], [1, 1, 1]),
                ([2, 0, 5], [1, 41, 7]),
            ] {
                let len = shape.iter().product::<u64>() as usize * dtype.size();
                let (mut a, mut b) = (vec![0u8; len], vec![0u8; len]);
                si.read_region(&start, &shape, &mut a).unwrap();
                reference.read_region(&start, &shape, &mut b).unwrap();
                assert_eq!(a, b, "{dtype} {order:?} {start:?} {shape:?}");
            }
        }
    }

    #[test]
    fn packed_complex_rows_unpack_like_rsciio() {
        // One row of W = 4: stored [s0, s1, s2] -> [s2, s1, s0, conj(s1)].
        let vals = [(1.0f32, 0.0f32), (2.0, 3.0), (4.0, -5.0)];
        let bytes: Vec<u8> = vals
            .iter()
            .flat_map(|(r, i)| r.to_ne_bytes().into_iter().chain(i.to_ne_bytes()))
            .collect();
        let inner = StridedSource::from_bytes(bytes, DType::C64, vec![1, 3]).unwrap();
        let src = PackedComplexSource::new(inner, vec![1, 4]);
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
