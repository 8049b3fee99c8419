//! Fuzz the TIA series reader: arbitrary bytes as a `.ser` file, every element read; must
//! never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| emio_fuzz::exercise(&emio_tia::Tia, "ser", data));
