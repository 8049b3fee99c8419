//! gzip files (RFC 1952): members, each a header, a raw Deflate stream and a trailer with
//! the member's CRC-32 and length, decoded one after another by emio's inflater into one
//! buffer of known size (an `.mrc.gz` file, whose MRC header gives the size of what
//! follows it).

use super::{inflate_raw, InflateError, Result};

/// Header flag: a CRC-16 of the header follows the optional fields.
const FHCRC: u8 = 0x02;
/// Header flag: an extra field (two length bytes, then that many bytes).
const FEXTRA: u8 = 0x04;
/// Header flag: a file name, ended by a zero byte.
const FNAME: u8 = 0x08;
/// Header flag: a comment, ended by a zero byte.
const FCOMMENT: u8 = 0x10;
/// Flags RFC 1952 reserves: a member with any of them set is refused.
const RESERVED: u8 = 0xe0;

/// Decode the gzip members of `input`, one after another, into `out` until it is full or
/// the members end: the bytes written, or `None` when `go_on`, asked between Deflate
/// blocks with the bytes written so far, said to stop. Every member decoded is checked
/// against its trailer (CRC-32 and length); input after the member that fills `out` is not
/// looked at. [`InflateError::BadData`] for anything else than valid members (a header,
/// Deflate stream or trailer that is damaged or cut short, bytes after a member that do
/// not start another), [`InflateError::InsufficientSpace`] when the member that fills
/// `out` decodes to more.
pub fn gzip_decompress(
    input: &[u8],
    out: &mut [u8],
    go_on: &mut dyn FnMut(usize) -> bool,
) -> Result<Option<usize>> {
    let (mut at, mut written) = (0, 0);
    loop {
        let start = at + header_len(&input[at..])?;
        let base = written;
        let decoded = inflate_raw(&input[start..], &mut out[base..], &mut |n| go_on(base + n))?;
        let Some((used, n)) = decoded else {
            return Ok(None);
        };
        let end = start + used;
        let trailer = input.get(end..end + 8).ok_or(InflateError::BadData)?;
        let word = |k: usize| u32::from_le_bytes(trailer[k..k + 4].try_into().expect("4 bytes"));
        let crc = zlib_rs::crc32::crc32(0, &out[base..base + n]);
        // The length is stored modulo 2^32.
        if crc != word(0) || n as u32 != word(4) {
            return Err(InflateError::BadData);
        }
        written += n;
        at = end + 8;
        if written == out.len() || at == input.len() {
            return Ok(Some(written));
        }
    }
}

/// The length of the member header at the start of `input`: its ten fixed bytes (magic,
/// Deflate as the method, flags, time, extra flags, system), then the optional fields its
/// flags announce; the header's CRC-16, when present, is checked.
fn header_len(input: &[u8]) -> Result<usize> {
    let [0x1f, 0x8b, 8, flags, ..] = *input else {
        return Err(InflateError::BadData);
    };
    if flags & RESERVED != 0 || input.len() < 10 {
        return Err(InflateError::BadData);
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = input.get(at..at + 2).ok_or(InflateError::BadData)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let text = input.get(at..).ok_or(InflateError::BadData)?;
            at += 1 + text
                .iter()
                .position(|&b| b == 0)
                .ok_or(InflateError::BadData)?;
        }
    }
    if flags & FHCRC != 0 {
        let stored = input.get(at..at + 2).ok_or(InflateError::BadData)?;
        let crc = zlib_rs::crc32::crc32(0, &input[..at]);
        if crc as u16 != u16::from_le_bytes([stored[0], stored[1]]) {
            return Err(InflateError::BadData);
        }
        at += 2;
    }
    if at > input.len() {
        return Err(InflateError::BadData);
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use proptest::prelude::*;

    use super::super::tests::Rng;
    use super::*;

    /// One member of `data` as flate2 writes it at `level`.
    fn member(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).expect("in memory");
        e.finish().expect("in memory")
    }

    /// One member of `data` with a header of every optional field: extra bytes, a file
    /// name, a comment and the header's CRC-16.
    fn member_with_every_field(data: &[u8]) -> Vec<u8> {
        let mut m = vec![
            0x1f,
            0x8b,
            8,
            FHCRC | FEXTRA | FNAME | FCOMMENT,
            1,
            2,
            3,
            4,
            0,
            3,
        ];
        m.extend([3, 0, b'x', b'y', b'z']);
        m.extend(b"volume.mrc\0a comment\0");
        let crc = zlib_rs::crc32::crc32(0, &m) as u16;
        m.extend(crc.to_le_bytes());
        let mut e = flate2::write::DeflateEncoder::new(m, flate2::Compression::new(6));
        e.write_all(data).expect("in memory");
        let mut m = e.finish().expect("in memory");
        m.extend(zlib_rs::crc32::crc32(0, data).to_le_bytes());
        m.extend((data.len() as u32).to_le_bytes());
        m
    }

    /// 16-bit counts with noise: what a compressed MRC stack holds.
    fn counts(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = Rng(seed | 1);
        (0..n)
            .flat_map(|i| (400 + (i % 300) as u16 + (rng.next() % 64) as u16).to_le_bytes())
            .collect()
    }

    /// gzip_decompress into a buffer of `len` bytes, going on at every block.
    fn gunzip(input: &[u8], len: usize) -> Result<Vec<u8>> {
        let mut out = vec![0xAA; len];
        let n = gzip_decompress(input, &mut out, &mut |_| true)?.expect("never stopped");
        out.truncate(n);
        Ok(out)
    }

    /// flate2's reading of every member of `input`, or `None` where it refuses them.
    fn flate2_reads(input: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(input)
            .read_to_end(&mut out)
            .ok()?;
        Some(out)
    }

    #[test]
    fn members_of_any_level_and_header_decode() {
        let data = counts(300_000, 7);
        for level in [0, 1, 6, 9] {
            assert!(gunzip(&member(&data, level), data.len()) == Ok(data.clone()));
        }
        assert!(gunzip(&member_with_every_field(&data), data.len()) == Ok(data.clone()));
        // Several members, one after another, the last one empty; a buffer larger than
        // what they hold gets what they hold.
        let (a, b) = data.split_at(123_457);
        let mut file = member(a, 1);
        file.extend(member_with_every_field(b));
        file.extend(member(&[], 6));
        assert!(gunzip(&file, data.len()) == Ok(data.clone()));
        assert!(gunzip(&file, data.len() + 10) == Ok(data.clone()));
        assert_eq!(gunzip(&member(&[], 9), 0), Ok(Vec::new()));
    }

    #[test]
    fn the_member_that_fills_the_buffer_is_the_last_one_read() {
        let data = counts(50_000, 3);
        let mut file = member(&data, 6);
        file.extend(b"anything after the member that fills the buffer");
        assert!(gunzip(&file, data.len()) == Ok(data.clone()));
        // Past the buffer's end: too much; bytes after the last member: not a member.
        assert_eq!(
            gunzip(&file, data.len() - 1),
            Err(InflateError::InsufficientSpace)
        );
        assert_eq!(gunzip(&file, data.len() + 1), Err(InflateError::BadData));
    }

    #[test]
    fn each_kind_of_damage_is_refused() {
        let data = counts(20_000, 5);
        let good = member_with_every_field(&data);
        let n = data.len();
        let damaged = |at: usize, change: u8| {
            let mut m = good.clone();
            m[at] ^= change;
            gunzip(&m, n)
        };
        let last = good.len() - 1;
        for (what, at, change) in [
            ("magic", 1, 0x01),
            ("method", 2, 0x01),
            ("reserved flag", 3, 0x20),
            ("extra field's length", 10, 0x40),
            ("header CRC", 36, 0x01),
            ("CRC-32", last - 7, 0x01),
            ("length", last, 0x01),
        ] {
            assert_eq!(damaged(at, change), Err(InflateError::BadData), "{what}");
        }
        // The extra field's own bytes mean nothing (but count in the header's CRC-16).
        let mut plain = flate2::GzBuilder::new()
            .extra(vec![7; 5])
            .write(Vec::new(), flate2::Compression::new(6));
        plain.write_all(&data).expect("in memory");
        let mut plain = plain.finish().expect("in memory");
        plain[13] ^= 0x01;
        assert!(
            gunzip(&plain, n) == Ok(data.clone()),
            "the extra field's bytes"
        );
        // Cut anywhere: refused.
        for cut in (0..good.len()).step_by(97).chain([good.len() - 1]) {
            assert_eq!(
                gunzip(&good[..cut], n),
                Err(InflateError::BadData),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn go_on_is_asked_between_blocks_and_may_stop() {
        // Stored blocks hold at most 65,535 bytes: level 0 gives several.
        let data = counts(200_000, 11);
        let file = member(&data, 0);
        let mut asked = Vec::new();
        let mut out = vec![0u8; data.len()];
        let all = gzip_decompress(&file, &mut out, &mut |n| {
            asked.push(n);
            true
        });
        assert_eq!(all, Ok(Some(data.len())));
        assert!(asked.len() >= 5, "{asked:?}");
        assert!(
            asked.windows(2).all(|w| w[0] < w[1]) && asked[0] > 0,
            "{asked:?}"
        );
        let mut calls = 0;
        let stopped = gzip_decompress(&file, &mut out, &mut |_| {
            calls += 1;
            calls < 3
        });
        assert_eq!((stopped, calls), (Ok(None), 3));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any data cut into members at any level decodes to itself.
        #[test]
        fn members_decode_to_what_was_compressed(
            data in proptest::collection::vec(any::<u8>(), 0..20_000),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
            level in 0u32..10,
        ) {
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
            at.sort_unstable();
            let mut file = Vec::new();
            let mut from = 0;
            for &to in at.iter().chain([&data.len()]) {
                file.extend(member(&data[from..to], level));
                from = to;
            }
            prop_assert_eq!(gunzip(&file, data.len()), Ok(data.clone()));
        }

        /// A damaged file decodes only to what flate2 reads from it.
        #[test]
        fn damaged_files_decode_as_flate2_reads_them(
            seed in any::<u64>(),
            changes in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        ) {
            let data = counts(3_000, seed);
            let mut file = member(&data[..2_000], 6);
            file.extend(member(&data[2_000..], 1));
            for (at, change) in &changes {
                let at = at.index(file.len());
                file[at] ^= change;
            }
            if let Ok(got) = gunzip(&file, data.len()) {
                prop_assert_eq!(Some(got), flate2_reads(&file));
            }
        }
    }
}
