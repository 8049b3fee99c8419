//! Writing `.npy`: a version 1/2 header, then the values in C order, little-endian, each
//! region written at its place in the file through core's write pipeline
//! ([`COrderFile::write`]).

use std::fs::File;
use std::path::Path;

use emio_core::positioned::{write_all_at, COrderFile};
use emio_core::{ByteOrder, Dataset, Error, Progress, Result};

use crate::header;

/// Write `dataset` as a `.npy` file at `path`.
pub(crate) fn write(dataset: &Dataset, path: &Path, progress: &dyn Progress) -> Result<()> {
    let io = |e| Error::io(path, e);
    let file = File::create(path).map_err(io)?;
    let header = header::encode_header(dataset.dtype(), dataset.shape());
    write_all_at(&file, &header, 0).map_err(io)?;
    let at = header.len() as u64;
    COrderFile::new(&file, path, at, dataset.shape()).write(
        dataset,
        ByteOrder::Little,
        progress,
    )?;
    file.sync_all().map_err(io)
}
