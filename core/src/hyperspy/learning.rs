//! HyperSpy's learning results: what a decomposition or blind source separation left
//! beside a signal (`s.learning_results`; HyperSpy 1.x also `s.peak_learning_results`),
//! stored in HyperSpy's files as groups of the signal's group: settings and small values
//! as attributes, arrays (factors, loadings, explained variance, unmixing matrix, ...) as
//! datasets.

use std::collections::BTreeMap;

use crate::dataset::Dataset;
use crate::error::Result;
use crate::hyperspy::tree::{dict2group, group2dict_except, join, Member, TreeSink, TreeSource};
use crate::metadata::Tree;

/// The groups of a signal that hold learning results, as HyperSpy names them today and as
/// files of format versions before 1.1 named them: the decomposition / blind source
/// separation of the signal (`learning_results`), and of its peaks (HyperSpy 1.x's
/// `peak_learning_results`; rsciio still reads them).
pub const GROUPS: [(&str, &str); 2] = [
    ("learning_results", "mva_results"),
    ("peak_learning_results", "peak_mva_results"),
];

/// The learning results stored with a signal.
#[derive(Debug, Clone, Default)]
pub struct LearningResults {
    /// Everything but the arrays, as HyperSpy's tree reads it: algorithm names, flags,
    /// dimensions, `None`s (JSON null) and tuples (lists).
    pub values: Tree,
    /// The arrays by name (`factors`, `loadings`, `explained_variance`, `bss_factors`,
    /// ...), each a dataset of its own: read lazily and whole, whatever its size.
    pub arrays: BTreeMap<String, Dataset>,
}

impl LearningResults {
    /// Whether there is nothing to store (HyperSpy writes the group empty then).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.arrays.is_empty()
    }
}

/// Whether an array member of a tree group is a plain array (HyperSpy stores lists,
/// tuples and ragged shapes as arrays of their own encodings, read into the tree).
fn is_plain_array(name: &str) -> bool {
    !["_list_", "_tuple_", "_ragged_shapes_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// Read the learning-results groups ([`GROUPS`]) of the signal stored in group `signal`
/// through `src` into `ds` (`old_names`: the file's format predates 1.1, whose names are
/// then preferred, as rsciio does). Every plain array that `open_array` opens from its node
/// becomes a dataset (`None` keeps an array the format cannot open as one, such as strings,
/// as its tree value); everything else is HyperSpy's tree of the group
/// ([`group2dict_except`]: the opened arrays are not read for it). An empty group, as
/// HyperSpy writes it for a signal without results, reads as `None`.
pub fn read(
    ds: &mut Dataset,
    src: &dyn TreeSource,
    signal: &str,
    old_names: bool,
    open_array: impl Fn(&str) -> Result<Option<Dataset>>,
) -> Result<()> {
    let members = src.members(signal)?;
    let is_group = |name: &str| members.contains(&(name.to_string(), Member::Group));
    for (name, old) in GROUPS {
        let stored = [old, name]
            .into_iter()
            .find(|&n| is_group(n) && (n == name || old_names));
        if let (Some(stored), Some(slot)) = (stored, ds.learning_group_mut(name)) {
            *slot = read_group(src, &join(signal, stored), &open_array)?;
        }
    }
    Ok(())
}

/// The learning results in group `node` ([`read`]).
fn read_group(
    src: &dyn TreeSource,
    node: &str,
    open_array: &impl Fn(&str) -> Result<Option<Dataset>>,
) -> Result<Option<LearningResults>> {
    let mut arrays = BTreeMap::new();
    for (name, member) in src.members(node)? {
        if !matches!(member, Member::Array { .. }) || !is_plain_array(&name) {
            continue;
        }
        if let Some(mut array) = open_array(&join(node, &name))? {
            crate::metadata::set_path(&mut array.metadata, "General.title", name.as_str());
            arrays.insert(name, array);
        }
    }
    let opened: Vec<&str> = arrays.keys().map(String::as_str).collect();
    let results = LearningResults {
        values: group2dict_except(src, node, &opened)?,
        arrays,
    };
    Ok((!results.is_empty()).then_some(results))
}

/// Write the learning results of `ds` into the signal group `signal` through `sink` as
/// HyperSpy does: `learning_results` always (an empty group for a signal without),
/// `peak_learning_results` where `ds` has them; the values as HyperSpy's tree
/// ([`dict2group`]), each array through `write_array` (its node and dataset).
pub fn write<'a>(
    sink: &mut dyn TreeSink,
    signal: &str,
    ds: &'a Dataset,
    mut write_array: impl FnMut(&str, &'a Dataset) -> Result<()>,
) -> Result<()> {
    let [(always, _), _] = GROUPS;
    for (name, results) in ds.learning_groups() {
        if results.is_none() && name != always {
            continue;
        }
        let node = join(signal, name);
        sink.group(&node, &Tree::new())?;
        let Some(results) = results else {
            continue;
        };
        dict2group(sink, &node, &results.values)?;
        for (name, array) in &results.arrays {
            write_array(&join(&node, name), array)?;
        }
    }
    Ok(())
}
