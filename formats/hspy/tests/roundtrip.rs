//! HyperSpy HDF5 writer → reader round trips: every dtype, 1-5 dimensions, uniform and
//! non-uniform axes, every compression, random chunkings, and metadata holding every value
//! type HyperSpy's tree encoding stores (strings, integers, floats, booleans, null, empty
//! and typed lists, lists of mixed items, nested lists and maps).

use std::path::Path;
use std::sync::Arc;

use emio_core::serde_json::{Map, Value};
use emio_core::{
    Axis, DType, Dataset, Format, NoProgress, Options, Registry, SignalPackage, StridedSource, Tree,
};
use emio_hspy::Hspy;
use proptest::prelude::*;

fn write(ds: &Dataset, path: &Path, opts: &[(&str, String)]) -> emio_core::Result<()> {
    Registry::write(&Hspy, ds, path, opts, false, &NoProgress)
}

fn open(path: &Path) -> Vec<Dataset> {
    Hspy.open(path, &Options::default()).unwrap()
}

fn random_bytes(n: usize, dtype: DType, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if dtype == DType::Bool {
                (state & 1) as u8
            } else {
                (state >> 24) as u8
            }
        })
        .collect()
}

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9 ._]{0,8}"
}

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9 .,µ°Å-]{0,12}"
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |x| x.is_finite())
}

/// A leaf HyperSpy stores as an attribute, or a list it stores as a typed array.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        finite().prop_map(Value::from),
        text().prop_map(Value::from),
        Just(Value::Array(Vec::new())),
        prop::collection::vec(any::<i64>(), 1..5).prop_map(Value::from),
        prop::collection::vec(finite(), 1..5).prop_map(Value::from),
        prop::collection::vec(any::<bool>(), 1..5).prop_map(Value::from),
        prop::collection::vec(text(), 1..5).prop_map(Value::from),
    ]
}

/// Any metadata value: leaves, maps, and lists of up to 9 items (HyperSpy orders the
/// members of a list group by name, as text: more than 10 would come back reordered).
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn tree() -> impl Strategy<Value = Tree> {
    prop::collection::btree_map(key(), value(), 0..6).prop_map(|m| m.into_iter().collect())
}

/// Mixed lists come back as HyperSpy stores them: a list of only numbers is one float
/// array when any is a float.
fn as_stored(v: &Value) -> Value {
    match v {
        Value::Array(items)
            if items.iter().all(Value::is_number) && items.iter().any(|x| x.as_i64().is_none()) =>
        {
            Value::Array(
                items
                    .iter()
                    .map(|x| Value::from(x.as_f64().unwrap()))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(as_stored).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), as_stored(v))).collect())
        }
        other => other.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
fn dataset(
    dtype: DType,
    shape: &[u64],
    seed: u64,
    kinds: u8,
    nav: usize,
    md: Tree,
    om: Tree,
) -> Dataset {
    let n = shape.iter().product::<u64>() as usize * dtype.size();
    let source =
        StridedSource::from_bytes(random_bytes(n, dtype, seed), dtype, shape.to_vec()).unwrap();
    let axes = shape
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let navigate = i < nav;
            let units = if i % 2 == 0 { "nm" } else { "" };
            if kinds & (1 << i) != 0 {
                let v: Vec<f64> = (0..len).map(|k| (k * k) as f64 * 0.25 - 3.0).collect();
                Axis::values(format!("a{i}"), units, v, navigate)
            } else {
                Axis::uniform(format!("a{i}"), units, 0.5 + i as f64, -1.25, navigate)
            }
        })
        .collect();
    let mut md = md;
    emio_core::metadata::set_path(&mut md, "General.title", "round trip");
    Dataset::new(Arc::new(source), axes, md, om).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn write_read_round_trip(
        dtype_index in 0usize..DType::ALL.len(),
        shape in prop::collection::vec(1u64..6, 1..=5),
        chunk_seed in any::<u64>(),
        compression in prop::sample::select(vec!["gzip", "lzf", "none", "default"]),
        kinds in any::<u8>(),
        nav in 0usize..3,
        seed in any::<u64>(),
        md in tree(),
        om in tree(),
        package in prop::option::of((text(), text())),
    ) {
        let dtype = DType::ALL[dtype_index];
        let mut ds = dataset(dtype, &shape, seed, kinds, nav, md, om);
        ds.signal_package = package.map(|(name, version)| SignalPackage { name, version });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.hspy");
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
        let back = open(&path);
        prop_assert_eq!(back.len(), 1);
        let back = &back[0];
        prop_assert_eq!(back.dtype(), dtype);
        prop_assert_eq!(back.shape(), ds.shape());
        prop_assert_eq!(back.read_region_bytes(&vec![0; shape.len()], &shape).unwrap(),
                        ds.read_region_bytes(&vec![0; shape.len()], &shape).unwrap());
        prop_assert_eq!(&back.axes, &ds.axes);
        // Written as HyperSpy writes it: empty strings for a signal of no package.
        prop_assert_eq!(&back.signal_package, &Some(ds.signal_package.clone().unwrap_or_default()));
        prop_assert_eq!(Value::Object(back.metadata.clone()), as_stored(&Value::Object(ds.metadata.clone())));
        prop_assert_eq!(
            Value::Object(back.original_metadata.clone()),
            as_stored(&Value::Object(ds.original_metadata.clone()))
        );
        // A region in the middle equals the same region of the original.
        let start: Vec<u64> = shape.iter().map(|&n| n / 2).collect();
        let extent: Vec<u64> = shape.iter().zip(&start).map(|(n, s)| (n - s).min(2)).collect();
        prop_assert_eq!(back.read_region_bytes(&start, &extent).unwrap(),
                        ds.read_region_bytes(&start, &extent).unwrap());
    }
}

#[test]
fn refused_options_and_shapes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset(DType::U8, &[2, 3], 1, 0, 1, Tree::new(), Tree::new());
    let path = dir.path().join("a.hspy");
    let e = write(&ds, &path, &[("chunks", "1".into())]).unwrap_err();
    assert!(e.to_string().contains("chunks"), "{e}");
    assert!(!path.exists());
}

/// `write_dataset=false` (rsciio's option) writes the signal's groups, axes and metadata but
/// no `data` dataset; emio's reader then finds no signal and says so.
#[test]
fn write_dataset_false_writes_the_structure_without_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut meta = Tree::new();
    meta.insert(
        "General".into(),
        emio_core::serde_json::json!({"title": "s"}),
    );
    let ds = dataset(DType::U16, &[2, 3], 1, 0, 1, meta, Tree::new());
    let path = dir.path().join("a.hspy");
    write(&ds, &path, &[("write_dataset", "false".into())]).unwrap();
    let f = emio_h5::H5File::open(&path).unwrap();
    let group = &f.groups("/Experiments").unwrap()[0];
    let node = |p: &str| format!("/Experiments/{group}/{p}");
    assert!(!f.is_dataset(&node("data")));
    for g in [
        "axis-0",
        "axis-1",
        "metadata/General",
        "original_metadata",
        "attributes",
    ] {
        assert!(f.is_group(&node(g)), "{g}");
    }
    assert_eq!(
        f.attrs(&node("metadata/General")).unwrap()["title"],
        ds.metadata["General"]["title"]
    );
    let e = Hspy.open(&path, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("data dataset"), "{e}");
}

#[test]
fn large_lzf_compressed_data_round_trips() {
    // Smooth data LZF shrinks, and noise it cannot (stored with the filter skipped).
    let dir = tempfile::tempdir().unwrap();
    for seed in [0u64, 7] {
        let shape = [6u64, 64, 64];
        let bytes: Vec<u8> = if seed == 0 {
            (0..6 * 64 * 64u32)
                .flat_map(|v| ((v / 64) as u16).to_ne_bytes())
                .collect()
        } else {
            random_bytes(6 * 64 * 64 * 2, DType::U16, seed)
        };
        let source = StridedSource::from_bytes(bytes.clone(), DType::U16, shape.to_vec()).unwrap();
        let ds = Dataset::new(
            Arc::new(source),
            vec![
                Axis::default_for(true),
                Axis::default_for(false),
                Axis::default_for(false),
            ],
            Tree::new(),
            Tree::new(),
        )
        .unwrap();
        let path = dir.path().join(format!("lzf{seed}.hspy"));
        write(&ds, &path, &[("compression", "lzf".into())]).unwrap();
        let back = open(&path);
        assert_eq!(
            back[0].read_region_bytes(&[0, 0, 0], &shape).unwrap(),
            bytes
        );
    }
}

#[test]
fn groups_of_many_members_round_trip() {
    // More members than one B-tree node of symbol nodes holds (2K x 2K = 256), at two
    // levels of the group B-tree.
    let dir = tempfile::tempdir().unwrap();
    let mut om = Tree::new();
    for i in 0..9000 {
        om.insert(format!("tag {i:05}"), Value::from(i));
    }
    let ds = dataset(DType::U8, &[2, 3], 1, 0, 1, Tree::new(), om.clone());
    let path = dir.path().join("many.hspy");
    write(&ds, &path, &[]).unwrap();
    assert_eq!(open(&path)[0].original_metadata, om);
}
