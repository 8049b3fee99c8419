//! Fuzz compressed MRC input (`.mrc.gz`, `.mrc.bz2`): the input, an MRC file, is put in a
//! gzip stream and opened with the MRC reader; the raw input is also opened as a bzip2
//! stream (`.mrc.bz2`; for one first-byte value in eight as a gzip stream instead): a
//! broken stream unless the input is one, else what it decompresses to is read as an MRC
//! file. Must never panic, hang or inflate beyond what the header declares.
//!
//! The compression is this target's setup, not the code under test, and it runs
//! instrumented like the rest: deflate's match search took over half of each run, so the
//! gzip streams are written with stored (uncompressed) deflate blocks, which the reader
//! inflates the same way. bzip2 has no stored blocks: compressing even 2 KiB of a quarter
//! of the inputs (block sort, Huffman tables) was 35% of the target's time, and over 60%
//! once the fuzzer had learnt that new inputs to the instrumented *compressor* were new
//! coverage; so bzip2 is not written here. The reader's path behind either codec is the
//! same (`Decompressed`), and the bzip2 decoder gets the raw inputs (the dictionary holds
//! the stream and block signatures).
#![no_main]

use std::io::Write;

use emio_fuzz::{open_and_read, put, scratch_dir};

/// Most bytes of the input put in the gzip stream (a header, an extended header, frames).
const GZIP_BYTES: usize = 64 << 10;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir();
    let head = &data[..data.len().min(GZIP_BYTES)];
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    e.write_all(head).expect("in-memory gzip");
    let gzip = e.finish().expect("in-memory gzip");
    let raw = if data.first().is_some_and(|b| b % 8 == 1) {
        "mrc.gz"
    } else {
        "mrc.bz2"
    };
    for (bytes, ext) in [(&gzip[..], "mrc.gz"), (data, raw)] {
        let path = dir.join(format!("input.{ext}"));
        put(&path, bytes);
        open_and_read(&emio_mrc::Mrc, &path);
        let _ = std::fs::remove_file(&path);
    }
});
