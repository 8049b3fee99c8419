//! Tests of the sums: against value-by-value sums, in every stored order and view, in
//! regions of any size, and the same bits with any number of threads.

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
    /// rows and frames, either byte order), in regions of any size (a fixed-order sum's
    /// boxes of every shape merged), sum, over any kept dimensions and with weights, to
    /// what the same values in C order do, and a look that takes them as stored sees each
    /// value once, told their byte order.
    #[test]
    fn sums_in_the_stored_view_match_c_order(
        shape in proptest::collection::vec(1u64..5, 0..=3),
        row in 1u64..40,
        flips in proptest::collection::vec(proptest::bool::ANY, 3),
        gaps in proptest::collection::vec(0u64..3, 4),
        big_endian in proptest::bool::ANY,
        kept_mask in proptest::collection::vec(proptest::bool::ANY, 4),
        weighted in proptest::bool::ANY,
        region_bytes in 1u64..400,
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
        run_in_regions(&ds, &[&got], Some(&look), &NoProgress, region_bytes).unwrap();
        let want = sum_keeping(&plain, &kept, weights, "t", &NoProgress).unwrap();
        proptest::prop_assert_eq!(seen.into_inner(), size * shape.iter().product::<u64>());
        proptest::prop_assert_eq!(values(&got.finish().unwrap()), values(&want));
    }
}

proptest::proptest! {
    /// Data stored in another order of its dimensions (every permutation) sums, over
    /// any kept dimensions and with weights, in regions of any size, to what the same
    /// values in C order do: the pass walks the storage and puts the result and the
    /// weights in order.
    #[test]
    fn sums_of_data_stored_in_any_order_match_c_order(
        stored_shape in proptest::collection::vec(1u64..5, 1..=4),
        perm_keys in proptest::collection::vec(0u32..1000, 4),
        kept_mask in proptest::collection::vec(proptest::bool::ANY, 4),
        weighted in proptest::bool::ANY,
        region_bytes in 1u64..400,
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
        let sum = Summation::keeping(&ds, &kept, weights, "t").unwrap();
        run_in_regions(&ds, &[&sum], None, &NoProgress, region_bytes).unwrap();
        let got = sum.finish().unwrap();
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
        layout.reduce(&values, layout.whole(&mut total));
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

/// Sums of floating-point values (each addition rounds, so the order they are added in
/// shows in the last bits) are the same to the last bit with one, two and three threads,
/// in many regions, where a memory map holds the values and where they are decoded chunk
/// by chunk, with and without weights; and they are the value-by-value sums to rounding.
#[test]
fn float_sums_are_the_same_bits_with_any_number_of_threads() {
    let shape = [7u64, 6, 9, 10];
    let n: u64 = shape.iter().product();
    // Many magnitudes and both signs.
    let floats: Vec<f64> = (0..n)
        .map(|i| {
            let x = (i.wrapping_mul(2_654_435_761) % 100_003) as f64 - 50_000.0;
            x * 10f64.powi((i % 7) as i32 - 3) + 0.1
        })
        .collect();
    let bytes: Vec<u8> = floats.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mapped = Dataset::from_bytes(bytes, DType::F64, shape.to_vec()).unwrap();
    let source = emio_core::ChunkedSource::new(
        DType::F64,
        shape.to_vec(),
        vec![2, 3, 4, 5],
        Box::new(CopiedChunks {
            from: mapped.clone(),
            chunk: vec![2, 3, 4, 5],
        }),
    )
    .unwrap();
    let axes = (0..4).map(|_| Axis::default_for(false)).collect();
    let decoded = Dataset::new(Arc::new(source), axes, Tree::new(), Tree::new()).unwrap();
    for kept in [vec![], vec![0], vec![3], vec![2, 3], vec![0, 1], vec![1, 3]] {
        let layout = Layout::new(&shape, &kept);
        let summed: u64 = (0..4)
            .filter(|d| !kept.contains(d))
            .map(|d| shape[d])
            .product();
        let w: Vec<f64> = (0..summed).map(|i| 0.5 + (i % 5) as f64 * 0.3).collect();
        for weights in [None, Some(&w[..])] {
            // Value by value, and the sum of the magnitudes: the scale of the rounding.
            let out_len: u64 = kept.iter().map(|&d| shape[d]).product();
            let (mut want, mut scale) = (vec![0f64; out_len as usize], 0f64);
            let mut flat = 0;
            emio_core::copy::for_each_index(&shape, |index| {
                let at: u64 = (0..4).map(|d| index[d] * layout.out_stride[d]).sum();
                let from: u64 = (0..4).map(|d| index[d] * layout.weight_stride[d]).sum();
                let v = floats[flat] * weights.map_or(1.0, |w| w[from as usize]);
                want[at as usize] += v;
                scale += v.abs();
                flat += 1;
            });
            for ds in [&mapped, &decoded] {
                let bits = |threads: usize| {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    pool.install(|| {
                        let sum = Summation::keeping(ds, &kept, weights, "t").unwrap();
                        run_in_regions(ds, &[&sum], None, &NoProgress, 160).unwrap();
                        values(&sum.finish().unwrap())
                    })
                };
                let one = bits(1);
                for (g, w) in one.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-12 * scale, "{kept:?}: {g} against {w}");
                }
                for threads in [2, 3, 2, 3] {
                    let got = bits(threads);
                    assert!(
                        got.iter()
                            .zip(&one)
                            .all(|(g, o)| g.to_bits() == o.to_bits()),
                        "{kept:?}, weighted {}: {threads} threads",
                        weights.is_some()
                    );
                }
            }
        }
    }
}

/// Chunks copied from a dataset in memory, decoded on demand (no memory-mapped view).
struct CopiedChunks {
    from: Dataset,
    chunk: Vec<u64>,
}

impl emio_core::ChunkDecoder for CopiedChunks {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        let shape = self.from.shape();
        let start: Vec<u64> = (0..shape.len()).map(|d| index[d] * self.chunk[d]).collect();
        let extent: Vec<u64> = (0..shape.len())
            .map(|d| self.chunk[d].min(shape[d] - start[d]))
            .collect();
        let bytes = self.from.read_region_bytes(&start, &extent)?;
        out.copy_from_slice(&bytes);
        Ok(())
    }
}

/// Sums whose every partial sum is an exact integer in `f64` take any order; the others
/// (floats, 64-bit integers, weights, totals that could pass 2^53) a fixed one.
#[test]
fn exact_sums_are_told_apart() {
    assert!(exact_in_any_order(DType::U16, false, 1 << 37));
    assert!(!exact_in_any_order(DType::U16, false, 1 << 38));
    assert!(exact_in_any_order(DType::I32, false, 1 << 22));
    assert!(!exact_in_any_order(DType::U32, false, 1 << 22));
    assert!(exact_in_any_order(DType::Bool, false, 1 << 53));
    assert!(!exact_in_any_order(DType::U8, true, 1));
    for dtype in [
        DType::F32,
        DType::F64,
        DType::I64,
        DType::U64,
        DType::C64,
        DType::Rgb8,
    ] {
        assert!(!exact_in_any_order(dtype, false, 1), "{dtype}");
    }
}
