//! Fuzz emio's Blosc frame decoder (Zarr chunks) on its own: the input is one stored
//! frame, decoded into a buffer of the size its header declares (at most 1 MiB). Must
//! never panic or write past the buffer.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
use emio_zarr::blosc::decode_into;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let declared = data
        .get(4..8)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let mut out = vec![0u8; declared.min(1 << 20)];
    let _ = decode_into(data, &mut out);
});
