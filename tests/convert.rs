//! The streaming conversion engine end to end: property tests (random datasets and
//! chunkings converted between every pair of writable formats read back identically), the
//! memory bound (bytes in flight never exceed the engine's budget on a dataset much larger
//! than it), HyperSpy and Zarr metadata round trips (`convert/hyperspy.rs`), and the CLI
//! contract of `convert` (no progress output without a terminal, `--force`, no partial
//! output after a failure mid-conversion).

#[path = "convert/hyperspy.rs"]
mod hyperspy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use emio::{
    ArraySource, Axis, DType, Dataset, Error, NoProgress, Progress, Registry, Result,
    StridedSource, Threads, Tree,
};
use emio_core::engine::Engine;
use proptest::prelude::*;
use serde_json::json;

fn write(format: &str, ds: &Dataset, path: &Path, options: &[(&str, &str)]) -> Result<()> {
    let f = emio::registry().by_name(format).unwrap();
    Registry::write(f.as_ref(), ds, path, options, true, &NoProgress)
}

fn open_one(format: &str, path: &Path) -> Dataset {
    let f = emio::registry().by_name(format).unwrap();
    let mut all = Registry::open_with(f.as_ref(), path, &[] as &[(&str, &str)]).unwrap();
    assert!(!all.is_empty(), "{format}: no dataset");
    all.remove(0)
}

/// The dataset of a file with (squeezed) shape `like` (formats may add derived datasets,
/// e.g. a navigator image next to the data).
fn open_like(format: &str, path: &Path, like: &[u64], dtype: DType) -> Dataset {
    let f = emio::registry().by_name(format).unwrap();
    let all = Registry::open_with(f.as_ref(), path, &[] as &[(&str, &str)]).unwrap();
    let n = all.len();
    all.into_iter()
        .find(|d| d.dtype() == dtype && squeezed(d.shape()) == like)
        .unwrap_or_else(|| panic!("{format}: none of {n} datasets has shape {like:?}"))
}

/// The (squeezed) shape a format gives back for `shape`: TVIPS stores a flat sequence of
/// frames (a scan shape is a reader option), so its navigation dimensions come back as one.
fn stored_shape(format: &str, shape: &[u64]) -> Vec<u64> {
    match (format, shape.len()) {
        ("tvips", n) if n > 2 => {
            let frames: u64 = shape[..n - 2].iter().product();
            squeezed(&[&[frames][..], &shape[n - 2..]].concat())
        }
        _ => squeezed(shape),
    }
}

fn all_bytes(ds: &Dataset) -> Vec<u8> {
    ds.read_region_bytes(&vec![0; ds.ndim()], ds.shape())
        .unwrap()
}

/// Shape without size-1 dimensions (formats may add or drop unit dimensions).
fn squeezed(shape: &[u64]) -> Vec<u64> {
    shape.iter().copied().filter(|&n| n != 1).collect()
}

/// A random dataset: dtype, 1-4 dimensions, values, and axes with leading navigation axes.
fn dataset_strategy() -> impl Strategy<Value = Dataset> {
    let dtypes = prop::sample::select(vec![
        DType::U8,
        DType::U16,
        DType::I16,
        DType::U32,
        DType::I32,
        DType::F32,
        DType::F64,
        DType::C64,
        DType::Rgb8,
    ]);
    (
        dtypes,
        prop::collection::vec(1u64..7, 1..=4),
        any::<u64>(),
        0usize..3,
    )
        .prop_map(|(dtype, shape, seed, nav)| {
            let n: u64 = shape.iter().product();
            let mut state = seed | 1;
            let bytes: Vec<u8> = (0..n as usize * dtype.size())
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            // Random bytes are not always valid floats to compare; NaN payloads compare by
            // bytes, which is what the tests do.
            let mut ds = Dataset::from_bytes(bytes, dtype, shape.clone()).unwrap();
            let nav = nav.min(shape.len().saturating_sub(1));
            ds.axes = shape
                .iter()
                .enumerate()
                .map(|(d, _)| {
                    Axis::uniform(
                        format!("axis{d}"),
                        if d < nav { "nm" } else { "1/nm" },
                        0.5 + d as f64,
                        -(d as f64),
                        d < nav,
                    )
                })
                .collect();
            emio::metadata::set_path(&mut ds.metadata, "General.title", "random");
            ds
        })
}

/// Writable binary formats of the registry. EMSA/MSA is left out: it is text, so every
/// value comes back as a float64 number and NaN payloads are not kept (its own proptest
/// round trip checks the values it can hold).
fn writers() -> Vec<&'static str> {
    emio::registry()
        .formats()
        .iter()
        .filter(|f| f.can_write() && f.can_read() && f.name() != "msa")
        .map(|f| f.name())
        .collect()
}

fn extension(format: &str) -> String {
    let f = emio::registry().by_name(format).unwrap();
    f.extensions()[0].to_string()
}

/// The dtype a format stores `dtype` as, where a writer widens losslessly.
/// DigitalMicrograph has no 3-channel type: its RGB images are 4-byte RGBA records, so the
/// DM and DM5 writers widen RGB to RGBA with alpha 0. MRC2014's mode 0 is signed, so unsigned
/// bytes are stored as mode 6 (uint16), as mrcfile does. EER holds event counts of 0 or 1
/// per pixel and frame (other data is declined), read back as uint8.
fn stored_as(format: &str, dtype: DType) -> DType {
    match (format, dtype) {
        ("eer", d) if d.is_integer() => DType::U8,
        ("dm" | "dm5", DType::Rgb8) => DType::Rgba8,
        ("mrc", DType::U8) => DType::U16,
        _ => dtype,
    }
}

/// `bytes` of `from` records as the `to` records a widening writer stores (see
/// [`stored_as`]).
fn widened(bytes: &[u8], from: DType, to: DType) -> Vec<u8> {
    match (from, to) {
        (DType::U8, DType::U16) => bytes
            .iter()
            .flat_map(|&b| u16::from(b).to_ne_bytes())
            .collect(),
        // EER: integer counts of 0 or 1, kept as their low byte.
        (from, DType::U8) if from != DType::U8 => {
            let low = if cfg!(target_endian = "little") {
                0
            } else {
                from.size() - 1
            };
            bytes.chunks(from.size()).map(|c| c[low]).collect()
        }
        (DType::Rgb8, DType::Rgba8) => bytes
            .chunks(3)
            .flat_map(|c| [c[0], c[1], c[2], 0])
            .collect(),
        _ => bytes.to_vec(),
    }
}

/// Whether a writer declined the dataset (it cannot hold the dtype or shape).
fn declined(e: &Error) -> bool {
    matches!(e, Error::Unsupported { .. } | Error::InvalidOption { .. })
}

/// Whether `format`'s writer (with default options) must accept a dataset of `dtype` and
/// `shape`: the property test fails when a writer declines what it should hold, or accepts
/// what it is documented to refuse. A new writer must be declared here.
fn expected_to_accept(format: &str, dtype: DType, shape: &[u64]) -> bool {
    use DType::*;
    let ndim = shape.len();
    let longer_than_one = shape.iter().filter(|&&n| n > 1).count();
    match format {
        "npy" | "zarr" => true,
        // 1 to 4 (DM) or more dimensions, not a 0-dimensional scalar (a read-back can be one).
        "dm" | "dm5" | "emd" | "tiff" | "hspy" => ndim >= 1,
        // HyperSpy's zspy layout has no RGB records.
        "zspy" => !dtype.is_rgb(),
        // MRC2014 modes: int16, float32, complex64, uint16 (u8 widened to it).
        "mrc" => matches!(dtype, U8 | U16 | I16 | F32 | C64),
        // Detector counters of 1, 6/12 and 24/32 bits, in frames of 2 dimensions.
        "mib" | "tvips" => matches!(dtype, U8 | U16 | U32) && ndim >= 2,
        // u8 square patterns on a scan of up to 2 dimensions (no intensity_scaling given).
        "blo" => dtype == U8 && (2..=4).contains(&ndim) && shape[ndim - 1] == shape[ndim - 2],
        // 128 x 128 frames only: random datasets never have them (formats/empad tests).
        "empad" => false,
        // Event counts of 0 or 1 per pixel and frame: random data (almost) never is (formats/eer tests).
        "eer" => false,
        // Integers and float32/64 with up to 3 dimensions longer than one.
        "ripple" => !dtype.is_complex() && !dtype.is_rgb() && longer_than_one <= 3,
        other => panic!("declare which datasets the {other} writer accepts in expected_to_accept"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Every writable format A holding the dataset, converted to every writable format B:
    /// B read back equals the original; every writer accepts exactly the datasets
    /// [`expected_to_accept`] says it holds.
    #[test]
    fn conversions_between_all_writable_formats_preserve_data(ds in dataset_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let expected = all_bytes(&ds);
        for a in writers() {
            let pa = dir.path().join(format!("a-{a}.{}", extension(a)));
            let expected_ok = expected_to_accept(a, ds.dtype(), ds.shape());
            match write(a, &ds, &pa, &[]) {
                Err(e) if declined(&e) => {
                    prop_assert!(!expected_ok, "{} declined a dataset it must hold: {}", a, e);
                    continue;
                }
                other => other.unwrap(),
            }
            prop_assert!(expected_ok, "{} accepted a {} {:?} dataset it should decline", a, ds.dtype(), ds.shape());
            let dtype_a = stored_as(a, ds.dtype());
            let shape_a = stored_shape(a, ds.shape());
            let source = open_like(a, &pa, &shape_a, dtype_a);
            let expected_a = widened(&expected, ds.dtype(), dtype_a);
            prop_assert_eq!(source.dtype(), dtype_a, "{} changed the dtype", a);
            prop_assert!(all_bytes(&source) == expected_a, "{} changed the data", a);
            for b in writers() {
                let pb = dir.path().join(format!("b-{a}-{b}.{}", extension(b)));
                let expected_ok = expected_to_accept(b, source.dtype(), source.shape());
                match write(b, &source, &pb, &[]) {
                    Err(e) if declined(&e) => {
                        prop_assert!(!expected_ok, "{} -> {} declined a dataset it must hold: {}", a, b, e);
                        continue;
                    }
                    other => other.unwrap(),
                }
                prop_assert!(expected_ok, "{} -> {} accepted a {} {:?} dataset it should decline", a, b, source.dtype(), source.shape());
                let dtype_b = stored_as(b, dtype_a);
                let back = open_like(b, &pb, &stored_shape(b, source.shape()), dtype_b);
                prop_assert_eq!(back.dtype(), dtype_b, "{} -> {} changed the dtype", a, b);
                let expected_b = widened(&expected_a, dtype_a, dtype_b);
                prop_assert!(all_bytes(&back) == expected_b, "{} -> {} changed the data", a, b);
            }
        }
    }

    /// Zarr with random chunk (and shard) shapes and codecs reads back identically, with
    /// the same axes.
    #[test]
    fn zarr_random_chunking_round_trips(
        ds in dataset_strategy(),
        chunk_seed in prop::collection::vec(1u64..5, 4),
        shard_factor in 1u64..3,
        codec in prop::sample::select(vec!["blosc-lz4", "zstd", "blosc", "gzip", "none"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let chunks: Vec<String> = ds.shape().iter().zip(&chunk_seed)
            .map(|(n, c)| (*c).min(*n).to_string()).collect();
        let shard: Vec<String> = chunks.iter()
            .map(|c| (c.parse::<u64>().unwrap() * shard_factor).to_string()).collect();
        let (chunks, shard) = (chunks.join(","), shard.join(","));
        let mut options = vec![("chunks", chunks.as_str()), ("compressor", codec)];
        if shard_factor > 1 {
            options.push(("shard", shard.as_str()));
        }
        let path = dir.path().join("x.zarr");
        write("zarr", &ds, &path, &options).unwrap();
        let back = open_one("zarr", &path);
        prop_assert_eq!(back.dtype(), ds.dtype());
        prop_assert_eq!(back.shape(), ds.shape());
        prop_assert_eq!(&back.axes, &ds.axes);
        prop_assert!(all_bytes(&back) == all_bytes(&ds));
        if ds.dtype() != DType::Rgb8 {
            let path = dir.path().join("x.zspy");
            write("zspy", &ds, &path, &[("chunks", chunks.as_str())]).unwrap();
            let back = open_one("zspy", &path);
            prop_assert_eq!(&back.axes, &ds.axes);
            prop_assert!(all_bytes(&back) == all_bytes(&ds));
        }
    }

    /// The ordered engine reproduces the C-order byte stream for any chunking and
    /// parallelism, and never holds more than its budget.
    #[test]
    fn engine_streams_in_order_within_budget(
        ds in dataset_strategy(),
        chunk in prop::collection::vec(1u64..6, 4),
        threads in 1usize..4,
        queue in 0usize..3,
    ) {
        let chunk = &chunk[..ds.ndim()];
        let engine = Engine::new(threads, queue);
        let mut out = Vec::new();
        let mut starts: Vec<Vec<u64>> = Vec::new();
        let stats = engine
            .for_each_region_ordered(&ds, chunk, &NoProgress, |_, _| Ok(()), |region, bytes| {
                let expected = ds.read_region_bytes(&region.start, &region.shape).unwrap();
                assert_eq!(bytes, &expected[..]);
                starts.push(region.start.clone());
                out.extend_from_slice(bytes);
                Ok(())
            })
            .unwrap();
        // In order: regions arrive in C order of the region grid (each start after the
        // previous one lexicographically), every region exactly once.
        prop_assert!(starts.windows(2).all(|w| w[0] < w[1]), "regions out of order: {:?}", starts);
        let grid: u64 = ds.shape().iter().zip(chunk).map(|(n, c)| n.div_ceil(*c)).product();
        prop_assert_eq!(starts.len() as u64, grid);
        prop_assert_eq!(stats.bytes, ds.nbytes());
        prop_assert!(stats.peak_bytes_in_flight <= engine.budget_bytes(&ds, chunk));
        // Regions concatenated in grid order equal the C-order stream only when every
        // region is a contiguous run; compare per region above, and the total here.
        prop_assert_eq!(out.len() as u64, ds.nbytes());
    }
}

/// A synthetic lazy source of any size: value = f(index), generated on read, counting the
/// bytes of regions being read at the same time.
struct Synthetic {
    shape: Vec<u64>,
    reading: AtomicU64,
    peak_reading: AtomicU64,
}

impl ArraySource for Synthetic {
    fn dtype(&self) -> DType {
        DType::U16
    }
    fn shape(&self) -> &[u64] {
        &self.shape
    }
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        _progress: &dyn Progress,
        _threads: Threads,
    ) -> Result<()> {
        let now = self.reading.fetch_add(out.len() as u64, Ordering::SeqCst) + out.len() as u64;
        self.peak_reading.fetch_max(now, Ordering::SeqCst);
        // Frames are whole (the tests read whole trailing dims): index = flat offset.
        let frame: u64 = self.shape[1..].iter().product();
        let first = start[0] * frame;
        for (i, v) in out.chunks_exact_mut(2).enumerate() {
            v.copy_from_slice(&(((first + i as u64) % 65521) as u16).to_ne_bytes());
        }
        let _ = shape;
        self.reading.fetch_sub(out.len() as u64, Ordering::SeqCst);
        Ok(())
    }
    fn chunk_shape(&self) -> Vec<u64> {
        let mut c = self.shape.clone();
        c[0] = 1;
        c
    }
}

#[test]
fn memory_stays_within_the_engine_budget_on_a_large_dataset() {
    // 64 MiB of u16 frames, 256 KiB per region: the budget (1 MiB) is a small fraction.
    let source = Arc::new(Synthetic {
        shape: vec![256, 256, 512],
        reading: AtomicU64::new(0),
        peak_reading: AtomicU64::new(0),
    });
    let axes = vec![
        Axis::default_for(true),
        Axis::default_for(false),
        Axis::default_for(false),
    ];
    let ds = Dataset::new(source.clone(), axes, Tree::new(), Tree::new()).unwrap();
    let engine = Engine::new(2, 2);
    let chunk = [1, 256, 512];
    let budget = engine.budget_bytes(&ds, &chunk);
    assert_eq!(budget, 4 * 256 * 1024);
    assert!(ds.nbytes() >= 64 * budget);
    let sum = AtomicU64::new(0);
    // Unordered (Zarr-like) and ordered (stream-like) runs.
    let stats = engine
        .for_each_region(&ds, &chunk, &NoProgress, |_, bytes| {
            let s: u64 = bytes
                .chunks_exact(2)
                .map(|b| u16::from_ne_bytes([b[0], b[1]]) as u64)
                .sum();
            sum.fetch_add(s, Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    assert_eq!(stats.bytes, ds.nbytes());
    assert_eq!(stats.regions, 256);
    assert!(stats.peak_bytes_in_flight > 0);
    assert!(
        stats.peak_bytes_in_flight <= budget,
        "{} bytes in flight, budget {budget}",
        stats.peak_bytes_in_flight
    );
    // Sum of i % 65521 over 0..n: whole periods plus the partial one.
    let (n, p) = (ds.len(), 65521u64);
    let tail = n % p;
    let expected = (n / p) * (p * (p - 1) / 2) + tail * (tail.saturating_sub(1)) / 2;
    assert_eq!(sum.load(Ordering::Relaxed), expected);
    let mut written = 0u64;
    let stats = engine
        .for_each_region_ordered(
            &ds,
            &chunk,
            &NoProgress,
            |_, _| Ok(()),
            |_, bytes| {
                written += bytes.len() as u64;
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(written, ds.nbytes());
    assert!(stats.peak_bytes_in_flight <= budget);
    assert!(source.peak_reading.load(Ordering::SeqCst) <= budget);
}

fn sample_dataset() -> Dataset {
    let n = 4 * 3 * 5;
    let bytes: Vec<u8> = (0..n as u16).flat_map(|v| v.to_ne_bytes()).collect();
    let mut ds = Dataset::from_bytes(bytes, DType::U16, vec![4, 3, 5]).unwrap();
    ds.axes = vec![
        Axis::uniform("y", "nm", 2.0, 1.0, true),
        Axis::uniform("x", "nm", 1.5, 0.0, true),
        Axis::values("Energy", "eV", vec![1.0, 2.0, 4.0, 8.0, 16.0], false),
    ];
    let meta = json!({
        "General": {"title": "EELS map", "original_filename": "map.dm4"},
        "Signal": {"signal_type": "EELS"},
        "Acquisition_instrument": {"TEM": {"beam_energy": 200.0, "magnification": 50000}}
    });
    ds.metadata = meta.as_object().unwrap().clone();
    let original = json!({
        "ImageList": {"TagGroup0": {"Name": "map", "Dims": [4, 3, 5],
            "Calib": [0.5, 1.5, "NaN"], "Flags": [true, false], "Names": ["a", "bb"],
            "Mixed": [1, "x", {"deep": null}], "Empty": [], "Nothing": null,
            "Unicode": "µm — Å"}}
    });
    ds.original_metadata = original.as_object().unwrap().clone();
    ds
}

#[test]
fn zarr_rejects_bad_chunk_and_shard_options() {
    let dir = tempfile::tempdir().unwrap();
    let ds = sample_dataset();
    let path = dir.path().join("bad.zarr");
    assert!(write("zarr", &ds, &path, &[("chunks", "2,2")]).is_err());
    assert!(write(
        "zarr",
        &ds,
        &path,
        &[("chunks", "2,3,5"), ("shard", "3,3,5")]
    )
    .is_err());
    assert!(!path.exists());
    write(
        "zarr",
        &ds,
        &path,
        &[("chunks", "2,3,5"), ("shard", "4,3,5")],
    )
    .unwrap();
    assert_eq!(all_bytes(&open_one("zarr", &path)), all_bytes(&ds));
}

fn emconvert(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emconvert"))
        .args(args)
        .output()
        .expect("run emconvert")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn npy_input(dir: &Path, name: &str, offset: u16) -> PathBuf {
    let n = 6 * 4 * 8;
    let bytes: Vec<u8> = (0..n as u16)
        .flat_map(|v| (v + offset).to_ne_bytes())
        .collect();
    let ds = Dataset::from_bytes(bytes, DType::U16, vec![6, 4, 8]).unwrap();
    let path = dir.join(name);
    write("npy", &ds, &path, &[]).unwrap();
    path
}

/// Names in `dir` other than `keep`.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[test]
fn cli_shows_no_progress_without_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let input = npy_input(dir.path(), "in.npy", 0);
    let out = dir.path().join("out.zarr");
    let run = emconvert(&[s(&input), s(&out)]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.stderr.is_empty(),
        "stderr: {:?}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.stdout.is_empty());
    let back = open_one("zarr", &out);
    assert_eq!(all_bytes(&back), all_bytes(&open_one("npy", &input)));
}

#[test]
fn cli_force_replaces_an_existing_store() {
    let dir = tempfile::tempdir().unwrap();
    let first = npy_input(dir.path(), "first.npy", 0);
    let second = npy_input(dir.path(), "second.npy", 1000);
    for name in ["out.zarr", "out.zspy", "out.npy"] {
        let out = dir.path().join(name);
        assert!(emconvert(&[s(&first), s(&out)]).status.success());
        let again = emconvert(&[s(&second), s(&out)]);
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
        let format = emio::registry().writer_for(&out, None).unwrap();
        let original = open_one(format.name(), &out);
        assert_eq!(all_bytes(&original), all_bytes(&open_one("npy", &first)));
        let forced = emconvert(&[s(&second), s(&out), "--force"]);
        assert!(
            forced.status.success(),
            "{}",
            String::from_utf8_lossy(&forced.stderr)
        );
        let replaced = open_one(format.name(), &out);
        assert_eq!(all_bytes(&replaced), all_bytes(&open_one("npy", &second)));
    }
    let mut rest = leftovers(
        dir.path(),
        &["first.npy", "second.npy", "out.zarr", "out.zspy", "out.npy"],
    );
    rest.sort();
    assert!(rest.is_empty(), "stray files: {rest:?}");
}

#[test]
fn cli_leaves_no_partial_output_after_a_failure_mid_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let input = npy_input(dir.path(), "in.npy", 0);
    let store = dir.path().join("in.zarr");
    let run = emconvert(&[s(&input), s(&store), "-w", "chunks=1,4,8"]);
    assert!(run.status.success());
    // Corrupt the last chunk: the conversion fails after earlier chunks were written.
    let chunk = store.join("data").join("c").join("5").join("0").join("0");
    assert!(chunk.is_file());
    std::fs::write(&chunk, b"this is not zstd").unwrap();
    for name in ["out.npy", "out.zarr", "out.zspy"] {
        let out = dir.path().join(name);
        let failed = emconvert(&[s(&store), s(&out)]);
        assert!(!failed.status.success(), "{name}: corrupt input must fail");
        let err = String::from_utf8_lossy(&failed.stderr);
        assert!(err.starts_with("emconvert: error: "), "{err}");
        assert!(!out.exists(), "{name}: partial output left behind");
    }
    let rest = leftovers(dir.path(), &["in.npy", "in.zarr"]);
    assert!(rest.is_empty(), "temporary output left behind: {rest:?}");
}

#[test]
fn stream_c_order_is_backed_by_the_engine() {
    // A dataset over a non-contiguous (transposed) view streams in logical C order.
    let bytes: Vec<u8> = (0..24u8).collect();
    let base = StridedSource::from_bytes(bytes, DType::U8, vec![4, 6]).unwrap();
    let source = base.permuted(&[1, 0]).unwrap();
    let ds = Dataset::new(
        Arc::new(source),
        vec![Axis::default_for(false), Axis::default_for(false)],
        Tree::new(),
        Tree::new(),
    )
    .unwrap();
    let mut out = Vec::new();
    emio_core::output::stream_c_order(&ds, &NoProgress, |_, b| {
        out.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    let expected: Vec<u8> = (0..6u8)
        .flat_map(|c| (0..4u8).map(move |r| r * 6 + c))
        .collect();
    assert_eq!(out, expected);
}

/// A full disk fails every single-file writer with an I/O error naming the file written
/// (issue 15: the TIFF writer said `error: : No space left on device`). `/dev/full` takes
/// the place of the registry's temporary file: every write to it fails with ENOSPC.
#[test]
fn a_full_disk_is_an_error_naming_the_file_in_every_writer() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        return;
    }
    let shape = vec![32u64, 256, 256];
    let bytes: Vec<u8> = (0..shape.iter().product::<u64>() * 2)
        .map(|i| (i % 251) as u8)
        .collect();
    let ds = Dataset::from_bytes(bytes, DType::U16, shape).unwrap();
    let mut tried = Vec::new();
    for f in emio::registry().formats() {
        if !f.can_write() || f.writes_directory() || f.writes_companions() {
            continue;
        }
        let options = emio::Options::parse(f.write_options(), &[] as &[(&str, &str)]).unwrap();
        match f.write(&emio::WriteRequest::new(&ds, full, &options)) {
            Err(e) if declined(&e) => {}
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.starts_with("/dev/full: "),
                    "{}: the error does not name the file: {message}",
                    f.name()
                );
                tried.push(f.name());
            }
            Ok(()) => panic!("{}: writing 4 MiB to a full disk succeeded", f.name()),
        }
    }
    assert!(tried.contains(&"tiff"), "tiff was not tried: {tried:?}");
}

#[test]
fn an_input_whose_size_alone_changed_is_not_written_out() {
    // The input grows after it was opened but keeps its modification time (a copy tool
    // that restores times, a coarse file system clock): the size check alone catches it,
    // and no output is left.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.npy");
    let values: Vec<u8> = (0..64u16).flat_map(|v| v.to_ne_bytes()).collect();
    let ds = Dataset::from_bytes(values, DType::U16, vec![8, 8]).unwrap();
    write("npy", &ds, &src, &[]).unwrap();
    let opened = open_one("npy", &src);
    let modified = std::fs::metadata(&src).unwrap().modified().unwrap();
    let file = std::fs::OpenOptions::new().append(true).open(&src).unwrap();
    file.set_len(file.metadata().unwrap().len() + 16).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    let out = dir.path().join("out.npy");
    let err = write("npy", &opened, &out, &[]).unwrap_err().to_string();
    assert!(
        err.contains("changed while being read") && err.contains("size went from"),
        "{err}"
    );
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "only the input is left: {left:?}");
}

/// Chunks that span the scan and a few pixels of a frame (the layout rsciio gives NCEM EMD
/// files): every Zarr chunk of one frame cuts each of them, so the conversion reads through
/// bands of the source (`core/src/bands.rs`); the values arrive as stored, uncompressed
/// (chunks copied from the map) and gzip (chunks decoded).
#[test]
fn conversions_of_chunks_cut_by_every_region_keep_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let shape = [6u64, 5, 12, 10];
    let n: u64 = shape.iter().product();
    let bytes = (0..n)
        .flat_map(|i| ((i * 7 % 65_521) as u16).to_ne_bytes())
        .collect();
    let ds = Dataset::from_bytes(bytes, DType::U16, shape.to_vec()).unwrap();
    let want = all_bytes(&ds);
    for compression in ["none", "gzip"] {
        let emd = dir.path().join(format!("cut-{compression}.emd"));
        let options = [("chunks", "6,5,3,4"), ("compression", compression)];
        write("emd", &ds, &emd, &options).unwrap();
        let source = open_one("emd", &emd);
        assert_eq!(source.source().chunk_shape(), [6, 5, 3, 4], "{compression}");
        for (format, name, options) in [
            ("zarr", "frames.zarr", vec![("chunks", "1,1,12,10")]),
            ("npy", "all.npy", vec![]),
            ("mrc", "all.mrc", vec![]),
        ] {
            let out = dir.path().join(format!("{compression}-{name}"));
            write(format, &source, &out, &options).unwrap();
            assert_eq!(
                all_bytes(&open_one(format, &out)),
                want,
                "{compression} {format}"
            );
        }
    }
}
