//! Fuzz the EER event-stream decoder on its own: the input is one strip, decoded with each
//! coding at each upsampling over a small frame. Must never panic or hang; every event
//! must land inside the frame.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
use emio_eer::codec::{decode_strip, Coding};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let codings = [
        Coding::new(65000, [None; 3]),
        Coding::new(65001, [None; 3]),
        Coding::new(65002, [Some(5), Some(3), Some(3)]),
    ];
    let (width, rows) = (61u64, 37u64);
    for coding in codings.into_iter().flatten() {
        for up in 0..=coding.max_upsampling_log2() {
            let _ = decode_strip(data, coding, width * rows, width, up, |r, c, h, v| {
                assert!(r < rows && c < width && h < 1 << up && v < 1 << up);
            });
        }
    }
});
