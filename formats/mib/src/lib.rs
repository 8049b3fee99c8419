//! Quantum Detectors Merlin MIB for emio. NOT IMPLEMENTED YET: this crate is a placeholder that registers the
//! format as unreadable so the registry, CLI and conformance harness list it as pending.

use std::path::Path;
use std::sync::Arc;

use emio_core::{Dataset, Error, Format, Options, Result};

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Mib)]
}

/// The mib format (pending).
#[derive(Debug, Default, Clone, Copy)]
pub struct Mib;

impl Format for Mib {
    fn name(&self) -> &'static str {
        "mib"
    }

    fn description(&self) -> &'static str {
        "Quantum Detectors Merlin MIB (pending)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["mib"]
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }

    fn can_read(&self) -> bool {
        false
    }

    fn open(&self, _path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        Err(Error::unsupported("mib", "reading is not implemented yet"))
    }
}
