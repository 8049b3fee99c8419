//! Inverse HDF5 chunk filters emio decodes itself (so chunks can be decoded in parallel
//! straight from a memory map): deflate (1), shuffle (2), fletcher32 (3), LZF (32000),
//! LZ4 (32004) and bitshuffle with or without LZ4 (32008, see [`crate::bitshuffle`]).
//! Every output size is fixed by the caller, so corrupt input cannot make them allocate
//! more than one chunk.

use emio_core::{Error, Result};

/// HDF5 filter id of deflate (zlib).
pub const DEFLATE: u16 = 1;
/// HDF5 filter id of the byte shuffle.
pub const SHUFFLE: u16 = 2;
/// HDF5 filter id of the Fletcher-32 checksum.
pub const FLETCHER32: u16 = 3;
/// Filter id of LZF (h5py's registered filter).
pub const LZF: u16 = 32000;

/// Filter id of the HDF5 LZ4 filter.
pub const LZ4: u16 = 32004;
/// Filter id of bitshuffle (DECTRIS' EIGER/ARINA data, usually with LZ4 inside).
pub const BITSHUFFLE: u16 = 32008;

/// Whether emio decodes filter `id` itself.
pub fn is_supported(id: u16) -> bool {
    matches!(id, DEFLATE | SHUFFLE | FLETCHER32 | LZF | LZ4 | BITSHUFFLE)
}

fn corrupt(what: impl Into<String>) -> Error {
    Error::malformed_at_unknown("hdf5", what.into())
}

/// Inflate a zlib stream into exactly `expected` bytes. Decoding stops one byte past
/// `expected`: a stream that decodes to more (a decompression bomb) is an error, never
/// decoded to its end.
pub fn inflate(input: &[u8], expected: usize) -> Result<Vec<u8>> {
    let mut out = vec![0u8; expected];
    inflate_into(input, &mut out)?;
    Ok(out)
}

/// Inflate a zlib stream into `out`, which it must fill exactly. The whole chunk is
/// decoded at once by [`emio_core::inflate`] (faster than the streaming decoder), which
/// stops where `out` ends: a stream that decodes to more (a decompression bomb) is an
/// error, never decoded to its end. A stream it refuses goes through the streaming
/// decoder, which names what is wrong with it.
pub fn inflate_into(input: &[u8], out: &mut [u8]) -> Result<()> {
    use emio_core::inflate::{zlib_decompress, InflateError};
    match zlib_decompress(input, out) {
        Ok(n) if n == out.len() => Ok(()),
        Ok(n) => Err(corrupt(format!(
            "{} bytes from a deflated chunk, got {n}",
            out.len()
        ))),
        Err(InflateError::InsufficientSpace) => Err(corrupt(format!(
            "{} bytes from a deflated chunk, it decodes to more",
            out.len()
        ))),
        Err(InflateError::BadData) => inflate_streaming(input, out),
    }
}

/// [`inflate_into`] by the streaming decoder. Once `out` is full, decoding goes on into a
/// single spare byte: a stream that decodes to more is an error after that byte.
fn inflate_streaming(input: &[u8], out: &mut [u8]) -> Result<()> {
    let expected = out.len();
    let mut spare = [0u8; 1];
    let mut z = flate2::Decompress::new(true);
    loop {
        let before_in = z.total_in() as usize;
        let before_out = z.total_out() as usize;
        let target: &mut [u8] = if before_out < expected {
            &mut out[before_out..]
        } else {
            &mut spare
        };
        let status = z
            .decompress(&input[before_in..], target, flate2::FlushDecompress::Finish)
            .map_err(|e| Error::codec("hdf5", None, "a valid deflate stream in a chunk", e))?;
        let done = z.total_out() as usize;
        match status {
            _ if done > expected => {
                return Err(corrupt(format!(
                    "{expected} bytes from a deflated chunk, it decodes to more"
                )));
            }
            flate2::Status::StreamEnd => break,
            _ if z.total_in() as usize == before_in && done == before_out => {
                return Err(corrupt("a complete deflate stream in a chunk"));
            }
            _ => {}
        }
    }
    if (z.total_out() as usize) != expected {
        return Err(corrupt(format!(
            "{expected} bytes from a deflated chunk, got {}",
            z.total_out()
        )));
    }
    Ok(())
}

/// Deflate `input` (zlib framing) at `level` ([`emio_core::deflate::zlib_compress`]).
pub fn deflate(input: &[u8], level: u32) -> Vec<u8> {
    emio_core::deflate::zlib_compress(input, level)
}

/// Undo HDF5's byte shuffle of elements of `elem_size` bytes: byte `b` of element `i` is
/// `input[b * n + i]`, `n` elements; bytes after the last whole element are kept as they
/// are ([`emio_core::bitplanes::unshuffle_bytes`]).
pub fn unshuffle(input: &[u8], elem_size: usize) -> Vec<u8> {
    let mut out = vec![0u8; input.len()];
    emio_core::bitplanes::unshuffle_bytes(input, &mut out, elem_size);
    out
}

/// Apply HDF5's byte shuffle (the inverse of [`unshuffle`];
/// [`emio_core::bitplanes::shuffle_bytes`]).
pub fn shuffle(input: &[u8], elem_size: usize) -> Vec<u8> {
    let mut out = vec![0u8; input.len()];
    emio_core::bitplanes::shuffle_bytes(input, &mut out, elem_size);
    out
}

/// Decode an LZF block into exactly `expected` bytes.
pub fn lzf_decompress(input: &[u8], expected: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(expected);
    let mut i = 0;
    let bad = || corrupt("a valid LZF block in a chunk");
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            let lit = input.get(i..i + len).ok_or_else(bad)?;
            if out.len() + len > expected {
                return Err(bad());
            }
            out.extend_from_slice(lit);
            i += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or_else(bad)? as usize;
                i += 1;
            }
            len += 2;
            let low = *input.get(i).ok_or_else(bad)? as usize;
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            if back > out.len() || out.len() + len > expected {
                return Err(bad());
            }
            let start = out.len() - back;
            for k in 0..len {
                let v = out[start + k];
                out.push(v);
            }
        }
    }
    if out.len() != expected {
        return Err(bad());
    }
    Ok(out)
}

/// Decode a chunk of the HDF5 LZ4 filter into exactly `expected` bytes: a big-endian
/// `u64` total size and `u32` block size, then per block a big-endian `u32` stored size
/// and the block (stored raw when that size equals the block's).
pub fn lz4_decompress(input: &[u8], expected: usize) -> Result<Vec<u8>> {
    let be = |pos: usize, n: usize, what: &str| -> Result<u64> {
        let b = input.get(pos..pos + n).ok_or_else(|| {
            corrupt(format!(
                "{what} at byte {pos} of an LZ4 chunk (the chunk ends)"
            ))
        })?;
        Ok(b.iter().fold(0u64, |a, &v| (a << 8) | u64::from(v)))
    };
    let total = be(0, 8, "the total size")?;
    if total != expected as u64 {
        return Err(corrupt(format!(
            "an LZ4 chunk of {expected} bytes, its header says {total} (byte 0)"
        )));
    }
    let block = be(8, 4, "the block size")? as usize;
    if block == 0 && expected > 0 {
        return Err(corrupt("a non-zero LZ4 block size at byte 8 of the chunk"));
    }
    let mut out = vec![0u8; expected];
    let (mut pos, mut done) = (12usize, 0usize);
    while done < expected {
        let len = block.min(expected - done);
        let stored = be(pos, 4, "a block's stored size")? as usize;
        let src = input.get(pos + 4..pos + 4 + stored).ok_or_else(|| {
            corrupt(format!(
                "an LZ4 block of {stored} bytes at byte {pos} of the chunk"
            ))
        })?;
        let dst = &mut out[done..done + len];
        if stored == len {
            dst.copy_from_slice(src);
        } else {
            let got = emio_core::lz4::decompress_into(src, dst).map_err(|e| {
                let what = format!("a valid LZ4 block at byte {} of the chunk", pos + 4);
                Error::codec("hdf5", None, what, e)
            })?;
            if got != len {
                return Err(corrupt(format!(
                    "an LZ4 block of {len} bytes at byte {} of the chunk, got {got}",
                    pos + 4
                )));
            }
        }
        pos += 4 + stored;
        done += len;
    }
    Ok(out)
}

/// Encode `input` as the HDF5 LZ4 filter stores a chunk (blocks of `block` bytes).
pub fn lz4_compress(input: &[u8], block: usize) -> Vec<u8> {
    let block = block.max(1);
    let mut out = Vec::with_capacity(input.len() + 64);
    out.extend_from_slice(&(input.len() as u64).to_be_bytes());
    out.extend_from_slice(&(block as u32).to_be_bytes());
    for part in input.chunks(block) {
        let c = lz4_flex::block::compress(part);
        let body = if c.len() < part.len() { &c[..] } else { part };
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// liblzf's longest back-reference (2 + 7 + 255 bytes) and farthest distance (8 KiB).
const LZF_MAX_MATCH: usize = 264;
const LZF_MAX_DISTANCE: usize = 1 << 13;

/// Compress `input` into an LZF block (the format [`lzf_decompress`] reads, liblzf's), or
/// `None` when the block would not be smaller than the input: h5py's LZF filter then fails
/// and, being optional, leaves the chunk stored as it is (its bit set in the chunk's
/// filter mask).
pub fn lzf_compress(input: &[u8]) -> Option<Vec<u8>> {
    const HASH_BITS: u32 = 14;
    let mut table = vec![usize::MAX; 1 << HASH_BITS];
    let hash = |i: usize| {
        let v = u32::from(input[i]) << 16 | u32::from(input[i + 1]) << 8 | u32::from(input[i + 2]);
        (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
    };
    let mut out = Vec::with_capacity(input.len());
    let mut literal_start = 0;
    let flush = |out: &mut Vec<u8>, literals: &[u8]| {
        for run in literals.chunks(32) {
            out.push((run.len() - 1) as u8);
            out.extend_from_slice(run);
        }
    };
    let mut i = 0;
    while i + 2 < input.len() {
        let h = hash(i);
        let candidate = std::mem::replace(&mut table[h], i);
        let found = candidate != usize::MAX
            && i - candidate <= LZF_MAX_DISTANCE
            && input[candidate..candidate + 3] == input[i..i + 3];
        if !found {
            i += 1;
            continue;
        }
        let limit = LZF_MAX_MATCH.min(input.len() - i);
        let mut len = 3;
        while len < limit && input[candidate + len] == input[i + len] {
            len += 1;
        }
        flush(&mut out, &input[literal_start..i]);
        let offset = i - candidate - 1;
        let code = len - 2;
        if code < 7 {
            out.push(((code << 5) | (offset >> 8)) as u8);
        } else {
            out.push(((7 << 5) | (offset >> 8)) as u8);
            out.push((code - 7) as u8);
        }
        out.push((offset & 0xff) as u8);
        i += len;
        literal_start = i;
        if out.len() >= input.len() {
            return None;
        }
    }
    flush(&mut out, &input[literal_start..]);
    (out.len() < input.len()).then_some(out)
}

/// One filter of a pipeline: id and client data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterStep {
    /// HDF5 filter id.
    pub id: u16,
    /// Client data values.
    pub client_data: Vec<u32>,
}

/// Undo `pipeline` (in write order) on one stored chunk, skipping filters whose bit is set
/// in `mask`, into `out`, which the decoded chunk must fill exactly. The last step
/// (usually deflate, or the shuffle after it) writes straight into `out`.
pub fn decode_chunk_into(
    pipeline: &[FilterStep],
    mask: u32,
    stored: &[u8],
    out: &mut [u8],
    elem_size: usize,
) -> Result<()> {
    decode_chunk_into_runs(pipeline, mask, stored, &mut [out], elem_size)
}

/// [`decode_chunk_into`] with the decoded chunk cut into `runs`, consecutive pieces of
/// whole elements that lie apart in a region's buffer. A last byte unshuffle writes
/// piece by piece; other last steps write straight into a single run, or decode whole
/// and are copied into several (a decompressor is fastest with all its output at once).
pub fn decode_chunk_into_runs(
    pipeline: &[FilterStep],
    mask: u32,
    stored: &[u8],
    runs: &mut [&mut [u8]],
    elem_size: usize,
) -> Result<()> {
    let chunk_bytes = runs.iter().map(|r| r.len()).sum();
    let steps: Vec<&FilterStep> = pipeline
        .iter()
        .enumerate()
        .rev()
        .filter(|(i, _)| *i >= 32 || mask & (1 << i) == 0)
        .map(|(_, step)| step)
        .collect();
    let in_runs = whole_elements(runs, elem_size);
    let mut data: Option<Vec<u8>> = None;
    for (k, step) in steps.iter().enumerate() {
        let cur: &[u8] = data.as_deref().unwrap_or(stored);
        let last = k + 1 == steps.len();
        let next = match (step.id, &mut *runs) {
            (DEFLATE, [out]) if last => return inflate_into(cur, out),
            (DEFLATE, _) => inflate(cur, chunk_bytes)?,
            (SHUFFLE, runs) if last && cur.len() == chunk_bytes && in_runs => {
                unshuffle_into_runs(cur, runs, elem_size);
                return Ok(());
            }
            (SHUFFLE, _) => unshuffle(cur, elem_size),
            (FLETCHER32, _) => {
                if cur.len() < 4 {
                    return Err(corrupt("a Fletcher-32 checksum after the chunk"));
                }
                cur[..cur.len() - 4].to_vec()
            }
            (LZF, _) => lzf_decompress(cur, chunk_bytes)?,
            (LZ4, _) => lz4_decompress(cur, chunk_bytes)?,
            (BITSHUFFLE, [out]) if last => {
                return crate::bitshuffle::decode_into(cur, &step.client_data, out, elem_size)
            }
            (BITSHUFFLE, _) => {
                crate::bitshuffle::decode(cur, &step.client_data, chunk_bytes, elem_size)?
            }
            (other, _) => {
                return Err(Error::unsupported(
                    "hdf5",
                    format!("decoding HDF5 filter {other}"),
                ))
            }
        };
        data = Some(next);
    }
    let data: &[u8] = data.as_deref().unwrap_or(stored);
    if data.len() != chunk_bytes {
        return Err(corrupt(format!(
            "a decoded chunk of {chunk_bytes} bytes, got {}",
            data.len()
        )));
    }
    emio_core::source::copy_into_runs(data, runs);
    Ok(())
}

/// Whether every run holds whole elements of `elem_size` bytes.
fn whole_elements(runs: &[&mut [u8]], elem_size: usize) -> bool {
    runs.iter()
        .all(|r| r.len().is_multiple_of(elem_size.max(1)))
}

/// Undo HDF5's byte shuffle of whole elements of `elem_size` bytes from `input` into
/// `runs`, consecutive pieces of the unshuffled bytes (each a whole number of elements).
fn unshuffle_into_runs(input: &[u8], runs: &mut [&mut [u8]], elem_size: usize) {
    let es = elem_size.max(1);
    let n = input.len() / es;
    let mut first = 0;
    for run in runs.iter_mut() {
        emio_core::bitplanes::unshuffle_elements(input, n, first, run, es);
        first += run.len() / es;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_round_trips() {
        // Element sizes with and without a dedicated path, partial blocks and a tail of
        // bytes after the last whole element.
        for es in [1usize, 2, 3, 4, 8, 16] {
            for len in [
                0usize,
                1,
                23,
                16 * es,
                16 * es + 3,
                64 * es,
                64 * es + 5,
                1000,
                4099,
            ] {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 13) as u8).collect();
                assert_eq!(unshuffle(&shuffle(&data, es), es), data, "{es} {len}");
            }
        }
    }

    #[test]
    fn deflate_round_trips_and_rejects_garbage() {
        let data: Vec<u8> = (0..1000u32).flat_map(|v| v.to_le_bytes()).collect();
        let z = deflate(&data, 4);
        assert_eq!(inflate(&z, data.len()).unwrap(), data);
        assert!(inflate(&z[..z.len() / 2], data.len()).is_err());
        assert!(inflate(b"garbage", 10).is_err());
        // One byte short of the stream, or one too many: both refused.
        assert!(inflate(&z, data.len() - 1).is_err());
        assert!(inflate(&z, data.len() + 1).is_err());
        assert!(lzf_decompress(&[0xff, 0xff], 10).is_err());
    }

    #[test]
    fn lz4_round_trips_and_names_offsets() {
        let data: Vec<u8> = (0..5000u32).map(|v| (v % 13) as u8).collect();
        let z = lz4_compress(&data, 1024);
        assert_eq!(lz4_decompress(&z, data.len()).unwrap(), data);
        let err = lz4_decompress(&z[..z.len() - 3], data.len()).unwrap_err();
        assert!(err.to_string().contains("at byte"), "{err}");
        assert!(lz4_decompress(&z, data.len() + 1).is_err());
    }

    #[test]
    fn lzf_round_trips_and_refuses_to_grow() {
        let mut data: Vec<u8> = (0..5000u32).flat_map(|v| (v % 300).to_le_bytes()).collect();
        data.extend(std::iter::repeat_n(7u8, 1000));
        let block = lzf_compress(&data).expect("repetitive data compresses");
        assert!(block.len() < data.len());
        assert_eq!(lzf_decompress(&block, data.len()).unwrap(), data);
        let noise: Vec<u8> = (0..64u32)
            .map(|v| (v.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(lzf_compress(&noise), None);
        assert_eq!(lzf_compress(&[]), None);
    }

    #[test]
    fn lzf_decodes_literals_and_backrefs() {
        // literal "abc" then back-reference of length 3 at distance 3 -> "abcabc"
        let block = [2, b'a', b'b', b'c', (1 << 5), 2];
        assert_eq!(lzf_decompress(&block, 6).unwrap(), b"abcabc");
    }
}
