//! Opening a HyperSpy HDF5 file: the file format version, one [`Dataset`] per
//! `Experiments/<title>` group with a `data` dataset (in h5py's name order), its axes
//! (uniform, non-uniform given by an `axis` dataset, or functional: an expression), and its
//! metadata trees.

use std::path::Path;
use std::sync::Arc;

use emio_core::hyperspy::tree::join;
use emio_core::hyperspy::{axis_from_dict, group2dict, learning, models, signal_package};
use emio_core::metadata::{get_str, set_path, value_f64};
use emio_core::serde_json::Value;
use emio_core::{Axis, Dataset, Error, Result, Tree};
use emio_h5::{Element, H5File};

use crate::migrate::{self, Version};
use crate::tree::H5Tree;

const FORMAT: &str = "hspy";

/// Whether an HDF5 file is HyperSpy's: a `file_format = "HyperSpy"` root attribute, or
/// (format 1.0, which wrote none) an `Experiments` group.
pub fn is_hspy(f: &H5File) -> bool {
    let attrs = f.attrs("/").unwrap_or_default();
    match attrs.get("file_format").and_then(Value::as_str) {
        Some(name) => name.eq_ignore_ascii_case("hyperspy"),
        None => f.is_group("Experiments"),
    }
}

/// The file format version (rsciio's `get_format_version`).
fn version(f: &H5File) -> Result<Version> {
    let attrs = f.attrs("/")?;
    match attrs.get("file_format_version") {
        Some(Value::String(s)) => Version::parse(s),
        Some(v) => value_f64(v).and_then(|x| Version::parse(&format!("{x:.2}"))),
        None => Some(Version(1, 0)),
    }
    .ok_or_else(|| {
        Error::malformed_at_unknown(
            FORMAT,
            format!(
                "a file_format_version attribute of the form major.minor (found {:?})",
                attrs.get("file_format_version")
            ),
        )
    })
}

/// Read every signal of a HyperSpy HDF5 file (structure only; pixels stay lazy).
pub fn read(path: &Path) -> Result<Vec<Dataset>> {
    let f = H5File::open(path)?;
    if !f.is_group("Experiments") {
        return Err(Error::malformed_at_unknown(
            FORMAT,
            "an Experiments group (HyperSpy's layout)",
        ));
    }
    let version = version(&f)?;
    let mut out = Vec::new();
    let mut groups = Vec::new();
    for name in f.groups("Experiments")? {
        let group = join("/Experiments", &name);
        if f.is_dataset(&join(&group, "data")) {
            out.push(signal(&f, &group, version)?);
            groups.push(group);
        }
    }
    let max_model_bytes = models::budget_for_file(f.storage().len() as u64);
    models::read(&H5Tree(&f), &groups, &mut out, max_model_bytes);
    if out.is_empty() {
        return Err(Error::malformed_at_unknown(
            FORMAT,
            "at least one Experiments/<title> group with a data dataset",
        ));
    }
    Ok(out)
}

/// The metadata and original-metadata group names of a format version.
fn tree_names(version: Version) -> (&'static str, &'static str) {
    if version < Version(1, 2) {
        ("mapped_parameters", "original_parameters")
    } else {
        ("metadata", "original_metadata")
    }
}

/// A group's subtree, empty when the group is absent.
fn optional_tree(f: &H5File, path: &str) -> Result<Tree> {
    if f.is_group(path) {
        group2dict(&H5Tree(f), path)
    } else {
        Ok(Tree::new())
    }
}

/// The metadata of the signal in `group`, migrated to today's layout.
fn metadata(f: &H5File, group: &str, version: Version) -> Result<(Tree, Tree)> {
    let (md_name, om_name) = tree_names(version);
    let mut md = optional_tree(f, &join(group, md_name))?;
    let om = optional_tree(f, &join(group, om_name))?;
    migrate::metadata(version, &mut md);
    if get_str(&md, "General.title") == Some("__unnamed__") {
        set_path(&mut md, "General.title", "");
    }
    Ok((md, om))
}

/// The axis dictionaries of the signal in `group`: `axis-<i>` groups, or (older files) a
/// `_list_<n>_axes` group.
fn axis_dicts(f: &H5File, group: &str, ndim: usize) -> Result<Vec<Tree>> {
    let mut axes = Vec::with_capacity(ndim);
    for i in 0..ndim {
        let p = join(group, &format!("axis-{i}"));
        if !f.is_group(&p) {
            break;
        }
        axes.push(group2dict(&H5Tree(f), &p)?);
    }
    if axes.len() == ndim {
        return Ok(axes);
    }
    let list = join(group, &format!("_list_{ndim}_axes"));
    if !f.is_group(&list) {
        return Err(Error::malformed_at_unknown(
            FORMAT,
            format!(
                "axis-0 .. axis-{} groups in {group}",
                ndim.saturating_sub(1)
            ),
        ));
    }
    let items = group2dict(&H5Tree(f), &list)?;
    let mut items: Vec<(String, Value)> = items.into_iter().collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(items
        .into_iter()
        .filter_map(|(_, v)| v.as_object().cloned())
        .collect())
}

/// How many trailing axes are signal axes when the file does not say (`record_by`).
fn signal_dims(md: &Tree, ndim: usize) -> usize {
    match get_str(md, "Signal.record_by") {
        Some("spectrum") => 1.min(ndim),
        Some("image") => 2.min(ndim),
        _ => ndim,
    }
}

/// The signal stored in `group` as a dataset: an array of numbers, or a ragged signal (a
/// variable-length `data` dataset, [`crate::ragged`]).
fn signal(f: &H5File, group: &str, version: Version) -> Result<Dataset> {
    let data_path = join(group, "data");
    let data = f.dataset(&data_path)?;
    let shape = data.shape.clone();
    let ragged = match &data.element {
        Element::Numeric(..) => None,
        Element::Sequence(_) => Some(Arc::new(crate::ragged::open(
            f,
            group,
            &data_path,
            shape.clone(),
        )?)),
        other => {
            return Err(Error::unsupported(
                FORMAT,
                format!("dataset {data_path} of element type {other:?}"),
            ))
        }
    };
    let (md, om) = metadata(f, group, version)?;
    let dicts = axis_dicts(f, group, shape.len())?;
    // Every axis of a ragged signal is a navigation axis (its signal is the items).
    let nav_dims = match ragged {
        Some(_) => shape.len(),
        None => shape.len() - signal_dims(&md, shape.len()),
    };
    let axes = dicts
        .iter()
        .zip(&shape)
        .enumerate()
        .map(|(i, (d, &n))| {
            axis_from_dict(d, n, i < nav_dims, FORMAT, &format!("{group}/axis-{i}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut ds = match ragged {
        Some(items) => Dataset::new_ragged(items, axes, md, om)?,
        None => Dataset::new(data.source(None)?, axes, md, om)?,
    };
    ds.signal_package = signal_package(&H5Tree(f), group)?;
    learning::read(
        &mut ds,
        &H5Tree(f),
        group,
        version < Version(1, 1),
        |node| learning_array(f, node),
    )?;
    Ok(ds)
}

/// A numeric array of a learning results group as a lazy dataset of its own (`None` for
/// other element types, which stay in the tree).
fn learning_array(f: &H5File, node: &str) -> Result<Option<Dataset>> {
    let array = f.dataset(node)?;
    if !matches!(array.element, Element::Numeric(..)) {
        return Ok(None);
    }
    let axes = array
        .shape
        .iter()
        .map(|_| Axis::default_for(false))
        .collect();
    Dataset::new(array.source(None)?, axes, Tree::new(), Tree::new()).map(Some)
}
