//! The summary of a region's values (count, extremes, mean and squared deviations of the
//! finite values, counts of NaN and infinities) by typed kernels, and summaries merged:
//! one implementation behind `emconvert stats` and the statistics the MRC writer puts in
//! its header.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
mod kernels;

use crate::moments::Moments;

pub use kernels::{exact, summary_of, Bit, Element, Float, Number};

/// The summary of values already converted to `f64` (as [`summary_of`] their bytes).
pub fn summary_of_values(values: &[f64]) -> Summary {
    summary_of(crate::DType::F64, bytemuck::cast_slice(values))
}

/// Moments and extremes of the finite values, plus counts of the others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Finite values.
    pub count: u64,
    /// NaN values.
    pub nan: u64,
    /// +infinity values.
    pub pos_inf: u64,
    /// -infinity values.
    pub neg_inf: u64,
    /// Smallest finite value (+inf when there is none).
    pub min: f64,
    /// Largest finite value (-inf when there is none).
    pub max: f64,
    /// Sum of the finite values.
    pub sum: f64,
    /// Mean of the finite values (NaN when there is none).
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            count: 0,
            nan: 0,
            pos_inf: 0,
            neg_inf: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            mean: f64::NAN,
            m2: 0.0,
        }
    }
}

impl crate::in_order::Merge for Summary {
    /// Both summaries as one ([`Summary::merge`]), this one's values first.
    fn merge(mut self, right: Summary) -> Summary {
        Summary::merge(&mut self, &right);
        self
    }
}

impl Summary {
    /// Both summaries as one (Chan et al.'s parallel variance, [`Moments::merged`]).
    pub fn merge(&mut self, other: &Summary) {
        if other.count > 0 {
            let merged = self.moments().merged(other.moments());
            self.mean = merged.mean;
            self.m2 = merged.m2;
        }
        self.count += other.count;
        self.nan += other.nan;
        self.pos_inf += other.pos_inf;
        self.neg_inf += other.neg_inf;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Population standard deviation of the finite values (NaN when there is none).
    pub fn std(&self) -> f64 {
        self.moments().variance().sqrt()
    }

    /// Count, mean and squared deviations of the finite values.
    pub fn moments(&self) -> Moments {
        Moments {
            count: self.count as f64,
            mean: self.mean,
            m2: self.m2,
        }
    }
}
