//! Metadata trees: ordered JSON maps for HyperSpy's normalized tree and for the file's own
//! original metadata, with helpers for dotted paths and non-finite floats.

use serde_json::{Map, Number, Value};

/// An ordered tree of string keys to JSON-like values (insertion order is kept).
pub type Tree = Map<String, Value>;

/// A float as JSON: finite values as numbers, non-finite ones as the strings `"NaN"`,
/// `"Infinity"` and `"-Infinity"` (JSON has no spelling for them).
pub fn json_f64(x: f64) -> Value {
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => Value::String("NaN".into()),
        None if x > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// Read a float back from a value written by [`json_f64`] (or any JSON number).
pub fn value_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Native-endian values of a real dtype as JSON numbers: integers as integers (64-bit ones
/// exactly), floats by [`json_f64`], booleans as booleans; `None` for complex and RGB.
pub fn numbers_json(dtype: crate::DType, bytes: &[u8]) -> Option<Vec<Value>> {
    let n = bytes.len() / dtype.size().max(1);
    let array = crate::ArrayData::fill(dtype, &[n], n * dtype.size(), |out| {
        out.copy_from_slice(&bytes[..out.len()]);
        Ok(())
    })
    .ok()?;
    Some(match array {
        crate::ArrayData::Bool(a) => a.iter().map(|&b| Value::Bool(b)).collect(),
        crate::ArrayData::I64(a) => a.iter().map(|&x| Value::from(x)).collect(),
        crate::ArrayData::U64(a) => a.iter().map(|&x| Value::from(x)).collect(),
        // Integers of up to 32 bits are exact as f64.
        other if dtype.is_integer() => other
            .to_f64()?
            .iter()
            .map(|&x| Value::from(x as i64))
            .collect(),
        other => other.to_f64()?.iter().map(|&x| json_f64(x)).collect(),
    })
}

/// Set `value` at a dotted path (`"Acquisition_instrument.TEM.beam_energy"`), creating
/// intermediate maps and replacing non-map values in the way.
pub fn set_path(tree: &mut Tree, path: &str, value: impl Into<Value>) {
    let mut keys = path.split('.').peekable();
    let mut node = tree;
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            node.insert(key.to_string(), value.into());
            return;
        }
        let entry = node
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        node = entry.as_object_mut().expect("just made an object");
    }
}

/// The value at a dotted path, if present.
pub fn get_path<'a>(tree: &'a Tree, path: &str) -> Option<&'a Value> {
    let mut keys = path.split('.');
    let first = keys.next()?;
    let mut value = tree.get(first)?;
    for key in keys {
        value = value.as_object()?.get(key)?;
    }
    Some(value)
}

/// A float at a dotted path, if present and numeric.
pub fn get_f64(tree: &Tree, path: &str) -> Option<f64> {
    get_path(tree, path).and_then(value_f64)
}

/// A string at a dotted path, if present and a string.
pub fn get_str<'a>(tree: &'a Tree, path: &str) -> Option<&'a str> {
    get_path(tree, path).and_then(Value::as_str)
}

/// Merge `other` into `tree`: maps merge recursively, other values replace.
pub fn merge(tree: &mut Tree, other: Tree) {
    for (key, value) in other {
        match (tree.get_mut(&key), value) {
            (Some(Value::Object(mine)), Value::Object(theirs)) => merge(mine, theirs),
            (_, value) => {
                tree.insert(key, value);
            }
        }
    }
}

/// The file name of `path` as `General.original_filename` records it (lossy UTF-8; empty
/// when the path has none).
pub fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The minimal normalized tree every dataset carries.
pub fn base_metadata(title: &str, original_filename: &str, signal_type: &str) -> Tree {
    let mut tree = Tree::new();
    set_path(&mut tree, "General.title", title);
    set_path(&mut tree, "General.original_filename", original_filename);
    set_path(&mut tree, "Signal.signal_type", signal_type);
    tree
}

/// Visit every leaf (non-map value, or an empty map below the top) with its key path.
pub fn for_each_leaf<'a>(tree: &'a Tree, f: &mut dyn FnMut(&[&'a str], &'a Value)) {
    fn walk<'a>(tree: &'a Tree, path: &mut Vec<&'a str>, f: &mut dyn FnMut(&[&'a str], &'a Value)) {
        for (key, value) in tree {
            path.push(key);
            match value {
                Value::Object(map) if !map.is_empty() => walk(map, path, f),
                _ => f(path, value),
            }
            path.pop();
        }
    }
    walk(tree, &mut Vec::new(), f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths() {
        let mut t = Tree::new();
        set_path(&mut t, "A.B.c", 3.5);
        set_path(&mut t, "A.d", "x");
        assert_eq!(get_f64(&t, "A.B.c"), Some(3.5));
        assert_eq!(get_str(&t, "A.d"), Some("x"));
        assert!(get_path(&t, "A.B.z").is_none());
        let mut leaves = Vec::new();
        for_each_leaf(&t, &mut |p, _| leaves.push(p.join(".")));
        assert_eq!(leaves, ["A.B.c", "A.d"]);
    }

    #[test]
    fn non_finite_floats_are_strings() {
        assert_eq!(json_f64(f64::NAN), Value::String("NaN".into()));
        assert_eq!(
            value_f64(&json_f64(f64::NEG_INFINITY)),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(value_f64(&json_f64(2.5)), Some(2.5));
    }
}
