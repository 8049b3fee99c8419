//! TVIPS camera recordings (`.tvips`) for emio: in-situ movies and 4D-STEM scans from
//! TVIPS CMOS cameras (EM-MENU's recorder), possibly split into `_000`, `_001`, ... parts.
//!
//! Reading follows RosettaSciIO's `tvips` reader: versions 1 (12-byte frame headers) and 2
//! (60-byte frame headers plus declared extra bytes), 8/16/32-bit frames, a time axis from
//! the frame timestamps or a scan from `scan_shape` (`"auto"`: from the frame headers'
//! rotator indices), `scan_start_frame`, `winding_scan_axis` and `hysteresis`; diffraction
//! or image calibration from the header; beam energy, magnification, current, defocus and
//! stage from the headers; the general header as original metadata. The frames are a lazy
//! strided memory map over the frame headers (a per-frame table for split files and
//! reordered scans). A gap in the numbered parts is an error naming the missing part.
//!
//! Writing follows rsciio's writer (`max_file_size` splitting, `version`,
//! `frame_header_extra_bytes`), frames streamed through core's pipeline with a header
//! before each; the parts are companions of the `_000` file the output is named after.

#![forbid(unsafe_code)]

mod header;
mod read;
pub mod scan;
mod write;

use std::path::Path;

use emio_core::{Dataset, Format, FormatInfo, OptionSet, Options, Result, WriteRequest, Writes};

pub use read::{later_parts, part_paths};

const FORMAT: &str = "tvips";

/// TVIPS `.tvips` recordings.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tvips;

impl Format for Tvips {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "TVIPS camera recording (in-situ movies, 4D-STEM), single or split files",
            extensions: &["tvips"],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::with_companions(WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        header::Header::parse(head).is_ok_and(|h| h.size() == header::HEADER_LEN as u32)
    }

    fn existing_companions(&self, target: &Path) -> Vec<std::path::PathBuf> {
        read::later_parts(target)
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
pub use write::{Version, WriteOptions};
