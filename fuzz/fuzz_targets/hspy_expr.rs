//! Fuzz the expressions of HyperSpy's functional axes (parsed from `.hspy`/`.zspy` axis
//! groups): arbitrary text is parsed and evaluated; must never panic or recurse without
//! bound.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = emio_core::hyperspy::expr::parse(text) {
        let _ = expr.eval(&|name| match name {
            "x" => Some(1.5),
            "a" => Some(-2.0),
            _ => None,
        });
    }
});
