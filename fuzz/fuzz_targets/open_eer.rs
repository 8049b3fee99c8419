//! Fuzz the EER reader: arbitrary bytes as a `.eer` file, every dataset read (bounded);
//! must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| emio_fuzz::exercise(&emio_eer::Eer, "eer", data));
