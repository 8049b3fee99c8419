//! Chunked datasets: compression, the chunk encoder (run on the write pipeline's workers),
//! writing chunk by chunk through core's write pipeline and the version-1 chunk B-tree
//! index.

use emio_core::plan::WritePlan;
use emio_core::source::element_count;
use emio_core::{Dataset, Error, Progress, Result};

use super::messages::{attribute_message, datatype_message, push_name, Attr};
use super::{H5Writer, UNDEF};
use crate::filters;

/// Chunk B-tree K (libhdf5's default for superblock 0 files).
const CHUNK_K: usize = 32;

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
struct ChunkEncoder {
    compression: Compression,
    elem_size: usize,
    chunk_bytes: usize,
}

impl ChunkEncoder {
    /// The stored form of one whole chunk (C order, native-endian, padded to the chunk
    /// shape at the array edges).
    fn encode(&self, raw: Vec<u8>) -> Vec<u8> {
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

/// A chunked dataset being written chunk by chunk ([`H5Writer::write_chunked`]).
#[derive(Debug)]
pub(super) struct ChunkedDataset {
    path: String,
    /// The datatype message body.
    datatype: Vec<u8>,
    shape: Vec<u64>,
    chunk: Vec<u64>,
    attrs: Vec<(String, Attr)>,
    encoder: ChunkEncoder,
    /// (chunk start, address, stored size, filter mask) in C order of the chunk grid.
    entries: Vec<(Vec<u64>, u64, u32, u32)>,
}

impl ChunkedDataset {
    /// The stored form of one whole chunk ([`ChunkEncoder::encode`]).
    pub(super) fn encode(&self, raw: Vec<u8>) -> Vec<u8> {
        self.encoder.encode(raw)
    }
}

/// A chunk B-tree entry: first chunk offset, stored size, filter mask, child address.
type BtreeEntry = (Vec<u64>, u32, u32, u64);

impl H5Writer {
    /// Write `ds` as the chunked dataset `path` through core's write pipeline: chunks of
    /// `chunk` (in `ds`'s dimensions), stored with the axes in `order` (`order[i]` is the
    /// dimension of `ds` stored `i`-th: `[0, 1, ..]` as they are, reversed for a file
    /// that stores the last axis first), zero-padded at the array edges, encoded on the
    /// engine's workers in parallel and appended in C order of the stored chunk grid.
    #[allow(clippy::too_many_arguments)]
    pub fn write_chunked(
        &mut self,
        path: &str,
        ds: &Dataset,
        chunk: &[u64],
        order: &[usize],
        compression: Compression,
        attrs: &[(String, Attr)],
        progress: &dyn Progress,
    ) -> Result<()> {
        let stored = |v: &[u64]| -> Vec<u64> { order.iter().map(|&d| v[d]).collect() };
        if order.len() != ds.ndim() || chunk.len() != ds.ndim() {
            return Err(Error::Layout(format!(
                "chunk shape {chunk:?} in axis order {order:?} for a dataset of shape {:?}",
                ds.shape()
            )));
        }
        let mut out = Self::begin_chunked(
            path,
            datatype_message(ds.dtype())?,
            ds.dtype().size(),
            &stored(ds.shape()),
            &stored(chunk),
            compression,
            attrs,
        )?;
        let encoder = out.encoder;
        WritePlan::new(chunk)
            .padded()
            .stored_order(order)
            .write_in_order(
                ds,
                progress,
                |_, buf| {
                    *buf = encoder.encode(std::mem::take(buf));
                    Ok(())
                },
                |region, bytes| self.put_chunk(&mut out, &stored(&region.start), bytes),
            )?;
        self.end_chunked(out)
    }

    /// Start a chunked dataset whose encoded chunks are handed to [`H5Writer::put_chunk`]
    /// in C order of the chunk grid; [`H5Writer::end_chunked`] writes its index and header.
    pub(super) fn begin_chunked(
        path: &str,
        datatype: Vec<u8>,
        elem_size: usize,
        shape: &[u64],
        chunk: &[u64],
        compression: Compression,
        attrs: &[(String, Attr)],
    ) -> Result<ChunkedDataset> {
        let rank = shape.len();
        if rank == 0 || chunk.len() != rank || chunk.iter().any(|&c| c == 0 || c > u32::MAX as u64)
        {
            return Err(Error::Layout(format!(
                "chunk shape {chunk:?} for a dataset of shape {shape:?}"
            )));
        }
        for (name, value) in attrs {
            attribute_message(name, value)?;
        }
        let es = elem_size;
        let chunk_bytes = element_count(chunk)
            .and_then(|n| n.checked_mul(es as u64))
            .filter(|&n| n <= u32::MAX as u64)
            .ok_or_else(|| Error::Layout(format!("chunk {chunk:?} is too large")))?
            as usize;
        Ok(ChunkedDataset {
            path: path.to_string(),
            datatype,
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
    pub(super) fn put_chunk(
        &mut self,
        ds: &mut ChunkedDataset,
        start: &[u64],
        stored: &[u8],
    ) -> Result<()> {
        let size = u32::try_from(stored.len())
            .map_err(|_| Error::Layout(format!("a stored chunk of {} bytes", stored.len())))?;
        let addr = self.put(stored)?;
        let mask = ds.encoder.mask(stored.len());
        ds.entries.push((start.to_vec(), addr, size, mask));
        Ok(())
    }

    /// Write the chunk index and header of `ds` and link it into its group.
    pub(super) fn end_chunked(&mut self, ds: ChunkedDataset) -> Result<()> {
        let rank = ds.shape.len();
        let btree = self.write_chunk_btree(&ds.entries, &ds.chunk, &ds.shape)?;
        let mut layout = vec![3, 2, (rank + 1) as u8];
        layout.extend_from_slice(&btree.to_le_bytes());
        for &c in &ds.chunk {
            layout.extend_from_slice(&(c as u32).to_le_bytes());
        }
        layout.extend_from_slice(&(ds.encoder.elem_size as u32).to_le_bytes());
        let pipeline = ds.encoder.pipeline();
        let header = self.dataset_header(ds.datatype, &ds.shape, layout, pipeline, &ds.attrs)?;
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
}
