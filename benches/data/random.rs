//! The benchmark's pseudo-random numbers: a counter-based generator (every value is a hash
//! of its seed and flat index, so any region can be generated alone, in any order, on any
//! thread, with the same result) and the Poisson counts drawn from it.

/// SplitMix64's finaliser of `seed + index`: a well-mixed 64-bit value for every index.
pub fn hash(seed: u64, index: u64) -> u64 {
    let mut x = seed.wrapping_add(index).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from the top 53 bits of `h`.
fn uniform(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// An approximately standard normal number from `h`: the sum of its four 16-bit quarters
/// as uniforms (Irwin-Hall, variance 1/3), centred and scaled; within ±3.46.
pub fn normal(h: u64) -> f64 {
    let quarter = |k: u32| ((h >> (16 * k)) & 0xffff) as f64 * (1.0 / 65536.0);
    let sum = quarter(0) + quarter(1) + quarter(2) + quarter(3);
    (sum - 2.0 + 2.0 / 65536.0) * 3f64.sqrt()
}

/// Means at and above which [`Poisson`] uses the normal approximation.
const NORMAL_FROM: f64 = 30.0;

/// Poisson counts of one mean, with what each draw needs computed once.
#[derive(Clone, Copy, Debug)]
pub struct Poisson {
    mean: f64,
    /// The probability of a zero count, `exp(-mean)`.
    zero: f64,
}

impl Poisson {
    /// Counts of mean `mean` (at least 0).
    pub fn new(mean: f64) -> Self {
        let mean = mean.max(0.0);
        Poisson {
            mean,
            zero: (-mean).exp(),
        }
    }

    /// A count from `h`: the inverse of the cumulative distribution below [`NORMAL_FROM`]
    /// (one comparison for the usual zero of a sparse background), the rounded normal
    /// approximation above.
    pub fn sample(&self, h: u64) -> f64 {
        if self.mean >= NORMAL_FROM {
            return (self.mean + self.mean.sqrt() * normal(h)).round().max(0.0);
        }
        let u = uniform(h);
        let mut p = self.zero;
        let mut cumulative = p;
        let mut k = 0.0;
        while u > cumulative && p > 0.0 {
            k += 1.0;
            p *= self.mean / k;
            cumulative += p;
        }
        k
    }
}
