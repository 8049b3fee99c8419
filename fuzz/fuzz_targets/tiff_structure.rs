//! Fuzz the TIFF structure parser and decoders directly: header, IFD chain, every page's
//! validation, all tags decoded into a tree, and the first strips/tiles of every page
//! decoded (bounded, for speed; also the input's first 4 KiB through each codec: the
//! whole input, up to 512 KiB, made the codecs a third of every run). Must never panic,
//! hang or over-allocate.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
use emio_tiff::{codec, ifd, meta, page};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let head = &data[..data.len().min(4096)];
    for code in [1u16, 5, 8, 32773, 50000] {
        let _ = codec::decompress(code, head, 1 << 16, 0);
    }
    let _ = codec::decode_jpeg(head, None, 6, 1 << 16, 0);
    let Ok(header) = ifd::parse_header(data) else {
        return;
    };
    let Ok((ifds, _)) = ifd::parse_chain(data, &header) else {
        return;
    };
    let r = ifd::Reader {
        bytes: data,
        order: header.order,
    };
    // A metadata budget of 64 KiB, whatever the input's size (the reader gives a file 8x its
    // size, at least 1 MiB): a budget that large let each run build and drop up to ~200,000
    // JSON numbers (byte lists of 500 KB inputs; half of the target's time), work that adds
    // no paths, while a small one takes the over-budget path (skip, say so) more often.
    let budget = emio_core::budget::MetadataBudget::with_limit(ifd::FORMAT, 64 << 10);
    for (i, d) in ifds.iter().enumerate().take(8) {
        let _ = meta::tags_tree(&r, d, &header, 0, &budget, &mut Vec::new());
        let Ok(p) = page::Page::parse(&r, d, i) else {
            continue;
        };
        let px = p.pixel_bytes() as u64;
        let block = p
            .block_height
            .saturating_mul(p.block_width)
            .saturating_mul(px);
        if block > 1 << 20 {
            continue;
        }
        let mut out = vec![0u8; block as usize];
        for row in 0..p.blocks_down().min(2) {
            for col in 0..p.blocks_across().min(2) {
                let _ = p.decode_block(data, row, col, &mut out);
            }
        }
    }
});
