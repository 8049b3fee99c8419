//! EMD (HDF5) for emio: NCEM/Berkeley EMD (incl. prismatic and py4DSTEM/emdfile files) and
//! Thermo Fisher Velox EMD, read lazily through [`emio_h5`]; NCEM EMD v0.2 written
//! streaming.
//!
//! The flavour is detected from the file's own structure: a `Version` JSON dataset and a
//! `Data` group make a Velox file; a root `version_major` or groups carrying
//! `emd_group_type` make an NCEM/emdfile file.

#![forbid(unsafe_code)]

mod ncem;
mod stack;
mod units;
mod velox;
mod write;

pub use ncem::NcemReadOptions;
pub use velox::{SelectType, VeloxReadOptions};
pub use write::{Codec, WriteOptions};

use std::path::Path;
use std::sync::LazyLock;

use emio_core::{
    ContentMatch, Dataset, Error, Format, FormatInfo, OptionSet, OptionSpec, Options, Result,
    ResultExt, WriteRequest, Writes,
};
use emio_h5::H5File;

/// The EMD format.
#[derive(Debug, Default, Clone, Copy)]
pub struct Emd;

/// Every read option: the NCEM set, then the Velox set (an EMD file is parsed against
/// both, then read with the set of its variant).
static READ_OPTIONS: LazyLock<Vec<OptionSpec>> =
    LazyLock::new(|| [NcemReadOptions::SPECS, VeloxReadOptions::SPECS].concat());

impl Emd {
    fn read(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let f = H5File::open(path)?;
        // One listing of the root group, remembered whole, answers the flavour tests and
        // metadata lookups of root members below, most of which are not there (each
        // missing name walked the root's links again). Failing here is not final: those
        // lookups then go their own way and report what they find.
        let _ = f.members("/");
        let file_name = emio_core::metadata::file_name(path);
        if velox::is_velox(&f) {
            velox::read(&f, &file_name, options)
        } else if ncem::is_ncem(&f) {
            ncem::read(&f, &file_name, options)
        } else {
            Err(Error::unsupported(
                "emd",
                "an HDF5 file that is neither NCEM, emdfile, prismatic nor Velox EMD",
            ))
        }
    }
}

impl Format for Emd {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: "emd",
            description: "EMD (HDF5): NCEM/Berkeley, Thermo Fisher Velox, prismatic, py4DSTEM",
            extensions: &["emd", "h5", "hdf5"],
            read_options: &READ_OPTIONS,
            writes: Some(Writes::file(WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        emio_h5::sniff(head)
    }

    fn inspect(&self, path: &Path) -> ContentMatch {
        emio_h5::inspect(path, |f| velox::is_velox(f) || ncem::is_ncem(f))
    }

    fn validate(&self, path: &Path) -> Vec<emio_core::Problem> {
        emio_h5::validate::validate(path)
    }

    fn read_option_sets(&self) -> Vec<(&'static str, &'static [OptionSpec])> {
        vec![
            ("NCEM", NcemReadOptions::SPECS),
            ("Velox", VeloxReadOptions::SPECS),
        ]
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        self.read(path, options).with_path(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request).with_path(request.path)
    }
}
