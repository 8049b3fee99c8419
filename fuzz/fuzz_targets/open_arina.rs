//! Fuzz the ARINA reader: arbitrary bytes as a master file, opened beside copies of
//! testdata's data and scan-metadata files (so links that resolve lead into real
//! bitshuffle-LZ4, bitshuffle and LZ4 chunks), every dataset read; must never panic.
#![no_main]
use std::sync::Once;

static COMPANIONS: Once = Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    COMPANIONS.call_once(|| {
        let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/arina");
        for name in [
            "scan_data_000001.h5",
            "scan_data_000002.h5",
            "scan_data_000003.h5",
            "scan.h5",
        ] {
            let copy = emio_fuzz::scratch_dir().join(name);
            std::fs::copy(testdata.join(name), copy).expect("testdata companion");
        }
    });
    let path = emio_fuzz::scratch_dir().join("scan_master.h5");
    emio_fuzz::put(&path, data);
    emio_fuzz::open_and_read(&emio_arina::Arina, &path);
    let _ = std::fs::remove_file(&path);
});
