//! Sums over the navigation or the signal axes of a dataset, streamed region by region
//! through core's engine (bounded memory, all cores): the summed diffraction pattern or
//! spectrum of a scan, its total-intensity map, a virtual detector image.
//!
//! Each region is reduced into a partial sum over its own part of the kept axes, which is
//! then added into the result under a lock: memory is the engine's buffers plus the result.

use std::sync::{Arc, Mutex};

use emio_core::engine::Engine;
use emio_core::{Axis, DType, Dataset, Error, Progress, Region, Result};

/// Which axes a sum runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// Sum over the navigation axes: one summed signal (pattern, spectrum, image).
    Navigation,
    /// Sum over the signal axes: one total per navigation position (an intensity map).
    Signal,
}

impl Over {
    /// Whether the sum runs over `axis`.
    fn sums(self, axis: &Axis) -> bool {
        axis.navigate == (self == Over::Navigation)
    }
}

/// Largest result a sum may produce (elements of f64): 1 GiB.
pub const MAX_RESULT_ELEMENTS: u64 = 1 << 27;

/// Bytes per region read: regions follow the storage layout and stay in cache while summed.
const REGION_BYTES: u64 = 4 << 20;

/// The sum of `dataset` over the axes `over` names, as a float64 dataset with the kept axes
/// (and their calibrations). `weights`, when given, multiplies each value by the weight of
/// its index along the summed axes (C order over them; e.g. a detector mask for a virtual
/// image). Complex values contribute their magnitude, RGB the mean of R, G, B.
pub fn sum_over(
    dataset: &Dataset,
    over: Over,
    weights: Option<&[f64]>,
    progress: &dyn Progress,
) -> Result<Dataset> {
    let kept: Vec<usize> = (0..dataset.ndim())
        .filter(|&d| !over.sums(&dataset.axes[d]))
        .collect();
    let what = match over {
        Over::Navigation => "sum over navigation",
        Over::Signal => "sum over signal",
    };
    sum_keeping(dataset, &kept, weights, what, progress)
}

/// The sum of `dataset` over every dimension not in `kept` (ascending dimension indices),
/// as [`sum_over`] computes it; `what` is appended to the title.
pub fn sum_keeping(
    dataset: &Dataset,
    kept: &[usize],
    weights: Option<&[f64]>,
    what: &str,
    progress: &dyn Progress,
) -> Result<Dataset> {
    let shape = dataset.shape();
    let kept: Vec<usize> = kept.iter().copied().filter(|&d| d < shape.len()).collect();
    let summed_len: u64 = (0..shape.len())
        .filter(|d| !kept.contains(d))
        .map(|d| shape[d])
        .product();
    if let Some(w) = weights {
        if w.len() as u64 != summed_len {
            return Err(Error::invalid_option(
                "weights",
                format!("{} weights for {summed_len} summed positions", w.len()),
            ));
        }
    }
    let out_shape: Vec<u64> = kept.iter().map(|&d| shape[d]).collect();
    let out_len: u64 = out_shape.iter().product();
    if out_len > MAX_RESULT_ELEMENTS {
        return Err(Error::OutOfBounds(format!(
            "the sum keeps {out_shape:?} ({out_len} values), more than {MAX_RESULT_ELEMENTS}"
        )));
    }
    let layout = Layout::new(shape, &kept);
    let total = Mutex::new(vec![0f64; out_len as usize]);
    let dtype = dataset.dtype();
    let chunk = dataset.read_chunk_shape(REGION_BYTES);
    Engine::default().for_each_region_in_place(dataset, &chunk, progress, |region, bytes| {
        let partial = layout.reduce(region, dtype, bytes, weights);
        let mut total = total.lock().unwrap_or_else(|p| p.into_inner());
        layout.add_into(region, &partial, &mut total);
        Ok(())
    })?;
    let values = total.into_inner().unwrap_or_else(|p| p.into_inner());
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let source = emio_core::StridedSource::from_bytes(bytes, DType::F64, out_shape)?;
    let axes = kept.iter().map(|&d| dataset.axes[d].clone()).collect();
    let mut metadata = dataset.metadata.clone();
    emio_core::metadata::set_path(
        &mut metadata,
        "General.title",
        format!("{} ({what})", dataset.title()),
    );
    Dataset::new(Arc::new(source), axes, metadata, Default::default())
}

/// The sum of the values in `bytes` (of `dtype`): real types in eight interleaved partial
/// sums the compiler vectorizes, other types (complex magnitudes, RGB) in four.
fn sum(dtype: DType, bytes: &[u8]) -> f64 {
    match dtype {
        DType::U8 => lanes::<1>(bytes, |a| f64::from(a[0])),
        DType::I8 => lanes::<1>(bytes, |a| f64::from(a[0] as i8)),
        DType::U16 => lanes::<2>(bytes, |a| f64::from(u16::from_ne_bytes(a))),
        DType::I16 => lanes::<2>(bytes, |a| f64::from(i16::from_ne_bytes(a))),
        DType::U32 => lanes::<4>(bytes, |a| f64::from(u32::from_ne_bytes(a))),
        DType::I32 => lanes::<4>(bytes, |a| f64::from(i32::from_ne_bytes(a))),
        DType::F32 => lanes::<4>(bytes, |a| f64::from(f32::from_ne_bytes(a))),
        DType::F64 => lanes::<8>(bytes, f64::from_ne_bytes),
        _ => {
            let mut sums = [0f64; 4];
            let mut lane = 0;
            crate::values::for_each(dtype, bytes, |v| {
                sums[lane & 3] += v;
                lane += 1;
            });
            (sums[0] + sums[1]) + (sums[2] + sums[3])
        }
    }
}

/// The sum of the `N`-byte values in `bytes` decoded by `value`, eight at a time.
fn lanes<const N: usize>(bytes: &[u8], value: impl Fn([u8; N]) -> f64) -> f64 {
    const LANES: usize = 8;
    let (values, _) = bytes.as_chunks::<N>();
    let (groups, rest) = values.as_chunks::<LANES>();
    let mut sums = [0f64; LANES];
    for group in groups {
        for (sum, &v) in sums.iter_mut().zip(group) {
            *sum += value(v);
        }
    }
    let total = sums.chunks(2).map(|p| p[0] + p[1]).sum::<f64>();
    rest.iter().fold(total, |t, &v| t + value(v))
}

/// Index arithmetic of one sum: which dimensions are kept, their strides in the result and
/// the strides of the summed ones in the weights.
struct Layout {
    shape: Vec<u64>,
    kept: Vec<bool>,
    /// Stride of each kept dimension in the result (C order over kept dims), 0 for summed.
    out_stride: Vec<u64>,
    /// Stride of each summed dimension in the weights (C order over summed dims), 0 for kept.
    weight_stride: Vec<u64>,
}

impl Layout {
    fn new(shape: &[u64], kept_dims: &[usize]) -> Self {
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

    /// Strides of the kept dimensions within `region`'s part of the result.
    fn local_strides(&self, region: &Region) -> (Vec<u64>, u64) {
        let mut strides = vec![0; self.shape.len()];
        let mut n = 1u64;
        for d in (0..self.shape.len()).rev() {
            if self.kept[d] {
                strides[d] = n;
                n *= region.shape[d];
            }
        }
        (strides, n)
    }

    /// The partial sum of one region over its part of the kept axes, a run along the last
    /// dimension at a time: a summed run is added up in interleaved partial sums
    /// ([`sum`]; one chain of additions was four cycles per value), a kept run added
    /// value by value into its stretch of the result; with weights, each value times its
    /// own.
    fn reduce(
        &self,
        region: &Region,
        dtype: DType,
        bytes: &[u8],
        weights: Option<&[f64]>,
    ) -> Vec<f64> {
        let (local, n) = self.local_strides(region);
        let mut partial = vec![0f64; n as usize];
        let rank = self.shape.len();
        if rank == 0 {
            crate::values::for_each(dtype, bytes, |v| partial[0] += v);
            return partial;
        }
        let last = rank - 1;
        let run_bytes = region.shape[last] as usize * dtype.size();
        let mut index = vec![0u64; last];
        let mut out = 0u64;
        let mut weight: u64 = (0..rank)
            .map(|d| region.start[d] * self.weight_stride[d])
            .sum();
        for run in bytes.chunks_exact(run_bytes.max(1)) {
            match (weights, self.kept[last]) {
                (None, false) => partial[out as usize] += sum(dtype, run),
                (None, true) => {
                    let mut at = out as usize;
                    crate::values::for_each(dtype, run, |v| {
                        partial[at] += v;
                        at += 1;
                    });
                }
                (Some(w), _) => {
                    let (mut at, mut from) = (out as usize, weight as usize);
                    let (step, w_step) = (local[last] as usize, self.weight_stride[last] as usize);
                    crate::values::for_each(dtype, run, |v| {
                        partial[at] += v * w[from];
                        at += step;
                        from += w_step;
                    });
                }
            }
            // The next run: step the outer dimensions in C order, carrying.
            for d in (0..last).rev() {
                index[d] += 1;
                out += local[d];
                weight += self.weight_stride[d];
                if index[d] < region.shape[d] {
                    break;
                }
                out -= local[d] * index[d];
                weight -= self.weight_stride[d] * index[d];
                index[d] = 0;
            }
        }
        partial
    }

    /// Add a region's partial sum into the result.
    fn add_into(&self, region: &Region, partial: &[f64], total: &mut [f64]) {
        let (local, _) = self.local_strides(region);
        let kept: Vec<usize> = (0..self.shape.len()).filter(|&d| self.kept[d]).collect();
        let sub: Vec<u64> = kept.iter().map(|&d| region.shape[d]).collect();
        emio_core::copy::for_each_index(&sub, |index| {
            let (mut at, mut from) = (0u64, 0u64);
            for (k, &d) in kept.iter().enumerate() {
                at += (region.start[d] + index[k]) * self.out_stride[d];
                from += index[k] * local[d];
            }
            total[at as usize] += partial[from as usize];
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::NoProgress;

    /// A u16 ramp with the first `nav` axes navigation.
    fn ramp(shape: &[u64], nav: usize) -> Dataset {
        let n: u64 = shape.iter().product();
        let bytes: Vec<u8> = (0..n as u16).flat_map(|v| v.to_ne_bytes()).collect();
        let mut ds = Dataset::from_bytes(bytes, DType::U16, shape.to_vec()).unwrap();
        for axis in &mut ds.axes[..nav] {
            axis.navigate = true;
        }
        ds
    }

    fn values(ds: &Dataset) -> Vec<f64> {
        let a = ds.read_region(&vec![0; ds.ndim()], ds.shape()).unwrap();
        a.to_f64().unwrap().iter().copied().collect()
    }

    #[test]
    fn sums_match_a_direct_computation() {
        let ds = ramp(&[3, 4, 5, 6], 2);
        let nav = sum_over(&ds, Over::Navigation, None, &NoProgress).unwrap();
        assert_eq!(nav.shape(), &[5, 6]);
        let expected: Vec<f64> = (0..30)
            .map(|s| (0..12).map(|p| (p * 30 + s) as f64).sum())
            .collect();
        assert_eq!(values(&nav), expected);
        let sig = sum_over(&ds, Over::Signal, None, &NoProgress).unwrap();
        assert_eq!(sig.shape(), &[3, 4]);
        let expected: Vec<f64> = (0..12)
            .map(|p| (0..30).map(|s| (p * 30 + s) as f64).sum())
            .collect();
        assert_eq!(values(&sig), expected);
    }

    #[test]
    fn weights_select_summed_positions() {
        let ds = ramp(&[2, 2, 3], 2);
        let w = [0.0, 1.0, 0.0];
        let sig = sum_over(&ds, Over::Signal, Some(&w), &NoProgress).unwrap();
        assert_eq!(values(&sig), [1.0, 4.0, 7.0, 10.0]);
        assert!(sum_over(&ds, Over::Signal, Some(&[1.0]), &NoProgress).is_err());
    }

    proptest::proptest! {
        /// Sums over any kept axes, with or without weights, region by region, of every
        /// kind of value, equal the value-by-value sums (integers, so exact whatever the
        /// order of the additions).
        #[test]
        fn sums_in_regions_match_value_by_value_sums(
            shape in proptest::collection::vec(1u64..6, 1..=4),
            kept_mask in proptest::collection::vec(proptest::bool::ANY, 4),
            region_cut in proptest::collection::vec(1u64..6, 4),
            weighted in proptest::bool::ANY,
            dtype in proptest::sample::select(vec![
                DType::U8, DType::I8, DType::U16, DType::I16, DType::U32, DType::I32,
                DType::F32, DType::F64, DType::C64,
            ]),
        ) {
            let rank = shape.len();
            let count: u64 = shape.iter().product();
            // Values 0..200, exact in every type (C64: real parts, magnitudes the same).
            let value = |i: u64| (i % 200) as f64;
            let bytes: Vec<u8> = (0..count)
                .flat_map(|i| {
                    let v = value(i);
                    match dtype {
                        DType::U8 => vec![v as u8],
                        DType::I8 => vec![(v as i64 - 100) as i8 as u8],
                        DType::U16 => (v as u16).to_ne_bytes().to_vec(),
                        DType::I16 => (v as i16 - 100).to_ne_bytes().to_vec(),
                        DType::U32 => (v as u32).to_ne_bytes().to_vec(),
                        DType::I32 => (v as i32 - 100).to_ne_bytes().to_vec(),
                        DType::F32 => (v as f32).to_ne_bytes().to_vec(),
                        DType::F64 => v.to_ne_bytes().to_vec(),
                        _ => [(v as f32).to_ne_bytes(), 0f32.to_ne_bytes()].concat(),
                    }
                })
                .collect();
            let signed = matches!(dtype, DType::I8 | DType::I16 | DType::I32);
            let value = |i: u64| value(i) - if signed { 100.0 } else { 0.0 };
            let ds = Dataset::from_bytes(bytes, dtype, shape.clone()).unwrap();
            let kept: Vec<usize> = (0..rank).filter(|&d| kept_mask[d]).collect();
            let summed: u64 = (0..rank).filter(|d| !kept.contains(d)).map(|d| shape[d]).product();
            let w: Vec<f64> = (0..summed).map(|i| (i % 3) as f64).collect();
            let weights = weighted.then_some(&w[..]);
            let layout = Layout::new(&shape, &kept);
            let out_len: u64 = kept.iter().map(|&d| shape[d]).product();
            let mut want = vec![0f64; out_len as usize];
            let mut flat = 0u64;
            emio_core::copy::for_each_index(&shape, |index| {
                let at: u64 = (0..rank).map(|d| index[d] * layout.out_stride[d]).sum();
                let from: u64 = (0..rank).map(|d| index[d] * layout.weight_stride[d]).sum();
                want[at as usize] += value(flat) * weights.map_or(1.0, |w| w[from as usize]);
                flat += 1;
            });
            let mut got = vec![0f64; out_len as usize];
            for region in ds.chunks(&region_cut[..rank]) {
                let bytes = ds.read_region_bytes(&region.start, &region.shape).unwrap();
                let partial = layout.reduce(&region, dtype, &bytes, weights);
                layout.add_into(&region, &partial, &mut got);
            }
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn small_regions_give_the_same_sums() {
        let ds = ramp(&[7, 3, 5], 1);
        let layout = Layout::new(ds.shape(), &[1, 2]);
        let mut total = vec![0f64; 15];
        for region in ds.chunks(&[2, 2, 3]) {
            let bytes = ds.read_region_bytes(&region.start, &region.shape).unwrap();
            let partial = layout.reduce(&region, DType::U16, &bytes, None);
            layout.add_into(&region, &partial, &mut total);
        }
        let whole = sum_over(&ds, Over::Navigation, None, &NoProgress).unwrap();
        assert_eq!(values(&whole), total);
    }
}
