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
//!
//! Beyond reading and writing: [`stats`] (streamed statistics), [`reduce`] (sums over
//! navigation or signal axes), [`values`] (one number per element of any dtype),
//! [`listing`] (folder overviews), [`check`] (validation that explains),
//! [`batch`] (many files converted into one folder), [`preview`] (PNG pictures).

use std::path::Path;
use std::sync::Arc;

pub mod batch;
pub mod check;
pub mod listing;
pub mod preview;
pub mod reduce;
pub mod stats;
pub mod values;

pub use emio_core::*;

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
    let mut formats: Vec<Arc<dyn Format>> = Vec::new();
    #[cfg(feature = "npy")]
    formats.extend(emio_npy::formats());
    #[cfg(feature = "dm")]
    formats.extend(emio_dm::formats());
    #[cfg(feature = "mrc")]
    formats.extend(emio_mrc::formats());
    #[cfg(feature = "mib")]
    formats.extend(emio_mib::formats());
    #[cfg(feature = "blo")]
    formats.extend(emio_blo::formats());
    #[cfg(feature = "emd")]
    formats.extend(emio_emd::formats());
    #[cfg(feature = "hspy")]
    formats.extend(emio_hspy::formats());
    #[cfg(feature = "arina")]
    formats.extend(emio_arina::formats());
    #[cfg(feature = "tiff")]
    formats.extend(emio_tiff::formats());
    #[cfg(feature = "zarr")]
    formats.extend(emio_zarr::formats());
    #[cfg(feature = "empad")]
    formats.extend(emio_empad::formats());
    #[cfg(feature = "ripple")]
    formats.extend(emio_ripple::formats());
    #[cfg(feature = "tvips")]
    formats.extend(emio_tvips::formats());
    #[cfg(feature = "eer")]
    formats.extend(emio_eer::formats());
    #[cfg(feature = "tia")]
    formats.extend(emio_tia::formats());
    #[cfg(feature = "msa")]
    formats.extend(emio_msa::formats());
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
