//! Fuzz the DM tag-file parser directly over an in-memory file: header, nested groups,
//! every type description, the JSON conversion of the tag tree and the image mapping
//! (`read_storage` parses and converts the whole tree before it looks for images; a
//! separate parse and conversion before it did the same work twice). Must never panic,
//! hang or allocate more than the input justifies.
#![no_main]

use emio_core::Storage;
use emio_dm::read_storage;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(datasets) = read_storage(Storage::owned(data.to_vec()), "fuzz.dm4") {
        datasets.iter().for_each(emio_fuzz::read_bounded);
    }
});
