//! Tiled transposes: the part of an N-D copy where the axis contiguous in the source is
//! not the one contiguous in the destination (Fortran order, NCEM EMD's transposed
//! storage, DigitalMicrograph spectrum images stored energy-first).
//!
//! [`transpose`] runs the 2-D core of such copies as tiled block transposes: on x86_64 with
//! SSE2 shuffles (a 16-byte vector per line, e.g. 8 × 8 `u16` per block, tiles of two cache
//! lines per side, partial tiles by their whole blocks), elsewhere element by element
//! within the same tiles. Both [`crate::copy::copy_nd`] and [`crate::copy::gather`] take
//! this path when it applies.

use crate::strides::{walk, Layout};

/// Copy an N-D block of `shape` elements of `es` bytes from `src` laid out as `from` to
/// `dst` laid out as `to` by tiled transposes; false (nothing copied) when the layouts are
/// not a transpose: the destination's innermost axis must be contiguous there and strided
/// in the source, some other axis contiguous in the source, and `es` 1, 2, 4 or 8. The
/// caller guarantees every addressed byte lies inside both buffers.
pub(crate) fn transpose(
    src: &[u8],
    from: Layout<'_>,
    dst: &mut [u8],
    to: Layout<'_>,
    shape: &[u64],
    es: usize,
) -> bool {
    if shape.contains(&0) {
        return true;
    }
    // Axes of extent 1 have no say in the layout.
    let keep: Vec<usize> = (0..shape.len()).filter(|&k| shape[k] > 1).collect();
    let n = keep.len();
    if n < 2 || from.offset < 0 || to.offset < 0 {
        return false;
    }
    let dims: Vec<usize> = keep.iter().map(|&k| shape[k] as usize).collect();
    let ss: Vec<usize> = keep.iter().map(|&k| from.strides[k] as usize).collect();
    let ds: Vec<usize> = keep.iter().map(|&k| to.strides[k] as usize).collect();
    let negative = keep
        .iter()
        .any(|&k| from.strides[k] < 0 || to.strides[k] < 0);
    if negative || ds[n - 1] != es || ss[n - 1] == es {
        return false;
    }
    let Some(r) = ss.iter().position(|&s| s == es) else {
        return false;
    };
    let plane = Plane {
        rows: dims[r],
        cols: dims[n - 1],
        s_col: ss[n - 1],
        d_row: ds[r],
    };
    let (s0, d0) = (from.offset as usize, to.offset as usize);
    match es {
        1 => planes::<1>(src, s0, &ss, dst, d0, &ds, &dims, r, &plane),
        2 => planes::<2>(src, s0, &ss, dst, d0, &ds, &dims, r, &plane),
        4 => planes::<4>(src, s0, &ss, dst, d0, &ds, &dims, r, &plane),
        8 => planes::<8>(src, s0, &ss, dst, d0, &ds, &dims, r, &plane),
        _ => return false,
    }
    true
}

/// One 2-D transpose: `dst[row][col] = src[col][row]`, `rows` along the source's contiguous
/// axis, `cols` along the destination's; the other two strides in bytes.
struct Plane {
    rows: usize,
    cols: usize,
    s_col: usize,
    d_row: usize,
}

/// Run the 2-D transpose for every index of the axes other than `r` and the last.
#[allow(clippy::too_many_arguments)]
fn planes<const E: usize>(
    src: &[u8],
    s0: usize,
    ss: &[usize],
    dst: &mut [u8],
    d0: usize,
    ds: &[usize],
    dims: &[usize],
    r: usize,
    plane: &Plane,
) {
    let n = dims.len();
    let outer: Vec<usize> = (0..n - 1).filter(|&k| k != r).collect();
    let pick = |v: &[usize]| outer.iter().map(|&k| v[k] as i64).collect::<Vec<i64>>();
    let shape: Vec<u64> = outer.iter().map(|&k| dims[k] as u64).collect();
    walk(&shape, &pick(ss), &pick(ds), s0 as i64, |s, d| {
        transpose_plane::<E>(src, s as usize, dst, d0 + d as usize, plane)
    });
}

/// Bytes of one tile side: two cache lines (measured fastest for `u16` frames).
const TILE_BYTES: usize = 128;

/// Transpose one plane in tiles of [`TILE_BYTES`] per side. Within each tile, the largest
/// part made of whole vector blocks (`16 / E` elements per side) goes through
/// [`simd::blocks`] where available, so the narrow planes of small chunks (h5py's chunks
/// cut axes into pieces of a few indices) are vectorized too; the rest of the tile is
/// copied element by element.
fn transpose_plane<const E: usize>(src: &[u8], s: usize, dst: &mut [u8], d: usize, p: &Plane) {
    let t = TILE_BYTES / E;
    let l = 16 / E;
    for rt in (0..p.rows).step_by(t) {
        for ct in (0..p.cols).step_by(t) {
            let (s, d) = (s + rt * E + ct * p.s_col, d + rt * p.d_row + ct * E);
            let (rows, cols) = (t.min(p.rows - rt), t.min(p.cols - ct));
            let (vr, vc) = if simd::AVAILABLE {
                (rows - rows % l, cols - cols % l)
            } else {
                (0, 0)
            };
            if vr > 0 && vc > 0 {
                simd::blocks::<E>(src, s, p.s_col, dst, d, p.d_row, vr, vc);
            }
            for row in 0..rows {
                let d = d + row * p.d_row;
                // Columns the vector blocks covered in this row.
                let done = if row < vr { vc } else { 0 };
                for col in done..cols {
                    let (si, di) = (s + row * E + col * p.s_col, d + col * E);
                    dst[di..di + E].copy_from_slice(&src[si..si + E]);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    //! SSE2 block transposes (SSE2 is part of the x86_64 baseline). Loads and stores go
    //! through bounds-checked slices; only the register shuffles need `unsafe`.

    use std::arch::x86_64::{
        __m128i, _mm_unpackhi_epi16, _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpackhi_epi8,
        _mm_unpacklo_epi16, _mm_unpacklo_epi32, _mm_unpacklo_epi64, _mm_unpacklo_epi8,
    };

    use super::TILE_BYTES;

    /// Vector tiles are used on this target.
    pub const AVAILABLE: bool = true;

    /// Interleave the low and the high halves of `a` and `b` in units of `E` bytes.
    #[inline(always)]
    fn unpack<const E: usize>(a: __m128i, b: __m128i) -> (__m128i, __m128i) {
        // SAFETY: SSE2 is always enabled on x86_64 (it is part of the target's baseline),
        // and these intrinsics only shuffle register values: no memory is touched.
        unsafe {
            match E {
                1 => (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b)),
                2 => (_mm_unpacklo_epi16(a, b), _mm_unpackhi_epi16(a, b)),
                4 => (_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b)),
                _ => (_mm_unpacklo_epi64(a, b), _mm_unpackhi_epi64(a, b)),
            }
        }
    }

    /// Transpose `L` vectors of `L` elements of `E` bytes (`L * E = 16`): log2(L) rounds of
    /// interleaving vector `i` with vector `i + L/2` (a perfect shuffle of the lines).
    #[inline(always)]
    fn block<const E: usize, const L: usize>(mut a: [__m128i; L]) -> [__m128i; L] {
        for _ in 0..L.trailing_zeros() {
            let mut next = a;
            for i in 0..L / 2 {
                let (lo, hi) = unpack::<E>(a[i], a[i + L / 2]);
                next[2 * i] = lo;
                next[2 * i + 1] = hi;
            }
            a = next;
        }
        a
    }

    /// Transpose `rows` × `cols` elements (both multiples of `L`, `rows * E` at most
    /// [`TILE_BYTES`]): source lines (one per column) start at `s + c * s_col`,
    /// destination lines (one per row) at `d + r * d_row`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn blocks_l<const E: usize, const L: usize>(
        src: &[u8],
        s: usize,
        s_col: usize,
        dst: &mut [u8],
        d: usize,
        d_row: usize,
        rows: usize,
        cols: usize,
    ) {
        let line = rows * E;
        for c in (0..cols).step_by(L) {
            let lines: [&[u8]; L] = std::array::from_fn(|k| {
                let o = s + (c + k) * s_col;
                &src[o..o + line]
            });
            for j in 0..line / 16 {
                let a: [__m128i; L] = std::array::from_fn(|k| {
                    bytemuck::pod_read_unaligned(&lines[k][16 * j..16 * j + 16])
                });
                let t = block::<E, L>(a);
                for (k, v) in t.iter().enumerate() {
                    let o = d + (j * L + k) * d_row + c * E;
                    dst[o..o + 16].copy_from_slice(bytemuck::bytes_of(v));
                }
            }
        }
    }

    /// Transpose `rows` × `cols` elements of `E` bytes (1, 2, 4 or 8), both multiples of
    /// `16 / E`, `rows` at most one tile.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn blocks<const E: usize>(
        src: &[u8],
        s: usize,
        s_col: usize,
        dst: &mut [u8],
        d: usize,
        d_row: usize,
        rows: usize,
        cols: usize,
    ) {
        debug_assert!(rows * E <= TILE_BYTES);
        match E {
            1 => blocks_l::<1, 16>(src, s, s_col, dst, d, d_row, rows, cols),
            2 => blocks_l::<2, 8>(src, s, s_col, dst, d, d_row, rows, cols),
            4 => blocks_l::<4, 4>(src, s, s_col, dst, d, d_row, rows, cols),
            _ => blocks_l::<8, 2>(src, s, s_col, dst, d, d_row, rows, cols),
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod simd {
    //! No vector tiles on this target: every tile is copied element by element.

    /// Vector tiles are not used on this target.
    pub const AVAILABLE: bool = false;

    /// Never called ([`AVAILABLE`] is false).
    #[allow(clippy::too_many_arguments)]
    pub fn blocks<const E: usize>(
        _: &[u8],
        _: usize,
        _: usize,
        _: &mut [u8],
        _: usize,
        _: usize,
        _: usize,
        _: usize,
    ) {
        unreachable!("no vector tiles on this target")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strides::{c_strides, for_each_index};

    /// Reference: element by element.
    fn copy_elements(
        src: &[u8],
        from: Layout<'_>,
        dst: &mut [u8],
        to: Layout<'_>,
        shape: &[u64],
        es: usize,
    ) {
        for_each_index(shape, |index| {
            let at = |l: &Layout<'_>| {
                (l.offset
                    + index
                        .iter()
                        .zip(l.strides)
                        .map(|(&i, &s)| i as i64 * s)
                        .sum::<i64>()) as usize
            };
            let (s, d) = (at(&from), at(&to));
            dst[d..d + es].copy_from_slice(&src[s..s + es]);
        });
    }

    /// The tiled copy, or the reference where the layouts are no transpose.
    fn tiled(
        src: &[u8],
        from: Layout<'_>,
        dst: &mut [u8],
        to: Layout<'_>,
        shape: &[u64],
        es: usize,
    ) {
        if !transpose(src, from, dst, to, shape, es) {
            copy_elements(src, from, dst, to, shape, es);
        }
    }

    /// Reference output for a C-order destination.
    fn reference(
        src: &[u8],
        from: Layout<'_>,
        to_strides: &[i64],
        shape: &[u64],
        es: usize,
    ) -> Vec<u8> {
        let n: usize = shape.iter().product::<u64>() as usize * es;
        let mut out = vec![0u8; n];
        let to = Layout {
            offset: 0,
            strides: to_strides,
        };
        copy_elements(src, from, &mut out, to, shape, es);
        out
    }

    /// Reverse the axes of C-order arrays of several sizes (full and partial tiles) and
    /// element sizes, with a source offset, and compare with the plain strided copy.
    #[test]
    fn transposes_match_the_plain_copy() {
        for es in [1usize, 2, 4, 8, 16] {
            for shape in [
                vec![70u64, 67],
                vec![3, 64, 128],
                vec![2, 5, 33, 40],
                vec![1, 130, 1, 9],
                vec![100, 3, 70],
                vec![130, 2, 140],
                vec![11, 64, 11],
                vec![40, 9, 17, 24],
                vec![3, 70, 33],
            ] {
                let n: usize = shape.iter().product::<u64>() as usize * es;
                let src: Vec<u8> = (0..n + 7).map(|i| (i * 31 + i / 251) as u8).collect();
                // Logical view: the stored C-order array with its axes reversed.
                let stored = c_strides(&shape, es);
                let lshape: Vec<u64> = shape.iter().rev().copied().collect();
                let lstrides: Vec<i64> = stored.iter().rev().copied().collect();
                let from = Layout {
                    offset: 7,
                    strides: &lstrides,
                };
                let to = c_strides(&lshape, es);
                let want = reference(&src, from, &to, &lshape, es);
                let mut got = vec![0u8; want.len()];
                tiled(
                    &src,
                    from,
                    &mut got,
                    Layout {
                        offset: 0,
                        strides: &to,
                    },
                    &lshape,
                    es,
                );
                assert_eq!(got, want, "es {es}, shape {shape:?}");
            }
        }
    }

    /// A sub-block of a transposed chunk copied into the middle of a larger destination.
    #[test]
    fn offsets_and_sub_blocks() {
        let es = 2;
        let (h, w) = (96usize, 80usize);
        let src: Vec<u8> = (0..h * w * es).map(|i| (i % 253) as u8).collect();
        // Stored (w, h) C order seen as (h, w): strides (es, h*es).
        let strides = [es as i64, (h * es) as i64];
        let part = [70u64, 65];
        let from = Layout {
            offset: (3 * es + 5 * h * es) as i64,
            strides: &strides,
        };
        let dst_strides = [(100 * es) as i64, es as i64];
        let to = Layout {
            offset: (2 * 100 * es + 4 * es) as i64,
            strides: &dst_strides,
        };
        let mut want = vec![0u8; 100 * 100 * es];
        copy_elements(&src, from, &mut want, to, &part, es);
        let mut got = vec![0u8; want.len()];
        tiled(&src, from, &mut got, to, &part, es);
        assert_eq!(got, want);
    }
}
