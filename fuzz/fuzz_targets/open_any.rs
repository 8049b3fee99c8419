//! Fuzz the path every user takes: `Registry::probe` (signature and extension) picks the
//! reader, which opens the file; every dataset is described and its first and last
//! regions read. Must never panic, hang or allocate more than the input justifies.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| emio_fuzz::exercise_any(data));
