//! EMD (HDF5) for emio: NCEM/Berkeley EMD (incl. prismatic and py4DSTEM/emdfile files) and
//! Thermo Fisher Velox EMD, read lazily through [`emio_h5`]; NCEM EMD v0.2 written
//! streaming.
//!
//! The flavour is detected from the file's own structure: a `Version` JSON dataset and a
//! `Data` group make a Velox file; a root `version_major` or groups carrying
//! `emd_group_type` make an NCEM/emdfile file.

#![forbid(unsafe_code)]

pub mod ncem;
pub mod stack;
pub mod units;
pub mod velox;
pub mod write;

use std::path::Path;
use std::sync::LazyLock;

use emio_core::options::{IntList, NumericDType};
use emio_core::{
    ContentMatch, Dataset, Error, Format, FormatInfo, OptionSet, OptionSpec, Options, Result,
    ResultExt, WriteRequest, Writes,
};
use emio_h5::H5File;

/// The EMD format.
#[derive(Debug, Default, Clone, Copy)]
pub struct Emd;

emio_core::options! {
    /// Options of the reader for NCEM/Berkeley EMD files (and emdfile, prismatic).
    pub struct NcemReadOptions {
        /// read only this dataset (comma-separated paths for several)
        dataset_path: Option<String> = None,
        /// stack datasets of groups named group0000, group0001, ... (without dataset_path)
        stack_group: bool = Some("true"),
    }
}

emio_core::option_choice! {
    /// What a Velox reader keeps (its `select_type` option).
    pub enum SelectType {
        /// Images only.
        Image = "image",
        /// Images only (rsciio's other spelling).
        Images = "images",
        /// Single spectra only.
        SingleSpectrum = "single_spectrum",
        /// The spectrum image only.
        SpectrumImage = "spectrum_image",
    }
}

emio_core::options! {
    /// Options of the reader for Thermo Fisher Velox EMD files.
    pub struct VeloxReadOptions {
        /// read only images, single spectra or the spectrum image
        select_type: Option<SelectType> = None,
        /// first frame of the EDS spectrum image
        first_frame: i64 = Some("0"),
        /// end (exclusive) of the frame range of the EDS spectrum image
        last_frame: Option<i64> = None,
        /// sum the EDS frames (false: a time axis of frames)
        sum_frames: bool = Some("true"),
        /// sum the EDS detectors (false: one spectrum image per detector)
        sum_EDS_detectors: bool = Some("true"),
        /// rebin the EDS energy axis by this factor
        rebin_energy: i64 = Some("1"),
        /// dtype of the EDS spectrum image (default: the stream encoding)
        SI_dtype: Option<NumericDType> = None,
        /// read every frame of the images acquired with the spectrum image
        load_SI_image_stack: bool = Some("false"),
    }
}

/// Every read option: the NCEM set, then the Velox set (an EMD file is parsed against
/// both, then read with the set of its variant).
static READ_OPTIONS: LazyLock<Vec<OptionSpec>> =
    LazyLock::new(|| [NcemReadOptions::SPECS, VeloxReadOptions::SPECS].concat());

emio_core::option_choice! {
    /// Chunk compression of the NCEM EMD writer.
    pub enum Codec {
        /// Chunks stored as they are.
        None = "none",
        /// Byte shuffle and deflate, as h5py's.
        Gzip = "gzip",
    }
}

emio_core::options! {
    /// Options of the NCEM EMD writer.
    pub struct WriteOptions {
        /// chunk compression (gzip = shuffle + deflate, as h5py's)
        compression: Codec = Some("none"),
        /// gzip level 0-9
        compression_opts: i64 = Some("4"),
        /// chunk shape in the dataset's axis order (default: one signal per chunk, ~1 MiB)
        chunks: Option<IntList> = None,
    }
}

impl Emd {
    fn read(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let f = H5File::open(path)?;
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
