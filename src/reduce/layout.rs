//! Where one sum's values go: the index arithmetic from a region's runs of values to
//! their places in the result and in the weights ([`Layout`]).

use emio_core::{ByteOrder, DType, Region};

use super::kernels::{add_values, in_native_order, sum};

/// One region's values to add into a sum ([`Layout::reduce`]): values of `dtype` in byte
/// order `order` in `bytes`, the region's first at byte `first`, each dimension `strides`
/// bytes apart (the last the size of a value: rows of consecutive values), and the sum's
/// weights (the summed dimensions' C order), if any.
#[derive(Clone, Copy)]
pub(super) struct Values<'a> {
    pub(super) region: &'a Region,
    pub(super) dtype: DType,
    pub(super) bytes: &'a [u8],
    pub(super) first: usize,
    pub(super) strides: &'a [i64],
    pub(super) order: ByteOrder,
    pub(super) weights: Option<&'a [f64]>,
}

/// Index arithmetic of one sum: which dimensions are kept, their strides in the result and
/// the strides of the summed ones in the weights.
pub(super) struct Layout {
    pub(super) shape: Vec<u64>,
    pub(super) kept: Vec<bool>,
    /// Stride of each kept dimension in the result (C order over kept dims), 0 for summed.
    pub(super) out_stride: Vec<u64>,
    /// Stride of each summed dimension in the weights (C order over summed dims), 0 for kept.
    pub(super) weight_stride: Vec<u64>,
}

impl Layout {
    /// The layout of a sum of an array of `shape` that keeps the dimensions `kept_dims`.
    pub(super) fn new(shape: &[u64], kept_dims: &[usize]) -> Self {
        let kept: Vec<bool> = (0..shape.len()).map(|d| kept_dims.contains(&d)).collect();
        let mut out_stride = vec![0; shape.len()];
        let mut weight_stride = vec![0; shape.len()];
        let (mut o, mut w) = (1u64, 1u64);
        for d in (0..shape.len()).rev() {
            if kept[d] {
                out_stride[d] = o;
                o *= shape[d];
            } else {
                weight_stride[d] = w;
                w *= shape[d];
            }
        }
        Layout {
            shape: shape.to_vec(),
            kept,
            out_stride,
            weight_stride,
        }
    }

    /// Add one region's values into `total` (the whole result), a run along the last
    /// dimension at a time: a summed run is added up in interleaved partial sums
    /// ([`sum`]), a kept run added
    /// value by value into its stretch of the result; with weights, each value times its
    /// own. Compiled for AVX2 too, run where the processor has it (the typed loops then
    /// take four to eight values per instruction instead of two).
    pub(super) fn reduce(&self, values: &Values<'_>, total: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if crate::stats::avx2::available() {
            // SAFETY: the processor runs AVX2 (checked just above).
            return unsafe { self.reduce_avx2(values, total) };
        }
        self.reduce_portable(values, total)
    }

    /// [`Layout::reduce`] compiled for AVX2.
    ///
    /// # Safety
    /// The processor must run AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn reduce_avx2(&self, values: &Values<'_>, total: &mut [f64]) {
        self.reduce_portable(values, total)
    }

    /// [`Layout::reduce`] in code for any processor (and, inlined into
    /// [`Layout::reduce_avx2`] with every loop it calls, the AVX2 build).
    #[inline(always)]
    fn reduce_portable(&self, values: &Values<'_>, total: &mut [f64]) {
        let Values {
            region,
            dtype,
            bytes,
            first,
            strides,
            order,
            weights,
        } = *values;
        let rank = self.shape.len();
        // Runs in the other byte order are swapped into this buffer while in L1 (loops
        // that swap each value as they load it vectorized across runs instead, 40% slower).
        let mut swapped = Vec::new();
        if rank == 0 {
            let value = &bytes[first..first + dtype.size()];
            total[0] += sum(
                dtype,
                in_native_order(value, order, dtype, &mut swapped),
                None,
            );
            return;
        }
        let last = rank - 1;
        let n = region.shape[last] as usize;
        let run_bytes = n * dtype.size();
        let runs: u64 = region.shape[..last].iter().product();
        let mut at = first as i64;
        let mut index = vec![0u64; last];
        let mut out: u64 = (0..rank)
            .map(|d| region.start[d] * self.out_stride[d])
            .sum();
        let mut weight: u64 = (0..rank)
            .map(|d| region.start[d] * self.weight_stride[d])
            .sum();
        for _ in 0..runs {
            let stored = &bytes[at as usize..at as usize + run_bytes];
            let run = in_native_order(stored, order, dtype, &mut swapped);
            // A kept last dimension has no weight stride (one weight for the run), a
            // summed one no result stride (one place for the run).
            if self.kept[last] {
                let scale = weights.map_or(1.0, |w| w[weight as usize]);
                let to = out as usize;
                add_values(dtype, run, scale, &mut total[to..to + n]);
            } else {
                let from = weight as usize;
                let run_weights = weights.map(|w| &w[from..from + n]);
                total[out as usize] += sum(dtype, run, run_weights);
            }
            // The next run: step the outer dimensions in C order, carrying.
            for d in (0..last).rev() {
                index[d] += 1;
                out += self.out_stride[d];
                weight += self.weight_stride[d];
                at += strides[d];
                if index[d] < region.shape[d] {
                    break;
                }
                out -= self.out_stride[d] * index[d];
                weight -= self.weight_stride[d] * index[d];
                at -= strides[d] * index[d] as i64;
                index[d] = 0;
            }
        }
    }
}
