//! Fuzz the Zarr v3 and HyperSpy zspy (Zarr v2) metadata parsers: the input's parts (split
//! at `emio_fuzz::SEPARATOR`) become the metadata documents of a store (v3: the group's
//! and the array's `zarr.json`; zspy: the root `.zattrs`, the experiment's `.zattrs` and
//! the data's `.zarray`, then, from a fifth part on, the learning results' `.zattrs` and
//! an array's `.zarray`), which is then opened and read (bounded). The first byte picks
//! the layout.
#![no_main]

use emio_fuzz::{open_and_read, parts, put, scratch_dir};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let docs = parts(rest);
    let doc = |i: usize| docs.get(i).copied().unwrap_or(b"{}");
    let root = scratch_dir().join(if which % 2 == 0 { "s.zarr" } else { "s.zspy" });
    let _ = std::fs::remove_dir_all(&root);
    if which % 2 == 0 {
        put(&root.join("zarr.json"), doc(0));
        put(&root.join("data/zarr.json"), doc(1));
        open_and_read(&emio_zarr::Zarr, &root);
    } else {
        put(&root.join(".zgroup"), br#"{"zarr_format": 2}"#);
        put(&root.join(".zattrs"), doc(0));
        let experiment = root.join("Experiments/x");
        put(&experiment.join(".zgroup"), br#"{"zarr_format": 2}"#);
        put(&experiment.join(".zattrs"), doc(1));
        put(&experiment.join("data/.zarray"), doc(2));
        put(&experiment.join("axis-0/.zgroup"), br#"{"zarr_format": 2}"#);
        put(&experiment.join("axis-0/.zattrs"), doc(3));
        if docs.len() > 4 {
            // Learning results: the group's attributes and one array's metadata.
            let results = experiment.join("learning_results");
            put(&results.join(".zgroup"), br#"{"zarr_format": 2}"#);
            put(&results.join(".zattrs"), doc(4));
            put(&results.join("factors/.zarray"), doc(5));
        }
        open_and_read(&emio_zarr::Zspy, &root);
    }
    let _ = std::fs::remove_dir_all(&root);
});
