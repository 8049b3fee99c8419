//! The statistics the MRC header carries (min, max, mean, RMS deviation), summarised
//! region by region by core's kernels and merged, and the real values of a region's bytes
//! the mode conversions work on.

use emio_core::summary::{summary_of, summary_of_values, Summary};
use emio_core::DType;
use half::f16;

/// Running statistics merged region by region: core's summaries
/// ([`emio_core::summary`], the kernels behind `emconvert stats`), merged with Chan et
/// al.'s parallel variance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stats {
    summary: Summary,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            summary: Summary::default(),
        }
    }

    /// Fold `other` into these statistics.
    pub(crate) fn merge(&mut self, other: &Stats) {
        self.summary.merge(&other.summary);
    }

    /// Add values already converted to f64.
    pub(crate) fn add_region(&mut self, values: &[f64]) {
        self.summary.merge(&summary_of_values(values));
    }

    /// Add native-endian `bytes` of a real `dtype`, without copying. RGB records add
    /// nothing: MRC's statistics are of numbers, and a header of an RGB file says
    /// "undetermined" rather than the statistics of some reduction of its channels.
    pub(crate) fn add_native(&mut self, dtype: DType, bytes: &[u8]) {
        if !dtype.is_rgb() {
            self.summary.merge(&summary_of(dtype, bytes));
        }
    }

    /// (dmin, dmax, dmean, rms) for the header; "undetermined" values when unknown: no
    /// values, or a NaN or an infinity among them (or sums beyond `f64`).
    pub(crate) fn header_values(&self) -> (f32, f32, f32, f32) {
        let s = &self.summary;
        let special = s.nan + s.pos_inf + s.neg_inf;
        let rms = s.std();
        if s.count == 0 || special > 0 || !(s.mean.is_finite() && rms.is_finite()) {
            // MRC2014: dmax < dmin, dmean < both and rms < 0 mean "not computed".
            return (0.0, -1.0, -2.0, -1.0);
        }
        (s.min as f32, s.max as f32, s.mean as f32, rms as f32)
    }
}

/// Real values of native-endian `bytes` of `dtype` as f64.
pub(crate) fn real_values(dtype: DType, bytes: &[u8]) -> Vec<f64> {
    fn each<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    match dtype {
        DType::Bool | DType::U8 => bytes.iter().map(|&b| f64::from(b)).collect(),
        DType::I8 => bytes.iter().map(|&b| f64::from(b as i8)).collect(),
        DType::U16 => each(bytes, |a| f64::from(u16::from_ne_bytes(a))),
        DType::I16 => each(bytes, |a| f64::from(i16::from_ne_bytes(a))),
        DType::U32 => each(bytes, |a| f64::from(u32::from_ne_bytes(a))),
        DType::I32 => each(bytes, |a| f64::from(i32::from_ne_bytes(a))),
        DType::U64 => each(bytes, |a| u64::from_ne_bytes(a) as f64),
        DType::I64 => each(bytes, |a| i64::from_ne_bytes(a) as f64),
        DType::F16 => each(bytes, |a| f16::from_ne_bytes(a).to_f64()),
        DType::F32 | DType::C64 => each(bytes, |a| f64::from(f32::from_ne_bytes(a))),
        DType::F64 | DType::C128 => each(bytes, |a: [u8; 8]| f64::from_ne_bytes(a)),
        DType::Rgb8 | DType::Rgba8 | DType::Rgb16 | DType::Rgba16 => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regions merged give the header values of the whole (mean and RMS deviation to
    /// rounding, far from zero); a NaN makes them "undetermined".
    #[test]
    fn stats_merge_matches_direct() {
        let v: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 101) as f64 * 0.5 + 1e6)
            .collect();
        let mut s = Stats::new();
        for part in v.chunks(77) {
            s.add_region(part);
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        let (min, max, got_mean, rms) = s.header_values();
        assert_eq!((min, max), (1e6, 1e6 + 50.0));
        assert_eq!(got_mean, mean as f32);
        assert!(
            (f64::from(rms) - var.sqrt()).abs() < 1e-5 * var.sqrt(),
            "{rms}"
        );
        let mut nan = Stats::new();
        nan.add_region(&[1.0, f64::NAN]);
        assert_eq!(nan.header_values(), (0.0, -1.0, -2.0, -1.0));
    }

    /// Integers summarised from their bytes, in any split into regions, give the header
    /// values of the same numbers as `f64`.
    #[test]
    fn integer_statistics_match_the_float_ones() {
        let values: Vec<i16> = (0..300_001i64)
            .map(|i| ((i * 7919) % 65_521 - 32_760) as i16)
            .collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let floats: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        let mut want = Stats::new();
        want.add_region(&floats);
        let mut got = Stats::new();
        for part in bytes.chunks(2 * 70_001) {
            got.add_native(DType::I16, part);
        }
        let (g, w) = (got.header_values(), want.header_values());
        assert_eq!((g.0, g.1, g.2), (w.0, w.1, w.2));
        assert!((g.3 - w.3).abs() <= 1e-6 * w.3, "{g:?} {w:?}");
        let unsigned: Vec<u8> = [0u16, 65535, 65535, 1]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let mut u = Stats::new();
        u.add_native(DType::U16, &unsigned);
        assert_eq!(u.header_values(), (0.0, 65535.0, 32767.75, 32767.25));
    }

    /// `f32` regions: the extremes and moments of the values; an infinity in any region
    /// makes the header "undetermined"; no values at all too.
    #[test]
    fn float_regions_and_special_values() {
        let values: Vec<f32> = (0..10_007).map(|i| (i % 97) as f32 * 0.25 - 3.0).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let mut got = Stats::new();
        for part in bytes.chunks(4 * 1_001) {
            got.add_native(DType::F32, part);
        }
        let mut want = Stats::new();
        want.add_region(&values.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
        assert_eq!(got.header_values(), want.header_values());
        assert_eq!((got.header_values().0, got.header_values().1), (-3.0, 21.0));
        let mut infinite = got;
        infinite.add_native(DType::F32, &f32::NEG_INFINITY.to_ne_bytes());
        assert_eq!(infinite.header_values(), (0.0, -1.0, -2.0, -1.0));
        assert_eq!(Stats::new().header_values(), (0.0, -1.0, -2.0, -1.0));
        let mut rgb = Stats::new();
        rgb.add_native(DType::Rgb8, &[10, 20, 30, 40, 50, 60]);
        assert_eq!(rgb.header_values(), (0.0, -1.0, -2.0, -1.0));
    }
}
