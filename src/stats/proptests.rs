//! Property tests of the fast statistics against the plain per-element computation (one
//! `f64` per element through [`crate::values::for_each`], one division per histogram value):
//! every dtype, odd lengths, NaN and infinities anywhere, extreme and negative values,
//! several regions and workers.

use emio_core::half::f16;
use emio_core::{DType, Dataset, NoProgress};
use proptest::prelude::*;

use super::bins::Binner;
use super::{stats_and_sums, stats_in, Histogram, Summary};
use emio_core::summary::{exact, summary_of as summary};

/// The statistics as the plain per-element path computes them.
fn reference(dtype: DType, bytes: &[u8], bins: usize) -> (Summary, Option<Histogram>) {
    let s = exact(dtype, bytes);
    let h = (bins > 0 && s.count > 0).then(|| {
        let integer = dtype.is_integer() || dtype == DType::Bool;
        let mut h = Histogram::new(s.min, s.max, bins, integer);
        crate::values::for_each(dtype, bytes, |v| {
            if v.is_finite() {
                h.add(v, 1);
            }
        });
        h
    });
    (s, h)
}

/// Whether `a` and `b` agree within `tolerance` (equal non-finite values agree).
fn close(a: f64, b: f64, tolerance: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= tolerance
}

/// Fails unless `got` is `want` up to rounding: counts and extremes exactly, sums and
/// moments within a few units of the largest magnitude's precision.
fn assert_same(got: &Summary, want: &Summary) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        (got.count, got.nan, got.pos_inf, got.neg_inf),
        (want.count, want.nan, want.pos_inf, want.neg_inf)
    );
    prop_assert_eq!((got.min, got.max), (want.min, want.max));
    let big = want.min.abs().max(want.max.abs());
    let n = want.count.max(1) as f64;
    // A sum whose partial sums may pass f64::MAX overflows or not depending on the order
    // of the additions (-1.75e308 one way, -inf another).
    let may_overflow = big * n >= f64::MAX;
    if !want.sum.is_finite() || !got.sum.is_finite() && may_overflow {
        return Ok(());
    }
    prop_assert!(
        close(got.sum, want.sum, 1e-12 * big * n),
        "sum {} vs {}",
        got.sum,
        want.sum
    );
    prop_assert!(
        close(got.mean, want.mean, 1e-12 * big),
        "mean {} vs {}",
        got.mean,
        want.mean
    );
    // Squares of magnitudes below ~1e-154 fall among the subnormal numbers, whose spacing
    // (the smallest, 4.9e-324) bounds the precision of any sum of them: an absolute floor
    // of a few such steps per element.
    let subnormal_step = f64::from_bits(1);
    let (var, want_var) = (got.m2 / n, want.m2 / n);
    prop_assert!(
        close(var, want_var, 1e-9 * big * big + 64.0 * n * subnormal_step),
        "variance {var} vs {want_var}"
    );
    Ok(())
}

/// One element of `dtype` holding `v` (a float dtype) or its bits (others).
fn element(dtype: DType, v: f64, bits: u64) -> Vec<u8> {
    match dtype {
        DType::F16 => f16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
        DType::F32 => (v as f32).to_ne_bytes().to_vec(),
        DType::F64 => v.to_ne_bytes().to_vec(),
        _ => bits
            .to_ne_bytes()
            .iter()
            .copied()
            .cycle()
            .take(dtype.size())
            .collect(),
    }
}

/// Elements of `dtype`: random bits, or few distinct values (long runs of one value, and
/// floats of moderate size), with NaN and infinities placed at random for floats.
fn data() -> impl Strategy<Value = (DType, Vec<u8>)> {
    let dtype = proptest::sample::select(DType::ALL.to_vec());
    let special = prop_oneof![
        6 => (-1000.0..1000.0f64).prop_map(|v| v.round() / 4.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(f64::MAX),
        1 => Just(-1e30),
    ];
    let few = (
        proptest::collection::vec((special, any::<u64>()), 1..5),
        proptest::collection::vec(any::<prop::sample::Index>(), 0..700),
    );
    (
        dtype,
        any::<bool>(),
        few,
        proptest::collection::vec(any::<u8>(), 0..6000),
    )
        .prop_map(|(dtype, random, (pool, picks), noise)| {
            let bytes = if random {
                let n = noise.len() / dtype.size() * dtype.size();
                noise[..n].to_vec()
            } else {
                picks
                    .iter()
                    .flat_map(|i| {
                        let (v, bits) = pool[i.index(pool.len())];
                        element(dtype, v, bits)
                    })
                    .collect()
            };
            (dtype, bytes)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The typed moment kernels give the per-element summary.
    #[test]
    fn kernels_agree_with_the_per_element_path((dtype, bytes) in data()) {
        assert_same(&summary(dtype, &bytes), &exact(dtype, &bytes))?;
    }

    /// Whole statistics over several regions and workers (value tables, merged kernels,
    /// the histogram pass) give the per-element result, the histogram exactly.
    #[test]
    fn stats_agree_with_the_per_element_path(
        (dtype, bytes) in data(),
        bins in prop_oneof![0..40usize, Just(300usize)],
        region_elements in prop_oneof![1..50u64, Just(1u64 << 20)],
        rows in 1..4u64,
    ) {
        let n = (bytes.len() / dtype.size()) as u64;
        let shape = if n.is_multiple_of(rows) { vec![rows, n / rows] } else { vec![n] };
        let ds = Dataset::from_bytes(bytes.clone(), dtype, shape).unwrap();
        let got = stats_in(&ds, bins, &[], &NoProgress, region_elements * dtype.size() as u64).unwrap();
        let (summary, histogram) = reference(dtype, &bytes, bins);
        assert_same(&got.summary, &summary)?;
        prop_assert_eq!(got.histogram, histogram);
    }

    /// Statistics that share their pass with sums (`emconvert stats --sum`) are the same
    /// as alone, and so are the sums (compared where exact: integers of up to 32 bits).
    #[test]
    fn stats_sharing_a_pass_with_sums_agree(
        (dtype, bytes) in data(),
        bins in prop_oneof![0..40usize, Just(300usize)],
        rows in 1..4u64,
    ) {
        let n = (bytes.len() / dtype.size()) as u64;
        let shape = if n.is_multiple_of(rows) { vec![rows, n / rows] } else { vec![n] };
        let ds = Dataset::from_bytes(bytes.clone(), dtype, shape).unwrap();
        let rows_sum = crate::reduce::Summation::keeping(&ds, &[0], None, "rows").unwrap();
        let all_sum = crate::reduce::Summation::keeping(&ds, &[], None, "all").unwrap();
        let got = stats_and_sums(&ds, bins, &[&rows_sum, &all_sum], &NoProgress).unwrap();
        let (summary, histogram) = reference(dtype, &bytes, bins);
        assert_same(&got.summary, &summary)?;
        prop_assert_eq!(got.histogram, histogram);
        let exact = dtype.is_integer() && dtype.size() <= 4;
        for (sum, kept) in [(rows_sum, vec![0]), (all_sum, vec![])] {
            let sum = sum.finish().unwrap();
            let alone = crate::reduce::sum_keeping(&ds, &kept, None, "t", &NoProgress).unwrap();
            prop_assert_eq!(sum.shape(), alone.shape());
            if exact {
                let values = |d: &Dataset| d.read_region_bytes(&vec![0; d.ndim()], d.shape()).unwrap();
                prop_assert_eq!(values(&sum), values(&alone));
            }
        }
    }

    /// Where every value is counted (8- and 16-bit data), percentiles are NumPy's: linear
    /// between the two values nearest the fractional rank of the sorted data.
    #[test]
    fn counted_values_give_exact_percentiles(
        dtype in proptest::sample::select(vec![DType::Bool, DType::U8, DType::I8, DType::U16, DType::I16]),
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            proptest::collection::vec(prop_oneof![8 => Just(0u8), 1 => any::<u8>()], 0..3000),
        ],
        fraction in prop_oneof![Just(0.0), Just(0.001), Just(0.5), Just(0.999), Just(1.0), 0.0..1.0f64],
    ) {
        let bytes = &bytes[..bytes.len() / dtype.size() * dtype.size()];
        let n = (bytes.len() / dtype.size()) as u64;
        let ds = Dataset::from_bytes(bytes.to_vec(), dtype, vec![n]).unwrap();
        let got = stats_in(&ds, 16, &[], &NoProgress, 1 << 20).unwrap();
        let mut sorted = Vec::new();
        crate::values::for_each(dtype, bytes, |v| sorted.push(v));
        sorted.sort_by(f64::total_cmp);
        let want = if sorted.is_empty() {
            f64::NAN
        } else {
            let position = fraction * (sorted.len() - 1) as f64;
            let below = position.floor() as usize;
            let (lo, hi) = (sorted[below], sorted[(below + 1).min(sorted.len() - 1)]);
            lo + (hi - lo) * (position - below as f64)
        };
        prop_assert!(close(got.quantile(fraction), want, 1e-9 * want.abs().max(1.0)),
            "{} vs {}", got.quantile(fraction), want);
    }

    /// The binner puts every finite value where the histogram's division does.
    #[test]
    fn binner_agrees_with_the_division(
        a in -1e6..1e6f64,
        span in prop_oneof![0.0..1e-3f64, 0.0..1e7f64, Just(0.0)],
        bins in 1..70usize,
        integer in any::<bool>(),
        values in proptest::collection::vec(prop_oneof![-2e6..2e6f64, any::<f64>()], 1..200),
    ) {
        let min = if integer { a.round() } else { a };
        let max = if integer { (a + span).round() } else { a + span };
        let h = Histogram::new(min, max, bins, integer);
        let binner = Binner::new(&h);
        let inside = values.iter().map(|v| min + (v.rem_euclid(1.0)) * (max - min));
        for v in values.iter().copied().chain(inside).filter(|v| v.is_finite()) {
            prop_assert_eq!(binner.bin(v), h.bin(v), "value {}", v);
        }
    }
}

/// Frames after headers in the other byte order, rows upside down (as a Medipix file holds
/// them): scanned in
/// place, counted by raw value or swapped piece by piece; the statistics and percentiles
/// are those of the same values in native order, whether the frames are long runs (read in
/// the map) or short ones (read through regions).
#[test]
fn frames_in_the_other_byte_order_give_the_native_statistics() {
    use emio_core::{Axis, ByteOrder, Storage, StridedSource};
    let other = if ByteOrder::NATIVE == ByteOrder::Little {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
    for dtype in [DType::U16, DType::I16, DType::U8, DType::F32] {
        for frame in [100u64, 20_000] {
            let (frames, header, es) = (3u64, 100u64, dtype.size() as u64);
            let values: Vec<u8> = (0..frames * frame)
                .flat_map(|i| {
                    let v = (i * 7919 % 1000) as f64 * if i % 5 == 0 { 0.0 } else { 1.0 };
                    element(dtype, v, v as u64)
                })
                .collect();
            let mut stored = Vec::new();
            for f in values.chunks((frame * es) as usize) {
                stored.extend(std::iter::repeat_n(0xAB, header as usize));
                let mut swapped = f.to_vec();
                emio_core::dtype::swap_bytes_in_place(&mut swapped, dtype.swap_unit());
                stored.extend(swapped);
            }
            // Each frame seen as two rows, upside down (as MIB frames are).
            let row = frame / 2 * es;
            let source = StridedSource::new(
                "test",
                Storage::owned(stored),
                header + row,
                dtype,
                vec![frames, 2, frame / 2],
                vec![(header + frame * es) as i64, -(row as i64), es as i64],
                other,
            )
            .unwrap();
            let axes = vec![Axis::default_for(false); 3];
            let ds = Dataset::new(
                std::sync::Arc::new(source),
                axes,
                Default::default(),
                Default::default(),
            )
            .unwrap();
            let native = Dataset::from_bytes(values, dtype, vec![frames, frame]).unwrap();
            for bins in [0, 16] {
                let got = stats_in(&ds, bins, &[], &NoProgress, 1 << 12).unwrap();
                let want = stats_in(&native, bins, &[], &NoProgress, 1 << 12).unwrap();
                assert_same(&got.summary, &want.summary).unwrap();
                assert_eq!(got.histogram, want.histogram, "{dtype} {frame} {bins}");
                for q in [0.0, 0.1, 0.5, 0.9, 1.0] {
                    let (got, want) = (got.quantile(q), want.quantile(q));
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{dtype} {frame} {q}: {got} {want}"
                    );
                }
            }
        }
    }
}
