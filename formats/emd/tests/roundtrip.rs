//! NCEM EMD writer → reader round trips (every dtype, random shapes, chunkings, compression,
//! non-uniform axes), region reads, and damaged corpus files that must fail cleanly.

use std::path::Path;
use std::sync::Arc;

use emio_core::{
    Axis, AxisKind, DType, Dataset, Format, NoProgress, Options, Registry, StridedSource, Tree,
};
use emio_emd::Emd;
use proptest::prelude::*;

fn write(ds: &Dataset, path: &Path, opts: &[(&str, String)]) {
    Registry::write(&Emd, ds, path, opts, false, &NoProgress).unwrap();
}

fn open(path: &Path) -> Vec<Dataset> {
    Emd.open(
        path,
        &Options::parse(Emd.read_options(), &[] as &[(&str, &str)]).unwrap(),
    )
    .unwrap()
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
                state as u8
            }
        })
        .collect()
}

fn dataset(dtype: DType, shape: &[u64], seed: u64, nonuniform: bool) -> Dataset {
    let n = shape.iter().product::<u64>() as usize * dtype.size();
    let source =
        StridedSource::from_bytes(random_bytes(n, dtype, seed), dtype, shape.to_vec()).unwrap();
    let axes = shape
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let nav = i + 2 < shape.len();
            if nonuniform && i == 0 && len > 2 {
                let v: Vec<f64> = (0..len).map(|k| (k * k) as f64 + 0.5).collect();
                Axis::values(format!("a{i}"), "eV", v, nav)
            } else {
                Axis::uniform(
                    format!("a{i}"),
                    if i % 2 == 0 { "nm" } else { "1 / nm" },
                    0.5 + i as f64,
                    -1.25,
                    nav,
                )
            }
        })
        .collect();
    let mut md = Tree::new();
    emio_core::metadata::set_path(&mut md, "General.title", "round trip");
    Dataset::new(Arc::new(source), axes, md, Tree::new()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn write_read_round_trip(
        dtype_index in 0usize..DType::ALL.len(),
        shape in prop::collection::vec(1u64..7, 1..5),
        chunk_seed in any::<u64>(),
        gzip in any::<bool>(),
        nonuniform in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let dtype = DType::ALL[dtype_index];
        let ds = dataset(dtype, &shape, seed, nonuniform);
        let chunks: Vec<String> = shape.iter().enumerate()
            .map(|(i, &n)| (1 + (chunk_seed >> (8 * i)) % n).to_string()).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.emd");
        let mut opts = vec![("chunks", chunks.join(","))];
        if gzip {
            opts.push(("compression", "gzip".to_string()));
        }
        write(&ds, &path, &opts);
        let back = open(&path);
        prop_assert_eq!(back.len(), 1);
        let back = &back[0];
        prop_assert_eq!(back.dtype(), dtype);
        prop_assert_eq!(back.shape(), ds.shape());
        prop_assert_eq!(back.read_region_bytes(&vec![0; shape.len()], &shape).unwrap(),
                        ds.read_region_bytes(&vec![0; shape.len()], &shape).unwrap());
        prop_assert_eq!(back.title(), "round trip");
        for (a, b) in back.axes.iter().zip(&ds.axes) {
            prop_assert_eq!(&a.name, &b.name);
            prop_assert_eq!(&a.units, &b.units);
            prop_assert_eq!(a.navigate, b.navigate);
            match (&a.kind, &b.kind) {
                (AxisKind::Uniform { scale: s1, offset: o1 }, AxisKind::Uniform { scale: s2, offset: o2 }) => {
                    prop_assert!((s1 - s2).abs() < 1e-9 && (o1 - o2).abs() < 1e-9);
                }
                (AxisKind::Values(v1), AxisKind::Values(v2)) => prop_assert_eq!(v1, v2),
                other => prop_assert!(false, "axis kind changed: {:?}", other),
            }
        }
        // A region in the middle equals the same region of the original.
        let start: Vec<u64> = shape.iter().map(|&n| n / 2).collect();
        let extent: Vec<u64> = shape.iter().zip(&start).map(|(n, s)| (n - s).min(2)).collect();
        prop_assert_eq!(back.read_region_bytes(&start, &extent).unwrap(),
                        ds.read_region_bytes(&start, &extent).unwrap());
    }
}

fn corpus_files() -> Vec<std::path::PathBuf> {
    emio_core::corpus::corpus_files("emd", &[".emd", ".h5"])
}

/// Open a damaged copy and read everything: errors are fine, panics are not.
fn exercise(bytes: &[u8], dir: &Path) {
    let path = dir.join("damaged.emd");
    std::fs::write(&path, bytes).unwrap();
    let opts = Options::parse(Emd.read_options(), &[] as &[(&str, &str)]).unwrap();
    if let Ok(datasets) = Emd.open(&path, &opts) {
        for ds in datasets {
            if ds.nbytes() < 64 << 20 {
                let _ = ds.read_region_bytes(&vec![0; ds.ndim()], ds.shape());
            }
        }
    }
}

#[test]
fn damaged_corpus_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for file in corpus_files() {
        let bytes = std::fs::read(&file).unwrap();
        if bytes.len() > 400_000 {
            continue;
        }
        let n = bytes.len();
        for cut in [0, 8, 64, 500, n / 3, n / 2, n - 1] {
            exercise(&bytes[..cut.min(n)], dir.path());
        }
        let mut state = n as u64 | 1;
        for _ in 0..24 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut b = bytes.clone();
            let at = (state % n as u64) as usize;
            b[at] ^= 0xff;
            b[(at * 7 + 3) % n] = (state >> 8) as u8;
            exercise(&b, dir.path());
        }
    }
}

#[test]
fn every_corpus_file_opens_and_reads() {
    for file in corpus_files() {
        let datasets = open(&file);
        // Its only data array holds Python objects (strings), which have no pixel form.
        let object_only = file.ends_with("example_object_dtype_data.emd");
        assert_eq!(datasets.is_empty(), object_only, "{}", file.display());
        for ds in datasets {
            ds.sha256().unwrap();
        }
    }
}
