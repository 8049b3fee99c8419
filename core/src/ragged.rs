//! Ragged data: arrays whose every position holds an array of its own length (HyperSpy's
//! ragged signals, e.g. the peak positions found at each scan position; stored in HDF5 as
//! variable-length datasets).
//!
//! # Representation
//!
//! A ragged [`Dataset`](crate::Dataset) ([`Dataset::new_ragged`](crate::Dataset::new_ragged))
//! has the shape of its *positions* (one axis per position dimension, navigation axes, as
//! HyperSpy gives them) and a [`RaggedSource`] that gives, for each position (in C order),
//! one [`RaggedItem`]: a small N-D array of the dataset's [`RaggedElement`] type (a numeric
//! dtype, or text). Items are usually 1-D; HyperSpy also stores N-D items (an `(n, 2)` list
//! of peak positions) by their shape.
//!
//! Ragged data has no fixed element size, so it is never read through the dataset's pixel
//! source: [`Dataset::dtype`](crate::Dataset::dtype) is the element dtype (`u8` for text,
//! its UTF-8 bytes), and reading a region is an [`Error::Unsupported`] that names the
//! dataset, so a writer that stores only fixed-size arrays refuses ragged data instead of
//! dropping it. Readers of ragged data ask [`Dataset::ragged`](crate::Dataset::ragged).
//!
//! Outside Rust, ragged data is what rsciio returns: in JSON (`<dyn RaggedSource>::to_json`) a
//! nested list over the positions whose entries are each item's values as nested lists; in
//! Python a NumPy object array of NumPy arrays (NumPy's `dtype.str` `|O`,
//! [`NUMPY_STR`]).

use std::sync::Arc;

use serde_json::Value;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::metadata::json_f64;
use crate::source::{element_count, ArraySource, Threads};

/// NumPy's `dtype.str` of a ragged array (an object array).
pub const NUMPY_STR: &str = "|O";

/// The type of every value of every item of a ragged dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaggedElement {
    /// Numbers of one real dtype (integers, floats, booleans).
    Numeric(DType),
    /// Text (UTF-8 strings).
    Text,
}

impl RaggedElement {
    /// NumPy's `dtype.str` of the items (`<f8`, ...; `<U` for text).
    pub fn numpy_str(self) -> &'static str {
        match self {
            RaggedElement::Numeric(d) => d.numpy_str(),
            RaggedElement::Text => "<U",
        }
    }

    /// The dtype a ragged dataset of this element reports (`u8` for text).
    pub fn dtype(self) -> DType {
        match self {
            RaggedElement::Numeric(d) => d,
            RaggedElement::Text => DType::U8,
        }
    }
}

/// The values of one item, in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum RaggedValues {
    /// Native-endian values of the element dtype.
    Numbers(Vec<u8>),
    /// Strings.
    Text(Vec<String>),
}

/// The array held by one position of a ragged dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct RaggedItem {
    /// C-order shape (usually one dimension).
    pub shape: Vec<u64>,
    /// The values, as many as the shape holds.
    pub values: RaggedValues,
}

impl RaggedItem {
    /// An item, checked: as many values as `shape` holds, of the type of `element`.
    pub fn new(element: RaggedElement, shape: Vec<u64>, values: RaggedValues) -> Result<Self> {
        let n = element_count(&shape)
            .ok_or_else(|| Error::OutOfBounds(format!("a ragged item of shape {shape:?}")))?;
        let held = match (&values, element) {
            (RaggedValues::Numbers(b), RaggedElement::Numeric(d)) if d.size() > 0 => {
                (b.len() % d.size() == 0).then_some((b.len() / d.size()) as u64)
            }
            (RaggedValues::Text(s), RaggedElement::Text) => Some(s.len() as u64),
            _ => None,
        };
        match held {
            Some(m) if m == n => Ok(RaggedItem { shape, values }),
            _ => Err(Error::OutOfBounds(format!(
                "a ragged item of shape {shape:?} and element {element:?} holding {}",
                match &values {
                    RaggedValues::Numbers(b) => format!("{} bytes", b.len()),
                    RaggedValues::Text(s) => format!("{} strings", s.len()),
                }
            ))),
        }
    }

    /// Number of values.
    pub fn len(&self) -> u64 {
        element_count(&self.shape).unwrap_or(0)
    }

    /// Whether the item holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as JSON, nested by the item's shape (integers exact, non-finite floats
    /// as the strings `NaN`, `Infinity`, `-Infinity`).
    pub fn to_json(&self, element: RaggedElement) -> Value {
        let flat: Vec<Value> = match (&self.values, element) {
            (RaggedValues::Text(s), _) => s.iter().map(|s| Value::from(s.as_str())).collect(),
            (RaggedValues::Numbers(b), RaggedElement::Numeric(d)) => numbers_json(d, b),
            (RaggedValues::Numbers(_), RaggedElement::Text) => Vec::new(),
        };
        crate::hyperspy::tree::nest(&flat, &self.shape)
    }
}

/// Native-endian values of a real dtype as JSON (complex and RGB have no ragged form).
fn numbers_json(dtype: DType, bytes: &[u8]) -> Vec<Value> {
    macro_rules! each {
        ($t:ty, $f:expr) => {
            bytes
                .chunks_exact(std::mem::size_of::<$t>())
                .map(|c| $f(<$t>::from_ne_bytes(c.try_into().expect("exact chunk"))))
                .collect()
        };
    }
    match dtype {
        DType::Bool => bytes.iter().map(|&b| Value::Bool(b != 0)).collect(),
        DType::U8 => each!(u8, Value::from),
        DType::I8 => each!(i8, Value::from),
        DType::U16 => each!(u16, Value::from),
        DType::I16 => each!(i16, Value::from),
        DType::U32 => each!(u32, Value::from),
        DType::I32 => each!(i32, Value::from),
        DType::U64 => each!(u64, Value::from),
        DType::I64 => each!(i64, Value::from),
        DType::F16 => each!(half::f16, |x: half::f16| json_f64(x.to_f64())),
        DType::F32 => each!(f32, |x: f32| json_f64(f64::from(x))),
        DType::F64 => each!(f64, json_f64),
        _ => Vec::new(),
    }
}

/// Whether `dtype` can be the element of ragged data (real numbers and booleans).
pub fn is_ragged_element(dtype: DType) -> bool {
    !dtype.is_complex() && !dtype.is_rgb()
}

/// The items of a ragged dataset, read on demand.
pub trait RaggedSource: Send + Sync {
    /// The type of every item's values.
    fn element(&self) -> RaggedElement;
    /// C-order shape of the positions.
    fn shape(&self) -> &[u64];
    /// The item at C-order position `index` (below the element count of the shape).
    fn item(&self, index: u64) -> Result<RaggedItem>;
}

impl dyn RaggedSource + '_ {
    /// Number of positions.
    pub fn len(&self) -> u64 {
        element_count(self.shape()).unwrap_or(0)
    }

    /// Whether there is no position.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every item, in C order.
    pub fn items(&self) -> Result<Vec<RaggedItem>> {
        (0..self.len()).map(|i| self.item(i)).collect()
    }

    /// The whole ragged array as JSON: nested lists over the positions, each entry its
    /// item's values as nested lists ([`RaggedItem::to_json`]).
    pub fn to_json(&self) -> Result<Value> {
        let element = self.element();
        let flat = (0..self.len())
            .map(|i| self.item(i).map(|item| item.to_json(element)))
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::hyperspy::tree::nest(&flat, self.shape()))
    }
}

/// A ragged array held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct RaggedArray {
    element: RaggedElement,
    shape: Vec<u64>,
    items: Vec<RaggedItem>,
}

impl RaggedArray {
    /// A ragged array of one item per position of `shape`, in C order; every item must be
    /// of `element`'s type.
    pub fn new(element: RaggedElement, shape: Vec<u64>, items: Vec<RaggedItem>) -> Result<Self> {
        if let RaggedElement::Numeric(d) = element {
            if !is_ragged_element(d) {
                return Err(Error::unsupported("ragged", format!("{d} items")));
            }
        }
        if element_count(&shape) != Some(items.len() as u64) {
            return Err(Error::OutOfBounds(format!(
                "{} ragged items for positions of shape {shape:?}",
                items.len()
            )));
        }
        for item in &items {
            RaggedItem::new(element, item.shape.clone(), item.values.clone())?;
        }
        Ok(RaggedArray {
            element,
            shape,
            items,
        })
    }
}

impl RaggedSource for RaggedArray {
    fn element(&self) -> RaggedElement {
        self.element
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn item(&self, index: u64) -> Result<RaggedItem> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.items.get(i))
            .cloned()
            .ok_or_else(|| Error::OutOfBounds(format!("ragged item {index}")))
    }
}

/// The pixel source of a ragged dataset: its shape and element dtype, and an error for
/// every read (ragged data is read through [`RaggedSource`]).
pub(crate) struct RaggedPixels {
    dtype: DType,
    shape: Vec<u64>,
}

impl RaggedPixels {
    /// The placeholder source of `ragged`.
    pub(crate) fn of(ragged: &Arc<dyn RaggedSource>) -> Self {
        RaggedPixels {
            dtype: ragged.element().dtype(),
            shape: ragged.shape().to_vec(),
        }
    }
}

impl ArraySource for RaggedPixels {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn read_region_with(
        &self,
        _start: &[u64],
        _shape: &[u64],
        _out: &mut [u8],
        _progress: &dyn Progress,
        _threads: Threads,
    ) -> Result<()> {
        Err(Error::unsupported(
            "ragged",
            "reading ragged data (each position holds an array of its own length) as a \
             fixed-size array; only formats that store ragged data (.hspy) write it",
        ))
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.shape.iter().map(|_| 1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_checked_and_nested_by_shape() {
        let f = RaggedElement::Numeric(DType::F64);
        let bytes: Vec<u8> = [1.0f64, 2.5, 3.0, -4.0]
            .iter()
            .flat_map(|x| x.to_ne_bytes())
            .collect();
        let item = RaggedItem::new(f, vec![2, 2], RaggedValues::Numbers(bytes.clone())).unwrap();
        assert_eq!(item.to_json(f).to_string(), "[[1.0,2.5],[3.0,-4.0]]");
        assert!(RaggedItem::new(f, vec![3], RaggedValues::Numbers(bytes)).is_err());
        assert!(RaggedItem::new(f, vec![1], RaggedValues::Text(vec!["a".into()])).is_err());
        let text = RaggedItem::new(
            RaggedElement::Text,
            vec![2],
            RaggedValues::Text(vec!["a".into(), "bc".into()]),
        )
        .unwrap();
        let array = RaggedArray::new(
            RaggedElement::Text,
            vec![1, 2],
            vec![text.clone(), text.clone()],
        )
        .unwrap();
        let array: Arc<dyn RaggedSource> = Arc::new(array);
        assert_eq!(
            array.to_json().unwrap().to_string(),
            r#"[[["a","bc"],["a","bc"]]]"#
        );
        assert!(RaggedArray::new(RaggedElement::Text, vec![3], vec![text]).is_err());
    }
}
