//! HyperSpy's learning results: what a decomposition or blind source separation left
//! beside a signal (`s.learning_results`), stored in HyperSpy's files as the signal's
//! `learning_results` group: its settings and small values as attributes, its arrays
//! (factors, loadings, explained variance, unmixing matrix, ...) as datasets.

use std::collections::BTreeMap;

use crate::dataset::Dataset;
use crate::error::Result;
use crate::hyperspy::tree::{dict2group, group2dict, join, Member, TreeSink, TreeSource};
use crate::metadata::Tree;

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

/// The learning results in group `node` of a HyperSpy file read through `src` (`None`
/// where the group is empty, as HyperSpy writes it for a signal without results):
/// HyperSpy's tree of the group ([`group2dict`]) without its plain arrays, which
/// `open_array` opens as datasets from their node (`None` keeps an array the format
/// cannot open as one, such as strings, as its tree value).
pub fn read(
    src: &dyn TreeSource,
    node: &str,
    open_array: impl Fn(&str) -> Result<Option<Dataset>>,
) -> Result<Option<LearningResults>> {
    let mut results = LearningResults {
        values: group2dict(src, node)?,
        arrays: BTreeMap::new(),
    };
    for (name, member) in src.members(node)? {
        if !matches!(member, Member::Array { .. }) || !is_plain_array(&name) {
            continue;
        }
        if let Some(mut array) = open_array(&join(node, &name))? {
            crate::metadata::set_path(&mut array.metadata, "General.title", name.as_str());
            results.values.remove(&name);
            results.arrays.insert(name, array);
        }
    }
    Ok((!results.is_empty()).then_some(results))
}

/// Write `results` (or, for `None`, the empty group HyperSpy writes) as group `node`
/// through `sink`: the values as HyperSpy's tree ([`dict2group`]), each array through
/// `write_array` (its node and dataset).
pub fn write<'a>(
    sink: &mut dyn TreeSink,
    node: &str,
    results: Option<&'a LearningResults>,
    mut write_array: impl FnMut(&str, &'a Dataset) -> Result<()>,
) -> Result<()> {
    sink.group(node, &Tree::new())?;
    let Some(results) = results else {
        return Ok(());
    };
    dict2group(sink, node, &results.values)?;
    for (name, array) in &results.arrays {
        write_array(&join(node, name), array)?;
    }
    Ok(())
}
