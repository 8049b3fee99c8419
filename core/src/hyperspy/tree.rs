//! HyperSpy's dict-to-group encoding (rsciio's `HierarchicalReader._group2dict` and
//! `HierarchicalWriter.dict2group`), over any hierarchical store.
//!
//! Reading: attributes are leaves (`"_None_"` is null; `_list_empty_<k>` /
//! `_tuple_empty_<k>` are empty lists; `_bs_<k>` binary strings are kept under `<k>`;
//! `_datetime_date*` / `_datetime_time*` (format < 2) are ISO text); groups are subtrees,
//! except `_list_<n>_<k>` / `_tuple_<n>_<k>` groups, which are lists of their members
//! sorted by name as rsciio sorts them (as text: member `10` before `2`), and `_sig_<k>`
//! groups, which are signals stored in the metadata (given as rsciio's signal dictionary
//! `{metadata, original_metadata, attributes, package, package_version, data, axes}`);
//! arrays are (nested) lists, `_list_<k>` / `_tuple_<k>` ones under `<k>`.
//!
//! Writing: maps are groups, null is the attribute `"_None_"`, other scalars are
//! attributes, an empty list is the attribute `_list_empty_<k>`, a list of numbers,
//! booleans or strings is a `_list_<k>` array, and any other list is a `_list_<n>_<k>`
//! group of members `0`..`n-1`. A key holding `/` is stored with `-` (a store would nest it).

use serde_json::Value;

use crate::descent::Descent;
use crate::hyperspy::models::{StoredArray, StoredRead};
use crate::metadata::{value_f64, Tree};
use crate::{Error, Result, SignalPackage};

/// Deepest nesting of groups followed (a malformed file could nest without end).
pub const MAX_DEPTH: usize = 64;

/// What a member of a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Member {
    /// A group.
    Group,
    /// An array (HDF5 dataset, Zarr array) of `ndim` dimensions.
    Array {
        /// Number of dimensions.
        ndim: usize,
    },
}

/// Read access to a hierarchical store (an HDF5 file, a Zarr group tree).
pub trait TreeSource {
    /// The format name used in errors.
    fn format(&self) -> &'static str;
    /// The attributes of the group or array at `node`, as JSON values.
    fn attrs(&self, node: &str) -> Result<Tree>;
    /// The members of the group at `node`.
    fn members(&self, node: &str) -> Result<Vec<(String, Member)>>;
    /// The values of the (small) array at `node` as JSON nested by its shape, or a text
    /// summary when it is too large or of a type a tree cannot hold.
    fn array_value(&self, node: &str) -> Result<Value>;
    /// What identifies the group at `node` however it is reached (an HDF5 object's file
    /// address), for stores whose groups can be linked from several places or into a
    /// cycle; `None` (the default) where every group has one path, as in a directory tree.
    fn identity(&self, node: &str) -> Option<u64> {
        let _ = node;
        None
    }
    /// The array at `node` read whole with its element type (a model's arrays,
    /// [`crate::hyperspy::models`]), when it holds at most `max_bytes`; the default, for
    /// stores that cannot, says so.
    fn stored_array(&self, node: &str, max_bytes: u64) -> Result<StoredRead> {
        let _ = max_bytes;
        Ok(StoredRead::Unsupported(format!(
            "emio does not read arrays such as {node} from {} files",
            self.format()
        )))
    }
}

/// A list HyperSpy stores as a 1-D `_list_<k>` array.
#[derive(Debug, Clone, PartialEq)]
pub enum ListArray<'a> {
    /// 64-bit integers (NumPy's default integer).
    Ints(Vec<i64>),
    /// 64-bit floats (a list mixing integers and floats, or holding non-finite floats).
    Floats(Vec<f64>),
    /// Booleans.
    Bools(Vec<bool>),
    /// Text.
    Strings(Vec<&'a str>),
}

/// Write access to a hierarchical store.
pub trait TreeSink {
    /// Create the group `node` (and its parents) holding the scalar attributes `attrs`
    /// (strings, numbers, booleans); an existing group gains them.
    fn group(&mut self, node: &str, attrs: &Tree) -> Result<()>;
    /// Write the 1-D array `node`.
    fn list(&mut self, node: &str, values: &ListArray<'_>) -> Result<()>;
    /// Like [`TreeSink::group`], for attributes readers compare as text rather than decode
    /// (rsciio matches a model's `_signal` with the signal's group name as a Python `str`:
    /// HDF5 stores then write variable-length strings, as h5py does).
    fn group_with_text(&mut self, node: &str, attrs: &Tree) -> Result<()> {
        self.group(node, attrs)
    }
    /// Write the array `node` with its element type (a model's arrays,
    /// [`crate::hyperspy::models`]); the default, for stores that cannot, is an error.
    fn stored_array(&mut self, node: &str, array: &StoredArray) -> Result<()> {
        let _ = array;
        Err(Error::unsupported(
            "hyperspy",
            format!("a model's array ({node}) in this format"),
        ))
    }
}

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

/// The attributes of `node` folded into `tree` (rsciio's first loop).
fn add_attrs(src: &dyn TreeSource, node: &str, tree: &mut Tree) -> Result<()> {
    for (key, value) in src.attrs(node)? {
        let value = match value {
            Value::String(s) if s == "_None_" => Value::Null,
            other => other,
        };
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

/// HyperSpy's `_group2dict` of the group at `node`.
pub fn group2dict(src: &dyn TreeSource, node: &str) -> Result<Tree> {
    Walk::new(src).group(node, 0, &[])
}

/// [`group2dict`] of the group at `node` without its members named in `skip` (arrays read
/// otherwise, which are then neither read nor expanded here).
pub fn group2dict_except(src: &dyn TreeSource, node: &str, skip: &[&str]) -> Result<Tree> {
    Walk::new(src).group(node, 0, skip)
}

/// One walk down a group tree: each group is read once and no deeper than [`MAX_DEPTH`]
/// ([`Descent`]: a store whose groups are linked, as HDF5's, can loop or share them).
struct Walk<'a> {
    src: &'a dyn TreeSource,
    descent: Descent,
}

impl<'a> Walk<'a> {
    fn new(src: &'a dyn TreeSource) -> Self {
        Walk {
            src,
            descent: Descent::new(MAX_DEPTH),
        }
    }

    /// Check that the group at `node` is neither nested too deep nor met before.
    fn enter(&mut self, node: &str, depth: usize) -> Result<()> {
        let src = self.src;
        self.descent
            .enter(node, depth, src.identity(node))
            .map_err(|refusal| {
                Error::malformed_at_unknown(src.format(), refusal.expected("metadata", "identity"))
            })
    }

    /// `_group2dict` of the group at `node`, without its members named in `skip`.
    fn group(&mut self, node: &str, depth: usize, skip: &[&str]) -> Result<Tree> {
        self.enter(node, depth)?;
        let src = self.src;
        let mut tree = Tree::new();
        add_attrs(src, node, &mut tree)?;
        let mut members = src.members(node)?;
        members.sort();
        for (name, kind) in members {
            let child = join(node, &name);
            if name.starts_with("_ragged_shapes_") || skip.contains(&name.as_str()) {
                continue;
            }
            match kind {
                Member::Array { .. } => {
                    let value = src.array_value(&child)?;
                    let key = name
                        .strip_prefix("_list_")
                        .or_else(|| name.strip_prefix("_tuple_"))
                        .unwrap_or(&name);
                    tree.insert(key.to_string(), value);
                }
                Member::Group if name.starts_with("_sig_") => {
                    let signal = self.signal(&child, depth + 1)?;
                    tree.insert(name, Value::Object(signal));
                }
                Member::Group if name.starts_with("_hspy_AxesManager_") => {
                    let items = self.group(&child, depth + 1, &[])?;
                    tree.insert(name, sorted_values(items));
                }
                Member::Group => match counted_key(&name) {
                    Some(key) => {
                        let items = self.group(&child, depth + 1, &[])?;
                        tree.insert(key.to_string(), sorted_values(items));
                    }
                    None => {
                        let sub = self.group(&child, depth + 1, &[])?;
                        tree.insert(name, Value::Object(sub));
                    }
                },
            }
        }
        Ok(tree)
    }

    /// A signal stored in the metadata (`_sig_<name>` group) as rsciio's signal
    /// dictionary: metadata, original metadata, attributes (with learning results), package
    /// and version, its data (when small) and axes (one dictionary per `axis-<i>` group).
    fn signal(&mut self, group: &str, depth: usize) -> Result<Tree> {
        self.enter(group, depth)?;
        let src = self.src;
        let members = src.members(group)?;
        let kind = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, k)| *k);
        let mut sub = |name: &str| -> Result<Tree> {
            match kind(name) {
                Some(Member::Group) => self.group(&join(group, name), depth + 1, &[]),
                _ => Ok(Tree::new()),
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
            if kind(key) == Some(Member::Group) {
                attributes.insert(key.into(), Value::Object(sub(key)?));
            }
        }
        out.insert("attributes".into(), Value::Object(attributes));
        out.extend(package_attrs(signal_package(src, group)?.as_ref()));
        if let Some(Member::Array { ndim }) = kind("data") {
            out.insert("data".into(), src.array_value(&join(group, "data"))?);
            let axes = (0..ndim)
                .map(|i| sub(&format!("axis-{i}")).map(Value::Object))
                .collect::<Result<Vec<_>>>()?;
            out.insert("axes".into(), Value::Array(axes));
        }
        Ok(out)
    }
}

/// The members of a list group, sorted by name as rsciio does (`sorted(d.items())`).
fn sorted_values(items: Tree) -> Value {
    let mut items: Vec<(String, Value)> = items.into_iter().collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(items.into_iter().map(|(_, v)| v).collect())
}

/// The package of the signal stored in `group` (its `package` and `package_version`
/// attributes; `None` where the file has neither, as HyperSpy 1.x files).
pub fn signal_package(src: &dyn TreeSource, group: &str) -> Result<Option<SignalPackage>> {
    let attrs = src.attrs(group)?;
    let text = |key: &str| match attrs.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    Ok(match (text("package"), text("package_version")) {
        (None, None) => None,
        (name, version) => Some(SignalPackage {
            name: name.unwrap_or_default(),
            version: version.unwrap_or_default(),
        }),
    })
}

/// The `package` and `package_version` attributes of a signal group, as HyperSpy writes
/// them (empty strings for a signal of no recorded package).
pub fn package_attrs(package: Option<&SignalPackage>) -> Tree {
    let (name, version) = package.map_or(("", ""), |p| (p.name.as_str(), p.version.as_str()));
    let mut attrs = Tree::new();
    attrs.insert("package".into(), name.into());
    attrs.insert("package_version".into(), version.into());
    attrs
}

/// A key as a group or array name: `/` would nest, so it becomes `-`; an empty key `_`.
pub fn node_name(key: &str) -> String {
    if key.is_empty() {
        "_".into()
    } else {
        key.replace('/', "-")
    }
}

fn is_special_float(v: &Value) -> bool {
    matches!(v.as_str(), Some("NaN" | "Infinity" | "-Infinity"))
}

/// The `_list_<k>` array a list is stored as, `None` when it needs a `_list_<n>_<k>` group
/// (nested lists, maps, nulls, mixed types: NumPy would make an object array of them).
fn list_array(items: &[Value]) -> Option<ListArray<'_>> {
    if items.iter().all(|v| v.as_i64().is_some()) {
        Some(ListArray::Ints(
            items.iter().filter_map(Value::as_i64).collect(),
        ))
    } else if items.iter().all(|v| v.is_number() || is_special_float(v))
        && items.iter().any(Value::is_number)
    {
        Some(ListArray::Floats(
            items
                .iter()
                .map(|v| value_f64(v).unwrap_or(f64::NAN))
                .collect(),
        ))
    } else if items.iter().all(Value::is_boolean) {
        Some(ListArray::Bools(
            items.iter().filter_map(Value::as_bool).collect(),
        ))
    } else if items.iter().all(Value::is_string) {
        Some(ListArray::Strings(
            items.iter().filter_map(Value::as_str).collect(),
        ))
    } else {
        None
    }
}

/// Nest a flat C-order list of an array's values by its `shape` (0-D is the single value).
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

/// HyperSpy's `dict2group`: `tree` written into the group `node` of `sink`.
pub fn dict2group(sink: &mut dyn TreeSink, node: &str, tree: &Tree) -> Result<()> {
    let mut attrs = Tree::new();
    for (key, value) in tree {
        match value {
            Value::Object(map) => dict2group(sink, &join(node, &node_name(key)), map)?,
            Value::Null => {
                attrs.insert(key.clone(), "_None_".into());
            }
            Value::Array(items) if items.is_empty() => {
                attrs.insert(format!("_list_empty_{key}"), "_None_".into());
            }
            Value::Array(items) => match list_array(items) {
                Some(list) => {
                    sink.list(&join(node, &format!("_list_{}", node_name(key))), &list)?
                }
                None => {
                    let indexed: Tree = items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (i.to_string(), v.clone()))
                        .collect();
                    let group = join(node, &format!("_list_{}_{}", items.len(), node_name(key)));
                    dict2group(sink, &group, &indexed)?;
                }
            },
            scalar => {
                attrs.insert(key.clone(), scalar.clone());
            }
        }
    }
    sink.group(node, &attrs)
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

    #[test]
    fn lists_become_typed_arrays_or_groups() {
        let v = |s: &str| -> Vec<Value> { serde_json::from_str(s).unwrap() };
        assert_eq!(list_array(&v("[1, 2]")), Some(ListArray::Ints(vec![1, 2])));
        assert_eq!(
            list_array(&v(r#"[1, 2.5, "NaN"]"#)).map(|l| matches!(l, ListArray::Floats(_))),
            Some(true)
        );
        assert_eq!(list_array(&v("[true]")), Some(ListArray::Bools(vec![true])));
        assert_eq!(
            list_array(&v(r#"["a"]"#)),
            Some(ListArray::Strings(vec!["a"]))
        );
        assert_eq!(list_array(&v(r#"[1, "a"]"#)), None);
        assert_eq!(list_array(&v("[[1], [2]]")), None);
    }
}
