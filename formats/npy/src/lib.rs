//! NumPy `.npy` for emio: read versions 1–3 (every emio dtype, either byte order, C or
//! Fortran order, memory-mapped) and write version 1/2 C-order little-endian files.
//! `.npy` stores no axes or metadata, so reading gives uncalibrated signal axes.

#![forbid(unsafe_code)]

pub mod header;
mod read;
mod write;

use std::path::Path;

use emio_core::{Dataset, Format, FormatInfo, Options, Result, Storage, WriteRequest, Writes};

/// The `.npy` format.
#[derive(Debug, Default, Clone, Copy)]
pub struct Npy;

impl Format for Npy {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: "npy",
            description: "NumPy array file (.npy v1-v3)",
            extensions: &["npy"],
            read_options: &[],
            writes: Some(Writes::file(&[])),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(header::MAGIC)
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let name = emio_core::metadata::file_name(path);
        Ok(vec![Self::dataset_from_storage(storage, &name)?])
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request.dataset, request.path, request.progress)
    }
}
