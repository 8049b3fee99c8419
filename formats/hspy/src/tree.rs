//! The HDF5 side of HyperSpy's tree encoding ([`emio_core::hyperspy::tree`]): reading
//! groups, attributes and small datasets of an [`H5File`], and writing them with an
//! [`H5Writer`].

use emio_core::hyperspy::tree::nest;
use emio_core::hyperspy::{
    ListArray, Member, StoredArray, StoredElement, StoredRead, TreeSink, TreeSource,
};
use emio_core::metadata::numbers_json;
use emio_core::serde_json::Value;
use emio_core::{ByteOrder, DType, Error, Result, Tree};
use emio_h5::writer::{Attr, H5Writer};
use emio_h5::{Element, H5File, MemberKind};

/// Largest metadata dataset (in elements) expanded into the tree.
pub const MAX_EXPANDED: u64 = 1 << 16;

/// An [`H5File`] read as a HyperSpy tree.
#[derive(Debug, Clone, Copy)]
pub struct H5Tree<'a>(pub &'a H5File);

impl TreeSource for H5Tree<'_> {
    fn format(&self) -> &'static str {
        "hspy"
    }

    fn attrs(&self, node: &str) -> Result<Tree> {
        self.0.attrs(node)
    }

    fn members(&self, node: &str) -> Result<Vec<(String, Member)>> {
        let mut out = Vec::new();
        for (name, kind) in self.0.members(node)? {
            let member = match kind {
                MemberKind::Group => Member::Group,
                MemberKind::Dataset => Member::Array {
                    ndim: self
                        .0
                        .dataset(&emio_core::hyperspy::tree::join(node, &name))?
                        .shape
                        .len(),
                },
            };
            out.push((name, member));
        }
        Ok(out)
    }

    fn array_value(&self, node: &str) -> Result<Value> {
        dataset_value(self.0, node)
    }

    fn identity(&self, node: &str) -> Option<u64> {
        self.0.object_address(node)
    }

    fn stored_array(&self, node: &str, max_bytes: u64) -> Result<StoredRead> {
        let ds = self.0.dataset(node)?;
        let element = match &ds.element {
            Element::Numeric(d, _) if !d.is_rgb() => StoredElement::Plain(*d),
            Element::Compound(fields, _) => StoredElement::Record(
                fields
                    .iter()
                    .map(|(name, _, d, _)| (name.clone(), *d))
                    .collect(),
            ),
            other => {
                return Ok(StoredRead::Unsupported(format!(
                    "its array {node} holds {other:?}, which emio does not keep in a model"
                )))
            }
        };
        if ds.nbytes() > max_bytes {
            return Ok(StoredRead::TooLarge(ds.nbytes()));
        }
        let bytes = match &ds.element {
            Element::Compound(fields, size) => {
                packed_records(node, &ds.read_raw()?, fields, *size)?
            }
            _ => ds.read_bytes()?,
        };
        StoredArray::new(element, ds.shape.clone(), bytes).map(StoredRead::Array)
    }
}

/// The records of dataset `node` (`raw`: `size` stored bytes each, members at their
/// offsets in their byte order), packed in member order and native byte order; an error
/// when a member does not lie inside a record.
fn packed_records(
    node: &str,
    raw: &[u8],
    fields: &[(String, u64, DType, ByteOrder)],
    size: usize,
) -> Result<Vec<u8>> {
    let mut ranges = Vec::with_capacity(fields.len());
    for (name, offset, dtype, order) in fields {
        let range = usize::try_from(*offset)
            .ok()
            .and_then(|o| Some(o..o.checked_add(dtype.size())?))
            .filter(|r| r.end <= size)
            .ok_or_else(|| {
                Error::malformed_at_unknown(
                    "hspy",
                    format!(
                        "member {name:?} of the records of {node} inside the {size}-byte \
                         record (at {offset}, {} bytes)",
                        dtype.size()
                    ),
                )
            })?;
        ranges.push((range, dtype.swap_unit(), order.is_native()));
    }
    let packed: usize = fields.iter().map(|f| f.2.size()).sum();
    let mut out = Vec::with_capacity(raw.len() / size.max(1) * packed);
    for record in raw.chunks_exact(size.max(1)) {
        for (range, unit, native) in &ranges {
            let at = out.len();
            out.extend_from_slice(&record[range.clone()]);
            if !native {
                emio_core::dtype::swap_bytes_in_place(&mut out[at..], *unit);
            }
        }
    }
    Ok(out)
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
        Element::Numeric(dtype, _) => match numbers_json(*dtype, &ds.read_bytes()?) {
            Some(v) => v,
            None => return Ok(summary(dtype.name())),
        },
        _ => return Ok(summary("non-numeric")),
    };
    Ok(nest(&flat, &ds.shape))
}

/// An [`H5Writer`] written as a HyperSpy tree.
#[derive(Debug)]
pub struct H5Sink<'a>(pub &'a mut H5Writer);

/// A JSON scalar as an HDF5 attribute (what h5py stores for the Python value).
pub fn scalar_attr(value: &Value) -> Result<Attr> {
    Ok(match value {
        Value::String(s) => Attr::Str(s.clone()),
        Value::Bool(b) => Attr::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Attr::Int(i),
            None => Attr::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        // Array attributes, as a model's groups may hold (written by h5py from NumPy).
        Value::Array(items) if items.iter().all(|v| v.is_i64()) => {
            Attr::Ints(items.iter().filter_map(Value::as_i64).collect())
        }
        Value::Array(items) if items.iter().all(Value::is_number) => {
            Attr::Floats(items.iter().filter_map(Value::as_f64).collect())
        }
        other => {
            return Err(Error::unsupported(
                "hspy",
                format!("{other} as an attribute (only scalars are)"),
            ))
        }
    })
}

impl H5Sink<'_> {
    /// Create the group `node` with `attrs`, strings as variable-length ones when `text`
    /// (h5py reads those as `str`, fixed-length ones as `bytes`).
    fn create_group(&mut self, node: &str, attrs: &Tree, text: bool) -> Result<()> {
        let attrs = attrs
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if text => Ok((k.clone(), Attr::VarStr(s.clone()))),
                other => scalar_attr(other).map(|a| (k.clone(), a)),
            })
            .collect::<Result<Vec<_>>>()?;
        self.0.create_group(node, attrs)
    }
}

impl TreeSink for H5Sink<'_> {
    fn group(&mut self, node: &str, attrs: &Tree) -> Result<()> {
        self.create_group(node, attrs, false)
    }

    fn list(&mut self, node: &str, values: &ListArray<'_>) -> Result<()> {
        let (dtype, bytes): (DType, Vec<u8>) = match values {
            ListArray::Strings(s) => return self.0.write_strings(node, s, &[]),
            ListArray::Ints(v) => (DType::I64, v.iter().flat_map(|x| x.to_ne_bytes()).collect()),
            ListArray::Floats(v) => (DType::F64, v.iter().flat_map(|x| x.to_ne_bytes()).collect()),
            ListArray::Bools(v) => (DType::Bool, v.iter().map(|&b| u8::from(b)).collect()),
        };
        let n = (bytes.len() / dtype.size()) as u64;
        self.0.write_dataset(node, dtype, &[n], &bytes, &[])
    }

    fn group_with_text(&mut self, node: &str, attrs: &Tree) -> Result<()> {
        self.create_group(node, attrs, true)
    }

    fn stored_array(&mut self, node: &str, array: &StoredArray) -> Result<()> {
        match &array.element {
            StoredElement::Plain(dtype) => {
                self.0
                    .write_dataset(node, *dtype, &array.shape, &array.bytes, &[])
            }
            StoredElement::Record(fields) => {
                self.0
                    .write_records(node, fields, &array.shape, &array.bytes, &[])
            }
        }
    }
}
