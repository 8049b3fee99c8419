//! Fuzz the DM5 reader: arbitrary bytes as an HDF5 file holding a DM tag tree, every
//! dataset read; must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| emio_fuzz::exercise(&emio_dm::Dm5, "dm5", data));
