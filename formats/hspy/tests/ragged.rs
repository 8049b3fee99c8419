//! Ragged signals (HyperSpy's `attributes/ragged`, HDF5 variable-length data): writer →
//! reader round trips over every real dtype and text, 1-3 position dimensions, 0-3
//! dimensional items (empty ones included), every compression and random chunkings; and
//! damaged variable-length references and heap collections give errors naming the file.

use std::path::Path;
use std::sync::Arc;

use emio_core::ragged::{RaggedArray, RaggedElement, RaggedItem, RaggedValues};
use emio_core::{Axis, DType, Dataset, Format, NoProgress, Options, Registry, Tree};
use emio_hspy::Hspy;
use proptest::prelude::*;

fn write(ds: &Dataset, path: &Path, opts: &[(&str, String)]) -> emio_core::Result<()> {
    Registry::write(&Hspy, ds, path, opts, false, &NoProgress)
}

/// Real dtypes (ragged items hold no complex or RGB values) and text.
fn element() -> impl Strategy<Value = RaggedElement> {
    let numeric: Vec<RaggedElement> = DType::ALL
        .into_iter()
        .filter(|d| emio_core::ragged::is_ragged_element(*d))
        .map(RaggedElement::Numeric)
        .collect();
    prop_oneof![prop::sample::select(numeric), Just(RaggedElement::Text)]
}

/// One item of `element` from a seed: 0-3 dimensions of 0-4 values each.
fn item(element: RaggedElement, dims: &[u64], seed: u64) -> RaggedItem {
    let n = dims.iter().product::<u64>() as usize;
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let values = match element {
        RaggedElement::Text => RaggedValues::Text(
            (0..n)
                .map(|_| {
                    let len = next() % 5;
                    (0..len)
                        .map(|_| ['a', 'µ', 'Z', ' ', '0'][next() as usize % 5])
                        .collect()
                })
                .collect(),
        ),
        RaggedElement::Numeric(d) => RaggedValues::Numbers(
            (0..n * d.size())
                .map(|_| {
                    let b = next() >> 24;
                    // Booleans are 0 or 1; other bytes any value but NaN-making patterns
                    // are fine too (compared as bytes).
                    if d == DType::Bool {
                        (b & 1) as u8
                    } else {
                        b as u8
                    }
                })
                .collect(),
        ),
    };
    RaggedItem::new(element, dims.to_vec(), values).unwrap()
}

fn ragged_dataset(element: RaggedElement, shape: &[u64], item_dims: usize, seed: u64) -> Dataset {
    let n: u64 = shape.iter().product();
    let items: Vec<RaggedItem> = (0..n)
        .map(|i| {
            let s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i);
            let dims: Vec<u64> = (0..item_dims).map(|k| (s >> (3 * k)) % 5).collect();
            item(element, &dims, s)
        })
        .collect();
    let array = RaggedArray::new(element, shape.to_vec(), items).unwrap();
    let axes = shape.iter().map(|_| Axis::default_for(true)).collect();
    Dataset::new_ragged(Arc::new(array), axes, Tree::new(), Tree::new()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn ragged_round_trip(
        element in element(),
        shape in prop::collection::vec(1u64..5, 1..=3),
        item_dims in 0usize..=3,
        chunk_seed in any::<u64>(),
        compression in prop::sample::select(vec!["gzip", "lzf", "none", "default"]),
        seed in any::<u64>(),
    ) {
        let ds = ragged_dataset(element, &shape, item_dims, seed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.hspy");
        let mut opts = Vec::new();
        if chunk_seed % 3 != 0 {
            let chunks: Vec<String> = shape.iter().enumerate()
                .map(|(i, &n)| (1 + (chunk_seed >> (8 * i)) % n).to_string()).collect();
            opts.push(("chunks", chunks.join(",")));
        }
        if compression != "default" {
            opts.push(("compression", compression.to_string()));
        }
        write(&ds, &path, &opts).unwrap();
        let back = Hspy.open(&path, &Options::default()).unwrap();
        prop_assert_eq!(back.len(), 1);
        let back = &back[0];
        prop_assert_eq!(back.shape(), ds.shape());
        prop_assert_eq!(back.numpy_str(), "|O");
        prop_assert_eq!(&back.axes, &ds.axes);
        let theirs = back.ragged().unwrap();
        let ours = ds.ragged().unwrap();
        prop_assert_eq!(theirs.element(), element);
        for i in 0..ours.len() {
            let (a, b) = (ours.item(i).unwrap(), theirs.item(i).unwrap());
            prop_assert_eq!(&a.values, &b.values);
            prop_assert_eq!(&a.shape, &b.shape);
        }
        prop_assert_eq!(back.sha256().unwrap(), ds.sha256().unwrap());
        // Fixed-size reads of ragged data are refused, not zero-filled.
        prop_assert!(back.read_region_bytes(&vec![0; shape.len()], &vec![1; shape.len()]).is_err());
    }
}

/// A file with one ragged signal of float64 items, and where its first reference is.
fn sample(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let ds = ragged_dataset(RaggedElement::Numeric(DType::F64), &[3, 2], 1, 7);
    let path = dir.join("good.hspy");
    write(&ds, &path, &[("compression", "none".into())]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn damaged_heap_collections_and_references_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes) = sample(dir.path());
    let collections: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"GCOL")
        .map(|(i, _)| i)
        .collect();
    assert!(!collections.is_empty());
    let damages: Vec<(usize, Vec<u8>)> = collections
        .iter()
        .flat_map(|&c| {
            [
                (c, b"XCOL".to_vec()),                             // signature
                (c + 8, u64::MAX.to_le_bytes().to_vec()),          // collection size
                (c + 8, 8u64.to_le_bytes().to_vec()),              // smaller than its header
                (c + 16 + 8, (1u64 << 40).to_le_bytes().to_vec()), // first object's size
                (c + 16, 77u16.to_le_bytes().to_vec()),            // first object's index
            ]
        })
        .collect();
    for (i, (at, patch)) in damages.into_iter().enumerate() {
        let mut b = bytes.clone();
        b[at..at + patch.len()].copy_from_slice(&patch);
        let path = dir.path().join(format!("bad{i}.hspy"));
        std::fs::write(&path, &b).unwrap();
        let opened = Hspy.open(&path, &Options::default());
        let Ok(datasets) = opened else {
            continue;
        };
        let ragged = datasets[0].ragged().unwrap();
        let failures: Vec<String> = (0..ragged.len())
            .filter_map(|k| ragged.item(k).err())
            .map(|e| e.to_string())
            .collect();
        assert!(!failures.is_empty(), "damage {i} at {at} went unnoticed");
        for f in failures {
            assert!(f.contains(&path.display().to_string()), "{f}");
            assert!(f.contains("/Experiments/__unnamed__/"), "{f}");
        }
    }
}
