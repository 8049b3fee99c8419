//! Blosc frames (format version 2: c-blosc 1.x, numcodecs, zarrs), read ([`decode_into`])
//! and written ([`encode`]) by emio itself, shuffles through [`emio_core::bitplanes`].
//!
//! A frame is a 16-byte header (version, compressor version, flags, type size, then
//! little-endian `u32`: decoded bytes, block bytes, frame bytes), then, unless the flags
//! say the data was stored as is, one `i32` offset per block. A block is stored as one
//! stream, or as one stream per byte of the type ("split": the block's bytes are the
//! concatenation of the streams), each prefixed by its `i32` length; a stream as long as
//! its decoded part is stored uncompressed. Before compressing, a block is shuffled: byte
//! shuffle (flag 0x1, type size > 1) or bit shuffle (flag 0x4, the block's elements when
//! they are a multiple of 8; otherwise the block is stored unshuffled).

mod decode;
mod encode;

pub use decode::{decode_into, Outcome};
pub use encode::{encode, Chunk, EncodeError, Settings};

/// Header bytes of a frame.
const HEADER: usize = 16;
/// Flags: byte shuffle, stored as is, bit shuffle, reserved, blocks not split.
const BYTE_SHUFFLE: u8 = 0x1;
const MEMCPYED: u8 = 0x2;
const BIT_SHUFFLE: u8 = 0x4;
const RESERVED: u8 = 0x8;
const DONT_SPLIT: u8 = 0x10;
/// c-blosc splits blocks of at least this many elements, of types up to `MAX_SPLITS`.
const MIN_SPLIT_ELEMENTS: usize = 128;
const MAX_SPLITS: usize = 16;

/// The compressor of a frame's blocks (the ones emio reads and writes itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compressor {
    /// LZ4 (and LZ4HC, which decodes the same way).
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compressor {
    /// The compressor of a frame's flags (`flags >> 5`), if emio handles it.
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Compressor::Lz4),
            4 => Some(Compressor::Zstd),
            _ => None,
        }
    }

    /// Its code in a frame's flags (bits 5-7).
    fn code(self) -> u8 {
        match self {
            Compressor::Lz4 => 1,
            Compressor::Zstd => 4,
        }
    }

    /// Its name in Blosc's configuration (`cname`).
    pub fn name(self) -> &'static str {
        match self {
            Compressor::Lz4 => "lz4",
            Compressor::Zstd => "zstd",
        }
    }
}

/// The streams a block of `len` bytes (of a frame with blocks of `block` bytes) is stored
/// in: one per byte of the type when the frame allows splitting (no `DONT_SPLIT` flag),
/// the type has at most `MAX_SPLITS` bytes, the block at least `MIN_SPLIT_ELEMENTS`
/// elements and it is not the frame's last, partial block; otherwise one.
fn splits(may_split: bool, type_size: usize, len: usize, block: usize) -> usize {
    if may_split && type_size <= MAX_SPLITS && len / type_size >= MIN_SPLIT_ELEMENTS && len == block
    {
        type_size
    } else {
        1
    }
}

/// c-blosc (zarrs' `blosc` codec) as the reference the tests check frames against.
#[cfg(test)]
mod testing {
    use serde_json::json;
    use std::sync::Arc;
    use zarrs::array::{Array, ArrayBytes, ArrayMetadata, ArrayToBytesCodecTraits, CodecOptions};
    use zarrs::storage::store::MemoryStore;

    /// A 1-D array in memory of `n` `type_size`-byte unsigned integers, one chunk, whose
    /// codecs are `bytes` then c-blosc with these settings (level 5).
    fn array(
        n: usize,
        type_size: usize,
        cname: &str,
        shuffle: &str,
        block: usize,
    ) -> Array<MemoryStore> {
        let metadata: ArrayMetadata = serde_json::from_value(json!({
            "zarr_format": 3,
            "node_type": "array",
            "shape": [n],
            "data_type": format!("uint{}", 8 * type_size),
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [n]}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0,
            "codecs": [
                {"name": "bytes", "configuration": {"endian": "little"}},
                {"name": "blosc", "configuration": {
                    "cname": cname, "clevel": 5, "shuffle": shuffle,
                    "typesize": type_size, "blocksize": block,
                }},
            ],
        }))
        .unwrap();
        Array::new_with_metadata(Arc::new(MemoryStore::new()), "/", metadata).unwrap()
    }

    /// `bytes` encoded by c-blosc as one chunk of `type_size`-byte unsigned integers.
    pub fn c_blosc(
        bytes: &[u8],
        type_size: usize,
        cname: &str,
        shuffle: &str,
        block: usize,
    ) -> Vec<u8> {
        let array = array(bytes.len() / type_size, type_size, cname, shuffle, block);
        let shape = array.chunk_shape(&[0]).unwrap();
        array
            .codecs()
            .encode(
                ArrayBytes::new_flen(bytes),
                &shape,
                array.data_type(),
                array.fill_value(),
                &CodecOptions::default(),
            )
            .unwrap()
            .into_owned()
    }

    /// The frame `encoded` decoded by c-blosc into `len` bytes (a chunk of bytes: c-blosc
    /// takes the type size from the frame).
    pub fn c_blosc_decode(encoded: &[u8], len: usize) -> Vec<u8> {
        let array = array(len, 1, "lz4", "noshuffle", 0);
        let shape = array.chunk_shape(&[0]).unwrap();
        let decoded = array
            .codecs()
            .decode(
                encoded.to_vec().into(),
                &shape,
                array.data_type(),
                array.fill_value(),
                &CodecOptions::default(),
            )
            .unwrap();
        decoded.into_fixed().unwrap().into_owned()
    }
}
