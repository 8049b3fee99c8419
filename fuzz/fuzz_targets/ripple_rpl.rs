//! Fuzz the Ripple `.rpl` parser and layout checks: arbitrary bytes as Latin-1 text; must
//! never panic.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text: String = data.iter().map(|&b| char::from(b)).collect();
    if let Ok(info) = emio_ripple::rpl::parse(&text) {
        if let Ok(layout) = emio_ripple::rpl::Layout::from_info(&info) {
            let _ = layout.full_shape();
        }
    }
});
