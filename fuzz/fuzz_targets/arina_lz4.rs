//! Fuzz the HDF5 LZ4 chunk decoder (filter 32004) on its own: the input is one stored
//! chunk. Must never panic; output is exactly the declared chunk size.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
use emio_h5::filters::lz4_decompress;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for chunk in [0usize, 1000, 65536] {
        if let Ok(out) = lz4_decompress(data, chunk) {
            assert_eq!(out.len(), chunk);
        }
    }
});
