//! The values of an unfiltered chunked dataset as runs of the file's bytes, for order-free
//! passes (sums, statistics: [`emio_core::ArraySource::stored_runs`]): every stored chunk's
//! part inside the dataset, in file order, edge chunks without their padding.

use emio_core::source::{c_strides, element_count, for_each_index, StoredRuns};
use emio_core::{ByteOrder, Storage};

use super::index::LazyIndex;
use super::Geometry;

/// The stored chunks' values in file order, when every chunk is stored (no absent chunk's
/// fill value to add) and the runs average `min_mean_run` bytes: a whole chunk is one run,
/// an edge chunk one run per line of its part inside the dataset ([`ValidPart`]).
pub(super) fn stored_runs<'a>(
    storage: &'a Storage,
    g: &Geometry,
    index: &LazyIndex,
    min_mean_run: usize,
) -> Option<StoredRuns<'a>> {
    let chunks = element_count(&g.grid)?;
    let table = index.get(g).ok()?;
    if table.len() as u64 != chunks || table.keys().any(|&k| k >= chunks) {
        return None;
    }
    let strides = c_strides(&g.stored_chunk, g.dtype.size());
    let parts = table
        .iter()
        .map(|(&key, e)| {
            let end = e.address.checked_add(g.chunk_bytes)?;
            let address = usize::try_from(e.address).ok()?;
            (end <= storage.len() as u64).then(|| (address, ValidPart::of(g, &strides, key)))
        })
        .collect::<Option<Vec<_>>>()?;
    let count: u64 = parts.iter().map(|(_, part)| part.runs()).sum();
    let bytes = element_count(&g.stored_shape)?.checked_mul(g.dtype.size() as u64)?;
    if count == 0 || bytes / count < min_mean_run as u64 {
        return None;
    }
    let mut runs = Vec::with_capacity(usize::try_from(count).ok()?);
    for (address, part) in &parts {
        part.push_runs(*address, &mut runs);
    }
    runs.sort_unstable();
    Some(StoredRuns {
        bytes: storage,
        runs,
        order: if g.dtype.swap_unit() == 1 {
            ByteOrder::NATIVE
        } else {
            g.order
        },
    })
}

/// The part of one stored chunk inside its dataset, as runs of the chunk's bytes: one run
/// of `run` bytes at each index of `lines` (C order), `strides` bytes apart along each of
/// their axes (a whole chunk: one run, no lines).
struct ValidPart {
    run: usize,
    lines: Vec<u64>,
    strides: Vec<usize>,
}

impl ValidPart {
    /// The part of stored chunk `key` (its C-order index in the chunk grid of `g`; the
    /// chunk's byte `strides`) inside the dataset: the whole chunk, or for an edge chunk the
    /// lines along the last axis the dataset's end cuts short (each holding every axis
    /// after it).
    fn of(g: &Geometry, strides: &[i64], key: u64) -> Self {
        let extent: Vec<u64> = (0..g.grid.len())
            .map(|d| {
                let (c, n) = (g.stored_chunk[d], g.stored_shape[d]);
                let at = key / g.grid_strides[d] % g.grid[d] * c;
                c.min(n - at)
            })
            .collect();
        let cut = extent.iter().zip(&g.stored_chunk).rposition(|(e, c)| e < c);
        match cut {
            None => ValidPart {
                run: g.chunk_bytes as usize,
                lines: Vec::new(),
                strides: Vec::new(),
            },
            Some(k) => ValidPart {
                run: (extent[k] * strides[k] as u64) as usize,
                lines: extent[..k].to_vec(),
                strides: strides[..k].iter().map(|&s| s as usize).collect(),
            },
        }
    }

    /// Number of runs.
    fn runs(&self) -> u64 {
        self.lines.iter().product()
    }

    /// Append the runs of the chunk stored at byte `address`, as (offset, bytes).
    fn push_runs(&self, address: usize, out: &mut Vec<(usize, usize)>) {
        for_each_index(&self.lines, |index| {
            let at: usize = index
                .iter()
                .zip(&self.strides)
                .map(|(&i, &s)| i as usize * s)
                .sum();
            out.push((address + at, self.run));
        });
    }
}
