//! Thermo Fisher EER (electron-event representation) for emio: the movie format of Falcon
//! 4/4i/C cameras. An EER file is a BigTIFF whose pages are raw frames of run-length coded
//! electron events with sub-pixel positions (compression 65000, 65001 or 65002, see
//! [`codec`]); the first page carries the acquisition metadata XML in tag 65001.
//!
//! Reading renders the events lazily: `upsampling` 1, 2 or 4 (sensor pixels split into
//! 2x2 or 4x4 sub-pixels), `group` raw frames summed per output frame (dose
//! fractionation; `keep_partial_group` keeps a shorter last group), `frame_range`.
//! One output frame is one chunk; a region decodes only the raw frames it covers, chunks
//! in parallel. Output is uint8 for single raw frames, uint16 for sums.
//!
//! Writing turns an integer event-count movie (frames, y, x) into EER, at upsampling 1 or
//! with sub-pixel positions (`upsampling` 2 or 4: the input is at super-resolution and
//! each sensor pixel holds at most one event per frame), in any of the three encodings.
//! tifffile + imagecodecs and eerfile read the result back (tests/interop/test_eer.py).

#![forbid(unsafe_code)]

pub mod codec;
mod meta;
mod read;
mod write;

pub use read::ReadOptions;
pub use write::{EventCoding, WriteOptions};

use std::path::Path;
use std::sync::Arc;

use emio_core::{
    Axis, AxisKind, Dataset, Error, Format, FormatInfo, OptionSet, Options, Result, ResultExt,
    Storage, WriteRequest, Writes,
};
use serde_json::Value;

const FORMAT: &str = "eer";

/// Thermo Fisher EER movie.
#[derive(Debug, Default, Clone, Copy)]
pub struct Eer;

emio_core::option_choice! {
    /// Output (reading) or input (writing) pixels per sensor pixel and axis.
    pub enum Upsampling {
        X1 = "1": "one pixel per sensor pixel",
        X2 = "2": "2x2 sub-pixels per sensor pixel",
        X4 = "4": "4x4 sub-pixels per sensor pixel",
    }
}

impl Upsampling {
    /// Sub-pixel bits per axis: log2 of the factor.
    pub fn log2(self) -> u32 {
        match self {
            Upsampling::X1 => 0,
            Upsampling::X2 => 1,
            Upsampling::X4 => 2,
        }
    }
}

impl Format for Eer {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "Thermo Fisher EER electron-event movies (Falcon 4/4i/C)",
            extensions: &["eer"],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::file(WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        // EER is a BigTIFF; the `.eer` extension picks this reader among the TIFF ones.
        head.starts_with(b"II+\0") || head.starts_with(b"MM\0+")
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        open(storage, &emio_core::metadata::file_name(path), options).with_path(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request)
    }
}

/// The rendering the options ask for, checked against a movie of `frames` raw frames.
fn rendering(options: &Options, frames: u64) -> Result<read::Rendering> {
    let options = ReadOptions::from_options(options)?;
    let group = options.group;
    if group < 1 {
        return Err(Error::invalid_option(
            "group",
            format!("{group} is not positive"),
        ));
    }
    let (first, stop) = match options.frame_range.as_ref().map(|r| &r.0[..]) {
        None => (0, frames),
        Some([a, b]) if 0 <= *a && a < b && *b as u64 <= frames => (*a as u64, *b as u64),
        Some(other) => {
            return Err(Error::invalid_option(
                "frame_range",
                format!("{other:?} is not START,STOP with 0 <= START < STOP <= {frames}"),
            ))
        }
    };
    let r = read::Rendering {
        up_log2: options.upsampling.log2(),
        group: group as u64,
        first,
        count: stop - first,
        keep_partial: options.keep_partial_group,
    };
    if r.output_frames() == 0 {
        return Err(Error::invalid_option(
            "group",
            format!(
                "{group} raw frames per output frame leaves none of the {} frames",
                r.count
            ),
        ));
    }
    Ok(r)
}

fn open(storage: Storage, file_name: &str, options: &Options) -> Result<Vec<Dataset>> {
    let movie = Arc::new(read::parse(&storage)?);
    let r = rendering(options, movie.frames.len() as u64)?;
    let cap = movie
        .frames
        .iter()
        .map(|f| f.coding.max_upsampling_log2())
        .min()
        .unwrap_or(0);
    if r.up_log2 > cap {
        return Err(Error::invalid_option(
            "upsampling",
            format!(
                "the frames have {cap} sub-pixel bits: upsampling up to {}",
                1 << cap
            ),
        ));
    }
    let items = movie
        .xml
        .as_deref()
        .map(meta::parse_items)
        .unwrap_or_default();
    let frame_time = match (
        meta::number(&items, "exposureTime"),
        meta::number(&items, "numberOfFrames"),
    ) {
        (Some(t), Some(n)) if n > 0.0 => Some(t / n),
        _ => None,
    };
    let time_axis = match frame_time {
        Some(t) => Axis {
            name: "time".into(),
            units: "s".into(),
            navigate: true,
            kind: AxisKind::Uniform {
                scale: t * r.group as f64,
                offset: t * r.first as f64,
            },
        },
        None => Axis {
            name: "frame".into(),
            units: String::new(),
            navigate: true,
            kind: AxisKind::Uniform {
                scale: r.group as f64,
                offset: r.first as f64,
            },
        },
    };
    let up = f64::from(1u32 << r.up_log2);
    let pixel = |key: &str, name: &str| {
        let (scale, units) = match meta::number(&items, key) {
            Some(m) => (m * 1e9 / up, "nm"),
            None => (1.0, ""),
        };
        Axis {
            name: name.into(),
            units: units.into(),
            navigate: false,
            kind: AxisKind::Uniform { scale, offset: 0.0 },
        }
    };
    let axes = vec![
        time_axis,
        pixel("sensorPixelSize.height", "y"),
        pixel("sensorPixelSize.width", "x"),
    ];
    let metadata = meta::hyperspy(&items, file_name, r.group);
    let mut original = emio_core::metadata::Tree::new();
    original.insert("eer".into(), Value::Object(items));
    original.insert("raw_frames".into(), Value::from(movie.frames.len() as u64));
    let source = read::source(storage, movie, r)?;
    Ok(vec![Dataset::new(source, axes, metadata, original)?])
}
