//! The DM5 reader: the tag tree stored as HDF5 groups (tag groups) and attributes (data
//! tags), turned into the same JSON tag tree the DM3/DM4 reader builds, so one mapping
//! ([`crate::datasets_from_tree`], `crate::image::dataset_parts`) serves every version.
//! The pixels are the HDF5 dataset `ImageList/[i]/ImageData/Data`, read lazily through
//! [`emio_h5`] (memory-mapped when contiguous, chunk by chunk otherwise).
//!
//! Naming follows the DM3/DM4 tree: list entries (`[0]`, `[1]`, ...) are unnamed tags, so
//! groups become `TagGroup0`, ... and attributes `Data0`, ... (counted separately, in index
//! order); dots are removed from names. Entries are ordered by name, list indices
//! numerically. Booleans are 0/1 as in DM3/DM4 files. Datasets other than the pixels are
//! read when small (as lists or text), summarised otherwise. Attributes whose HDF5 type
//! `hdf5-pure` does not decode (compound structs such as an annotation's `Rectangle`) are
//! left out.

use std::path::Path;
use std::sync::Arc;

use emio_core::descent::Descent;
use emio_core::serde_json::{json, Value};
use emio_core::{ArraySource, DType, Dataset, Error, Result, Tree};
use emio_h5::{H5Dataset, H5File, MemberKind};

use crate::image::{dataset_parts, PixelStore};
use crate::original::MAX_JSON_ARRAY;

use super::FORMAT;

/// Deepest group nesting accepted (as for DM3/DM4 tag groups).
const MAX_DEPTH: usize = 256;

/// Most entries (groups, attributes, datasets) read into the tree: HDF5 groups may link
/// to each other (even to an ancestor), so the walk is bounded by count, not only depth.
const MAX_ENTRIES: usize = 1 << 20;

/// Whether an HDF5 file holds a DM tag tree (for [`emio_core::Format::inspect`]).
pub fn is_dm5(file: &H5File) -> bool {
    file.is_group("ImageList")
}

/// What a member of a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Attribute,
    Group,
    Dataset,
}

/// Sort key of a member name: list indices (`[12]`) numerically, before other names.
fn order_key(name: &str) -> (u8, u64, &str) {
    match name
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(i) => (0, i, ""),
        None => (1, 0, name),
    }
}

fn is_list_index(name: &str) -> bool {
    order_key(name).0 == 0
}

/// Join an HDF5 group path and a member name.
fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// Builds the JSON tag tree of a DM5 file.
struct TreeReader<'a> {
    file: &'a H5File,
    entries: usize,
    /// The groups read so far, by file address: a tag tree links each group once.
    descent: Descent,
}

impl TreeReader<'_> {
    /// The members of group `path` in tag order, with the attribute values.
    fn members(&self, path: &str) -> Result<(Vec<(String, Kind)>, Tree)> {
        let attrs = self.file.attrs(path)?;
        let mut members: Vec<(String, Kind)> = attrs
            .keys()
            .map(|k| (k.clone(), Kind::Attribute))
            .chain(self.file.members(path)?.into_iter().map(|(name, kind)| {
                let kind = match kind {
                    MemberKind::Group => Kind::Group,
                    MemberKind::Dataset => Kind::Dataset,
                };
                (name, kind)
            }))
            .collect();
        members.sort_by(|a, b| order_key(&a.0).cmp(&order_key(&b.0)));
        Ok((members, attrs))
    }

    fn group(&mut self, path: &str, depth: usize) -> Result<Tree> {
        let object = || format!("/{path}");
        self.descent
            .enter(&object(), depth, self.file.object_address(path))
            .map_err(|refusal| malformed(&object(), refusal.expected("tag", "file address")))?;
        let (members, attrs) = self.members(path)?;
        self.entries += members.len();
        if self.entries > MAX_ENTRIES {
            return Err(malformed(
                &object(),
                format!("at most {MAX_ENTRIES} tags in the file (groups linked in a cycle?)"),
            ));
        }
        let mut out = Tree::new();
        let (mut unnamed_groups, mut unnamed_data) = (0, 0);
        for (name, kind) in members {
            let key = if is_list_index(&name) {
                let counter = if kind == Kind::Group {
                    &mut unnamed_groups
                } else {
                    &mut unnamed_data
                };
                *counter += 1;
                if kind == Kind::Group {
                    format!("TagGroup{}", *counter - 1)
                } else {
                    format!("Data{}", *counter - 1)
                }
            } else {
                name.replace('.', "")
            };
            let value = match kind {
                Kind::Attribute => tag_value(&attrs[&name]),
                Kind::Group => Value::Object(self.group(&child(path, &name), depth + 1)?),
                Kind::Dataset => {
                    let ds = self.file.dataset(&child(path, &name))?;
                    let pixels = name == "Data" && path.ends_with("ImageData");
                    dataset_value(&ds, pixels)?
                }
            };
            out.insert(key, value);
        }
        Ok(out)
    }
}

/// An attribute as a DM tag value: booleans as 0/1 (as DM3/DM4 store them).
fn tag_value(v: &Value) -> Value {
    match v {
        Value::Bool(b) => json!(u8::from(*b)),
        Value::Array(items) => Value::Array(items.iter().map(tag_value).collect()),
        other => other.clone(),
    }
}

/// A dataset of the tag tree: small numeric and text ones as values, the pixel array and
/// large ones as a summary naming the dataset.
fn dataset_value(ds: &H5Dataset<'_>, pixels: bool) -> Result<Value> {
    let summary = || {
        json!({
            "size": ds.len(),
            "size_bytes": ds.nbytes(),
            "shape": ds.shape,
            "dataset": format!("/{}", ds.path().trim_start_matches('/')),
        })
    };
    if pixels || ds.len() > MAX_JSON_ARRAY {
        return Ok(summary());
    }
    match &ds.element {
        emio_h5::Element::Str => {
            let mut strings = ds.read_strings()?;
            Ok(if strings.len() == 1 && ds.shape.len() <= 1 {
                Value::String(strings.remove(0))
            } else {
                json!(strings)
            })
        }
        emio_h5::Element::Numeric(dtype, _) if !dtype.is_complex() && !dtype.is_rgb() => {
            let values = ds.read_f64()?;
            Ok(Value::Array(
                values
                    .into_iter()
                    .map(|v| {
                        if dtype.is_integer() || *dtype == DType::Bool {
                            json!(v as i64)
                        } else {
                            emio_core::metadata::json_f64(v)
                        }
                    })
                    .collect(),
            ))
        }
        _ => Ok(summary()),
    }
}

fn malformed(object: &str, expected: String) -> Error {
    Error::malformed_at_unknown(FORMAT, format!("{expected} (HDF5 object {object})"))
}

/// Name the HDF5 object an error of the shared DM mapping (format `dm`) was found in.
fn in_object(e: Error, object: &str) -> Error {
    match e {
        Error::Malformed {
            format: "dm",
            path,
            offset,
            expected,
        } => Error::Malformed {
            format: FORMAT,
            path,
            offset,
            expected: format!("{expected} (HDF5 object {object})"),
        },
        Error::Unsupported {
            format: "dm",
            path,
            what,
        } => Error::Unsupported {
            format: FORMAT,
            path,
            what: format!("{what} (HDF5 object {object})"),
        },
        other => other,
    }
}

/// The pixels of a DM5 image: its `ImageData/Data` dataset.
struct H5Pixels<'a> {
    data: H5Dataset<'a>,
}

impl PixelStore for H5Pixels<'_> {
    fn element_bytes(&self, _count: u64) -> Option<u64> {
        Some(self.data.elem_size as u64)
    }

    fn source(
        &self,
        dtype: DType,
        stored_shape: &[u64],
        perm: &[usize],
    ) -> Result<Arc<dyn ArraySource>> {
        let object = format!("/{}", self.data.path().trim_start_matches('/'));
        if self.data.shape != stored_shape {
            return Err(malformed(
                &object,
                format!(
                    "a dataset of shape {stored_shape:?} (ImageData.Dimensions reversed), found {:?}",
                    self.data.shape
                ),
            ));
        }
        let (stored, _) = self.data.numeric()?;
        // Colour images store 0xAARRGGBB values as 32-bit integers.
        let colour = dtype == DType::Rgba8
            && stored.size() == 4
            && (stored == DType::U32 || stored == DType::I32);
        if stored != dtype && !colour {
            return Err(malformed(
                &object,
                format!("{dtype} values (from ImageData.DataType), found {stored}"),
            ));
        }
        self.data.source(Some(perm))
    }

    fn colour_big_endian(&self) -> bool {
        // The HDF5 source gives 32-bit values in native byte order.
        cfg!(target_endian = "big")
    }
}

/// Read every non-thumbnail image of the DM5 file at `path`.
pub fn read(path: &Path) -> Result<Vec<Dataset>> {
    let file = H5File::open(path)?;
    let mut reader = TreeReader {
        file: &file,
        entries: 0,
        descent: Descent::new(MAX_DEPTH),
    };
    let tree = reader.group("", 0)?;
    let filename = emio_core::metadata::file_name(path);
    // The HDF5 names of ImageList's members, in the order the tree lists them.
    let list: Vec<String> = reader
        .members("ImageList")?
        .0
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    crate::datasets_from_tree(&tree, |i, image| {
        let object = format!("/ImageList/{}", list[i]);
        let data = file
            .dataset(&format!("{object}/ImageData/Data"))
            .map_err(|e| in_object(e, &object))?;
        dataset_parts(image, &H5Pixels { data }, &filename).map_err(|e| in_object(e, &object))
    })
}
