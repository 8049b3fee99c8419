//! LZ4 block decoding (the format inside HDF5's LZ4 filter 32004, DECTRIS' bitshuffle
//! filter 32008 and Blosc frames), written for detector data: bit planes of sparse frames
//! are mostly long runs of one byte, which LZ4 stores as matches at distance 1 (or a short
//! distance). Such matches are filled (`fill`) or replicated by doubling copies instead of byte by
//! byte; matches at a distance of at least their length are one `copy_within`.
//!
//! A block is a sequence of (token, literals, match): the token's high nibble is the
//! literal length and its low nibble the match length minus 4, each extended by bytes of
//! 255 while saturated; the match is a 2-byte little-endian distance back into the
//! output. The last sequence has literals only. Every length and distance is checked
//! against the input and output before use: corrupt input is an error, never a panic.

use std::fmt;

/// Why a block does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lz4Error {
    /// The input ends inside a sequence (byte offset into the block).
    Truncated(usize),
    /// A match at distance 0 or before the start of the output (byte offset of the
    /// distance field, the distance).
    BadDistance(usize, usize),
    /// The block decodes to more than the output holds (the output's length).
    TooLong(usize),
}

impl fmt::Display for Lz4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lz4Error::Truncated(at) => {
                write!(f, "the LZ4 block ends inside a sequence at byte {at}")
            }
            Lz4Error::BadDistance(at, d) => write!(
                f,
                "the match at byte {at} reaches back {d} bytes, outside the decoded data"
            ),
            Lz4Error::TooLong(n) => write!(f, "the LZ4 block decodes to more than {n} bytes"),
        }
    }
}

impl std::error::Error for Lz4Error {}

/// Decode the LZ4 block `src` into the start of `dst`; returns how many bytes it decoded.
/// Bytes of `dst` past those may be overwritten.
pub fn decompress_into(src: &[u8], dst: &mut [u8]) -> Result<usize, Lz4Error> {
    let (mut i, mut o) = (0usize, 0usize);
    loop {
        let token = *src.get(i).ok_or(Lz4Error::Truncated(i))?;
        i += 1;
        let literals = length(src, &mut i, usize::from(token >> 4))?;
        let end = i.checked_add(literals).ok_or(Lz4Error::Truncated(i))?;
        let from = src.get(i..end).ok_or(Lz4Error::Truncated(i))?;
        let to = o
            .checked_add(literals)
            .filter(|&e| e <= dst.len())
            .ok_or(Lz4Error::TooLong(dst.len()))?;
        if literals <= SHORT && i + SHORT <= src.len() && o + SHORT <= dst.len() {
            // One fixed-size move instead of a call; the bytes past `to` are written
            // again by what follows.
            dst[o..o + SHORT].copy_from_slice(&src[i..i + SHORT]);
        } else {
            dst[o..to].copy_from_slice(from);
        }
        (i, o) = (end, to);
        if i == src.len() {
            return Ok(o);
        }
        let distance_at = i;
        let bytes = src.get(i..i + 2).ok_or(Lz4Error::Truncated(i))?;
        let distance = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
        i += 2;
        if distance == 0 || distance > o {
            return Err(Lz4Error::BadDistance(distance_at, distance));
        }
        let len = length(src, &mut i, usize::from(token & 15))? + 4;
        let to = o
            .checked_add(len)
            .filter(|&e| e <= dst.len())
            .ok_or(Lz4Error::TooLong(dst.len()))?;
        repeat(dst, o - distance, o, to);
        o = to;
    }
}

/// A length whose nibble is `nibble`: 15 means more bytes follow, each added, until one
/// below 255.
#[inline(always)]
fn length(src: &[u8], i: &mut usize, nibble: usize) -> Result<usize, Lz4Error> {
    let mut n = nibble;
    if nibble == 15 {
        loop {
            let b = *src.get(*i).ok_or(Lz4Error::Truncated(*i))?;
            *i += 1;
            n = n
                .checked_add(usize::from(b))
                .ok_or(Lz4Error::Truncated(*i))?;
            if b != 255 {
                break;
            }
        }
    }
    Ok(n)
}

/// Sequences this short (literals, matches) are copied by fixed-size moves when the
/// buffers have room past them.
const SHORT: usize = 16;

/// Write `dst[start..end]` as the continuation of the bytes from `source` on (a match
/// `start − source` bytes back, which may overlap what it writes). Bytes past `end` may be
/// written too (at most [`SHORT`] past `start`, within `dst`).
#[inline(always)]
fn repeat(dst: &mut [u8], source: usize, start: usize, end: usize) {
    let distance = start - source;
    if end - start <= SHORT && distance >= SHORT / 2 && start + SHORT <= dst.len() {
        // Two 8-byte moves: the second reads only bytes the first has already written
        // (or earlier ones) as the distance is at least 8.
        for k in [0, SHORT / 2] {
            let part: [u8; SHORT / 2] = dst[source + k..source + k + SHORT / 2]
                .try_into()
                .expect("8 bytes");
            dst[start + k..start + k + SHORT / 2].copy_from_slice(&part);
        }
    } else if distance >= end - start {
        dst.copy_within(source..source + (end - start), start);
    } else if distance == 1 {
        let b = dst[source];
        dst[start..end].fill(b);
    } else {
        // The period is `distance` bytes: copy it once, then the ever longer repeated
        // prefix (always a whole number of periods) after itself.
        let mut done = start;
        let mut period = distance;
        dst.copy_within(source..start, done);
        done += distance;
        while done < end {
            let n = period.min(end - done);
            dst.copy_within(start - distance..start - distance + n, done);
            done += n;
            period *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes with long runs and repeated patterns, as bit planes of detector frames.
    fn detector_like() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                (any::<u8>(), 1..3000usize).prop_map(|(b, n)| vec![b; n]),
                proptest::collection::vec(any::<u8>(), 1..40)
                    .prop_flat_map(|p| { (Just(p), 1..60usize).prop_map(|(p, k)| p.repeat(k)) }),
                proptest::collection::vec(any::<u8>(), 0..200),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// What lz4_flex compresses decodes to the original bytes.
        #[test]
        fn round_trips_lz4_flex(data in detector_like()) {
            let packed = lz4_flex::block::compress(&data);
            let mut out = vec![0u8; data.len()];
            prop_assert_eq!(decompress_into(&packed, &mut out), Ok(data.len()));
            prop_assert_eq!(out, data);
        }

        /// On any bytes, decoding agrees with lz4_flex: the same output, or both refuse.
        #[test]
        fn agrees_with_lz4_flex_on_any_input(
            src in proptest::collection::vec(any::<u8>(), 0..300),
            size in 0..2000usize,
        ) {
            let (mut ours, mut theirs) = (vec![0u8; size], vec![0u8; size]);
            let a = decompress_into(&src, &mut ours);
            let b = lz4_flex::block::decompress_into(&src, &mut theirs);
            match (a, b) {
                (Ok(n), Ok(m)) => {
                    prop_assert_eq!(n, m);
                    prop_assert_eq!(&ours[..n], &theirs[..m]);
                }
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "emio {a:?}, lz4_flex {b:?}"),
            }
        }
    }

    #[test]
    fn corrupt_blocks_are_errors_that_say_where() {
        let mut out = [0u8; 16];
        // A literal length of 5 with only 2 literals present.
        assert_eq!(
            decompress_into(&[0x50, 1, 2], &mut out),
            Err(Lz4Error::Truncated(1))
        );
        // One literal, then a match 2 bytes back when 1 byte is decoded.
        assert_eq!(
            decompress_into(&[0x10, 7, 2, 0], &mut out),
            Err(Lz4Error::BadDistance(2, 2))
        );
        // Thirty literals into 16 bytes.
        let mut long = vec![0xf0, 15];
        long.extend([1u8; 30]);
        assert_eq!(decompress_into(&long, &mut out), Err(Lz4Error::TooLong(16)));
    }
}
