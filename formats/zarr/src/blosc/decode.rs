//! Blosc frames (format version 2, as c-blosc 1.x, numcodecs and zarrs write them) decoded
//! by emio straight into the region's buffer: LZ4 (and LZ4HC: [`emio_core::lz4`]) and Zstd
//! blocks, the byte and bit shuffles undone by [`emio_core::bitplanes`] (GFNI transposes
//! where the processor has them; the c-blosc that zarrs builds has only SSE2 ones). Frames
//! of other compressors (BloscLZ, Snappy, zlib) and versions are left to zarrs.

use super::{
    splits, Compressor, BIT_SHUFFLE, BYTE_SHUFFLE, DONT_SPLIT, HEADER, MEMCPYED, RESERVED,
};
use emio_core::bitplanes;

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
    let Some(compressor) = Compressor::from_code(flags >> 5) else {
        return Ok(Outcome::Unsupported);
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
        let splits = splits(flags & DONT_SPLIT == 0, type_size, dst.len(), block);
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
                emio_core::zstd::decompress_into(src, dst).map_err(|e| e.to_string())
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
    use super::super::testing::c_blosc;
    use super::*;
    use proptest::prelude::*;

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
