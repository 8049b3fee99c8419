//! NanoMegas blockfile (BLO) for emio. NOT IMPLEMENTED YET: this crate is a placeholder that registers the
//! format as unreadable so the registry, CLI and conformance harness list it as pending.

use std::path::Path;
use std::sync::Arc;

use emio_core::{Dataset, Error, Format, Options, Result};

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Blo)]
}

/// The blo format (pending).
#[derive(Debug, Default, Clone, Copy)]
pub struct Blo;

impl Format for Blo {
    fn name(&self) -> &'static str {
        "blo"
    }

    fn description(&self) -> &'static str {
        "NanoMegas blockfile (BLO) (pending)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["blo"]
    }

    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }

    fn can_read(&self) -> bool {
        false
    }

    fn open(&self, _path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        Err(Error::unsupported("blo", "reading is not implemented yet"))
    }
}
