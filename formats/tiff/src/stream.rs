//! Decompressing one strip or tile (Deflate, Zstd, LZW) into buffers the caller provides:
//! straight into a region's output when the block's bytes are the output's bytes, or into a
//! buffer grown as the stream proves it holds that much (a damaged header may declare far
//! more than the strip holds).

use emio_core::{Error, Result};

use crate::ifd::FORMAT;
use crate::page::compression;

/// A block's compressed bytes being decoded: each [`Stream::fill`] continues where the
/// last one stopped.
pub struct Stream<'a> {
    codec: Codec,
    /// The streaming decoder, made on the first call that needs it: most blocks are
    /// decoded whole by [`Stream::fill`]'s first call without one.
    decoder: Option<Decoder>,
    input: &'a [u8],
    /// File offset of the block, for errors.
    at: u64,
    /// Bytes written by every fill so far.
    produced: usize,
}

/// The block's compression.
#[derive(Clone, Copy)]
enum Codec {
    Deflate,
    Zstd,
    Lzw,
}

/// A streaming decoder's state.
enum Decoder {
    Deflate(Box<flate2::Decompress>),
    Zstd(Box<zstd::stream::raw::Decoder<'static>>),
    Lzw(Box<weezl::decode::Decoder>),
}

impl<'a> Stream<'a> {
    /// A stream decoding `input` of TIFF compression `code`, or `None` for codes without
    /// a stream decoder here (none, PackBits, JPEG, unknown).
    pub fn new(code: u16, input: &'a [u8], at: u64) -> Option<Stream<'a>> {
        let codec = match code {
            compression::ADOBE_DEFLATE | compression::DEFLATE => Codec::Deflate,
            compression::ZSTD => Codec::Zstd,
            compression::LZW => Codec::Lzw,
            _ => return None,
        };
        Some(Stream {
            codec,
            decoder: None,
            input,
            at,
            produced: 0,
        })
    }

    /// Decode into `out` until it is full or the stream ends: the bytes written (fewer than
    /// `out.len()` only at the end of the stream or of the input). Corrupt Deflate and Zstd
    /// data is an error; LZW data that breaks off after some output keeps that output (as
    /// libtiff does), the caller judging whether it is enough. A block is first decoded
    /// whole into `out` ([`emio_core::inflate`], [`crate::lzw`], libzstd with the thread's
    /// context: faster than the streaming decoders); one that decodes to more than `out`
    /// holds, or is damaged, is then decoded by the streaming decoder, which stops where
    /// `out` ends and names the damage.
    pub fn fill(&mut self, out: &mut [u8]) -> Result<usize> {
        if self.produced == 0 {
            let whole = match self.codec {
                Codec::Deflate => emio_core::inflate::zlib_decompress(self.input, out).ok(),
                Codec::Lzw => crate::lzw::decode_whole(self.input, out),
                Codec::Zstd => emio_core::zstd::decompress_into(self.input, out).ok(),
            };
            if let Some(n) = whole {
                self.input = &[];
                self.produced = n;
                return Ok(n);
            }
        }
        let mut written = 0;
        while written < out.len() {
            let (read, wrote, finished) = self.step(&mut out[written..])?;
            self.input = &self.input[read..];
            written += wrote;
            self.produced += wrote;
            if finished || (read == 0 && wrote == 0) {
                break;
            }
        }
        Ok(written)
    }

    /// One call of the codec: input bytes consumed, output bytes written, whether the
    /// stream has ended.
    fn step(&mut self, out: &mut [u8]) -> Result<(usize, usize, bool)> {
        let (at, produced) = (self.at, self.produced);
        let corrupt = |what: &str, e: Box<dyn std::error::Error + Send + Sync>| {
            Error::codec(FORMAT, Some(at), what, e)
        };
        let decoder = match &mut self.decoder {
            Some(decoder) => decoder,
            None => self.decoder.insert(match self.codec {
                Codec::Deflate => Decoder::Deflate(Box::new(flate2::Decompress::new(true))),
                Codec::Zstd => Decoder::Zstd(Box::new(
                    zstd::stream::raw::Decoder::new()
                        .map_err(|e| Error::codec(FORMAT, Some(at), "Zstd data", e))?,
                )),
                Codec::Lzw => Decoder::Lzw(Box::new(
                    weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8),
                )),
            }),
        };
        match decoder {
            Decoder::Deflate(d) => {
                let (before_in, before_out) = (d.total_in(), d.total_out());
                let status = d
                    .decompress(self.input, out, flate2::FlushDecompress::Finish)
                    .map_err(|e| corrupt("Deflate data", e.into()))?;
                Ok((
                    (d.total_in() - before_in) as usize,
                    (d.total_out() - before_out) as usize,
                    status == flate2::Status::StreamEnd,
                ))
            }
            Decoder::Zstd(d) => {
                use zstd::stream::raw::Operation;
                let status = d
                    .run_on_buffers(self.input, out)
                    .map_err(|e| corrupt("Zstd data", e.into()))?;
                let finished = status.remaining == 0 && status.bytes_read == self.input.len();
                Ok((status.bytes_read, status.bytes_written, finished))
            }
            Decoder::Lzw(d) => {
                let result = d.decode_bytes(self.input, out);
                match result.status {
                    Ok(status) => Ok((
                        result.consumed_in,
                        result.consumed_out,
                        matches!(status, weezl::LzwStatus::Done),
                    )),
                    Err(e) if produced + result.consumed_out == 0 => {
                        Err(corrupt("LZW data", e.into()))
                    }
                    Err(_) => Ok((result.consumed_in, result.consumed_out, true)),
                }
            }
        }
    }
}
