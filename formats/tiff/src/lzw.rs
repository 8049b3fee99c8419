//! TIFF's LZW (codes of 9 to 12 bits, most significant bit first, each width taken one code
//! early) decoded whole into a buffer of known size: a strip or tile.
//!
//! Every string in the code table is a stretch of the output already written (the string
//! of the previous code and the first byte of the next), so a code is decoded by copying
//! the stretch where its string was first written, 16 bytes at a time, rather than by
//! walking a chain of prefixes byte by byte. The block is decoded into a scratch buffer
//! that starts with every byte value once, so that literal codes are copied the same way
//! (no branch between literals and strings, which mispredicted on noisy images: 20% of the
//! time), then copied out while it is in the cache. Only streams that end with their
//! end-of-information code and fit the buffer are decoded here; the rest (damaged, cut
//! short, longer than expected, or blocks over [`MAX_WHOLE`] bytes) are left to the
//! streaming decoder, which keeps what a damaged stream decoded before the damage, as
//! libtiff does.

/// Clears the table.
const CLEAR: usize = 256;
/// Ends the stream.
const END: usize = 257;
/// The first code the table assigns after a clear.
const FIRST: usize = 258;
/// Codes of at most 12 bits.
const MAX_CODES: usize = 1 << 12;
/// Bytes copied at a time.
const WIDE: usize = 16;

/// Largest block decoded here (through a scratch buffer of its size); larger ones (an
/// image in a single strip) are streamed instead of being held twice.
const MAX_WHOLE: usize = 64 << 20;

/// Where the output starts in the scratch buffer: before it, every byte value once (the
/// strings of the literal codes), with room for a 16-byte copy from the last.
const ALPHABET: usize = 256 + WIDE;

/// Decode the LZW stream `input` into `out`: the bytes written, when the stream ends with
/// its end-of-information code and its output fits `out`; `None` when it is damaged, cut
/// short, fills the table without clearing it, or decodes to more than `out` holds.
pub fn decode_whole(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if out.len() > MAX_WHOLE {
        return None;
    }
    let total = out.len() + ALPHABET;
    // The literal codes' strings, then the output: every code's string is copied from
    // this one buffer, literals too, without a branch between the two.
    let mut buf = vec![0u8; total];
    for (i, b) in buf[..256].iter_mut().enumerate() {
        *b = i as u8;
    }
    let buf = &mut buf[..];
    // Per code: where its string was first written (high half) and its length; the clear
    // and end codes have none (length 0).
    let mut table = vec![0u64; MAX_CODES];
    for (c, e) in table[..256].iter_mut().enumerate() {
        *e = (c as u64) << 32 | 1;
    }
    (table[CLEAR], table[END]) = (0, 0);
    let mut codes = Codes::new(input);
    let mut width = 9;
    let mut next = FIRST;
    // Position and length of the previous code's string (length 0: none, after a clear).
    let (mut prev, mut prev_len) = (0, 0);
    let mut pos = ALPHABET;
    loop {
        let code = codes.read(width)?;
        let n = if code < next {
            let entry = table[code % MAX_CODES];
            let n = (entry & u64::from(u32::MAX)) as usize;
            if n == 0 {
                if code == END {
                    out[..pos - ALPHABET].copy_from_slice(&buf[ALPHABET..pos]);
                    return Some(pos - ALPHABET);
                }
                (width, next, prev_len) = (9, FIRST, 0);
                continue;
            }
            copy_earlier(buf, (entry >> 32) as usize, pos, n)?;
            n
        } else if code == next && prev_len > 0 {
            // The string being defined: the previous one and its own first byte.
            copy_earlier(buf, prev, pos, prev_len)?;
            *buf.get_mut(pos + prev_len)? = buf[prev];
            prev_len + 1
        } else {
            return None;
        };
        if prev_len > 0 {
            if next == MAX_CODES {
                return None;
            }
            table[next] = (prev as u64) << 32 | (prev_len + 1) as u64;
            next += 1;
            if next + 1 >= 1 << width && width < 12 {
                width += 1;
            }
        }
        (prev, prev_len) = (pos, n);
        pos += n;
    }
}

/// Copy the `n` bytes at `from` to `to` in `out`, where `from + n <= to` (a string written
/// earlier, or a literal's byte): 16 bytes at a time while the last copy stays inside `out` (bytes past the
/// string are overwritten by the strings after it), else exactly. `None` when the string
/// does not fit.
#[inline(always)]
fn copy_earlier(out: &mut [u8], from: usize, to: usize, n: usize) -> Option<()> {
    if to + n + WIDE <= out.len() {
        let mut k = 0;
        while k < n {
            out.copy_within(from + k..from + k + WIDE, to + k);
            k += WIDE;
        }
    } else if to + n <= out.len() {
        out.copy_within(from..from + n, to);
    } else {
        return None;
    }
    Some(())
}

/// The codes of a stream, most significant bit first.
struct Codes<'a> {
    input: &'a [u8],
    /// Next byte of `input` to take.
    at: usize,
    /// Bits taken but not yet read, in the low `count` bits.
    bits: u64,
    count: u32,
}

impl<'a> Codes<'a> {
    fn new(input: &'a [u8]) -> Self {
        Codes {
            input,
            at: 0,
            bits: 0,
            count: 0,
        }
    }

    /// The next code of `width` bits, `None` at the end of the input.
    fn read(&mut self, width: u32) -> Option<usize> {
        if self.count < width {
            self.refill();
            if self.count < width {
                return None;
            }
        }
        self.count -= width;
        Some(((self.bits >> self.count) & ((1 << width) - 1)) as usize)
    }

    /// Take as many whole bytes as fit beside the bits held.
    fn refill(&mut self) {
        let room = (63 - self.count) / 8;
        if let Some(word) = self.input.get(self.at..self.at + 8) {
            let word = u64::from_be_bytes(word.try_into().expect("8 bytes"));
            self.bits = (self.bits << (8 * room)) | (word >> (64 - 8 * room));
            self.at += room as usize;
            self.count += 8 * room;
        } else {
            for _ in 0..room {
                let Some(&b) = self.input.get(self.at) else {
                    break;
                };
                self.bits = (self.bits << 8) | u64::from(b);
                self.at += 1;
                self.count += 8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(data: &[u8]) -> Vec<u8> {
        weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(data)
            .unwrap()
    }

    /// The streaming decoder's reading of `input` as far as it gets, and whether it met
    /// the end-of-information code.
    fn streamed(mut input: &[u8]) -> (Vec<u8>, bool) {
        let mut d = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
        let mut out = Vec::new();
        let mut piece = [0u8; 64];
        loop {
            let r = d.decode_bytes(input, &mut piece);
            input = &input[r.consumed_in..];
            out.extend_from_slice(&piece[..r.consumed_out]);
            match r.status {
                Ok(weezl::LzwStatus::Done) => return (out, true),
                Ok(_) if r.consumed_in > 0 || r.consumed_out > 0 => {}
                _ => return (out, false),
            }
        }
    }

    /// Values with runs and repeats, as image rows have (long strings, a full table).
    fn values() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec((any::<u8>(), 1usize..40, 0u8..4), 0..600).prop_map(|parts| {
            parts
                .into_iter()
                .flat_map(|(v, n, spread)| {
                    (0..n).map(move |i| v.wrapping_add(i as u8 % (spread + 1)))
                })
                .collect()
        })
    }

    proptest! {
        /// Streams written by the encoder decode to the values encoded, in buffers of
        /// exactly their size and larger.
        #[test]
        fn encoded_values_decode_back(data in values(), slack in 0usize..40) {
            let stream = encode(&data);
            let mut out = vec![0xAA; data.len() + slack];
            prop_assert_eq!(decode_whole(&stream, &mut out), Some(data.len()));
            prop_assert_eq!(&out[..data.len()], &data[..]);
        }

        /// Whatever the input (damaged streams, noise), a stream decoded here is decoded
        /// the same by the streaming decoder as far as it gets, and whole unless it stops
        /// at two clear codes in a row (which weezl does not take; libtiff does, and so do
        /// we: `consecutive_clear_codes_restart_the_table_once`).
        #[test]
        fn damaged_streams_decode_as_the_streaming_decoder_does(
            data in values(),
            damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut stream = encode(&data);
            for (at, b) in &damage {
                if !stream.is_empty() {
                    let i = at.index(stream.len());
                    stream[i] = *b;
                }
            }
            let cut_at = cut.index(stream.len() + 1);
            for input in [&stream[..], &stream[..cut_at], &noise[..]] {
                let (want, whole) = streamed(input);
                let mut out = vec![0u8; want.len() + 8];
                if let Some(n) = decode_whole(input, &mut out) {
                    if whole {
                        prop_assert_eq!(&out[..n], &want[..]);
                    } else {
                        prop_assert!(n >= want.len() && out[..want.len()] == want[..]);
                    }
                }
            }
        }
    }

    /// libtiff reads any number of clear codes in a row as one (weezl stops there).
    #[test]
    fn consecutive_clear_codes_restart_the_table_once() {
        // 9-bit codes: 18, 0 × 5, clear, clear, 0 × 4, 6, 0 × 3, 94, 0, 113, end.
        let stream = [
            0x09, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0x30, 0, 0, 0, 0x2f, 0, 0x0e, 0x30, 0x16,
            0,
        ];
        let mut out = vec![0u8; 64];
        let n = decode_whole(&stream, &mut out).unwrap();
        assert_eq!(
            out[..n],
            [18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 94, 0, 113]
        );
    }

    #[test]
    fn streams_cut_short_or_too_long_for_the_buffer_are_left_to_the_streaming_decoder() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 13) as u8).collect();
        let stream = encode(&data);
        let mut out = vec![0u8; data.len()];
        assert_eq!(decode_whole(&stream[..stream.len() - 2], &mut out), None);
        assert_eq!(decode_whole(&stream, &mut out[..data.len() - 1]), None);
        assert_eq!(decode_whole(&stream, &mut out), Some(data.len()));
        assert_eq!(out, data);
    }
}
