//! Writing `.npy`: a version 1/2 header, then the values streamed in C order,
//! little-endian, through core's write pipeline.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use emio_core::output::stream_c_order;
use emio_core::{Dataset, Error, Progress, Result};

use crate::header;

/// Write `dataset` as a `.npy` file at `path`.
pub(crate) fn write(dataset: &Dataset, path: &Path, progress: &dyn Progress) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let io = |e| Error::io(path, e);
    out.write_all(&header::encode_header(dataset.dtype(), dataset.shape()))
        .map_err(io)?;
    let unit = dataset.dtype().swap_unit();
    stream_c_order(dataset, progress, |_, bytes| {
        if cfg!(target_endian = "big") {
            let mut le = bytes.to_vec();
            emio_core::dtype::swap_bytes_in_place(&mut le, unit);
            out.write_all(&le).map_err(io)
        } else {
            out.write_all(bytes).map_err(io)
        }
    })?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}
