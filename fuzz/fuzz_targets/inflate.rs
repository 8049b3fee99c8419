//! Fuzz emio's own Deflate decoder (`emio_core::inflate`) against zlib (flate2's streaming
//! decoder): the first two bytes are the output's size, the rest a raw Deflate stream.
//! zlib decodes it first; the target wraps it in zlib framing with the Adler-32 of what
//! zlib decoded (a wrong one when zlib refuses it), so that valid streams reach the end
//! and damaged ones are compared too. emio must give zlib's bytes where zlib reads the
//! stream within the size, refuse it where zlib does (or where it decodes to more), and
//! never panic or read or write out of bounds. The same stream, put in a gzip member with
//! the CRC-32 and length of what zlib decoded, must decode alike through
//! `gzip_decompress`.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
use emio_core::inflate::{gzip_decompress, zlib_decompress_by_emio};

/// zlib's reading of the raw Deflate `stream` into at most `limit` bytes: the bytes and
/// the stream's length, or `None` if zlib refuses it, it is cut short or decodes to more.
fn zlib(stream: &[u8], limit: usize) -> Option<(Vec<u8>, usize)> {
    let mut z = flate2::Decompress::new(false);
    let mut out = vec![0u8; limit + 1];
    loop {
        let (read, written) = (z.total_in() as usize, z.total_out() as usize);
        let status = z
            .decompress(&stream[read..], &mut out[written..], flate2::FlushDecompress::Finish)
            .ok()?;
        if z.total_out() as usize > limit {
            return None;
        }
        match status {
            flate2::Status::StreamEnd => break,
            _ if z.total_in() as usize == read && z.total_out() as usize == written => {
                return None
            }
            _ => {}
        }
    }
    out.truncate(z.total_out() as usize);
    Some((out, z.total_in() as usize))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((size, stream)) = data.split_first_chunk::<2>() else {
        return;
    };
    let size = usize::from(u16::from_le_bytes(*size));
    let theirs = zlib(stream, size);
    let mut framed = vec![0x78, 0x9c];
    framed.extend_from_slice(stream);
    let (end, adler, crc, len) = match &theirs {
        Some((bytes, used)) => (
            *used,
            zlib_rs::adler32::adler32(1, bytes),
            zlib_rs::crc32::crc32(0, bytes),
            bytes.len() as u32,
        ),
        None => (stream.len(), 0, 0, 0),
    };
    framed.truncate(2 + end);
    framed.extend_from_slice(&adler.to_be_bytes());
    let mut member = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    member.extend_from_slice(&stream[..end]);
    member.extend_from_slice(&crc.to_le_bytes());
    member.extend_from_slice(&len.to_le_bytes());
    let mut ours = vec![0u8; size];
    let zlib_framed = zlib_decompress_by_emio(&framed, &mut ours).map(|n| ours[..n].to_vec());
    let mut ours = vec![0u8; size];
    let gzip_framed = gzip_decompress(&member, &mut ours, &mut |_| true)
        .map(|n| ours[..n.expect("never stopped")].to_vec());
    for (framing, got) in [("zlib", zlib_framed), ("gzip", gzip_framed)] {
        match (got, &theirs) {
            (Ok(got), Some((bytes, _))) => assert_eq!(got, *bytes, "{framing}"),
            (Ok(got), None) => {
                panic!("emio read {} bytes of a stream zlib refuses ({framing})", got.len())
            }
            (Err(e), Some(_)) => panic!("emio refused ({e}) a stream zlib reads ({framing})"),
            (Err(_), None) => {}
        }
    }
});
