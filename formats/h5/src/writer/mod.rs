//! A streaming writer of classic HDF5 files (superblock version 0, version-1 object headers,
//! symbol-table groups, version-1 B-tree chunk indexes), the layout every HDF5 reader
//! (libhdf5/h5py, hdf5-pure, jhdf, ...) understands.
//!
//! Everything is written front to back: chunk data goes to the file as it is produced (a
//! contiguous dataset's values also at their places, [`H5Writer::write_placed`]), each
//! dataset's header and chunk index right after its data, groups (which need their members'
//! addresses) at [`H5Writer::finish`], and finally the superblock is rewritten with the root
//! address and end-of-file. Chunked data goes through core's write pipeline (encoded on its
//! workers, appended in order), so memory stays bounded by its pool of chunk buffers plus
//! the (small) metadata.

mod chunked;
mod groups;
mod messages;
mod vlen;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use emio_core::source::element_count;
use emio_core::{DType, Error, Result};

pub use chunked::Compression;
use groups::{GroupNode, GROUP_INTERNAL_K, GROUP_LEAF_K};
pub use messages::Attr;
use messages::{
    attribute_message, dataspace_message, datatype_message, object_header, record_message,
    string_type,
};
pub use vlen::VlenValues;

/// The undefined address.
const UNDEF: u64 = u64::MAX;
/// Bytes of the version-0 superblock, reserved at the start and written at the end.
const SUPERBLOCK_SIZE: u64 = 96;

/// A dataset's element type as the writer stores it.
struct Element {
    /// Its datatype message.
    message: Vec<u8>,
    /// Bytes per element.
    size: usize,
    /// What to call it in errors.
    name: String,
}

impl Element {
    /// The stored form of `dtype`.
    fn of(dtype: DType) -> Result<Element> {
        Ok(Element {
            message: datatype_message(dtype)?,
            size: dtype.size(),
            name: dtype.to_string(),
        })
    }
}

/// The bytes of a contiguous dataset of `shape` and `element`s, after checking that its
/// attributes can be stored.
fn contiguous_bytes(element: &Element, shape: &[u64], attrs: &[(String, Attr)]) -> Result<u64> {
    for (name, value) in attrs {
        attribute_message(name, value)?;
    }
    element_count(shape)
        .and_then(|n| n.checked_mul(element.size as u64))
        .ok_or_else(|| Error::Layout(format!("a dataset of shape {shape:?}")))
}

/// A streaming HDF5 writer.
pub struct H5Writer {
    out: BufWriter<File>,
    pos: u64,
    path: PathBuf,
    groups: BTreeMap<String, GroupNode>,
    /// Header addresses of the groups written so far by [`H5Writer::finish`].
    written: BTreeMap<String, u64>,
}

impl std::fmt::Debug for H5Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H5Writer")
            .field("path", &self.path)
            .finish()
    }
}
impl H5Writer {
    /// Create (truncate) `path` and reserve the superblock.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut w = H5Writer {
            out: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            path: path.to_path_buf(),
            groups: BTreeMap::new(),
            written: BTreeMap::new(),
        };
        w.put(&[0u8; SUPERBLOCK_SIZE as usize])?;
        w.groups.insert(String::new(), GroupNode::default());
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<u64> {
        let at = self.pos;
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.pos += bytes.len() as u64;
        Ok(at)
    }
    /// Write a dataset's object header (`datatype`: the datatype message body).
    fn dataset_header(
        &mut self,
        datatype: Vec<u8>,
        shape: &[u64],
        layout: Vec<u8>,
        pipeline: Option<Vec<u8>>,
        attrs: &[(String, Attr)],
    ) -> Result<u64> {
        let mut msgs = vec![
            (0x0001u16, dataspace_message(shape)),
            (0x0003, datatype),
            // Fill value v2: allocation late/incremental, write on allocation, undefined.
            (
                0x0005,
                vec![2, if pipeline.is_some() { 3 } else { 2 }, 0, 0],
            ),
            (0x0008, layout),
        ];
        if let Some(p) = pipeline {
            msgs.push((0x000B, p));
        }
        msgs.extend(self.attribute_messages(attrs)?);
        self.put(&object_header(&msgs))
    }

    /// Write a small dataset from native-endian C-order `data` (contiguous layout).
    pub fn write_dataset(
        &mut self,
        path: &str,
        dtype: DType,
        shape: &[u64],
        data: &[u8],
        attrs: &[(String, Attr)],
    ) -> Result<()> {
        self.write_streamed(path, dtype, shape, attrs, |sink| sink(data))
    }

    /// Write a contiguous dataset whose native-endian C-order values `produce` streams, in
    /// order, into the sink it is given (e.g. from [`emio_core::output::stream_c_order`]):
    /// the values go to the file as they come, so memory stays bounded by one region. The
    /// streamed bytes must add up to exactly the dataset's size.
    pub fn write_streamed(
        &mut self,
        path: &str,
        dtype: DType,
        shape: &[u64],
        attrs: &[(String, Attr)],
        produce: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>,
    ) -> Result<()> {
        self.write_contiguous(path, &Element::of(dtype)?, shape, attrs, produce)
    }

    /// Write a contiguous dataset whose native-endian C-order values `place` writes into
    /// the file itself, at their positions and in any order (e.g. through
    /// [`emio_core::positioned::COrderFile`], whose regions may follow the source's
    /// chunks): it gets the file, its path and the offset of the dataset's first byte, and
    /// must write every byte of the dataset.
    pub fn write_placed(
        &mut self,
        path: &str,
        dtype: DType,
        shape: &[u64],
        attrs: &[(String, Attr)],
        place: impl FnOnce(&File, &Path, u64) -> Result<()>,
    ) -> Result<()> {
        let element = Element::of(dtype)?;
        let bytes = contiguous_bytes(&element, shape, attrs)?;
        let io = |e| Error::io(&self.path, e);
        // What the writer holds goes to the file first; the values are then written past
        // it, beside the writer.
        self.out.flush().map_err(io)?;
        let start = self.pos;
        place(self.out.get_ref(), &self.path, start)?;
        self.pos += bytes;
        self.out.seek(SeekFrom::Start(self.pos)).map_err(io)?;
        self.contiguous_header(path, &element, shape, attrs, start, bytes)
    }

    /// Write a small dataset of records (`fields`: each member's name and dtype, packed in
    /// order; h5py reads it as a NumPy structured array) from native-endian C-order `data`.
    pub fn write_records(
        &mut self,
        path: &str,
        fields: &[(String, DType)],
        shape: &[u64],
        data: &[u8],
        attrs: &[(String, Attr)],
    ) -> Result<()> {
        let element = Element {
            message: record_message(fields)?,
            size: fields.iter().map(|(_, d)| d.size()).sum(),
            name: "record".into(),
        };
        self.write_contiguous(path, &element, shape, attrs, |sink| sink(data))
    }

    fn write_contiguous(
        &mut self,
        path: &str,
        element: &Element,
        shape: &[u64],
        attrs: &[(String, Attr)],
        produce: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()>,
    ) -> Result<()> {
        let expected = contiguous_bytes(element, shape, attrs)?;
        let start = self.pos;
        produce(&mut |bytes| self.put(bytes).map(|_| ()))?;
        let written = self.pos - start;
        if written != expected {
            return Err(Error::Layout(format!(
                "{written} bytes streamed for a {} dataset of shape {shape:?} ({expected} \
                 expected)",
                element.name
            )));
        }
        self.contiguous_header(path, element, shape, attrs, start, written)
    }

    /// The header of a contiguous dataset of `written` bytes from `start` on, linked as
    /// `path`.
    fn contiguous_header(
        &mut self,
        path: &str,
        element: &Element,
        shape: &[u64],
        attrs: &[(String, Attr)],
        start: u64,
        written: u64,
    ) -> Result<()> {
        let addr = if written == 0 { UNDEF } else { start };
        let mut layout = vec![3, 1];
        layout.extend_from_slice(&addr.to_le_bytes());
        layout.extend_from_slice(&written.to_le_bytes());
        let header = self.dataset_header(element.message.clone(), shape, layout, None, attrs)?;
        self.link_dataset(path, header)
    }

    /// Write a small 1-D dataset of fixed-length UTF-8 strings (h5py reads it as bytes,
    /// `asstr()` as text).
    pub fn write_strings(
        &mut self,
        path: &str,
        values: &[&str],
        attrs: &[(String, Attr)],
    ) -> Result<()> {
        let width = values.iter().map(|v| v.len()).max().unwrap_or(0) + 1;
        let mut data = Vec::with_capacity(width * values.len());
        for v in values {
            data.extend_from_slice(v.as_bytes());
            data.resize(data.len() + width - v.len(), 0);
        }
        let addr = if data.is_empty() {
            UNDEF
        } else {
            self.put(&data)?
        };
        let mut layout = vec![3, 1];
        layout.extend_from_slice(&addr.to_le_bytes());
        layout.extend_from_slice(&(data.len() as u64).to_le_bytes());
        let mut msgs = vec![
            (0x0001u16, dataspace_message(&[values.len() as u64])),
            (0x0003, string_type(width)),
            (0x0005, vec![2, 2, 0, 0]),
            (0x0008, layout),
        ];
        msgs.extend(self.attribute_messages(attrs)?);
        let header = self.put(&object_header(&msgs))?;
        self.link_dataset(path, header)
    }
    /// Write the groups bottom-up and the superblock; the file is complete afterwards.
    pub fn finish(mut self) -> Result<()> {
        let root = self.write_groups()?;
        let eof = self.pos;
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        let mut sb = Vec::with_capacity(SUPERBLOCK_SIZE as usize);
        sb.extend_from_slice(crate::SIGNATURE);
        sb.extend_from_slice(&[0, 0, 0, 0, 0, 8, 8, 0]);
        sb.extend_from_slice(&(GROUP_LEAF_K as u16).to_le_bytes());
        sb.extend_from_slice(&(GROUP_INTERNAL_K as u16).to_le_bytes());
        sb.extend_from_slice(&0u32.to_le_bytes());
        sb.extend_from_slice(&0u64.to_le_bytes());
        sb.extend_from_slice(&UNDEF.to_le_bytes());
        sb.extend_from_slice(&eof.to_le_bytes());
        sb.extend_from_slice(&UNDEF.to_le_bytes());
        // Root symbol table entry, cached as a group (cache type 1).
        sb.extend_from_slice(&0u64.to_le_bytes());
        sb.extend_from_slice(&root.0.to_le_bytes());
        sb.extend_from_slice(&1u32.to_le_bytes());
        sb.extend_from_slice(&0u32.to_le_bytes());
        sb.extend_from_slice(&root.1.to_le_bytes());
        sb.extend_from_slice(&root.2.to_le_bytes());
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&sb))
            .and_then(|_| file.sync_data())
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(())
    }
}
