//! The HDF5 side of HyperSpy's tree encoding ([`emio_core::hyperspy::tree`]): reading
//! groups, attributes and small datasets of an [`H5File`], and writing them with an
//! [`H5Writer`].

use emio_core::hyperspy::tree::nest;
use emio_core::hyperspy::{ListArray, Member, TreeSink, TreeSource};
use emio_core::metadata::json_f64;
use emio_core::serde_json::Value;
use emio_core::{DType, Error, Result, Tree};
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
    // 64-bit integers exactly (a float would round those beyond 2^53).
    let words = || {
        bytes
            .chunks_exact(8)
            .map(|c| <[u8; 8]>::try_from(c).unwrap_or_default())
    };
    match dtype {
        DType::I64 => {
            return Some(
                words()
                    .map(|w| Value::from(i64::from_ne_bytes(w)))
                    .collect(),
            )
        }
        DType::U64 => {
            return Some(
                words()
                    .map(|w| Value::from(u64::from_ne_bytes(w)))
                    .collect(),
            )
        }
        _ => {}
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
        other => {
            return Err(Error::unsupported(
                "hspy",
                format!("{other} as an attribute (only scalars are)"),
            ))
        }
    })
}

impl TreeSink for H5Sink<'_> {
    fn group(&mut self, node: &str, attrs: &Tree) -> Result<()> {
        let attrs = attrs
            .iter()
            .map(|(k, v)| scalar_attr(v).map(|a| (k.clone(), a)))
            .collect::<Result<Vec<_>>>()?;
        self.0.create_group(node, attrs)
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
}
