//! Sums over the navigation or the signal axes of a dataset, streamed region by region
//! through core's engine (bounded memory, all cores): the summed diffraction pattern or
//! spectrum of a scan, its total-intensity map, a virtual detector image.
//!
//! A pass walks the data in the order it is stored ([`Dataset::in_stored_order`]): a
//! spectrum image stored energy-first or NCEM's transposed frames are summed as they lie,
//! never transposed; only the result (and the weights) are put in the dataset's own axis
//! order. A sum whose every partial sum is an exact integer (integers, unweighted, whose
//! total cannot pass 2^53) is the same in any order: each worker adds its regions straight
//! into an accumulator of its own, the size of the result (module `pool`), merged at the
//! end. Any other sum (floating-point values, weights) is added up region by region, each
//! into the box of the result it reaches, and the boxes merged in the fixed order of the
//! regions' numbers (module `part`), so the result is the same to the last bit on every
//! run. Several sums and a look at every value (`stats`) can share one pass ([`run`]), so
//! the data is read once.

use std::sync::Arc;

use emio_core::copy::{copy_nd, Layout as Strides};
use emio_core::engine::Engine;
use emio_core::in_order::InOrder;
use emio_core::scan;
use emio_core::source::{c_strides, StridedView};
use emio_core::{Axis, ByteOrder, DType, Dataset, Error, Progress, Region, Result, Tree};

use crate::pool::Pool;

mod kernels;
mod layout;
mod over;
mod part;

use kernels::SmallIntegers;
use layout::{Accumulator, Layout, Values};
pub use over::Over;
use part::{Part, Share};

/// Largest result a sum may produce (elements of f64): 1 GiB.
pub const MAX_RESULT_ELEMENTS: u64 = 1 << 27;

/// Bytes of the accumulators one sum may hold at once (one per worker while they fit):
/// a larger result is added into by fewer workers at a time.
const ACCUMULATOR_BYTES: u64 = 512 << 20;

/// Bytes per region read: regions follow the storage layout and stay in cache while summed.
const REGION_BYTES: u64 = 4 << 20;

/// How many times its result's size a region of a sum taken in a fixed order holds at
/// least: each region's box of the result is zeroed, added into and merged (about five
/// times its bytes of memory traffic), a small share of reading the region.
const REGION_PER_RESULT: u64 = 16;

/// Bytes of the boxes of a fixed-order sum waiting for their neighbours in the merge
/// tree, per thread (each thread works through its own run of regions, holding about one
/// box the size of the result per level of the tree): the regions are made large enough
/// (few enough, whatever the number of threads) for the tree's levels to stay within it.
const WAITING_BYTES: u64 = 512 << 20;

/// Largest total an `f64` holds exactly with all the integers below it: 2^53.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

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
/// `progress` cancels. The regions are the largest any of the sums asks for
/// (a fixed-order [`Summation`]'s), so the last bits of a floating-point sum, or of the
/// moments `also` takes, can depend on which other sums share the pass; never on the run
/// or the number of threads.
pub fn run(
    dataset: &Dataset,
    sums: &[&Summation],
    also: Option<&dyn scan::Visitor>,
    progress: &dyn Progress,
) -> Result<()> {
    let region_bytes = sums
        .iter()
        .map(|s| s.region_bytes())
        .fold(REGION_BYTES, u64::max);
    run_in_regions(dataset, sums, also, progress, region_bytes)
}

/// [`run`] in regions of about `region_bytes` (`Dataset::read_chunk_shape`), which are
/// the units a fixed-order sum merges in.
fn run_in_regions(
    dataset: &Dataset,
    sums: &[&Summation],
    also: Option<&dyn scan::Visitor>,
    progress: &dyn Progress,
    region_bytes: u64,
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
    let engine = Engine::default();
    let chunk = stored.read_chunk_shape(region_bytes);
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
                    let mut share = sum.share(region);
                    sum.add_in_view(&mut share, region, view);
                    sum.close(unit, share);
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
        let mut shares: Vec<UnitShare<'_>> = sums.iter().map(|s| s.share(bytes.region())).collect();
        bytes.visit(&mut |region, b| {
            for (sum, share) in sums.iter().zip(&mut shares) {
                sum.add(share, region, b);
            }
            also.map_or(Ok(()), |v| v.piece(unit, b, ByteOrder::NATIVE))
        })?;
        for (sum, share) in sums.iter().zip(shares) {
            sum.close(unit, share);
        }
        also.map_or(Ok(()), |v| v.close(unit))
    })?;
    Ok(())
}

/// One sum over some dimensions of a dataset, in progress: made for the dataset, fed by
/// [`run`], turned into the result by [`Summation::finish`]. A sum that is not exact in
/// any order (floating-point values, weights) is taken in a fixed order of the pass's
/// regions, the same to the last bit on every run and with any number of threads.
pub struct Summation {
    /// Index arithmetic in the stored order of the dimensions.
    layout: Layout,
    dtype: DType,
    /// The weights in the stored order of the summed dimensions.
    weights: Option<Vec<f64>>,
    /// Whether runs are small integers added into integer partial sums, and of which type.
    integers: Option<SmallIntegers>,
    /// Where the regions are added up.
    totals: Totals,
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
        let totals = if exact_in_any_order(dataset.dtype(), weights.is_some(), summed_len) {
            Totals::AnyOrder(Pool::new((ACCUMULATOR_BYTES / bytes) as usize))
        } else {
            Totals::InOrder(InOrder::new())
        };
        Ok(Summation {
            layout,
            dtype: dataset.dtype(),
            weights,
            integers,
            totals,
            len: len as usize,
            stored_shape: stored_kept.iter().map(|&k| stored.shape()[k]).collect(),
            to_logical,
            axes: kept.iter().map(|&d| dataset.axes[d].clone()).collect(),
            metadata,
        })
    }

    /// Bytes of the regions a pass of this sum reads at least: [`REGION_BYTES`]; a sum
    /// taken in a fixed order, regions of [`REGION_PER_RESULT`] times its result, and few
    /// enough that the boxes waiting in the merge tree stay within [`WAITING_BYTES`] per
    /// thread. The same with any number of threads: the regions are the units the merge
    /// follows.
    fn region_bytes(&self) -> u64 {
        if let Totals::AnyOrder(_) = self.totals {
            return REGION_BYTES;
        }
        let result = (self.len as u64).saturating_mul(8).max(1);
        let data = self.layout.shape.iter().product::<u64>() * self.dtype.size() as u64;
        let levels = (WAITING_BYTES / result).saturating_sub(1).min(40) as u32;
        let fewest = data.div_ceil(1 << levels);
        REGION_BYTES
            .max(result.saturating_mul(REGION_PER_RESULT))
            .max(fewest)
    }

    /// This sum's share of the unit of the pass that reads `region`.
    fn share(&self, region: &Region) -> UnitShare<'_> {
        match &self.totals {
            Totals::AnyOrder(pool) => UnitShare::Pooled(pool),
            Totals::InOrder(tree) => UnitShare::Own(
                Share::covering(&self.layout, region, self.integers.is_some()),
                tree,
            ),
        }
    }

    /// The unit `unit` has handed over all its values: its share goes to the merge.
    fn close(&self, unit: u64, share: UnitShare<'_>) {
        if let UnitShare::Own(share, tree) = share {
            tree.add(unit, share.close());
        }
    }

    /// Add one region of the stored-order dataset (its C-order native-endian bytes) to
    /// `share`.
    fn add(&self, share: &mut UnitShare<'_>, region: &Region, bytes: &[u8]) {
        let strides = c_strides(&region.shape, self.dtype.size());
        self.add_values(
            share,
            &Values {
                region,
                dtype: self.dtype,
                bytes,
                first: 0,
                strides: &strides,
                order: ByteOrder::NATIVE,
                weights: self.weights.as_deref(),
                integers: self.integers,
            },
        );
    }

    /// Add one region of the stored-order dataset where `view` (the dataset's stored view,
    /// its last dimension a run of consecutive values) holds it to `share`.
    fn add_in_view(&self, share: &mut UnitShare<'_>, region: &Region, view: &StridedView<'_>) {
        let first = view.offset_of(&region.start);
        self.add_values(
            share,
            &Values {
                region,
                dtype: self.dtype,
                bytes: view.bytes,
                first: first as usize,
                strides: view.strides,
                order: view.order,
                weights: self.weights.as_deref(),
                integers: self.integers,
            },
        );
    }

    /// Add `values` into `share`: into an accumulator of the pool, or the unit's own box.
    fn add_values(&self, share: &mut UnitShare<'_>, values: &Values<'_>) {
        match share {
            UnitShare::Pooled(pool) => pool.with(
                || Accumulator::new(self.len, self.integers.is_some()),
                |total| self.layout.reduce(values, self.layout.whole(total)),
            ),
            UnitShare::Own(share, _) => self.layout.reduce(values, share.target()),
        }
    }

    /// The result: a float64 dataset of the kept axes, in the dataset's order.
    pub fn finish(self) -> Result<Dataset> {
        let mut values = match self.totals {
            Totals::AnyOrder(pool) => {
                let mut totals = pool.into_inner().into_iter().map(Accumulator::into_values);
                let mut values = totals.next().unwrap_or_else(|| vec![0f64; self.len]);
                for other in totals {
                    for (v, o) in values.iter_mut().zip(&other) {
                        *v += o;
                    }
                }
                values
            }
            Totals::InOrder(tree) => Part::into_result(tree.finish(), &self.layout),
        };
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

/// Where the regions of a sum are added up.
enum Totals {
    /// Into accumulators of the whole result from a pool, a region into whichever is free:
    /// for sums the same in any order.
    AnyOrder(Pool<Accumulator>),
    /// Region by region into boxes of the result merged in the order of the regions'
    /// numbers: the same to the last bit on every run.
    InOrder(InOrder<Part>),
}

/// A sum's share of one unit of a pass (a region).
enum UnitShare<'a> {
    /// Added into accumulators of the pool.
    Pooled(&'a Pool<Accumulator>),
    /// Added up into the unit's own box of the result, for this tree.
    Own(Share, &'a InOrder<Part>),
}

/// Whether a sum of `dtype` values, each result the sum of `count` of them (times a weight
/// when `weighted`), is the same in any order: every partial sum is an integer below
/// 2^53 in magnitude, which `f64` holds exactly, when the values are integers of at most
/// 32 bits (or booleans), unweighted, and `count` of the largest stay below 2^53.
fn exact_in_any_order(dtype: DType, weighted: bool, count: u64) -> bool {
    let largest: f64 = match dtype {
        DType::Bool => 1.0,
        DType::U8 => 255.0,
        DType::I8 => 128.0,
        DType::U16 => 65_535.0,
        DType::I16 => 32_768.0,
        DType::U32 => 4_294_967_295.0,
        DType::I32 => 2_147_483_648.0,
        _ => return false,
    };
    !weighted && largest * count as f64 <= EXACT_INTEGERS
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
mod tests;
