//! Fuzz the MRC structure parsers directly: main header (both byte orders, fallbacks),
//! extended headers (FEI1/FEI2, SERI, AGAR, CCP4), and the Direct Electron companions
//! (info text, scan coordinates, scan layout). Must never panic or over-allocate.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;

use emio_mrc::{de, exthdr, header::Header};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Header::parse(data, None) {
        let ext = data.get(1024..).unwrap_or(&[]);
        let ext = &ext[..ext.len().min(h.nsymbt.max(0) as usize)];
        let e = exthdr::interpret(&h, ext, h.nz.max(0) as usize);
        if let Some(fei) = &e.fei {
            let mut md = emio_core::metadata::Tree::new();
            exthdr::fei_metadata(fei, &mut md);
        }
        let _ = h.to_tree();
        assert_eq!(
            Header::parse(&h.encode(), Some(h.order)).map(|p| p.nx).ok(),
            Some(h.nx)
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let info = de::parse_info(text);
        let scan = de::parse_scan(text).ok();
        let frames = u64::from(data.first().copied().unwrap_or(0));
        let _ = de::layout(&info, scan.as_deref(), frames, None);
    }
});
