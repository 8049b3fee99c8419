//! The EER event stream of one TIFF strip: decoding and encoding.
//!
//! A strip is a bit stream read least significant bit first. Each code starts with a run
//! length of `skip_bits` bits added to the pixel position. A run of all ones
//! (`2^skip_bits - 1`) only skips; any other run is followed by `horz_bits` and `vert_bits`
//! of sub-pixel position and marks one electron at the pixel reached, after which the
//! position moves one pixel on. The stream ends when the position reaches the strip's
//! last pixel + 1. Sub-pixel codes are stored XOR-ed with the number of their bits (the
//! convention of Thermo Fisher's reader, which imagecodecs and RELION follow): the
//! rendered sub-pixel at upsampling `2^s` is `(code ^ bits) >> (bits - s)`.
//!
//! Compression 65000 is 8-bit runs with 2 + 2 sub-pixel bits, 65001 7-bit runs with
//! 2 + 2, 65002 takes the three sizes from tags 65007-65009.

use emio_core::{Error, Result};

/// The bit sizes of one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coding {
    /// Bits of the run length.
    pub skip_bits: u32,
    /// Bits of the horizontal sub-pixel position.
    pub horz_bits: u32,
    /// Bits of the vertical sub-pixel position.
    pub vert_bits: u32,
}

impl Coding {
    /// The coding of compression code `compression` (tags 65007-65009 give the sizes for
    /// 65002), or an error for anything else or sizes no decoder accepts.
    pub fn new(compression: u16, tags: [Option<u32>; 3]) -> Result<Self> {
        let c = match compression {
            65000 => Coding {
                skip_bits: 8,
                horz_bits: 2,
                vert_bits: 2,
            },
            65001 => Coding {
                skip_bits: 7,
                horz_bits: 2,
                vert_bits: 2,
            },
            65002 => Coding {
                skip_bits: tags[0].unwrap_or(7),
                horz_bits: tags[1].unwrap_or(2),
                vert_bits: tags[2].unwrap_or(2),
            },
            other => {
                return Err(Error::unsupported(
                    "eer",
                    format!("compression {other} (EER uses 65000, 65001, 65002)"),
                ))
            }
        };
        let n = c.skip_bits + c.horz_bits + c.vert_bits;
        if c.skip_bits < 4 || c.horz_bits < 1 || c.vert_bits < 1 || n > 16 || n <= 8 {
            return Err(Error::malformed_at_unknown(
                "eer",
                format!(
                    "code sizes with 4+ run bits, 1+ sub-pixel bits, 9-16 bits in all, got {c:?}"
                ),
            ));
        }
        Ok(c)
    }

    /// The compression code of this coding (65002 unless it is one of the fixed two).
    pub fn compression(&self) -> u16 {
        match (self.skip_bits, self.horz_bits, self.vert_bits) {
            (8, 2, 2) => 65000,
            (7, 2, 2) => 65001,
            _ => 65002,
        }
    }

    fn bits(&self) -> u32 {
        self.skip_bits + self.horz_bits + self.vert_bits
    }

    /// A lower bound of the bytes any strip of `pixels` pixels takes: every code moves
    /// the position at most `2^skip_bits - 1` pixels on and takes at least `skip_bits`
    /// bits, and the stream must reach the strip's end. The sizes a file declares are
    /// checked against it, so a small file cannot declare a huge frame.
    pub fn min_strip_bytes(&self, pixels: u64) -> u64 {
        let per_code = (1u64 << self.skip_bits) - 1;
        pixels / per_code * u64::from(self.skip_bits) / 8
    }

    /// Largest upsampling exponent the sub-pixel bits support.
    pub fn max_upsampling_log2(&self) -> u32 {
        self.horz_bits.min(self.vert_bits)
    }
}

/// Where a strip's decoding failed.
fn corrupt(offset: usize, what: &str) -> Error {
    Error::malformed_at_unknown("eer", format!("{what} at byte {offset} of the strip"))
}

/// Decode one strip of `pixels` pixels, `width` per row, calling `event(row, col, h, v)`
/// with each electron's row and column in the strip and its rendered sub-pixel position
/// at upsampling `2^up_log2` (0 .. 2^up_log2). Returns the number of events.
pub fn decode_strip(
    data: &[u8],
    coding: Coding,
    pixels: u64,
    width: u64,
    up_log2: u32,
    mut event: impl FnMut(u64, u64, u32, u32),
) -> Result<u64> {
    let nbits = coding.bits() as u64;
    let total = data.len() as u64 * 8;
    let skip_mask = (1u64 << coding.skip_bits) - 1;
    let (hmask, vmask) = (
        (1u32 << coding.horz_bits) - 1,
        (1u32 << coding.vert_bits) - 1,
    );
    let hshift = coding.horz_bits.saturating_sub(up_log2);
    let vshift = coding.vert_bits.saturating_sub(up_log2);
    let (mut bit, mut pixel, mut events) = (0u64, 0u64, 0u64);
    while bit + nbits < total {
        let at = (bit / 8) as usize;
        let mut word = [0u8; 4];
        let n = (data.len() - at).min(4);
        word[..n].copy_from_slice(&data[at..at + n]);
        let word = u32::from_le_bytes(word) >> (bit % 8);
        let skip = u64::from(word) & skip_mask;
        pixel += skip;
        if pixel == pixels {
            return Ok(events);
        }
        if pixel > pixels {
            return Err(corrupt(
                at,
                &format!("a run ending inside the strip's {pixels} pixels, it reaches {pixel}"),
            ));
        }
        if skip == skip_mask {
            bit += u64::from(coding.skip_bits);
            continue;
        }
        let w = word >> coding.skip_bits;
        let h = ((w & hmask) ^ coding.horz_bits) >> hshift;
        let v = (((w >> coding.horz_bits) & vmask) ^ coding.vert_bits) >> vshift;
        event(pixel / width, pixel % width, h, v);
        events += 1;
        pixel += 1;
        bit += nbits;
    }
    Err(corrupt(
        data.len(),
        &format!("the end of the event stream at pixel {pixels}, it stops at pixel {pixel}"),
    ))
}

/// Writes codes least significant bit first.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, value: u64, bits: u32) {
        self.acc |= value << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
}

/// Encode one strip of `pixels` pixels whose electrons are `events`: `(pixel index,
/// horizontal, vertical sub-pixel at upsampling 2^up_log2)`, strictly increasing in pixel.
/// The stream is padded to an even length with room for the last code (as decoders
/// require).
pub fn encode_strip(
    events: impl IntoIterator<Item = (u64, u32, u32)>,
    pixels: u64,
    coding: Coding,
    up_log2: u32,
) -> Vec<u8> {
    let mask = (1u64 << coding.skip_bits) - 1;
    let mut w = BitWriter {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    let hshift = coding.horz_bits.saturating_sub(up_log2);
    let vshift = coding.vert_bits.saturating_sub(up_log2);
    let hmask = (1u64 << coding.horz_bits) - 1;
    let vmask = (1u64 << coding.vert_bits) - 1;
    let mut pos = 0u64;
    for (pixel, h, v) in events {
        let mut skip = pixel - pos;
        while skip >= mask {
            w.put(mask, coding.skip_bits);
            skip -= mask;
        }
        let hc = ((u64::from(h) << hshift) ^ u64::from(coding.horz_bits)) & hmask;
        let vc = ((u64::from(v) << vshift) ^ u64::from(coding.vert_bits)) & vmask;
        w.put(skip, coding.skip_bits);
        w.put(hc, coding.horz_bits);
        w.put(vc, coding.vert_bits);
        pos = pixel + 1;
    }
    let mut rest = pixels - pos;
    loop {
        if rest >= mask {
            w.put(mask, coding.skip_bits);
            rest -= mask;
            if rest == 0 {
                break;
            }
        } else {
            w.put(rest, coding.skip_bits);
            break;
        }
    }
    // Room for one whole code after the last one, then an even length.
    w.put(0, coding.bits());
    if w.n > 0 {
        w.put(0, 8 - w.n);
    }
    if w.out.len() % 2 == 1 {
        w.out.push(0);
    }
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codings() -> impl Strategy<Value = Coding> {
        prop::sample::select(vec![
            Coding::new(65000, [None; 3]).unwrap(),
            Coding::new(65001, [None; 3]).unwrap(),
            Coding::new(65002, [Some(5), Some(3), Some(3)]).unwrap(),
            Coding::new(65002, [Some(10), Some(2), Some(2)]).unwrap(),
        ])
    }

    #[test]
    fn rejects_overrun_and_truncation() {
        let c = Coding::new(65001, [None; 3]).unwrap();
        let enc = encode_strip([(3, 0, 0), (500, 1, 1)], 1000, c, 1);
        assert!(decode_strip(&enc, c, 100, 10, 1, |_, _, _, _| {}).is_err());
        let err = decode_strip(&enc[..2], c, 1000, 10, 1, |_, _, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("at byte"), "{err}");
        assert!(Coding::new(65002, [Some(2), Some(2), Some(2)]).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(
            coding in codings(),
            width in 1u64..70,
            rows in 1u64..40,
            density in 0u32..100,
            up in 0u32..3,
            seed in any::<u64>(),
        ) {
            let up = up.min(coding.max_upsampling_log2());
            let pixels = width * rows;
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let mut events: Vec<(u64, u32, u32)> = Vec::new();
            for p in 0..pixels {
                if (next() % 100) < u64::from(density) {
                    let h = (next() % (1 << up)) as u32;
                    events.push((p, h, (next() % (1 << up)) as u32));
                }
            }
            let enc = encode_strip(events.iter().copied(), pixels, coding, up);
            prop_assert_eq!(enc.len() % 2, 0);
            prop_assert!(enc.len() as u64 >= coding.min_strip_bytes(pixels));
            let mut got = Vec::new();
            let n = decode_strip(&enc, coding, pixels, width, up, |r, c, h, v| {
                got.push((r * width + c, h, v))
            }).unwrap();
            prop_assert_eq!(n as usize, events.len());
            prop_assert_eq!(got, events);
        }
    }
}
