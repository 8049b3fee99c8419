//! Fuzz reader option parsing: the input's lines are `key=value` pairs (as `-o` gives
//! them), split and parsed against every format's reader and writer option specs. Must
//! never panic; bad options are errors that name the option.
#![no_main]
// Linked for its allocation cap (emio_fuzz::cap), which every target runs under.
extern crate emio_fuzz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let items: Vec<String> = text.lines().map(str::to_string).collect();
    let Ok(pairs) = emio::Options::split_pairs(&items) else {
        return;
    };
    for format in emio::registry().formats() {
        for specs in [format.read_options(), format.write_options()] {
            if let Ok(options) = emio::Options::parse(specs, &pairs) {
                for spec in specs {
                    let _ = (
                        options.flag(spec.name),
                        options.int(spec.name),
                        options.float(spec.name),
                        options.str(spec.name),
                        options.int_list(spec.name),
                    );
                }
            }
        }
    }
});
