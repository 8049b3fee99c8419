//! HyperSpy's HDF5 format (`.hspy`, and `.hdf5` from HyperSpy < 1.6) for emio, read lazily
//! through [`emio_h5`].
//!
//! A file holds one group per signal under `Experiments/<title>`: a `data` dataset, one
//! `axis-<i>` group per dimension, and `metadata` / `original_metadata` trees written
//! with HyperSpy's dict-to-group conventions ([`tree`]). Every file format version HyperSpy
//! has written (1.0 to 3.3) is read; the metadata of older versions is moved to today's
//! places as rsciio does ([`migrate`]).
//!
//! Ragged signals (HyperSpy's object arrays of per-position arrays, `attributes/ragged`,
//! stored as HDF5 variable-length data) are read as ragged datasets
//! ([`emio_core::ragged`]; [`ragged`]).
//!
//! Learning results (`learning_results`, HyperSpy 1.x's `peak_learning_results`) are read
//! with each signal and written back ([`emio_core::hyperspy::learning`]), and so are the
//! models fitted to a signal (`Analysis/models/<name>`, kept as stored: groups, attributes
//! and arrays such as the parameter maps, records of `values`, `std`, `is_set`;
//! [`emio_core::hyperspy::models`]); a model emio cannot keep is named in a warning.
//!
//! Writing ([`mod@write`]) produces file format 3.3 as rsciio does, with its `compression`
//! (gzip, lzf, none), `chunks` and `write_dataset` options.

#![forbid(unsafe_code)]

pub mod migrate;
pub mod ragged;
pub mod read;
pub mod tree;
pub mod write;

use std::path::Path;

use emio_core::{
    ContentMatch, Dataset, Format, FormatInfo, OptionSet, Options, Result, ResultExt, WriteRequest,
    Writes,
};

/// HyperSpy's HDF5 format.
#[derive(Debug, Default, Clone, Copy)]
pub struct Hspy;

impl Format for Hspy {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: "hspy",
            description: "HyperSpy HDF5 (.hspy, .hdf5), file format versions 1.0-3.x",
            extensions: &["hspy", "hdf5"],
            read_options: &[],
            writes: Some(Writes::file(write::WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        emio_h5::sniff(head)
    }

    fn inspect(&self, path: &Path) -> ContentMatch {
        emio_h5::inspect(path, read::is_hspy)
    }

    fn validate(&self, path: &Path) -> Vec<emio_core::Problem> {
        emio_h5::validate::validate(path)
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        read::read(path).with_path(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request).with_path(request.path)
    }
}
