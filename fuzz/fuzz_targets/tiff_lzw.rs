//! Fuzz TIFF's LZW decoding on its own against `weezl`'s streaming decoder: the first two
//! bytes are the size of the strip, the rest its stream. emio decodes whole streams itself
//! and leaves the rest to weezl; either way it must give what weezl gives (every byte up
//! to the strip's size, or up to the damage), except past two clear codes in a row, which
//! weezl stops at and emio reads on as libtiff does; and never panic or hang.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
use emio_tiff::codec::decompress_into;
use emio_tiff::page::compression::LZW;

/// weezl's reading of `stream` into `out`, as TIFF readers take it: the bytes written
/// before the stream ends, breaks off or fills `out` (`None` for a stream that breaks off
/// before any output), and whether it met the end code or filled `out`.
fn streamed(mut stream: &[u8], out: &mut [u8]) -> (Option<usize>, bool) {
    let mut d = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let mut written = 0;
    while written < out.len() {
        let r = d.decode_bytes(stream, &mut out[written..]);
        stream = &stream[r.consumed_in..];
        written += r.consumed_out;
        match r.status {
            Ok(weezl::LzwStatus::Done) => return (Some(written), true),
            Ok(_) if r.consumed_in > 0 || r.consumed_out > 0 => {}
            Ok(_) => return (Some(written), false),
            Err(_) if written == 0 => return (None, false),
            Err(_) => return (Some(written), false),
        }
    }
    (Some(written), true)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((size, stream)) = data.split_first_chunk::<2>() else {
        return;
    };
    let size = usize::from(u16::from_le_bytes(*size));
    let mut ours = vec![0u8; size];
    let mut theirs = vec![0u8; size];
    let got = decompress_into(LZW, stream, &mut ours, 0).ok();
    let (want, whole) = streamed(stream, &mut theirs);
    assert_eq!(got.is_some(), want.is_some());
    if let (Some(got), Some(want)) = (got, want) {
        if whole {
            assert_eq!(got, want);
        }
        assert!(got >= want);
        assert_eq!(ours[..want], theirs[..want]);
    }
});
