//! Fuzz the TVIPS reader: arbitrary bytes as a recording, every dataset read (bounded),
//! and the rotator-index scan reconstruction on the same bytes; must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    emio_fuzz::exercise(&emio_tvips::Tvips, "tvips", data);
    let rotidx: Vec<u32> = data
        .chunks_exact(4)
        .take(4096)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) % 4096)
        .collect();
    if let Ok(mut grid) = emio_tvips::scan::auto(&rotidx) {
        let _ = grid.wind(
            if data.len() % 2 == 0 { "x" } else { "y" },
            data.len() as i64 % 7 - 3,
        );
    }
});
