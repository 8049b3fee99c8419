//! Blosc chunks (format version 2, as c-blosc 1.x, numcodecs and zarrs write them) decoded
//! by emio straight into the region's buffer: LZ4 (and LZ4HC: [`emio_core::lz4`]) and Zstd
//! blocks, the byte and bit shuffles undone by [`emio_core::bitplanes`] (GFNI transposes
//! where the processor has them; the c-blosc that zarrs builds has only SSE2 ones). Frames
//! of other compressors (BloscLZ, Snappy, zlib) and versions are left to zarrs.
//!
//! A frame is a 16-byte header (version, compressor version, flags, type size, then
//! little-endian `u32`: decoded bytes, block bytes, frame bytes), then, unless the flags
//! say the data was stored as is, one `i32` offset per block. A block is stored as one
//! stream, or as one stream per byte of the type ("split": the block's bytes are the
//! concatenation of the streams), each prefixed by its `i32` length; a stream as long as
//! its decoded part is stored uncompressed. After decoding, a block is unshuffled: byte
//! shuffle (flag 0x1, type size > 1) or bit shuffle (flag 0x4, the block's whole groups of
//! 8 elements; the bytes after them stay as they are).

use emio_core::bitplanes;

/// Header bytes of a frame.
const HEADER: usize = 16;
/// Flags: byte shuffle, stored as is, bit shuffle, blocks not split, reserved.
const BYTE_SHUFFLE: u8 = 0x1;
const MEMCPYED: u8 = 0x2;
const BIT_SHUFFLE: u8 = 0x4;
const RESERVED: u8 = 0x8;
const DONT_SPLIT: u8 = 0x10;
/// c-blosc splits blocks of at least this many elements, of types up to `MAX_SPLITS`.
const MIN_SPLIT_ELEMENTS: usize = 128;
const MAX_SPLITS: usize = 16;

/// The compressor of a frame's blocks.
#[derive(Clone, Copy)]
enum Compressor {
    Lz4,
    Zstd,
}

/// What [`decode_into`] did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The frame was decoded into the buffer.
    Decoded,
    /// A frame emio does not decode itself (compressor, version): left to zarrs.
    Unsupported,
}

/// Decode the Blosc frame `encoded` into `out`, which it must fill exactly. An error is a
/// description of what the frame should have been.
pub fn decode_into(encoded: &[u8], out: &mut [u8]) -> Result<Outcome, String> {
    let header = encoded.get(..HEADER).ok_or("a Blosc header of 16 bytes")?;
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let (version, flags, type_size) = (header[0], header[2], usize::from(header[3]));
    if version != 2 || flags & RESERVED != 0 {
        return Ok(Outcome::Unsupported);
    }
    let (nbytes, block, frame) = (word(4) as usize, word(8) as usize, word(12) as usize);
    if nbytes != out.len() {
        return Err(format!(
            "a Blosc frame of {} bytes, it declares {nbytes}",
            out.len()
        ));
    }
    let frame = encoded.get(..frame).ok_or_else(|| {
        format!(
            "a Blosc frame of {frame} bytes, {} are stored",
            encoded.len()
        )
    })?;
    if nbytes == 0 {
        return Ok(Outcome::Decoded);
    }
    if type_size == 0 {
        return Err("a Blosc type size of at least 1".into());
    }
    if flags & MEMCPYED != 0 {
        let stored = frame
            .get(HEADER..)
            .filter(|s| s.len() == nbytes)
            .ok_or_else(|| format!("{nbytes} bytes stored as they are after the Blosc header"))?;
        out.copy_from_slice(stored);
        return Ok(Outcome::Decoded);
    }
    let compressor = match flags >> 5 {
        1 => Compressor::Lz4,
        4 => Compressor::Zstd,
        _ => return Ok(Outcome::Unsupported),
    };
    if block == 0 {
        return Err("a Blosc block size of at least 1".into());
    }
    let blocks = nbytes.div_ceil(block);
    if HEADER + 4 * blocks > frame.len() {
        return Err(format!("{blocks} Blosc block offsets inside the frame"));
    }
    let byte_shuffle = flags & BYTE_SHUFFLE != 0 && type_size > 1;
    let bit_shuffle = flags & BIT_SHUFFLE != 0;
    let mut scratch = if byte_shuffle || bit_shuffle {
        vec![0u8; block.min(nbytes)]
    } else {
        Vec::new()
    };
    for (j, dst) in out.chunks_mut(block).enumerate() {
        let at = i32_at(frame, HEADER + 4 * j)?;
        let last_partial = dst.len() < block;
        let splits = if flags & DONT_SPLIT == 0
            && type_size <= MAX_SPLITS
            && dst.len() / type_size >= MIN_SPLIT_ELEMENTS
            && !last_partial
        {
            type_size
        } else {
            1
        };
        let shuffled = byte_shuffle || (bit_shuffle && dst.len() >= type_size);
        let target: &mut [u8] = if shuffled {
            &mut scratch[..dst.len()]
        } else {
            &mut *dst
        };
        decode_block(frame, at, splits, compressor, target)?;
        let len = dst.len();
        if byte_shuffle {
            bitplanes::unshuffle_bytes(&scratch[..len], dst, type_size);
        } else if shuffled {
            let elements = len / type_size;
            let whole = if elements % 8 == 0 {
                elements * type_size
            } else {
                0
            };
            bitplanes::unshuffle(&scratch[..whole], &mut dst[..whole], type_size);
            dst[whole..].copy_from_slice(&scratch[whole..len]);
        }
    }
    Ok(Outcome::Decoded)
}

/// The non-negative `i32` at `at` of `frame`, as an offset into it.
fn i32_at(frame: &[u8], at: usize) -> Result<usize, String> {
    let bytes = frame
        .get(at..at + 4)
        .ok_or_else(|| format!("a Blosc offset or length at byte {at} of the frame"))?;
    usize::try_from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        .map_err(|_| format!("a non-negative Blosc offset or length at byte {at}"))
}

/// Decode the block whose streams start at byte `at` of `frame` into `out` (the block's
/// bytes), in `splits` streams of equal length.
fn decode_block(
    frame: &[u8],
    mut at: usize,
    splits: usize,
    compressor: Compressor,
    out: &mut [u8],
) -> Result<(), String> {
    let part = out.len() / splits;
    if part * splits != out.len() {
        return Err(format!(
            "a Blosc block of {} bytes in {splits} equal streams",
            out.len()
        ));
    }
    for dst in out.chunks_exact_mut(part) {
        let len = i32_at(frame, at)?;
        at += 4;
        let src = frame
            .get(at..at + len)
            .ok_or_else(|| format!("a Blosc stream of {len} bytes at byte {at} of the frame"))?;
        at += len;
        if len == part {
            dst.copy_from_slice(src);
            continue;
        }
        let decoded = match compressor {
            Compressor::Lz4 => emio_core::lz4::decompress_into(src, dst).map_err(|e| e.to_string()),
            Compressor::Zstd => {
                zstd::bulk::decompress_to_buffer(src, dst).map_err(|e| e.to_string())
            }
        }
        .map_err(|e| {
            format!(
                "a valid Blosc stream at byte {} of the frame ({e})",
                at - len
            )
        })?;
        if decoded != part {
            return Err(format!(
                "a Blosc stream decoding to {part} bytes at byte {}, it gives {decoded}",
                at - len
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::Arc;
    use zarrs::array::{Array, ArrayBytes, ArrayMetadata, ArrayToBytesCodecTraits, CodecOptions};
    use zarrs::storage::store::MemoryStore;

    /// `bytes` encoded by c-blosc (zarrs' `blosc` codec) as one chunk of a 1-D array of
    /// `type_size`-byte unsigned integers.
    fn c_blosc(
        bytes: &[u8],
        type_size: usize,
        cname: &str,
        shuffle: &str,
        block: usize,
    ) -> Vec<u8> {
        let n = bytes.len() / type_size;
        let data_type = format!("uint{}", 8 * type_size);
        let metadata: ArrayMetadata = serde_json::from_value(json!({
            "zarr_format": 3,
            "node_type": "array",
            "shape": [n],
            "data_type": data_type,
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
        let array = Array::new_with_metadata(Arc::new(MemoryStore::new()), "/", metadata).unwrap();
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

    proptest! {
        /// Every frame c-blosc writes with LZ4, LZ4HC or Zstd (any shuffle, type size,
        /// block size, compressible or not: split, unsplit, stored and memcpy'ed blocks, a
        /// last partial block) decodes to the bytes it was made of; other compressors are
        /// left alone.
        #[test]
        fn frames_c_blosc_writes_decode_to_their_bytes(
            type_size in prop::sample::select(vec![1usize, 2, 4, 8]),
            n in 1usize..6000,
            cname in prop::sample::select(vec!["lz4", "lz4hc", "zstd", "blosclz"]),
            shuffle in prop::sample::select(vec!["noshuffle", "shuffle", "bitshuffle"]),
            block in prop::sample::select(vec![0usize, 64, 1000, 4096]),
            noise in 0u32..4,
            seed in any::<u64>(),
        ) {
            let mut s = seed | 1;
            let bytes: Vec<u8> = (0..n * type_size).map(|i| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                // `noise` 0: smooth counts; 3: random bytes (stored blocks).
                if (s % 4) < u64::from(noise) { s as u8 } else { (i / 97) as u8 }
            }).collect();
            let encoded = c_blosc(&bytes, type_size, cname, shuffle, block);
            let mut out = vec![0xEEu8; bytes.len()];
            match decode_into(&encoded, &mut out).unwrap() {
                Outcome::Decoded => prop_assert!(out == bytes),
                Outcome::Unsupported => prop_assert_eq!(cname, "blosclz"),
            }
        }

        /// Damaged frames are errors or left to zarrs, never a panic or a short output.
        #[test]
        fn damaged_frames_fail_cleanly(
            at in 0usize..400,
            value in any::<u8>(),
            cut in 0usize..400,
        ) {
            let bytes: Vec<u8> = (0..4000u32).flat_map(|i| ((i / 7) as u16).to_le_bytes()).collect();
            let mut encoded = c_blosc(&bytes, 2, "lz4", "bitshuffle", 1000);
            if at < encoded.len() {
                encoded[at] = value;
            }
            encoded.truncate(encoded.len().saturating_sub(cut));
            let mut out = vec![0u8; bytes.len()];
            let _ = decode_into(&encoded, &mut out);
        }
    }
}
