//! EMPAD (Electron Microscope Pixel Array Detector) for emio: an `.xml` description plus a
//! `.raw` file of 128×130 little-endian float32 frames, the last two rows of each frame
//! being detector metadata.
//!
//! Reading follows RosettaSciIO's `empad` reader: the scan shape from `pix_x`/`pix_y`
//! (`series_count` for stacks, or the `scan_x<N>_y<M>.raw` name of newer files), navigation
//! calibration from the recorded field of view (in the SI prefix pint's `to_compact`
//! picks), diffraction calibration from `calibrated_pixelsize` or the `q_calibration`
//! option, size-1 dimensions dropped, and the whole `.xml` as original metadata (dotted tags
//! nested, as rsciio's tree has them). The frames are a strided memory map stepping over
//! the two metadata rows: nothing is copied at open. `remove_nans` replaces NaN and ±∞ as
//! `numpy.nan_to_num` does, region by region.
//!
//! Writing produces the `.xml` (read by rsciio and LiberTEM: `pix_x`/`pix_y` and
//! `scan_parameters mode="acquire"`, or `series_count`/`count` for stacks) and its `.raw`
//! companion, frames streamed through core's pipeline with two zero rows after each.
//!
//! The `.xml` extension is generic, so files are recognised by content: an XML document
//! whose root is `<root>` and names a `<raw_file>`.

#![forbid(unsafe_code)]

mod read;
mod write;

use std::path::Path;

use emio_core::{Dataset, Format, FormatInfo, OptionSet, Options, Result, WriteRequest, Writes};

pub use read::{compact_length, describe, Description};

const FORMAT: &str = "empad";
/// Side of a (square) EMPAD frame in pixels.
pub const FRAME_SIDE: u64 = 128;
/// Rows stored per frame in the `.raw` file (128 pixel rows and 2 metadata rows).
pub const RAW_ROWS: u64 = 130;

/// EMPAD `.xml` + `.raw`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Empad;

/// Whether `head` (the first bytes of a file) looks like an EMPAD description.
fn looks_like_empad(head: &[u8]) -> bool {
    // Most files probed are binary: the head's first characters (as its lossy decoding
    // gives them) settle whether an element can come first, without decoding the rest.
    let first = head
        .utf8_chunks()
        .flat_map(|chunk| {
            let invalid = (!chunk.invalid().is_empty()).then_some(char::REPLACEMENT_CHARACTER);
            chunk.valid().chars().chain(invalid)
        })
        .skip_while(|&c| c == '\u{feff}')
        .find(|c| !c.is_whitespace());
    if first != Some('<') {
        return false;
    }
    let text = String::from_utf8_lossy(head);
    let body = text.trim_start_matches('\u{feff}').trim_start();
    // Skip an XML declaration and comments before the root element.
    let mut rest = body;
    while rest.starts_with("<?") || rest.starts_with("<!--") {
        let end = if rest.starts_with("<?") { "?>" } else { "-->" };
        match rest.find(end) {
            Some(i) => rest = rest[i + end.len()..].trim_start(),
            None => return false,
        }
    }
    (rest.starts_with("<root>") || rest.starts_with("<root "))
        && (text.contains("<raw_file") || text.contains("<pix_x>"))
}

impl Format for Empad {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "EMPAD 4D-STEM (.xml description + .raw float32 frames)",
            extensions: &["xml"],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::with_companions(&[])),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        looks_like_empad(head)
    }

    fn existing_companions(&self, target: &Path) -> Vec<std::path::PathBuf> {
        emio_core::output::existing_siblings(target, &["raw"])
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        read::open(path, options)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request.dataset, request.path, request.progress)
    }
}

#[cfg(test)]
mod tests;

pub use read::ReadOptions;
