//! Property tests of the pixel sources: every region read equals the same slice of a full
//! read (and a strided view's spans of it hold the same values), for strided (permuted,
//! flipped, padded, byte-swapped) and chunked sources (dense,
//! and sparse with absent chunks filled); chunked reads stop once cancelled.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use emio_core::source::{c_strides, Threads};
use emio_core::{
    ArraySource, Axis, ByteOrder, ChunkDecoder, ChunkedSource, DType, Dataset, Error, Progress,
    Result, Storage, StoredChunks, StridedSource, Tree,
};
use proptest::prelude::*;

mod common;
use common::{dataset, indices};

/// Reference: element at logical index `idx` of the strided layout, native-endian.
fn element_at(
    bytes: &[u8],
    offset: i64,
    strides: &[i64],
    idx: &[u64],
    es: usize,
    swap: bool,
) -> Vec<u8> {
    let at = offset
        + idx
            .iter()
            .zip(strides)
            .map(|(i, s)| *i as i64 * s)
            .sum::<i64>();
    let mut v = bytes[at as usize..at as usize + es].to_vec();
    if swap {
        v.reverse();
    }
    v
}

/// A region (start, shape) inside `shape`, from proptest-chosen fractions.
fn region(shape: &[u64], picks: &[(f64, f64)]) -> (Vec<u64>, Vec<u64>) {
    shape
        .iter()
        .zip(picks)
        .map(|(&n, &(a, b))| {
            let start = ((n as f64) * a) as u64 % n.max(1);
            let len = 1 + (((n - start) as f64 - 1.0) * b) as u64;
            (start, len.min(n - start))
        })
        .unzip()
}

proptest! {
    #[test]
    fn strided_regions_match_reference(
        shape in prop::collection::vec(1u64..5, 1..4),
        perm_seed in 0usize..24,
        flip in prop::collection::vec(any::<bool>(), 3),
        pad in 0u64..3,
        big_endian in any::<bool>(),
        picks in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), 3),
    ) {
        let dtype = DType::U16;
        let es = dtype.size();
        // Store with a padded innermost record (like per-frame headers), then view the
        // logical dims in a permuted, partly flipped order.
        let mut stored_shape = shape.clone();
        let last = stored_shape.len() - 1;
        stored_shape[last] += pad;
        let stored_strides = c_strides(&stored_shape, es);
        let total = stored_shape.iter().product::<u64>() as usize * es;
        let bytes: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
        let n = shape.len();
        let mut perm: Vec<usize> = (0..n).collect();
        let mut seed = perm_seed;
        for i in (1..n).rev() { perm.swap(i, seed % (i + 1)); seed /= i + 1; }
        let mut offset = 0i64;
        let mut strides = stored_strides.clone();
        for d in 0..n {
            if flip[d] {
                offset += (shape[d] as i64 - 1) * strides[d];
                strides[d] = -strides[d];
            }
        }
        let order = if big_endian { ByteOrder::Big } else { ByteOrder::Little };
        let base = StridedSource::new("test", Storage::owned(bytes.clone()), offset as u64, dtype, shape.clone(), strides.clone(), order).unwrap();
        let source = base.permuted(&perm).unwrap();
        let lshape: Vec<u64> = perm.iter().map(|&p| shape[p]).collect();
        let lstrides: Vec<i64> = perm.iter().map(|&p| strides[p]).collect();
        let ds = dataset(source);
        let (start, rshape) = region(&lshape, &picks);
        let got = ds.read_region_bytes(&start, &rshape).unwrap();
        let swap = order != ByteOrder::NATIVE;
        let mut expected = Vec::new();
        for idx in indices(&rshape) {
            let abs: Vec<u64> = idx.iter().zip(&start).map(|(i, s)| i + s).collect();
            expected.extend(element_at(&bytes, offset, &lstrides, &abs, es, swap));
        }
        prop_assert_eq!(&got, &expected);
        // The region's spans in the stored view hold each of its values once.
        let view = ds.stored_view().unwrap();
        let mut spanned: Vec<Vec<u8>> = Vec::new();
        view.region_spans(dtype, &start, &rshape, |b| {
            spanned.extend(b.chunks(es).map(<[u8]>::to_vec));
        });
        // Stored as the view holds them: in the other byte order when swapped.
        let mut values: Vec<Vec<u8>> = expected
            .chunks(es)
            .map(|v| if swap { v.iter().copied().rev().collect() } else { v.to_vec() })
            .collect();
        spanned.sort();
        values.sort();
        prop_assert_eq!(spanned, values);
    }

    #[test]
    fn chunked_regions_match_full_read(
        outer in prop::collection::vec(1u64..7, 0..3),
        inner in 1u64..40,
        chunk in prop::collection::vec(1u64..4, 3),
        whole_rows in any::<bool>(),
        picks in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), 3),
    ) {
        // Rows up to 160 bytes, chunked whole or not: whole chunks of a region then cover
        // one or several stretches of its buffer, long or short.
        let mut shape = outer;
        shape.push(inner);
        let mut chunk = chunk[..shape.len()].to_vec();
        if whole_rows {
            chunk[shape.len() - 1] = inner;
        }
        struct Counter { shape: Vec<u64>, chunk: Vec<u64> }
        impl ChunkDecoder for Counter {
            fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
                // Element value = its linear C-order index in the full array.
                let start: Vec<u64> = index.iter().zip(&self.chunk).map(|(i, c)| i * c).collect();
                let ext: Vec<u64> = start.iter().zip(&self.chunk).zip(&self.shape).map(|((s, c), n)| (*c).min(n - s)).collect();
                for (k, idx) in indices(&ext).into_iter().enumerate() {
                    let lin = idx.iter().zip(&start).zip(&self.shape).fold(0u64, |acc, ((i, s), n)| acc * n + i + s);
                    out[k * 4..k * 4 + 4].copy_from_slice(&(lin as u32).to_ne_bytes());
                }
                Ok(())
            }
        }
        let source = ChunkedSource::new(DType::U32, shape.clone(), chunk.clone(), Box::new(Counter { shape: shape.clone(), chunk })).unwrap();
        let ds = dataset(source);
        let zeros = vec![0; shape.len()];
        for (start, rshape) in [region(&shape, &picks), (zeros, shape.clone())] {
            let got = ds.read_region_bytes(&start, &rshape).unwrap();
            let mut expected = Vec::new();
            for idx in indices(&rshape) {
                let lin = idx.iter().zip(&start).zip(&shape).fold(0u64, |acc, ((i, s), n)| acc * n + i + s);
                expected.extend((lin as u32).to_ne_bytes());
            }
            prop_assert_eq!(got, expected);
        }
    }
}

#[test]
fn strided_source_rejects_out_of_file_layouts() {
    let storage = Storage::owned(vec![0u8; 100]);
    assert!(StridedSource::contiguous(
        "t",
        storage.clone(),
        0,
        DType::F32,
        vec![5, 5],
        ByteOrder::Little
    )
    .is_ok());
    assert!(StridedSource::contiguous(
        "t",
        storage.clone(),
        4,
        DType::F32,
        vec![5, 5],
        ByteOrder::Little
    )
    .is_err());
    assert!(StridedSource::contiguous(
        "t",
        storage.clone(),
        0,
        DType::F32,
        vec![u64::MAX, 3],
        ByteOrder::Little
    )
    .is_err());
    assert!(StridedSource::new(
        "t",
        storage,
        0,
        DType::U8,
        vec![2],
        vec![-1],
        ByteOrder::Little
    )
    .is_err());
}

#[test]
fn zero_copy_only_for_native_contiguous() {
    let bytes: Vec<u8> = (0..24).collect();
    let le = StridedSource::contiguous(
        "t",
        Storage::owned(bytes.clone()),
        0,
        DType::U16,
        vec![3, 4],
        ByteOrder::NATIVE,
    )
    .unwrap();
    let contiguous = |s: &StridedSource| {
        let view = s.stored_view().expect("strided sources have a view");
        view.contiguous(s.shape(), s.dtype()).map(<[u8]>::len)
    };
    assert_eq!(contiguous(&le), Some(24));
    let t = le.permuted(&[1, 0]).unwrap();
    assert_eq!(contiguous(&t), None);
    let other = if ByteOrder::NATIVE == ByteOrder::Little {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
    let be =
        StridedSource::contiguous("t", Storage::owned(bytes), 0, DType::U16, vec![3, 4], other)
            .unwrap();
    assert_eq!(contiguous(&be), None);
    assert_eq!(dataset(be).mapped(), None);
}

#[test]
fn stored_views_carry_the_byte_order() {
    let other = if ByteOrder::NATIVE == ByteOrder::Little {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
    let source = |dtype, order| {
        StridedSource::new(
            "t",
            Storage::owned((0..64).collect::<Vec<u8>>()),
            30,
            dtype,
            vec![3, 4],
            vec![-10, 2],
            order,
        )
        .unwrap()
    };
    // Native order: the view is usable as it is.
    let native = source(DType::U16, ByteOrder::NATIVE);
    let view = native.stored_view().unwrap();
    assert_eq!(
        (view.offset, view.strides, view.order),
        (30, &[-10i64, 2][..], ByteOrder::NATIVE)
    );
    assert_eq!(view.native().unwrap().strides, &[-10, 2]);
    // Swapped 16-bit values: the view says so.
    let swapped = source(DType::U16, other);
    let view = swapped.stored_view().unwrap();
    assert!(view.native().is_none());
    assert_eq!((view.offset, view.bytes.len(), view.order), (30, 64, other));
    // Single bytes read the same in either order.
    let bytes = source(DType::U8, other);
    assert!(bytes.stored_view().unwrap().native().is_some());
    // Through a dataset.
    assert_eq!(dataset(swapped).stored_view().unwrap().order, other);
}

#[test]
fn dataset_checks_regions_and_axes() {
    let ds = Dataset::from_bytes(vec![0; 12], DType::U8, vec![3, 4]).unwrap();
    assert!(ds.read_region_bytes(&[2, 0], &[2, 4]).is_err());
    assert!(ds.read_region_bytes(&[0], &[1]).is_err());
    assert!(ds.read_region_bytes(&[u64::MAX, 0], &[2, 1]).is_err());
    let source = ds.source().clone();
    assert!(Dataset::new(
        source.clone(),
        vec![Axis::default_for(false)],
        Tree::new(),
        Tree::new()
    )
    .is_err());
    let bad = Axis::values("x", "", vec![1.0, 2.0], false);
    assert!(Dataset::new(
        source,
        vec![Axis::default_for(true), bad],
        Tree::new(),
        Tree::new()
    )
    .is_err());
    assert_eq!(ds.title(), "");
    // Repeated elements (stride 0) make a valid source of any shape; a dataset whose bytes
    // 64 bits cannot count is refused.
    let repeated = |shape: Vec<u64>| {
        let strides = vec![0; shape.len()];
        let storage = Storage::owned(vec![0u8; 2]);
        let source = StridedSource::new(
            "t",
            storage,
            0,
            DType::U16,
            shape,
            strides,
            ByteOrder::Little,
        );
        Arc::new(source.unwrap())
    };
    let axes = vec![Axis::default_for(false); 2];
    let fits = Dataset::new(
        repeated(vec![1 << 31, 1 << 31]),
        axes.clone(),
        Tree::new(),
        Tree::new(),
    );
    assert_eq!(fits.unwrap().shape(), [1 << 31, 1 << 31]);
    let message = Dataset::new(
        repeated(vec![1 << 32, 1 << 31]),
        axes,
        Tree::new(),
        Tree::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("more bytes than 64 bits count"),
        "{message}"
    );
}

#[test]
fn chunk_iteration_tiles_the_array() {
    let ds = Dataset::from_bytes(vec![0; 5 * 7 * 3], DType::U8, vec![5, 7, 3]).unwrap();
    let chunks: Vec<_> = ds.chunks(&[2, 3, 3]).collect();
    assert_eq!(chunks.len(), 3 * 3);
    assert_eq!(ds.chunks(&[2, 3, 3]).count_total(), 9);
    let covered: u64 = chunks.iter().map(|r| r.len()).sum();
    assert_eq!(covered, 105);
    assert_eq!(chunks.last().unwrap().shape, vec![1, 1, 3]);
    // Streaming chunks are contiguous runs of the C-order byte stream.
    let chunk = ds.streaming_chunk_shape(40);
    let mut next = 0u64;
    for r in ds.chunks(&chunk) {
        let lin = r.start[0] * 21 + r.start[1] * 3 + r.start[2];
        assert_eq!(lin, next);
        next += r.len();
    }
    assert_eq!(next, 105);
}

#[test]
fn sha256_is_over_little_endian_c_order_bytes() {
    let ds = Dataset::from_bytes(vec![], DType::U8, vec![0]).unwrap();
    assert_eq!(
        ds.sha256().unwrap(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // sha256 of bytes 00 01 02 (as computed by `printf '\x00\x01\x02' | sha256sum`).
    let ds = Dataset::from_bytes(vec![0, 1, 2], DType::U8, vec![3]).unwrap();
    assert_eq!(
        ds.sha256().unwrap(),
        "ae4b3280e56e2faf83f414a6e3dabe9d5fbe18976544c05fed121accb85b53fc"
    );
}

#[test]
fn read_chunks_follow_the_storage_layout() {
    // C order: whole frames, then as many frames as fit.
    let c = dataset(
        StridedSource::from_bytes(vec![0u8; 10 * 64 * 64], DType::U8, vec![10, 64, 64]).unwrap(),
    );
    assert_eq!(c.chunk_shape(), vec![1, 64, 64]);
    assert_eq!(c.read_chunk_shape(3 * 4096), vec![3, 64, 64]);
    assert_eq!(c.read_chunk_shape(1 << 30), vec![10, 64, 64]);
    assert_eq!(c.read_chunk_shape(100), vec![1, 64, 64]);
    // A spectrum image stored (E, y, x) and read (y, x, E): whole navigation planes for a
    // block of channels.
    let stored =
        StridedSource::from_bytes(vec![0u8; 16 * 8 * 8 * 4], DType::F32, vec![16, 8, 8]).unwrap();
    let si = dataset(stored.permuted(&[1, 2, 0]).unwrap());
    assert_eq!(si.chunk_shape(), vec![8, 8, 1]);
    assert_eq!(si.read_chunk_shape(4 * 8 * 8 * 4), vec![8, 8, 4]);
    // Chunked: whole chunks, grown innermost first.
    struct Zero;
    impl ChunkDecoder for Zero {
        fn decode_chunk(&self, _: &[u64], _: &mut [u8]) -> Result<()> {
            Ok(())
        }
    }
    let chunked = dataset(
        ChunkedSource::new(DType::U8, vec![6, 9, 9], vec![2, 3, 3], Box::new(Zero)).unwrap(),
    );
    assert_eq!(chunked.read_chunk_shape(2 * 3 * 9), vec![2, 3, 9]);
    assert_eq!(chunked.read_chunk_shape(2 * 9 * 9), vec![2, 9, 9]);
    assert_eq!(chunked.read_chunk_shape(4 * 9 * 9), vec![4, 9, 9]);
}

#[test]
fn chunks_beyond_the_chunk_limit_are_refused() {
    struct Never;
    impl ChunkDecoder for Never {
        fn decode_chunk(&self, _: &[u64], _: &mut [u8]) -> Result<()> {
            unreachable!("no chunk is decoded")
        }
    }
    let limit = emio_core::source::MAX_CHUNK_BYTES;
    // Exactly at the limit is fine; one u16 row more is not.
    assert!(ChunkedSource::new(DType::U8, vec![4, limit], vec![1, limit], Box::new(Never)).is_ok());
    let Err(err) = ChunkedSource::new(
        DType::U16,
        vec![4, limit / 2 + 1],
        vec![1, limit / 2 + 1],
        Box::new(Never),
    ) else {
        panic!("a chunk over the limit is accepted");
    };
    let err = err.to_string();
    assert!(err.contains("2 GiB"), "{err}");
}

#[test]
fn full_reads_of_permuted_storage_are_views_with_the_logical_values() {
    let stored_shape = [4u64, 1, 3, 5];
    let n = stored_shape.iter().product::<u64>() as usize;
    let bytes: Vec<u8> = (0..n * 2).map(|i| (i * 13 % 251) as u8).collect();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let stored = StridedSource::contiguous(
            "test",
            Storage::owned(bytes.clone()),
            0,
            DType::U16,
            stored_shape.to_vec(),
            order,
        )
        .unwrap();
        for perm in [[2, 3, 0, 1], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3]] {
            let ds = dataset(stored.permuted(&perm).unwrap());
            let full = ds.read().unwrap();
            let zeros = vec![0; 4];
            let c_order = ds.read_region(&zeros, ds.shape()).unwrap();
            assert_eq!(full, c_order, "{perm:?} {order:?}");
            let expected: Vec<usize> = ds.shape().iter().map(|&d| d as usize).collect();
            assert_eq!(full.shape(), &expected[..]);
        }
    }
}

#[test]
fn views_of_a_memory_map_name_their_file() {
    let dir = std::env::temp_dir().join(format!("emio-view-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("values.bin");
    std::fs::write(&path, (0..48u8).collect::<Vec<u8>>()).unwrap();
    let mapped = StridedSource::contiguous(
        "t",
        Storage::map(&path).unwrap(),
        16,
        DType::U16,
        vec![4, 4],
        ByteOrder::NATIVE,
    )
    .unwrap();
    // The view's bytes are the file from its first byte: offsets address the file.
    assert_eq!(mapped.view_file(), Some(path.as_path()));
    let view = mapped.stored_view().unwrap();
    assert_eq!((view.offset, view.bytes.len()), (16, 48));
    let owned = StridedSource::contiguous(
        "t",
        Storage::owned(vec![0u8; 32]),
        0,
        DType::U16,
        vec![4, 4],
        ByteOrder::NATIVE,
    )
    .unwrap();
    assert_eq!(owned.view_file(), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A decoder writing each element's linear C-order index (as u32) and listing as stored
/// only the chunks `stored` accepts; the others read as `FILL`.
struct Listed {
    shape: Vec<u64>,
    chunk: Vec<u64>,
    stored: StoredChunks,
}

/// The fill value of [`Listed`]'s absent chunks.
const FILL: u32 = 0xDEAD_BEEF;

impl Listed {
    fn new(shape: &[u64], chunk: &[u64], keep: impl Fn(&[u64]) -> bool) -> Self {
        let grid: Vec<u64> = shape
            .iter()
            .zip(chunk)
            .map(|(n, c)| n.div_ceil(*c))
            .collect();
        let mut chunks = HashSet::new();
        emio_core::source::for_each_index(&grid, |i| {
            if keep(i) {
                chunks.insert(i.to_vec());
            }
        });
        Listed {
            shape: shape.to_vec(),
            chunk: chunk.to_vec(),
            stored: StoredChunks::new(chunks, FILL.to_ne_bytes().to_vec()),
        }
    }

    /// The value at `idx` of the whole array.
    fn expected(&self, idx: &[u64]) -> u32 {
        let index: Vec<u64> = idx.iter().zip(&self.chunk).map(|(i, c)| i / c).collect();
        if !self.stored.contains(&index) {
            return FILL;
        }
        idx.iter()
            .zip(&self.shape)
            .fold(0u64, |acc, (i, n)| acc * n + i) as u32
    }
}

impl ChunkDecoder for Listed {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        assert!(
            self.stored.contains(index),
            "absent chunk {index:?} decoded"
        );
        let start: Vec<u64> = index.iter().zip(&self.chunk).map(|(i, c)| i * c).collect();
        let ext: Vec<u64> = start
            .iter()
            .zip(&self.chunk)
            .zip(&self.shape)
            .map(|((s, c), n)| (*c).min(n - s))
            .collect();
        for (k, idx) in indices(&ext).into_iter().enumerate() {
            let abs: Vec<u64> = idx.iter().zip(&start).map(|(i, s)| i + s).collect();
            let lin = abs
                .iter()
                .zip(&self.shape)
                .fold(0u64, |acc, (i, n)| acc * n + i);
            out[k * 4..k * 4 + 4].copy_from_slice(&(lin as u32).to_ne_bytes());
        }
        Ok(())
    }

    fn stored_chunks(&self) -> Option<&StoredChunks> {
        Some(&self.stored)
    }
}

proptest! {
    #[test]
    fn sparse_chunked_regions_fill_absent_chunks(
        shape in prop::collection::vec(1u64..9, 1..4),
        chunk in prop::collection::vec(1u64..4, 3),
        picks in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), 3),
        modulus in 1u64..5,
    ) {
        let chunk = chunk[..shape.len()].to_vec();
        let listed = Listed::new(&shape, &chunk, |i| i.iter().sum::<u64>() % modulus == 0);
        let (start, rshape) = region(&shape, &picks);
        let expected: Vec<u8> = indices(&rshape)
            .into_iter()
            .flat_map(|idx| {
                let abs: Vec<u64> = idx.iter().zip(&start).map(|(i, s)| i + s).collect();
                listed.expected(&abs).to_ne_bytes()
            })
            .collect();
        let ds = dataset(ChunkedSource::new(DType::U32, shape, chunk, Box::new(listed)).unwrap());
        prop_assert_eq!(ds.read_region_bytes(&start, &rshape).unwrap(), expected);
    }
}

#[test]
fn a_sparse_region_of_millions_of_chunks_reads_without_visiting_them() {
    // 2^31 one-element chunks, two stored: a 16 MB region is filled in bulk.
    let shape = [1u64 << 31];
    let listed = Listed::new(&[0], &[1], |_| false);
    let mut chunks = HashSet::new();
    chunks.insert(vec![5u64]);
    chunks.insert(vec![(4 << 20) - 1]);
    let listed = Listed {
        shape: shape.to_vec(),
        stored: StoredChunks::new(chunks, FILL.to_ne_bytes().to_vec()),
        ..listed
    };
    let ds =
        dataset(ChunkedSource::new(DType::U32, shape.to_vec(), vec![1], Box::new(listed)).unwrap());
    let bytes = ds.read_region_bytes(&[0], &[4 << 20]).unwrap();
    let values: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(values[5], 5);
    assert_eq!(values[(4 << 20) - 1], (4 << 20) - 1);
    assert_eq!(values.iter().filter(|&&v| v == FILL).count(), (4 << 20) - 2);
}

/// Progress cancelled from its `after`-th check on.
struct CancelAfter {
    after: usize,
    checks: AtomicUsize,
}

impl Progress for CancelAfter {
    fn is_cancelled(&self) -> bool {
        self.checks.fetch_add(1, Ordering::SeqCst) + 1 >= self.after
    }
}

#[test]
fn a_dense_chunked_read_stops_between_chunks_once_cancelled() {
    struct Counting(Arc<AtomicUsize>);
    impl ChunkDecoder for Counting {
        fn decode_chunk(&self, _: &[u64], _: &mut [u8]) -> Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let decoded = Arc::new(AtomicUsize::new(0));
    let decoder = Box::new(Counting(decoded.clone()));
    let source = ChunkedSource::new(DType::U8, vec![100, 100], vec![1, 1], decoder).unwrap();
    let ds = dataset(source);
    let mut out = vec![0u8; 100 * 100];
    let progress = CancelAfter {
        after: 20,
        checks: AtomicUsize::new(0),
    };
    let result = ds.read_region_into_with(&[0, 0], &[100, 100], &mut out, &progress, Threads::All);
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(
        decoded.load(Ordering::SeqCst) < 10_000,
        "every chunk was decoded"
    );
    // The same read without cancellation decodes every chunk.
    ds.read_region_into(&[0, 0], &[100, 100], &mut out).unwrap();
}
