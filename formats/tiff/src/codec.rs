//! Decompressing one strip or tile to its bytes: none, PackBits, LZW, Deflate and Zstd
//! (streams decoded in one pass into the caller's buffer) and JPEG, into a buffer the
//! caller gives or one grown as the data proves it holds that much.

use emio_core::{Error, Result};

use crate::ifd::FORMAT;
use crate::page::compression;
use crate::stream::Stream;

/// Most bytes reserved up front for a decoded strip: a damaged header may declare far more
/// than the stream holds, so larger outputs grow as they are decoded.
const CAPACITY_HINT: usize = 16 << 20;

/// Decompress `data` of codec `code` to at most `expected` bytes (fewer when the data
/// holds fewer). The output grows as the stream proves it holds that much.
pub fn decompress(code: u16, data: &[u8], expected: usize, at: u64) -> Result<Vec<u8>> {
    match code {
        compression::NONE => return Ok(data[..data.len().min(expected)].to_vec()),
        compression::PACKBITS => return Ok(unpackbits(data, expected)),
        _ => {}
    }
    let mut stream = Stream::new(code, data, at).ok_or_else(|| unsupported_codec(code))?;
    let mut out = Vec::new();
    while out.len() < expected {
        let have = out.len();
        let want = (expected - have).min(have.max(CAPACITY_HINT));
        out.resize(have + want, 0);
        let wrote = stream.fill(&mut out[have..])?;
        out.truncate(have + wrote);
        if wrote < want {
            break;
        }
    }
    Ok(out)
}

/// Decompress `data` of codec `code` (not JPEG) into `out`: the bytes written, fewer than
/// `out.len()` when the data holds fewer.
pub fn decompress_into(code: u16, data: &[u8], out: &mut [u8], at: u64) -> Result<usize> {
    if let Some(mut stream) = Stream::new(code, data, at) {
        return stream.fill(out);
    }
    let n = match code {
        compression::NONE => {
            let n = data.len().min(out.len());
            out[..n].copy_from_slice(&data[..n]);
            n
        }
        compression::PACKBITS => {
            let bytes = unpackbits(data, out.len());
            out[..bytes.len()].copy_from_slice(&bytes);
            bytes.len()
        }
        c => return Err(unsupported_codec(c)),
    };
    Ok(n)
}

fn unsupported_codec(code: u16) -> Error {
    Error::unsupported(
        FORMAT,
        format!("compression {code} (emio decodes none, PackBits, LZW, Deflate, Zstd, JPEG)"),
    )
}

/// Decode one JPEG strip/tile (8-bit gray or colour), with the page's shared tables
/// spliced in front of the strip's own stream. As in libtiff, components are taken as RGB
/// when the page says RGB (photometric 2) and converted from YCbCr when it says YCbCr (6).
pub fn decode_jpeg(
    data: &[u8],
    tables: Option<&[u8]>,
    photometric: u16,
    expected: usize,
    at: u64,
) -> Result<Vec<u8>> {
    let mut stream = Vec::with_capacity(data.len() + tables.map_or(0, <[u8]>::len));
    match tables {
        Some(t)
            if t.len() >= 4 && t.ends_with(&[0xFF, 0xD9]) && data.starts_with(&[0xFF, 0xD8]) =>
        {
            stream.extend_from_slice(&t[..t.len() - 2]);
            stream.extend_from_slice(&data[2..]);
        }
        _ => stream.extend_from_slice(data),
    }
    let mut decoder = jpeg_decoder::Decoder::new(&stream[..]);
    let limit = expected.max(1 << 16);
    decoder.set_max_decoding_buffer_size(limit);
    // The decoder checks that limit only after decoding every scan into planes of the size
    // the frame header declares: a header damaged to 65535 x 65535 made it fill gigabytes
    // for minutes. So the header is read, and its size checked, first.
    let bad = |e: jpeg_decoder::Error| Error::malformed(FORMAT, at, format!("JPEG data ({e})"));
    decoder.read_info().map_err(bad)?;
    if let Some(info) = decoder.info() {
        let declared = u64::from(info.width)
            .saturating_mul(u64::from(info.height))
            .saturating_mul(info.pixel_format.pixel_bytes() as u64);
        if declared > limit as u64 {
            return Err(Error::malformed(
                FORMAT,
                at,
                format!(
                    "JPEG data of at most {limit} bytes, its header declares {} x {} pixels \
                     ({declared} bytes)",
                    info.width, info.height
                ),
            ));
        }
    }
    match photometric {
        2 => decoder.set_color_transform(jpeg_decoder::ColorTransform::RGB),
        6 => decoder.set_color_transform(jpeg_decoder::ColorTransform::YCbCr),
        _ => {}
    }
    let mut out = decoder.decode().map_err(bad)?;
    out.truncate(expected);
    Ok(out)
}

/// PackBits decoding, stopping at `expected` bytes.
pub fn unpackbits(data: &[u8], expected: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(expected.min(CAPACITY_HINT));
    let mut i = 0;
    while i < data.len() && out.len() < expected {
        let n = data[i] as i8;
        i += 1;
        if n >= 0 {
            let len = (n as usize + 1).min(data.len() - i);
            out.extend_from_slice(&data[i..i + len]);
            i += len;
        } else if n != -128 {
            if let Some(&b) = data.get(i) {
                // One fill, not an element-by-element extend (which the fuzz build
                // instruments per byte: a third of tiff_structure's time).
                out.resize(out.len() + (1 - n as isize) as usize, b);
            }
            i += 1;
        }
    }
    out.truncate(expected);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A baseline JPEG of one 8 x 8 gray block, every sample 128 (DC difference 0, then
    /// end of block), with the frame header's height and width set to `side`.
    fn gray_block_jpeg(side: u16) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        // Quantisation table 0: all ones.
        j.extend([0xFF, 0xDB, 0, 67, 0]);
        j.extend([1u8; 64]);
        // Frame: 8-bit, height, width, one component (id 1, 1x1 sampling, table 0).
        j.extend([0xFF, 0xC0, 0, 11, 8]);
        j.extend(side.to_be_bytes());
        j.extend(side.to_be_bytes());
        j.extend([1, 1, 0x11, 0]);
        // Huffman tables: DC 0 and AC 0, each one code of length 1 for symbol 0.
        for class in [0x00, 0x10] {
            j.extend([0xFF, 0xC4, 0, 20, class, 1]);
            j.extend([0u8; 15]);
            j.push(0);
        }
        // Scan of the one component, then its data: DC code 0, EOB code 0, padding ones.
        j.extend([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
        j.extend([0x3F, 0xFF, 0xD9]);
        j
    }

    #[test]
    fn a_jpeg_header_declaring_more_than_the_strip_is_refused_before_decoding() {
        assert_eq!(
            decode_jpeg(&gray_block_jpeg(8), None, 1, 64, 0).unwrap(),
            [128; 64]
        );
        // 65535 x 65535 from a damaged frame header: the decoder filled planes of that size
        // for minutes before checking its limit.
        let err = decode_jpeg(&gray_block_jpeg(u16::MAX), None, 1, 64, 100)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at byte 100")
                && err.contains("at most 65536 bytes, its header declares 65535 x 65535 pixels"),
            "{err}"
        );
    }

    /// `bytes` compressed by each stream codec, with its TIFF code.
    fn compressed(bytes: &[u8]) -> Vec<(u16, Vec<u8>)> {
        use std::io::Write;
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(bytes).unwrap();
        let lzw = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(bytes)
            .unwrap();
        vec![
            (compression::ADOBE_DEFLATE, zlib.finish().unwrap()),
            (compression::ZSTD, zstd::bulk::compress(bytes, 1).unwrap()),
            (compression::LZW, lzw),
        ]
    }

    #[test]
    fn streams_grow_their_output_past_the_first_buffer_and_stop_at_their_end() {
        // More than CAPACITY_HINT, so the output grows at least once.
        let bytes: Vec<u8> = (0..(CAPACITY_HINT + 12_345) as u32)
            .map(|i| ((i / 7) ^ (i % 251)) as u8)
            .collect();
        for (code, stored) in compressed(&bytes) {
            // Declared longer than the stream: what it holds.
            assert!(decompress(code, &stored, 3 * bytes.len(), 0).unwrap() == bytes);
            // Declared shorter: cut there.
            let head = decompress(code, &stored, 1000, 0).unwrap();
            assert_eq!(head, bytes[..1000], "{code}");
            // Into a buffer: the same bytes, and how many.
            let mut out = vec![0u8; bytes.len() + 10];
            assert_eq!(
                decompress_into(code, &stored, &mut out, 0).unwrap(),
                bytes.len()
            );
            assert!(out[..bytes.len()] == bytes, "{code}");
        }
    }

    proptest::proptest! {
        /// `decompress_into` writes what `decompress` returns, for every codec and any
        /// output length.
        #[test]
        fn decoding_into_a_buffer_matches_decoding_into_a_vec(
            bytes in proptest::collection::vec(0u8..4, 0..3000),
            room in 0usize..4000,
        ) {
            let mut cases = compressed(&bytes);
            cases.push((compression::NONE, bytes.clone()));
            cases.push((compression::PACKBITS, bytes.iter().flat_map(|&b| [0, b]).collect()));
            for (code, stored) in cases {
                let want = decompress(code, &stored, room, 0).unwrap();
                let mut out = vec![0xEEu8; room];
                let n = decompress_into(code, &stored, &mut out, 0).unwrap();
                proptest::prop_assert_eq!(&out[..n], &want[..], "{}", code);
                proptest::prop_assert_eq!(n, bytes.len().min(room));
            }
        }

    }

    #[test]
    fn undecodable_strips_are_codec_errors_keeping_the_codecs_error() {
        for code in [compression::ZSTD, compression::ADOBE_DEFLATE] {
            let e = decompress(code, b"not compressed at all", 64, 8).unwrap_err();
            let Error::Codec { offset, source, .. } = &e else {
                panic!("{e:?}")
            };
            assert_eq!(*offset, Some(8));
            assert!(!source.to_string().is_empty());
            assert!(std::error::Error::source(&e).is_some(), "{e}");
        }
    }

    #[test]
    fn packbits_decodes_runs_and_literals() {
        let data = [0xFEu8, 0xAA, 0x02, 0x80, 0x00, 0x2A, 0x80];
        assert_eq!(
            unpackbits(&data, 100),
            vec![0xAA, 0xAA, 0xAA, 0x80, 0x00, 0x2A]
        );
    }
}
