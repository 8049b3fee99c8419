//! Gatan DigitalMicrograph DM3/DM4 for emio. NOT IMPLEMENTED YET: this crate is a placeholder that registers the
//! format as unreadable so the registry, CLI and conformance harness list it as pending.

use std::path::Path;
use std::sync::Arc;

use emio_core::{Dataset, Error, Format, Options, Result};

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Dm)]
}

/// The dm format (pending).
#[derive(Debug, Default, Clone, Copy)]
pub struct Dm;

impl Format for Dm {
    fn name(&self) -> &'static str {
        "dm"
    }

    fn description(&self) -> &'static str {
        "Gatan DigitalMicrograph DM3/DM4 (pending)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["dm"]
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }

    fn can_read(&self) -> bool {
        false
    }

    fn open(&self, _path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        Err(Error::unsupported("dm", "reading is not implemented yet"))
    }
}
