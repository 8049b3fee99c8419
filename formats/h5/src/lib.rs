//! emio's small HDF5 layer, shared by the formats built on HDF5 (EMD and friends).
//!
//! Reading goes through the pure-Rust `hdf5-pure` crate, reading from emio's memory map of
//! the file, for the *structure* (groups, attributes, datatypes, layouts, chunk indexes), while the *pixels*
//! are read by emio itself from a memory map: contiguous datasets become zero-copy
//! [`StridedSource`]s, unfiltered chunked ones are copied straight from the map, filtered
//! ones decoded chunk by chunk (deflate, shuffle, fletcher32, LZF, LZ4,
//! bitshuffle) in parallel (see the `lazy` module). Sources can present the axes in another order (NCEM's transposed storage);
//! the reordering happens during the copy (`permute`). Anything the fast paths cannot
//! handle (other filters, v2 B-tree chunk indexes, compact/virtual layouts) is read whole
//! by `hdf5-pure`'s own decoder on first access. Keeping the backend behind this API lets
//! it be swapped.
//!
//! Writing is [`writer`]: a streaming writer of classic (superblock 0) HDF5 files.

#![forbid(unsafe_code)]

mod attrs;
pub mod bitshuffle;
pub mod filters;
mod group_walk;
mod lazy;
pub mod links;
mod listing;
mod objects;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod validate;
pub mod vlen;
pub mod writer;

pub use group_walk::{GroupWalk, MAX_GROUPS_WALKED};
pub use listing::MemberKind;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio_core::metadata::Tree;
use emio_core::source::element_count;
use emio_core::{
    ArraySource, ByteOrder, ContentMatch, DType, Error, Result, Storage, StridedSource,
};
use hdf5_pure::{ChunkIndex, Datatype, DatatypeByteOrder, FormatError, Layout};

pub use attrs::attr_to_json;
use attrs::{attrs_to_tree, to_bools};
use filters::FilterStep;
use lazy::{Geometry, Origin};
use objects::{Object, Objects, PathCache};
pub use vlen::{VlenBase, VlenReader};

/// The HDF5 signature at the start of a file (or at 512, 1024, ... after a user block).
pub const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Whether `head` (the first bytes of a file) starts with the HDF5 signature at offset 0 or
/// at one of the user-block offsets that fit in it.
pub fn sniff(head: &[u8]) -> bool {
    let mut off = 0usize;
    while off + 8 <= head.len() {
        if &head[off..off + 8] == SIGNATURE {
            return true;
        }
        off = if off == 0 { 512 } else { off * 2 };
    }
    false
}

/// The second probing stage ([`emio_core::Format::inspect`]) for a format built on HDF5:
/// open `path` (superblock and root group only) and ask `is_mine` whether the file has the
/// format's structure. A file that cannot be opened gives
/// [`ContentMatch::Signature`] (the format's `open` then reports what is wrong).
///
/// Every HDF5 format (EMD, HyperSpy, DM5, ARINA, ...) implements `inspect` with this, with
/// a test that looks at a few groups or attributes, e.g.
/// `emio_h5::inspect(path, |f| f.is_group("Experiments"))`. The file is opened once per
/// HDF5 format, which costs well under a millisecond.
pub fn inspect(path: &Path, is_mine: impl FnOnce(&H5File) -> bool) -> ContentMatch {
    match H5File::open(path) {
        Ok(f) if is_mine(&f) => ContentMatch::Recognised,
        Ok(_) => ContentMatch::Rejected,
        Err(_) => ContentMatch::Signature,
    }
}

/// Largest dataset [`H5Dataset::read_bytes`] materialises (metadata, axis vectors, and the
/// fallback path for datasets the lazy path cannot decode).
pub const MAX_EAGER_BYTES: u64 = 1 << 30;

fn h5err(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Malformed {
        format: "hdf5",
        path: Some(path.to_path_buf()),
        offset: None,
        expected: format!("{what} ({e})"),
    }
}

/// The element type of a dataset as emio sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// A numeric (or complex, boolean, RGB) element stored in `ByteOrder`.
    Numeric(DType, ByteOrder),
    /// Fixed- or variable-length strings.
    Str,
    /// Variable-length sequences (read with [`H5Dataset::vlen`]).
    Sequence(VlenBase),
    /// A compound of named numeric members (e.g. Velox's complex FFT records).
    Compound(Vec<(String, u64, DType, ByteOrder)>, usize),
    /// Anything else (references, opaque, nested compounds), described in words.
    Other(String),
}

fn order_of(o: &DatatypeByteOrder) -> ByteOrder {
    match o {
        DatatypeByteOrder::BigEndian => ByteOrder::Big,
        _ => ByteOrder::Little,
    }
}

fn numeric(dt: &Datatype) -> Option<(DType, ByteOrder)> {
    match dt {
        Datatype::FixedPoint {
            size,
            byte_order,
            layout,
        } => {
            let d = match (size, layout.signed) {
                (1, false) => DType::U8,
                (2, false) => DType::U16,
                (4, false) => DType::U32,
                (8, false) => DType::U64,
                (1, true) => DType::I8,
                (2, true) => DType::I16,
                (4, true) => DType::I32,
                (8, true) => DType::I64,
                _ => return None,
            };
            Some((d, order_of(byte_order)))
        }
        Datatype::FloatingPoint {
            size, byte_order, ..
        } => {
            let d = match size {
                2 => DType::F16,
                4 => DType::F32,
                8 => DType::F64,
                _ => return None,
            };
            Some((d, order_of(byte_order)))
        }
        Datatype::Enumeration {
            base_type, members, ..
        } if members.len() == 2 && base_type.type_size() == 1 => {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            (names == ["FALSE", "TRUE"]).then_some((DType::Bool, ByteOrder::Little))
        }
        _ => None,
    }
}

/// Map an HDF5 datatype to emio's view of it.
pub fn element_of(dt: &Datatype) -> Element {
    if let Some((d, o)) = numeric(dt) {
        return Element::Numeric(d, o);
    }
    match dt {
        Datatype::String { .. } => Element::Str,
        Datatype::VariableLength {
            is_string: true, ..
        } => Element::Str,
        Datatype::VariableLength { .. } => match VlenBase::of(dt) {
            Some(base) => Element::Sequence(base),
            None => Element::Other(format!("{dt:?}")),
        },
        Datatype::Compound { size, members } => {
            let fields: Option<Vec<_>> = members
                .iter()
                .map(|m| numeric(&m.datatype).map(|(d, o)| (m.name.clone(), m.byte_offset, d, o)))
                .collect();
            let Some(fields) = fields else {
                return Element::Other(format!("compound {dt:?}"));
            };
            // Two equal floats at offsets 0 and size/2: a complex number (h5py's r/i,
            // Velox's real*/imag*).
            if let [(_, 0, a, oa), (_, off, b, ob)] = fields.as_slice() {
                let complex = match (a, b) {
                    (DType::F32, DType::F32) if *off == 4 && *size == 8 => Some(DType::C64),
                    (DType::F64, DType::F64) if *off == 8 && *size == 16 => Some(DType::C128),
                    _ => None,
                };
                if let Some(c) = complex {
                    if oa == ob {
                        return Element::Numeric(c, *oa);
                    }
                }
            }
            // Three or four u8/u16 members: RGB(A).
            let all = |t: DType| fields.iter().all(|f| f.2 == t);
            let rgb = match (fields.len(), *size) {
                (3, 3) if all(DType::U8) => Some(DType::Rgb8),
                (4, 4) if all(DType::U8) => Some(DType::Rgba8),
                (3, 6) if all(DType::U16) => Some(DType::Rgb16),
                (4, 8) if all(DType::U16) => Some(DType::Rgba16),
                _ => None,
            };
            if let Some(r) = rgb {
                return Element::Numeric(r, fields[0].3);
            }
            Element::Compound(fields, *size as usize)
        }
        other => Element::Other(format!("{other:?}")),
    }
}

/// The file's memory map as `hdf5-pure`'s byte source: every structure read (object
/// headers, heaps, B-tree nodes) is a copy out of the map, not a system call.
struct MapSource(Storage);

impl hdf5_pure::Source for MapSource {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::result::Result<(), FormatError> {
        let overflow = FormatError::OffsetOverflow {
            offset,
            length: buf.len() as u64,
        };
        let start = usize::try_from(offset).map_err(|_| overflow.clone())?;
        let end = start.checked_add(buf.len()).ok_or(overflow)?;
        let bytes = self.0.get(start..end).ok_or(FormatError::UnexpectedEof {
            expected: end,
            available: self.0.len(),
        })?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// An HDF5 file opened for reading: structure through `hdf5-pure` (reading from the memory
/// map), pixels through the same map.
pub struct H5File {
    inner: hdf5_pure::File,
    storage: Storage,
    path: PathBuf,
    /// Groups and datasets looked up so far.
    objects: Objects,
    /// Object header addresses looked up so far (`None`: not found by
    /// [`links::hard_links`]).
    addresses: PathCache<u64>,
}

impl std::fmt::Debug for H5File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H5File").field("path", &self.path).finish()
    }
}

fn rel(path: &str) -> &str {
    path.trim_start_matches('/')
}

impl H5File {
    /// Open `path`: reads the superblock and root group only.
    pub fn open(path: &Path) -> Result<Self> {
        let storage = Storage::map(path)?;
        if !sniff(&storage[..storage.len().min(4096)]) {
            return Err(Error::Malformed {
                format: "hdf5",
                path: Some(path.to_path_buf()),
                offset: Some(0),
                expected: "the HDF5 signature".into(),
            });
        }
        let inner = hdf5_pure::File::from_source(MapSource(storage.clone()))
            .map_err(|e| h5err(path, "a readable HDF5 superblock and root group", e))?;
        emio_core::inputs::record(path);
        Ok(H5File {
            inner,
            storage,
            path: path.to_path_buf(),
            objects: Objects::default(),
            addresses: PathCache::default(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The memory map of the whole file.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The group or dataset at `path`, if any (looked up once per path).
    fn object(&self, path: &str) -> Option<Object> {
        let path = rel(path);
        if !objects::is_plain(path) {
            return objects::child(&self.inner.root(), path);
        }
        self.objects
            .get(Object::Group(self.inner.root()), path, objects::object_step)
    }

    fn group(&self, path: &str) -> Result<hdf5_pure::Group> {
        match self.object(path) {
            Some(Object::Group(g)) => Ok(g),
            // For the error `hdf5-pure` gives.
            _ => self
                .inner
                .group(rel(path))
                .map_err(|e| h5err(&self.path, &format!("group {path}"), e)),
        }
    }

    fn h5_dataset(&self, path: &str) -> Result<hdf5_pure::Dataset> {
        match self.object(path) {
            Some(Object::Dataset(d)) => Ok(d),
            _ => self
                .inner
                .dataset(rel(path))
                .map_err(|e| h5err(&self.path, &format!("dataset {path}"), e)),
        }
    }

    /// The file address of the object at `path` (a group or dataset reached through hard
    /// links): the same for every path to one object. `None` where it cannot be found this
    /// way (e.g. a parent in dense link storage).
    pub fn object_address(&self, path: &str) -> Option<u64> {
        let path = rel(path);
        if !objects::is_plain(path) {
            return links::object_address(&self.storage, &self.path, path).ok();
        }
        let root = links::root_address(&self.storage, &self.path).ok()?;
        // One listing of a group gives the addresses of all its members.
        self.addresses.get(root, path, |&group, _| {
            match links::hard_links(&self.storage, &self.path, group) {
                Ok(links) => objects::Step {
                    members: links.into_iter().map(|(n, a)| (n, Some(a))).collect(),
                    whole: true,
                },
                Err(_) => objects::Step {
                    members: Vec::new(),
                    whole: false,
                },
            }
        })
    }

    /// Whether `path` names a group.
    pub fn is_group(&self, path: &str) -> bool {
        matches!(self.object(path), Some(Object::Group(_)))
    }

    /// Whether `path` names a dataset.
    pub fn is_dataset(&self, path: &str) -> bool {
        matches!(self.object(path), Some(Object::Dataset(_)))
    }

    /// Attributes of the group or dataset at `path`, as JSON values sorted by name (h5py's
    /// order). Booleans (h5py's `FALSE`/`TRUE` enumeration) become JSON booleans.
    /// Attributes of types emio cannot decode are left out.
    pub fn attrs(&self, path: &str) -> Result<Tree> {
        let (map, types) = match self.object(path) {
            Some(Object::Group(g)) => g.attrs().and_then(|m| Ok((m, g.attr_datatypes()?))),
            Some(Object::Dataset(d)) => d.attrs().and_then(|m| Ok((m, d.attr_datatypes()?))),
            None => self
                .inner
                .dataset(rel(path))
                .and_then(|d| Ok((d.attrs()?, d.attr_datatypes()?))),
        }
        .map_err(|e| h5err(&self.path, &format!("the attributes of {path}"), e))?;
        let mut tree = attrs_to_tree(map);
        for (name, datatype) in types {
            if numeric(&datatype).is_some_and(|(d, _)| d == DType::Bool) {
                if let Some(v) = tree.get_mut(&name) {
                    *v = to_bools(v);
                }
            }
        }
        Ok(tree)
    }

    /// Open the dataset at `path` (reads its header only).
    pub fn dataset(&self, path: &str) -> Result<H5Dataset<'_>> {
        let ds = self.h5_dataset(path)?;
        let shape = ds
            .shape()
            .map_err(|e| h5err(&self.path, &format!("the dataspace of {path}"), e))?;
        let datatype = ds
            .datatype()
            .map_err(|e| h5err(&self.path, &format!("the datatype of {path}"), e))?;
        let element = element_of(&datatype);
        let elem_size = datatype.type_size() as usize;
        if element_count(&shape)
            .and_then(|n| n.checked_mul(elem_size as u64))
            .is_none()
        {
            return Err(h5err(
                &self.path,
                &format!("a sane size of {path}"),
                "overflow",
            ));
        }
        Ok(H5Dataset {
            file: self,
            ds,
            path: path.to_string(),
            shape,
            element,
            elem_size,
        })
    }
}

/// A dataset of an [`H5File`]: shape, element type, and lazy or eager access to its values.
pub struct H5Dataset<'a> {
    file: &'a H5File,
    ds: hdf5_pure::Dataset,
    path: String,
    /// C-order shape.
    pub shape: Vec<u64>,
    /// Element type.
    pub element: Element,
    /// Stored size of one element in bytes.
    pub elem_size: usize,
}

impl std::fmt::Debug for H5Dataset<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H5Dataset")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("element", &self.element)
            .finish()
    }
}

impl H5Dataset<'_> {
    /// The dataset's path in the file.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        element_count(&self.shape).unwrap_or(u64::MAX)
    }

    /// Whether the dataset holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stored size in bytes.
    pub fn nbytes(&self) -> u64 {
        self.len().saturating_mul(self.elem_size as u64)
    }

    /// Chunk shape, when chunked.
    pub fn chunk_shape(&self) -> Option<Vec<u64>> {
        self.ds.chunk_shape().ok().flatten()
    }

    /// Attributes of this dataset.
    pub fn attrs(&self) -> Result<Tree> {
        self.file.attrs(&self.path)
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        h5err(
            &self.file.path,
            &format!("{what} of dataset {}", self.path),
            e,
        )
    }

    /// The stored bytes of the whole dataset in C order and stored byte order, through
    /// `hdf5-pure` (bounded by [`MAX_EAGER_BYTES`]).
    pub fn read_raw(&self) -> Result<Vec<u8>> {
        if self.nbytes() > MAX_EAGER_BYTES {
            return Err(self.err(
                "a dataset small enough to read eagerly",
                format!("{} bytes", self.nbytes()),
            ));
        }
        if self.is_empty() {
            // No values to read (`hdf5-pure` would still multiply the other dimensions
            // together, which a damaged zero-sized dataset can make overflow).
            return Ok(Vec::new());
        }
        self.check_chunks()?;
        self.ds.read_raw().map_err(|e| self.err("the values", e))
    }

    /// Check the chunk index against the file before `hdf5-pure` reads chunks
    /// ([`lazy::check_before_eager_read`]).
    fn check_chunks(&self) -> Result<()> {
        let origin = Origin {
            file: self.file.path.clone(),
            dataset: self.path.clone(),
        };
        lazy::check_before_eager_read(&self.ds, &origin, self.file.storage.len() as u64)
    }

    /// The numeric dtype and stored byte order, or an error for other element types.
    pub fn numeric(&self) -> Result<(DType, ByteOrder)> {
        match &self.element {
            Element::Numeric(d, o) => Ok((*d, *o)),
            other => Err(Error::unsupported(
                "hdf5",
                format!("dataset {} of element type {other:?}", self.path),
            )),
        }
    }

    /// All values in C order, native byte order (numeric datasets, bounded size).
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        let (dtype, order) = self.numeric()?;
        let mut raw = self.read_raw()?;
        if raw.len() as u64 != self.nbytes() {
            return Err(self.err("the full extent", format!("{} bytes", raw.len())));
        }
        if !order.is_native() {
            emio_core::dtype::swap_bytes_in_place(&mut raw, dtype.swap_unit());
        }
        Ok(raw)
    }

    /// All values converted to f64 (numeric datasets; complex/RGB are rejected). The values
    /// as f64 are bounded by [`MAX_EAGER_BYTES`] too: a byte-sized dataset within the bound
    /// would otherwise become eight times as many bytes.
    pub fn read_f64(&self) -> Result<Vec<f64>> {
        let (dtype, _) = self.numeric()?;
        let as_f64 = self.len().saturating_mul(8);
        if as_f64 > MAX_EAGER_BYTES {
            return Err(self.err(
                "a dataset small enough to read as numbers",
                format!("{} values ({as_f64} bytes as f64)", self.len()),
            ));
        }
        let bytes = self.read_bytes()?;
        to_f64(dtype, &bytes).ok_or_else(|| {
            Error::unsupported(
                "hdf5",
                format!("{dtype} values of {} as numbers", self.path),
            )
        })
    }

    /// All values as strings (string datasets).
    pub fn read_strings(&self) -> Result<Vec<String>> {
        if self.nbytes() > MAX_EAGER_BYTES {
            return Err(self.err("a string dataset small enough to read", self.nbytes()));
        }
        if self.is_empty() {
            return Ok(Vec::new());
        }
        self.check_chunks()?;
        self.ds
            .read_string()
            .map(|v| {
                v.into_iter()
                    .map(|s| s.trim_end_matches('\0').to_string())
                    .collect()
            })
            .map_err(|e| self.err("the strings", e))
    }

    /// A lazy source over the values (numeric datasets): contiguous storage is memory
    /// mapped, chunked storage read chunk by chunk on demand (the chunk index on first
    /// access); opening reads nothing but headers.
    ///
    /// `perm` reorders the dimensions (logical dim `i` is stored dim `perm[i]`), e.g. to
    /// read NCEM's Fortran-order datasets transposed: zero-copy for contiguous storage,
    /// applied while copying each chunk otherwise.
    pub fn source(&self, perm: Option<&[usize]>) -> Result<Arc<dyn ArraySource>> {
        let (dtype, order) = self.numeric()?;
        let n = self.shape.len();
        let perm: Vec<usize> = perm.map_or_else(|| (0..n).collect(), <[usize]>::to_vec);
        let mut seen = vec![false; n];
        if perm.len() != n
            || perm
                .iter()
                .any(|&p| p >= n || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::Layout(format!("{perm:?} is not a permutation")));
        }
        let origin = Origin {
            file: self.file.path.clone(),
            dataset: self.path.clone(),
        };
        let storage = self.file.storage.clone();
        let layout = self.ds.layout().map_err(|e| self.err("the layout", e))?;
        let pipeline: Vec<FilterStep> = self
            .ds
            .filter_pipeline()
            .into_iter()
            .map(|f| FilterStep {
                id: f.id,
                client_data: f.client_data,
            })
            .collect();
        match layout {
            Layout::Contiguous {
                address: Some(addr),
                ..
            } => {
                let s = StridedSource::contiguous(
                    "hdf5",
                    storage,
                    addr,
                    dtype,
                    self.shape.clone(),
                    order,
                )
                .map_err(|e| self.attach(e))?;
                Ok(Arc::new(s.permuted(&perm)?))
            }
            Layout::Contiguous { address: None, .. } => Ok(Arc::new(lazy::ZeroSource {
                dtype,
                shape: perm.iter().map(|&p| self.shape[p]).collect(),
            })),
            Layout::Chunked { chunk_shape, index }
                if index != ChunkIndex::BTreeV2
                    && pipeline.iter().all(|f| filters::is_supported(f.id)) =>
            {
                let geo =
                    Geometry::new(&origin, dtype, order, self.shape.clone(), chunk_shape, perm)?;
                lazy::chunked(storage, self.ds.clone(), origin, geo, pipeline)
            }
            // v2 B-tree indexes, filters emio does not decode, compact and virtual layouts.
            _ => {
                if self.nbytes() > MAX_EAGER_BYTES {
                    return Err(self.err(
                        "a dataset small enough to read whole (its layout or filters are read by hdf5-pure)",
                        format!("{} bytes", self.nbytes()),
                    ));
                }
                Ok(Arc::new(lazy::Eager::new(
                    self.ds.clone(),
                    origin,
                    self.file.storage.len() as u64,
                    dtype,
                    order,
                    self.shape.clone(),
                    perm,
                )))
            }
        }
    }

    /// A reader of the sequences of a variable-length dataset ([`Element::Sequence`]):
    /// nothing is read until an element is asked for.
    pub fn vlen(&self) -> Result<VlenReader> {
        let Element::Sequence(base) = self.element else {
            return Err(Error::unsupported(
                "hdf5",
                format!(
                    "dataset {} of element type {:?} as variable-length sequences",
                    self.path, self.element
                ),
            ));
        };
        let origin = Origin {
            file: self.file.path.clone(),
            dataset: self.path.clone(),
        };
        VlenReader::new(
            self.ds.clone(),
            origin,
            self.file.storage.clone(),
            base,
            self.len(),
            self.file.inner.superblock(),
        )
    }

    fn attach(&self, e: Error) -> Error {
        match e {
            Error::Malformed {
                offset, expected, ..
            } => Error::Malformed {
                format: "hdf5",
                path: Some(self.file.path.clone()),
                offset,
                expected: format!("{expected} (dataset {})", self.path),
            },
            codec @ Error::Codec { .. } => codec
                .in_context(|expected| format!("{expected} (dataset {})", self.path))
                .with_path(&self.file.path),
            other => other,
        }
    }
}

/// Convert native-endian values of a real dtype to f64.
pub fn to_f64(dtype: DType, bytes: &[u8]) -> Option<Vec<f64>> {
    macro_rules! conv {
        ($t:ty) => {
            bytes
                .chunks_exact(std::mem::size_of::<$t>())
                .map(|c| <$t>::from_ne_bytes(c.try_into().expect("exact chunk")) as f64)
                .collect()
        };
    }
    Some(match dtype {
        DType::Bool | DType::U8 => bytes.iter().map(|&b| f64::from(b)).collect(),
        DType::I8 => bytes.iter().map(|&b| f64::from(b as i8)).collect(),
        DType::U16 => conv!(u16),
        DType::I16 => conv!(i16),
        DType::U32 => conv!(u32),
        DType::I32 => conv!(i32),
        DType::U64 => conv!(u64),
        DType::I64 => conv!(i64),
        DType::F32 => conv!(f32),
        DType::F64 => conv!(f64),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|c| emio_core::half::f16::from_ne_bytes([c[0], c[1]]).to_f64())
            .collect(),
        _ => return None,
    })
}
