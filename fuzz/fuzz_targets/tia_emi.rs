//! Fuzz the `.emi` XML side of TIA: `<ObjectInfo>` blocks found in arbitrary bytes and each
//! parsed into its metadata tree and mapped; must never panic.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for block in emio_tia::emi::object_blocks(data) {
        if let Ok(tree) = emio_tia::emi::object_tree(&block) {
            if let Some(emio_core::serde_json::Value::Object(info)) = tree.get("ObjectInfo") {
                let mut metadata = emio_core::metadata::Tree::new();
                emio_tia::mapping::apply(info, &mut metadata);
            }
        }
    }
});
