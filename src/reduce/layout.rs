//! Where one sum's values go: the index arithmetic from a region's runs of values to
//! their places in the result and in the weights ([`Layout`]).

use emio_core::{ByteOrder, DType, Region};

use super::kernels::{add_values, in_native_order, sum, SmallIntegers};

/// Values of a sum being added up: the whole result (a worker's share of a sum taken in
/// any order) or a box of it (a unit's share of a sum taken in a fixed order), in the
/// stored order of the kept dimensions.
pub(super) struct Accumulator {
    /// The result's values.
    floats: Vec<f64>,
    /// Exact partial sums of the runs of small integers along a kept last dimension (a
    /// scan's summed pattern: half the bytes of `floats` to read and write per value, an
    /// integer add instead of a conversion and a float add), added into `floats` before
    /// they could overflow; empty when the sum has no such runs ([`Values::integers`]).
    integers: Vec<i32>,
    /// The most values added into any one of `integers` since they were last added into
    /// `floats`.
    adds: u64,
}

impl Accumulator {
    /// An accumulator of `len` zeros, with integer partial sums when `integers`.
    pub(super) fn new(len: usize, integers: bool) -> Self {
        Accumulator {
            floats: written_zeros(len),
            integers: if integers {
                written_zeros(len)
            } else {
                Vec::new()
            },
            adds: 0,
        }
    }

    /// Bytes an accumulator of `len` values takes, with integer partial sums when
    /// `integers`.
    pub(super) fn bytes(len: u64, integers: bool) -> u64 {
        len.saturating_mul(if integers { 12 } else { 8 })
    }

    /// The sums.
    pub(super) fn into_values(mut self) -> Vec<f64> {
        self.flush();
        self.floats
    }

    /// Add the integer partial sums into the floats and start them again from zero.
    fn flush(&mut self) {
        for (f, i) in self.floats.iter_mut().zip(&mut self.integers) {
            *f += f64::from(std::mem::take(i));
        }
        self.adds = 0;
    }
}

/// `len` zeros written into new memory. Not `vec![0.0; len]`: memory the allocator takes
/// fresh from the kernel is known to be zero and left untouched, so the sum's first read
/// of each page maps the kernel's shared zero page, and its first write then copies the
/// page and flushes the address translations of every core running the process (a sum
/// of an MRC stack into boxes of 8 MiB spent a third of its time there). Written first,
/// each page is faulted in once, writable.
pub(super) fn written_zeros<T: Copy + Default>(len: usize) -> Vec<T> {
    let mut zeros = Vec::with_capacity(len);
    zeros.resize(len, T::default());
    zeros
}

/// Small integers an `i32` partial sum takes before it is flushed: 32,767 values of at most
/// 2^16 in magnitude stay below 2^31.
const MAX_INTEGER_ADDS: u64 = (1 << 15) - 1;

/// Where [`Layout::reduce`] adds a region's values: `acc`, whose values stand for the
/// result's indices from `origin` on (over every stored dimension, 0 along the summed
/// ones), each dimension `strides` values apart (0 along the summed ones).
pub(super) struct Target<'a> {
    pub(super) acc: &'a mut Accumulator,
    pub(super) origin: &'a [u64],
    pub(super) strides: &'a [u64],
}

/// One region's values to add into a sum ([`Layout::reduce`]): values of `dtype` in byte
/// order `order` in `bytes`, the region's first at byte `first`, each dimension `strides`
/// bytes apart (the last the size of a value: rows of consecutive values), the sum's
/// weights (the summed dimensions' C order), if any, and where runs of small integers go.
#[derive(Clone, Copy)]
pub(super) struct Values<'a> {
    pub(super) region: &'a Region,
    pub(super) dtype: DType,
    pub(super) bytes: &'a [u8],
    pub(super) first: usize,
    pub(super) strides: &'a [i64],
    pub(super) order: ByteOrder,
    pub(super) weights: Option<&'a [f64]>,
    /// The values' type when they are small integers to add into the accumulator's
    /// integer partial sums (unweighted, along a kept last dimension; see
    /// [`Layout::integer_runs`]).
    pub(super) integers: Option<SmallIntegers>,
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
    /// Zeros, one per dimension: the origin of an accumulator of the whole result.
    pub(super) no_origin: Vec<u64>,
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
            no_origin: vec![0; shape.len()],
        }
    }

    /// `acc`, an accumulator of the whole result, as the target of [`Layout::reduce`].
    pub(super) fn whole<'a>(&'a self, acc: &'a mut Accumulator) -> Target<'a> {
        Target {
            acc,
            origin: &self.no_origin,
            strides: &self.out_stride,
        }
    }

    /// The type of the small integers whose runs a sum of `dtype` values adds into the
    /// accumulators' integer partial sums: only along a kept last dimension, unweighted.
    pub(super) fn integer_runs(&self, dtype: DType, weighted: bool) -> Option<SmallIntegers> {
        let kept_last = self.kept.last() == Some(&true);
        SmallIntegers::of(dtype).filter(|_| kept_last && !weighted)
    }

    /// Add one region's values into `target` (a box of the result holding the region's),
    /// a run along the last dimension at a time: a summed run is added up in interleaved
    /// partial sums ([`sum`]), a kept run added value by value into its stretch of the
    /// result (small integers into the integer partial sums); with weights, each value
    /// times its own.
    /// Compiled for AVX2 too, run where the processor has it (the typed loops then take
    /// four to eight values per instruction instead of two).
    pub(super) fn reduce(&self, values: &Values<'_>, target: Target<'_>) {
        #[cfg(target_arch = "x86_64")]
        if crate::stats::avx2::available() {
            // SAFETY: the processor runs AVX2 (checked just above).
            return unsafe { self.reduce_avx2(values, target) };
        }
        self.reduce_portable(values, target)
    }

    /// [`Layout::reduce`] compiled for AVX2.
    ///
    /// # Safety
    /// The processor must run AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn reduce_avx2(&self, values: &Values<'_>, target: Target<'_>) {
        self.reduce_portable(values, target)
    }

    /// [`Layout::reduce`] in code for any processor (and, inlined into
    /// [`Layout::reduce_avx2`] with every loop it calls, the AVX2 build).
    #[inline(always)]
    fn reduce_portable(&self, values: &Values<'_>, target: Target<'_>) {
        let Values {
            region,
            dtype,
            bytes,
            first,
            strides,
            order,
            weights,
            integers,
        } = *values;
        let Target {
            acc: total,
            origin,
            strides: out_strides,
        } = target;
        let rank = self.shape.len();
        // Runs in the other byte order are swapped into this buffer while in L1 (loops
        // that swap each value as they load it vectorized across runs instead, 40% slower).
        let mut swapped = Vec::new();
        if rank == 0 {
            let value = &bytes[first..first + dtype.size()];
            total.floats[0] += sum(
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
        // Each place of the result gets one value per index of the summed dimensions: the
        // region's small integers go into the integer partial sums (flushed first when
        // they could overflow) unless the region alone has too many.
        let adds: u64 = (0..rank)
            .filter(|&d| !self.kept[d])
            .map(|d| region.shape[d])
            .product();
        let integers = integers.filter(|_| self.kept[last] && adds <= MAX_INTEGER_ADDS);
        if integers.is_some() {
            if total.adds + adds > MAX_INTEGER_ADDS {
                total.flush();
            }
            total.adds += adds;
        }
        let mut out: u64 = (0..rank)
            .map(|d| (region.start[d] - origin[d]) * out_strides[d])
            .sum();
        let mut weight: u64 = (0..rank)
            .map(|d| region.start[d] * self.weight_stride[d])
            .sum();
        for _ in 0..runs {
            let stored = &bytes[at as usize..at as usize + run_bytes];
            let run = in_native_order(stored, order, dtype, &mut swapped);
            // A kept last dimension has no weight stride (one weight for the run), a
            // summed one no result stride (one place for the run).
            let to = out as usize;
            match integers {
                Some(kind) => kind.add(run, &mut total.integers[to..to + n]),
                _ if self.kept[last] => {
                    let scale = weights.map_or(1.0, |w| w[weight as usize]);
                    add_values(dtype, run, scale, &mut total.floats[to..to + n]);
                }
                _ => {
                    let from = weight as usize;
                    let run_weights = weights.map(|w| &w[from..from + n]);
                    total.floats[to] += sum(dtype, run, run_weights);
                }
            }
            // The next run: step the outer dimensions in C order, carrying.
            for d in (0..last).rev() {
                index[d] += 1;
                out += out_strides[d];
                weight += self.weight_stride[d];
                at += strides[d];
                if index[d] < region.shape[d] {
                    break;
                }
                out -= out_strides[d] * index[d];
                weight -= self.weight_stride[d] * index[d];
                at -= strides[d] * index[d] as i64;
                index[d] = 0;
            }
        }
    }
}
