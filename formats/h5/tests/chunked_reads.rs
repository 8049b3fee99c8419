//! The fast chunked read paths (chunks copied straight from the memory map, filtered chunks
//! decoded in parallel into the output, full reads in storage order) against the obvious
//! element-by-element reading of the values written, for random dataset shapes, chunk
//! shapes (partial edge chunks included), element sizes, filters, axis orders (transposed
//! views, as NCEM's) and regions. Files are written by `hdf5-pure`'s builder, not by emio.

use emio_core::ArraySource;
use emio_h5::H5File;
use hdf5_pure::FileBuilder;
use proptest::prelude::*;

/// How the chunks are stored.
#[derive(Debug, Clone, Copy)]
enum Filter {
    None,
    Deflate,
    /// Byte shuffle alone (rsciio's uncompressed `.hspy`).
    Shuffle,
    ShuffleDeflate,
}

/// One random case: stored shape and chunk, element size, filter, the logical axis order
/// (logical axis `i` is stored axis `perm[i]`) and a region of the logical view.
#[derive(Debug, Clone)]
struct Case {
    shape: Vec<u64>,
    chunk: Vec<u64>,
    elem_size: usize,
    filter: Filter,
    perm: Vec<usize>,
    start: Vec<u64>,
    extent: Vec<u64>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=4)
        .prop_flat_map(|rank| prop::collection::vec(1u64..=9, rank))
        .prop_flat_map(|shape| {
            let rank = shape.len();
            let chunk = shape
                .iter()
                .map(|&n| 1..=n)
                .collect::<Vec<_>>()
                .prop_map(|c| c);
            let fractions = prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), rank);
            (
                Just(shape),
                chunk,
                prop::sample::select(vec![1usize, 2, 4, 8]),
                prop::sample::select(vec![
                    Filter::None,
                    Filter::Deflate,
                    Filter::Shuffle,
                    Filter::ShuffleDeflate,
                ]),
                Just((0..rank).collect::<Vec<_>>()).prop_shuffle(),
                fractions,
            )
        })
        .prop_map(|(shape, chunk, elem_size, filter, perm, fractions)| {
            let logical: Vec<u64> = perm.iter().map(|&p| shape[p]).collect();
            let (start, extent) = logical
                .iter()
                .zip(&fractions)
                .map(|(&n, &(a, b))| {
                    let s = ((a * n as f64) as u64).min(n - 1);
                    let e = 1 + ((b * (n - s) as f64) as u64).min(n - s - 1);
                    (s, e)
                })
                .unzip();
            Case {
                shape,
                chunk,
                elem_size,
                filter,
                perm,
                start,
                extent,
            }
        })
}

/// The stored values: element `i` is a distinct, byte-order-revealing pattern.
fn value_bytes(n: usize, es: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let v = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64);
            v.to_ne_bytes()[..es].to_vec()
        })
        .collect()
}

/// Write the case's dataset `data` (native-endian elements of `elem_size` bytes).
fn write(path: &std::path::Path, c: &Case, data: &[u8]) {
    let mut b = FileBuilder::new();
    let d = b.create_dataset("data");
    let words = |k: usize| data.chunks_exact(k);
    match c.elem_size {
        1 => d.with_u8_data(data),
        2 => d.with_u16_data(
            &words(2)
                .map(|w| u16::from_ne_bytes([w[0], w[1]]))
                .collect::<Vec<_>>(),
        ),
        4 => d.with_u32_data(
            &words(4)
                .map(|w| u32::from_ne_bytes(w.try_into().unwrap()))
                .collect::<Vec<_>>(),
        ),
        _ => d.with_u64_data(
            &words(8)
                .map(|w| u64::from_ne_bytes(w.try_into().unwrap()))
                .collect::<Vec<_>>(),
        ),
    };
    d.with_shape(&c.shape).with_chunks(&c.chunk);
    match c.filter {
        Filter::None => {}
        Filter::Deflate => {
            d.with_deflate(3);
        }
        Filter::Shuffle => {
            d.with_shuffle();
        }
        Filter::ShuffleDeflate => {
            d.with_shuffle().with_deflate(1);
        }
    }
    b.write(path).unwrap();
}

/// The region `start .. start + extent` of the logical view, element by element from the
/// values written: logical index `l` is stored index `s` with `s[perm[i]] = l[i]`.
fn reference(c: &Case, data: &[u8], start: &[u64], extent: &[u64]) -> Vec<u8> {
    let es = c.elem_size;
    let rank = c.shape.len();
    let mut stored_strides = vec![1u64; rank];
    for k in (0..rank.saturating_sub(1)).rev() {
        stored_strides[k] = stored_strides[k + 1] * c.shape[k + 1];
    }
    let n: u64 = extent.iter().product();
    let mut out = Vec::with_capacity(n as usize * es);
    let mut index = vec![0u64; rank];
    for _ in 0..n {
        let flat: u64 = (0..rank)
            .map(|i| (start[i] + index[i]) * stored_strides[c.perm[i]])
            .sum();
        let at = flat as usize * es;
        out.extend_from_slice(&data[at..at + es]);
        for k in (0..rank).rev() {
            index[k] += 1;
            if index[k] < extent[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

fn read(src: &dyn ArraySource, start: &[u64], extent: &[u64]) -> Vec<u8> {
    let n: u64 = extent.iter().product();
    let mut out = vec![0xAB; n as usize * src.dtype().size()];
    src.read_region(start, extent, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// A region of the logical view, the whole view, and the whole array in the order a
    /// full read copies it in (`stored_order`) all hold the values written; the stored
    /// runs offered to order-free scans hold each of them once.
    #[test]
    fn chunked_reads_match_the_element_by_element_reading(c in case()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("case.h5");
        let n: u64 = c.shape.iter().product();
        let data = value_bytes(n as usize, c.elem_size);
        write(&path, &c, &data);
        let f = H5File::open(&path).unwrap();
        let src = f.dataset("data").unwrap().source(Some(&c.perm)).unwrap();
        let logical: Vec<u64> = c.perm.iter().map(|&p| c.shape[p]).collect();
        prop_assert_eq!(src.shape(), logical.as_slice());
        prop_assert_eq!(
            read(src.as_ref(), &c.start, &c.extent),
            reference(&c, &data, &c.start, &c.extent)
        );
        let zeros = vec![0u64; logical.len()];
        let whole = reference(&c, &data, &zeros, &logical);
        prop_assert_eq!(read(src.as_ref(), &zeros, &logical), whole.clone());
        // Unfiltered chunks are listed for order-free scans, edge chunks without their
        // padding: every element written, once.
        match src.stored_runs(1) {
            Some(runs) => {
                prop_assert!(matches!(c.filter, Filter::None));
                let es = c.elem_size;
                let mut seen: Vec<Vec<u8>> = runs
                    .runs
                    .iter()
                    .flat_map(|&(s, len)| runs.bytes[s..s + len].chunks_exact(es))
                    .map(|e| {
                        let mut e = e.to_vec();
                        if !runs.order.is_native() {
                            e.reverse();
                        }
                        e
                    })
                    .collect();
                let mut want: Vec<Vec<u8>> = data.chunks_exact(es).map(<[u8]>::to_vec).collect();
                seen.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(seen, want);
            }
            None => prop_assert!(!matches!(c.filter, Filter::None)),
        }
        // A region seen in place holds the bytes a read gives; a whole stored chunk of an
        // unfiltered dataset seen in its stored order always is one run of the map.
        if let Some(bytes) = src.region_in_place(&c.start, &c.extent) {
            prop_assert!(matches!(c.filter, Filter::None));
            prop_assert_eq!(bytes, &read(src.as_ref(), &c.start, &c.extent)[..]);
        }
        let identity = c.perm.iter().enumerate().all(|(i, &p)| i == p);
        if identity && matches!(c.filter, Filter::None) {
            let chunk = src.chunk_shape();
            let bytes = src.region_in_place(&zeros, &chunk);
            prop_assert_eq!(bytes, Some(&read(src.as_ref(), &zeros, &chunk)[..]));
        }
        if let Some((order, stored)) = src.stored_order() {
            // `order[k]`: the logical axis stored k-th; the copy is C order in that order.
            let sshape = stored.shape().to_vec();
            let want: Vec<u64> = order.iter().map(|&l| logical[l]).collect();
            prop_assert_eq!(&sshape, &want);
            let copied = read(stored.as_ref(), &zeros, &sshape);
            let seen = Case {
                perm: order.iter().map(|&l| c.perm[l]).collect(),
                ..c.clone()
            };
            prop_assert_eq!(copied, reference(&seen, &data, &zeros, &sshape));
            if matches!(c.filter, Filter::None) {
                let chunk = stored.chunk_shape();
                let bytes = stored.region_in_place(&zeros, &chunk);
                prop_assert_eq!(bytes, Some(&read(stored.as_ref(), &zeros, &chunk)[..]));
            }
        }
    }
}

/// A read of a filtered chunked dataset (the `Reordered` source that forwards to its
/// `ChunkedSource`, as EMD, hspy and DM5 hand it to the engine) stops with
/// `Error::Cancelled` when the caller's progress is cancelled: a long read of sparse or
/// huge data can be interrupted inside one region (issue 15).
#[test]
fn cancelled_reads_of_filtered_chunks_stop_inside_the_region() {
    use emio_core::source::Threads;
    use emio_core::{CancelFlag, Error};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cancel.h5");
    let c = Case {
        shape: vec![64, 64, 8],
        chunk: vec![1, 8, 8],
        elem_size: 2,
        filter: Filter::Deflate,
        perm: vec![0, 1, 2],
        start: vec![0, 0, 0],
        extent: vec![64, 64, 8],
    };
    write(&path, &c, &value_bytes(64 * 64 * 8, 2));
    let f = H5File::open(&path).unwrap();
    for perm in [None, Some(vec![2, 1, 0])] {
        let src = f.dataset("data").unwrap().source(perm.as_deref()).unwrap();
        let shape = src.shape().to_vec();
        let mut out = vec![0u8; 64 * 64 * 8 * 2];
        let cancelled = CancelFlag(true.into());
        let zeros = [0u64; 3];
        let got = src.read_region_with(&zeros, &shape, &mut out, &cancelled, Threads::One);
        assert!(matches!(got, Err(Error::Cancelled)), "{perm:?}: {got:?}");
        let going = CancelFlag(false.into());
        src.read_region_with(&zeros, &shape, &mut out, &going, Threads::One)
            .unwrap();
    }
}

/// Whole chunks that cover several stretches of a region's buffer (h5py's chunks, cut
/// along an axis other than the first) are decoded piece by piece: the shuffled chunks
/// straight into each stretch, the others through a scratch buffer. Every filter and
/// element size, the whole array and regions of whole chunks, against the values written.
#[test]
fn chunks_covering_several_stretches_of_a_region_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for filter in [
        Filter::None,
        Filter::Deflate,
        Filter::Shuffle,
        Filter::ShuffleDeflate,
    ] {
        for elem_size in [1usize, 2, 4, 8] {
            let c = Case {
                shape: vec![5, 12, 3, 40],
                chunk: vec![2, 3, 3, 40],
                elem_size,
                filter,
                perm: vec![0, 1, 2, 3],
                start: vec![0; 4],
                extent: vec![5, 12, 3, 40],
            };
            let path = dir.path().join(format!("runs-{filter:?}-{elem_size}.h5"));
            let data = value_bytes(5 * 12 * 3 * 40, elem_size);
            write(&path, &c, &data);
            let f = H5File::open(&path).unwrap();
            let src = f.dataset("data").unwrap().source(None).unwrap();
            for (start, extent) in [
                (vec![0, 0, 0, 0], vec![5, 12, 3, 40]),
                (vec![2, 3, 0, 0], vec![2, 6, 3, 40]),
                (vec![4, 0, 0, 0], vec![1, 12, 3, 40]),
                (vec![0, 3, 0, 0], vec![4, 9, 3, 40]),
            ] {
                assert_eq!(
                    read(src.as_ref(), &start, &extent),
                    reference(&c, &data, &start, &extent),
                    "{filter:?}, {elem_size}-byte elements, region {start:?} + {extent:?}"
                );
            }
        }
    }
}

/// Frames stored transposed one per chunk (NCEM's layout), with planes wide enough to be
/// transposed straight from the file into the region: whole and partial frames, regions
/// narrower than the planes (staged) and a region across frames, every element size and
/// filter, against the values written.
#[test]
fn wide_transposed_frames_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (shape, chunk) = (vec![3u64, 96, 80], vec![1u64, 96, 80]);
    for filter in [Filter::None, Filter::Shuffle] {
        for elem_size in [1usize, 2, 4, 8] {
            let c = Case {
                shape: shape.clone(),
                chunk: chunk.clone(),
                elem_size,
                filter,
                perm: vec![0, 2, 1],
                start: vec![0; 3],
                extent: vec![3, 80, 96],
            };
            let path = dir.path().join(format!("frames-{filter:?}-{elem_size}.h5"));
            let data = value_bytes(3 * 96 * 80, elem_size);
            write(&path, &c, &data);
            let f = H5File::open(&path).unwrap();
            let src = f.dataset("data").unwrap().source(Some(&c.perm)).unwrap();
            for (start, extent) in [
                (vec![0, 0, 0], vec![3, 80, 96]),
                (vec![1, 5, 7], vec![2, 70, 80]),
                (vec![0, 0, 0], vec![3, 10, 96]),
                (vec![2, 16, 0], vec![1, 64, 64]),
            ] {
                assert_eq!(
                    read(src.as_ref(), &start, &extent),
                    reference(&c, &data, &start, &extent),
                    "{filter:?}, {elem_size}-byte elements, region {start:?} + {extent:?}"
                );
            }
        }
    }
}

/// A reduction's regions span several chunks (grown by whole chunks to a few MiB): a visit
/// hands over each whole chunk of an unfiltered dataset in place (a run of the map), the
/// region cut at the chunks along its first dimension, in C order; filtered chunks are
/// read. Either way every piece holds the values a read gives, once, in C order.
#[test]
fn visits_of_regions_across_chunks_see_each_chunk_in_place() {
    use emio_core::region_bytes::RegionBytes;
    use emio_core::{Axis, Dataset, NoProgress, Region, Tree};
    let dir = tempfile::tempdir().unwrap();
    // 8-byte values, 64 KiB chunks: each long enough to be handed over in place.
    let shape = vec![6u64, 4, 32, 32];
    for filter in [Filter::None, Filter::Deflate] {
        let c = Case {
            shape: shape.clone(),
            chunk: vec![2, 4, 32, 32],
            elem_size: 8,
            filter,
            perm: vec![0, 1, 2, 3],
            start: vec![0; 4],
            extent: shape.clone(),
        };
        let path = dir.path().join(format!("visit-{filter:?}.h5"));
        let data = value_bytes(6 * 4 * 32 * 32, 8);
        write(&path, &c, &data);
        let f = H5File::open(&path).unwrap();
        let src = f.dataset("data").unwrap().source(None).unwrap();
        let axes = vec![Axis::default_for(false); 4];
        let ds = Dataset::new(src, axes, Tree::new(), Tree::new()).unwrap();
        for (start, extent, whole_chunks) in [
            (vec![0, 0, 0, 0], shape.clone(), 3),
            (vec![2, 0, 0, 0], vec![4, 4, 32, 32], 2),
            // Not aligned to the chunks: frames (32 KiB) in place instead.
            (vec![1, 0, 0, 0], vec![4, 4, 32, 32], 0),
        ] {
            let region = Region {
                start: start.clone(),
                shape: extent.clone(),
            };
            let mut buf = Vec::new();
            let mut bytes = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut buf);
            let (mut got, mut pieces) = (Vec::new(), Vec::new());
            bytes
                .visit(&mut |piece, b| {
                    assert_eq!(b, ds.read_region_bytes(&piece.start, &piece.shape).unwrap());
                    let seen = ds.region_in_place(&piece.start, &piece.shape);
                    let in_place = seen.is_some_and(|s| s.as_ptr() == b.as_ptr());
                    pieces.push((piece.shape.clone(), in_place));
                    got.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            assert_eq!(got, reference(&c, &data, &start, &extent), "{start:?}");
            let unfiltered = matches!(filter, Filter::None);
            assert!(pieces.iter().all(|(_, p)| *p == unfiltered), "{pieces:?}");
            if unfiltered {
                let chunks = pieces.iter().filter(|(s, _)| s[0] == 2).count();
                assert_eq!(chunks, whole_chunks, "{start:?}: {pieces:?}");
            }
        }
    }
}
