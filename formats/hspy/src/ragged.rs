//! HyperSpy's ragged signals (`attributes/ragged = True`): the `data` dataset is an HDF5
//! variable-length dataset whose every element is one position's values, flattened, and
//! `_ragged_shapes_data` (`ragged_shapes` before rsciio 0.2) gives each position's shape
//! (rsciio's `flatten_data` / `unflatten_data`). Read here as an
//! [`emio_core::ragged::RaggedSource`], one position at a time, and written the same
//! way ([`write()`]).

use emio_core::ragged::{RaggedElement, RaggedItem, RaggedSource, RaggedValues};
use emio_core::{DType, Error, Result};
use emio_h5::writer::{Compression, H5Writer, VlenValues};
use emio_h5::{H5File, VlenBase, VlenReader};

use emio_core::hyperspy::tree::join;

/// The items of a ragged signal stored in an `.hspy` file.
#[derive(Debug)]
pub struct HspyRagged {
    data: VlenReader,
    /// Each position's shape (absent: 1-D items).
    shapes: Option<VlenReader>,
    shape: Vec<u64>,
    element: RaggedElement,
    /// The data dataset's path, for errors.
    path: String,
}

/// The ragged signal of `group` whose `data` dataset is `data_path` of `shape`.
pub fn open(f: &H5File, group: &str, data_path: &str, shape: Vec<u64>) -> Result<HspyRagged> {
    let data = f.dataset(data_path)?.vlen()?;
    let element = match data.base() {
        VlenBase::Numeric(d, _) if emio_core::ragged::is_ragged_element(d) => {
            RaggedElement::Numeric(d)
        }
        VlenBase::Numeric(d, _) => {
            return Err(Error::unsupported(
                "hspy",
                format!("ragged dataset {data_path} of {d} values"),
            ))
        }
        VlenBase::Str => RaggedElement::Text,
    };
    let name = data_path.rsplit('/').next().unwrap_or("data");
    let shapes = [
        format!("_ragged_shapes_{name}"),
        "ragged_shapes".to_string(),
    ]
    .into_iter()
    .map(|n| join(group, &n))
    .find(|p| f.is_dataset(p))
    .map(|p| -> Result<VlenReader> {
        let ds = f.dataset(&p)?;
        if ds.shape != shape {
            return Err(Error::malformed_at_unknown(
                "hspy",
                format!(
                    "{p} of the shape of {data_path} ({shape:?}), not {:?}",
                    ds.shape
                ),
            ));
        }
        let reader = ds.vlen()?;
        match reader.base() {
            VlenBase::Numeric(d, _) if d.is_integer() => Ok(reader),
            other => Err(Error::malformed_at_unknown(
                "hspy",
                format!("{p} of integer sequences, not {other:?}"),
            )),
        }
    })
    .transpose()?;
    Ok(HspyRagged {
        data,
        shapes,
        shape,
        element,
        path: data_path.to_string(),
    })
}

impl HspyRagged {
    /// The shape of item `index`: from the shapes dataset, else one dimension of `n`.
    fn item_shape(&self, index: u64, n: u64) -> Result<Vec<u64>> {
        let Some(shapes) = &self.shapes else {
            return Ok(vec![n]);
        };
        let VlenBase::Numeric(dtype, _) = shapes.base() else {
            return Ok(vec![n]);
        };
        let bytes = shapes.numbers(index)?;
        let dims = emio_h5::to_f64(dtype, &bytes).unwrap_or_default();
        let shape: Option<Vec<u64>> = dims
            .iter()
            .map(|&d| (d >= 0.0 && d.fract() == 0.0).then_some(d as u64))
            .collect();
        match shape {
            Some(s) if emio_core::source::element_count(&s) == Some(n) => Ok(s),
            _ => Err(Error::malformed_at_unknown(
                "hspy",
                format!(
                    "a shape holding the {n} values of item {index} of {} (found {dims:?})",
                    self.path
                ),
            )),
        }
    }
}

impl RaggedSource for HspyRagged {
    fn element(&self) -> RaggedElement {
        self.element
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn item(&self, index: u64) -> Result<RaggedItem> {
        let values = match self.element {
            RaggedElement::Text => RaggedValues::Text(self.data.strings(index)?),
            RaggedElement::Numeric(_) => RaggedValues::Numbers(self.data.numbers(index)?),
        };
        let n = match &values {
            RaggedValues::Text(s) => s.len() as u64,
            RaggedValues::Numbers(b) => (b.len() / self.element.dtype().size()) as u64,
        };
        let shape = self.item_shape(index, n)?;
        RaggedItem::new(self.element, shape, values)
    }
}

/// Bytes of one element of a variable-length dataset (its reference), for chunk sizes.
pub const REF_BYTES: u64 = 16;

/// Write the items of a ragged signal into `group` as rsciio's `flatten_data` does:
/// `data` holds each position's values flattened, `_ragged_shapes_data` each position's
/// shape (int64), both variable-length datasets chunked by `chunk`.
pub fn write(
    w: &mut H5Writer,
    group: &str,
    items: &dyn RaggedSource,
    chunk: &[u64],
    compression: Compression,
) -> Result<()> {
    let items_read = items.items()?;
    let shape = items.shape();
    let shapes: Vec<Vec<u8>> = items_read
        .iter()
        .map(|item| {
            item.shape
                .iter()
                .flat_map(|&n| (n as i64).to_ne_bytes())
                .collect()
        })
        .collect();
    let data = join(group, "data");
    match items.element() {
        RaggedElement::Numeric(dtype) => {
            let values: Vec<Vec<u8>> = items_read
                .into_iter()
                .map(|item| match item.values {
                    RaggedValues::Numbers(b) => b,
                    RaggedValues::Text(_) => Vec::new(),
                })
                .collect();
            w.write_vlen(
                &data,
                shape,
                chunk,
                VlenValues::Numbers(dtype, &values),
                compression,
            )?;
        }
        RaggedElement::Text => {
            let values: Vec<Vec<String>> = items_read
                .into_iter()
                .map(|item| match item.values {
                    RaggedValues::Text(s) => s,
                    RaggedValues::Numbers(_) => Vec::new(),
                })
                .collect();
            w.write_vlen(
                &data,
                shape,
                chunk,
                VlenValues::Strings(&values),
                compression,
            )?;
        }
    }
    w.write_vlen(
        &join(group, "_ragged_shapes_data"),
        shape,
        chunk,
        VlenValues::Numbers(DType::I64, &shapes),
        compression,
    )
}
