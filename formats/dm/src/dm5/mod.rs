//! Gatan DM5: the DigitalMicrograph tag tree stored in HDF5 (groups for tag groups,
//! attributes for data tags, the pixels as the dataset `ImageList/[i]/ImageData/Data`),
//! written by GMS 3.6 and later and by Nion Swift. Read through the DM3/DM4 mapping
//! ([`read`]); written with the DM4 writer's tag tree ([`mod@write`]).

pub mod read;
pub mod write;

use std::path::Path;

use emio_core::{
    ContentMatch, Dataset, Format, FormatInfo, Options, Result, ResultExt, WriteRequest, Writes,
};

/// Registry name, also the format of DM5 errors.
const FORMAT: &str = "dm5";

/// Gatan DM5 files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dm5;

impl Format for Dm5 {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "Gatan DigitalMicrograph DM5 (HDF5)",
            extensions: &["dm5"],
            read_options: &[],
            writes: Some(Writes::file(&[])),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        emio_h5::sniff(head)
    }

    fn inspect(&self, path: &Path) -> ContentMatch {
        emio_h5::inspect(path, read::is_dm5)
    }

    fn validate(&self, path: &Path) -> Vec<emio_core::Problem> {
        emio_h5::validate::validate(path)
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        read::read(path).with_path(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write_dm5(request.dataset, request.path, request.progress)
    }
}
