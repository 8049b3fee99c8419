//! NumPy `.npy` for emio: read versions 1–3 (every emio dtype, either byte order, C or
//! Fortran order, memory-mapped) and write version 1/2 C-order little-endian files.
//! `.npy` stores no axes or metadata, so reading gives uncalibrated signal axes.

#![forbid(unsafe_code)]

pub mod header;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use emio_core::metadata::base_metadata;
use emio_core::output::stream_c_order;
use emio_core::source::c_strides;
use emio_core::{
    Axis, Dataset, Error, Format, Options, Progress, Result, Storage, StridedSource, Tree,
};

/// The `.npy` format.
#[derive(Debug, Default, Clone, Copy)]
pub struct Npy;

impl Npy {
    /// Parse a `.npy` held in `storage` (the whole file) into its dataset.
    pub fn dataset_from_storage(storage: Storage, file_name: &str) -> Result<Dataset> {
        let header = header::parse_header(&storage)?;
        let es = header.dtype.size();
        let strides = if header.fortran_order {
            let mut reversed = header.shape.clone();
            reversed.reverse();
            let mut s = c_strides(&reversed, es);
            s.reverse();
            s
        } else {
            c_strides(&header.shape, es)
        };
        let source = StridedSource::new(
            "npy",
            storage,
            header.data_offset,
            header.dtype,
            header.shape.clone(),
            strides,
            header.order,
        )?;
        let axes = header
            .shape
            .iter()
            .map(|_| Axis::default_for(false))
            .collect();
        let title = file_name
            .rsplit_once('.')
            .map(|(stem, _)| stem)
            .unwrap_or(file_name);
        let mut original = Tree::new();
        original.insert(
            "npy_version".into(),
            format!("{}.{}", header.version.0, header.version.1).into(),
        );
        original.insert("descr".into(), header.dtype.numpy_str().into());
        original.insert("fortran_order".into(), header.fortran_order.into());
        Dataset::new(
            Arc::new(source),
            axes,
            base_metadata(title, file_name, ""),
            original,
        )
    }
}

impl Format for Npy {
    fn name(&self) -> &'static str {
        "npy"
    }

    fn description(&self) -> &'static str {
        "NumPy array file (.npy v1-v3)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["npy"]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(header::MAGIC)
    }

    fn can_write(&self) -> bool {
        true
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let name = emio_core::metadata::file_name(path);
        Ok(vec![Self::dataset_from_storage(storage, &name)?])
    }

    fn write(
        &self,
        dataset: &Dataset,
        path: &Path,
        _options: &Options,
        progress: &dyn Progress,
    ) -> Result<()> {
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
}

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<std::sync::Arc<dyn Format>> {
    vec![std::sync::Arc::new(Npy)]
}
