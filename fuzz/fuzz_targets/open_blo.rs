//! Fuzz the blo reader: arbitrary bytes as a file, every dataset read; must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| emio_fuzz::exercise(&emio_blo::Blo, "blo", data));
