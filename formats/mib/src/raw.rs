//! Decoding of RAW (`R64`) Merlin frames: counter data exactly as the Medipix3 read-out
//! delivers it, which rsciio cannot read.
//!
//! The read-out sends 64-bit words whose bytes arrive in reverse order. Within each group
//! of 8 bytes (reversed):
//! - 1-bit counters: 64 pixels, pixel `i` is bit `i` of the group read as a big-endian `u64`;
//! - 6-bit counters: 8 pixels of one byte each, in reversed byte order;
//! - 12-bit counters: 4 pixels of a big-endian `u16` each, in reversed order;
//! - 24-bit counters: two 12-bit frames one after the other, the first holding the high
//!   12 bits.
//!
//! On a 2×2 quad, each RAW row holds one row of every chip, `[chip 4 | chip 3 | chip 2 |
//! chip 1]`: chips 1 and 2 make the top half of the image, chips 3 and 4 the bottom half,
//! rotated by 180°.

/// Bytes of `pixels` counters of `depth` bits (12 and 24-bit counters use 2 bytes per
/// 12-bit value). `None` for unknown depths.
pub fn stored_bytes(depth: u32, pixels: u64) -> Option<u64> {
    match depth {
        1 => Some(pixels / 8),
        6 => Some(pixels),
        12 => Some(pixels * 2),
        24 => Some(pixels * 4),
        _ => None,
    }
}

/// Pixels one 64-bit word holds at `depth` (the unit a RAW row must be a multiple of).
pub fn pixels_per_word(depth: u32) -> u64 {
    match depth {
        1 => 64,
        6 => 8,
        _ => 4,
    }
}

/// Decode a run of 1, 6 or 12-bit counters (`input.len()` a multiple of 8) into `out`
/// (one value per pixel, `out.len()` = pixels).
pub fn decode_run(depth: u32, input: &[u8], out: &mut [u32]) {
    let words = input.chunks_exact(8);
    match depth {
        1 => {
            for (word, px) in words.zip(out.chunks_exact_mut(64)) {
                let w = u64::from_be_bytes(word.try_into().expect("8 bytes"));
                for (bit, v) in px.iter_mut().enumerate() {
                    *v = ((w >> bit) & 1) as u32;
                }
            }
        }
        6 => {
            for (word, px) in words.zip(out.chunks_exact_mut(8)) {
                for (k, v) in px.iter_mut().enumerate() {
                    *v = u32::from(word[7 - k]);
                }
            }
        }
        _ => {
            for (word, px) in words.zip(out.chunks_exact_mut(4)) {
                for (j, v) in px.iter_mut().enumerate() {
                    *v = u32::from(word[7 - 2 * j]) | u32::from(word[6 - 2 * j]) << 8;
                }
            }
        }
    }
}

/// Decode one single-chip RAW frame (`rows * columns` pixels) into `out` in file order.
pub fn decode_single(depth: u32, input: &[u8], out: &mut [u32]) {
    if depth == 24 {
        let half = input.len() / 2;
        let mut low = vec![0u32; out.len()];
        decode_run(12, &input[..half], out);
        decode_run(12, &input[half..], &mut low);
        for (v, lo) in out.iter_mut().zip(low) {
            *v = (*v << 12) | lo;
        }
    } else {
        decode_run(depth, input, out);
    }
}

/// Decode one 2×2 quad RAW frame of chips `chip` pixels square into `out`
/// (`2 * chip` square, file order).
pub fn decode_quad(depth: u32, chip: usize, input: &[u8], out: &mut [u32]) {
    let width = 2 * chip;
    let seg_bytes = stored_bytes(depth, chip as u64).unwrap_or(0) as usize;
    let mut seg = vec![0u32; chip];
    for r in 0..chip {
        let raw_row = &input[r * 4 * seg_bytes..(r + 1) * 4 * seg_bytes];
        let segment = |s: usize, seg: &mut [u32]| {
            decode_run(depth, &raw_row[s * seg_bytes..(s + 1) * seg_bytes], seg)
        };
        let top = r * width;
        segment(3, &mut seg);
        out[top..top + chip].copy_from_slice(&seg);
        segment(2, &mut seg);
        out[top + chip..top + width].copy_from_slice(&seg);
        let bottom = (2 * chip - 1 - r) * width;
        for (s, x0) in [(1, 0), (0, chip)] {
            segment(s, &mut seg);
            for (x, v) in seg.iter().rev().enumerate() {
                out[bottom + x0 + x] = *v;
            }
        }
    }
}

/// Encoders building RAW frames from known pixels, the inverse of the decoders, so tests
/// can check decoding against an independent description of the layout.
#[cfg(test)]
pub mod encode {
    /// Encode 1, 6 or 12-bit values (pixel count a multiple of the word unit).
    pub fn run(depth: u32, values: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        match depth {
            1 => {
                for px in values.chunks(64) {
                    let w = px
                        .iter()
                        .enumerate()
                        .fold(0u64, |w, (bit, &v)| w | (u64::from(v & 1) << bit));
                    out.extend_from_slice(&w.to_be_bytes());
                }
            }
            6 => {
                for px in values.chunks(8) {
                    out.extend(px.iter().rev().map(|&v| v as u8));
                }
            }
            _ => {
                for px in values.chunks(4) {
                    for &v in px.iter().rev() {
                        out.extend_from_slice(&(v as u16).to_be_bytes());
                    }
                }
            }
        }
        out
    }

    /// Encode a 2×2 quad frame (`2 * chip` square, file order).
    pub fn quad(depth: u32, chip: usize, image: &[u32]) -> Vec<u8> {
        let width = 2 * chip;
        let mut out = Vec::new();
        for r in 0..chip {
            let top = &image[r * width..(r + 1) * width];
            let bottom_row = 2 * chip - 1 - r;
            let bottom = &image[bottom_row * width..(bottom_row + 1) * width];
            let flip = |s: &[u32]| s.iter().rev().copied().collect::<Vec<u32>>();
            out.extend(run(depth, &flip(&bottom[chip..])));
            out.extend(run(depth, &flip(&bottom[..chip])));
            out.extend(run(depth, &top[chip..]));
            out.extend(run(depth, &top[..chip]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize, max: u32) -> Vec<u32> {
        (0..n as u32)
            .map(|i| i.wrapping_mul(2654435761) % (max + 1))
            .collect()
    }

    #[test]
    fn runs_round_trip_and_follow_the_word_order() {
        // 1-bit: bit 0 of the last byte of a word is pixel 0.
        let mut word = [0u8; 8];
        word[7] = 1;
        let mut out = vec![0; 64];
        decode_run(1, &word, &mut out);
        assert_eq!(out[0], 1);
        assert_eq!(out[1..].iter().sum::<u32>(), 0);
        // 12-bit: the last two bytes are pixel 0, big-endian.
        let word = [0, 4, 0, 3, 0, 2, 0x0f, 0xff];
        let mut out = vec![0; 4];
        decode_run(12, &word, &mut out);
        assert_eq!(out, [0xfff, 2, 3, 4]);
        for (depth, max) in [(1, 1), (6, 63), (12, 4095)] {
            let values = pattern(256, max);
            let mut back = vec![0; 256];
            decode_run(depth, &encode::run(depth, &values), &mut back);
            assert_eq!(back, values, "depth {depth}");
        }
    }

    #[test]
    fn twenty_four_bit_frames_join_two_halves() {
        let values = pattern(256, (1 << 24) - 1);
        let high: Vec<u32> = values.iter().map(|v| v >> 12).collect();
        let low: Vec<u32> = values.iter().map(|v| v & 0xfff).collect();
        let mut bytes = encode::run(12, &high);
        bytes.extend(encode::run(12, &low));
        let mut back = vec![0; 256];
        decode_single(24, &bytes, &mut back);
        assert_eq!(back, values);
    }

    #[test]
    fn quad_frames_place_and_rotate_chips() {
        let chip = 64;
        for (depth, max) in [(1, 1), (6, 63), (12, 4095)] {
            let image = pattern(4 * chip * chip, max);
            let bytes = encode::quad(depth, chip, &image);
            assert_eq!(
                bytes.len() as u64,
                stored_bytes(depth, image.len() as u64).unwrap()
            );
            let mut back = vec![0; image.len()];
            decode_quad(depth, chip, &bytes, &mut back);
            assert_eq!(back, image, "depth {depth}");
        }
        // Independent check of the placement: the first RAW segment is chip 4, the bottom
        // right chip, rotated: its first pixel lands in the bottom-right corner.
        let chip = 8;
        let mut bytes = vec![0u8; 4 * chip * chip];
        bytes[7] = 42; // 6-bit: pixel 0 of the first word of segment 0
        let mut out = vec![0; 4 * chip * chip];
        decode_quad(6, chip, &bytes, &mut out);
        assert_eq!(out[4 * chip * chip - 1], 42);
    }
}
