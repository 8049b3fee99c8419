//! Summary statistics of a dataset (`emconvert stats`), streamed through core's engine in
//! bounded memory on all cores: count, min, max, mean, standard deviation, NaN and infinity
//! counts, and a histogram of the finite values.
//!
//! - 8- and 16-bit integers and bool (detector counts): one pass counting how often each
//!   possible value occurs (module `table`); the summary and the histogram come exactly
//!   out of the table at the end.
//! - Everything else: each region is summarised on its own by typed kernels
//!   ([`emio_core::summary`]: sum, extremes, then the squared deviations from the region's
//!   own mean while it is still in cache) and the summaries are merged with Chan's
//!   formula, so the variance stays accurate for large offsets, in the order of the scan's
//!   numbered units whatever order the threads finish them in (module `summaries`: the
//!   same mean and deviation to the last bit on every run); the histogram takes a second
//!   pass once the range is known (module `bins`).
//!
//! Every pass walks the storage ([`emio_core::scan`]): pieces of `PIECE_BYTES` (1 MiB) as
//! the storage holds them, read in place from the memory map when the file allows, so
//! they are never copied, and small enough to stay in the L2 cache between the looks at
//! them. Complex values are summarised by their magnitude, RGB by the mean of R, G and B
//! ([`crate::values`]).

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
mod bins;
#[cfg(test)]
mod proptests;
mod summaries;
mod table;

use std::sync::Mutex;

use emio_core::engine::Engine;
pub use emio_core::summary::Summary;
use emio_core::{scan, Dataset, Progress, Result};
use serde_json::{json, Value};

use crate::reduce::{self, Summation};
use summaries::Summaries;

/// Histogram bins of [`default_bins`] where the histogram is counted by default.
pub const DEFAULT_BINS: usize = 16;

/// The histogram bins [`stats`] counts unless told otherwise (`emconvert stats` and
/// Python's `emio.stats` without `bins`): [`DEFAULT_BINS`] where the histogram comes with
/// the one pass over the data (8- and 16-bit integers and bool, counted value by value),
/// none where it would take a second pass (every other type: equal bins between the
/// minimum and the maximum need the range before the first value is binned, and that
/// second pass halves the rate; asking for bins counts them).
pub fn default_bins(dtype: emio_core::DType) -> usize {
    if table::counts(dtype) {
        DEFAULT_BINS
    } else {
        0
    }
}

/// Bytes per piece of the data: pieces follow the storage layout and stay in the L2 cache
/// between the two looks a summary takes at them.
const PIECE_BYTES: u64 = 1 << 20;

/// Counts of the finite values in equal bins between their min and max.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Lower edge of the first bin.
    pub start: f64,
    /// Width of every bin (1 or more whole units for integer data).
    pub width: f64,
    /// Values per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Bins between `min` and `max`: `bins` of them, or fewer, whole-unit ones for integer
    /// data whose range is small.
    fn new(min: f64, max: f64, bins: usize, integer: bool) -> Histogram {
        let bins = bins.max(1);
        let (width, n) = if integer {
            let range = max - min + 1.0;
            let width = (range / bins as f64).ceil().max(1.0);
            (width, (range / width).ceil() as usize)
        } else {
            let span = max - min;
            let width = if span > 0.0 { span / bins as f64 } else { 1.0 };
            (width, if span > 0.0 { bins } else { 1 })
        };
        Histogram {
            start: min,
            width,
            counts: vec![0; n.max(1)],
        }
    }

    /// The bin of the finite value `v`: the first or the last for values beyond them.
    fn bin(&self, v: f64) -> usize {
        let last = self.counts.len() - 1;
        let bin = ((v - self.start) / self.width).floor();
        if bin <= 0.0 {
            0
        } else {
            (bin as usize).min(last)
        }
    }

    /// Count `n` more values `v`.
    fn add(&mut self, v: f64, n: u64) {
        let bin = self.bin(v);
        self.counts[bin] += n;
    }

    /// The value below which `fraction` of the counted values lie, interpolated within the
    /// bin that holds it.
    pub fn quantile(&self, fraction: f64) -> f64 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return f64::NAN;
        }
        let target = fraction.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 && (below + c) as f64 >= target {
                let within = (target - below as f64) / c as f64;
                return self.start + (i as f64 + within) * self.width;
            }
            below += c;
        }
        self.start + self.counts.len() as f64 * self.width
    }
}

/// What [`stats`] computes.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Moments, extremes and special-value counts.
    pub summary: Summary,
    /// Histogram of the finite values, when asked for and there are any.
    pub histogram: Option<Histogram>,
    /// How each element became a number (`value`, `magnitude`, `mean of R, G, B`).
    pub of: &'static str,
    /// Every distinct value with its count, increasing, when the pass counted them (8- and
    /// 16-bit data with a histogram): the percentiles are then exact.
    values: Option<Vec<(i64, u64)>>,
}

impl Stats {
    /// The value below which `fraction` of the finite values lie: exact (NumPy's default,
    /// linear between the two nearest values) where every value was counted, else
    /// interpolated within the histogram bin that holds it; NaN without either.
    pub fn quantile(&self, fraction: f64) -> f64 {
        let Some(values) = &self.values else {
            return self
                .histogram
                .as_ref()
                .map_or(f64::NAN, |h| h.quantile(fraction));
        };
        let n: u64 = values.iter().map(|&(_, c)| c).sum();
        if n == 0 {
            return f64::NAN;
        }
        let position = fraction.clamp(0.0, 1.0) * (n - 1) as f64;
        let below = position.floor() as u64;
        // The value at 0-based rank `r` of the sorted values.
        let at = |r: u64| {
            let mut seen = 0;
            for &(v, c) in values {
                seen += c;
                if r < seen {
                    return v as f64;
                }
            }
            values.last().map_or(f64::NAN, |&(v, _)| v as f64)
        };
        let (lo, hi) = (at(below), at((below + 1).min(n - 1)));
        lo + (hi - lo) * (position - below as f64)
    }

    /// The statistics as JSON (`emconvert stats --json`); non-finite numbers as strings.
    pub fn to_json(&self) -> Value {
        let num = emio_core::metadata::json_f64;
        let s = &self.summary;
        let mut doc = json!({
            "of": self.of,
            "count": s.count,
            "nan": s.nan,
            "pos_inf": s.pos_inf,
            "neg_inf": s.neg_inf,
            "min": num(s.min),
            "max": num(s.max),
            "mean": num(s.mean),
            "std": num(s.std()),
            "sum": num(s.sum),
        });
        if let Some(h) = &self.histogram {
            doc["histogram"] = json!({
                "start": num(h.start),
                "width": num(h.width),
                "counts": h.counts,
                "percentiles": {
                    "0.1": num(self.quantile(0.001)),
                    "1": num(self.quantile(0.01)),
                    "50": num(self.quantile(0.5)),
                    "99": num(self.quantile(0.99)),
                    "99.9": num(self.quantile(0.999)),
                },
            });
        }
        doc
    }
}

/// Statistics of every value of `dataset`, with a histogram of `bins` bins unless `bins`
/// is 0.
///
/// 8- and 16-bit integers and bool take one pass that counts every value (module `table`),
/// with or without a histogram; other data a pass of core's summary kernels (module
/// `summaries`) and, for the histogram, a second one once the range is known (module
/// `bins`). The same data gives the same statistics, to the last bit, on every run.
pub fn stats(dataset: &Dataset, bins: usize, progress: &dyn Progress) -> Result<Stats> {
    stats_in(dataset, bins, &[], progress, PIECE_BYTES)
}

/// [`stats`], feeding `sums` (made for `dataset`, finished by the caller) in the same pass
/// over the data, so that statistics and sums read it once (`emconvert stats --sum`).
pub fn stats_and_sums(
    dataset: &Dataset,
    bins: usize,
    sums: &[&Summation],
    progress: &dyn Progress,
) -> Result<Stats> {
    stats_in(dataset, bins, sums, progress, PIECE_BYTES)
}

/// [`stats_and_sums`] in pieces of about `piece_bytes` (without sums).
fn stats_in(
    dataset: &Dataset,
    bins: usize,
    sums: &[&Summation],
    progress: &dyn Progress,
    piece_bytes: u64,
) -> Result<Stats> {
    let dtype = dataset.dtype();
    let engine = Engine::default();
    // The first pass, alone or with the sums'.
    let first = |visitor: &dyn scan::Visitor| {
        if sums.is_empty() {
            scan::visit(&engine, dataset, piece_bytes, progress, visitor)
        } else {
            reduce::run(dataset, sums, Some(visitor), progress)
        }
    };
    let mut values = None;
    // 8- and 16-bit values are counted in tables even without a histogram: one pass,
    // exact moments, faster than the moment kernels on these types.
    let (summary, histogram) = if table::counts(dtype) {
        let tables = table::Tables::new(dtype);
        first(&tables)?;
        let (summary, histogram, counted) = tables.finish(bins);
        // Percentiles come with the histogram (`--bins 0`: neither).
        values = (bins > 0).then_some(counted);
        (summary, histogram)
    } else {
        let summaries = Summaries::new(dtype);
        first(&summaries)?;
        let summary = summaries.finish();
        let histogram = if bins > 0 && summary.count > 0 {
            let integer = dtype.is_integer() || dtype == emio_core::DType::Bool;
            let empty = Histogram::new(summary.min, summary.max, bins, integer);
            let binner = bins::Binner::new(&empty);
            let total = Mutex::new(empty);
            // Order-free: every pass walks the values as stored (in place in a memory map
            // when the dataset lies in one), never through a transpose.
            scan::for_each_piece(&engine, dataset, piece_bytes, progress, |bytes| {
                let mut part = vec![0; binner.bins()];
                scan::in_blocks(bytes, dtype.size(), |block| {
                    bins::fill(dtype, block, &binner, &mut part);
                });
                for (t, p) in lock(&total).counts.iter_mut().zip(part) {
                    *t += p;
                }
                Ok(())
            })?;
            Some(total.into_inner().unwrap_or_else(|p| p.into_inner()))
        } else {
            None
        };
        (summary, histogram)
    };
    Ok(Stats {
        summary,
        histogram,
        of: crate::values::meaning(dtype),
        values,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::summary::summary_of;
    use emio_core::{DType, NoProgress};

    #[test]
    fn moments_and_special_values() {
        let values = [
            1.0f32,
            2.0,
            f32::NAN,
            3.0,
            f32::INFINITY,
            4.0,
            f32::NEG_INFINITY,
        ];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let ds = Dataset::from_bytes(bytes, DType::F32, vec![7]).unwrap();
        let st = stats(&ds, 4, &NoProgress).unwrap();
        let s = st.summary;
        assert_eq!((s.count, s.nan, s.pos_inf, s.neg_inf), (4, 1, 1, 1));
        assert_eq!((s.min, s.max, s.mean, s.sum), (1.0, 4.0, 2.5, 10.0));
        assert!((s.std() - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(st.histogram.unwrap().counts.iter().sum::<u64>(), 4);
    }

    #[test]
    fn merged_regions_equal_one_pass() {
        let values: Vec<f64> = (0..1000).map(|i| 1e9 + (i % 17) as f64).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let mut merged = Summary::default();
        for part in bytes.chunks(8 * 37) {
            merged.merge(&summary_of(DType::F64, part));
        }
        let whole = summary_of(DType::F64, &bytes);
        assert_eq!(merged.count, whole.count);
        assert!((merged.mean - whole.mean).abs() < 1e-6);
        assert!((merged.std() - whole.std()).abs() < 1e-9);
    }

    #[test]
    fn means_further_apart_than_the_largest_float_merge() {
        let part = |v: f64| summary_of(DType::F64, &v.to_ne_bytes());
        let mut merged = part(1.7e308);
        merged.merge(&part(-1.7e308));
        assert_eq!((merged.count, merged.mean, merged.sum), (2, 0.0, 0.0));
    }

    #[test]
    fn merging_large_deviations_does_not_overflow() {
        // 100 zeros merged with 100 values of 1e153: m2 = 1e306 · 100 · 100 / 200 = 5e307,
        // finite, though 1e306 · 100 · 100 is not.
        let part = |v: f64| {
            let bytes: Vec<u8> = (0..100).flat_map(|_| v.to_ne_bytes()).collect();
            summary_of(DType::F64, &bytes)
        };
        let mut merged = part(0.0);
        merged.merge(&part(1e153));
        assert!((merged.m2 / 5e307 - 1.0).abs() < 1e-12, "m2 {}", merged.m2);
    }

    #[test]
    fn integer_histograms_have_whole_bins() {
        let mut h = Histogram::new(0.0, 9.0, 100, true);
        assert_eq!((h.counts.len(), h.width), (10, 1.0));
        for v in 0..10 {
            h.add(f64::from(v), 1);
        }
        assert_eq!(h.counts, vec![1; 10]);
        assert_eq!(h.quantile(0.5), 5.0);
        let h = Histogram::new(0.0, 999.0, 10, true);
        assert_eq!((h.counts.len(), h.width), (10, 100.0));
    }
}
