//! Sums over the navigation or the signal axes of a dataset, streamed region by region
//! through core's engine (bounded memory, all cores): the summed diffraction pattern or
//! spectrum of a scan, its total-intensity map, a virtual detector image.
//!
//! A pass walks the data in the order it is stored ([`Dataset::in_stored_order`]): a
//! spectrum image stored energy-first or NCEM's transposed frames are summed as they lie,
//! never transposed; only the result (and the weights) are put in the dataset's own axis
//! order. Each worker adds its regions straight into an accumulator of its own, the
//! size of the result (module `pool`), merged at the end; several sums and a look at
//! every value (`stats`) can share one pass ([`run`]), so the data is read once.

use std::sync::Arc;

use emio_core::copy::{copy_nd, Layout as Strides};
use emio_core::engine::Engine;
use emio_core::scan;
use emio_core::source::{c_strides, StridedView};
use emio_core::{Axis, ByteOrder, DType, Dataset, Error, Progress, Region, Result, Tree};

use crate::pool::Pool;

mod kernels;
mod layout;
mod over;

use kernels::SmallIntegers;
use layout::{Accumulator, Layout, Values};
pub use over::Over;

/// Largest result a sum may produce (elements of f64): 1 GiB.
pub const MAX_RESULT_ELEMENTS: u64 = 1 << 27;

/// Bytes of the accumulators one sum may hold at once (one per worker while they fit):
/// a larger result is added into by fewer workers at a time.
const ACCUMULATOR_BYTES: u64 = 512 << 20;

/// Bytes per region read: regions follow the storage layout and stay in cache while summed.
const REGION_BYTES: u64 = 4 << 20;

/// The sum of `dataset` over the axes `over` names, as a float64 dataset with the kept axes
/// (and their calibrations). `weights`, when given, multiplies each value by the weight of
/// its index along the summed axes (C order over them; e.g. a detector mask for a virtual
/// image). Complex values contribute their magnitude, RGB the mean of R, G, B.
pub fn sum_over(
    dataset: &Dataset,
    over: &Over,
    weights: Option<&[f64]>,
    progress: &dyn Progress,
) -> Result<Dataset> {
    let sum = Summation::over(dataset, over, weights)?;
    run(dataset, &[&sum], None, progress)?;
    sum.finish()
}

/// The sum of `dataset` over every dimension not in `kept` (dimension indices; the result
/// keeps them in ascending order), as [`sum_over`] computes it; `what` is appended to the
/// title.
pub fn sum_keeping(
    dataset: &Dataset,
    kept: &[usize],
    weights: Option<&[f64]>,
    what: &str,
    progress: &dyn Progress,
) -> Result<Dataset> {
    let sum = Summation::keeping(dataset, kept, weights, what)?;
    run(dataset, &[&sum], None, progress)?;
    sum.finish()
}

/// Read `dataset` once, in the order it is stored, adding every region into each of `sums`
/// (made for this dataset) and handing its values to `also` when given, a region a unit
/// ([`scan::Visitor`]: numbered in the grid's C order); stops at the first error or when
/// `progress` cancels.
pub fn run(
    dataset: &Dataset,
    sums: &[&Summation],
    also: Option<&dyn scan::Visitor>,
    progress: &dyn Progress,
) -> Result<()> {
    let stored = dataset.in_stored_order();
    let made_for = |s: &Summation| s.layout.shape == stored.shape() && s.dtype == stored.dtype();
    if let Some(other) = sums.iter().find(|s| !made_for(s)) {
        return Err(Error::invalid_option(
            "sum",
            format!(
                "a sum over {} data of stored shape {:?} fed {} data of stored shape {:?}",
                other.dtype,
                other.layout.shape,
                stored.dtype(),
                stored.shape()
            ),
        ));
    }
    let chunk = stored.read_chunk_shape(REGION_BYTES);
    let engine = Engine::default();
    // Values in a memory map are summed where they lie (rows in the other byte order
    // swapped one by one in the cache), unless the visitor needs them in the machine's
    // order.
    let in_view = stored
        .stored_view()
        .is_some_and(|view| view.order.is_native() || also.is_none_or(|v| v.as_stored()));
    if in_view {
        let dtype = stored.dtype();
        let visited = scan::for_each_region_in_view(
            &engine,
            &stored,
            &chunk,
            progress,
            |unit, region, view| {
                for sum in sums {
                    sum.add_in_view(region, view);
                }
                let Some(visitor) = also else {
                    return Ok(());
                };
                let mut seen = Ok(());
                view.region_spans(dtype, &region.start, &region.shape, |b| {
                    if seen.is_ok() {
                        seen = visitor.piece(unit, b, view.order);
                    }
                });
                seen.and_then(|()| visitor.close(unit))
            },
        );
        if let Some(visited) = visited {
            return visited;
        }
    }
    engine.for_each_region_numbered(&stored, &chunk, progress, |unit, bytes| {
        bytes.visit(&mut |region, b| {
            for sum in sums {
                sum.add(region, b);
            }
            also.map_or(Ok(()), |v| v.piece(unit, b, ByteOrder::NATIVE))
        })?;
        also.map_or(Ok(()), |v| v.close(unit))
    })?;
    Ok(())
}

/// One sum over some dimensions of a dataset, in progress: made for the dataset, fed by
/// [`run`], turned into the result by [`Summation::finish`].
pub struct Summation {
    /// Index arithmetic in the stored order of the dimensions.
    layout: Layout,
    dtype: DType,
    /// The weights in the stored order of the summed dimensions.
    weights: Option<Vec<f64>>,
    /// Whether runs are small integers added into integer partial sums, and of which type.
    integers: Option<SmallIntegers>,
    /// The workers' accumulators, each the whole result in the stored order.
    totals: Pool<Accumulator>,
    /// Elements of the result.
    len: usize,
    /// The result's shape in the stored order of the kept dimensions.
    stored_shape: Vec<u64>,
    /// Result dimension `i` (in the dataset's order) is stored-order result dimension
    /// `to_logical[i]`.
    to_logical: Vec<usize>,
    /// The kept axes, in the dataset's order.
    axes: Vec<Axis>,
    /// The dataset's metadata, titled as the sum.
    metadata: Tree,
}

impl Summation {
    /// A sum of `dataset` over the axes `over` names ([`sum_over`]).
    pub fn over(dataset: &Dataset, over: &Over, weights: Option<&[f64]>) -> Result<Summation> {
        let what = format!("sum over {over}");
        Summation::keeping(dataset, &over.kept(dataset)?, weights, &what)
    }

    /// A sum of `dataset` over every dimension not in `kept` ([`sum_keeping`]).
    pub fn keeping(
        dataset: &Dataset,
        kept: &[usize],
        weights: Option<&[f64]>,
        what: &str,
    ) -> Result<Summation> {
        let shape = dataset.shape();
        let rank = shape.len();
        let mut kept: Vec<usize> = kept.iter().copied().filter(|&d| d < rank).collect();
        kept.sort_unstable();
        kept.dedup();
        let summed: Vec<usize> = (0..rank).filter(|d| !kept.contains(d)).collect();
        let summed_shape: Vec<u64> = summed.iter().map(|&d| shape[d]).collect();
        let summed_len: u64 = summed_shape.iter().product();
        if let Some(w) = weights {
            if w.len() as u64 != summed_len {
                return Err(Error::invalid_option(
                    "weights",
                    format!("{} weights for {summed_len} summed positions", w.len()),
                ));
            }
        }
        let out_shape: Vec<u64> = kept.iter().map(|&d| shape[d]).collect();
        let len: u64 = out_shape.iter().product();
        if len > MAX_RESULT_ELEMENTS {
            return Err(Error::OutOfBounds(format!(
                "the sum keeps {out_shape:?} ({len} values), more than {MAX_RESULT_ELEMENTS}"
            )));
        }
        // Stored dimension k is dimension perm[k] of the dataset.
        let (stored, perm) = dataset.in_stored_order_with_permutation();
        let stored_kept: Vec<usize> = (0..rank).filter(|&k| kept.contains(&perm[k])).collect();
        let stored_summed: Vec<usize> = (0..rank).filter(|&k| !kept.contains(&perm[k])).collect();
        // Where each stored-order dimension of the result and of the weights lies among
        // the dataset's kept and summed dimensions.
        let position = |of: &[usize], d: usize| of.iter().position(|&x| x == d).unwrap_or(0);
        let weights = weights.map(|w| {
            let axes: Vec<usize> = stored_summed
                .iter()
                .map(|&k| position(&summed, perm[k]))
                .collect();
            permuted(w, &summed_shape, &axes)
        });
        let stored_logical: Vec<usize> = stored_kept.iter().map(|&k| perm[k]).collect();
        let to_logical = kept.iter().map(|&d| position(&stored_logical, d)).collect();
        let mut metadata = dataset.metadata.clone();
        emio_core::metadata::set_path(
            &mut metadata,
            "General.title",
            format!("{} ({what})", dataset.title()),
        );
        let layout = Layout::new(stored.shape(), &stored_kept);
        let integers = layout.integer_runs(dataset.dtype(), weights.is_some());
        let bytes = Accumulator::bytes(len, integers.is_some()).max(1);
        Ok(Summation {
            layout,
            dtype: dataset.dtype(),
            weights,
            integers,
            totals: Pool::new((ACCUMULATOR_BYTES / bytes) as usize),
            len: len as usize,
            stored_shape: stored_kept.iter().map(|&k| stored.shape()[k]).collect(),
            to_logical,
            axes: kept.iter().map(|&d| dataset.axes[d].clone()).collect(),
            metadata,
        })
    }

    /// Add one region of the stored-order dataset (its C-order native-endian bytes).
    fn add(&self, region: &Region, bytes: &[u8]) {
        let strides = c_strides(&region.shape, self.dtype.size());
        self.add_values(&Values {
            region,
            dtype: self.dtype,
            bytes,
            first: 0,
            strides: &strides,
            order: ByteOrder::NATIVE,
            weights: self.weights.as_deref(),
            integers: self.integers,
        });
    }

    /// Add one region of the stored-order dataset where `view` (the dataset's stored view,
    /// its last dimension a run of consecutive values) holds it.
    fn add_in_view(&self, region: &Region, view: &StridedView<'_>) {
        let first = view.offset_of(&region.start);
        self.add_values(&Values {
            region,
            dtype: self.dtype,
            bytes: view.bytes,
            first: first as usize,
            strides: view.strides,
            order: view.order,
            weights: self.weights.as_deref(),
            integers: self.integers,
        });
    }

    /// Add `values` into an accumulator of the pool.
    fn add_values(&self, values: &Values<'_>) {
        self.totals.with(
            || Accumulator::new(self.len, self.integers.is_some()),
            |total| self.layout.reduce(values, total),
        );
    }

    /// The result: a float64 dataset of the kept axes, in the dataset's order.
    pub fn finish(self) -> Result<Dataset> {
        let mut totals = self
            .totals
            .into_inner()
            .into_iter()
            .map(Accumulator::into_values);
        let mut values = totals.next().unwrap_or_else(|| vec![0f64; self.len]);
        for other in totals {
            for (v, o) in values.iter_mut().zip(&other) {
                *v += o;
            }
        }
        if self.to_logical.iter().enumerate().any(|(i, &j)| i != j) {
            values = permuted(&values, &self.stored_shape, &self.to_logical);
        }
        let shape: Vec<u64> = self
            .to_logical
            .iter()
            .map(|&j| self.stored_shape[j])
            .collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let source = emio_core::StridedSource::from_bytes(bytes, DType::F64, shape)?;
        Dataset::new(
            Arc::new(source),
            self.axes,
            self.metadata,
            Default::default(),
        )
    }
}

/// `values`, a C-order array of `shape`, with its dimensions reordered: dimension `i` of
/// the result is dimension `axes[i]` of `values`.
fn permuted(values: &[f64], shape: &[u64], axes: &[usize]) -> Vec<f64> {
    let strides = c_strides(shape, 8);
    let out_shape: Vec<u64> = axes.iter().map(|&a| shape[a]).collect();
    let from: Vec<i64> = axes.iter().map(|&a| strides[a]).collect();
    let to = c_strides(&out_shape, 8);
    let src: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mut dst = vec![0u8; src.len()];
    copy_nd(
        &src,
        Strides {
            offset: 0,
            strides: &from,
        },
        &mut dst,
        Strides {
            offset: 0,
            strides: &to,
        },
        &out_shape,
        8,
    );
    dst.chunks_exact(8)
        .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")))
        .collect()
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
        let nav = sum_over(&ds, &Over::Navigation, None, &NoProgress).unwrap();
        assert_eq!(nav.shape(), &[5, 6]);
        let expected: Vec<f64> = (0..30)
            .map(|s| (0..12).map(|p| (p * 30 + s) as f64).sum())
            .collect();
        assert_eq!(values(&nav), expected);
        let sig = sum_over(&ds, &Over::Signal, None, &NoProgress).unwrap();
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
        let sig = sum_over(&ds, &Over::Signal, Some(&w), &NoProgress).unwrap();
        assert_eq!(values(&sig), [1.0, 4.0, 7.0, 10.0]);
        assert!(sum_over(&ds, &Over::Signal, Some(&[1.0]), &NoProgress).is_err());
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
            let bytes: Vec<u8> = (0..count).flat_map(|i| encoded(dtype, value(i))).collect();
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
            let integers = layout.integer_runs(dtype, weighted);
            let got = reduced_in_regions(&ds, &layout, &region_cut[..rank], weights, integers);
            proptest::prop_assert_eq!(got, want);
        }
    }

    /// `v` as a value of `dtype`, in native byte order (signed types shifted down by 100,
    /// complex numbers with `v` as the real part).
    fn encoded(dtype: DType, v: f64) -> Vec<u8> {
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
    }

    proptest::proptest! {
        /// Values summed where a memory map holds them (dimensions flipped, bytes between
        /// rows and frames, either byte order) sum, over any kept dimensions and with
        /// weights, to what the same values in C order do, and a look that takes them as
        /// stored sees each value once, told their byte order.
        #[test]
        fn sums_in_the_stored_view_match_c_order(
            shape in proptest::collection::vec(1u64..5, 0..=3),
            row in 1u64..40,
            flips in proptest::collection::vec(proptest::bool::ANY, 3),
            gaps in proptest::collection::vec(0u64..3, 4),
            big_endian in proptest::bool::ANY,
            kept_mask in proptest::collection::vec(proptest::bool::ANY, 4),
            weighted in proptest::bool::ANY,
            dtype in proptest::sample::select(vec![
                DType::U8, DType::I8, DType::U16, DType::I16, DType::U32, DType::I32,
                DType::F32, DType::F64, DType::C64, DType::U64,
            ]),
        ) {
            let shape: Vec<u64> = shape.into_iter().chain([row]).collect();
            let rank = shape.len();
            let size = dtype.size() as u64;
            let order = if big_endian { ByteOrder::Big } else { ByteOrder::Little };
            // Rows of consecutive values, each dimension `gaps` values more apart than
            // the one after it spans; flipped dimensions counted down from their last index.
            let mut strides = vec![size as i64; rank];
            let mut span = size * row;
            for d in (0..rank - 1).rev() {
                span += gaps[d] * size;
                strides[d] = span as i64;
                span *= shape[d];
            }
            let mut offset = 0i64;
            for d in 0..rank - 1 {
                if flips[d] {
                    offset += (shape[d] as i64 - 1) * strides[d];
                    strides[d] = -strides[d];
                }
            }
            let mut storage = vec![0xA5u8; (span + gaps[3] * size) as usize];
            let mut flat = 0u64;
            emio_core::copy::for_each_index(&shape, |index| {
                let at = (0..rank).fold(offset, |at, d| at + index[d] as i64 * strides[d]);
                let mut v = encoded(dtype, (flat % 200) as f64);
                if !order.is_native() {
                    emio_core::swap::in_place(&mut v, dtype.swap_unit());
                }
                storage[at as usize..][..v.len()].copy_from_slice(&v);
                flat += 1;
            });
            let source = emio_core::StridedSource::new(
                "test",
                emio_core::Storage::owned(storage),
                offset as u64,
                dtype,
                shape.clone(),
                strides,
                order,
            )
            .unwrap();
            let axes = (0..rank).map(|_| Axis::default_for(false)).collect();
            let ds = Dataset::new(Arc::new(source), axes, Tree::new(), Tree::new()).unwrap();
            let everything = ds.read_region_bytes(&vec![0; rank], &shape).unwrap();
            let plain = Dataset::from_bytes(everything, dtype, shape.clone()).unwrap();
            let kept: Vec<usize> = (0..rank).filter(|&d| kept_mask[d]).collect();
            let summed: u64 = (0..rank)
                .filter(|d| !kept.contains(d))
                .map(|d| shape[d])
                .product();
            let w: Vec<f64> = (0..summed).map(|i| (i % 3) as f64).collect();
            let weights = weighted.then_some(&w[..]);
            let got = Summation::keeping(&ds, &kept, weights, "t").unwrap();
            let seen = std::sync::atomic::AtomicU64::new(0);
            let look = scan::EachPiece {
                work: |b: &[u8], told| {
                    assert_eq!(told, StridedView::of(b, 0, &[], dtype, order).order);
                    seen.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    Ok(())
                },
                as_stored: true,
            };
            run(&ds, &[&got], Some(&look), &NoProgress).unwrap();
            let want = sum_keeping(&plain, &kept, weights, "t", &NoProgress).unwrap();
            proptest::prop_assert_eq!(seen.into_inner(), size * shape.iter().product::<u64>());
            proptest::prop_assert_eq!(values(&got.finish().unwrap()), values(&want));
        }
    }

    proptest::proptest! {
        /// Data stored in another order of its dimensions (every permutation) sums, over
        /// any kept dimensions and with weights, to what the same values in C order do:
        /// the pass walks the storage and puts the result and the weights in order.
        #[test]
        fn sums_of_data_stored_in_any_order_match_c_order(
            stored_shape in proptest::collection::vec(1u64..5, 1..=4),
            perm_keys in proptest::collection::vec(0u32..1000, 4),
            kept_mask in proptest::collection::vec(proptest::bool::ANY, 4),
            weighted in proptest::bool::ANY,
        ) {
            let rank = stored_shape.len();
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.sort_by_key(|&d| (perm_keys[d], d));
            let n: u64 = stored_shape.iter().product();
            let bytes: Vec<u8> = (0..n as u32).flat_map(|v| v.to_ne_bytes()).collect();
            let stored = emio_core::StridedSource::from_bytes(bytes, DType::U32, stored_shape)
                .unwrap();
            let source = stored.permuted(&perm).unwrap();
            let axes = (0..rank).map(|_| Axis::default_for(false)).collect();
            let ds = Dataset::new(Arc::new(source), axes, Tree::new(), Tree::new()).unwrap();
            let logical = ds.read_region_bytes(&vec![0; rank], ds.shape()).unwrap();
            let plain = Dataset::from_bytes(logical, DType::U32, ds.shape().to_vec()).unwrap();
            let kept: Vec<usize> = (0..rank).filter(|&d| kept_mask[d]).collect();
            let summed: u64 = (0..rank)
                .filter(|d| !kept.contains(d))
                .map(|d| ds.shape()[d])
                .product();
            let w: Vec<f64> = (0..summed).map(|i| (i % 5) as f64).collect();
            let weights = weighted.then_some(&w[..]);
            let got = sum_keeping(&ds, &kept, weights, "t", &NoProgress).unwrap();
            let want = sum_keeping(&plain, &kept, weights, "t", &NoProgress).unwrap();
            proptest::prop_assert_eq!(got.shape(), want.shape());
            proptest::prop_assert_eq!(values(&got), values(&want));
        }
    }

    #[test]
    fn one_pass_feeds_several_sums_and_a_look_at_every_value() {
        let ds = ramp(&[6, 5, 7], 1);
        let nav = Summation::over(&ds, &Over::Navigation, None).unwrap();
        let w: Vec<f64> = (0..35).map(|i| f64::from(i % 2)).collect();
        let sig = Summation::over(&ds, &Over::Signal, Some(&w)).unwrap();
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let look = scan::EachPiece {
            work: |b: &[u8], _| {
                seen.fetch_add(b.len(), std::sync::atomic::Ordering::Relaxed);
                Ok(())
            },
            as_stored: false,
        };
        run(&ds, &[&nav, &sig], Some(&look), &NoProgress).unwrap();
        assert_eq!(seen.into_inner(), 6 * 5 * 7 * 2);
        let (nav, sig) = (nav.finish().unwrap(), sig.finish().unwrap());
        let alone = sum_over(&ds, &Over::Navigation, None, &NoProgress).unwrap();
        assert_eq!(values(&nav), values(&alone));
        let alone = sum_over(&ds, &Over::Signal, Some(&w), &NoProgress).unwrap();
        assert_eq!(values(&sig), values(&alone));
        // A sum made for another dataset is refused.
        let other = Summation::over(&ramp(&[2, 2], 1), &Over::Signal, None).unwrap();
        assert!(run(&ds, &[&other], None, &NoProgress).is_err());
        let bytes = Dataset::from_bytes(vec![0; 6 * 5 * 7], DType::U8, vec![6, 5, 7]).unwrap();
        let other = Summation::over(&bytes, &Over::Signal, None).unwrap();
        assert!(run(&ds, &[&other], None, &NoProgress).is_err());
    }

    #[test]
    fn small_regions_give_the_same_sums() {
        let ds = ramp(&[7, 3, 5], 1);
        let layout = Layout::new(ds.shape(), &[1, 2]);
        let integers = layout.integer_runs(DType::U16, false);
        assert_eq!(integers, Some(SmallIntegers::U16));
        let total = reduced_in_regions(&ds, &layout, &[2, 2, 3], None, integers);
        let whole = sum_over(&ds, &Over::Navigation, None, &NoProgress).unwrap();
        assert_eq!(values(&whole), total);
    }

    /// `ds` reduced through `layout` region by region (regions of `cut`), with `weights`,
    /// small integers added into integer partial sums when `integers` says so.
    fn reduced_in_regions(
        ds: &Dataset,
        layout: &Layout,
        cut: &[u64],
        weights: Option<&[f64]>,
        integers: Option<SmallIntegers>,
    ) -> Vec<f64> {
        let len = (0..ds.ndim())
            .filter(|&d| layout.kept[d])
            .map(|d| ds.shape()[d] as usize)
            .product();
        let mut total = Accumulator::new(len, integers.is_some());
        for region in ds.chunks(cut) {
            let bytes = ds.read_region_bytes(&region.start, &region.shape).unwrap();
            let strides = c_strides(&region.shape, ds.dtype().size());
            let values = Values {
                region: &region,
                dtype: ds.dtype(),
                bytes: &bytes,
                first: 0,
                strides: &strides,
                order: ByteOrder::NATIVE,
                weights,
                integers,
            };
            layout.reduce(&values, &mut total);
        }
        total.into_values()
    }

    /// Integer partial sums are added into the floats before they overflow: 40,000
    /// frames of the largest `u16` sum to more than `i32` holds, in regions of any
    /// number of frames.
    #[test]
    fn integer_partial_sums_never_overflow() {
        let bytes = vec![0xFF; 40_000 * 2 * 2];
        let mut ds = Dataset::from_bytes(bytes, DType::U16, vec![40_000, 2]).unwrap();
        ds.axes[0].navigate = true;
        let sum = sum_over(&ds, &Over::Navigation, None, &NoProgress).unwrap();
        let want = [40_000.0 * 65_535.0; 2];
        assert_eq!(values(&sum), want);
        let layout = Layout::new(ds.shape(), &[1]);
        let integers = layout.integer_runs(DType::U16, false);
        for frames in [1, 999, 32_767, 32_768, 40_000] {
            let total = reduced_in_regions(&ds, &layout, &[frames, 2], None, integers);
            assert_eq!(total, want, "regions of {frames} frames");
        }
    }
}
