//! A streaming writer of classic HDF5 files (superblock version 0, version-1 object headers,
//! symbol-table groups, version-1 B-tree chunk indexes), the layout every HDF5 reader
//! (libhdf5/h5py, hdf5-pure, jhdf, ...) understands.
//!
//! Everything is written front to back: chunk data goes to the file as it is produced, each
//! dataset's header and chunk index right after its data, groups (which need their members'
//! addresses) at [`H5Writer::finish`], and finally the superblock is rewritten with the root
//! address and end-of-file. Memory stays bounded by one chunk plus the (small) metadata.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use emio_core::source::{c_strides, copy_nd, element_count, Layout as NdLayout};
use emio_core::{DType, Error, Result};
use rayon::prelude::*;

use crate::filters;

const UNDEF: u64 = u64::MAX;
const SUPERBLOCK_SIZE: u64 = 96;
/// Group B-tree "K" (internal and leaf nodes hold up to 2K children).
const GROUP_INTERNAL_K: usize = 16;
/// Symbol-table-node "K" (a node holds up to 2K entries).
const GROUP_LEAF_K: usize = 4;
/// Chunk B-tree K (libhdf5's default for superblock 0 files).
const CHUNK_K: usize = 32;
/// Largest message a version-1 object header can hold.
const MAX_MESSAGE: usize = 0xFFFF;

/// An attribute value the writer can store.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A fixed-length UTF-8 string (h5py reads it as `bytes`).
    Str(String),
    /// A 64-bit signed integer scalar.
    Int(i64),
    /// A 64-bit float scalar.
    Float(f64),
    /// A boolean scalar (h5py's enum representation).
    Bool(bool),
    /// A 1-D array of 64-bit floats.
    Floats(Vec<f64>),
    /// A 1-D array of 64-bit signed integers.
    Ints(Vec<i64>),
}

/// Compression of chunked datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Chunks stored as they are.
    None,
    /// Byte shuffle followed by deflate at the given level (0-9), as h5py's
    /// `compression="gzip", shuffle=True`.
    Gzip(u32),
    /// Byte shuffle followed by LZF, as h5py's `compression="lzf", shuffle=True`; chunks
    /// LZF cannot shrink are stored shuffled only (the filter is optional, as in h5py).
    Lzf,
}

/// Encodes the chunks of one chunked dataset (shuffle and compression); cheap to copy and
/// usable from any thread, so chunks can be encoded in parallel by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkEncoder {
    compression: Compression,
    elem_size: usize,
    chunk_bytes: usize,
}

impl ChunkEncoder {
    /// Bytes of one whole (unencoded) chunk.
    pub fn chunk_bytes(&self) -> usize {
        self.chunk_bytes
    }

    /// The stored form of one whole chunk (C order, native-endian, padded to the chunk
    /// shape at the array edges).
    pub fn encode(&self, raw: Vec<u8>) -> Vec<u8> {
        match self.compression {
            Compression::None => raw,
            Compression::Gzip(level) => {
                filters::deflate(&filters::shuffle(&raw, self.elem_size), level)
            }
            Compression::Lzf => {
                let shuffled = filters::shuffle(&raw, self.elem_size);
                filters::lzf_compress(&shuffled).unwrap_or(shuffled)
            }
        }
    }

    /// The chunk's filter mask for a stored size: LZF skipped when it left the size as is.
    fn mask(&self, stored: usize) -> u32 {
        match self.compression {
            Compression::Lzf if stored == self.chunk_bytes => 0b10,
            _ => 0,
        }
    }

    /// The filter pipeline message, `None` without compression.
    fn pipeline(&self) -> Option<Vec<u8>> {
        let es = self.elem_size as u32;
        let steps: Vec<(u16, &str, Vec<u32>)> = match self.compression {
            Compression::None => return None,
            Compression::Gzip(level) => vec![
                (filters::SHUFFLE, "", vec![es]),
                (filters::DEFLATE, "", vec![level]),
            ],
            // h5py's LZF client data: filter version 4, liblzf 1.5, chunk bytes.
            Compression::Lzf => vec![
                (filters::SHUFFLE, "", vec![es]),
                (filters::LZF, "lzf", vec![4, 0x105, self.chunk_bytes as u32]),
            ],
        };
        let mut p = vec![1, steps.len() as u8, 0, 0, 0, 0, 0, 0];
        for (id, name, values) in steps {
            let name_len = if name.is_empty() {
                0
            } else {
                (name.len() + 8) / 8 * 8
            };
            p.extend_from_slice(&id.to_le_bytes());
            p.extend_from_slice(&(name_len as u16).to_le_bytes());
            p.extend_from_slice(&1u16.to_le_bytes()); // optional
            p.extend_from_slice(&(values.len() as u16).to_le_bytes());
            if name_len > 0 {
                push_name(&mut p, name);
            }
            for v in &values {
                p.extend_from_slice(&v.to_le_bytes());
            }
            if values.len() % 2 == 1 {
                p.extend_from_slice(&[0; 4]); // pad an odd count
            }
        }
        Some(p)
    }
}

/// A chunked dataset being written chunk by chunk ([`H5Writer::begin_chunked`]).
#[derive(Debug)]
pub struct ChunkedDataset {
    path: String,
    dtype: DType,
    shape: Vec<u64>,
    chunk: Vec<u64>,
    attrs: Vec<(String, Attr)>,
    encoder: ChunkEncoder,
    /// (chunk start, address, stored size, filter mask) in C order of the chunk grid.
    entries: Vec<(Vec<u64>, u64, u32, u32)>,
}

impl ChunkedDataset {
    /// The encoder of this dataset's chunks.
    pub fn encoder(&self) -> ChunkEncoder {
        self.encoder
    }
}

#[derive(Debug, Default)]
struct GroupNode {
    attrs: Vec<(String, Attr)>,
    /// Member name -> object header address (datasets) or `None` (subgroups, written later).
    members: BTreeMap<String, Option<u64>>,
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

fn pad8(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
}

/// A NUL-terminated name padded with NULs to a multiple of 8 bytes (counted from the name's
/// own start, as compound and enum datatype messages require).
fn push_name(v: &mut Vec<u8>, name: &str) {
    let padded = (name.len() + 8) / 8 * 8;
    v.extend_from_slice(name.as_bytes());
    v.resize(v.len() + padded - name.len(), 0);
}

fn split(path: &str) -> (String, String) {
    let p = path.trim_matches('/');
    match p.rfind('/') {
        Some(i) => (p[..i].to_string(), p[i + 1..].to_string()),
        None => (String::new(), p.to_string()),
    }
}

/// The datatype message body for an emio dtype (native byte order).
fn datatype_message(dtype: DType) -> Result<Vec<u8>> {
    let big = cfg!(target_endian = "big");
    let order_bit = u8::from(big);
    let mut m = Vec::new();
    let fixed = |m: &mut Vec<u8>, size: u32, signed: bool| {
        m.extend_from_slice(&[0x10, order_bit | if signed { 0x08 } else { 0 }, 0, 0]);
        m.extend_from_slice(&size.to_le_bytes());
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&((size * 8) as u16).to_le_bytes());
    };
    let float = |m: &mut Vec<u8>, size: u32| {
        let (eloc, esize, msize, bias) = match size {
            2 => (10u8, 5u8, 10u8, 15u32),
            4 => (23, 8, 23, 127),
            _ => (52, 11, 52, 1023),
        };
        m.extend_from_slice(&[0x11, order_bit | 0x20, (size * 8 - 1) as u8, 0]);
        m.extend_from_slice(&size.to_le_bytes());
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&((size * 8) as u16).to_le_bytes());
        m.extend_from_slice(&[eloc, esize, 0, msize]);
        m.extend_from_slice(&bias.to_le_bytes());
    };
    let compound = |m: &mut Vec<u8>, names: &[&str], member: &dyn Fn(&mut Vec<u8>), size: u32| {
        let member_size = size / names.len() as u32;
        m.extend_from_slice(&[0x16, names.len() as u8, 0, 0]);
        m.extend_from_slice(&size.to_le_bytes());
        for (i, name) in names.iter().enumerate() {
            push_name(m, name);
            m.extend_from_slice(&(i as u32 * member_size).to_le_bytes());
            m.extend_from_slice(&[0; 4]); // dimensionality + reserved
            m.extend_from_slice(&[0; 4]); // permutation
            m.extend_from_slice(&[0; 4]); // reserved
            m.extend_from_slice(&[0; 16]); // dimension sizes
            member(m);
        }
    };
    match dtype {
        DType::U8 => fixed(&mut m, 1, false),
        DType::U16 => fixed(&mut m, 2, false),
        DType::U32 => fixed(&mut m, 4, false),
        DType::U64 => fixed(&mut m, 8, false),
        DType::I8 => fixed(&mut m, 1, true),
        DType::I16 => fixed(&mut m, 2, true),
        DType::I32 => fixed(&mut m, 4, true),
        DType::I64 => fixed(&mut m, 8, true),
        DType::F16 => float(&mut m, 2),
        DType::F32 => float(&mut m, 4),
        DType::F64 => float(&mut m, 8),
        DType::C64 => compound(&mut m, &["r", "i"], &|m| float(m, 4), 8),
        DType::C128 => compound(&mut m, &["r", "i"], &|m| float(m, 8), 16),
        DType::Rgb8 => compound(&mut m, &["R", "G", "B"], &|m| fixed(m, 1, false), 3),
        DType::Rgba8 => compound(&mut m, &["R", "G", "B", "A"], &|m| fixed(m, 1, false), 4),
        DType::Rgb16 => compound(&mut m, &["R", "G", "B"], &|m| fixed(m, 2, false), 6),
        DType::Rgba16 => compound(&mut m, &["R", "G", "B", "A"], &|m| fixed(m, 2, false), 8),
        DType::Bool => {
            // h5py's bool: enum of int8 {FALSE: 0, TRUE: 1}.
            m.extend_from_slice(&[0x18, 2, 0, 0]);
            m.extend_from_slice(&1u32.to_le_bytes());
            fixed(&mut m, 1, true);
            for name in ["FALSE", "TRUE"] {
                push_name(&mut m, name);
            }
            m.extend_from_slice(&[0, 1]);
        }
    }
    Ok(m)
}

fn string_type(len: usize) -> Vec<u8> {
    // Class 3, null-terminated, UTF-8.
    let mut m = vec![0x13, 0x10, 0, 0];
    m.extend_from_slice(&(len.max(1) as u32).to_le_bytes());
    m
}

fn dataspace_message(shape: &[u64]) -> Vec<u8> {
    let mut m = vec![1, shape.len() as u8, 0, 0, 0, 0, 0, 0];
    for &n in shape {
        m.extend_from_slice(&n.to_le_bytes());
    }
    m
}

fn attribute_message(name: &str, value: &Attr) -> Result<Vec<u8>> {
    let (dtype, shape, data): (Vec<u8>, Vec<u64>, Vec<u8>) = match value {
        Attr::Str(s) => {
            let mut b = s.as_bytes().to_vec();
            if b.is_empty() {
                b.push(0);
            }
            (string_type(b.len()), vec![], b)
        }
        Attr::Int(v) => (
            datatype_message(DType::I64)?,
            vec![],
            v.to_ne_bytes().to_vec(),
        ),
        Attr::Float(v) => (
            datatype_message(DType::F64)?,
            vec![],
            v.to_ne_bytes().to_vec(),
        ),
        Attr::Bool(v) => (datatype_message(DType::Bool)?, vec![], vec![u8::from(*v)]),
        Attr::Floats(v) => (
            datatype_message(DType::F64)?,
            vec![v.len() as u64],
            v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        ),
        Attr::Ints(v) => (
            datatype_message(DType::I64)?,
            vec![v.len() as u64],
            v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        ),
    };
    let space = dataspace_message(&shape);
    let mut m = vec![1, 0];
    m.extend_from_slice(&((name.len() + 1) as u16).to_le_bytes());
    m.extend_from_slice(&(dtype.len() as u16).to_le_bytes());
    m.extend_from_slice(&(space.len() as u16).to_le_bytes());
    m.extend_from_slice(name.as_bytes());
    m.push(0);
    pad8(&mut m);
    m.extend_from_slice(&dtype);
    pad8(&mut m);
    m.extend_from_slice(&space);
    pad8(&mut m);
    m.extend_from_slice(&data);
    if m.len() > MAX_MESSAGE - 8 {
        return Err(Error::unsupported(
            "hdf5",
            format!(
                "attribute {name} of {} bytes (the limit is 64 KiB)",
                m.len()
            ),
        ));
    }
    Ok(m)
}

/// Assemble a version-1 object header from `(type, body)` messages.
fn object_header(messages: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (kind, data) in messages {
        let mut d = data.clone();
        pad8(&mut d);
        body.extend_from_slice(&kind.to_le_bytes());
        body.extend_from_slice(&(d.len() as u16).to_le_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
        body.extend_from_slice(&d);
    }
    let mut h = vec![1, 0];
    h.extend_from_slice(&(messages.len() as u16).to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&(body.len() as u32).to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(&body);
    h
}

/// A chunk B-tree entry: first chunk offset, stored size, filter mask, child address.
type BtreeEntry = (Vec<u64>, u32, u32, u64);

/// Copy a chunk clipped at the array edge (`extent`) into a zeroed whole chunk.
pub fn pad_chunk(clipped: &[u8], extent: &[u64], full: &mut [u8], chunk: &[u64], es: usize) {
    full.fill(0);
    copy_nd(
        clipped,
        NdLayout {
            offset: 0,
            strides: &c_strides(extent, es),
        },
        full,
        NdLayout {
            offset: 0,
            strides: &c_strides(chunk, es),
        },
        extent,
        es,
    );
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

    /// Create group `path` (and its parents) with `attrs`; attributes of an existing group
    /// are extended.
    pub fn create_group(&mut self, path: &str, attrs: Vec<(String, Attr)>) -> Result<()> {
        for (name, value) in &attrs {
            attribute_message(name, value)?;
        }
        let p = path.trim_matches('/').to_string();
        if !p.is_empty() {
            let (parent, name) = split(&p);
            self.create_group(&parent, Vec::new())?;
            match self.groups[&parent].members.get(&name) {
                Some(Some(_)) => {
                    return Err(Error::unsupported(
                        "hdf5",
                        format!("group {p}: a dataset has that name"),
                    ))
                }
                Some(None) => {}
                None => {
                    self.groups
                        .get_mut(&parent)
                        .expect("parent created")
                        .members
                        .insert(name, None);
                }
            }
        }
        self.groups.entry(p).or_default().attrs.extend(attrs);
        Ok(())
    }

    fn link_dataset(&mut self, path: &str, header: u64) -> Result<()> {
        let (parent, name) = split(path);
        self.create_group(&parent, Vec::new())?;
        let g = self.groups.get_mut(&parent).expect("parent created");
        if g.members.contains_key(&name) {
            return Err(Error::unsupported(
                "hdf5",
                format!("two objects named {path}"),
            ));
        }
        g.members.insert(name, Some(header));
        Ok(())
    }

    fn dataset_header(
        &mut self,
        dtype: DType,
        shape: &[u64],
        layout: Vec<u8>,
        pipeline: Option<Vec<u8>>,
        attrs: &[(String, Attr)],
    ) -> Result<u64> {
        let mut msgs = vec![
            (0x0001u16, dataspace_message(shape)),
            (0x0003, datatype_message(dtype)?),
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
        for (name, value) in attrs {
            msgs.push((0x000C, attribute_message(name, value)?));
        }
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
        for (name, value) in attrs {
            attribute_message(name, value)?;
        }
        let expected = element_count(shape)
            .and_then(|n| n.checked_mul(dtype.size() as u64))
            .ok_or_else(|| Error::OutOfBounds(format!("a dataset of shape {shape:?}")))?;
        let start = self.pos;
        produce(&mut |bytes| self.put(bytes).map(|_| ()))?;
        let written = self.pos - start;
        if written != expected {
            return Err(Error::OutOfBounds(format!(
                "{written} bytes streamed for a {dtype} dataset of shape {shape:?} ({expected} expected)"
            )));
        }
        let addr = if written == 0 { UNDEF } else { start };
        let mut layout = vec![3, 1];
        layout.extend_from_slice(&addr.to_le_bytes());
        layout.extend_from_slice(&written.to_le_bytes());
        let header = self.dataset_header(dtype, shape, layout, None, attrs)?;
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
        for (name, value) in attrs {
            msgs.push((0x000C, attribute_message(name, value)?));
        }
        let header = self.put(&object_header(&msgs))?;
        self.link_dataset(path, header)
    }

    /// Write a chunked dataset chunk by chunk: `fill(start, extent, out)` writes the values
    /// of the chunk at `start` (clipped to `extent` at the array edges) into `out` in C
    /// order, native-endian. Chunks are produced in C order of the chunk grid.
    #[allow(clippy::too_many_arguments)]
    pub fn write_chunked(
        &mut self,
        path: &str,
        dtype: DType,
        shape: &[u64],
        chunk: &[u64],
        compression: Compression,
        attrs: &[(String, Attr)],
        mut fill: impl FnMut(&[u64], &[u64], &mut [u8]) -> Result<()>,
    ) -> Result<()> {
        let mut ds = Self::begin_chunked(path, dtype, shape, chunk, compression, attrs)?;
        let encoder = ds.encoder();
        let es = dtype.size();
        let rank = shape.len();
        let grid: Vec<u64> = shape
            .iter()
            .zip(chunk)
            .map(|(n, c)| n.div_ceil(*c))
            .collect();
        let total = if shape.contains(&0) {
            0
        } else {
            element_count(&grid).unwrap_or(0)
        };
        // Compressed chunks are produced in batches and encoded in parallel; the batch
        // bounds memory to a few chunks.
        let batch = match compression {
            Compression::None => 1,
            _ => (2 * rayon::current_num_threads()).max(1),
        };
        let mut clipped = Vec::new();
        let mut pending: Vec<(Vec<u64>, Vec<u8>)> = Vec::with_capacity(batch);
        let mut index = vec![0u64; rank];
        for done in 0..total {
            let start: Vec<u64> = index.iter().zip(chunk).map(|(i, c)| i * c).collect();
            let extent: Vec<u64> = start
                .iter()
                .zip(chunk)
                .zip(shape)
                .map(|((s, c), n)| (*c).min(n - s))
                .collect();
            let mut full = vec![0u8; encoder.chunk_bytes()];
            if extent == chunk {
                fill(&start, &extent, &mut full)?;
            } else {
                let n = element_count(&extent).unwrap_or(0) as usize * es;
                clipped.resize(n, 0);
                fill(&start, &extent, &mut clipped)?;
                pad_chunk(&clipped, &extent, &mut full, chunk, es);
            }
            pending.push((start, full));
            if pending.len() == batch || done + 1 == total {
                let stored: Vec<(Vec<u64>, Vec<u8>)> = pending
                    .par_drain(..)
                    .map(|(start, raw)| (start, encoder.encode(raw)))
                    .collect();
                for (start, bytes) in stored {
                    self.put_chunk(&mut ds, &start, &bytes)?;
                }
            }
            for k in (0..rank).rev() {
                index[k] += 1;
                if index[k] < grid[k] {
                    break;
                }
                index[k] = 0;
            }
        }
        self.end_chunked(ds)
    }

    /// Start a chunked dataset whose chunks the caller encodes ([`ChunkEncoder::encode`],
    /// e.g. in parallel) and hands to [`H5Writer::put_chunk`] in C order of the chunk
    /// grid; [`H5Writer::end_chunked`] writes its index and header.
    pub fn begin_chunked(
        path: &str,
        dtype: DType,
        shape: &[u64],
        chunk: &[u64],
        compression: Compression,
        attrs: &[(String, Attr)],
    ) -> Result<ChunkedDataset> {
        let rank = shape.len();
        if rank == 0 || chunk.len() != rank || chunk.iter().any(|&c| c == 0 || c > u32::MAX as u64)
        {
            return Err(Error::OutOfBounds(format!(
                "chunk shape {chunk:?} for a dataset of shape {shape:?}"
            )));
        }
        for (name, value) in attrs {
            attribute_message(name, value)?;
        }
        let es = dtype.size();
        let chunk_bytes = element_count(chunk)
            .and_then(|n| n.checked_mul(es as u64))
            .filter(|&n| n <= u32::MAX as u64)
            .ok_or_else(|| Error::OutOfBounds(format!("chunk {chunk:?} is too large")))?
            as usize;
        Ok(ChunkedDataset {
            path: path.to_string(),
            dtype,
            shape: shape.to_vec(),
            chunk: chunk.to_vec(),
            attrs: attrs.to_vec(),
            encoder: ChunkEncoder {
                compression,
                elem_size: es,
                chunk_bytes,
            },
            entries: Vec::new(),
        })
    }

    /// Append the stored (encoded) chunk at `start` of `ds`.
    pub fn put_chunk(
        &mut self,
        ds: &mut ChunkedDataset,
        start: &[u64],
        stored: &[u8],
    ) -> Result<()> {
        let size = u32::try_from(stored.len())
            .map_err(|_| Error::OutOfBounds(format!("a stored chunk of {} bytes", stored.len())))?;
        let addr = self.put(stored)?;
        let mask = ds.encoder.mask(stored.len());
        ds.entries.push((start.to_vec(), addr, size, mask));
        Ok(())
    }

    /// Write the chunk index and header of `ds` and link it into its group.
    pub fn end_chunked(&mut self, ds: ChunkedDataset) -> Result<()> {
        let rank = ds.shape.len();
        let btree = self.write_chunk_btree(&ds.entries, &ds.chunk, &ds.shape)?;
        let mut layout = vec![3, 2, (rank + 1) as u8];
        layout.extend_from_slice(&btree.to_le_bytes());
        for &c in &ds.chunk {
            layout.extend_from_slice(&(c as u32).to_le_bytes());
        }
        layout.extend_from_slice(&(ds.encoder.elem_size as u32).to_le_bytes());
        let pipeline = ds.encoder.pipeline();
        let header = self.dataset_header(ds.dtype, &ds.shape, layout, pipeline, &ds.attrs)?;
        self.link_dataset(&ds.path, header)
    }

    /// Write the version-1 B-tree (type 1) over `entries` (chunk start, address, size),
    /// bottom-up with at most 2K children per node; returns the root address.
    fn write_chunk_btree(
        &mut self,
        entries: &[(Vec<u64>, u64, u32, u32)],
        chunk: &[u64],
        shape: &[u64],
    ) -> Result<u64> {
        let rank = chunk.len();
        let key = |buf: &mut Vec<u8>, size: u32, mask: u32, offset: &[u64]| {
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&mask.to_le_bytes());
            for &o in offset {
                buf.extend_from_slice(&o.to_le_bytes());
            }
            buf.extend_from_slice(&0u64.to_le_bytes());
        };
        let key_size = 8 + 8 * (rank + 1);
        let node_size = 24 + (2 * CHUNK_K + 1) * key_size + 2 * CHUNK_K * 8;
        // The key after the last chunk: one chunk past it along dim 0.
        let end_key: Vec<u64> = match entries.last() {
            Some((s, _, _, _)) => {
                let mut e = s.clone();
                e[0] += chunk[0];
                e
            }
            None => {
                let mut e = vec![0; rank];
                e[0] = shape[0].div_ceil(chunk[0]) * chunk[0];
                e
            }
        };
        // (first key offset, first key size, address) of each node of the current level.
        let mut level: Vec<BtreeEntry> = entries
            .iter()
            .map(|(s, a, n, m)| (s.clone(), *n, *m, *a))
            .collect();
        let mut depth = 0u8;
        loop {
            let mut next = Vec::new();
            let groups: Vec<&[BtreeEntry]> = if level.is_empty() {
                vec![&[]]
            } else {
                level.chunks(2 * CHUNK_K).collect()
            };
            for (gi, group) in groups.iter().enumerate() {
                let mut node = Vec::with_capacity(node_size);
                node.extend_from_slice(b"TREE");
                node.extend_from_slice(&[1, depth]);
                node.extend_from_slice(&(group.len() as u16).to_le_bytes());
                node.extend_from_slice(&UNDEF.to_le_bytes());
                node.extend_from_slice(&UNDEF.to_le_bytes());
                for (off, size, mask, addr) in group.iter() {
                    key(&mut node, *size, *mask, off);
                    node.extend_from_slice(&addr.to_le_bytes());
                }
                // Right key: the first key of the next group, or the end key.
                match groups.get(gi + 1).and_then(|g| g.first()) {
                    Some((off, size, mask, _)) => key(&mut node, *size, *mask, off),
                    None => key(&mut node, 0, 0, &end_key),
                }
                node.resize(node_size, 0);
                let addr = self.put(&node)?;
                let (first, size, mask) = group
                    .first()
                    .map(|(o, s, m, _)| (o.clone(), *s, *m))
                    .unwrap_or_else(|| (vec![0; rank], 0, 0));
                next.push((first, size, mask, addr));
            }
            if next.len() == 1 {
                return Ok(next[0].3);
            }
            level = next;
            depth += 1;
        }
    }

    /// Write the groups bottom-up and the superblock; the file is complete afterwards.
    pub fn finish(mut self) -> Result<()> {
        let mut paths: Vec<String> = self.groups.keys().cloned().collect();
        // Deepest first, so every subgroup's address is known before its parent is written.
        paths.sort_by_key(|p| {
            std::cmp::Reverse(p.matches('/').count() + usize::from(!p.is_empty()))
        });
        let mut root = (0u64, 0u64, 0u64);
        for path in paths {
            let node = self.groups.remove(&path).expect("listed");
            let mut members: Vec<(String, u64)> = Vec::new();
            for (name, addr) in node.members {
                let addr = match addr {
                    Some(a) => a,
                    None => {
                        let child = if path.is_empty() {
                            name.clone()
                        } else {
                            format!("{path}/{name}")
                        };
                        *self.written.get(&child).ok_or_else(|| {
                            Error::OutOfBounds(format!("group {child} was not written"))
                        })?
                    }
                };
                members.push((name, addr));
            }
            let (header, btree, heap) = self.write_group(&members, &node.attrs)?;
            if path.is_empty() {
                root = (header, btree, heap);
            } else {
                self.written.insert(path, header);
            }
        }
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

    /// Write one group (local heap, symbol nodes, B-tree, header); returns the header, B-tree
    /// and heap addresses.
    fn write_group(
        &mut self,
        members: &[(String, u64)],
        attrs: &[(String, Attr)],
    ) -> Result<(u64, u64, u64)> {
        // Names sorted by byte value (strcmp), as the B-tree requires.
        let mut members = members.to_vec();
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let per_node = 2 * GROUP_LEAF_K;
        // Local heap: offset 0 is the empty name.
        let mut heap_data = vec![0u8; 8];
        let mut offsets = Vec::new();
        for (name, _) in &members {
            offsets.push(heap_data.len() as u64);
            heap_data.extend_from_slice(name.as_bytes());
            heap_data.push(0);
            pad8(&mut heap_data);
        }
        let data_addr = self.put(&heap_data)?;
        let mut heap = Vec::new();
        heap.extend_from_slice(b"HEAP");
        heap.extend_from_slice(&[0, 0, 0, 0]);
        heap.extend_from_slice(&(heap_data.len() as u64).to_le_bytes());
        heap.extend_from_slice(&1u64.to_le_bytes()); // H5HL_FREE_NULL: no free block
        heap.extend_from_slice(&data_addr.to_le_bytes());
        let heap_addr = self.put(&heap)?;
        // Symbol table nodes.
        let mut snods = Vec::new();
        let indices: Vec<usize> = (0..members.len()).collect();
        for group in indices.chunks(per_node) {
            let mut node = Vec::new();
            node.extend_from_slice(b"SNOD");
            node.extend_from_slice(&[1, 0]);
            node.extend_from_slice(&(group.len() as u16).to_le_bytes());
            for &i in group {
                node.extend_from_slice(&offsets[i].to_le_bytes());
                node.extend_from_slice(&members[i].1.to_le_bytes());
                node.extend_from_slice(&[0; 24]);
            }
            node.resize(8 + per_node * 40, 0);
            let addr = self.put(&node)?;
            snods.push((addr, offsets[*group.last().expect("non-empty")]));
        }
        // B-tree (type 0) over the symbol nodes, bottom-up with at most 2K children per
        // node; a key is the heap offset of the last name in the subtree before it.
        let mut level: Vec<(u64, u64)> = snods;
        let mut depth = 0u8;
        let tree_addr = loop {
            let groups: Vec<&[(u64, u64)]> = if level.is_empty() {
                vec![&[]]
            } else {
                level.chunks(2 * GROUP_INTERNAL_K).collect()
            };
            let mut next = Vec::with_capacity(groups.len());
            let mut left_key = 0u64;
            for group in groups {
                let mut tree = Vec::new();
                tree.extend_from_slice(b"TREE");
                tree.extend_from_slice(&[0, depth]);
                tree.extend_from_slice(&(group.len() as u16).to_le_bytes());
                tree.extend_from_slice(&UNDEF.to_le_bytes());
                tree.extend_from_slice(&UNDEF.to_le_bytes());
                tree.extend_from_slice(&left_key.to_le_bytes());
                for (addr, last_name) in group {
                    tree.extend_from_slice(&addr.to_le_bytes());
                    tree.extend_from_slice(&last_name.to_le_bytes());
                }
                tree.resize(
                    24 + (2 * GROUP_INTERNAL_K + 1) * 8 + 2 * GROUP_INTERNAL_K * 8,
                    0,
                );
                let addr = self.put(&tree)?;
                let last = group.last().map_or(left_key, |(_, name)| *name);
                next.push((addr, last));
                left_key = last;
            }
            if next.len() == 1 {
                break next[0].0;
            }
            level = next;
            depth += 1;
        };
        let mut msgs = Vec::new();
        let mut stab = tree_addr.to_le_bytes().to_vec();
        stab.extend_from_slice(&heap_addr.to_le_bytes());
        msgs.push((0x0011u16, stab));
        for (name, value) in attrs {
            msgs.push((0x000C, attribute_message(name, value)?));
        }
        let header = self.put(&object_header(&msgs))?;
        Ok((header, tree_addr, heap_addr))
    }
}
