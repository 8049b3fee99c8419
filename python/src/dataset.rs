//! `emio._emio.Dataset`: one lazy dataset as Python sees it: its dtype, shape, axes and
//! metadata, region reads with the GIL released, zero-copy views of memory-mappable files,
//! and writes through emio's write pipeline.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio::ragged::{RaggedElement, RaggedValues};
use emio::{ArraySource, AxisKind, ByteOrder, Dataset, Error, Registry};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::buffer::{self, ArrayBuffer, OwnedBytes};
use crate::errors::{self, IntoPy, PyErrSlot};
use crate::sources::PyProgress;
use crate::{native_typestr, pyjson, registry};

/// One dataset of a file (or Python data to write): dtype, shape, calibrated axes,
/// metadata, and region reads that release the GIL.
#[pyclass(frozen, module = "emio._emio", name = "Dataset")]
pub struct PyDataset {
    /// The dataset itself.
    pub(crate) inner: Dataset,
    /// The name of the format it was read from (`"numpy"` or `"python"` for Python data).
    pub(crate) format: &'static str,
    /// For Python-backed sources: the exception a callback raised.
    pub(crate) errors: Option<Arc<PyErrSlot>>,
}

/// Formats whose arrays keep the file's byte order when emio views them in place, because
/// their reference readers do: rsciio's MIB reader returns a memory map of the big-endian
/// counters (`>u2`, `>u4`), and NumPy's `np.load` keeps an NPY file's byte order. The
/// others' reference readers (rsciio's MRC reader, tifffile) return native byte order, so
/// emio converts big-endian data of those formats once, in Rust.
const STORED_ORDER_FORMATS: &[&str] = &["mib", "npy"];

impl PyDataset {
    /// Whether zero-copy views of this dataset keep a non-native stored byte order.
    fn keeps_stored_order(&self) -> bool {
        STORED_ORDER_FORMATS.contains(&self.format)
    }

    /// The byte order of a zero-copy view of the stored values, None when `read` copies.
    fn view_order(&self) -> Option<ByteOrder> {
        if self.inner.mapped().is_some() {
            return Some(ByteOrder::NATIVE);
        }
        let order = self.inner.stored_view()?.order;
        (order.is_native() || self.keeps_stored_order()).then_some(order)
    }

    /// `results` as Python's `(values, arrays)` ([`PyDataset::learning_results`]).
    #[allow(clippy::type_complexity)]
    fn learning_group<'py>(
        &self,
        py: Python<'py>,
        results: Option<&emio::LearningResults>,
    ) -> PyResult<Option<(Bound<'py, PyDict>, Vec<(String, PyDataset)>)>> {
        let Some(results) = results else {
            return Ok(None);
        };
        let values = pyjson::tree_to_py(py, &results.values)?;
        let arrays = results
            .arrays
            .iter()
            .map(|(name, array)| {
                let array = PyDataset {
                    inner: array.clone(),
                    format: self.format,
                    errors: self.errors.clone(),
                };
                (name.clone(), array)
            })
            .collect();
        Ok(Some((values, arrays)))
    }

    fn resolve(&self, py: Python<'_>, error: Error) -> PyErr {
        let error = self.inner.naming_its_file(error);
        match &self.errors {
            Some(slot) => slot.resolve(py, error),
            None => errors::to_pyerr(py, error),
        }
    }

    /// The whole array copied in the order it is stored (`stored`, logical dimension
    /// `perm[k]` stored `k`-th; see `ArraySource::stored_order`) with the GIL released, and
    /// seen in the logical order through strides, as NumPy's `transpose` (and rsciio's
    /// NCEM reader) gives: no transpose of the values is made.
    fn read_stored(
        &self,
        py: Python<'_>,
        perm: &[usize],
        stored: &dyn ArraySource,
    ) -> PyResult<ArrayBuffer> {
        let stored_shape = stored.shape().to_vec();
        let start = vec![0; stored_shape.len()];
        let bytes = self.fill_owned(py, &stored_shape, |bytes| {
            stored.read_region(&start, &stored_shape, bytes)
        })?;
        let c = emio_core::source::c_strides(&stored_shape, self.inner.dtype().size());
        let mut strides = vec![0; perm.len()];
        for (k, &logical) in perm.iter().enumerate() {
            strides[logical] = c[k];
        }
        Ok(ArrayBuffer::owned_permuted(bytes, strides))
    }

    fn read_owned(&self, py: Python<'_>, start: &[u64], shape: &[u64]) -> PyResult<ArrayBuffer> {
        let bytes = self.fill_owned(py, shape, |bytes| {
            self.inner.read_region_into(start, shape, bytes)
        })?;
        Ok(ArrayBuffer::owned(bytes))
    }

    /// A new buffer for `shape` values, filled by `fill` with the GIL released.
    fn fill_owned(
        &self,
        py: Python<'_>,
        shape: &[u64],
        fill: impl FnOnce(&mut [u8]) -> emio::Result<()> + Send,
    ) -> PyResult<OwnedBytes> {
        let es = self.inner.dtype().size() as u64;
        let nbytes = shape
            .iter()
            .try_fold(es, |acc, &n| acc.checked_mul(n))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                errors::to_pyerr(
                    py,
                    Error::OutOfBounds(format!("region {shape:?} is too large")),
                )
            })?;
        let result = py.detach(|| {
            let mut bytes = OwnedBytes::zeroed(nbytes);
            fill(bytes.as_mut_slice()).map(|()| bytes)
        });
        result.map_err(|e| self.resolve(py, e))
    }
}

#[pymethods]
impl PyDataset {
    /// NumPy `dtype.str` of the values (native byte order; `|V3`.. for RGB records).
    #[getter]
    fn dtype(&self) -> String {
        native_typestr(self.inner.dtype())
    }

    /// Record fields `[(name, typestr), ...]` of RGB(A) dtypes, else None.
    #[getter]
    fn fields(&self) -> Option<Vec<(&'static str, String)>> {
        self.inner.dtype().numpy_fields().map(|fields| {
            fields
                .iter()
                .map(|(name, t)| {
                    let t = if cfg!(target_endian = "big") {
                        t.replacen('<', ">", 1)
                    } else {
                        t.to_string()
                    };
                    (*name, t)
                })
                .collect()
        })
    }

    /// C-order shape.
    #[getter]
    fn shape(&self) -> Vec<u64> {
        self.inner.shape().to_vec()
    }

    /// The natural reading unit (a frame, a tile, an HDF5 chunk).
    #[getter]
    fn chunk_shape(&self) -> Vec<u64> {
        self.inner.chunk_shape()
    }

    /// The chunk shape for reading in any order within `target_bytes` per chunk: whole
    /// natural chunks grown, innermost dimension first, by whole chunks (emio's
    /// `Dataset::read_chunk_shape`); lazy arrays' `chunks="auto"`.
    fn read_chunk_shape(&self, target_bytes: u64) -> Vec<u64> {
        self.inner.read_chunk_shape(target_bytes)
    }

    /// Size in bytes.
    #[getter]
    fn nbytes(&self) -> u64 {
        self.inner.nbytes()
    }

    /// `General.title`.
    #[getter]
    fn title(&self) -> &str {
        self.inner.title()
    }

    /// What the reader skipped or repaired while opening this dataset (a page lost to
    /// truncation, a broken directory chain), in order; `emio.open` and `file_reader` raise
    /// each as `emio.EmioWarning`.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.inner.warnings().to_vec()
    }

    /// Registry name of the format the dataset was read with (`numpy`/`python` for data
    /// given from Python).
    #[getter]
    fn format(&self) -> &'static str {
        self.format
    }

    /// The Python package of the signal's class in HyperSpy and its version, `(name,
    /// version)`, as HyperSpy's own formats record them (rsciio's `package` and
    /// `package_version`); `None` where the file records none. Writers of those formats
    /// store it back.
    #[getter]
    fn signal_package(&self) -> Option<(String, String)> {
        self.inner
            .signal_package
            .as_ref()
            .map(|p| (p.name.clone(), p.version.clone()))
    }

    /// The learning results HyperSpy stored with the signal (decomposition, blind source
    /// separation), `None` where there are none: `(values, arrays)`, `values` a dict of
    /// settings, flags, `None`s and tuples (as lists), `arrays` a list of `(name,
    /// Dataset)` (factors, loadings, ...), each read lazily and whole.
    #[getter]
    #[allow(clippy::type_complexity)]
    fn learning_results<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<(Bound<'py, PyDict>, Vec<(String, PyDataset)>)>> {
        self.learning_group(py, self.inner.learning_results.as_ref())
    }

    /// The same of the signal's peaks (HyperSpy 1.x's `peak_learning_results`).
    #[getter]
    #[allow(clippy::type_complexity)]
    fn peak_learning_results<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<(Bound<'py, PyDict>, Vec<(String, PyDataset)>)>> {
        self.learning_group(py, self.inner.peak_learning_results.as_ref())
    }

    /// This dataset with learning results: `values` (JSON text of the settings and small
    /// values) and `arrays` (`(name, Dataset)` pairs), what HyperSpy's formats write;
    /// `group` says which: `"learning_results"` (the default) or
    /// `"peak_learning_results"`.
    #[pyo3(signature = (values, arrays, group = "learning_results"))]
    fn with_learning_results(
        &self,
        py: Python<'_>,
        values: &str,
        arrays: Vec<(String, PyRef<'_, PyDataset>)>,
        group: &str,
    ) -> PyResult<PyDataset> {
        let values = pyjson::tree_from_json(values)
            .map_err(|e| Error::invalid_option("learning_results", e))
            .py_err(py)?;
        let arrays = arrays
            .into_iter()
            .map(|(name, array)| (name, array.inner.clone()))
            .collect();
        let mut inner = self.inner.clone();
        let slot = inner.learning_group_mut(group).ok_or_else(|| {
            errors::to_pyerr(
                py,
                Error::invalid_option(
                    "group",
                    format!("learning_results or peak_learning_results, not {group:?}"),
                ),
            )
        })?;
        *slot = Some(emio::LearningResults { values, arrays });
        Ok(PyDataset {
            inner,
            format: self.format,
            errors: self.errors.clone(),
        })
    }

    /// The models HyperSpy stored for the signal (`s.models`), one `(name, tree, arrays)`
    /// each: `tree` the dictionary rsciio reads for it, with each array a placeholder
    /// `{"__emio_model_array__": path}`, and `arrays` a dict of those paths to `(NumPy
    /// description as JSON text, shape, bytes)` (C order, native byte order).
    #[getter]
    #[allow(clippy::type_complexity)]
    fn models<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Vec<(String, Bound<'py, PyDict>, Bound<'py, PyDict>)>> {
        let mut out = Vec::with_capacity(self.inner.models.len());
        for model in &self.inner.models {
            let tree = emio::models::decoded(model).py_err(py)?;
            let arrays = PyDict::new(py);
            collect_model_arrays(py, model, &tree, &arrays)?;
            out.push((model.name.clone(), pyjson::tree_to_py(py, &tree)?, arrays));
        }
        Ok(out)
    }

    /// This dataset with `models` (replacing any): `(name, tree, arrays)` each, `tree` the
    /// JSON text of HyperSpy's dictionary of the model with each array a placeholder
    /// `{"__emio_model_array__": i}` for `arrays[i]`, a `(NumPy description as JSON text,
    /// shape, bytes)` (C order, native byte order, records packed).
    #[allow(clippy::type_complexity)]
    fn with_models(
        &self,
        py: Python<'_>,
        models: Vec<(String, String, Vec<(String, Vec<u64>, Vec<u8>)>)>,
    ) -> PyResult<PyDataset> {
        let bad = |e: String| errors::to_pyerr(py, Error::invalid_option("models", e));
        let mut inner = self.inner.clone();
        inner.models.clear();
        for (name, tree, arrays) in models {
            let tree = pyjson::tree_from_json(&tree).map_err(bad)?;
            let arrays = arrays
                .into_iter()
                .map(|(descr, shape, bytes)| {
                    let descr: emio::serde_json::Value =
                        emio::serde_json::from_str(&descr).map_err(|e| bad(e.to_string()))?;
                    let (element, _) = emio::models::StoredElement::from_numpy_descr(&descr)
                        .ok_or_else(|| bad(format!("a model array of NumPy type {descr}")))?;
                    emio::models::StoredArray::new(element, shape, bytes).py_err(py)
                })
                .collect::<PyResult<Vec<_>>>()?;
            let model = emio::models::from_decoded(&name, &tree, arrays).py_err(py)?;
            inner.models.push(model);
        }
        Ok(PyDataset {
            inner,
            format: self.format,
            errors: self.errors.clone(),
        })
    }

    /// This dataset with the signal package `(name, version)` (or none): what HyperSpy's
    /// formats write for it.
    fn with_signal_package(&self, package: Option<(String, String)>) -> PyDataset {
        let mut inner = self.inner.clone();
        inner.signal_package = package.map(|(name, version)| emio::SignalPackage { name, version });
        PyDataset {
            inner,
            format: self.format,
            errors: self.errors.clone(),
        }
    }

    /// Whether [`PyDataset::read`] returns a zero-copy view of the stored bytes (usually a
    /// memory map), C-contiguous or strided.
    #[getter]
    fn is_mapped(&self) -> bool {
        self.view_order().is_some()
    }

    /// Byte order of the arrays [`PyDataset::read`] returns: `"<"` or `">"` as stored in
    /// the file for zero-copy views of the formats in [`STORED_ORDER_FORMATS`] (MIB
    /// counters are big-endian, as in rsciio's memory maps), the machine's otherwise; `"|"`
    /// where it does not apply (single bytes).
    #[getter]
    fn byte_order(&self) -> &'static str {
        if self.inner.dtype().swap_unit() == 1 {
            return "|";
        }
        buffer::order_char(self.view_order().unwrap_or(ByteOrder::NATIVE))
    }

    /// The axes as `(name, units, navigate, scale, offset, values)` tuples: `values` is a
    /// list for non-uniform axes (then scale/offset are None), else None.
    #[getter]
    #[allow(clippy::type_complexity)]
    fn axes(
        &self,
    ) -> Vec<(
        String,
        String,
        bool,
        Option<f64>,
        Option<f64>,
        Option<Vec<f64>>,
    )> {
        self.inner
            .axes
            .iter()
            .map(|a| match &a.kind {
                AxisKind::Uniform { scale, offset } => (
                    a.name.clone(),
                    a.units.clone(),
                    a.navigate,
                    Some(*scale),
                    Some(*offset),
                    None,
                ),
                AxisKind::Values(values) => (
                    a.name.clone(),
                    a.units.clone(),
                    a.navigate,
                    None,
                    None,
                    Some(values.clone()),
                ),
            })
            .collect()
    }

    /// HyperSpy's normalized metadata tree (a new dict on each access).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        pyjson::tree_to_py(py, &self.inner.metadata)
    }

    /// The file's own metadata (a new dict on each access).
    #[getter]
    fn original_metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        pyjson::tree_to_py(py, &self.inner.original_metadata)
    }

    /// For a ragged dataset (each position holds an array of its own length,
    /// `emio::ragged`): NumPy's `dtype.str` of its items' values (native byte order), or
    /// `"str"` for text; None for other datasets.
    #[getter]
    fn ragged_element(&self) -> Option<String> {
        self.inner.ragged().map(|r| match r.element() {
            RaggedElement::Numeric(d) => native_typestr(d),
            RaggedElement::Text => "str".into(),
        })
    }

    /// The items of a ragged dataset at the C-order positions `start .. start + count`
    /// (every item by default), read with the GIL released: `(shape, values)` with the
    /// values as native-endian bytes of [`PyDataset::ragged_element`], or a list of
    /// strings.
    #[pyo3(signature = (start=0, count=None))]
    fn ragged_items<'py>(
        &self,
        py: Python<'py>,
        start: u64,
        count: Option<u64>,
    ) -> PyResult<Vec<(Vec<u64>, Bound<'py, PyAny>)>> {
        let Some(ragged) = self.inner.ragged() else {
            return Err(errors::to_pyerr(
                py,
                Error::unsupported("python", "ragged items of a dataset that is not ragged"),
            ));
        };
        let len = ragged.len();
        let end = count.map_or(Some(len), |n| start.checked_add(n));
        let Some(end) = end.filter(|&end| start <= end && end <= len) else {
            return Err(errors::to_pyerr(
                py,
                Error::OutOfBounds(format!(
                    "ragged items {start} .. {start} + {} of a dataset of {len} positions",
                    count.unwrap_or(0)
                )),
            ));
        };
        let items = py
            .detach(|| {
                (start..end)
                    .map(|i| ragged.item(i))
                    .collect::<emio::Result<Vec<_>>>()
            })
            .map_err(|e| self.resolve(py, e))?;
        items
            .into_iter()
            .map(|item| {
                let values = match item.values {
                    RaggedValues::Numbers(bytes) => PyBytes::new(py, &bytes).into_any(),
                    RaggedValues::Text(strings) => PyList::new(py, strings)?.into_any(),
                };
                Ok((item.shape, values))
            })
            .collect()
    }

    /// The whole array's bytes without a copy when the file stores the values as-is
    /// (contiguous or at fixed strides, in the stored byte order, see
    /// `ArrayBuffer.layout`): with `writable` (the default) a private copy-on-write map of
    /// the file (NumPy may write to it; the file never changes), else a read-only view of
    /// the dataset's memory map. Other layouts are copied once in Rust with the GIL
    /// released (always writable).
    #[pyo3(signature = (writable=true))]
    fn read(&self, py: Python<'_>, writable: bool) -> PyResult<ArrayBuffer> {
        let any_order = self.keeps_stored_order();
        if writable {
            match ArrayBuffer::private_view(&self.inner, any_order) {
                Some(Ok(view)) => return Ok(view),
                Some(Err(e)) => {
                    let path = self.inner.view_file().unwrap_or(Path::new(""));
                    return Err(errors::to_pyerr(py, Error::io(path, e)));
                }
                None => {}
            }
        } else if let Some(view) = ArrayBuffer::view(&self.inner, any_order) {
            return Ok(view);
        }
        if let Some((perm, stored)) = self.inner.source().stored_order() {
            return self.read_stored(py, &perm, stored.as_ref());
        }
        let start = vec![0; self.inner.ndim()];
        let shape = self.inner.shape().to_vec();
        self.read_owned(py, &start, &shape)
    }

    /// The bytes of region `start .. start + shape` (C order, native byte order), read
    /// with the GIL released.
    fn read_region(
        &self,
        py: Python<'_>,
        start: Vec<u64>,
        shape: Vec<u64>,
    ) -> PyResult<ArrayBuffer> {
        self.read_owned(py, &start, &shape)
    }

    /// SHA-256 of the array (C order, little-endian values), as in the corpus references.
    fn sha256(&self, py: Python<'_>) -> PyResult<String> {
        let result = py.detach(|| self.inner.sha256());
        result.map_err(|e| self.resolve(py, e))
    }

    /// Write this dataset to `path` (format from the extension, or named by `format`) with
    /// `key=value` writer `options`, atomically; an existing `path` is replaced only when
    /// `overwrite`. `progress(bytes_done, bytes_total)` is called as data is written (at most
    /// every 200 ms); Ctrl-C or an exception in `progress` cancels. Returns the format name.
    #[pyo3(signature = (path, format=None, options=Vec::new(), overwrite=false, progress=None))]
    fn write(
        &self,
        py: Python<'_>,
        path: PathBuf,
        format: Option<String>,
        options: Vec<(String, String)>,
        overwrite: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<&'static str> {
        let interrupts = Arc::new(PyErrSlot::default());
        let progress = PyProgress::new(progress, interrupts.clone());
        let result = py.detach(|| {
            let writer = registry().writer_for(&path, format.as_deref())?;
            Registry::write(
                writer.as_ref(),
                &self.inner,
                &path,
                &options,
                overwrite,
                &progress,
            )
            .map(|()| writer.name())
        });
        let name = result.map_err(|e| match interrupts.take() {
            Some(interrupt) => interrupt,
            None => self.resolve(py, e),
        })?;
        progress.finish();
        interrupts.take().map_or(Ok(name), Err)
    }

    fn __repr__(&self) -> String {
        format!(
            "<emio.Dataset {:?} {} {:?} from {}>",
            self.inner.title(),
            self.dtype(),
            self.inner.shape(),
            self.format
        )
    }
}

/// The arrays of `model` its decoded `tree` refers to, into `out` (path -> `(NumPy
/// description as JSON text, shape, bytes)`).
fn collect_model_arrays(
    py: Python<'_>,
    model: &emio::models::Model,
    tree: &emio::Tree,
    out: &Bound<'_, PyDict>,
) -> PyResult<()> {
    use emio::serde_json::Value;
    fn walk(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => match map.get(emio::models::ARRAY_PLACEHOLDER) {
                Some(Value::String(path)) if map.len() == 1 => found.push(path.clone()),
                _ => map.values().for_each(|v| walk(v, found)),
            },
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    tree.values().for_each(|v| walk(v, &mut found));
    for path in found {
        if let Some(array) = emio::models::array_at(model, &path) {
            let descr = array.element.numpy_descr().to_string();
            let bytes = PyBytes::new(py, &array.bytes);
            out.set_item(path, (descr, array.shape.clone(), bytes))?;
        }
    }
    Ok(())
}
