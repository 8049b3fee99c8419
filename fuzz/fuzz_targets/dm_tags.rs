//! Fuzz the DM tag-file parser directly: header, nested groups, every type description,
//! the JSON conversion of the tag tree, and the image mapping over an in-memory file.
//! Must never panic, hang or allocate more than the input justifies.
#![no_main]

use emio_core::Storage;
use emio_dm::{original::Converter, read_storage, tags};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(file) = tags::parse(data) {
        let converter = Converter {
            bytes: data,
            little: file.little_endian,
        };
        let _ = converter.group(&file.root, "root");
    }
    if let Ok(datasets) = read_storage(Storage::owned(data.to_vec()), "fuzz.dm4") {
        datasets.iter().for_each(emio_fuzz::read_bounded);
    }
});
