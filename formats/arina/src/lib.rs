//! Dectris ARINA / EIGER HDF5 for emio: a NeXus NXmx master file (`*_master.h5`) whose
//! `/entry/data` links to data files (`*_data_000001.h5`, ...) of bitshuffle-LZ4 frames,
//! plus, from newer ARINA software, a scan-metadata file (`<stem>.h5`, group
//! `STEM Metadata`).
//!
//! Reading follows RosettaSciIO's `arina` reader (axes `x`, `y` in Å from the scan file's
//! `Pixel Size`, `qx`, `qy` uncalibrated; uint32 counts read as uint16 unless a `dtype` is
//! given; `navigation_shape`, `rebin_diffraction`, `dtype`, `flatfield`) but lazily: every
//! frame is decoded on demand, in parallel, straight from the memory-mapped data files.
//! It adds the NXmx tree as original metadata, its calibrations in HyperSpy's tree, the
//! default navigation shape from the scan file when it has one, and the detector's pixel
//! mask, reported and (option `apply_pixel_mask`) applied.

#![forbid(unsafe_code)]

mod convert;
mod frames;
mod metadata;
mod read;

pub use read::ReadOptions;

use std::path::Path;

use emio_core::{
    Axis, AxisKind, ContentMatch, Dataset, Error, Format, FormatInfo, OptionSet, Options, Result,
};
use emio_h5::H5File;

const FORMAT: &str = "arina";

/// Where DECTRIS stores the flat field and the pixel mask.
const DETECTOR_SPECIFIC: &str = "/entry/instrument/detector/detectorSpecific";

/// Dectris ARINA / EIGER master file.
#[derive(Debug, Default, Clone, Copy)]
pub struct Arina;

impl Format for Arina {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "Dectris ARINA / EIGER HDF5 (NXmx master + bitshuffle-LZ4 data files)",
            extensions: &["master.h5"],
            read_options: ReadOptions::SPECS,
            writes: None,
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        emio_h5::sniff(head)
    }

    fn inspect(&self, path: &Path) -> ContentMatch {
        emio_h5::inspect(path, is_master)
    }

    fn validate(&self, path: &Path) -> Vec<emio_core::Problem> {
        emio_h5::validate::validate(path)
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        open(path, options)
    }
}

/// Whether `file` has the NXmx master layout DECTRIS writes: an `/entry/data` group (the
/// frames or the links to the data files) beside an `/entry/instrument/detector` group.
/// The data files themselves (only `/entry/data/data`) and other HDF5 flavours are not.
fn is_master(file: &H5File) -> bool {
    file.is_group("/entry/data") && file.is_group("/entry/instrument/detector")
}

/// A 2-D float dataset of `file` at `object`, checked to have `shape`.
fn frame_f64(file: &H5File, object: &str, shape: [usize; 2]) -> Result<Vec<f64>> {
    let ds = file.dataset(object)?;
    if ds.shape != [shape[0] as u64, shape[1] as u64] {
        return Err(Error::Malformed {
            format: FORMAT,
            path: Some(file.path().to_path_buf()),
            offset: None,
            expected: format!("{object} of the frame shape {shape:?}, got {:?}", ds.shape),
        });
    }
    ds.read_f64()
}

fn open(path: &Path, options: &Options) -> Result<Vec<Dataset>> {
    let options = ReadOptions::from_options(options)?;
    let master = H5File::open(path)?;
    let parts = read::parts(&master)?;
    let stored = parts[0].source.dtype();
    let (height, width) = {
        let s = parts[0].source.shape();
        (s[1] as usize, s[2] as usize)
    };
    let n = parts
        .iter()
        .try_fold(0u64, |n, p| n.checked_add(p.frames))
        .ok_or_else(|| {
            Error::malformed_at_unknown(FORMAT, "a frame count that fits in 64 bits in all")
        })?;
    let rebin = options.rebin_diffraction;
    if rebin < 1 || height % rebin as usize != 0 || width % rebin as usize != 0 {
        return Err(Error::invalid_option(
            "rebin_diffraction",
            format!("{rebin} must be positive and divide the {height}x{width} frames"),
        ));
    }
    let correction = match options.flatfield.as_deref() {
        None => None,
        Some(spec) => {
            let values = if spec == "master" {
                frame_f64(
                    &master,
                    &format!("{DETECTOR_SPECIFIC}/flatfield"),
                    [height, width],
                )?
            } else {
                let (file, object) = spec.rsplit_once(':').ok_or_else(|| {
                    Error::invalid_option("flatfield", "expected master or FILE.h5:/dataset")
                })?;
                frame_f64(&H5File::open(Path::new(file))?, object, [height, width])?
            };
            let ff: Vec<f32> = values.iter().map(|&v| v as f32).collect();
            Some(convert::correction(&ff))
        }
    };
    let mask_path = format!("{DETECTOR_SPECIFIC}/pixel_mask");
    // Kept as one flag per pixel: the values themselves are not needed.
    let masked = if master.is_dataset(&mask_path) {
        let values = frame_f64(&master, &mask_path, [height, width])?;
        Some(values.iter().map(|&v| v != 0.0).collect::<Vec<bool>>())
    } else {
        None
    };
    let masked_pixels = masked.as_ref().map(|m| m.iter().filter(|&&b| b).count());
    let mask = if options.apply_pixel_mask {
        Some(masked.ok_or_else(|| {
            Error::invalid_option("apply_pixel_mask", format!("the master has no {mask_path}"))
        })?)
    } else {
        None
    };
    let out = read::out_dtype(options.dtype.map(|d| d.0), stored, correction.is_some());
    read::check_dtypes(path, stored, out)?;
    let scan = metadata::scan_metadata(path);
    let default_nav = scan
        .as_ref()
        .and_then(|s| s.scan_shape)
        .filter(|&[y, x]| y.checked_mul(x) == Some(n))
        .unwrap_or_else(|| {
            let side = n.isqrt();
            [side, side]
        });
    let nav = read::navigation_shape(options.navigation_shape.as_deref(), n, default_nav)?;
    let conversion = convert::Conversion {
        stored,
        out,
        height,
        width,
        rebin: rebin as usize,
        correction,
        mask,
    };
    let source = frames::source(parts, nav, conversion);
    let pixel_size = scan.as_ref().and_then(|s| s.pixel_size_nm);
    let (scale, units) = match pixel_size {
        Some(nm) => (nm * 10.0, "A"),
        None => (1.0, "1"),
    };
    let axis = |name: &str, scale: f64, units: &str, navigate: bool| Axis {
        name: name.into(),
        units: units.into(),
        navigate,
        kind: AxisKind::Uniform { scale, offset: 0.0 },
    };
    let axes = vec![
        axis("x", scale, units, true),
        axis("y", scale, units, true),
        axis("qx", 1.0, "1", false),
        axis("qy", 1.0, "1", false),
    ];
    let (meta, original) = metadata::trees(
        &master,
        &emio_core::metadata::file_name(path),
        scan.as_ref(),
        masked_pixels,
        n,
    )?;
    Ok(vec![Dataset::new(source, axes, meta, original)?])
}
