//! Reading `.npy`: the header parsed, the data mapped as a strided source (C or Fortran
//! order, either byte order), uncalibrated axes and the header kept as original metadata.

use std::sync::Arc;

use emio_core::metadata::base_metadata;
use emio_core::source::c_strides;
use emio_core::{Axis, Dataset, Result, Storage, StridedSource, Tree};

use crate::{header, Npy};

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
