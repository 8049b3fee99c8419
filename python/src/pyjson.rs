//! Metadata trees between serde_json and Python: JSON values become plain Python objects
//! (dict, list, str, int, float, bool, None) in their original key order.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};
use serde_json::Value;

/// A JSON value as the equivalent Python object.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|v| to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => tree_to_py(py, map)?.into_any(),
    })
}

/// A metadata tree as a Python dict.
pub fn tree_to_py<'py>(py: Python<'py>, tree: &emio::Tree) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in tree {
        dict.set_item(key, to_py(py, value)?)?;
    }
    Ok(dict)
}

/// Parse the JSON text of a metadata tree (made by `emio._convert.to_json`); an empty
/// text is an empty tree.
pub fn tree_from_json(text: &str) -> Result<emio::Tree, String> {
    if text.trim().is_empty() {
        return Ok(emio::Tree::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("metadata must be a dict, not {other}")),
        Err(e) => Err(format!("metadata is not valid JSON: {e}")),
    }
}
