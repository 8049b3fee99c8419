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
use std::sync::Arc;

use emio_core::{
    ContentMatch, Dataset, Error, Format, OptionKind, OptionSpec, Options, Progress, Result,
    ResultExt,
};
use emio_h5::H5File;

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Emd)]
}

/// The EMD format.
#[derive(Debug, Default, Clone, Copy)]
pub struct Emd;

const READ_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "dataset_path",
        kind: OptionKind::Str,
        default: None,
        help: "NCEM only: read only this dataset (comma-separated paths for several)",
    },
    OptionSpec {
        name: "stack_group",
        kind: OptionKind::Bool,
        default: Some("true"),
        help: "NCEM only: stack datasets of groups named group0000, group0001, ... (without dataset_path)",
    },
    OptionSpec {
        name: "select_type",
        kind: OptionKind::Choice(&["image", "images", "single_spectrum", "spectrum_image"]),
        default: None,
        help: "Velox only: read only images, single spectra or the spectrum image",
    },
    OptionSpec {
        name: "first_frame",
        kind: OptionKind::Int,
        default: Some("0"),
        help: "Velox only: first frame of the EDS spectrum image",
    },
    OptionSpec {
        name: "last_frame",
        kind: OptionKind::Int,
        default: None,
        help: "Velox only: end (exclusive) of the frame range of the EDS spectrum image",
    },
    OptionSpec {
        name: "sum_frames",
        kind: OptionKind::Bool,
        default: Some("true"),
        help: "Velox only: sum the EDS frames (false: a time axis of frames)",
    },
    OptionSpec {
        name: "sum_EDS_detectors",
        kind: OptionKind::Bool,
        default: Some("true"),
        help: "Velox only: sum the EDS detectors (false: one spectrum image per detector)",
    },
    OptionSpec {
        name: "rebin_energy",
        kind: OptionKind::Int,
        default: Some("1"),
        help: "Velox only: rebin the EDS energy axis by this factor",
    },
    OptionSpec {
        name: "SI_dtype",
        kind: OptionKind::Choice(&[
            "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32",
            "float64",
        ]),
        default: None,
        help: "Velox only: dtype of the EDS spectrum image (default: the stream encoding)",
    },
    OptionSpec {
        name: "load_SI_image_stack",
        kind: OptionKind::Bool,
        default: Some("false"),
        help: "Velox only: read every frame of the images acquired with the spectrum image",
    },
];

const WRITE_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "compression",
        kind: OptionKind::Choice(&["none", "gzip"]),
        default: Some("none"),
        help: "chunk compression (gzip = shuffle + deflate, as h5py's)",
    },
    OptionSpec {
        name: "compression_opts",
        kind: OptionKind::Int,
        default: Some("4"),
        help: "gzip level 0-9",
    },
    OptionSpec {
        name: "chunks",
        kind: OptionKind::IntList,
        default: None,
        help: "chunk shape in the dataset's axis order (default: one signal per chunk, ~1 MiB)",
    },
];

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
    fn name(&self) -> &'static str {
        "emd"
    }

    fn description(&self) -> &'static str {
        "EMD (HDF5): NCEM/Berkeley, Thermo Fisher Velox, prismatic, py4DSTEM"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["emd", "h5", "hdf5"]
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

    fn can_write(&self) -> bool {
        true
    }

    fn read_options(&self) -> &'static [OptionSpec] {
        READ_OPTIONS
    }

    fn write_options(&self) -> &'static [OptionSpec] {
        WRITE_OPTIONS
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        self.read(path, options).with_path(path)
    }

    fn write(
        &self,
        dataset: &Dataset,
        path: &Path,
        options: &Options,
        progress: &dyn Progress,
    ) -> Result<()> {
        write::write(dataset, path, options, progress).with_path(path)
    }
}
