//! HDF5 attribute values as JSON: numbers, arrays and strings as h5py reads them, and
//! booleans from h5py's 0/1 enumeration.

use std::collections::HashMap;

use emio_core::metadata::{json_f64, Tree};
use emio_core::serde_json::Value;
use hdf5_pure::AttrValue;

/// Convert one attribute value to JSON.
pub fn attr_to_json(v: &AttrValue) -> Option<Value> {
    fn arr<T: Copy>(v: &[T], f: impl Fn(T) -> Value) -> Value {
        Value::Array(v.iter().map(|x| f(*x)).collect())
    }
    let f = |x: f64| json_f64(x);
    Some(match v {
        AttrValue::F32(x) => f(f64::from(*x)),
        AttrValue::F64(x) => f(*x),
        AttrValue::I8(x) => Value::from(*x),
        AttrValue::I16(x) => Value::from(*x),
        AttrValue::I32(x) => Value::from(*x),
        AttrValue::I64(x) => Value::from(*x),
        AttrValue::U8(x) => Value::from(*x),
        AttrValue::U16(x) => Value::from(*x),
        AttrValue::U32(x) => Value::from(*x),
        AttrValue::U64(x) => Value::from(*x),
        AttrValue::F32Array(v) => arr(v, |x| f(f64::from(x))),
        AttrValue::F64Array(v) => arr(v, f),
        AttrValue::I8Array(v) => arr(v, Value::from),
        AttrValue::I16Array(v) => arr(v, Value::from),
        AttrValue::I32Array(v) => arr(v, Value::from),
        AttrValue::I64Array(v) => arr(v, Value::from),
        AttrValue::U8Array(v) => arr(v, Value::from),
        AttrValue::U16Array(v) => arr(v, Value::from),
        AttrValue::U32Array(v) => arr(v, Value::from),
        AttrValue::U64Array(v) => arr(v, Value::from),
        other => {
            if let Some(s) = other.as_str() {
                Value::from(s.trim_end_matches('\0'))
            } else if let Some(list) = other.as_strings() {
                Value::Array(
                    list.iter()
                        .map(|s| Value::from(s.trim_end_matches('\0')))
                        .collect(),
                )
            } else {
                return None;
            }
        }
    })
}

/// 0/1 numbers (or arrays of them) as JSON booleans.
pub(crate) fn to_bools(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(to_bools).collect()),
        Value::Number(n) => Value::Bool(n.as_f64() != Some(0.0)),
        other => other.clone(),
    }
}

/// The attributes as a JSON tree sorted by name (h5py's order), leaving out values of
/// types that have no JSON form.
pub(crate) fn attrs_to_tree(map: HashMap<String, AttrValue>) -> Tree {
    let mut items: Vec<(String, AttrValue)> = map.into_iter().collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
        .into_iter()
        .filter_map(|(k, v)| attr_to_json(&v).map(|j| (k, j)))
        .collect()
}
