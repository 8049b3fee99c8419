//! Strided layouts of N-D arrays in byte buffers and the index arithmetic over them (element
//! counts, C-order strides, walking every index in C order), shared by the copy kernels,
//! the tiled transposes and the sources.

use crate::dataset::Region;

/// Where an N-D block lives in a byte buffer: the byte offset of its first element and the
/// byte stride of each dimension.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    /// Byte offset of element (0, 0, ...).
    pub offset: i64,
    /// Byte stride per dimension.
    pub strides: &'a [i64],
}

/// Number of elements in a shape (0 when any dimension is 0, whatever the others), or
/// `None` when the product exceeds `u64`.
pub fn element_count(shape: &[u64]) -> Option<u64> {
    if shape.contains(&0) {
        return Some(0);
    }
    shape.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n))
}

/// Byte strides of a C-contiguous array of `shape` with elements of `elem_size` bytes.
pub fn c_strides(shape: &[u64], elem_size: usize) -> Vec<i64> {
    let mut strides = vec![0i64; shape.len()];
    let mut step = elem_size as i64;
    for (stride, &n) in strides.iter_mut().zip(shape).rev() {
        *stride = step;
        step = step.saturating_mul(n as i64);
    }
    strides
}

/// Call `visit(index)` for every index of `shape` in C order (none when a dimension is 0).
pub fn for_each_index(shape: &[u64], mut visit: impl FnMut(&[u64])) {
    if shape.contains(&0) {
        return;
    }
    let zeros = vec![0; shape.len()];
    walk_indices(shape, &zeros, &zeros, 0, |index, _, _| visit(index));
}

/// Call `visit(source offset, destination offset)` for every index of `shape` in C order:
/// `base` plus the index times `src_strides`, and the index times `dst_strides`.
pub(crate) fn walk(
    shape: &[u64],
    src_strides: &[i64],
    dst_strides: &[i64],
    base: i64,
    mut visit: impl FnMut(i64, i64),
) {
    walk_indices(shape, src_strides, dst_strides, base, |_, s, d| visit(s, d));
}

/// The odometer behind [`walk`] and [`for_each_index`]: the index and both offsets.
fn walk_indices(
    shape: &[u64],
    src_strides: &[i64],
    dst_strides: &[i64],
    base: i64,
    mut visit: impl FnMut(&[u64], i64, i64),
) {
    let mut index = vec![0u64; shape.len()];
    let (mut s, mut d) = (base, 0i64);
    loop {
        visit(&index, s, d);
        let mut k = shape.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            index[k] += 1;
            s += src_strides[k];
            d += dst_strides[k];
            if index[k] < shape[k] {
                break;
            }
            s -= src_strides[k] * shape[k] as i64;
            d -= dst_strides[k] * shape[k] as i64;
            index[k] = 0;
        }
    }
}

/// The last dimension of an array of `shape` that a region of `extent` does not cover
/// whole (0 when it covers them all): the region lies in the array in runs of its extent
/// along that dimension and every later one.
pub(crate) fn last_cut(shape: &[u64], extent: &[u64]) -> usize {
    (0..shape.len())
        .rev()
        .find(|&d| extent[d] < shape[d])
        .unwrap_or(0)
}

/// Call `write(offset, from, len)` for each run of `region` of a C-order array of `shape`
/// with elements of `es` bytes, in C order: the run's byte offset in the array, where it
/// starts in the region's C-order bytes and its length (runs as long as the region lets
/// them be: every dimension after the last one it cuts is whole in each). Stops at the
/// first error.
pub fn for_each_run<E>(
    shape: &[u64],
    es: u64,
    region: &Region,
    mut write: impl FnMut(u64, usize, usize) -> Result<(), E>,
) -> Result<(), E> {
    if region.is_empty() {
        return Ok(());
    }
    let n = shape.len();
    let split = last_cut(shape, &region.shape);
    let run = (region.shape[split..].iter().product::<u64>() * es) as usize;
    let mut strides = vec![es; n];
    for d in (0..n.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let offset = |index: &[u64]| -> u64 {
        (0..n)
            .map(|d| (region.start[d] + index[d]) * strides[d])
            .sum()
    };
    // An odometer over the dimensions before `split`; the rest start each run.
    let mut index = vec![0u64; n];
    let mut from = 0usize;
    loop {
        write(offset(&index), from, run)?;
        from += run;
        let mut d = split;
        loop {
            if d == 0 {
                return Ok(());
            }
            d -= 1;
            index[d] += 1;
            if index[d] < region.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::element_count;

    #[test]
    fn element_count_is_exact_zero_aware_and_checked() {
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[3, 4, 5]), Some(60));
        assert_eq!(element_count(&[u64::MAX, 1]), Some(u64::MAX));
        assert_eq!(element_count(&[1 << 32, 1 << 32]), None);
        // A zero anywhere makes the product 0, even after factors that overflow.
        assert_eq!(element_count(&[u64::MAX, u64::MAX, 0]), Some(0));
    }
}
