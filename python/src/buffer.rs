//! Pixel buffers handed to NumPy without a copy.
//!
//! An [`ArrayBuffer`] exposes its bytes through NumPy's `__array_interface__` protocol, so
//! `numpy.asarray(buffer)` wraps them and keeps the buffer object alive as the array's
//! `base`. A buffer is a read-only view of a memory-mapped file (holding the dataset, and
//! so the mapping, alive), a private copy-on-write map of that file (writable: pages are
//! copied only when NumPy writes to them, as `numpy.memmap(mode="c")` does; the file never
//! changes), or a heap allocation filled by a region read in Rust.
//! The protocol is plain Python, so this works under the stable ABI (abi3) on every
//! supported CPython.

use std::fs::File;
use std::path::Path;
use std::ptr::NonNull;

use emio::{ByteOrder, Dataset};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// A zero-initialised, 8-byte aligned heap allocation that NumPy may write into.
pub struct OwnedBytes {
    ptr: NonNull<u64>,
    words: usize,
    len: usize,
}

// SAFETY: `OwnedBytes` uniquely owns its allocation (like a `Box<[u64]>`); moving it between
// threads moves that ownership.
unsafe impl Send for OwnedBytes {}
// SAFETY: Rust code only reads or writes the bytes through `&mut self`
// ([`OwnedBytes::as_mut_slice`]) before the buffer is shared with Python; afterwards only
// NumPy touches them, through the raw pointer, under its own rules for shared arrays.
unsafe impl Sync for OwnedBytes {}

impl OwnedBytes {
    /// `len` zero bytes (the allocator hands out untouched zero pages for large sizes),
    /// backed by transparent huge pages when large, as the library's own arrays are: a
    /// full read then faults its output in 2 MiB pages, not 4 KiB ones.
    pub fn zeroed(len: usize) -> Self {
        let words = len.div_ceil(8).max(1);
        let boxed: Box<[u64]> = vec![0u64; words].into_boxed_slice();
        let raw = Box::into_raw(boxed) as *mut u64;
        let mut bytes = OwnedBytes {
            // SAFETY: `Box::into_raw` never returns null.
            ptr: unsafe { NonNull::new_unchecked(raw) },
            words,
            len,
        };
        emio_core::advise_huge_pages(bytes.as_mut_slice());
        bytes
    }

    /// The bytes, for filling.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the allocation holds `words * 8 >= len` initialised bytes, and `&mut self`
        // guarantees no other reference to them exists.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr() as *mut u8, self.len) }
    }
}

impl Drop for OwnedBytes {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`words` come from `Box::into_raw` of a `Box<[u64]>` of `words`
        // elements in `zeroed`, and are released exactly once here.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.words,
            )));
        }
    }
}

enum Bytes {
    /// A read-only view of a dataset's C-contiguous bytes ([`Dataset::mapped`]).
    Mapped(Dataset),
    /// A read-only view of all the bytes a dataset's values lie in, with their strides and
    /// stored byte order ([`Dataset::stored_view`]).
    Strided(Dataset),
    /// A private, writable copy-on-write map of the file a dataset's stored view lies in,
    /// with the view's offset, strides and stored byte order.
    Private {
        map: memmap2::MmapRaw,
        offset: u64,
        strides: Vec<i64>,
        order: ByteOrder,
    },
    /// Bytes produced by a region read.
    Owned(OwnedBytes),
    /// Bytes of a full read copied in the order the file stores the values, seen through
    /// these byte strides (a transposed view, as NumPy's `transpose` gives).
    OwnedPermuted(OwnedBytes, Vec<i64>),
}

/// Bytes NumPy can wrap without copying: `numpy.asarray(buffer)` is a 1-D `uint8` array over
/// them (read-only for memory maps). `emio` views it with the dataset's dtype and shape, at
/// [`ArrayBuffer::layout`]'s offset and strides when it has one.
#[pyclass(frozen, module = "emio._emio", name = "ArrayBuffer")]
pub struct ArrayBuffer {
    bytes: Bytes,
}

impl ArrayBuffer {
    /// A view of `dataset`'s stored bytes, when its storage holds the values as-is
    /// (C-contiguous, or at fixed strides), in native byte order or, when `any_order`, in
    /// the other one too.
    pub fn view(dataset: &Dataset, any_order: bool) -> Option<Self> {
        let bytes = if dataset.mapped().is_some() {
            Bytes::Mapped(dataset.clone())
        } else {
            let order = dataset.stored_view()?.order;
            if !(any_order || order.is_native()) {
                return None;
            }
            Bytes::Strided(dataset.clone())
        };
        Some(ArrayBuffer { bytes })
    }

    /// A writable, zero-copy view of `dataset`'s stored values: a private copy-on-write map
    /// of the file its stored view lies in (see [`Dataset::view_file`]), when there is one
    /// and its byte order is native or `any_order`. None when the values are not stored
    /// as-is in a file, or the file no longer has the size it had when opened.
    pub fn private_view(dataset: &Dataset, any_order: bool) -> Option<std::io::Result<Self>> {
        let view = dataset.stored_view()?;
        let order = view.order;
        if !(any_order || order.is_native()) {
            return None;
        }
        let path = dataset.view_file()?;
        let map = match map_private(path) {
            Ok(map) => map,
            Err(e) => return Some(Err(e)),
        };
        (map.len() == view.bytes.len()).then(|| {
            Ok(ArrayBuffer {
                bytes: Bytes::Private {
                    map,
                    offset: view.offset,
                    strides: view.strides.to_vec(),
                    order,
                },
            })
        })
    }

    /// A buffer owning `bytes`.
    pub fn owned(bytes: OwnedBytes) -> Self {
        ArrayBuffer {
            bytes: Bytes::Owned(bytes),
        }
    }

    /// A buffer owning `bytes`, whose values are seen at byte `strides` (native order).
    pub fn owned_permuted(bytes: OwnedBytes, strides: Vec<i64>) -> Self {
        ArrayBuffer {
            bytes: Bytes::OwnedPermuted(bytes, strides),
        }
    }

    fn pointer_and_len(&self) -> (usize, usize, bool) {
        match &self.bytes {
            Bytes::Mapped(ds) => {
                let bytes = ds.mapped().unwrap_or(&[]);
                (bytes.as_ptr() as usize, bytes.len(), true)
            }
            Bytes::Strided(ds) => {
                let bytes = ds.stored_view().map(|v| v.bytes).unwrap_or(&[]);
                (bytes.as_ptr() as usize, bytes.len(), true)
            }
            Bytes::Private { map, .. } => (map.as_ptr() as usize, map.len(), false),
            Bytes::Owned(owned) | Bytes::OwnedPermuted(owned, _) => {
                (owned.ptr.as_ptr() as usize, owned.len, false)
            }
        }
    }
}

/// A private (copy-on-write) map of the whole of `path`: writable, and writes never reach
/// the file. Held as a raw map: only its address and length are used, so no Rust reference
/// to bytes NumPy may be writing is ever formed.
fn map_private(path: &Path) -> std::io::Result<memmap2::MmapRaw> {
    let file = File::open(path)?;
    // SAFETY: the map is private (MAP_PRIVATE): writes go to this process's copies of the
    // pages, never to the file. Only NumPy reads and writes it, through the raw pointer of
    // the array interface, while this buffer (the array's base) keeps the map alive; Rust
    // never forms references into it. As for every memory-mapped reader (numpy.memmap),
    // another process truncating the file while it is mapped would fault on access; its
    // bytes are plain `u8`, so a concurrent rewrite can only change pixel values.
    unsafe { memmap2::MmapOptions::new().map_copy(&file) }.map(memmap2::MmapRaw::from)
}

#[pymethods]
impl ArrayBuffer {
    /// NumPy's array interface (version 3): a 1-D `|u1` array over the bytes.
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (ptr, len, readonly) = self.pointer_and_len();
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", PyTuple::new(py, [len])?)?;
        d.set_item("typestr", "|u1")?;
        d.set_item("data", (ptr, readonly))?;
        Ok(d)
    }

    /// Number of bytes.
    fn __len__(&self) -> usize {
        self.pointer_and_len().1
    }

    /// Whether the bytes are a view of the dataset's storage (no copy was made): read-only,
    /// or a private copy-on-write map of the file.
    #[getter]
    fn is_view(&self) -> bool {
        !matches!(self.bytes, Bytes::Owned(_) | Bytes::OwnedPermuted(..))
    }

    /// Whether NumPy may write to the bytes (a copy, or a copy-on-write map).
    #[getter]
    fn writable(&self) -> bool {
        !self.pointer_and_len().2
    }

    /// `(offset, strides, byte_order)` of a view of stored values: the offset in bytes of
    /// element `(0, ...)`, the byte stride of each dimension, and `"<"` or `">"` for the
    /// stored byte order; None when the bytes are the C-contiguous array itself in native
    /// byte order.
    #[getter]
    fn layout(&self) -> Option<(u64, Vec<i64>, &'static str)> {
        match &self.bytes {
            Bytes::Strided(ds) => ds
                .stored_view()
                .map(|v| (v.offset, v.strides.to_vec(), order_char(v.order))),
            Bytes::Private {
                offset,
                strides,
                order,
                ..
            } => Some((*offset, strides.clone(), order_char(*order))),
            Bytes::OwnedPermuted(_, strides) => {
                Some((0, strides.clone(), order_char(ByteOrder::NATIVE)))
            }
            Bytes::Mapped(_) | Bytes::Owned(_) => None,
        }
    }
}

/// NumPy's byte-order character of `order`.
pub fn order_char(order: ByteOrder) -> &'static str {
    match order {
        ByteOrder::Little => "<",
        ByteOrder::Big => ">",
    }
}
