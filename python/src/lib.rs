//! `emio._emio`: the native core of the `emio` Python package.
//!
//! It binds emio's registry and dataset model: `open` probes and opens a file into lazy
//! `PyDataset`s (headers only), whose pixels are read region by region with the GIL
//! released, or viewed without a copy when the file is memory-mappable; `from_array` and
//! `from_callback` wrap Python data as datasets that every emio writer streams region by
//! region (`PyDataset::write`); `convert` goes file to file in Rust. The rsciio-style
//! API (`file_reader`, `file_writer`, Dask arrays) is built on this in Python.

mod buffer;
mod dataset;
mod errors;
mod pyjson;
mod sources;
mod verbs;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use emio::ragged::{RaggedArray, RaggedElement, RaggedItem, RaggedValues};
use emio::{Axis, ByteOrder, DType, Dataset, Error, Format, OptionKind, OptionSpec, Registry};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use buffer::ArrayBuffer;
use dataset::PyDataset;
use errors::{IntoPy, PyErrSlot};
use sources::{CallbackSource, NumpySource, PyProgress};

/// The registry of every format compiled in, built once.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(emio::registry)
}

/// NumPy's `dtype.str` of `dtype` in this machine's byte order.
fn native_typestr(dtype: DType) -> String {
    let s = dtype.numpy_str();
    if cfg!(target_endian = "big") {
        s.replacen('<', ">", 1)
    } else {
        s.to_string()
    }
}

/// The logical dtype and byte order of NumPy's `dtype.str` (`typestr`) and record fields.
fn parse_dtype(
    typestr: &str,
    fields: Option<Vec<(String, String)>>,
) -> emio::Result<(DType, ByteOrder)> {
    let (dtype, order) = match fields {
        Some(fields) => DType::from_numpy_fields(&fields).ok_or_else(|| {
            Error::unsupported(
                "python",
                format!("record dtype {fields:?} (emio knows R,G,B(,A) records of u1 or u2)"),
            )
        })?,
        None => DType::from_numpy_str(typestr)
            .map_err(|_| Error::unsupported("python", format!("NumPy dtype {typestr:?}")))?,
    };
    Ok((dtype, order))
}

/// One option declaration as a dict.
fn option_dict<'py>(py: Python<'py>, spec: &OptionSpec) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", spec.name)?;
    let kind = match spec.kind {
        OptionKind::Bool => "bool".to_string(),
        OptionKind::Int => "int".to_string(),
        OptionKind::Float => "float".to_string(),
        OptionKind::Str => "str".to_string(),
        OptionKind::Path => "path".to_string(),
        OptionKind::IntList => "int_list".to_string(),
        OptionKind::Choice(words) => {
            let meanings = PyDict::new(py);
            for w in words {
                meanings.set_item(w.word, w.help)?;
            }
            d.set_item("choices", meanings)?;
            let words: Vec<&str> = words.iter().map(|w| w.word).collect();
            format!("choice:{}", words.join("|"))
        }
    };
    d.set_item("kind", kind)?;
    d.set_item("default", spec.default)?;
    d.set_item("help", spec.help)?;
    Ok(d)
}

fn format_dict<'py>(py: Python<'py>, f: &dyn Format) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", f.name())?;
    d.set_item("description", f.description())?;
    d.set_item("extensions", f.extensions().to_vec())?;
    d.set_item("can_read", f.can_read())?;
    d.set_item("can_write", f.can_write())?;
    d.set_item("writes_directory", f.writes_directory())?;
    let specs = |list: &[OptionSpec]| -> PyResult<Bound<'py, PyList>> {
        let items = list
            .iter()
            .map(|s| option_dict(py, s))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    };
    d.set_item("read_options", specs(f.read_options())?)?;
    d.set_item("write_options", specs(f.write_options())?)?;
    Ok(d)
}

/// Every format compiled in, in probing order: name, description, extensions, whether it
/// reads/writes, and its reader and writer options (rsciio's keyword names).
#[pyfunction]
fn formats(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    registry()
        .formats()
        .iter()
        .map(|f| format_dict(py, f.as_ref()))
        .collect()
}

/// The name of the format that would read `path` (signature first, extension second).
#[pyfunction]
fn probe(py: Python<'_>, path: PathBuf) -> PyResult<&'static str> {
    let format = py.detach(|| registry().probe(&path)).py_err(py)?;
    Ok(format.name())
}

/// The name of the format that would write `path` (`format` names one explicitly).
#[pyfunction]
#[pyo3(signature = (path, format=None))]
fn writer_for(py: Python<'_>, path: PathBuf, format: Option<&str>) -> PyResult<&'static str> {
    Ok(registry().writer_for(&path, format).py_err(py)?.name())
}

fn reader(path: &Path, format: Option<&str>) -> emio::Result<Arc<dyn Format>> {
    match format {
        Some(name) => registry().by_name(name),
        None => registry().probe(path),
    }
}

/// Open `path` (probed, or with the format named `format`) with `key=value` reader
/// `options`. Reads headers only; returns the datasets in file order.
#[pyfunction]
#[pyo3(signature = (path, format=None, options=Vec::new()))]
fn open(
    py: Python<'_>,
    path: PathBuf,
    format: Option<String>,
    options: Vec<(String, String)>,
) -> PyResult<Vec<PyDataset>> {
    let (format, datasets) = py
        .detach(|| {
            let format = reader(&path, format.as_deref())?;
            let datasets = Registry::open_with(format.as_ref(), &path, &options)?;
            Ok((format, datasets))
        })
        .py_err(py)?;
    Ok(datasets
        .into_iter()
        .map(|inner| PyDataset {
            inner,
            format: format.name(),
            errors: None,
        })
        .collect())
}

/// Parse the axes given as `(name, units, navigate, scale, offset, values)` tuples
/// (`values` None for uniform axes).
type AxisTuple = (String, String, bool, f64, f64, Option<Vec<f64>>);

fn make_axes(axes: Vec<AxisTuple>) -> Vec<Axis> {
    axes.into_iter()
        .map(
            |(name, units, navigate, scale, offset, values)| match values {
                Some(values) => Axis::values(name, units, values, navigate),
                None => Axis::uniform(name, units, scale, offset, navigate),
            },
        )
        .collect()
}

fn make_dataset(
    py: Python<'_>,
    source: Arc<dyn emio::ArraySource>,
    axes: Vec<AxisTuple>,
    metadata: &str,
    original_metadata: &str,
) -> PyResult<Dataset> {
    let (metadata, original) = metadata_trees(py, metadata, original_metadata)?;
    Dataset::new(source, make_axes(axes), metadata, original).py_err(py)
}

/// The metadata and original-metadata trees given as JSON text.
fn metadata_trees(
    py: Python<'_>,
    metadata: &str,
    original_metadata: &str,
) -> PyResult<(emio::Tree, emio::Tree)> {
    let bad = |e: String| Error::invalid_option("metadata", e);
    let metadata = pyjson::tree_from_json(metadata).map_err(bad).py_err(py)?;
    let original = pyjson::tree_from_json(original_metadata)
        .map_err(bad)
        .py_err(py)?;
    Ok((metadata, original))
}

/// A dataset over a NumPy array (either byte order), read in place (no copy). `data` is
/// the address of element (0, ...), `strides` in bytes; `axes` one tuple per dimension
/// `(name, units, navigate, scale, offset, values_or_None)`; metadata as JSON text.
#[pyfunction]
#[pyo3(signature = (array, data, typestr, fields, shape, strides, axes, metadata, original_metadata))]
#[allow(clippy::too_many_arguments)]
fn from_array(
    py: Python<'_>,
    array: Py<PyAny>,
    data: usize,
    typestr: &str,
    fields: Option<Vec<(String, String)>>,
    shape: Vec<u64>,
    strides: Vec<i64>,
    axes: Vec<AxisTuple>,
    metadata: &str,
    original_metadata: &str,
) -> PyResult<PyDataset> {
    let (dtype, order) = parse_dtype(typestr, fields).py_err(py)?;
    let source = NumpySource::new(array, data, dtype, order, shape, strides).py_err(py)?;
    let inner = make_dataset(py, Arc::new(source), axes, metadata, original_metadata)?;
    Ok(PyDataset {
        inner,
        format: "numpy",
        errors: None,
    })
}

/// A ragged dataset (`emio::ragged`) from Python: `element` is NumPy's type string of the
/// items' values (native byte order) or `"str"`; `items` holds, in C order of `shape`,
/// each position's `(shape, values)`, the values as bytes (numbers) or a list of strings.
#[pyfunction]
#[pyo3(signature = (element, shape, items, axes, metadata, original_metadata))]
fn from_ragged(
    py: Python<'_>,
    element: &str,
    shape: Vec<u64>,
    items: Vec<(Vec<u64>, Bound<'_, PyAny>)>,
    axes: Vec<AxisTuple>,
    metadata: &str,
    original_metadata: &str,
) -> PyResult<PyDataset> {
    let element = match element {
        "str" => RaggedElement::Text,
        typestr => RaggedElement::Numeric(parse_dtype(typestr, None).py_err(py)?.0),
    };
    let items = items
        .into_iter()
        .map(|(item_shape, values)| {
            let values = match element {
                RaggedElement::Text => RaggedValues::Text(values.extract()?),
                RaggedElement::Numeric(_) => RaggedValues::Numbers(values.extract()?),
            };
            RaggedItem::new(element, item_shape, values).py_err(py)
        })
        .collect::<PyResult<Vec<_>>>()?;
    let array = RaggedArray::new(element, shape, items).py_err(py)?;
    let (metadata, original) = metadata_trees(py, metadata, original_metadata)?;
    let inner =
        Dataset::new_ragged(Arc::new(array), make_axes(axes), metadata, original).py_err(py)?;
    Ok(PyDataset {
        inner,
        format: "python",
        errors: None,
    })
}

/// A dataset whose regions come from `read(start, shape) -> numpy.ndarray` (C-contiguous,
/// native byte order): Dask and other lazy arrays. `chunk_shape` is its natural read unit.
#[pyfunction]
#[pyo3(signature = (read, typestr, fields, shape, chunk_shape, axes, metadata, original_metadata))]
#[allow(clippy::too_many_arguments)]
fn from_callback(
    py: Python<'_>,
    read: Py<PyAny>,
    typestr: &str,
    fields: Option<Vec<(String, String)>>,
    shape: Vec<u64>,
    chunk_shape: Vec<u64>,
    axes: Vec<AxisTuple>,
    metadata: &str,
    original_metadata: &str,
) -> PyResult<PyDataset> {
    let (dtype, order) = parse_dtype(typestr, fields).py_err(py)?;
    if !order.is_native() && dtype.swap_unit() > 1 {
        return Err(to_py_value_error(format!(
            "region readers return native byte order, not {typestr:?}"
        )));
    }
    if chunk_shape.len() != shape.len() {
        return Err(to_py_value_error(format!(
            "chunk shape {chunk_shape:?} does not match shape {shape:?}"
        )));
    }
    let errors = Arc::new(PyErrSlot::default());
    let source = CallbackSource::new(read, dtype, shape, chunk_shape, errors.clone());
    let inner = make_dataset(py, Arc::new(source), axes, metadata, original_metadata)?;
    Ok(PyDataset {
        inner,
        format: "python",
        errors: Some(errors),
    })
}

fn to_py_value_error(message: String) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message)
}

/// Convert file `src` into `dst` in Rust, streaming region by region: dataset `dataset`
/// of `src` (by default its main dataset; required when it holds several others), read with `read_options`, written in the
/// format named `format` (default: from `dst`'s extension) with `write_options`.
/// `progress(bytes_done, bytes_total)` is called as data is written; Ctrl-C cancels.
#[pyfunction]
#[pyo3(signature = (src, dst, format=None, dataset=None, read_options=Vec::new(), write_options=Vec::new(), overwrite=false, src_format=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn convert(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    format: Option<String>,
    dataset: Option<usize>,
    read_options: Vec<(String, String)>,
    write_options: Vec<(String, String)>,
    overwrite: bool,
    src_format: Option<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<()> {
    let errors = Arc::new(PyErrSlot::default());
    let progress = PyProgress::new(progress, errors.clone());
    let result = py.detach(|| {
        let source_format = reader(&src, src_format.as_deref())?;
        let writer = registry().writer_for(&dst, format.as_deref())?;
        let datasets = Registry::open_with(source_format.as_ref(), &src, &read_options)?;
        // Its main dataset unless `dataset` picks one (derived ones go where the
        // output holds them), as emconvert does.
        let chosen = emio::pick(&datasets, dataset)?;
        Registry::write(
            writer.as_ref(),
            chosen,
            &dst,
            &write_options,
            overwrite,
            &progress,
        )
    });
    result.map_err(|e| errors.resolve(py, e))?;
    progress.finish();
    errors.take().map_or(Ok(()), Err)
}

/// The native module.
#[pymodule]
fn _emio(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(formats, m)?)?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_function(wrap_pyfunction!(writer_for, m)?)?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(from_array, m)?)?;
    m.add_function(wrap_pyfunction!(from_callback, m)?)?;
    m.add_function(wrap_pyfunction!(from_ragged, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::check, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::ls, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::stats, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::sum_over, m)?)?;
    m.add_function(wrap_pyfunction!(verbs::preview, m)?)?;
    m.add_class::<PyDataset>()?;
    m.add_class::<ArrayBuffer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
