//! Datasets walked in another order than their logical one, for passes that allow it: the
//! dimensions in the order they are stored (`Dataset::in_stored_order`) and, where the
//! result depends on no index, dimensions stored backwards walked forwards
//! (`Dataset::in_any_order`).

use std::sync::Arc;

use emio_core::source::c_strides;
use emio_core::{Axis, ByteOrder, DType, Dataset, Storage, StridedSource, Tree};
use proptest::prelude::*;

mod common;
use common::{dataset, indices};

/// The dataset in stored order holds the same values at the permuted indices, its axes
/// permuted with them; a dataset stored in its logical order comes back as it is.
#[test]
fn datasets_in_stored_order_are_the_same_values_with_the_axes_reordered() {
    let stored_shape = [4u64, 3, 5];
    let n = stored_shape.iter().product::<u64>() as usize;
    let bytes: Vec<u8> = (0..n * 2).map(|i| (i * 29 % 253) as u8).collect();
    let stored = StridedSource::contiguous(
        "test",
        Storage::owned(bytes),
        0,
        DType::U16,
        stored_shape.to_vec(),
        ByteOrder::Little,
    )
    .unwrap();
    for perm in [[2usize, 0, 1], [2, 1, 0], [0, 1, 2]] {
        let mut ds = dataset(stored.permuted(&perm).unwrap());
        for (k, axis) in ds.axes.iter_mut().enumerate() {
            axis.name = format!("logical {k}");
        }
        let in_order = ds.in_stored_order();
        assert_eq!(in_order.shape(), &stored_shape[..], "{perm:?}");
        let logical = ds.read_region_bytes(&[0, 0, 0], ds.shape()).unwrap();
        let walked = in_order
            .read_region_bytes(&[0, 0, 0], &stored_shape)
            .unwrap();
        for (i, idx) in indices(&stored_shape).iter().enumerate() {
            // Logical dimension perm[k] is stored k-th.
            let mut l = [0u64; 3];
            for (k, &p) in perm.iter().enumerate() {
                l[k] = idx[p];
            }
            let flat = ((l[0] * ds.shape()[1] + l[1]) * ds.shape()[2] + l[2]) as usize;
            assert_eq!(walked[i * 2..i * 2 + 2], logical[flat * 2..flat * 2 + 2]);
        }
        let names: Vec<&str> = in_order.axes.iter().map(|a| a.name.as_str()).collect();
        let mut want = vec![""; 3];
        for (k, &p) in perm.iter().enumerate() {
            want[p] = ["logical 0", "logical 1", "logical 2"][k];
        }
        assert_eq!(names, want, "{perm:?}");
    }
}

/// `shape` C-order `u16` values counting up, seen with the dimensions in `backwards`
/// stored backwards (negative strides), each axis calibrated apart (scale k + 1, offset
/// 10 k).
fn stored_backwards(shape: &[u64], backwards: &[usize]) -> Dataset {
    let n = shape.iter().product::<u64>() as usize;
    let bytes: Vec<u8> = (0..n as u16).flat_map(|v| v.to_ne_bytes()).collect();
    let mut strides = c_strides(shape, 2);
    let mut offset = 0u64;
    for &d in backwards {
        offset += (shape[d] - 1) * strides[d] as u64;
        strides[d] = -strides[d];
    }
    let source = StridedSource::new(
        "test",
        Storage::owned(bytes),
        offset,
        DType::U16,
        shape.to_vec(),
        strides,
        ByteOrder::NATIVE,
    )
    .unwrap();
    let axes = (0..shape.len())
        .map(|k| {
            Axis::uniform(
                format!("a{k}"),
                "nm",
                k as f64 + 1.0,
                10.0 * k as f64,
                false,
            )
        })
        .collect();
    Dataset::new(Arc::new(source), axes, Tree::new(), Tree::new()).unwrap()
}

proptest! {
    /// In any order, dimensions stored backwards are walked forwards: index `j` of such a
    /// dimension holds the value (and its axis the coordinate) of index `n - 1 - j`, and
    /// the whole array is one run of the storage, seen in place.
    #[test]
    fn dimensions_stored_backwards_are_walked_forwards(
        shape in proptest::collection::vec(1u64..5, 1..4),
        flips in proptest::collection::vec(any::<bool>(), 4),
    ) {
        let backwards: Vec<usize> = (0..shape.len()).filter(|&d| flips[d]).collect();
        let ds = stored_backwards(&shape, &backwards);
        let walked = ds.in_any_order();
        prop_assert_eq!(walked.shape(), ds.shape());
        let zeros = vec![0; shape.len()];
        let logical = ds.read_region_bytes(&zeros, &shape).unwrap();
        let forwards = walked.read_region_bytes(&zeros, &shape).unwrap();
        let in_place = walked.source().region_in_place(&zeros, &shape).map(<[u8]>::to_vec);
        prop_assert_eq!(in_place.as_ref(), Some(&forwards));
        for (i, idx) in indices(&shape).iter().enumerate() {
            let mut from = idx.clone();
            for &d in &backwards {
                from[d] = shape[d] - 1 - idx[d];
            }
            let flat = from.iter().zip(&shape).fold(0, |acc, (&i, &n)| acc * n + i) as usize;
            prop_assert_eq!(&forwards[i * 2..i * 2 + 2], &logical[flat * 2..flat * 2 + 2]);
        }
        for (d, (axis, old)) in walked.axes.iter().zip(&ds.axes).enumerate() {
            for j in 0..shape[d] {
                let from = if flips[d] { shape[d] - 1 - j } else { j };
                let (got, want) = (axis.coordinate(j as usize), old.coordinate(from as usize));
                prop_assert!((got - want).abs() < 1e-9, "axis {}: {} != {}", d, got, want);
            }
        }
    }
}

/// Turned around first, then into the stored order: a Fortran-order array whose first
/// stored dimension runs backwards is walked as one forward run.
#[test]
fn dimensions_stored_backwards_and_permuted_come_back_as_one_run() {
    assert!(stored_backwards(&[3, 4, 5], &[1])
        .source()
        .forwards()
        .is_some());
    assert!(stored_backwards(&[3, 4, 5], &[])
        .source()
        .forwards()
        .is_none());
    // Stored [3, 4, 5] with dimension 1 backwards, seen reversed (Fortran order).
    let mut strides = c_strides(&[3, 4, 5], 2);
    strides.reverse();
    strides[1] = -strides[1];
    let fortran = StridedSource::new(
        "test",
        Storage::owned(
            (0..60u16)
                .flat_map(|v| v.to_ne_bytes())
                .collect::<Vec<u8>>(),
        ),
        (4 - 1) * 10,
        DType::U16,
        vec![5, 4, 3],
        strides,
        ByteOrder::NATIVE,
    )
    .unwrap();
    let walked = dataset(fortran.clone()).in_any_order();
    assert_eq!(walked.shape(), &[3, 4, 5]);
    let run = walked
        .source()
        .region_in_place(&[0, 0, 0], &[3, 4, 5])
        .unwrap();
    let values: Vec<u8> = (0..60u16).flat_map(|v| v.to_ne_bytes()).collect();
    assert_eq!(run, &values[..]);
    // A dimension of one index stored "backwards" does not keep the rest from their
    // stored order either.
    let mut strides = fortran.strides().to_vec();
    strides.insert(0, -2);
    let with_unit = StridedSource::new(
        "test",
        Storage::owned(values.clone()),
        (4 - 1) * 10,
        DType::U16,
        vec![1, 5, 4, 3],
        strides,
        ByteOrder::NATIVE,
    )
    .unwrap();
    let walked = dataset(with_unit).in_any_order();
    let run = walked
        .source()
        .region_in_place(&[0; 4], walked.shape())
        .unwrap();
    assert_eq!(run, &values[..]);
}
