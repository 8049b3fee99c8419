//! Fuzz compressed MRC input (`.mrc.gz`, `.mrc.bz2`): the input, an MRC file, is gzip- or
//! bzip2-compressed (first byte's parity picks which) and opened through the registry;
//! the raw input is also opened as a `.mrc.gz` and a `.mrc.bz2` (broken streams). Must
//! never panic, hang or inflate beyond what the header declares.
//!
//! Only the first `COMPRESSED_BYTES` of the input are compressed: compressing whole
//! corpus seeds (up to 512 KiB; bzip2 runs at about 10 MB/s) cost far more than reading
//! them and held this target to a few hundred runs a second.
#![no_main]

use std::io::Write;

use emio_fuzz::{open_and_read, put, scratch_dir};

/// Most bytes of the input compressed per run (a header, an extended header and frames).
const COMPRESSED_BYTES: usize = 64 << 10;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir();
    let head = &data[..data.len().min(COMPRESSED_BYTES)];
    let compressed = if data.first().is_some_and(|b| b % 2 == 0) {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(head).expect("in-memory gzip");
        (e.finish().expect("in-memory gzip"), "mrc.gz")
    } else {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(head).expect("in-memory bzip2");
        (e.finish().expect("in-memory bzip2"), "mrc.bz2")
    };
    for (bytes, ext) in [(&compressed.0[..], compressed.1), (data, "mrc.gz"), (data, "mrc.bz2")] {
        let path = dir.join(format!("input.{ext}"));
        put(&path, bytes);
        open_and_read("mrc", &path);
        let _ = std::fs::remove_file(&path);
    }
});
