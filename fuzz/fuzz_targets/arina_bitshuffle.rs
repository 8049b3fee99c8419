//! Fuzz the bitshuffle chunk decoder (HDF5 filter 32008, as in ARINA data files) on its
//! own: the input is one stored chunk, decoded with and without LZ4 for several element
//! and chunk sizes. Must never panic; output is exactly the declared chunk size.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
use emio_h5::bitshuffle::decode;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for es in [1u32, 2, 4] {
        for compression in [0u32, 2] {
            let chunk = 4096 * es as usize + 3 * es as usize;
            if let Ok(out) = decode(data, &[0, 3, es, 0, compression], chunk, es as usize) {
                assert_eq!(out.len(), chunk);
            }
        }
    }
});
