//! Narrow planes made wide: when the axis contiguous in the source or in the destination
//! has only a few indices (a chunk of an NCEM EMD file two scan rows deep, stored with its
//! axes reversed: every destination row of the plane gets two `u16` values), the axes that
//! continue it contiguously are merged into one side of the plane. That side's lines then
//! no longer lie a fixed stride apart (the merged axes keep their own strides on the other
//! side), so the plane is moved in small tiles through scratch space: the source lines
//! of merged columns gathered into a tile before the block kernels transpose it, the
//! destination rows of merged rows scattered from one after. Each tile stays in L1; the
//! copies in and out are whole runs of `SIDE_BYTES`.

use super::{cover, Part, Plane};

/// Bytes per side of the tiles a plane with merged lines is moved in: two cache lines,
/// so that the scratch tiles (at most 16 KiB each, for 1-byte elements) stay in L1.
const SIDE_BYTES: usize = 128;

/// Tiles per panel of columns when the rows are merged: one pass over a panel's tiles
/// touches a page of each of its source lines, which then stay in the TLB until the next
/// pass (with rows merged from 16-byte sides and 1024 source lines 16 KiB apart, a read
/// took 0.43 s in panels against 0.48 s without).
const PANEL_TILES: usize = 4;

/// Bytes of scratch space [`transpose_merged`] needs: one tile in, one tile out.
pub(super) const SCRATCH_BYTES: usize = 2 * SIDE_BYTES * SIDE_BYTES;

/// Where the lines of one side of a plane start when that side is several axes merged:
/// line `i`'s offset is the sum over the axes of its index along each (`i` split by their
/// extents, the first axis varying fastest) times that axis's stride in bytes.
#[derive(Debug, Clone)]
pub(super) struct Lines {
    /// (extent, stride in bytes) of each merged axis, fastest first.
    axes: Vec<(usize, usize)>,
}

impl Lines {
    /// The lines of the merged axes `(extent, stride)`, fastest first: at most eight
    /// (merging stops once a side spans 64 bytes, and every merged axis at least doubles
    /// it).
    pub(super) fn new(axes: Vec<(usize, usize)>) -> Self {
        assert!(axes.len() <= 8, "{} merged axes", axes.len());
        Lines { axes }
    }

    /// Fill `out` with the offsets of lines `from`, `from + 1`, ...
    fn offsets(&self, from: usize, out: &mut [usize]) {
        let mut index = [0usize; 8];
        let mut offset = 0;
        let mut rest = from;
        for (k, &(n, stride)) in self.axes.iter().enumerate() {
            index[k] = rest % n;
            offset += index[k] * stride;
            rest /= n;
        }
        for at in out {
            *at = offset;
            // Next line: the odometer over the axes, fastest first.
            for (k, &(n, stride)) in self.axes.iter().enumerate() {
                index[k] += 1;
                offset += stride;
                if index[k] < n {
                    break;
                }
                index[k] = 0;
                offset -= n * stride;
            }
        }
    }
}

/// Transpose plane `p` (source at `s`, destination at `d`), some of whose sides are merged
/// axes ([`Plane::row_lines`], [`Plane::col_lines`]), tile by tile: merged columns' source
/// lines gathered into a tile of `scratch` (of [`SCRATCH_BYTES`]), the tile transposed by
/// the block kernels ([`cover`]) into the destination or, when the rows are merged, into
/// a second tile whose rows are then scattered to theirs (streamed past the cache with
/// [`Plane::stream`]). Tiles go along the merged side's lines: every scattered
/// destination row, or every gathered source line, is then done in one pass.
pub(super) fn transpose_merged<const E: usize>(
    src: &[u8],
    s: usize,
    dst: &mut [u8],
    d: usize,
    p: &Plane,
    scratch: &mut [u8],
) {
    let t = SIDE_BYTES / E;
    let line = t * E;
    let (tile_in, tile_out) = scratch.split_at_mut(t * line);
    let mut at = [0usize; SIDE_BYTES];
    let mut tile = |r0: usize, c0: usize| {
        let (rn, cn) = (t.min(p.rows - r0), t.min(p.cols - c0));
        // The tile's source: its columns' lines, gathered when they are merged.
        let (from, s_at, s_col) = match &p.col_lines {
            Some(lines) => {
                lines.offsets(c0, &mut at[..cn]);
                for (j, &at) in at[..cn].iter().enumerate() {
                    let start = s + at + r0 * E;
                    tile_in[j * line..][..rn * E].copy_from_slice(&src[start..][..rn * E]);
                }
                (&*tile_in, 0, line)
            }
            None => (src, s + r0 * E + c0 * p.s_col, p.s_col),
        };
        let part = |d, d_row, stream| Part {
            s: s_at,
            s_col,
            d,
            d_row,
            rows: rn,
            cols: cn,
            stream,
        };
        match &p.row_lines {
            Some(lines) => {
                cover::<E>(p.kernel, from, tile_out, &part(0, line, false));
                lines.offsets(r0, &mut at[..rn]);
                for (i, &at) in at[..rn].iter().enumerate() {
                    let start = d + at + c0 * E;
                    let (to, row) = (&mut dst[start..][..cn * E], &tile_out[i * line..][..cn * E]);
                    if p.stream {
                        crate::stream_copy::copy(to, row);
                    } else {
                        to.copy_from_slice(row);
                    }
                }
            }
            None => {
                let start = d + r0 * p.d_row + c0 * E;
                cover::<E>(p.kernel, from, dst, &part(start, p.d_row, p.stream));
            }
        }
    };
    if p.row_lines.is_some() {
        for panel in (0..p.cols).step_by(PANEL_TILES * t) {
            for r0 in (0..p.rows).step_by(t) {
                for c0 in (panel..p.cols.min(panel + PANEL_TILES * t)).step_by(t) {
                    tile(r0, c0);
                }
            }
        }
    } else {
        for c0 in (0..p.cols).step_by(t) {
            for r0 in (0..p.rows).step_by(t) {
                tile(r0, c0);
            }
        }
    }
}
