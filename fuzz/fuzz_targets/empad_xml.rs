//! Fuzz the EMPAD `.xml` description parser (core's XML reader and the mapping of the
//! scan shape and calibrations): arbitrary bytes as text; must never panic.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = emio_empad::describe(&String::from_utf8_lossy(data));
});
