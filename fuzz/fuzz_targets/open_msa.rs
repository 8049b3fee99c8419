//! Fuzz the EMSA/MSA reader: arbitrary bytes as a `.msa` file, the spectrum read; must
//! never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| emio_fuzz::exercise(&emio_msa::Msa, "msa", data));
