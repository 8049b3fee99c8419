//! The `emconvert` verbs that make sense from Python, bound to the library functions the
//! CLI uses: [`check`] (validation that explains), [`ls`] (one summary per dataset of many
//! files), [`stats`] (streamed statistics), [`sum_over`] (streamed sums, `stats --sum`)
//! and [`preview`] (a PNG picture). Each returns what `emconvert VERB --json` prints (the
//! sum: its values), as Python objects, and works with the GIL released; long passes over
//! the data report progress and stop on Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;

use emio::reduce::Over;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::errors::{IntoPy, PyErrSlot};
use crate::pyjson;
use crate::sources::PyProgress;

/// Run `work` with a [`PyProgress`] over `callback` (Ctrl-C cancels), the GIL released;
/// the callback's exception or the interrupt wins over the error it caused.
fn with_progress<T: Send>(
    py: Python<'_>,
    callback: Option<Py<PyAny>>,
    work: impl FnOnce(&PyProgress) -> emio::Result<T> + Send,
) -> PyResult<T> {
    let errors = Arc::new(PyErrSlot::default());
    let progress = PyProgress::new(callback, errors.clone());
    let result = py.detach(|| work(&progress));
    let value = result.map_err(|e| errors.resolve(py, e))?;
    progress.finish();
    errors.take().map_or(Ok(value), Err)
}

/// Validate the file at `path` like `emconvert check --json`: a dict with `file`,
/// `format`, `datasets`, `verdict` (`valid`, `problems` or `unreadable`), `problems`
/// (`field`, `value`, `why`, `dataset`) and `error`. `quick` skips reading the pixels;
/// `options` are reader options as `(key, value)` pairs.
#[pyfunction]
#[pyo3(signature = (path, quick=false, options=Vec::new(), progress=None))]
pub fn check(
    py: Python<'_>,
    path: PathBuf,
    quick: bool,
    options: Vec<(String, String)>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'_, PyAny>> {
    let report = with_progress(py, progress, |p| {
        Ok(emio::check::check(&path, &options, quick, p))
    })?;
    pyjson::to_py(py, &report.to_json())
}

/// One dict per dataset of every file emio can read among `paths` (files or folders,
/// descended into when `recursive`), as `emconvert ls --json` prints them; files that do
/// not open are listed with the reason.
#[pyfunction]
#[pyo3(signature = (paths, recursive=false))]
pub fn ls(py: Python<'_>, paths: Vec<PathBuf>, recursive: bool) -> PyResult<Vec<Bound<'_, PyAny>>> {
    let rows = py.detach(|| emio::listing::list(&paths, recursive));
    rows.iter()
        .map(|r| pyjson::to_py(py, &r.to_json()))
        .collect()
}

/// Statistics of every value of dataset `dataset` of `path` (its main dataset when not
/// given), streamed: count, NaN and infinity counts, min, max, mean, std, sum, and a
/// histogram of `bins` bins with percentiles (`bins=0`: none). Without `bins`: 16 bins for
/// 8- and 16-bit data, whose histogram comes with the one pass over the data, none for
/// other types, where it takes a second pass.
#[pyfunction]
#[pyo3(signature = (path, dataset=None, bins=None, options=Vec::new(), progress=None))]
pub fn stats(
    py: Python<'_>,
    path: PathBuf,
    dataset: Option<usize>,
    bins: Option<usize>,
    options: Vec<(String, String)>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'_, PyAny>> {
    let stats = with_progress(py, progress, |p| {
        let (_, datasets) = emio::registry().open(&path, &options)?;
        let chosen = emio::pick(&datasets, dataset)?;
        let bins = bins.unwrap_or_else(|| emio::stats::default_bins(chosen.dtype()));
        emio::stats::stats(chosen, bins, p)
    })?;
    pyjson::to_py(py, &stats.to_json())
}

/// The sum of dataset `dataset` of `path` (its main dataset when not given) over its
/// navigation (`over="navigation"`) or signal (`"signal"`) axes, or the axes `over` lists
/// separated by commas (axis names or dimension indices), streamed in one pass over
/// the data as stored, on all cores, in bounded memory: the kept axes' shape and the
/// float64 values in C order (native byte order). `weights`, when given, are float64 bytes
/// (native order), one value per index of the summed axes in C order (a virtual detector's
/// mask over the signal).
#[pyfunction]
#[pyo3(signature = (path, over, dataset=None, weights=None, options=Vec::new(), progress=None))]
pub fn sum_over<'py>(
    py: Python<'py>,
    path: PathBuf,
    over: &str,
    dataset: Option<usize>,
    weights: Option<Bound<'py, PyBytes>>,
    options: Vec<(String, String)>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Vec<u64>, Bound<'py, PyByteArray>)> {
    let over: Over = over.parse().map_err(PyValueError::new_err)?;
    let weights: Option<Vec<f64>> = weights.map(|w| {
        w.as_bytes()
            .chunks_exact(8)
            .map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes")))
            .collect()
    });
    let sum = with_progress(py, progress, |p| {
        let (_, datasets) = emio::registry().open(&path, &options)?;
        let chosen = emio::pick(&datasets, dataset)?;
        let sum = emio::reduce::sum_over(chosen, &over, weights.as_deref(), p)?;
        let bytes = sum.read_region_bytes(&vec![0; sum.ndim()], sum.shape())?;
        Ok((sum.shape().to_vec(), bytes))
    })?;
    Ok((sum.0, PyByteArray::new(py, &sum.1)))
}

/// A PNG picture of the file at `path`, chosen by what the data is (an image with a scale
/// bar, a stack's first frame and mean, 4D-STEM's virtual bright field and mean pattern, a
/// spectrum plot, ...; several datasets: a contact sheet unless `dataset` picks one), as
/// the bytes of a PNG file. `size` is each panel's side in pixels; `phase` adds the phase
/// of complex data.
#[pyfunction]
#[pyo3(signature = (path, dataset=None, size=512, phase=false))]
pub fn preview(
    py: Python<'_>,
    path: PathBuf,
    dataset: Option<usize>,
    size: u32,
    phase: bool,
) -> PyResult<Bound<'_, PyBytes>> {
    let options = emio::preview::Options {
        dataset,
        size,
        phase,
    };
    let png = py
        .detach(|| {
            let picture = emio::preview::preview_file(&path, &options)?;
            emio::preview::encode_png(&picture)
        })
        .py_err(py)?;
    Ok(PyBytes::new(py, &png))
}
