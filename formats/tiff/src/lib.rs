//! TIFF / BigTIFF with microscope metadata for emio.
//!
//! emio parses TIFF with its own IFD parser (`ifd`, over `byteorder`-style checked reads)
//! rather than the `tiff` crate, because the features need what that crate does not expose:
//! - every tag, including arbitrary private and vendor tags (FEI 34682, Zeiss 34118,
//!   Olympus SIS 33560, DigitalMicrograph 65003–65027, ...), with its raw type and offset so
//!   vendor blocks stored elsewhere in the file can be parsed;
//! - lazy, random access to single strips and tiles of any page (decoded per chunk through
//!   [`emio_core::ChunkedSource`]) and the byte offsets of uncompressed pages so they can be
//!   memory-mapped whole;
//! - writing BigTIFF, private tags and streamed pages with offsets patched afterwards.
//!
//! Modules: [`ifd`] (header, IFD chain, typed values), [`page`] (page geometry and
//! strip/tile decoding: none, PackBits, LZW, Deflate, Zstd, horizontal and floating-point
//! predictors, 1–64-bit samples), `series` (pages grouped into datasets, lazy sources),
//! [`meta`] (original metadata and vendor dialects), `write` (2-D, N-D, RGB(A), every
//! numeric dtype; ImageJ hyperstacks or shaped page series; BigTIFF, compression, tiling).

#![forbid(unsafe_code)]

pub mod codec;
pub mod ifd;
mod lzw;
pub mod meta;
pub mod page;
mod predictor;
mod read;
mod series;
mod stream;
pub mod tags;
mod validate;
mod write;
mod xml;

pub use read::ReadOptions;

use std::path::Path;

use emio_core::{
    Dataset, Format, FormatInfo, OptionSet, Options, Problem, Result, ResultExt, Storage,
    WriteRequest, Writes,
};

/// TIFF and BigTIFF.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tiff;

impl Format for Tiff {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: "tiff",
            description: "TIFF / BigTIFF with microscope metadata (FEI, Zeiss, Olympus SIS, Hamamatsu, ImageJ, DM)",
            extensions: &["tif", "tiff", "btf", "tf8", "tf2"],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::file(write::WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        matches!(
            head.get(..4),
            Some(b"II*\0") | Some(b"MM\0*") | Some(b"II+\0") | Some(b"MM\0+")
        )
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let name = emio_core::metadata::file_name(path);
        Self::datasets_from_storage(storage, &name, options).with_path(path)
    }

    fn validate(&self, path: &Path) -> Vec<Problem> {
        validate::validate(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request).with_path(request.path)
    }
}
