//! Variable-length datasets (h5py's `vlen_dtype`): every element's values are one object
//! of a global heap collection (`GCOL`), and the dataset stores a reference per element
//! (length, collection address, object index), chunked as h5py does. Sequences of numbers
//! and sequences of variable-length strings (each string an object of its own) are
//! written: what HyperSpy stores for ragged signals.

use emio_core::source::element_count;
use emio_core::{DType, Error, Result};

use super::chunked::Compression;
use super::messages::{attribute_message_with, datatype_message, Attr};
use super::H5Writer;

/// Bytes of one variable-length reference (length, 8-byte address, index).
pub(super) const REF_SIZE: usize = 16;
/// Smallest global heap collection libhdf5 writes (`H5HG_MINSIZE`).
const MIN_COLLECTION: usize = 4096;
/// Collections are closed past this size (and at 65535 objects: indexes are 16-bit).
const MAX_COLLECTION: usize = 1 << 20;

/// The values of a variable-length dataset, one entry per element in C order.
#[derive(Debug, Clone, Copy)]
pub enum VlenValues<'a> {
    /// Sequences of numbers of one dtype (native-endian bytes per element).
    Numbers(DType, &'a [Vec<u8>]),
    /// Sequences of UTF-8 strings.
    Strings(&'a [Vec<String>]),
}

impl VlenValues<'_> {
    fn len(&self) -> usize {
        match self {
            VlenValues::Numbers(_, v) => v.len(),
            VlenValues::Strings(v) => v.len(),
        }
    }

    /// The datatype message: a sequence of the base type.
    fn datatype(&self) -> Result<Vec<u8>> {
        let base = match self {
            VlenValues::Numbers(dtype, _) => datatype_message(*dtype)?,
            VlenValues::Strings(_) => string_type()?,
        };
        Ok(vlen_type(0x00, 0x00, base))
    }
}

/// The datatype message of a variable-length UTF-8 string, of bytes (libhdf5's unsigned
/// char base).
pub(super) fn string_type() -> Result<Vec<u8>> {
    Ok(vlen_type(0x01, 0x01, datatype_message(DType::U8)?))
}

/// A variable-length datatype message (class 9, version 1): `kind` 0 sequence or 1
/// string, `charset` 1 for UTF-8 (strings), then the base type.
fn vlen_type(kind: u8, charset: u8, base: Vec<u8>) -> Vec<u8> {
    let mut m = vec![0x19, kind, charset, 0];
    m.extend_from_slice(&(REF_SIZE as u32).to_le_bytes());
    m.extend_from_slice(&base);
    m
}

/// Global heap collections being filled: objects go to the open collection, which is
/// written when full (or at the end). Nothing else is written to the file while a heap is
/// filled, so the open collection's address is the writer's current position.
struct Heap {
    /// The open collection's objects, index `i + 1` at `i`.
    objects: Vec<Vec<u8>>,
    /// Bytes the open collection would take (header and objects).
    size: usize,
}

/// Header bytes of a collection and of an object (with 8-byte lengths).
const HEADER: usize = 16;

impl H5Writer {
    /// Write the variable-length dataset `path` of `shape` (C order; `values` holds one
    /// entry per element): the heap collections first, then the references as a chunked
    /// dataset of `chunk` with `compression`.
    pub fn write_vlen(
        &mut self,
        path: &str,
        shape: &[u64],
        chunk: &[u64],
        values: VlenValues<'_>,
        compression: Compression,
    ) -> Result<()> {
        if element_count(shape) != Some(values.len() as u64) {
            return Err(Error::OutOfBounds(format!(
                "{} variable-length values for a dataset of shape {shape:?}",
                values.len()
            )));
        }
        let mut refs = Vec::with_capacity(values.len() * REF_SIZE);
        let mut heap = Heap {
            objects: Vec::new(),
            size: HEADER,
        };
        match values {
            VlenValues::Numbers(dtype, items) => {
                for item in items {
                    let n = item.len() / dtype.size();
                    refs.extend_from_slice(&heap.add(self, n, item.clone())?);
                }
            }
            VlenValues::Strings(items) => {
                for strings in items {
                    let mut inner = Vec::with_capacity(strings.len() * REF_SIZE);
                    for s in strings {
                        let bytes = s.as_bytes().to_vec();
                        inner.extend_from_slice(&heap.add(self, bytes.len(), bytes)?);
                    }
                    refs.extend_from_slice(&heap.add(self, strings.len(), inner)?);
                }
            }
        }
        heap.close(self)?;
        let datatype = values.datatype()?;
        let mut out =
            Self::begin_chunked(path, datatype, REF_SIZE, shape, chunk, compression, &[])?;
        for start in grid(shape, chunk) {
            let raw = gather(&refs, shape, chunk, &start);
            let stored = out.encode(raw);
            self.put_chunk(&mut out, &start, &stored)?;
        }
        self.end_chunked(out)
    }
}

impl H5Writer {
    /// The attribute messages of `attrs`, the strings of its [`Attr::VarStr`]s first
    /// written as one global heap collection (at the writer's position: call this right
    /// before writing the object header the messages go into).
    pub(super) fn attribute_messages(
        &mut self,
        attrs: &[(String, Attr)],
    ) -> Result<Vec<(u16, Vec<u8>)>> {
        let mut heap = Heap {
            objects: Vec::new(),
            size: HEADER,
        };
        let mut refs = Vec::with_capacity(attrs.len());
        for (_, value) in attrs {
            refs.push(match value {
                Attr::VarStr(s) => heap.add(self, s.len(), s.as_bytes().to_vec())?,
                _ => [0; REF_SIZE],
            });
        }
        heap.close(self)?;
        attrs
            .iter()
            .zip(&refs)
            .map(|((name, value), r)| Ok((0x000C, attribute_message_with(name, value, r)?)))
            .collect()
    }
}

impl Heap {
    /// Add an object of `n` values holding `data`; returns its reference (a null one, no
    /// object, when `n` is 0).
    fn add(&mut self, w: &mut H5Writer, n: usize, data: Vec<u8>) -> Result<[u8; REF_SIZE]> {
        let length = u32::try_from(n)
            .map_err(|_| Error::OutOfBounds(format!("a variable-length value of {n} elements")))?;
        let mut r = [0u8; REF_SIZE];
        if n == 0 {
            return Ok(r);
        }
        let cost = HEADER + data.len().div_ceil(8) * 8;
        if !self.objects.is_empty()
            && (self.size + cost > MAX_COLLECTION || self.objects.len() >= u16::MAX as usize)
        {
            self.close(w)?;
        }
        self.objects.push(data);
        self.size += cost;
        r[..4].copy_from_slice(&length.to_le_bytes());
        r[4..12].copy_from_slice(&w.pos.to_le_bytes());
        r[12..].copy_from_slice(&(self.objects.len() as u32).to_le_bytes());
        Ok(r)
    }

    /// Write the open collection (at least libhdf5's minimum size, the rest free space).
    fn close(&mut self, w: &mut H5Writer) -> Result<()> {
        if self.objects.is_empty() {
            return Ok(());
        }
        let size = self.size.max(MIN_COLLECTION);
        let mut c = Vec::with_capacity(size);
        c.extend_from_slice(b"GCOL");
        c.extend_from_slice(&[1, 0, 0, 0]);
        c.extend_from_slice(&(size as u64).to_le_bytes());
        for (i, data) in self.objects.drain(..).enumerate() {
            c.extend_from_slice(&(i as u16 + 1).to_le_bytes());
            c.extend_from_slice(&1u16.to_le_bytes()); // reference count
            c.extend_from_slice(&[0; 4]);
            c.extend_from_slice(&(data.len() as u64).to_le_bytes());
            c.extend_from_slice(&data);
            c.resize(c.len().div_ceil(8) * 8, 0);
        }
        // The rest is free space: object 0, whose size counts its own header.
        let free = size - c.len();
        if free >= HEADER {
            c.extend_from_slice(&[0; 8]);
            c.extend_from_slice(&(free as u64).to_le_bytes());
        }
        c.resize(size, 0);
        w.put(&c)?;
        self.size = HEADER;
        Ok(())
    }
}

/// The starts of the chunks of a grid of `chunk` over `shape`, in C order.
fn grid(shape: &[u64], chunk: &[u64]) -> Vec<Vec<u64>> {
    let counts: Vec<u64> = shape
        .iter()
        .zip(chunk)
        .map(|(&n, &c)| n.div_ceil(c.max(1)))
        .collect();
    let total = element_count(&counts).unwrap_or(0);
    (0..total)
        .map(|mut k| {
            let mut start = vec![0; shape.len()];
            for d in (0..shape.len()).rev() {
                start[d] = k % counts[d] * chunk[d];
                k /= counts[d];
            }
            start
        })
        .collect()
}

/// The references of the chunk at `start` (C order within the chunk), null references
/// past the array's edges.
fn gather(refs: &[u8], shape: &[u64], chunk: &[u64], start: &[u64]) -> Vec<u8> {
    let n = element_count(chunk).unwrap_or(0) as usize;
    let mut out = vec![0u8; n * REF_SIZE];
    for (k, slot) in out.chunks_exact_mut(REF_SIZE).enumerate() {
        let mut rest = k as u64;
        let mut flat = 0u64;
        let mut inside = true;
        for d in (0..shape.len()).rev() {
            let i = start[d] + rest % chunk[d];
            rest /= chunk[d];
            inside &= i < shape[d];
            flat += i * shape[d + 1..].iter().product::<u64>();
        }
        if inside {
            let at = flat as usize * REF_SIZE;
            slot.copy_from_slice(&refs[at..at + REF_SIZE]);
        }
    }
    out
}
