//! Tiled transposes: the part of an N-D copy where the axis contiguous in the source is
//! not the one contiguous in the destination (Fortran order, NCEM EMD's transposed
//! storage, DigitalMicrograph spectrum images stored energy-first).
//!
//! `transpose` (crate-internal) runs the 2-D core of such copies as tiled block transposes
//! (tiles of 512 bytes per side, panel by panel). Each tile is covered by the widest
//! vector blocks the processor runs, chosen once at run time ([`Kernel::best`]): on x86_64
//! AVX-512 (one 64-byte vector per row piece, e.g. 32 × 32 `u16` per block), AVX2 (two
//! 32-byte vectors per 64-byte row piece) or SSE2 (16 bytes, part of the x86_64 baseline);
//! what the wide blocks leave of a tile goes to the next narrower kernel, and the last
//! partial blocks element by element. A plane whose rows are narrower than the narrowest
//! block, or whose columns are narrower than a cache line (a chunk two scan rows deep),
//! takes the axes that continue that side contiguously (`merged.rs`). Elsewhere, tiles are copied element by element. Both
//! [`crate::copy::copy_nd`] and the crate's gather take this path when it applies;
//! [`transpose_2d`] runs one plane with a chosen kernel (benchmarks, tests).

use std::sync::OnceLock;

use crate::strides::{walk, Layout};

mod merged;
#[cfg(target_arch = "x86_64")]
mod x86;

use merged::Lines;

/// Copy an N-D block of `shape` elements of `es` bytes from `src` laid out as `from` to
/// `dst` laid out as `to` by tiled transposes; false (nothing copied) when the layouts are
/// not a transpose: the destination's innermost axis must be contiguous there and strided
/// in the source, some other axis contiguous in the source, and `es` 1, 2, 4 or 8. The
/// caller guarantees every addressed byte lies inside both buffers. With `stream`, whole
/// destination lines are written past the cache (`Plane::stream`): for destinations
/// far larger than the cache that nothing reads again soon.
pub(crate) fn transpose(
    src: &[u8],
    from: Layout<'_>,
    dst: &mut [u8],
    to: Layout<'_>,
    shape: &[u64],
    es: usize,
    stream: bool,
) -> bool {
    if shape.contains(&0) {
        return true;
    }
    // Axes of extent 1 have no say in the layout.
    let mut keep: Vec<usize> = (0..shape.len()).filter(|&k| shape[k] > 1).collect();
    // Every index is copied on its own, so the axes may be taken in any order: the one
    // contiguous in the destination goes last (a writer scattering C-order regions into a
    // transposed layout is then the same transpose as a reader gathering them).
    if let Some(p) = keep.iter().position(|&k| to.strides[k] == es as i64) {
        let k = keep.remove(p);
        keep.push(k);
    }
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
    // Narrow sides of the plane take the axes that continue them contiguously
    // (`merged.rs`).
    let rows = merge(r, &dims, &ss, es, &[n - 1], MERGE_ROW_BYTES);
    let cols = merge(n - 1, &dims, &ds, es, &rows, MERGE_COL_BYTES);
    let lines = |axes: &[usize], strides: &[usize]| {
        (axes.len() > 1).then(|| Lines::new(axes.iter().map(|&k| (dims[k], strides[k])).collect()))
    };
    let plane = Plane {
        rows: rows.iter().map(|&k| dims[k]).product(),
        cols: cols.iter().map(|&k| dims[k]).product(),
        s_col: ss[n - 1],
        d_row: ds[r],
        row_lines: lines(&rows, &ds),
        col_lines: lines(&cols, &ss),
        kernel: Kernel::best(),
        stream,
    };
    let outer: Vec<usize> = (0..n)
        .filter(|k| !rows.contains(k) && !cols.contains(k))
        .collect();
    let pick = |v: &[usize]| outer.iter().map(|&k| v[k] as i64).collect::<Vec<i64>>();
    let shape: Vec<u64> = outer.iter().map(|&k| dims[k] as u64).collect();
    let (ss, ds) = (pick(&ss), pick(&ds));
    let (s0, d0) = (from.offset as usize, to.offset as usize);
    match es {
        1 => planes::<1>(src, s0, dst, d0, &shape, &ss, &ds, &plane),
        2 => planes::<2>(src, s0, dst, d0, &shape, &ss, &ds, &plane),
        4 => planes::<4>(src, s0, dst, d0, &shape, &ss, &ds, &plane),
        8 => planes::<8>(src, s0, dst, d0, &shape, &ss, &ds, &plane),
        _ => return false,
    }
    if stream {
        crate::stream_copy::fence();
    }
    true
}

/// Transpose one plane of `rows` × `cols` elements of `es` bytes with `kernel`:
/// `dst[r * d_row + c * es..][..es] = src[r * es + c * s_col..][..es]` for every row
/// `r < rows` and column `c < cols`, so each column is one contiguous line of the source
/// and each row one contiguous line of the destination. A kernel this processor lacks is
/// replaced by the best it has. With `stream`, whole destination lines go past the cache
/// (as the crate's own copies do for large destinations). False (nothing copied) when `es`
/// is not 1, 2, 4 or 8 or an addressed byte lies outside a buffer.
#[allow(clippy::too_many_arguments)]
pub fn transpose_2d(
    kernel: Kernel,
    src: &[u8],
    s_col: usize,
    dst: &mut [u8],
    d_row: usize,
    rows: usize,
    cols: usize,
    es: usize,
    stream: bool,
) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    // The byte just past the last element addressed in a buffer of these strides.
    let end = |row_stride: usize, col_stride: usize| {
        (rows - 1)
            .checked_mul(row_stride)?
            .checked_add((cols - 1).checked_mul(col_stride)?)?
            .checked_add(es)
    };
    let fits = end(es, s_col).is_some_and(|e| e <= src.len())
        && end(d_row, es).is_some_and(|e| e <= dst.len());
    if !fits {
        return false;
    }
    let plane = Plane {
        rows,
        cols,
        s_col,
        d_row,
        kernel: kernel.min(Kernel::best()),
        stream,
        row_lines: None,
        col_lines: None,
    };
    match es {
        1 => transpose_plane::<1>(src, 0, dst, 0, &plane),
        2 => transpose_plane::<2>(src, 0, dst, 0, &plane),
        4 => transpose_plane::<4>(src, 0, dst, 0, &plane),
        8 => transpose_plane::<8>(src, 0, dst, 0, &plane),
        _ => return false,
    }
    if stream {
        crate::stream_copy::fence();
    }
    true
}

/// The kernels that cover a tile with square blocks, narrowest first: each transposes a
/// block of lines one vector wide in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kernel {
    /// Element by element (any target).
    Scalar,
    /// 16-byte vectors (x86_64 baseline).
    Sse2,
    /// 32-byte vectors, two per 64-byte row piece (x86_64 with AVX2).
    Avx2,
    /// 64-byte vectors (x86_64 with AVX512F and AVX512BW).
    Avx512,
}

impl Kernel {
    /// The widest kernel this processor runs (detected on the first call).
    pub fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(detect)
    }

    /// Every kernel this processor runs, narrowest first.
    pub fn available() -> Vec<Kernel> {
        [Kernel::Scalar, Kernel::Sse2, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|&k| k <= Kernel::best())
            .collect()
    }

    /// Elements per side of one block of `es`-byte elements.
    fn side(self, es: usize) -> usize {
        match self {
            Kernel::Scalar => 1,
            Kernel::Sse2 => 16 / es,
            Kernel::Avx2 => 64 / es,
            Kernel::Avx512 => 64 / es,
        }
    }

    /// The kernel for what this one's whole blocks leave of a tile.
    fn narrower(self) -> Kernel {
        match self {
            Kernel::Avx512 => Kernel::Avx2,
            Kernel::Avx2 => Kernel::Sse2,
            Kernel::Sse2 | Kernel::Scalar => Kernel::Scalar,
        }
    }
}

/// The widest kernel the running processor supports.
fn detect() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2");
        if avx2 && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") {
            Kernel::Avx512
        } else if avx2 {
            Kernel::Avx2
        } else {
            Kernel::Sse2
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    Kernel::Scalar
}

/// One 2-D transpose: `dst[row][col] = src[col][row]`, `rows` along the source's contiguous
/// axis, `cols` along the destination's; the other two strides in bytes, and the widest
/// kernel to use (one this processor runs).
struct Plane {
    rows: usize,
    cols: usize,
    s_col: usize,
    d_row: usize,
    kernel: Kernel,
    /// Write whole 64-byte destination lines with non-temporal stores (AVX-512 and AVX2
    /// blocks, whose row pieces are such lines when the rows start on lines): a plain
    /// store first reads its line from memory, a third memory pass a large transpose
    /// does not need. The caller fences afterwards.
    stream: bool,
    /// The destination rows' offsets when the rows are several axes merged (`d_row` then
    /// unused).
    row_lines: Option<Lines>,
    /// The source columns' offsets when the columns are several axes merged (`s_col` then
    /// unused).
    col_lines: Option<Lines>,
}

/// The axes one side of a plane is made of: `first`, then, while the side spans less than
/// `bytes`, the axis (not in `taken`) whose stride in `strides` continues it contiguously
/// (the side's extent times `es`).
fn merge(
    first: usize,
    dims: &[usize],
    strides: &[usize],
    es: usize,
    taken: &[usize],
    bytes: usize,
) -> Vec<usize> {
    let mut axes = vec![first];
    let mut extent = dims[first];
    while extent * es < bytes {
        let next = (0..dims.len())
            .find(|k| !axes.contains(k) && !taken.contains(k) && strides[*k] == extent * es);
        let Some(k) = next else { break };
        axes.push(k);
        extent *= dims[k];
    }
    axes
}

/// A transposed plane's rows (along the source's contiguous axis) narrower than this many
/// bytes, the narrowest vector block's (SSE2's 16), take the source axes that continue
/// them contiguously: their planes would otherwise go element by element (`merged.rs`:
/// the destination rows are then scattered from a tile). Wider rows keep their blocks:
/// merging rows of 16 bytes too made reads of NCEM chunks 8 frames deep slower than their
/// staged path (docs/performance.md, session 39).
pub const MERGE_ROW_BYTES: usize = 16;

/// A transposed plane's columns (along the destination's contiguous axis) narrower than
/// this many bytes, a cache line, take the destination axes that continue them (the source
/// lines are then gathered into a tile, and the destination written in whole lines):
/// writes of NCEM EMD chunks 8 frames deep ran 0.44-0.50 s for 256 MiB through 16-byte
/// blocks, 0.38-0.39 s merged (docs/performance.md, session 39).
const MERGE_COL_BYTES: usize = 64;

/// Run the 2-D transpose `plane` for every index of the outer axes (`shape`, their source
/// and destination strides `ss` and `ds`).
#[allow(clippy::too_many_arguments)]
fn planes<const E: usize>(
    src: &[u8],
    s0: usize,
    dst: &mut [u8],
    d0: usize,
    shape: &[u64],
    ss: &[i64],
    ds: &[i64],
    plane: &Plane,
) {
    if plane.row_lines.is_none() && plane.col_lines.is_none() {
        walk(shape, ss, ds, s0 as i64, |s, d| {
            transpose_plane::<E>(src, s as usize, dst, d0 + d as usize, plane)
        });
        return;
    }
    let mut scratch = vec![0u8; merged::SCRATCH_BYTES];
    walk(shape, ss, ds, s0 as i64, |s, d| {
        merged::transpose_merged::<E>(src, s as usize, dst, d0 + d as usize, plane, &mut scratch)
    });
}

/// Bytes of one tile side: eight cache lines (the fastest of 128, 256 and 512 bytes for
/// every element size once the kernels fetch ahead; docs/performance.md).
const TILE_BYTES: usize = 512;

/// Bytes of one panel side: tiles are visited panel by panel, so that the pieces of source
/// lines and destination rows one panel touches stay in the L2 cache and their pages in
/// the TLB until every tile of the panel has used them. Without panels, large planes
/// (lines of many KiB) miss the TLB for every tile line.
const PANEL_BYTES: usize = 1024;

/// Transpose one plane in tiles of [`TILE_BYTES`] per side, each covered by [`cover`],
/// panel by panel ([`PANEL_BYTES`]); within a panel the tiles follow the source lines.
/// When streaming, the columns before the first that starts a destination cache line go
/// first as a strip of their own, so that the tiles' rows start on lines.
fn transpose_plane<const E: usize>(src: &[u8], s: usize, dst: &mut [u8], d: usize, p: &Plane) {
    let misaligned = (dst.as_ptr() as usize + d) % 64;
    let head = if p.stream && p.d_row.is_multiple_of(64) && (64 - misaligned).is_multiple_of(E) {
        ((64 - misaligned) % 64 / E).min(p.cols)
    } else {
        0
    };
    let part = |rows: usize, cols: usize| Part {
        s,
        s_col: p.s_col,
        d,
        d_row: p.d_row,
        rows,
        cols,
        stream: p.stream,
    };
    let (t, panel) = (TILE_BYTES / E, PANEL_BYTES / E);
    for rt in (0..p.rows).step_by(t) {
        let strip = part(t.min(p.rows - rt), head);
        let strip = strip.at::<E>(rt, 0);
        cover::<E>(p.kernel, src, dst, &strip);
    }
    for cp in (head..p.cols).step_by(panel) {
        for rp in (0..p.rows).step_by(panel) {
            for ct in (cp..p.cols.min(cp + panel)).step_by(t) {
                for rt in (rp..p.rows.min(rp + panel)).step_by(t) {
                    let tile = part(t.min(p.rows - rt), t.min(p.cols - ct)).at::<E>(rt, ct);
                    cover::<E>(p.kernel, src, dst, &tile);
                }
            }
        }
    }
}

/// A rectangle of a plane: source line of column `c` at `s + c * s_col`, destination line
/// of row `r` at `d + r * d_row`, `rows` at most one tile; `stream` as [`Plane::stream`].
#[derive(Debug, Clone, Copy)]
struct Part {
    s: usize,
    s_col: usize,
    d: usize,
    d_row: usize,
    rows: usize,
    cols: usize,
    stream: bool,
}

impl Part {
    /// The same rectangle moved to start at row `row` and column `col` of this one.
    fn at<const E: usize>(self, row: usize, col: usize) -> Part {
        Part {
            s: self.s + row * E + col * self.s_col,
            d: self.d + row * self.d_row + col * E,
            ..self
        }
    }
}

/// Transpose `part` (at most one tile): its largest piece made of whole blocks of `kernel`
/// by that kernel, the strips it leaves (right of the piece, then below it) by the next
/// narrower kernel; the narrowest vector kernel covers its own strips with overlapping
/// blocks, and only parts narrower than its blocks go element by element. Small chunks'
/// narrow planes (h5py's chunks cut axes into pieces of a few indices) are then
/// vectorized too.
fn cover<const E: usize>(kernel: Kernel, src: &[u8], dst: &mut [u8], part: &Part) {
    if part.rows == 0 || part.cols == 0 {
        return;
    }
    // A part narrower than this kernel's blocks goes straight to the widest kernel whose
    // blocks fit it.
    let mut kernel = kernel;
    while part.rows.min(part.cols) < kernel.side(E) {
        kernel = kernel.narrower();
    }
    let l = kernel.side(E);
    let (vr, vc) = (part.rows - part.rows % l, part.cols - part.cols % l);
    // The rectangle of `rows` × `cols` starting at row `row` and column `col` of the part.
    let piece = |row: usize, col: usize, rows: usize, cols: usize| {
        Part {
            rows,
            cols,
            ..*part
        }
        .at::<E>(row, col)
    };
    blocks::<E>(kernel, src, dst, &piece(0, 0, vr, vc));
    let narrower = kernel.narrower();
    if narrower == Kernel::Scalar && kernel != Kernel::Scalar {
        // The narrowest vector kernel leaves strips narrower than its blocks: blocks moved
        // back to end at the part's edges cover them, overlapping what is already written
        // (the same values, written again), rather than element by element. A chunk of
        // h5py's (15, 15, ...) `u16` planes then takes four blocks instead of 161 elements
        // one at a time.
        let (last_row, last_col) = (part.rows - l, part.cols - l);
        if vc < part.cols {
            blocks::<E>(kernel, src, dst, &piece(0, last_col, vr, l));
        }
        if vr < part.rows {
            blocks::<E>(kernel, src, dst, &piece(last_row, 0, l, vc));
            if vc < part.cols {
                blocks::<E>(kernel, src, dst, &piece(last_row, last_col, l, l));
            }
        }
        return;
    }
    cover::<E>(narrower, src, dst, &piece(0, vc, vr, part.cols - vc));
    cover::<E>(narrower, src, dst, &piece(vr, 0, part.rows - vr, part.cols));
}

/// Transpose `part`, whose sides are whole multiples of `kernel`'s block side, with that
/// kernel (one this processor runs).
fn blocks<const E: usize>(kernel: Kernel, src: &[u8], dst: &mut [u8], part: &Part) {
    #[cfg(target_arch = "x86_64")]
    if kernel != Kernel::Scalar {
        x86::blocks::<E>(kernel, src, dst, part);
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernel;
    elements::<E>(src, dst, part);
}

/// Transpose `part` element by element.
fn elements<const E: usize>(src: &[u8], dst: &mut [u8], part: &Part) {
    for row in 0..part.rows {
        let d = part.d + row * part.d_row;
        for col in 0..part.cols {
            let (si, di) = (part.s + row * E + col * part.s_col, d + col * E);
            dst[di..di + E].copy_from_slice(&src[si..si + E]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strides::{c_strides, for_each_index};
    use proptest::prelude::*;

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

    /// The tiled copy (streaming or not), or the reference where the layouts are no
    /// transpose.
    #[allow(clippy::too_many_arguments)]
    fn tiled(
        src: &[u8],
        from: Layout<'_>,
        dst: &mut [u8],
        to: Layout<'_>,
        shape: &[u64],
        es: usize,
        stream: bool,
    ) {
        if !transpose(src, from, dst, to, shape, es, stream) {
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
    /// element sizes, with a source offset, streaming or not, and compare with the plain
    /// strided copy.
    #[test]
    fn transposes_match_the_plain_copy() {
        for (es, stream) in [1usize, 2, 4, 8, 16]
            .into_iter()
            .flat_map(|es| [(es, false), (es, true)])
        {
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
                vec![2, 96, 600],
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
                    stream,
                );
                assert_eq!(got, want, "es {es}, shape {shape:?}, stream {stream}");
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
        for stream in [false, true] {
            tiled(&src, from, &mut got, to, &part, es, stream);
            assert_eq!(got, want, "stream {stream}");
        }
    }

    /// Strides of an array of `shape` stored with its axes in `order` (`order[0]` slowest),
    /// C-contiguous in that order.
    fn permuted_strides(shape: &[u64], order: &[usize], es: usize) -> Vec<i64> {
        let stored: Vec<u64> = order.iter().map(|&k| shape[k]).collect();
        let c = c_strides(&stored, es);
        let mut strides = vec![0i64; shape.len()];
        for (i, &k) in order.iter().enumerate() {
            strides[k] = c[i];
        }
        strides
    }

    /// A 2- to 5-D array of at most 50,000 elements and two orders of its axes.
    fn shapes_and_orders() -> impl Strategy<Value = (Vec<u64>, Vec<usize>, Vec<usize>)> {
        let shape = prop::collection::vec(prop_oneof![1u64..5, 1u64..80], 2..=5)
            .prop_filter("at most 50,000 elements", |s| {
                s.iter().product::<u64>() <= 50_000
            });
        shape.prop_flat_map(|shape| {
            let axes: Vec<usize> = (0..shape.len()).collect();
            (
                Just(shape),
                Just(axes.clone()).prop_shuffle(),
                Just(axes).prop_shuffle(),
            )
        })
    }

    /// `transpose_2d`'s contract, element by element.
    #[allow(clippy::too_many_arguments)]
    fn naive_2d(
        src: &[u8],
        s_col: usize,
        dst: &mut [u8],
        d_row: usize,
        rows: usize,
        cols: usize,
        es: usize,
    ) {
        for r in 0..rows {
            for c in 0..cols {
                let (s, d) = (r * es + c * s_col, r * d_row + c * es);
                dst[d..d + es].copy_from_slice(&src[s..s + es]);
            }
        }
    }

    proptest! {
        /// Every kernel this processor runs, for every element size, on planes of odd
        /// sizes (partial tiles and blocks left to the narrower kernels), padded lines
        /// (destination lines a whole number of cache lines apart, as streaming aligns
        /// them, or not) and buffers starting at unaligned addresses, streaming or not,
        /// against the element-by-element copy.
        #[test]
        fn every_kernel_matches_the_scalar_copy(
            es in prop::sample::select(vec![1usize, 2, 4, 8]),
            rows in 1usize..540,
            cols in 1usize..300,
            src_pad in 0usize..70,
            dst_pad in 0usize..70,
            whole_lines in any::<bool>(),
            src_skew in 0usize..64,
            dst_skew in 0usize..64,
            stream in any::<bool>(),
        ) {
            let s_col = rows * es + src_pad;
            let d_row = if whole_lines {
                (cols * es).next_multiple_of(64)
            } else {
                cols * es + dst_pad
            };
            let n = src_skew + s_col * cols;
            let src: Vec<u8> = (0..n).map(|i| (i * 131 + i / 253) as u8).collect();
            let src = &src[src_skew..];
            let mut want = vec![0xA5u8; dst_skew + d_row * rows];
            naive_2d(src, s_col, &mut want[dst_skew..], d_row, rows, cols, es);
            for kernel in Kernel::available() {
                let mut got = vec![0xA5u8; want.len()];
                let dst = &mut got[dst_skew..];
                let done = transpose_2d(kernel, src, s_col, dst, d_row, rows, cols, es, stream);
                prop_assert!(done, "{kernel:?}");
                prop_assert!(got == want, "{kernel:?}, es {es}, {rows} x {cols}, stream {stream}");
            }
        }
    }

    proptest! {
        /// Arrays of 2 to 5 axes, some only a few indices long, copied between any two
        /// storage orders (narrow planes merge the axes that continue them, `merged.rs`),
        /// streaming or not, from an offset, against the element-by-element copy.
        #[test]
        fn any_storage_order_matches_the_plain_copy(
            (shape, from_order, to_order) in shapes_and_orders(),
            es in prop::sample::select(vec![1usize, 2, 4, 8]),
            skew in 0usize..9,
            stream in any::<bool>(),
        ) {
            let n = shape.iter().product::<u64>() as usize * es;
            let src: Vec<u8> = (0..n + skew).map(|i| (i * 131 + i / 253) as u8).collect();
            let (from, to) = (
                permuted_strides(&shape, &from_order, es),
                permuted_strides(&shape, &to_order, es),
            );
            let from = Layout { offset: skew as i64, strides: &from };
            let to = Layout { offset: 0, strides: &to };
            let mut want = vec![0u8; n];
            copy_elements(&src, from, &mut want, to, &shape, es);
            let mut got = vec![0u8; n];
            tiled(&src, from, &mut got, to, &shape, es, stream);
            prop_assert!(got == want, "{shape:?} stored {from_order:?} to {to_order:?}, es {es}");
        }
    }

    /// A plane that does not fit its buffers, or elements of another size, are declined
    /// without a byte written.
    #[test]
    fn planes_outside_the_buffers_are_declined() {
        let src = vec![1u8; 64 * 64 * 2];
        let mut dst = vec![0u8; 64 * 64 * 2];
        for kernel in Kernel::available() {
            assert!(!transpose_2d(
                kernel, &src, 128, &mut dst, 128, 64, 65, 2, true
            ));
            assert!(!transpose_2d(
                kernel, &src, 128, &mut dst, 130, 64, 64, 2, true
            ));
            assert!(!transpose_2d(kernel, &src, 6, &mut dst, 6, 2, 2, 3, true));
            assert!(!transpose_2d(
                kernel,
                &src,
                usize::MAX,
                &mut dst,
                128,
                2,
                2,
                2,
                true
            ));
            assert!(dst.iter().all(|&b| b == 0), "{kernel:?}");
        }
    }

    /// The kernels run here are the scalar one and everything up to the detected best.
    #[test]
    fn available_kernels_run_from_scalar_to_the_best() {
        let all = Kernel::available();
        assert_eq!(all.first(), Some(&Kernel::Scalar));
        assert_eq!(all.last(), Some(&Kernel::best()));
        assert!(all.windows(2).all(|w| w[1].narrower() == w[0]));
    }
}
