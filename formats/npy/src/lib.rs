//! NumPy `.npy` for emio: read versions 1–3 (every emio dtype, either byte order, C or
//! Fortran order, memory-mapped) and write version 1/2 C-order little-endian files.
//! `.npy` stores no axes or metadata, so reading gives uncalibrated signal axes.

#![forbid(unsafe_code)]

pub mod header;
mod read;
mod write;

use std::path::Path;

use emio_core::{Dataset, Format, Options, Progress, Result, Storage};

/// The `.npy` format.
#[derive(Debug, Default, Clone, Copy)]
pub struct Npy;

impl Format for Npy {
    fn name(&self) -> &'static str {
        "npy"
    }

    fn description(&self) -> &'static str {
        "NumPy array file (.npy v1-v3)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["npy"]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(header::MAGIC)
    }

    fn can_write(&self) -> bool {
        true
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let name = emio_core::metadata::file_name(path);
        Ok(vec![Self::dataset_from_storage(storage, &name)?])
    }

    fn write(
        &self,
        dataset: &Dataset,
        path: &Path,
        _options: &Options,
        progress: &dyn Progress,
    ) -> Result<()> {
        write::write(dataset, path, progress)
    }
}

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<std::sync::Arc<dyn Format>> {
    vec![std::sync::Arc::new(Npy)]
}
