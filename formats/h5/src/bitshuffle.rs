//! The bitshuffle transform (HDF5 filter 32008, as DECTRIS EIGER/ARINA detectors write it)
//! and its chunk framing, decoded in pure Rust.
//!
//! Bitshuffle cuts a chunk into blocks of `block` elements (a multiple of 8) and stores
//! each block bit-plane by bit-plane: for every byte `b` of an element and every bit `k` of
//! that byte (least significant first), one row of `block` bits, bit `i` of the row being
//! bit `k` of byte `b` of element `i` (rows packed least significant bit first). The last
//! `n % block` elements form a shorter block rounded down to a multiple of 8; the final
//! `n % 8` elements are stored as they are. With LZ4 (client data `[.., .., elem, block,
//! 2]`) a 12-byte header (big-endian total bytes and block bytes) precedes the blocks, each
//! stored as a big-endian `u32` compressed size and an LZ4 block.
//!
//! Decoding undoes the transpose with [`emio_core::bitplanes::unshuffle`], encoding (for
//! tests and writers) makes it with [`emio_core::bitplanes::shuffle`] (SSE2 or GFNI, 16
//! positions of every bit row at once). Every size is checked against the chunk size the
//! caller declares, so corrupt input cannot make it allocate more than one chunk.

use emio_core::bitplanes::{shuffle, unshuffle};
use emio_core::{Error, Result};

/// The bitshuffle library's default block: 8 KiB of elements, a multiple of 8, at least 128.
pub fn default_block(elem_size: usize) -> usize {
    ((8192 / elem_size.max(1)) / 8 * 8).max(128)
}

/// Element counts of the blocks a chunk of `n` elements is cut into (then `n % 8` raw).
fn blocks(n: usize, block: usize) -> impl Iterator<Item = usize> {
    let full = n / block;
    let last = n % block / 8 * 8;
    std::iter::repeat_n(block, full).chain((last > 0).then_some(last))
}

fn corrupt(what: String) -> Error {
    Error::malformed_at_unknown("bitshuffle", what)
}

/// Where decoding failed: a byte offset in the stored chunk and what was expected there.
fn at(offset: usize, what: &str) -> Error {
    corrupt(format!("{what} at byte {offset} of the stored chunk"))
}

/// Read a big-endian integer of `N` bytes at `pos`.
fn be<const N: usize>(input: &[u8], pos: usize, what: &str) -> Result<u64> {
    let bytes = input
        .get(pos..pos + N)
        .ok_or_else(|| at(pos, &format!("{what} ({N} bytes; the chunk ends)")))?;
    Ok(bytes.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
}

/// Decode one stored chunk of the bitshuffle filter into exactly `chunk_bytes` bytes.
/// `client_data` is the filter's (`[major, minor, elem_size, block, compression]`);
/// `elem_size` is the dataset's element size, used when the client data omit it.
pub fn decode(
    stored: &[u8],
    client_data: &[u32],
    chunk_bytes: usize,
    elem_size: usize,
) -> Result<Vec<u8>> {
    let mut out = vec![0u8; chunk_bytes];
    decode_into(stored, client_data, &mut out, elem_size)?;
    Ok(out)
}

/// [`decode`] straight into `out`, which the decoded chunk fills exactly.
pub fn decode_into(
    stored: &[u8],
    client_data: &[u32],
    out: &mut [u8],
    elem_size: usize,
) -> Result<()> {
    let chunk_bytes = out.len();
    let es = client_data.get(2).map_or(elem_size, |&v| v as usize);
    if es == 0 || !chunk_bytes.is_multiple_of(es) {
        return Err(corrupt(format!(
            "an element size dividing the {chunk_bytes}-byte chunk, got {es}"
        )));
    }
    let n = chunk_bytes / es;
    let compression = client_data.get(4).copied().unwrap_or(0);
    let mut pos;
    let block;
    match compression {
        0 => {
            block = match client_data.get(3).copied().unwrap_or(0) {
                0 => default_block(es),
                b => b as usize,
            };
            pos = 0;
        }
        2 => {
            let total = be::<8>(stored, 0, "the uncompressed size")?;
            if total != chunk_bytes as u64 {
                return Err(at(
                    0,
                    &format!("an uncompressed size of {chunk_bytes} bytes, got {total}"),
                ));
            }
            let bytes = be::<4>(stored, 8, "the block size")? as usize;
            block = bytes / es;
            pos = 12;
        }
        other => {
            return Err(Error::unsupported(
                "bitshuffle",
                format!("compression {other} inside the bitshuffle filter"),
            ))
        }
    }
    if block == 0 || block % 8 != 0 {
        return Err(corrupt(format!(
            "a block of a positive multiple of 8 elements, got {block}"
        )));
    }
    let mut scratch = vec![0u8; block.min(n.max(8)) * es];
    let mut done = 0usize;
    for len in blocks(n, block) {
        let bytes = len * es;
        let dst = &mut out[done..done + bytes];
        if compression == 2 {
            let csize = be::<4>(stored, pos, "the compressed size of a block")? as usize;
            let src = stored
                .get(pos + 4..pos + 4 + csize)
                .ok_or_else(|| at(pos, &format!("an LZ4 block of {csize} bytes")))?;
            let got = emio_core::lz4::decompress_into(src, &mut scratch[..bytes]).map_err(|e| {
                let what = format!("a valid LZ4 block at byte {} of the stored chunk", pos + 4);
                Error::codec("bitshuffle", None, what, e)
            })?;
            if got != bytes {
                return Err(at(
                    pos + 4,
                    &format!("an LZ4 block of {bytes} bytes, got {got}"),
                ));
            }
            unshuffle(&scratch[..bytes], dst, es);
            pos += 4 + csize;
        } else {
            let src = stored
                .get(pos..pos + bytes)
                .ok_or_else(|| at(pos, &format!("a block of {bytes} bytes")))?;
            unshuffle(src, dst, es);
            pos += bytes;
        }
        done += bytes;
    }
    let rest = chunk_bytes - done;
    let src = stored
        .get(pos..pos + rest)
        .ok_or_else(|| at(pos, &format!("{rest} trailing bytes")))?;
    out[done..].copy_from_slice(src);
    Ok(())
}

/// Encode `data` (elements of `es` bytes) as the bitshuffle filter stores a chunk, with
/// LZ4 when `lz4` (blocks of `block` elements, 0 for the default). The encoder of tests,
/// fuzz seeds and benchmarks.
pub fn encode(data: &[u8], es: usize, block: usize, lz4: bool) -> Vec<u8> {
    let block = if block == 0 { default_block(es) } else { block };
    let n = data.len() / es;
    let mut out = Vec::with_capacity(data.len() + 64);
    if lz4 {
        out.extend_from_slice(&(data.len() as u64).to_be_bytes());
        out.extend_from_slice(&((block * es) as u32).to_be_bytes());
    }
    let mut done = 0;
    let mut tmp = vec![0u8; block * es];
    for len in blocks(n, block) {
        let bytes = len * es;
        shuffle(&data[done..done + bytes], &mut tmp[..bytes], es);
        if lz4 {
            let c = lz4_flex::block::compress(&tmp[..bytes]);
            out.extend_from_slice(&(c.len() as u32).to_be_bytes());
            out.extend_from_slice(&c);
        } else {
            out.extend_from_slice(&tmp[..bytes]);
        }
        done += bytes;
    }
    out.extend_from_slice(&data[done..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, bit by bit.
    fn naive_shuffle(input: &[u8], es: usize) -> Vec<u8> {
        let n = input.len() / es;
        let mut out = vec![0u8; input.len()];
        for b in 0..es {
            for k in 0..8 {
                for i in 0..n {
                    let bit = (input[i * es + b] >> k) & 1;
                    let pos = (b * 8 + k) * n + i;
                    out[pos / 8] |= bit << (pos % 8);
                }
            }
        }
        out
    }

    /// `emio_core::bitplanes::shuffle` is the filter's transpose, at the element sizes
    /// detectors write.
    #[test]
    fn transpose_matches_the_bit_definition() {
        for es in [1, 2, 4] {
            let data: Vec<u8> = (0..1024u32 * es as u32)
                .map(|i| (i * 37 + 11) as u8)
                .collect();
            let mut out = vec![0u8; data.len()];
            shuffle(&data, &mut out, es);
            assert_eq!(out, naive_shuffle(&data, es), "{es}-byte elements");
        }
    }

    #[test]
    fn corrupt_chunks_name_the_byte_offset() {
        let data: Vec<u8> = (0..4096u32).flat_map(|v| v.to_le_bytes()).collect();
        let enc = encode(&data, 4, 0, true);
        let err = decode(&enc[..enc.len() / 2], &[0, 3, 4, 0, 2], data.len(), 4).unwrap_err();
        assert!(err.to_string().contains("at byte"), "{err}");
        let err = decode(&enc, &[0, 3, 4, 0, 2], data.len() * 2, 4).unwrap_err();
        assert!(err.to_string().contains("uncompressed size"), "{err}");
    }

    proptest! {
        #[test]
        fn round_trips(
            es in prop::sample::select(vec![1usize, 2, 4, 8]),
            n in 0usize..3000,
            block in prop::sample::select(vec![0usize, 8, 64, 256]),
            lz4 in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut s = seed | 1;
            let data: Vec<u8> = (0..n * es).map(|_| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                (s % 7) as u8
            }).collect();
            let enc = encode(&data, es, block, lz4);
            let cd = [0, 3, es as u32, (block * es) as u32 / es as u32, if lz4 { 2 } else { 0 }];
            prop_assert_eq!(decode(&enc, &cd, data.len(), es).unwrap(), data);
        }
    }
}
