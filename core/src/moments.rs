//! Mean and variance that merge: Chan, Golub and LeVeque's parallel algorithm, the one
//! implementation behind `emconvert stats` and the statistics the MRC writer puts in its
//! header (blocks summarized on several threads, then folded together).

/// The count, mean and sum of squared deviations from the mean of a set of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub count: f64,
    /// Their mean (any value when `count` is 0).
    pub mean: f64,
    /// Sum of their squared deviations from `mean`.
    pub m2: f64,
}

impl Moments {
    /// The moments of both sets of values together. Computed in an order in which no step
    /// overflows when the result does not: means further apart than the largest float are
    /// weighted rather than subtracted, and `delta² · n_a · n_b / n` is multiplied out as
    /// `delta · (delta · n_a · w)`, `w = n_b / n`.
    pub fn merged(self, other: Moments) -> Moments {
        if other.count == 0.0 {
            return self;
        }
        if self.count == 0.0 {
            return other;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        let w = other.count / count;
        let mean = if delta.is_finite() {
            self.mean + delta * w
        } else {
            // Less accurate for large offsets, so only here.
            self.mean * (1.0 - w) + other.mean * w
        };
        let m2 = self.m2 + other.m2 + delta * (delta * (self.count * w));
        Moments { count, mean, m2 }
    }

    /// Population variance (NaN for no values).
    pub fn variance(&self) -> f64 {
        if self.count == 0.0 {
            f64::NAN
        } else {
            self.m2 / self.count
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The moments of `values` in two passes.
    fn direct(values: &[f64]) -> Moments {
        let count = values.len() as f64;
        let mean = values.iter().sum::<f64>() / count;
        let m2 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        Moments { count, mean, m2 }
    }

    #[test]
    fn merged_parts_equal_the_whole() {
        let values: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 101) as f64 * 0.5 - 7.0)
            .collect();
        let whole = direct(&values);
        for cut in [1, 10, 500, 999] {
            let (a, b) = values.split_at(cut);
            let merged = direct(a).merged(direct(b));
            assert_eq!(merged.count, whole.count);
            assert!((merged.mean - whole.mean).abs() < 1e-12, "{cut}");
            assert!((merged.m2 - whole.m2).abs() < 1e-9 * whole.m2, "{cut}");
        }
        let empty = Moments {
            count: 0.0,
            mean: 0.0,
            m2: 0.0,
        };
        assert_eq!(empty.merged(whole), whole);
        assert_eq!(whole.merged(empty), whole);
        assert!(empty.variance().is_nan());
    }

    #[test]
    fn extreme_means_do_not_overflow_when_the_result_does_not() {
        let a = Moments {
            count: 1.0,
            mean: -f64::MAX,
            m2: 0.0,
        };
        let b = Moments {
            count: 1.0,
            mean: f64::MAX,
            m2: 0.0,
        };
        let m = a.merged(b);
        assert_eq!(m.mean, 0.0);
        assert!(m.m2.is_infinite(), "the variance itself overflows");
        let small = Moments {
            count: 3.0,
            mean: 1e150,
            m2: 0.0,
        };
        let m = small.merged(Moments {
            count: 1.0,
            mean: -1e150,
            m2: 0.0,
        });
        assert!(m.mean.is_finite() && m.m2.is_finite(), "{m:?}");
    }
}
