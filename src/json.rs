//! The JSON documents of emio's command-line tool and of the tools built on it (the fuzz
//! targets, Python's `emio.probe`): a dataset described as `emconvert info --json` prints it
//! (`shared/info.schema.json`). The model ([`Dataset`]) knows nothing of this format.

use serde_json::{json, Map, Value};

use crate::Dataset;

/// `dataset` (number `index` of its file) as the JSON object of `emconvert info --json`:
/// title, NumPy dtype (and the fields of structured ones), shape, axes, warnings, the
/// HyperSpy metadata tree and, with `original`, the file's own metadata.
pub fn dataset_info(dataset: &Dataset, index: usize, original: bool) -> Value {
    let mut obj = Map::new();
    obj.insert("index".into(), json!(index));
    obj.insert("title".into(), json!(dataset.title()));
    let dtype = dataset.dtype();
    obj.insert("dtype".into(), json!(dataset.numpy_str()));
    if let Some(fields) = dtype.numpy_fields() {
        obj.insert("dtype_fields".into(), json!(fields));
    }
    if let Some(items) = dataset.ragged() {
        obj.insert("ragged_element".into(), json!(items.element().numpy_str()));
    }
    obj.insert("shape".into(), json!(dataset.shape()));
    let axes: Vec<Value> = dataset
        .axes
        .iter()
        .zip(dataset.shape())
        .map(|(a, &n)| a.to_json(n))
        .collect();
    obj.insert("axes".into(), Value::Array(axes));
    if !dataset.warnings().is_empty() {
        obj.insert("warnings".into(), json!(dataset.warnings()));
    }
    obj.insert("metadata".into(), Value::Object(dataset.metadata.clone()));
    if original {
        obj.insert(
            "original_metadata".into(),
            Value::Object(dataset.original_metadata.clone()),
        );
    }
    Value::Object(obj)
}
