//! EMD (HDF5): NCEM, Velox, prismatic, py4DSTEM for emio. NOT IMPLEMENTED YET: this crate is a placeholder that registers the
//! format as unreadable so the registry, CLI and conformance harness list it as pending.

use std::path::Path;
use std::sync::Arc;

use emio_core::{Dataset, Error, Format, Options, Result};

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Emd)]
}

/// The emd format (pending).
#[derive(Debug, Default, Clone, Copy)]
pub struct Emd;

impl Format for Emd {
    fn name(&self) -> &'static str {
        "emd"
    }

    fn description(&self) -> &'static str {
        "EMD (HDF5): NCEM, Velox, prismatic, py4DSTEM (pending)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["emd"]
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }

    fn can_read(&self) -> bool {
        false
    }

    fn open(&self, _path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        Err(Error::unsupported("emd", "reading is not implemented yet"))
    }
}
