//! Logical-order reads of unfiltered chunked data whose innermost logical axis is not the
//! innermost stored one (NCEM's transposed storage, any chunk shape).
//!
//! Copying chunk by chunk straight into the output would transpose each chunk on its own:
//! with h5py's chunks, which cut the axes into pieces of a few indices, every transposed
//! plane is a few elements wide (no vector blocks), and every output cache line is written
//! by several chunks read far apart in time. Instead the region is cut into *slabs* of at
//! most [`SLAB_BYTES`] that hold the region's whole extent along the two axes of the
//! transpose (the innermost logical one and the innermost stored one) as far as it fits.
//! Each slab is first gathered from the chunks it touches into a scratch buffer in the
//! stored axis order (runs of stored rows, as in the file), then transposed into the output
//! in one tiled pass ([`copy_nd`]) while it is still in the cache: every stored byte is read
//! once, every output line written once, through whole vector blocks. Slabs are visited in
//! the stored order, so the file is read front to back within each chunk.

use std::collections::HashMap;

use emio_core::source::{
    c_strides, copy_nd, element_count, for_each_index, Layout, MERGE_ROW_BYTES,
};

use super::{zero_fill, Entry, Geometry};

/// Largest slab: a scratch buffer that stays in the L2 cache together with the output
/// lines its transpose writes.
const SLAB_BYTES: u64 = 512 << 10;

/// Chunks at least this many elements wide along both axes of the transpose (and regions
/// as wide) are transposed straight from the file into the output: their planes are
/// covered by whole vector blocks, and staging would only add a copy of every byte.
const WIDE_PLANE: u64 = 64;

/// The logical axis of the innermost stored axis a chunk holds more than one index of (the
/// runs a chunk is stored in: stored axes after it are chunked one index at a time, as
/// NCEM's frames), when a region of `shape` is worth staging: it is not the innermost
/// logical axis, both have more than one index in the region, and the chunks' planes
/// along them are narrower than [`WIDE_PLANE`] (h5py's chunks; not NCEM's whole frames).
pub(super) fn stored_inner_axis(g: &Geometry, shape: &[u64]) -> Option<usize> {
    let n = shape.len();
    let inner = (0..n).rev().find(|&k| g.stored_chunk[k] > 1)?;
    let b = g.perm.iter().position(|&p| p == inner)?;
    let wide = |k: usize| g.chunk[k].min(shape[k]) >= WIDE_PLANE;
    // A side along `b` narrower than [`MERGE_ROW_BYTES`] takes the stored axes that continue
    // it within a chunk (core's transposes merge them): a chunk a few indices deep along
    // `b` but whole along the next stored axes has wide planes too.
    let es = g.dtype.size() as u64;
    let mut side = g.chunk[b].min(shape[b]);
    for stored in (0..inner).rev() {
        let d = g.perm.iter().position(|&p| p == stored)?;
        if side * es >= MERGE_ROW_BYTES as u64 || d == n - 1 {
            break;
        }
        side *= g.chunk[d].min(shape[d]);
    }
    let narrow = !(side >= WIDE_PLANE && wide(n - 1));
    (n >= 2 && b != n - 1 && shape[n - 1] > 1 && shape[b] > 1 && narrow).then_some(b)
}

/// The slab of a region of `shape`: axes other than the two of the transpose (`b`, stored
/// innermost, and the innermost logical one) are cut first, outermost *stored* axis first
/// (so a slab reads whole runs of the innermost stored axes, pages of the file rather than
/// a line of every page), then `b`, then the innermost logical axis, until the slab fits
/// `budget` bytes; an axis cut to more than one chunk is cut at a whole number of chunks.
fn slab_shape(g: &Geometry, shape: &[u64], b: usize, budget: u64) -> Vec<u64> {
    let n = shape.len();
    let es = g.dtype.size() as u64;
    let mut slab = shape.to_vec();
    let mut logical_of = vec![0; n];
    for (i, &p) in g.perm.iter().enumerate() {
        logical_of[p] = i;
    }
    let others = logical_of.into_iter().filter(|&d| d != b && d != n - 1);
    for d in others.chain([b, n - 1]) {
        let bytes = slab.iter().product::<u64>() * es;
        if bytes <= budget {
            break;
        }
        let others = bytes / slab[d];
        let mut keep = (budget / others).clamp(1, slab[d]);
        if keep > g.chunk[d] {
            keep -= keep % g.chunk[d];
        }
        slab[d] = keep;
    }
    slab
}

/// Copy the region `start .. start + shape` (non-empty, [`stored_inner_axis`] is `b`) of
/// the chunks in `table`, stored in `storage`, into `out` in C order (no byte swap).
pub(super) fn fill(
    storage: &[u8],
    g: &Geometry,
    table: &HashMap<u64, Entry>,
    start: &[u64],
    shape: &[u64],
    b: usize,
    out: &mut [u8],
) {
    let slab = slab_shape(g, shape, b, SLAB_BYTES);
    fill_in_slabs(storage, g, table, start, shape, &slab, out);
}

/// [`fill`] through slabs of `slab` (logical axis order).
fn fill_in_slabs(
    storage: &[u8],
    g: &Geometry,
    table: &HashMap<u64, Entry>,
    start: &[u64],
    shape: &[u64],
    slab: &[u64],
    out: &mut [u8],
) {
    let n = shape.len();
    let es = g.dtype.size();
    let mut logical_of = vec![0; n];
    for (i, &p) in g.perm.iter().enumerate() {
        logical_of[p] = i;
    }
    let scratch_len = element_count(slab).unwrap_or(0) as usize * es;
    let mut scratch = vec![0u8; scratch_len];
    let dst_strides = c_strides(shape, es);
    // The slab grid, walked in the stored axis order.
    let counts: Vec<u64> = (0..n)
        .map(|k| {
            let i = logical_of[k];
            shape[i].div_ceil(slab[i])
        })
        .collect();
    let mut at = vec![0u64; n];
    let mut extent = vec![0u64; n];
    for_each_index(&counts, |grid| {
        for (k, &g_k) in grid.iter().enumerate() {
            let i = logical_of[k];
            at[i] = start[i] + g_k * slab[i];
            extent[i] = slab[i].min(start[i] + shape[i] - at[i]);
        }
        let stored_extent: Vec<u64> = (0..n).map(|k| extent[logical_of[k]]).collect();
        let staged = &mut scratch[..element_count(&extent).unwrap_or(0) as usize * es];
        gather(storage, g, table, &at, &stored_extent, &logical_of, staged);
        let stored_strides = c_strides(&stored_extent, es);
        let from_strides: Vec<i64> = g.perm.iter().map(|&p| stored_strides[p]).collect();
        let offset: i64 = (0..n)
            .map(|i| (at[i] - start[i]) as i64 * dst_strides[i])
            .sum();
        copy_nd(
            staged,
            Layout {
                offset: 0,
                strides: &from_strides,
            },
            out,
            Layout {
                offset,
                strides: &dst_strides,
            },
            &extent,
            es,
        );
    });
}

/// Copy the block at logical `at` of `stored_extent` (in stored axis order) from every
/// chunk it touches into `staged`, C order in the stored axis order; missing chunks read as
/// zeros.
fn gather(
    storage: &[u8],
    g: &Geometry,
    table: &HashMap<u64, Entry>,
    at: &[u64],
    stored_extent: &[u64],
    logical_of: &[usize],
    staged: &mut [u8],
) {
    let n = stored_extent.len();
    let es = g.dtype.size();
    let chunk: Vec<u64> = g.stored_chunk.iter().map(|&c| c.max(1)).collect();
    let begin: Vec<u64> = (0..n).map(|k| at[logical_of[k]]).collect();
    let first: Vec<u64> = (0..n).map(|k| begin[k] / chunk[k]).collect();
    let counts: Vec<u64> = (0..n)
        .map(|k| (begin[k] + stored_extent[k] - 1) / chunk[k] - first[k] + 1)
        .collect();
    let src_strides = c_strides(&chunk, es);
    let dst_strides = c_strides(stored_extent, es);
    let mut part = vec![0u64; n];
    for_each_index(&counts, |step| {
        let (mut src, mut dst, mut key) = (0i64, 0i64, 0u64);
        for k in 0..n {
            let index = first[k] + step[k];
            let c0 = index * chunk[k];
            let lo = c0.max(begin[k]);
            let hi = (c0 + chunk[k]).min(begin[k] + stored_extent[k]);
            part[k] = hi - lo;
            src += (lo - c0) as i64 * src_strides[k];
            dst += (lo - begin[k]) as i64 * dst_strides[k];
            key += index * g.grid_strides[k];
        }
        let to = Layout {
            offset: dst,
            strides: &dst_strides,
        };
        match table.get(&key) {
            // Validated to lie in the file, whole, when the index was read.
            Some(e) => copy_nd(
                storage,
                Layout {
                    offset: e.address as i64 + src,
                    strides: &src_strides,
                },
                staged,
                to,
                &part,
                es,
            ),
            None => zero_fill(staged, to, &part, es),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::{ByteOrder, DType};
    use proptest::prelude::*;

    use crate::lazy::Origin;

    /// One case: stored shape and chunk, element size, logical axis order, region, slab
    /// (cut from the region by a random budget), and which chunks are missing.
    #[derive(Debug, Clone)]
    struct Case {
        shape: Vec<u64>,
        chunk: Vec<u64>,
        dtype: DType,
        perm: Vec<usize>,
        start: Vec<u64>,
        extent: Vec<u64>,
        budget: u64,
        missing: u64,
    }

    fn case() -> impl Strategy<Value = Case> {
        (2usize..=4)
            .prop_flat_map(|rank| prop::collection::vec(1u64..=13, rank))
            .prop_flat_map(|shape| {
                let rank = shape.len();
                let chunk: Vec<_> = shape.iter().map(|&n| 1..=n).collect();
                (
                    Just(shape),
                    chunk,
                    prop::sample::select(vec![DType::U8, DType::U16, DType::U32, DType::F64]),
                    Just((0..rank).collect::<Vec<_>>()).prop_shuffle(),
                    prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), rank),
                    1u64..4096,
                    any::<u64>(),
                )
            })
            .prop_map(|(shape, chunk, dtype, perm, fr, budget, missing)| {
                let logical: Vec<u64> = perm.iter().map(|&p| shape[p]).collect();
                let (start, extent) = logical
                    .iter()
                    .zip(&fr)
                    .map(|(&n, &(a, b))| {
                        let s = ((a * n as f64) as u64).min(n - 1);
                        (s, 1 + ((b * (n - s) as f64) as u64).min(n - s - 1))
                    })
                    .unzip();
                Case {
                    shape,
                    chunk,
                    dtype,
                    perm,
                    start,
                    extent,
                    budget,
                    missing,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Staged reads through slabs of any size equal the element-by-element reading of
        /// a dense array whose chunks are stored one after the other (in reverse grid
        /// order, at odd addresses), missing chunks reading as zeros.
        #[test]
        fn staged_reads_match_the_element_by_element_reading(c in case()) {
            let origin = Origin { file: "case.h5".into(), dataset: "data".into() };
            let g = Geometry::new(
                &origin, c.dtype, ByteOrder::NATIVE, c.shape.clone(), c.chunk.clone(),
                c.perm.clone(),
            ).unwrap();
            let es = c.dtype.size();
            let n = c.shape.len();
            let value = |flat: u64| -> Vec<u8> {
                let v = flat.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ flat;
                v.to_ne_bytes()[..es].to_vec()
            };
            // Chunks laid out back to front, 3 bytes apart.
            let keys = g.grid.iter().product::<u64>();
            let mut storage = vec![0u8; 5];
            let mut table = HashMap::new();
            let stored_strides: Vec<u64> = (0..n)
                .map(|k| c.shape[k + 1..].iter().product())
                .collect();
            for key in (0..keys).rev() {
                if c.missing >> (key % 64) & 1 == 1 && key % 3 == 0 {
                    continue;
                }
                let grid_index: Vec<u64> = (0..n).map(|k| key / g.grid_strides[k] % g.grid[k]).collect();
                let address = storage.len() as u64;
                for_each_index(&c.chunk, |within| {
                    let index: Vec<u64> = (0..n).map(|k| grid_index[k] * c.chunk[k] + within[k]).collect();
                    if index.iter().zip(&c.shape).all(|(i, s)| i < s) {
                        let flat: u64 = index.iter().zip(&stored_strides).map(|(i, s)| i * s).sum();
                        storage.extend(value(flat));
                    } else {
                        storage.extend(vec![0xEE; es]);
                    }
                });
                storage.extend([7, 7, 7]);
                table.insert(key, Entry { address, size: g.chunk_bytes, filter_mask: 0 });
            }
            // Reference: logical index l is stored index s with s[perm[i]] = l[i].
            let mut want = Vec::new();
            for_each_index(&c.extent, |l| {
                let mut s = vec![0u64; n];
                for i in 0..n {
                    s[c.perm[i]] = c.start[i] + l[i];
                }
                let key: u64 = (0..n).map(|k| s[k] / c.chunk[k] * g.grid_strides[k]).sum();
                if table.contains_key(&key) {
                    let flat: u64 = s.iter().zip(&stored_strides).map(|(i, t)| i * t).sum();
                    want.extend(value(flat));
                } else {
                    want.extend(vec![0u8; es]);
                }
            });
            let mut got = vec![0xABu8; want.len()];
            match stored_inner_axis(&g, &c.extent) {
                Some(b) => {
                    let slab = slab_shape(&g, &c.extent, b, c.budget);
                    fill_in_slabs(&storage, &g, &table, &c.start, &c.extent, &slab, &mut got);
                }
                None => {
                    let slab = c.extent.clone();
                    fill_in_slabs(&storage, &g, &table, &c.start, &c.extent, &slab, &mut got);
                }
            }
            prop_assert_eq!(got, want);
        }
    }
}
