//! HyperSpy's group-to-dict conventions (rsciio's `HierarchicalReader._group2dict`): a
//! group's attributes and members as a JSON tree.
//!
//! Attributes are leaves (`"_None_"` is null; `_list_empty_<k>` / `_tuple_empty_<k>` are
//! empty lists; `_datetime_date*` / `_datetime_time*` (format < 2) are ISO text); groups
//! are subtrees, except `_list_<n>_<k>` / `_tuple_<n>_<k>` groups, which are lists of
//! their members sorted by name, and `_sig_<k>` groups, which are signals stored in the
//! metadata (given as `{metadata, original_metadata, attributes, axes, data}`); datasets
//! are (nested) lists, `_list_<k>` / `_tuple_<k>` ones under `<k>`. Datasets larger than
//! [`MAX_EXPANDED`] elements are summarised as text rather than expanded.

use emio_core::metadata::json_f64;
use emio_core::serde_json::Value;
use emio_core::{DType, Result, Tree};
use emio_h5::{Element, H5File};

/// Largest metadata dataset (in elements) expanded into the tree.
pub const MAX_EXPANDED: u64 = 1 << 16;

/// Deepest nesting of groups followed (a malformed file could nest without end).
const MAX_DEPTH: usize = 64;

/// `group/name`, without doubled slashes.
pub fn join(group: &str, name: &str) -> String {
    format!("{}/{name}", group.trim_end_matches('/'))
}

/// The key of a `_list_<n>_<k>` / `_tuple_<n>_<k>` group, as rsciio slices it.
fn counted_key(name: &str) -> Option<&str> {
    let rest = name
        .strip_prefix("_list_")
        .or_else(|| name.strip_prefix("_tuple_"))?;
    rest.split_once('_').map(|(_, key)| key)
}

/// `datetime.date(2014, 7, 9)` / `datetime.time(18, 56, 37)` as ISO text.
fn python_datetime(text: &str, date: bool) -> Option<String> {
    let inner = text.get(text.find('(')? + 1..text.rfind(')')?)?;
    let parts: Vec<u32> = inner
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| parts.get(i).copied().unwrap_or(0);
    Some(if date {
        format!("{:04}-{:02}-{:02}", at(0), at(1), at(2))
    } else {
        format!("{:02}:{:02}:{:02}", at(0), at(1), at(2))
    })
}

/// One attribute as rsciio gives it: `"_None_"` is null.
fn attr_value(v: Value) -> Value {
    match v {
        Value::String(s) if s == "_None_" => Value::Null,
        other => other,
    }
}

/// The attributes of `path` folded into `tree` (rsciio's first loop).
fn add_attrs(f: &H5File, path: &str, tree: &mut Tree) -> Result<()> {
    for (key, value) in f.attrs(path)? {
        let value = attr_value(value);
        if key.starts_with("_sig_") {
            continue;
        } else if let Some(k) = key
            .strip_prefix("_list_empty_")
            .or_else(|| key.strip_prefix("_tuple_empty_"))
        {
            tree.insert(k.to_string(), Value::Array(Vec::new()));
        } else if let Some(k) = key.strip_prefix("_bs_") {
            tree.insert(k.to_string(), value);
        } else if key.starts_with("_datetime_") {
            let k = key.replace("_datetime_", "");
            let date = key.starts_with("_datetime_date");
            let iso = value
                .as_str()
                .and_then(|t| python_datetime(t, date))
                .map_or(value, Value::String);
            tree.insert(k, iso);
        } else {
            tree.insert(key, value);
        }
    }
    Ok(())
}

/// HyperSpy's `_group2dict` of the group at `path`.
pub fn group2dict(f: &H5File, path: &str) -> Result<Tree> {
    walk(f, path, 0)
}

fn walk(f: &H5File, path: &str, depth: usize) -> Result<Tree> {
    if depth > MAX_DEPTH {
        return Err(emio_core::Error::malformed_at_unknown(
            "hspy",
            format!("metadata groups nested at most {MAX_DEPTH} deep (at {path})"),
        ));
    }
    let mut tree = Tree::new();
    add_attrs(f, path, &mut tree)?;
    let groups = f.groups(path)?;
    let datasets = f.datasets(path)?;
    let mut members: Vec<(&String, bool)> = groups
        .iter()
        .map(|g| (g, true))
        .chain(datasets.iter().map(|d| (d, false)))
        .collect();
    members.sort();
    for (name, is_group) in members {
        let child = join(path, name);
        if name.starts_with("_ragged_shapes_") {
            continue;
        }
        if !is_group {
            let value = dataset_value(f, &child)?;
            let key = name
                .strip_prefix("_list_")
                .or_else(|| name.strip_prefix("_tuple_"))
                .unwrap_or(name);
            tree.insert(key.to_string(), value);
        } else if name.starts_with("_sig_") {
            let signal = signal_tree(f, &child, depth + 1)?;
            tree.insert(name.clone(), Value::Object(signal));
        } else if name.starts_with("_hspy_AxesManager_") {
            let items = walk(f, &child, depth + 1)?;
            tree.insert(name.clone(), sorted_values(items));
        } else if let Some(key) = counted_key(name) {
            let items = walk(f, &child, depth + 1)?;
            tree.insert(key.to_string(), sorted_values(items));
        } else {
            tree.insert(name.clone(), Value::Object(walk(f, &child, depth + 1)?));
        }
    }
    Ok(tree)
}

/// The members of a list group, sorted by name as rsciio does (`sorted(d.items())`).
fn sorted_values(items: Tree) -> Value {
    let mut items: Vec<(String, Value)> = items.into_iter().collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(items.into_iter().map(|(_, v)| v).collect())
}

/// A metadata dataset's values as JSON (nested by shape), or a summary when it is too
/// large or of a type metadata cannot hold.
pub fn dataset_value(f: &H5File, path: &str) -> Result<Value> {
    let ds = f.dataset(path)?;
    let summary = |what: &str| {
        Value::String(format!(
            "<{what} array of shape {:?} not expanded>",
            ds.shape
        ))
    };
    if ds.len() > MAX_EXPANDED {
        return Ok(summary("large"));
    }
    let flat: Vec<Value> = match &ds.element {
        Element::Str => ds.read_strings()?.into_iter().map(Value::String).collect(),
        Element::Numeric(dtype, _) => match numbers(*dtype, &ds.read_bytes()?) {
            Some(v) => v,
            None => return Ok(summary(dtype.name())),
        },
        _ => return Ok(summary("non-numeric")),
    };
    Ok(nest(&flat, &ds.shape))
}

/// Native-endian values of a real dtype as JSON numbers (booleans as booleans).
pub fn numbers(dtype: DType, bytes: &[u8]) -> Option<Vec<Value>> {
    if dtype == DType::Bool {
        return Some(bytes.iter().map(|&b| Value::Bool(b != 0)).collect());
    }
    let values = emio_h5::to_f64(dtype, bytes)?;
    Some(
        values
            .into_iter()
            .map(|x| {
                if dtype.is_integer() && x.abs() < 9.0e15 {
                    Value::from(x as i64)
                } else {
                    json_f64(x)
                }
            })
            .collect(),
    )
}

/// Nest a flat C-order list by `shape` (0-D is the single value).
pub fn nest(flat: &[Value], shape: &[u64]) -> Value {
    match shape {
        [] => flat.first().cloned().unwrap_or(Value::Null),
        [_] => Value::Array(flat.to_vec()),
        [n, rest @ ..] => {
            let step = flat.len() / (*n as usize).max(1);
            Value::Array(
                (0..*n as usize)
                    .map(|i| nest(&flat[i * step..(i + 1) * step], rest))
                    .collect(),
            )
        }
    }
}

/// A signal stored in the metadata (`_sig_<name>` group) as rsciio's signal dictionary:
/// metadata, original metadata, attributes (with learning results), package and version,
/// axes (one dictionary per `axis-<i>` group), and its data when small.
fn signal_tree(f: &H5File, group: &str, depth: usize) -> Result<Tree> {
    let sub = |name: &str| -> Result<Tree> {
        let p = join(group, name);
        if f.is_group(&p) {
            walk(f, &p, depth + 1)
        } else {
            Ok(Tree::new())
        }
    };
    let mut out = Tree::new();
    out.insert("metadata".into(), Value::Object(sub("metadata")?));
    out.insert(
        "original_metadata".into(),
        Value::Object(sub("original_metadata")?),
    );
    let mut attributes = sub("attributes")?;
    for key in ["learning_results", "peak_learning_results"] {
        if f.is_group(&join(group, key)) {
            attributes.insert(key.into(), Value::Object(sub(key)?));
        }
    }
    out.insert("attributes".into(), Value::Object(attributes));
    let attrs = f.attrs(group)?;
    for key in ["package", "package_version"] {
        let v = attrs.get(key).cloned().unwrap_or_else(|| Value::from(""));
        out.insert(key.into(), v);
    }
    let data = join(group, "data");
    if f.is_dataset(&data) {
        let ndim = f.dataset(&data)?.shape.len();
        out.insert("data".into(), dataset_value(f, &data)?);
        let axes = (0..ndim)
            .map(|i| sub(&format!("axis-{i}")).map(Value::Object))
            .collect::<Result<Vec<_>>>()?;
        out.insert("axes".into(), Value::Array(axes));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_dates_become_iso_text() {
        assert_eq!(
            python_datetime("datetime.date(2014, 7, 9)", true).as_deref(),
            Some("2014-07-09")
        );
        assert_eq!(
            python_datetime("datetime.time(18, 5, 37)", false).as_deref(),
            Some("18:05:37")
        );
        assert_eq!(python_datetime("garbage", true), None);
    }

    #[test]
    fn counted_list_keys_are_sliced_as_rsciio_does() {
        assert_eq!(
            counted_key("_list_3_list_inside_list"),
            Some("list_inside_list")
        );
        assert_eq!(counted_key("_tuple_2_x"), Some("x"));
        assert_eq!(counted_key("plain"), None);
    }

    #[test]
    fn nest_follows_the_shape() {
        let flat: Vec<Value> = (0..6).map(Value::from).collect();
        assert_eq!(nest(&flat, &[2, 3]).to_string(), "[[0,1,2],[3,4,5]]");
        assert_eq!(nest(&flat[..1], &[]), Value::from(0));
    }
}
