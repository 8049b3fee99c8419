//! Chunked datasets: compression, the chunk encoder (usable in parallel), padding of edge
//! chunks, writing chunk by chunk and the version-1 chunk B-tree index.

use emio_core::source::{c_strides, copy_nd, element_count, Layout as NdLayout};
use emio_core::{DType, Error, Result};
use rayon::prelude::*;

use super::messages::{attribute_message, push_name, Attr};
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
}
