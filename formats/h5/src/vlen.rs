//! Variable-length (vlen) datasets: each element is a reference into a *global heap
//! collection* (`GCOL`) holding a sequence of base-type values. HyperSpy stores ragged
//! signals this way (h5py's `vlen_dtype`): sequences of numbers, or sequences of
//! variable-length strings (each a reference of its own).
//!
//! `hdf5-pure` reads variable-length strings but not sequences, so the references and
//! heap collections are read here, from the memory map, every size and address checked
//! against the collection and the file: a damaged reference is an error naming the file,
//! the dataset and the offset, never a panic or an allocation beyond what the file holds.
//!
//! The element table (one reference per element) is read on the first item asked for,
//! not at open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use emio_core::{ByteOrder, DType, Error, Result, Storage};
use hdf5_pure::Datatype;

use crate::lazy::{check_before_eager_read, Origin};
use crate::{numeric, MAX_EAGER_BYTES};

/// What the sequences of a vlen dataset hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlenBase {
    /// Numbers of one dtype, stored in this byte order.
    Numeric(DType, ByteOrder),
    /// Variable-length strings.
    Str,
}

impl VlenBase {
    /// The base of a non-string vlen datatype (a sequence), if emio reads it.
    pub fn of(dt: &Datatype) -> Option<Self> {
        let Datatype::VariableLength {
            is_string: false,
            base_type,
            ..
        } = dt
        else {
            return None;
        };
        if let Some((d, o)) = numeric(base_type) {
            return Some(VlenBase::Numeric(d, o));
        }
        matches!(
            base_type.as_ref(),
            Datatype::VariableLength {
                is_string: true,
                ..
            }
        )
        .then_some(VlenBase::Str)
    }

    /// Bytes of one base value in a heap object (a string is a nested reference).
    fn size(self, offset_size: usize) -> usize {
        match self {
            VlenBase::Numeric(d, _) => d.size(),
            VlenBase::Str => 8 + offset_size,
        }
    }
}

/// One parsed global heap collection: object index -> (absolute offset, size).
type Collection = HashMap<u16, (u64, u64)>;

/// The sequences of a vlen dataset, read on demand.
pub struct VlenReader {
    ds: hdf5_pure::Dataset,
    origin: Origin,
    storage: Storage,
    base: VlenBase,
    len: u64,
    offset_size: usize,
    length_size: usize,
    base_address: u64,
    refs: OnceLock<Vec<u8>>,
    collections: Mutex<HashMap<u64, Arc<Collection>>>,
}

impl std::fmt::Debug for VlenReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VlenReader")
            .field("dataset", &self.origin.dataset)
            .field("base", &self.base)
            .finish()
    }
}

/// The reference to a heap object: element count, collection address, object index.
struct HeapRef {
    length: u64,
    collection: u64,
    index: u32,
}

impl VlenReader {
    /// A reader of `ds` (of `len` elements and vlen base `base`) in `storage`.
    pub(crate) fn new(
        ds: hdf5_pure::Dataset,
        origin: Origin,
        storage: Storage,
        base: VlenBase,
        len: u64,
        superblock: &hdf5_pure::Superblock,
    ) -> Result<Self> {
        let offset_size = usize::from(superblock.offset_size);
        let length_size = usize::from(superblock.length_size);
        if ![2, 4, 8].contains(&offset_size) || ![2, 4, 8].contains(&length_size) {
            return Err(origin.malformed(
                None,
                format!(
                    "offset and length sizes of 2, 4 or 8 bytes ({offset_size}, {length_size})"
                ),
            ));
        }
        Ok(VlenReader {
            ds,
            origin,
            storage,
            base,
            len,
            offset_size,
            length_size,
            base_address: superblock.base_address.get(),
            refs: OnceLock::new(),
            collections: Mutex::new(HashMap::new()),
        })
    }

    /// What the sequences hold.
    pub fn base(&self) -> VlenBase {
        self.base
    }

    /// Number of elements (sequences).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the dataset holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn ref_size(&self) -> usize {
        8 + self.offset_size
    }

    /// The element table: one reference per element, read once.
    fn refs(&self) -> Result<&[u8]> {
        if let Some(refs) = self.refs.get() {
            return Ok(refs);
        }
        let want = self.len.saturating_mul(self.ref_size() as u64);
        if want > MAX_EAGER_BYTES {
            return Err(self.origin.malformed(
                None,
                format!("a table of references small enough to read ({want} bytes)"),
            ));
        }
        check_before_eager_read(&self.ds, &self.origin, self.storage.len() as u64)?;
        let raw = self.ds.read_raw().map_err(|e| {
            self.origin
                .malformed(None, format!("readable references ({e})"))
        })?;
        if raw.len() as u64 != want {
            return Err(self.origin.malformed(
                None,
                format!("{want} bytes of references, got {}", raw.len()),
            ));
        }
        Ok(self.refs.get_or_init(|| raw))
    }

    /// Read an unsigned little-endian number of `n` bytes at `at` of `bytes`.
    fn uint(bytes: &[u8], at: usize, n: usize) -> u64 {
        bytes[at..at + n]
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }

    fn parse_ref(&self, bytes: &[u8]) -> HeapRef {
        let o = self.offset_size;
        HeapRef {
            length: Self::uint(bytes, 0, 4),
            collection: Self::uint(bytes, 4, o),
            index: Self::uint(bytes, 4 + o, 4) as u32,
        }
    }

    /// The collection at absolute offset `at`, parsed once: every object's extent checked
    /// against the collection, and the collection against the file.
    fn collection(&self, at: u64) -> Result<Arc<Collection>> {
        if let Some(c) = self.lock().get(&at) {
            return Ok(c.clone());
        }
        let bad = |offset: u64, what: String| self.origin.malformed(Some(offset), what);
        let file = &self.storage[..];
        let header = 8 + self.length_size;
        let start = usize::try_from(at)
            .ok()
            .filter(|&s| s.checked_add(header).is_some_and(|e| e <= file.len()));
        let Some(start) = start else {
            return Err(bad(at, "a global heap collection inside the file".into()));
        };
        if &file[start..start + 4] != b"GCOL" || file[start + 4] != 1 {
            return Err(bad(at, "a global heap collection (GCOL, version 1)".into()));
        }
        let size = Self::uint(file, start + 8, self.length_size);
        let end = usize::try_from(size)
            .ok()
            .filter(|&n| n >= header)
            .and_then(|n| start.checked_add(n))
            .filter(|&e| e <= file.len());
        let Some(end) = end else {
            return Err(bad(
                at,
                format!("a global heap collection size of at least {header} bytes within the file (found {size})"),
            ));
        };
        let mut objects = Collection::new();
        let mut pos = start + header;
        let object_header = 8 + self.length_size;
        while pos + object_header <= end {
            let index = Self::uint(file, pos, 2) as u16;
            if index == 0 {
                break; // free space: the rest of the collection
            }
            let n = Self::uint(file, pos + 8, self.length_size);
            let data = pos + object_header;
            let padded = n
                .checked_add(7)
                .map(|x| x / 8 * 8)
                .and_then(|p| usize::try_from(p).ok())
                .and_then(|p| data.checked_add(p))
                .filter(|&e| e <= end);
            let Some(next) = padded else {
                return Err(bad(
                    pos as u64,
                    format!("a heap object of {n} bytes inside its collection (ending at {end})"),
                ));
            };
            objects.insert(index, (data as u64, n));
            pos = next;
        }
        let c = Arc::new(objects);
        self.lock().insert(at, c.clone());
        Ok(c)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Collection>>> {
        self.collections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bytes of the heap object `r` refers to, holding `r.length` values of `unit`
    /// bytes (empty for a null reference).
    fn object(&self, r: &HeapRef, unit: usize, at: u64) -> Result<&[u8]> {
        if r.length == 0 {
            return Ok(&[]);
        }
        let collection = r.collection.checked_add(self.base_address).ok_or_else(|| {
            self.origin
                .malformed(Some(at), "a heap address within the file")
        })?;
        let objects = self.collection(collection)?;
        let Some(&(data, size)) = u16::try_from(r.index).ok().and_then(|i| objects.get(&i)) else {
            return Err(self.origin.malformed(
                Some(at),
                format!(
                    "object {} in the global heap collection at {collection}",
                    r.index
                ),
            ));
        };
        let bytes = r.length.checked_mul(unit as u64).filter(|&b| b <= size);
        let Some(bytes) = bytes else {
            return Err(self.origin.malformed(
                Some(at),
                format!(
                    "{} values of {unit} bytes within heap object {} of {size} bytes",
                    r.length, r.index
                ),
            ));
        };
        // Inside the collection, which lies inside the file (checked when parsed).
        Ok(&self.storage[data as usize..(data + bytes) as usize])
    }

    /// The reference of element `index`, and where it is (for errors).
    fn element(&self, index: u64) -> Result<(HeapRef, u64)> {
        if index >= self.len {
            return Err(Error::OutOfBounds(format!(
                "element {index} of {} in {}",
                self.len, self.origin.dataset
            )));
        }
        let size = self.ref_size();
        let at = index as usize * size;
        let refs = self.refs()?;
        Ok((self.parse_ref(&refs[at..at + size]), at as u64))
    }

    /// The values of the sequence at element `index` (numeric bases), native-endian.
    pub fn numbers(&self, index: u64) -> Result<Vec<u8>> {
        let VlenBase::Numeric(dtype, order) = self.base else {
            return Err(Error::unsupported(
                "hdf5",
                format!("{} holds strings, not numbers", self.origin.dataset),
            ));
        };
        let (r, at) = self.element(index)?;
        let mut bytes = self.object(&r, dtype.size(), at)?.to_vec();
        if !order.is_native() {
            emio_core::dtype::swap_bytes_in_place(&mut bytes, dtype.swap_unit());
        }
        Ok(bytes)
    }

    /// The strings of the sequence at element `index` (string bases). Invalid UTF-8 is
    /// replaced; trailing NULs are dropped.
    pub fn strings(&self, index: u64) -> Result<Vec<String>> {
        if self.base != VlenBase::Str {
            return Err(Error::unsupported(
                "hdf5",
                format!("{} holds numbers, not strings", self.origin.dataset),
            ));
        }
        let (r, at) = self.element(index)?;
        let size = self.base.size(self.offset_size);
        let inner = self.object(&r, size, at)?;
        inner
            .chunks_exact(size)
            .map(|bytes| {
                let s = self.parse_ref(bytes);
                let text = self.object(&s, 1, at)?;
                Ok(String::from_utf8_lossy(text)
                    .trim_end_matches('\0')
                    .to_string())
            })
            .collect()
    }
}
