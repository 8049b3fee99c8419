//! Zarr v3 array store for emio. NOT IMPLEMENTED YET: this crate is a placeholder that registers the
//! format as unreadable so the registry, CLI and conformance harness list it as pending.

use std::path::Path;
use std::sync::Arc;

use emio_core::{Dataset, Error, Format, Options, Result};

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Zarr)]
}

/// The zarr format (pending).
#[derive(Debug, Default, Clone, Copy)]
pub struct Zarr;

impl Format for Zarr {
    fn name(&self) -> &'static str {
        "zarr"
    }

    fn description(&self) -> &'static str {
        "Zarr v3 array store (pending)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["zarr"]
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }

    fn can_read(&self) -> bool {
        false
    }

    fn open(&self, _path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        Err(Error::unsupported("zarr", "reading is not implemented yet"))
    }
}
