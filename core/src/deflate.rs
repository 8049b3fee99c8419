//! Deflate compression in zlib framing (RFC 1950) by libdeflate, one compressor per thread
//! kept for the thread's life: what the HDF5 writer's gzip filter and the TIFF writer's
//! Adobe Deflate strips produce. libdeflate compresses whole buffers (chunks and strips
//! are), 1.6-1.7 times as fast as zlib-rs at levels 4 and 6 on the benchmark's data, to
//! the same size at level 4 and up to 6% larger at level 6 (docs/performance.md, session
//! 43). Any zlib reader decodes the result.

use std::cell::RefCell;

use libdeflater::{CompressionLvl, Compressor};

thread_local! {
    /// This thread's compressor and its level, created on first use (a new level replaces
    /// it).
    static COMPRESSOR: RefCell<Option<(u32, Compressor)>> = const { RefCell::new(None) };
}

/// `input` compressed at `level` (zlib's levels: 0 stores, 1 is fastest, 9 smallest;
/// above 9 is taken as 9), with the zlib header and Adler-32 checksum.
pub fn zlib_compress(input: &[u8], level: u32) -> Vec<u8> {
    let level = level.min(9);
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some((kept, compressor)) if *kept == level => compressor,
            other => {
                let lvl = CompressionLvl::new(level as i32).expect("levels 0 to 9 are valid");
                &mut other.insert((level, Compressor::new(lvl))).1
            }
        };
        let mut out = vec![0; compressor.zlib_compress_bound(input.len())];
        let n = compressor
            .zlib_compress(input, &mut out)
            .expect("the output holds the compression bound");
        out.truncate(n);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every level's output is a zlib stream another implementation (flate2's default
    /// backend, miniz_oxide) restores exactly, for empty, tiny, repetitive
    /// and incompressible inputs; level 0 stores, higher levels shrink repetitive data.
    #[test]
    fn every_level_round_trips_through_another_decoder() {
        let mut noise = 0x2545_f491_4f6c_dd1du64;
        let random: Vec<u8> = (0..100_000)
            .map(|_| {
                noise ^= noise << 13;
                noise ^= noise >> 7;
                noise ^= noise << 17;
                noise as u8
            })
            .collect();
        let repetitive: Vec<u8> = (0..200_000u32).map(|i| (i % 251 / 7) as u8).collect();
        for input in [&[][..], &b"x"[..], &repetitive, &random] {
            for level in [0, 1, 4, 6, 9, 12] {
                let packed = zlib_compress(input, level);
                let mut restored = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::ZlibDecoder::new(&packed[..]),
                    &mut restored,
                )
                .unwrap();
                assert_eq!(restored, input, "level {level}");
                assert_eq!(packed[0] & 0x0f, 8, "zlib header: deflate");
                if input.len() > 1000 && level > 0 && input.as_ptr() == repetitive.as_ptr() {
                    assert!(packed.len() < input.len() / 10, "level {level}");
                }
                if level == 0 {
                    assert!(packed.len() >= input.len(), "level 0 stores");
                }
            }
        }
    }
}
