//! HyperSpy's two formats (`.hspy`, `.zspy`) and Zarr keep what HyperSpy stores beside the
//! values: axes, metadata and original metadata, the signal's package, learning results
//! and fitted models; the parts emio cannot keep are named in warnings.

use std::path::Path;

use emio::{DType, Dataset};
use serde_json::json;

use crate::{all_bytes, open_one, sample_dataset, write};

#[test]
fn zarr_and_zspy_keep_axes_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let ds = sample_dataset();
    for (format, name) in [("zarr", "m.zarr"), ("zspy", "m.zspy")] {
        let path = dir.path().join(name);
        write(format, &ds, &path, &[]).unwrap();
        let back = open_one(format, &path);
        assert_eq!(back.axes, ds.axes, "{format}");
        assert_eq!(back.metadata, ds.metadata, "{format}");
        assert_eq!(back.original_metadata, ds.original_metadata, "{format}");
        assert_eq!(all_bytes(&back), all_bytes(&ds), "{format}");
        // The registry finds directory stores by extension.
        let (probed, _) = emio::registry()
            .open(&path, &[] as &[(&str, &str)])
            .unwrap();
        assert_eq!(probed.name(), format);
    }
}

/// The package of a signal's class (an exspy EELS spectrum, say) survives HyperSpy's two
/// formats, as HyperSpy needs it to load the signal as that class; a signal of none is
/// written with empty strings, as HyperSpy writes it.
#[test]
fn hyperspy_formats_keep_the_signal_package() {
    let dir = tempfile::tempdir().unwrap();
    let mut ds = sample_dataset();
    for package in [
        Some(emio::SignalPackage {
            name: "exspy".into(),
            version: "0.3.2".into(),
        }),
        None,
    ] {
        ds.signal_package = package.clone();
        for (format, name) in [("zspy", "p.zspy"), ("hspy", "p.hspy")] {
            let path = dir.path().join(name);
            write(format, &ds, &path, &[]).unwrap();
            let back = open_one(format, &path);
            assert_eq!(
                back.signal_package,
                Some(package.clone().unwrap_or_default()),
                "{format}"
            );
            std::fs::remove_dir_all(&path)
                .or_else(|_| std::fs::remove_file(&path))
                .unwrap();
        }
    }
}

/// A float32 array of `shape` holding `0, 1, 2, ...` scaled by `k`.
fn ramp(shape: &[u64], k: f32) -> Dataset {
    let n = shape.iter().product::<u64>();
    let bytes = (0..n).flat_map(|i| (i as f32 * k).to_ne_bytes()).collect();
    Dataset::from_bytes(bytes, DType::F32, shape.to_vec()).unwrap()
}

/// Learning results (values of every kind HyperSpy stores, arrays small and larger than
/// a metadata tree expands), of the signal and (HyperSpy 1.x) of its peaks, are written as
/// HyperSpy's groups by both of its formats and read back whole, arrays lazily; a signal
/// without results reads none.
#[test]
fn hyperspy_formats_keep_learning_results() {
    let dir = tempfile::tempdir().unwrap();
    let values: emio::Tree = serde_json::from_value(serde_json::json!({
        "decomposition_algorithm": "SVD",
        "centre": null,
        "output_dimension": 3,
        "poissonian_noise_normalized": false,
        "original_shape": [6, 5, 32],
    }))
    .unwrap();
    let mut arrays = std::collections::BTreeMap::new();
    arrays.insert("factors".to_string(), ramp(&[32, 3], 0.5));
    arrays.insert("loadings".to_string(), ramp(&[30, 3], -1.0));
    // More elements than a metadata tree expands (65,536).
    arrays.insert("bss_loadings".to_string(), ramp(&[300, 300], 0.25));
    let mut peak_arrays = std::collections::BTreeMap::new();
    peak_arrays.insert("factors".to_string(), ramp(&[4, 2], 2.0));
    let peak_values: emio::Tree =
        serde_json::from_value(serde_json::json!({"decomposition_algorithm": "NMF"})).unwrap();
    let mut ds = sample_dataset();
    ds.learning_results = Some(emio::LearningResults {
        values: values.clone(),
        arrays,
    });
    ds.peak_learning_results = Some(emio::LearningResults {
        values: peak_values.clone(),
        arrays: peak_arrays,
    });
    for (format, name) in [("hspy", "lr.hspy"), ("zspy", "lr.zspy")] {
        let path = dir.path().join(name);
        write(format, &ds, &path, &[]).unwrap();
        let back = open_one(format, &path);
        for ((group, want), (_, got)) in
            ds.learning_groups().into_iter().zip(back.learning_groups())
        {
            let (want, got) = (want.unwrap(), got.expect(group));
            let expected = if group == "learning_results" {
                &values
            } else {
                &peak_values
            };
            assert_eq!(&got.values, expected, "{format} {group}");
            assert_eq!(
                got.arrays.keys().collect::<Vec<_>>(),
                want.arrays.keys().collect::<Vec<_>>(),
                "{format} {group}"
            );
            for (key, array) in &want.arrays {
                let read = &got.arrays[key];
                assert_eq!(read.dtype(), array.dtype(), "{format} {group} {key}");
                assert_eq!(read.shape(), array.shape(), "{format} {group} {key}");
                assert_eq!(read.title(), key);
                assert_eq!(all_bytes(read), all_bytes(array), "{format} {group} {key}");
            }
        }
        let plain = dir.path().join(format!("plain.{format}"));
        write(format, &sample_dataset(), &plain, &[]).unwrap();
        let plain = open_one(format, &plain);
        assert!(plain.learning_results.is_none(), "{format}");
        assert!(plain.peak_learning_results.is_none(), "{format}");
    }
}

/// A model as HyperSpy keeps it (two components, parameter maps of records, channel
/// switches, fit statistics, `None`s, empty lists, bounds), built from its dictionary
/// with arrays for placeholders.
fn sample_model(nav: u64) -> emio_core::hyperspy::Model {
    use emio_core::hyperspy::models::{from_decoded, ARRAY_PLACEHOLDER};
    use emio_core::hyperspy::{StoredArray, StoredElement};
    let record = StoredElement::Record(vec![
        ("values".into(), DType::F64),
        ("std".into(), DType::F64),
        ("is_set".into(), DType::Bool),
    ]);
    let map = |k: f64| {
        let bytes = (0..nav)
            .flat_map(|i| {
                let mut r = (k * i as f64).to_ne_bytes().to_vec();
                r.extend((0.5 * k).to_ne_bytes());
                r.push(u8::from(i % 2 == 0));
                r
            })
            .collect();
        StoredArray::new(record.clone(), vec![nav], bytes).unwrap()
    };
    let switches =
        StoredArray::new(StoredElement::Plain(DType::Bool), vec![4], vec![1, 0, 1, 1]).unwrap();
    let chisq = StoredArray::new(
        StoredElement::Plain(DType::F64),
        vec![nav],
        (0..nav)
            .flat_map(|i| (i as f64 * 0.25).to_ne_bytes())
            .collect(),
    )
    .unwrap();
    let at = |i: usize| json!({ ARRAY_PLACEHOLDER: i });
    let parameter = |name: &str, i: usize| {
        json!({
            "_id_name": name, "name": name, "free": true, "_linear": false, "self": 1234,
            "std": null, "value": 1.5, "units": null, "_twins": [], "_bounds": [0.0, null],
            "map": at(i),
            "_whitelist": {"_id_name": "", "map": "", "self": "id", "value": ""},
        })
    };
    let tree: emio::Tree = serde_json::from_value(json!({
        "_dict": {
            "_channel_switches": at(0),
            "chisq.data": at(1),
            "free_parameters_boundaries": null,
            "components": [
                {"_id_name": "Gaussian", "name": "Gaussian", "active": true,
                 "_active_array": null, "module": "numpy",
                 "parameters": [parameter("A", 2), parameter("centre", 3)],
                 "_whitelist": {"module": "init", "name": ""}},
                {"_id_name": "Offset", "name": "Offset", "active": true,
                 "parameters": [parameter("offset", 4)]},
            ],
        },
        "components": {"Gaussian": {}, "Offset": {}},
        "date": "2026-12-03 10:56:04",
        "dimensions": "(3|4)",
    }))
    .unwrap();
    let arrays = vec![switches, chisq, map(1.0), map(2.0), map(-3.0)];
    from_decoded("a", &tree, arrays).unwrap()
}

/// Models fitted to a signal are written by both of HyperSpy's formats as HyperSpy stores
/// them and read back exactly (groups, attributes, arrays of records and of numbers),
/// also passing from one format to the other; decoding one gives rsciio's dictionary with
/// each array where HyperSpy put it.
#[test]
fn hyperspy_formats_keep_models() {
    use emio_core::hyperspy::models::{array_at, decoded, ARRAY_PLACEHOLDER};
    let dir = tempfile::tempdir().unwrap();
    let mut ds = sample_dataset();
    let nav = ds.shape()[0];
    let model = sample_model(nav);
    ds.models = vec![model.clone()];
    let hspy = dir.path().join("m.hspy");
    write("hspy", &ds, &hspy, &[]).unwrap();
    let back = open_one("hspy", &hspy);
    assert_eq!(back.models, ds.models);
    assert!(back.warnings().is_empty(), "{:?}", back.warnings());
    // hspy -> zspy -> hspy.
    let zspy = dir.path().join("m.zspy");
    write("zspy", &back, &zspy, &[]).unwrap();
    let back = open_one("zspy", &zspy);
    assert_eq!(back.models, ds.models);
    let again = dir.path().join("again.hspy");
    write("hspy", &back, &again, &[]).unwrap();
    assert_eq!(open_one("hspy", &again).models, ds.models);

    let tree = serde_json::Value::Object(decoded(&model).unwrap());
    let map = &tree["_dict"]["components"][0]["parameters"][1]["map"];
    let path = map[ARRAY_PLACEHOLDER].as_str().unwrap();
    assert_eq!(path, "_dict/_list_2_components/0/_list_2_parameters/1/map");
    let array = array_at(&model, path).unwrap();
    assert_eq!(array.shape, vec![nav]);
    assert_eq!(array.bytes.len() as u64, 17 * nav);
    assert_eq!(
        tree["_dict"]["components"][1]["parameters"][0]["_twins"],
        json!([])
    );
    assert_eq!(tree["_dict"]["free_parameters_boundaries"], json!(null));
    assert_eq!(tree["dimensions"], "(3|4)");
}

/// Models stored beside a `.zspy` signal (`Analysis/models/<name>`, as HyperSpy's Zarr
/// writer stores them) are read with the signal they were fitted to; those emio cannot
/// keep (an array of text, a model of a signal the file lacks, one stored without its
/// signal, a damaged one) are each named in a warning, not dropped without a word, and the
/// signal is read all the same.
#[test]
fn zspy_models_not_kept_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fitted.zspy");
    let ds = sample_dataset();
    write("zspy", &ds, &path, &[]).unwrap();
    let signal = format!("/Experiments/{}", ds.title());
    let models = path.join("Analysis").join("models");
    let group = |dir: &Path, attrs: serde_json::Value| {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(".zgroup"), r#"{"zarr_format": 2}"#).unwrap();
        std::fs::write(dir.join(".zattrs"), attrs.to_string()).unwrap();
    };
    group(&path.join("Analysis"), json!({}));
    group(&models, json!({}));
    group(
        &models.join("kept"),
        json!({ "_signal": signal, "dimensions": "(4|3)" }),
    );
    group(&models.join("text"), json!({ "_signal": signal }));
    let names = models.join("text").join("names");
    std::fs::create_dir_all(&names).unwrap();
    let zarray = json!({
        "zarr_format": 2, "shape": [1], "chunks": [1], "dtype": "<U5", "fill_value": "",
        "order": "C", "filters": null, "compressor": null, "dimension_separator": "/",
    });
    std::fs::write(names.join(".zarray"), zarray.to_string()).unwrap();
    // A damaged model (its array's metadata is not JSON): named, the signal still read.
    group(&models.join("broken"), json!({ "_signal": signal }));
    let bad = models.join("broken").join("map");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join(".zarray"), "not json").unwrap();
    group(
        &models.join("other"),
        json!({ "_signal": "/Experiments/elsewhere" }),
    );
    group(&models.join("loose"), json!({}));
    let back = open_one("zspy", &path);
    let warnings = back.warnings().join("\n");
    let names: Vec<&str> = back.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["kept"], "{warnings}");
    assert_eq!(back.models[0].group.attrs["dimensions"], "(4|3)");
    assert!(!back.models[0].group.attrs.contains_key("_signal"));
    for expected in [
        "model \"text\"",
        "<U5",
        "model \"other\"",
        "not a signal of the file",
        "model \"loose\"",
        "stored without the signal",
        "model \"broken\"",
    ] {
        assert!(warnings.contains(expected), "{expected}: {warnings}");
    }
    assert!(!warnings.contains("\"kept\""), "{warnings}");
    assert_eq!(all_bytes(&back), all_bytes(&ds));
}
