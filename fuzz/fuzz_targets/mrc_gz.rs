//! Fuzz compressed MRC input (`.mrc.gz`, `.mrc.bz2`): the input, an MRC file, is gzip- or
//! bzip2-compressed (the first byte picks which: bzip2 for one value in four) and opened
//! with the MRC reader; the raw input is also opened under the other compressed name (a
//! broken stream when it starts with a gzip or bzip2 signature, else a plain MRC file: the
//! reader goes by content). Must never panic, hang or inflate beyond what the header
//! declares.
//!
//! The compression is this target's setup, not the code under test, and it ran
//! instrumented: it took over half of each run (bzip2 sorts its blocks; deflate searches
//! for matches). So gzip streams are written with stored (uncompressed) deflate blocks,
//! which the reader inflates the same way, and bzip2 compresses only the first
//! `BZIP2_BYTES` (the header and the start of what follows; the rest of the declared data
//! is then missing, which the reader must report). Even so, bzip2's block sort of 4 KiB
//! (instrumented, and falling back to its slow sort on the repetitive bytes of MRC
//! headers) was over half of every run of this target (44 runs/s, `perf record`), so it
//! now compresses 2 KiB, for a quarter of the inputs; the reader's bzip2 path is the same
//! whatever the stream holds.
#![no_main]

use std::io::Write;

use emio_fuzz::{open_and_read, put, scratch_dir};

/// Most bytes of the input put in the gzip stream (a header, an extended header, frames).
const GZIP_BYTES: usize = 64 << 10;
/// Most bytes of the input bzip2-compressed per run.
const BZIP2_BYTES: usize = 2 << 10;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir();
    let gzip = data.first().is_none_or(|b| b % 4 != 1);
    let compressed = if gzip {
        let head = &data[..data.len().min(GZIP_BYTES)];
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        e.write_all(head).expect("in-memory gzip");
        (e.finish().expect("in-memory gzip"), "mrc.gz")
    } else {
        let head = &data[..data.len().min(BZIP2_BYTES)];
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(head).expect("in-memory bzip2");
        (e.finish().expect("in-memory bzip2"), "mrc.bz2")
    };
    let raw = if gzip { "mrc.bz2" } else { "mrc.gz" };
    for (bytes, ext) in [(&compressed.0[..], compressed.1), (data, raw)] {
        let path = dir.join(format!("input.{ext}"));
        put(&path, bytes);
        open_and_read(&emio_mrc::Mrc, &path);
        let _ = std::fs::remove_file(&path);
    }
});
