//! HyperSpy's models (`s.models`: the components fitted to a signal, their parameters and
//! parameter maps), stored in both of its formats as `Analysis/models/<name>` groups whose
//! `_signal` attribute names the group of the signal they were fitted to.
//!
//! A model is kept as stored ([`StoredGroup`]): the attributes of every group as the store
//! gives them (HyperSpy's `_list_` / `_tuple_` / `_None_` encodings left as they are), its
//! subgroups, and its arrays read whole with their element type ([`StoredArray`]: a
//! parameter's `map` is a record of `values`, `std` and `is_set` per navigation position).
//! Writing a model back replays that, so a model HyperSpy stored comes back to HyperSpy
//! exactly, whichever of its formats it passes through. For Python, [`decoded`] gives the
//! dictionary rsciio returns (its `_group2dict`), with each array left as a placeholder for
//! the binding to fill; [`from_decoded`] is the way back (`dict2group`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::dataset::Dataset;
use crate::descent::Descent;
use crate::dtype::{ByteOrder, DType};
use crate::error::{Error, Result};
use crate::hyperspy::tree::{
    dict2group, group2dict, join, ListArray, Member, TreeSink, TreeSource, MAX_DEPTH,
};
use crate::metadata::Tree;
use crate::source::element_count;

/// Where HyperSpy stores the models fitted to its signals.
pub const MODELS: &str = "/Analysis/models";

/// The attribute of a model's group naming the group of its signal.
const SIGNAL_ATTR: &str = "_signal";

/// Most bytes of arrays the models of one file may hold in memory (they are read whole on
/// open; a parameter map holds 17 bytes per navigation position: 256 MiB is 15 parameters
/// over a 1024 x 1024 scan). Models beyond it are not read, and the signal says so.
pub const MAX_MODEL_BYTES: u64 = 256 << 20;

/// The bytes of arrays the models of a `file_size`-byte file may hold: 8 times the file
/// (models are stored data; compressed ones may hold more than they take), at least
/// 1 MiB, at most [`MAX_MODEL_BYTES`].
pub fn budget_for_file(file_size: u64) -> u64 {
    file_size.saturating_mul(8).clamp(1 << 20, MAX_MODEL_BYTES)
}

/// What a store gives for an array of a model ([`TreeSource::stored_array`]).
#[derive(Debug, Clone, PartialEq)]
pub enum StoredRead {
    /// The array, read whole.
    Array(StoredArray),
    /// Not read: it holds this many bytes, more than the models may still take.
    TooLarge(u64),
    /// Not read: the store cannot give arrays with their element type, or this array's
    /// element type is not one a model can hold (strings, nested records).
    Unsupported(String),
}

/// The key of the placeholder object [`decoded`] puts where an array was.
pub const ARRAY_PLACEHOLDER: &str = "__emio_model_array__";

/// The element type of a stored array: one dtype, or a record of named members (NumPy's
/// structured dtype, HDF5's compound type), packed in order without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredElement {
    /// One number (or bool) per element.
    Plain(DType),
    /// Named members per element.
    Record(Vec<(String, DType)>),
}

impl StoredElement {
    /// Bytes per element.
    pub fn size(&self) -> usize {
        match self {
            StoredElement::Plain(d) => d.size(),
            StoredElement::Record(fields) => fields.iter().map(|(_, d)| d.size()).sum(),
        }
    }

    /// NumPy's description (`"<f8"`, or `[["values", "<f8"], ...]` for a record), as
    /// `numpy.dtype` takes it and Zarr v2 stores it.
    pub fn numpy_descr(&self) -> Value {
        match self {
            StoredElement::Plain(d) => Value::from(d.numpy_str()),
            StoredElement::Record(fields) => fields
                .iter()
                .map(|(name, d)| Value::from(vec![name.as_str(), d.numpy_str()]))
                .collect(),
        }
    }

    /// The element NumPy's description `descr` names ([`Self::numpy_descr`]) and the byte
    /// order of each of its members; `None` for what a model cannot hold (nested records,
    /// strings, objects).
    pub fn from_numpy_descr(descr: &Value) -> Option<(StoredElement, Vec<ByteOrder>)> {
        let plain = |s: &str| DType::from_numpy_str(s).ok().filter(|(d, _)| !d.is_rgb());
        match descr {
            Value::String(s) => plain(s).map(|(d, o)| (StoredElement::Plain(d), vec![o])),
            Value::Array(fields) if !fields.is_empty() => {
                let members = fields
                    .iter()
                    .map(|f| match f.as_array().map(Vec::as_slice) {
                        Some([Value::String(name), Value::String(t)]) => {
                            plain(t).map(|(d, o)| ((name.clone(), d), o))
                        }
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                let (fields, orders) = members.into_iter().unzip();
                Some((StoredElement::Record(fields), orders))
            }
            _ => None,
        }
    }

    /// Reverse the bytes of member `i` of every element of `bytes` where `swap[i]` (a
    /// member stored in the other byte order).
    pub fn swap_members(&self, bytes: &mut [u8], swap: &[bool]) {
        let members = self.members();
        if !swap.iter().any(|&s| s) {
            return;
        }
        for element in bytes.chunks_exact_mut(self.size().max(1)) {
            for ((at, dtype), _) in members.iter().zip(swap).filter(|(_, &s)| s) {
                let member = &mut element[*at..*at + dtype.size()];
                crate::dtype::swap_bytes_in_place(member, dtype.swap_unit());
            }
        }
    }

    /// Per member: its offset in an element, dtype (one member for a plain element).
    pub fn members(&self) -> Vec<(usize, DType)> {
        match self {
            StoredElement::Plain(d) => vec![(0, *d)],
            StoredElement::Record(fields) => {
                let mut at = 0;
                fields
                    .iter()
                    .map(|(_, d)| {
                        let member = (at, *d);
                        at += d.size();
                        member
                    })
                    .collect()
            }
        }
    }
}

/// An array of a model, read whole: element type, C-order shape and values (C order,
/// native byte order, records packed).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredArray {
    /// What each element is.
    pub element: StoredElement,
    /// C-order shape.
    pub shape: Vec<u64>,
    /// The values.
    pub bytes: Vec<u8>,
}

impl StoredArray {
    /// An array of `element`s of `shape` holding `bytes`, checked to be exactly its size.
    pub fn new(element: StoredElement, shape: Vec<u64>, bytes: Vec<u8>) -> Result<StoredArray> {
        let expected = element_count(&shape).and_then(|n| n.checked_mul(element.size() as u64));
        if expected != Some(bytes.len() as u64) {
            return Err(Error::Layout(format!(
                "{} bytes for a model array of shape {shape:?} and elements {} ({expected:?} \
                 expected)",
                bytes.len(),
                element.numpy_descr()
            )));
        }
        Ok(StoredArray {
            element,
            shape,
            bytes,
        })
    }
}

/// A group of a model as stored: attributes (undecoded), subgroups and arrays by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredGroup {
    /// The attributes, as the store gives them.
    pub attrs: Tree,
    /// The subgroups.
    pub groups: BTreeMap<String, StoredGroup>,
    /// The arrays.
    pub arrays: BTreeMap<String, StoredArray>,
}

impl StoredGroup {
    /// The group at `node` (`/a/b`, relative to this one).
    fn at(&self, node: &str) -> Option<&StoredGroup> {
        node.split('/')
            .filter(|p| !p.is_empty())
            .try_fold(self, |g, name| g.groups.get(name))
    }

    /// The array at `node`.
    fn array_at(&self, node: &str) -> Option<&StoredArray> {
        let (parent, name) = node.rsplit_once('/').unwrap_or(("", node));
        self.at(parent)?.arrays.get(name)
    }
}

/// A model HyperSpy stored with a signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Its name in `s.models` (the group's name).
    pub name: String,
    /// Its group, without the `_signal` attribute (the writer sets it to the signal's
    /// group in the output).
    pub group: StoredGroup,
}

/// Read the models of the signals of `src` (`datasets[i]`, stored in group `groups[i]`,
/// e.g. `/Experiments/<title>`) into their [`Dataset::models`]. A model whose `_signal`
/// names no signal's group, one without `_signal` (rsciio returns those on their own), and
/// every model of a store that cannot give arrays with their element type, and models past
/// `max_bytes` of arrays in all, and damaged ones (the error is given), are not read: each
/// signal they may concern is warned instead, and its data stays readable. A store whose
/// models cannot be listed reads none.
pub fn read(src: &dyn TreeSource, groups: &[String], datasets: &mut [Dataset], max_bytes: u64) {
    let members = src.members(MODELS).unwrap_or_default();
    let mut budget = max_bytes;
    for (name, _) in members.iter().filter(|(_, m)| *m == Member::Group) {
        let node = join(MODELS, name);
        let mut attrs = match src.attrs(&node) {
            Ok(attrs) => attrs,
            Err(e) => {
                for ds in datasets.iter_mut() {
                    ds.warn(format!("the model {name:?} ({node}) is not read: {e}"));
                }
                continue;
            }
        };
        let owner = match attrs.remove(SIGNAL_ATTR) {
            Some(Value::String(owner)) => Some(owner),
            _ => None,
        };
        let signal = owner
            .as_deref()
            .and_then(|o| groups.iter().position(|g| g == o));
        let Some(i) = signal else {
            let why = match &owner {
                Some(o) => format!("fitted to {o}, which is not a signal of the file"),
                None => "stored without the signal it was fitted to".to_string(),
            };
            for ds in datasets.iter_mut() {
                ds.warn(format!("the model {name:?} ({node}) is not read: {why}"));
            }
            continue;
        };
        let mut walk = Walk {
            src,
            descent: Descent::new(MAX_DEPTH),
            budget: &mut budget,
            limit: max_bytes,
            skipped: None,
        };
        let why = match walk.group(&node, 0) {
            Ok(Some(mut group)) => {
                group.attrs = attrs;
                datasets[i].models.push(Model {
                    name: name.clone(),
                    group,
                });
                continue;
            }
            Ok(None) => walk.skipped.unwrap_or_default(),
            Err(e) => e.to_string(),
        };
        datasets[i].warn(format!(
            "the model {name:?} ({node}) fitted to this signal is not read: {why}"
        ));
    }
}

/// One walk down a model's groups ([`Descent`]: linked stores can loop or share groups).
struct Walk<'a> {
    src: &'a dyn TreeSource,
    descent: Descent,
    /// Bytes of arrays still allowed.
    budget: &'a mut u64,
    /// Bytes of arrays allowed in all.
    limit: u64,
    /// Why the model was not read.
    skipped: Option<String>,
}

impl Walk<'_> {
    /// The group at `node`; `None` (and why in `skipped`) when an array of it is not read.
    fn group(&mut self, node: &str, depth: usize) -> Result<Option<StoredGroup>> {
        let src = self.src;
        self.descent
            .enter(node, depth, src.identity(node))
            .map_err(|refusal| {
                Error::malformed_at_unknown(src.format(), refusal.expected("model", "identity"))
            })?;
        let mut group = StoredGroup {
            attrs: src.attrs(node)?,
            ..StoredGroup::default()
        };
        for (name, member) in src.members(node)? {
            let child = join(node, &name);
            match member {
                Member::Group => match self.group(&child, depth + 1)? {
                    Some(sub) => {
                        group.groups.insert(name, sub);
                    }
                    None => return Ok(None),
                },
                Member::Array { .. } => match src.stored_array(&child, *self.budget)? {
                    StoredRead::Array(array) => {
                        *self.budget -= (array.bytes.len() as u64).min(*self.budget);
                        group.arrays.insert(name, array);
                    }
                    StoredRead::TooLarge(bytes) => {
                        self.skipped = Some(format!(
                            "its array {child} ({bytes} bytes) would take the file's models \
                             past the {} bytes allowed",
                            self.limit
                        ));
                        return Ok(None);
                    }
                    StoredRead::Unsupported(why) => {
                        self.skipped = Some(why);
                        return Ok(None);
                    }
                },
            }
        }
        Ok(Some(group))
    }
}

/// Write the models of `ds` through `sink` as HyperSpy does: each in
/// `Analysis/models/<name>`, its `_signal` attribute set to `signal` (the group the signal
/// is written to). A store that cannot hold arrays with their element type is an error
/// naming the model.
pub fn write(sink: &mut dyn TreeSink, signal: &str, ds: &Dataset) -> Result<()> {
    if ds.models.is_empty() {
        return Ok(());
    }
    // Stores whose groups do not make their parents (Zarr folders) get each level.
    sink.group("/Analysis", &Tree::new())?;
    sink.group(MODELS, &Tree::new())?;
    for model in &ds.models {
        let node = join(MODELS, &model.name);
        let mut attrs = model.group.attrs.clone();
        attrs.insert(SIGNAL_ATTR.into(), Value::from(signal));
        sink.group_with_text(&node, &attrs)?;
        write_members(sink, &node, &model.group)?;
    }
    Ok(())
}

fn write_group(sink: &mut dyn TreeSink, node: &str, group: &StoredGroup) -> Result<()> {
    sink.group(node, &group.attrs)?;
    write_members(sink, node, group)
}

fn write_members(sink: &mut dyn TreeSink, node: &str, group: &StoredGroup) -> Result<()> {
    for (name, sub) in &group.groups {
        write_group(sink, &join(node, name), sub)?;
    }
    for (name, array) in &group.arrays {
        sink.stored_array(&join(node, name), array)?;
    }
    Ok(())
}

/// A model as rsciio's `_group2dict` reads it (what HyperSpy's `s.models` restores from),
/// each plain array replaced by `{ARRAY_PLACEHOLDER: "<path in the model>"}` for the
/// caller to fill ([`array_at`]); `_list_` / `_tuple_` arrays are lists, as rsciio gives
/// them.
pub fn decoded(model: &Model) -> Result<Tree> {
    group2dict(&Decoding(&model.group), "/")
}

/// The array of `model` at `path` (a placeholder's value in [`decoded`]).
pub fn array_at<'a>(model: &'a Model, path: &str) -> Option<&'a StoredArray> {
    model.group.array_at(path)
}

/// A model from the dictionary HyperSpy keeps (`s.models._models.as_dictionary()[name]`,
/// what [`decoded`] gives), written as HyperSpy's `dict2group` writes it; each array is
/// a placeholder `{ARRAY_PLACEHOLDER: i}` for `arrays[i]`.
pub fn from_decoded(name: &str, tree: &Tree, arrays: Vec<StoredArray>) -> Result<Model> {
    let mut building = Building {
        root: StoredGroup::default(),
        arrays,
    };
    let mut tree = tree.clone();
    tree.remove(SIGNAL_ATTR);
    let tree = lift_placeholders(tree);
    dict2group(&mut building, "/", &tree)?;
    Ok(Model {
        name: name.to_string(),
        group: building.root,
    })
}

/// The name of the attribute a placeholder becomes on its own (empty) group when
/// [`dict2group`] writes it; [`Building`] turns such a group into the array.
const PLACED: &str = "__emio_model_array_index__";

/// Placeholders `{ARRAY_PLACEHOLDER: i}` become `{PLACED: i}` objects, which [`dict2group`]
/// writes as a group holding one attribute.
fn lift_placeholders(tree: Tree) -> Tree {
    fn lift(value: Value) -> Value {
        match value {
            Value::Object(map) => match map.get(ARRAY_PLACEHOLDER) {
                Some(i) if map.len() == 1 => {
                    Value::Object(Map::from_iter([(PLACED.to_string(), i.clone())]))
                }
                _ => Value::Object(map.into_iter().map(|(k, v)| (k, lift(v))).collect()),
            },
            Value::Array(items) => Value::Array(items.into_iter().map(lift).collect()),
            other => other,
        }
    }
    tree.into_iter().map(|(k, v)| (k, lift(v))).collect()
}

/// A [`StoredGroup`] read as a HyperSpy tree whose arrays are placeholders.
struct Decoding<'a>(&'a StoredGroup);

impl Decoding<'_> {
    fn group(&self, node: &str) -> Result<&StoredGroup> {
        self.0
            .at(node)
            .ok_or_else(|| Error::malformed_at_unknown("hyperspy model", format!("a group {node}")))
    }
}

impl TreeSource for Decoding<'_> {
    fn format(&self) -> &'static str {
        "hyperspy model"
    }

    fn attrs(&self, node: &str) -> Result<Tree> {
        Ok(self.group(node)?.attrs.clone())
    }

    fn members(&self, node: &str) -> Result<Vec<(String, Member)>> {
        let group = self.group(node)?;
        let groups = group.groups.keys().map(|n| (n.clone(), Member::Group));
        let arrays = group.arrays.iter().map(|(n, a)| {
            (
                n.clone(),
                Member::Array {
                    ndim: a.shape.len(),
                },
            )
        });
        Ok(groups.chain(arrays).collect())
    }

    fn array_value(&self, node: &str) -> Result<Value> {
        let name = node.rsplit('/').next().unwrap_or(node);
        let array = self
            .0
            .array_at(node)
            .ok_or_else(|| Error::malformed_at_unknown("hyperspy model", node.to_string()))?;
        if name.starts_with("_list_") || name.starts_with("_tuple_") {
            if let Some(list) = list_values(array) {
                return Ok(Value::Array(list));
            }
        }
        Ok(Value::Object(Map::from_iter([(
            ARRAY_PLACEHOLDER.to_string(),
            Value::from(node.trim_start_matches('/')),
        )])))
    }

    fn stored_array(&self, node: &str, max_bytes: u64) -> Result<StoredRead> {
        let array = self
            .0
            .array_at(node)
            .ok_or_else(|| Error::malformed_at_unknown("hyperspy model", node.to_string()))?;
        let bytes = array.bytes.len() as u64;
        Ok(match bytes <= max_bytes {
            true => StoredRead::Array(array.clone()),
            false => StoredRead::TooLarge(bytes),
        })
    }
}

/// The values of a 1-D plain array as JSON (a `_list_` array's list).
fn list_values(array: &StoredArray) -> Option<Vec<Value>> {
    let StoredElement::Plain(dtype) = array.element else {
        return None;
    };
    if array.shape.len() != 1 {
        return None;
    }
    crate::metadata::numbers_json(dtype, &array.bytes)
}

/// A [`StoredGroup`] built by [`dict2group`].
struct Building {
    root: StoredGroup,
    arrays: Vec<StoredArray>,
}

impl Building {
    fn group_mut(&mut self, node: &str) -> &mut StoredGroup {
        node.split('/')
            .filter(|p| !p.is_empty())
            .fold(&mut self.root, |g, name| {
                g.groups.entry(name.to_string()).or_default()
            })
    }

    fn put_array(&mut self, node: &str, array: StoredArray) {
        let (parent, name) = node.rsplit_once('/').unwrap_or(("", node));
        self.group_mut(parent)
            .arrays
            .insert(name.to_string(), array);
    }
}

impl TreeSink for Building {
    fn group(&mut self, node: &str, attrs: &Tree) -> Result<()> {
        if let (1, Some(index)) = (attrs.len(), attrs.get(PLACED)) {
            let array = index
                .as_u64()
                .and_then(|i| self.arrays.get(i as usize))
                .cloned()
                .ok_or_else(|| {
                    Error::invalid_option(
                        "models",
                        format!("an array placeholder naming one of the arrays, not {index}"),
                    )
                })?;
            self.put_array(node, array);
            return Ok(());
        }
        self.group_mut(node).attrs.extend(attrs.clone());
        Ok(())
    }

    fn list(&mut self, node: &str, values: &ListArray<'_>) -> Result<()> {
        let (dtype, bytes): (DType, Vec<u8>) = match values {
            ListArray::Ints(v) => (DType::I64, v.iter().flat_map(|x| x.to_ne_bytes()).collect()),
            ListArray::Floats(v) => (DType::F64, v.iter().flat_map(|x| x.to_ne_bytes()).collect()),
            ListArray::Bools(v) => (DType::Bool, v.iter().map(|&b| u8::from(b)).collect()),
            ListArray::Strings(_) => {
                return Err(Error::unsupported(
                    "hyperspy model",
                    format!("a list of strings in a model ({node})"),
                ))
            }
        };
        let n = (bytes.len() / dtype.size()) as u64;
        let array = StoredArray::new(StoredElement::Plain(dtype), vec![n], bytes)?;
        self.put_array(node, array);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store holding one signal group and a model of it with an array of `n` bytes.
    fn store(n: usize) -> StoredGroup {
        let array =
            StoredArray::new(StoredElement::Plain(DType::U8), vec![n as u64], vec![7; n]).unwrap();
        let mut model = StoredGroup::default();
        model
            .attrs
            .insert(SIGNAL_ATTR.into(), "/Experiments/s".into());
        model.attrs.insert("date".into(), "today".into());
        model.arrays.insert("chisq.data".into(), array);
        let mut models = StoredGroup::default();
        models.groups.insert("fit".into(), model);
        let mut analysis = StoredGroup::default();
        analysis.groups.insert("models".into(), models);
        let mut root = StoredGroup::default();
        root.groups.insert("Analysis".into(), analysis);
        root
    }

    #[test]
    fn models_past_the_budget_are_named_not_read() {
        let groups = ["/Experiments/s".to_string()];
        let root = store(100);
        let signal = || crate::Dataset::from_bytes(vec![0; 4], DType::U8, vec![4]).unwrap();
        let mut within = [signal()];
        read(&Decoding(&root), &groups, &mut within, 100);
        assert_eq!(within[0].models.len(), 1);
        assert_eq!(within[0].models[0].group.attrs["date"], "today");
        assert!(!within[0].models[0].group.attrs.contains_key(SIGNAL_ATTR));
        let mut past = [signal()];
        read(&Decoding(&root), &groups, &mut past, 99);
        assert!(past[0].models.is_empty());
        let warning = past[0].warnings().join("\n");
        assert!(
            warning.contains("\"fit\"") && warning.contains("100 bytes"),
            "{warning}"
        );
        assert_eq!(budget_for_file(0), 1 << 20);
        assert_eq!(budget_for_file(u64::MAX), MAX_MODEL_BYTES);
    }
}
