//! emio: read, write and convert electron-microscopy files.
//!
//! ```no_run
//! let datasets = emio::open("scan.dm4")?;
//! let ds = &datasets[0];
//! println!("{} {:?} {}", ds.title(), ds.shape(), ds.dtype());
//! let frame = ds.read_region(&[0, 0, 0], &[1, 256, 256])?; // lazy: reads one frame
//! # Ok::<(), emio::Error>(())
//! ```
//!
//! Every format is a cargo feature (all on by default); [`registry()`] holds the enabled ones.
//! This crate re-exports the dataset model ([`Dataset`], [`Axis`], [`DType`], [`Tree`],
//! [`ArraySource`] and the sources), the registry and the [`Format`] interface, and the
//! errors; the engine, copy kernels and other building blocks of the formats stay in
//! `emio-core`.
//!
//! Beyond reading and writing: [`stats`] (streamed statistics), [`reduce`] (sums over
//! navigation or signal axes), [`values`] (one number per element of any dtype),
//! [`listing`] (folder overviews), [`check`] (validation that explains),
//! [`batch`] (many files converted into one folder), [`preview`] (PNG pictures),
//! [`json`] (the command-line tool's JSON documents).

use std::path::Path;
use std::sync::Arc;

pub mod batch;
pub mod check;
pub mod json;
pub mod listing;
mod pool;
#[cfg(feature = "preview")]
pub mod preview;
pub mod reduce;
pub mod stats;
pub use emio_core::values;

// The dataset model: datasets, axes, dtypes, metadata trees and the lazy pixel sources
// a dataset reads from.
pub use emio_core::hyperspy::models;
pub use emio_core::hyperspy::LearningResults;
pub use emio_core::metadata;
pub use emio_core::ragged;
pub use emio_core::source::Threads;
pub use emio_core::{
    ArrayData, ArraySource, Axis, AxisKind, ByteOrder, ChunkDecoder, ChunkedSource, Chunks, DType,
    Dataset, Region, SignalPackage, Storage, StoredChunks, StridedSource, StridedView, Tree,
};
// The registry and the interface every format implements.
pub use emio_core::{
    CancelFlag, ChoiceWord, ContentMatch, Format, FormatInfo, NoProgress, OptionKind, OptionSet,
    OptionSpec, OptionValue, Options, Problem, Progress, Registry, WriteRequest, Writes,
};
// Errors.
pub use emio_core::{Error, Result, ResultExt};
// The crates whose types the model's API uses (f16 and complex elements, owned arrays,
// JSON metadata trees).
pub use emio_core::{half, ndarray, num_complex, serde_json};

#[cfg(feature = "arina")]
pub use emio_arina as arina;
#[cfg(feature = "blo")]
pub use emio_blo as blo;
#[cfg(feature = "dm")]
pub use emio_dm as dm;
#[cfg(feature = "eer")]
pub use emio_eer as eer;
#[cfg(feature = "emd")]
pub use emio_emd as emd;
#[cfg(feature = "empad")]
pub use emio_empad as empad;
#[cfg(feature = "hspy")]
pub use emio_hspy as hspy;
#[cfg(feature = "mib")]
pub use emio_mib as mib;
#[cfg(feature = "mrc")]
pub use emio_mrc as mrc;
#[cfg(feature = "msa")]
pub use emio_msa as msa;
#[cfg(feature = "npy")]
pub use emio_npy as npy;
#[cfg(feature = "ripple")]
pub use emio_ripple as ripple;
#[cfg(feature = "tia")]
pub use emio_tia as tia;
#[cfg(feature = "tiff")]
pub use emio_tiff as tiff;
#[cfg(feature = "tvips")]
pub use emio_tvips as tvips;
#[cfg(feature = "zarr")]
pub use emio_zarr as zarr;

/// The registry of every enabled format, most specific signatures first.
pub fn registry() -> Registry {
    let formats: [Arc<dyn emio_core::Format>; _] = [
        #[cfg(feature = "npy")]
        Arc::new(emio_npy::Npy),
        #[cfg(feature = "dm")]
        Arc::new(emio_dm::Dm),
        #[cfg(feature = "dm")]
        Arc::new(emio_dm::Dm5),
        #[cfg(feature = "mrc")]
        Arc::new(emio_mrc::Mrc),
        #[cfg(feature = "mib")]
        Arc::new(emio_mib::Mib),
        #[cfg(feature = "blo")]
        Arc::new(emio_blo::Blo),
        #[cfg(feature = "emd")]
        Arc::new(emio_emd::Emd),
        #[cfg(feature = "hspy")]
        Arc::new(emio_hspy::Hspy),
        #[cfg(feature = "arina")]
        Arc::new(emio_arina::Arina),
        #[cfg(feature = "tiff")]
        Arc::new(emio_tiff::Tiff),
        #[cfg(feature = "zarr")]
        Arc::new(emio_zarr::Zarr),
        #[cfg(feature = "zarr")]
        Arc::new(emio_zarr::Zspy),
        #[cfg(feature = "empad")]
        Arc::new(emio_empad::Empad),
        #[cfg(feature = "ripple")]
        Arc::new(emio_ripple::Ripple),
        #[cfg(feature = "tvips")]
        Arc::new(emio_tvips::Tvips),
        #[cfg(feature = "eer")]
        Arc::new(emio_eer::Eer),
        #[cfg(feature = "tia")]
        Arc::new(emio_tia::Tia),
        #[cfg(feature = "msa")]
        Arc::new(emio_msa::Msa),
    ];
    let mut registry = Registry::new();
    for format in formats {
        registry.register(format);
    }
    registry
}

/// Open a file with default options: the format is probed from its first bytes and name.
pub fn open(path: impl AsRef<Path>) -> Result<Vec<Dataset>> {
    open_with(path, &[] as &[(&str, &str)])
}

/// Open a file with `key=value` reader options (rsciio's option names where they exist).
pub fn open_with<K: AsRef<str>, V: AsRef<str>>(
    path: impl AsRef<Path>,
    options: &[(K, V)],
) -> Result<Vec<Dataset>> {
    registry()
        .open(path.as_ref(), options)
        .map(|(_, datasets)| datasets)
}

/// Write a dataset to `path` in the format its extension names, atomically; refuses to
/// replace an existing file unless `overwrite`.
pub fn write(dataset: &Dataset, path: impl AsRef<Path>, overwrite: bool) -> Result<()> {
    let path = path.as_ref();
    let registry = registry();
    let format = registry.writer_for(path, None)?;
    Registry::write(
        format.as_ref(),
        dataset,
        path,
        &[] as &[(&str, &str)],
        overwrite,
        &NoProgress,
    )
}

/// The dataset `index` of `datasets`, or the only one, or the main one of a file whose
/// other datasets are derived from it ([`Dataset::is_derived`]: a blockfile's virtual
/// bright-field image); an error naming the choices otherwise (shared by the verbs that
/// work on one dataset).
pub fn pick(datasets: &[Dataset], index: Option<usize>) -> Result<&Dataset> {
    let mut main = datasets.iter().filter(|d| !d.is_derived());
    if let (None, Some(only), None) = (index, main.next(), main.next()) {
        return Ok(only);
    }
    match (index, datasets.len()) {
        (Some(i), n) => datasets.get(i).ok_or_else(|| {
            Error::invalid_option(
                "dataset",
                format!("{i} is out of range: the file holds {n} dataset(s)"),
            )
        }),
        (None, 1) => Ok(&datasets[0]),
        (None, 0) => Err(Error::invalid_option(
            "dataset",
            "the file holds no dataset".to_string(),
        )),
        (None, n) => {
            let titles: Vec<String> = datasets
                .iter()
                .enumerate()
                .map(|(i, d)| format!("{i}: {:?}", d.title()))
                .collect();
            Err(Error::invalid_option(
                "dataset",
                format!(
                    "the file holds {n} datasets ({}); choose one with --dataset N",
                    titles.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picking_a_dataset() {
        let ds = Dataset::from_bytes(vec![0; 4], DType::U8, vec![4]).unwrap();
        assert!(pick(std::slice::from_ref(&ds), None).is_ok());
        let two = [ds.clone(), ds];
        assert!(pick(&two, None).is_err());
        assert!(pick(&two, Some(1)).is_ok());
        assert!(pick(&two, Some(2)).is_err());
        let mut derived = two[1].clone();
        derived.mark_derived();
        let main_and_derived = [two[0].clone(), derived];
        assert!(!pick(&main_and_derived, None).unwrap().is_derived());
    }
}
