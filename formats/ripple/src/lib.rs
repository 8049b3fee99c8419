//! Lispix Ripple for emio: a `.rpl` text description (`key<TAB>value` lines) and a `.raw`
//! file of values, as Lispix, DigitalMicrograph, Oxford INCA and HyperSpy exchange spectrum
//! images and image stacks.
//!
//! Reading follows RosettaSciIO's `ripple` reader: every data type (signed/unsigned 1–8
//! bytes, float 4/8), byte order (`dont-care` is the machine's), `record-by` `vector`
//! (height × width × depth, spectra contiguous), `image` (depth × height × width) or
//! `dont-care` (one image), size-1 dimensions dropped, calibrations, names and units of each
//! dimension, HyperSpy metadata (beam energy, EDS/EELS detector, stage tilt), the typed
//! `.rpl` keys as original metadata, INCA's `(MLX::…)` dialect, and the `rpl_info` option
//! (the keys given directly, as a JSON object, for a `.raw` without `.rpl`). The `.raw` is
//! memory-mapped; nothing is read at open.
//!
//! Writing produces the `.rpl` (sorted keys, as rsciio writes) and its `.raw` companion,
//! streamed through core's pipeline: spectra (one signal axis, last) as `vector`, image
//! stacks as `image`, single images as `dont-care`; every integer type and float32/64, in
//! the `byte_order` chosen.

#![forbid(unsafe_code)]

mod read;
pub mod rpl;
mod write;

use std::path::Path;

use emio_core::{Dataset, Format, FormatInfo, OptionSet, Options, Result, WriteRequest, Writes};

pub use read::raw_path;

const FORMAT: &str = "ripple";

/// Ripple `.rpl` + `.raw`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ripple;

emio_core::option_choice! {
    /// Byte order of the `.raw` the Ripple writer writes (its `byte_order` option).
    pub enum RawByteOrder {
        LittleEndian = "little-endian": "least significant byte first",
        BigEndian = "big-endian": "most significant byte first",
    }
}

/// Whether `head` looks like a `.rpl` description: text with a `record-by` key line and a
/// data type or length key line (keys start their line and are followed by whitespace, so
/// a JSON or XML document quoting those words is no `.rpl`).
fn looks_like_rpl(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    let text = String::from_utf8_lossy(head).to_lowercase();
    let has_key = |key: &str| {
        text.lines().any(|line| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.starts_with([' ', '\t']))
        })
    };
    has_key("record-by") && (has_key("data-type") || has_key("data-length"))
}

impl Format for Ripple {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "Lispix Ripple (.rpl description + .raw values)",
            extensions: &["rpl"],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::with_companions(WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        looks_like_rpl(head)
    }

    fn existing_companions(&self, target: &Path) -> Vec<std::path::PathBuf> {
        emio_core::output::existing_siblings(target, &["raw", "RAW"])
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        read::open(path, options)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request)
    }
}

#[cfg(test)]
mod tests;

pub use read::ReadOptions;
pub use write::WriteOptions;

#[cfg(test)]
mod sniff_tests {
    use super::looks_like_rpl;

    #[test]
    fn key_lines_are_sniffed_and_documents_quoting_them_are_not() {
        assert!(looks_like_rpl(
            b"key\tvalue\nrecord-by\tvector\ndata-type\tsigned\n"
        ));
        assert!(looks_like_rpl(b"  RECORD-BY   image\r\ndata-length 2\r\n"));
        assert!(!looks_like_rpl(
            b"{\"original_metadata\": {\"record-by\": \"vector\", \"data-type\": \"signed\"}}"
        ));
        assert!(!looks_like_rpl(b"record-by\tvector\n"));
    }
}
