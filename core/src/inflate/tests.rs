//! The inflater against zlib (flate2's streaming decoder) and against what was compressed:
//! streams of libdeflate and zlib at every level, of data that exercises every path
//! (literal pairs, whole matches, overlapping and long matches, subtables, stored and
//! fixed blocks, the careful path near the ends), hand-made streams with each kind of
//! damage, and damaged streams at random, where it must never give bytes zlib refuses.

use proptest::prelude::*;

use super::{zlib_decompress, zlib_decompress_by_emio as inflate, InflateError, LONG_MATCH_RATIO};

/// zlib's reading of `stream` into at most `limit` bytes: the bytes, or `None` if zlib
/// refuses the stream, it is cut short or it decodes to more.
fn zlib(stream: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut z = flate2::Decompress::new(true);
    let mut out = vec![0u8; limit + 1];
    loop {
        let (read, written) = (z.total_in() as usize, z.total_out() as usize);
        let status = z
            .decompress(
                &stream[read..],
                &mut out[written..],
                flate2::FlushDecompress::Finish,
            )
            .ok()?;
        if z.total_out() as usize > limit {
            return None;
        }
        match status {
            flate2::Status::StreamEnd => break,
            _ if z.total_in() as usize == read && z.total_out() as usize == written => return None,
            _ => {}
        }
    }
    out.truncate(z.total_out() as usize);
    Some(out)
}

/// The inflater's reading of `stream` into a buffer of `limit` bytes (emio's decoder,
/// whatever the stream's ratio).
fn ours(stream: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = vec![0xAA; limit];
    let n = inflate(stream, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Both readings agree: the same bytes, or both refuse.
fn assert_agrees(stream: &[u8], limit: usize) {
    let theirs = zlib(stream, limit);
    match ours(stream, limit) {
        Ok(got) => assert_eq!(
            Some(got),
            theirs,
            "the inflater accepted what zlib gives differently"
        ),
        Err(e) => assert_eq!(theirs, None, "the inflater refused ({e}) what zlib reads"),
    }
}

fn libdeflate(data: &[u8], level: i32) -> Vec<u8> {
    let lvl = libdeflater::CompressionLvl::new(level).expect("a valid level");
    let mut c = libdeflater::Compressor::new(lvl);
    let mut out = vec![0; c.zlib_compress_bound(data.len())];
    let n = c.zlib_compress(data, &mut out).expect("room for the bound");
    out.truncate(n);
    out
}

fn zlib_rs(data: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

/// A deterministic generator (xorshift) for test data (of the gzip tests too).
pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Data of every kind the decoder's paths care about.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let noise_image: Vec<u8> = (0..64 * 1024)
        .flat_map(|_| (500 + (rng.next() % 45) as u16 - 22).to_le_bytes())
        .collect();
    let random: Vec<u8> = (0..20_000).map(|_| rng.next() as u8).collect();
    // Rare symbols get long codes: subtables of both tables.
    let skewed: Vec<u8> = (0..200_000)
        .map(|_| (rng.next() | 1 << 40).trailing_zeros() as u8 * 6)
        .collect();
    let far: Vec<u8> = (0..300_000)
        .map(|i| {
            if (i / 7) % 3000 == 0 {
                rng.next() as u8
            } else {
                (i % 251) as u8
            }
        })
        .collect();
    let mut patterns = Vec::new();
    for period in 1..=9 {
        let unit: Vec<u8> = (0..period).map(|_| rng.next() as u8).collect();
        for _ in 0..(1000 + rng.next() % 700) {
            patterns.extend_from_slice(&unit);
        }
        patterns.extend((0..rng.next() % 30).map(|_| rng.next() as u8));
    }
    // Long matches from far back one after the other: entries of many extra bits.
    let mut far_long: Vec<u8> = (0..40_000).map(|_| rng.next() as u8).collect();
    for _ in 0..400 {
        let length = 67 + (rng.next() % 64) as usize;
        let from = far_long.len() - 8193 - (rng.next() % 24_000) as usize;
        far_long.extend_from_within(from..from + length);
    }
    let text =
        b"Electron microscopy data of every kind: 4D-STEM, EELS, EDS and cryo-EM. ".repeat(300);
    vec![
        ("empty", Vec::new()),
        ("one byte", vec![42]),
        ("short", b"abcabcabcabd".to_vec()),
        ("zeros", vec![0; 100_000]),
        ("noise image", noise_image),
        ("random", random),
        ("skewed", skewed),
        ("far matches", far),
        ("far long matches", far_long),
        ("short periods", patterns),
        ("text", text),
    ]
}

#[test]
fn decodes_what_libdeflate_and_zlib_compress_at_every_level() {
    for (name, data) in samples() {
        let streams = (0..=12)
            .map(|level| libdeflate(&data, level))
            .chain((0..=9).map(|level| zlib_rs(&data, level)));
        for (k, stream) in streams.enumerate() {
            let mut out = vec![0xAA; data.len()];
            let n =
                inflate(&stream, &mut out).unwrap_or_else(|e| panic!("{name}, stream {k}: {e}"));
            assert_eq!(n, data.len(), "{name}, stream {k}");
            assert!(out == data, "{name}, stream {k}: different bytes");
            // A larger output: the same bytes and count.
            let mut larger = vec![0u8; data.len() + 300];
            assert_eq!(inflate(&stream, &mut larger), Ok(data.len()));
            assert!(larger[..data.len()] == data[..]);
            if !data.is_empty() {
                let short = inflate(&stream, &mut out[..data.len() - 1]);
                assert_eq!(
                    short,
                    Err(InflateError::InsufficientSpace),
                    "{name}, stream {k}"
                );
            }
        }
    }
}

#[test]
fn streams_of_any_ratio_decode_alike_either_way() {
    // Zeros and far matches go to libdeflate, the rest to emio's decoder: the same bytes,
    // the same answer to a short output.
    let mut routes = [0, 0];
    for (name, data) in samples() {
        let stream = zlib_rs(&data, 6);
        routes[usize::from(data.len() >= LONG_MATCH_RATIO * stream.len())] += 1;
        let mut out = vec![0u8; data.len()];
        assert_eq!(zlib_decompress(&stream, &mut out), Ok(data.len()), "{name}");
        assert!(out == data, "{name}");
        if !data.is_empty() {
            let short = zlib_decompress(&stream, &mut out[..data.len() - 1]);
            assert_eq!(short, Err(InflateError::InsufficientSpace), "{name}");
        }
        let mut damaged = stream.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(
            zlib_decompress(&damaged, &mut out),
            Err(InflateError::BadData),
            "{name}"
        );
    }
    assert!(
        routes[0] > 0 && routes[1] > 0,
        "both decoders tried: {routes:?}"
    );
}

#[test]
fn block_kinds_are_those_the_tests_mean() {
    // Level 0 stores; a few bytes go in a block of fixed codes; the rest are dynamic.
    let btype = |stream: &[u8]| stream[2] >> 1 & 3;
    assert_eq!(btype(&zlib_rs(b"stored", 0)), 0);
    assert_eq!(btype(&zlib_rs(b"fixed codes", 6)), 1);
    assert_eq!(btype(&zlib_rs(&samples()[4].1, 6)), 2);
    assert_eq!(samples()[4].0, "noise image");
}

/// A zlib stream built bit by bit: one block of fixed codes (RFC 1951, 3.2.6).
struct Fixed {
    bytes: Vec<u8>,
    bit: u32,
}

impl Fixed {
    /// A stream whose first block's header says whether it is the final block and its
    /// type (0 stored, 1 fixed codes, 2 dynamic codes, 3 invalid).
    fn block(final_block: bool, block_type: u32) -> Self {
        let mut s = Fixed {
            bytes: vec![0x78, 0x01],
            bit: 0,
        };
        s.bits(u32::from(final_block), 1);
        s.bits(block_type, 2);
        s
    }

    fn new(final_block: bool) -> Self {
        Self::block(final_block, 1)
    }

    /// `n` bits of `value`, low bit first (extra bits, headers).
    fn bits(&mut self, value: u32, n: u32) {
        for k in 0..n {
            if self.bit == 0 {
                self.bytes.push(0);
            }
            *self.bytes.last_mut().expect("pushed") |= ((value >> k & 1) as u8) << self.bit;
            self.bit = (self.bit + 1) % 8;
        }
    }

    /// A Huffman code of `len` bits, its first (high) bit first.
    fn code(&mut self, code: u32, len: u32) {
        for k in (0..len).rev() {
            self.bits(code >> k & 1, 1);
        }
    }

    fn litlen(&mut self, symbol: u32) {
        match symbol {
            0..=143 => self.code(0x30 + symbol, 8),
            144..=255 => self.code(0x190 + symbol - 144, 9),
            256..=279 => self.code(symbol - 256, 7),
            _ => self.code(0xc0 + symbol - 280, 8),
        }
    }

    fn literal(&mut self, byte: u8) -> &mut Self {
        self.litlen(u32::from(byte));
        self
    }

    /// A match, its length and distance in Deflate's symbols and extra bits.
    fn copy(&mut self, length: u32, distance: u32) -> &mut Self {
        let (symbol, base, extra) = match length {
            3..=10 => (254 + length, length, 0),
            11..=18 => (265 + (length - 11) / 2, 11 + (length - 11) / 2 * 2, 1),
            258 => (285, 258, 0),
            _ => panic!("lengths the tests use"),
        };
        self.litlen(symbol);
        self.bits(length - base, extra);
        let (dsym, dbase, dextra) = match distance {
            1..=4 => (distance - 1, distance, 0),
            5..=8 => (4 + (distance - 5) / 2, 5 + (distance - 5) / 2 * 2, 1),
            _ => {
                let d = distance - 1;
                let top = 31 - d.leading_zeros();
                let dsym = 2 * top + (d >> (top - 1) & 1);
                let dextra = top - 1;
                let dbase = (2 | (d >> (top - 1) & 1)) << (top - 1);
                (dsym, dbase + 1, dextra)
            }
        };
        self.code(dsym, 5);
        self.bits(distance - dbase, dextra);
        self
    }

    /// The end of the block, then the Adler-32 of `decoded`.
    fn finish(&mut self, decoded: &[u8]) -> Vec<u8> {
        self.litlen(256);
        self.bit = 0;
        let adler = zlib_rs::adler32::adler32(1, decoded);
        self.bytes.extend_from_slice(&adler.to_be_bytes());
        std::mem::take(&mut self.bytes)
    }
}

#[test]
fn hand_made_streams_of_fixed_codes() {
    // Overlapping copies of every short period, a long run, distances 1 to far.
    let mut s = Fixed::new(true);
    let mut want = Vec::new();
    for byte in 0..40u8 {
        s.literal(byte);
        want.push(byte);
    }
    for (length, distance) in [
        (3, 1),
        (10, 2),
        (17, 3),
        (258, 5),
        (9, 7),
        (11, 8),
        (18, 9),
        (12, 40),
        (258, 1),
        (5, 300),
    ] {
        s.copy(length, distance);
        for _ in 0..length {
            want.push(want[want.len() - distance as usize]);
        }
    }
    let stream = s.finish(&want);
    assert_eq!(ours(&stream, want.len()), Ok(want.clone()));
    assert_agrees(&stream, want.len());
    // The same stream with room for the fast loop: the same bytes.
    assert_eq!(ours(&stream, want.len() + 1000), Ok(want));
}

#[test]
fn each_kind_of_damage_is_refused_as_zlib_refuses_it() {
    let abc = |s: &mut Fixed| {
        s.literal(b'a').literal(b'b').literal(b'c');
    };
    let good = {
        let mut s = Fixed::new(true);
        abc(&mut s);
        s.copy(3, 3);
        s.finish(b"abcabc")
    };
    assert_eq!(ours(&good, 6), Ok(b"abcabc".to_vec()));
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut far = Fixed::new(true);
    abc(&mut far);
    far.copy(3, 4);
    cases.push(("a distance past the start", far.finish(b"abcabc")));
    let mut symbol = Fixed::new(true);
    abc(&mut symbol);
    symbol.litlen(286);
    cases.push(("literal/length symbol 286", symbol.finish(b"abc")));
    let mut dist30 = Fixed::new(true);
    abc(&mut dist30);
    dist30.litlen(257);
    dist30.code(30, 5);
    cases.push(("distance symbol 30", dist30.finish(b"abc")));
    let mut checksum = good.clone();
    *checksum.last_mut().expect("a trailer") ^= 1;
    cases.push(("a wrong Adler-32", checksum));
    cases.push(("no Adler-32", good[..good.len() - 4].to_vec()));
    cases.push(("cut in the block", good[..4].to_vec()));
    let mut method = good.clone();
    method[0] = 0x77;
    cases.push(("compression method 7", method));
    let mut dictionary = good.clone();
    // FDICT, with the check bits that keep the header a multiple of 31.
    dictionary[1] = 0x3f;
    assert_eq!((0x7800 | 0x3f) % 31, 0);
    cases.push(("a preset dictionary", dictionary));
    let mut block_type = Fixed::block(true, 3);
    block_type.bits(0, 16);
    cases.push(("block type 3", block_type.bytes));
    let mut not_final = Fixed::new(false);
    abc(&mut not_final);
    cases.push(("no final block", not_final.finish(b"abc")));
    let mut stored = vec![0x78, 0x01, 0x01, 3, 0, 0xfc, 0xff];
    stored.extend_from_slice(b"abc");
    stored.extend_from_slice(&zlib_rs::adler32::adler32(1, b"abc").to_be_bytes());
    assert_eq!(ours(&stored, 3), Ok(b"abc".to_vec()));
    stored[5] = 0xfd;
    cases.push(("stored lengths that disagree", stored));
    for (what, stream) in cases {
        assert_eq!(ours(&stream, 100), Err(InflateError::BadData), "{what}");
        assert_eq!(zlib(&stream, 100), None, "zlib reads {what}");
    }
}

#[test]
fn dynamic_codes_zlib_refuses_are_refused() {
    // A dynamic block's header: HLIT, HDIST, HCLEN, then code-length code lengths.
    let header = |lens: &[(u32, u32)], tail: &dyn Fn(&mut Fixed)| {
        let mut s = Fixed::block(true, 2);
        s.bits(0, 5);
        s.bits(0, 5);
        s.bits(15, 4);
        let mut code_lens = [0u32; 19];
        for &(symbol, len) in lens {
            code_lens[symbol as usize] = len;
        }
        for symbol in super::CODE_LENGTH_ORDER {
            s.bits(code_lens[symbol], 3);
        }
        tail(&mut s);
        s.bits(0, 32);
        s.bytes
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // One code of two bits: incomplete.
        ("an incomplete code-length code", header(&[(1, 2)], &|_| {})),
        // Three codes of one bit: over-subscribed.
        (
            "an over-subscribed code-length code",
            header(&[(1, 1), (2, 1), (3, 1)], &|_| {}),
        ),
        // Symbols 16 (code 0) and 18 (code 1): a repeat before any length.
        (
            "a repeat of no length",
            header(&[(16, 1), (18, 1)], &|s| s.code(0, 1)),
        ),
        // 18 repeats zeros past the 258 lengths.
        (
            "a repeat past the lengths",
            header(&[(16, 1), (18, 1)], &|s| {
                s.code(1, 1);
                s.bits(127, 7);
                s.code(1, 1);
                s.bits(127, 7);
                s.code(1, 1);
                s.bits(127, 7);
            }),
        ),
        // All zeros: no end-of-block code.
        (
            "no end-of-block code",
            header(&[(17, 1), (18, 1)], &|s| {
                s.code(1, 1);
                s.bits(127, 7);
                s.code(1, 1);
                s.bits(109, 7);
            }),
        ),
    ];
    for (what, stream) in cases {
        assert_eq!(ours(&stream, 100), Err(InflateError::BadData), "{what}");
        assert_eq!(zlib(&stream, 100), None, "zlib reads {what}");
    }
}

#[test]
fn damaged_streams_agree_with_zlib_byte_by_byte() {
    // Every single-byte change of a short stream's bytes (a few values each), and every
    // cut: the careful path and the tables' checks.
    let data = b"abracadabra, abracadabra: a dynamic block of a few codes".repeat(3);
    for stream in [
        zlib_rs(&data, 9),
        libdeflate(&data, 12),
        zlib_rs(b"fixed codes", 6),
    ] {
        for at in 0..stream.len() {
            for value in [
                0x00,
                0xff,
                stream[at] ^ 0x01,
                stream[at] ^ 0x10,
                stream[at] ^ 0x80,
            ] {
                let mut damaged = stream.clone();
                damaged[at] = value;
                assert_agrees(&damaged, data.len());
            }
            assert_agrees(&stream[..at], data.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Data from a small alphabet with runs (matches and literals of every kind),
    /// compressed at any level by either compressor, decodes to itself.
    #[test]
    fn decodes_what_was_compressed(
        symbols in proptest::collection::vec((0u8..=255, 1usize..40), 0..600),
        alphabet in 1u8..=255,
        level in 0i32..=12,
        use_zlib in any::<bool>(),
    ) {
        let data: Vec<u8> = symbols
            .iter()
            .flat_map(|&(byte, run)| std::iter::repeat_n(byte % alphabet, run % 7 + 1))
            .collect();
        let stream = if use_zlib { zlib_rs(&data, level.min(9) as u32) } else { libdeflate(&data, level) };
        prop_assert_eq!(ours(&stream, data.len()), Ok(data.clone()));
        prop_assert_eq!(ours(&stream, data.len() + 600), Ok(data));
    }

    /// A damaged stream gives what zlib gives, or is refused where zlib refuses it.
    #[test]
    fn damaged_streams_agree_with_zlib(
        symbols in proptest::collection::vec((0u8..=255, 1usize..40), 1..600),
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        extra_room in 0usize..700,
    ) {
        let data: Vec<u8> = symbols
            .iter()
            .flat_map(|&(byte, run)| std::iter::repeat_n(byte % 17, run % 5 + 1))
            .collect();
        let mut stream = libdeflate(&data, 6);
        for (at, value) in changes {
            let at = at.index(stream.len());
            stream[at] = value;
        }
        assert_agrees(&stream, data.len() + extra_room);
        assert_agrees(&stream[..cut.index(stream.len())], data.len() + extra_room);
    }
}
