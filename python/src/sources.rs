//! Pixel sources backed by Python objects, so any writer streams Python data region by region.
//!
//! - [`NumpySource`]: a NumPy array's memory read directly (any strides, either byte order,
//!   no GIL needed, so writers may read regions on several threads).
//! - [`CallbackSource`]: a Python callable `read(start, shape) -> numpy.ndarray` (Dask arrays,
//!   Zarr/HDF5 arrays, anything sliceable); memory stays bounded by the regions in flight.
//!
//! Also [`PyProgress`]: progress callbacks, and Ctrl-C cancelling a long write.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emio::{ArraySource, ByteOrder, DType, Error, Progress, Result, StridedView};
use emio_core::source::{c_strides, element_count, Threads};
use pyo3::prelude::*;

use crate::errors::PyErrSlot;

/// A NumPy array of one of emio's logical dtypes, in either byte order, read in place
/// (values in the other byte order are swapped as regions are copied out).
pub struct NumpySource {
    /// Keeps the array (and so its memory) alive.
    _owner: Py<PyAny>,
    /// Lowest byte the array addresses.
    base: *const u8,
    /// Bytes from `base` to one past the highest addressed byte.
    extent: usize,
    /// Offset from `base` of element (0, 0, ...).
    origin: u64,
    dtype: DType,
    order: ByteOrder,
    shape: Vec<u64>,
    strides: Vec<i64>,
}

// SAFETY: the pointed-to memory belongs to the NumPy array held by `_owner` (a `Py<PyAny>`,
// itself Send + Sync), which keeps it alive and in place for the source's lifetime; emio only
// reads it. Python code mutating the array during a write can only change pixel values.
unsafe impl Send for NumpySource {}
// SAFETY: see `Send`: all access is reads of memory that outlives the source.
unsafe impl Sync for NumpySource {}

impl NumpySource {
    /// A source over the array `owner` whose element (0, ...) is at address `data`, with
    /// byte `strides` per dimension and values in byte `order`. Fails if the addressed
    /// range overflows.
    pub fn new(
        owner: Py<PyAny>,
        data: usize,
        dtype: DType,
        order: ByteOrder,
        shape: Vec<u64>,
        strides: Vec<i64>,
    ) -> Result<Self> {
        if strides.len() != shape.len() {
            return Err(Error::Layout(format!(
                "{} strides for a {}-dimensional array",
                strides.len(),
                shape.len()
            )));
        }
        let count = element_count(&shape)
            .ok_or_else(|| Error::Layout(format!("shape {shape:?} overflows")))?;
        let (mut lo, mut hi) = (0i128, dtype.size() as i128);
        if count > 0 {
            for (&n, &s) in shape.iter().zip(&strides) {
                let reach = (n as i128 - 1) * s as i128;
                if reach < 0 {
                    lo += reach;
                } else {
                    hi += reach;
                }
            }
        } else {
            hi = 0;
        }
        let extent = usize::try_from(hi - lo)
            .map_err(|_| Error::Layout(format!("array of shape {shape:?} is too large")))?;
        Ok(NumpySource {
            _owner: owner,
            base: (data as i128 + lo) as usize as *const u8,
            extent,
            origin: (-lo) as u64,
            dtype,
            order,
            shape,
            strides,
        })
    }
}

impl ArraySource for NumpySource {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        if self.extent == 0 {
            return Ok(());
        }
        // SAFETY: `base..base + extent` is exactly the memory the NumPy array addresses
        // (computed from its strides in `new`), kept alive by `_owner`.
        let bytes = unsafe { std::slice::from_raw_parts(self.base, self.extent) };
        let view = StridedView {
            bytes,
            offset: self.origin,
            strides: &self.strides,
            order: self.order,
        };
        view.read_region(self.dtype, start, shape, out, progress, threads)
    }

    fn chunk_shape(&self) -> Vec<u64> {
        let n = self.shape.len();
        let keep = n.min(2);
        let mut chunk = vec![1; n];
        chunk[n - keep..].copy_from_slice(&self.shape[n - keep..]);
        chunk
    }

    fn stored_view(&self) -> Option<StridedView<'_>> {
        let native = self.order.is_native() || self.dtype.swap_unit() == 1;
        if !native || self.strides != c_strides(&self.shape, self.dtype.size()) {
            return None;
        }
        // SAFETY: as in `read_region_with`; C-contiguous means the extent is the whole array.
        let bytes = unsafe { std::slice::from_raw_parts(self.base, self.extent) };
        Some(StridedView {
            bytes,
            offset: 0,
            strides: &self.strides,
            order: ByteOrder::NATIVE,
        })
    }
}

/// A source whose regions come from a Python callable `read(start, shape)` returning a
/// C-contiguous NumPy array of the source's dtype (native byte order) and of `shape`.
pub struct CallbackSource {
    read: Py<PyAny>,
    dtype: DType,
    shape: Vec<u64>,
    chunk: Vec<u64>,
    /// The first exception the callable raised, re-raised by the caller.
    pub errors: Arc<PyErrSlot>,
}

impl CallbackSource {
    /// A source of `dtype` and `shape` whose natural reading unit is `chunk`.
    pub fn new(
        read: Py<PyAny>,
        dtype: DType,
        shape: Vec<u64>,
        chunk: Vec<u64>,
        errors: Arc<PyErrSlot>,
    ) -> Self {
        CallbackSource {
            read,
            dtype,
            shape,
            chunk,
            errors,
        }
    }

    fn call(&self, py: Python<'_>, start: &[u64], shape: &[u64], out: &mut [u8]) -> PyResult<()> {
        let array = self.read.call1(py, (start.to_vec(), shape.to_vec()))?;
        let array = array.bind(py);
        let interface = array.getattr("__array_interface__")?;
        let (ptr, _readonly): (usize, bool) = interface.get_item("data")?.extract()?;
        let nbytes: usize = array.getattr("nbytes")?.extract()?;
        let contiguous: bool = array.getattr("flags")?.getattr("c_contiguous")?.extract()?;
        if nbytes != out.len() || !contiguous {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "the region reader returned {nbytes} bytes (C-contiguous: {contiguous}) for a \
                 region of shape {shape:?} that needs {} bytes",
                out.len()
            )));
        }
        if nbytes > 0 {
            // SAFETY: the array is C-contiguous with exactly `nbytes` bytes at `ptr`, and the
            // bound reference `array` keeps it alive during the copy.
            let src = unsafe { std::slice::from_raw_parts(ptr as *const u8, nbytes) };
            out.copy_from_slice(src);
        }
        Ok(())
    }
}

impl ArraySource for CallbackSource {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        _progress: &dyn Progress,
        _threads: Threads,
    ) -> Result<()> {
        Python::attach(|py| {
            self.call(py, start, shape, out).map_err(|e| {
                let message = format!("reading region {start:?}+{shape:?} from Python: {e}");
                self.errors.keep(e);
                Error::io("<python array>", std::io::Error::other(message))
            })
        })
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.chunk.clone()
    }
}

/// Seconds between two calls of a Python progress callback.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// Progress of a write or conversion seen from Python: reports `(bytes_done, bytes_total)`
/// to an optional callable (at most every 200 ms, and at the end), and cancels when Python
/// has a pending signal (Ctrl-C) or the callable raised, keeping that exception to re-raise.
pub struct PyProgress {
    /// The interrupt or the callable's exception, once one arrived.
    pub errors: Arc<PyErrSlot>,
    callback: Option<Py<PyAny>>,
    total: AtomicU64,
    done: AtomicU64,
    last: Mutex<Option<Instant>>,
    failed: AtomicBool,
}

impl PyProgress {
    /// Progress reporting to `callback` (if any), keeping exceptions in `errors`.
    pub fn new(callback: Option<Py<PyAny>>, errors: Arc<PyErrSlot>) -> Self {
        PyProgress {
            errors,
            callback,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            last: Mutex::new(None),
            failed: AtomicBool::new(false),
        }
    }

    fn report(&self, force: bool) {
        let Some(callback) = &self.callback else {
            return;
        };
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL);
            if !(force || due) {
                return;
            }
            *last = Some(Instant::now());
        }
        let (done, total) = (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        );
        Python::attach(|py| {
            if let Err(e) = callback.call1(py, (done, total)) {
                self.errors.keep(e);
                self.failed.store(true, Ordering::Relaxed);
            }
        });
    }

    /// Report the final state once the operation succeeded.
    pub fn finish(&self) {
        self.report(true);
    }
}

impl Progress for PyProgress {
    fn set_total(&self, bytes: u64) {
        self.total.store(bytes, Ordering::Relaxed);
        self.report(true);
    }

    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        self.report(false);
    }

    fn is_cancelled(&self) -> bool {
        if self.failed.load(Ordering::Relaxed) {
            return true;
        }
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(e) => {
                self.errors.keep(e);
                true
            }
        })
    }
}
