//! TIFF / BigTIFF with microscope metadata for emio.
//!
//! emio parses TIFF with its own IFD parser (`ifd`, over `byteorder`-style checked reads)
//! rather than the `tiff` crate, because the features need what that crate does not expose:
//! - every tag, including arbitrary private and vendor tags (FEI 34682, Zeiss 34118,
//!   Olympus SIS 33560, DigitalMicrograph 65003–65027, ...), with its raw type and offset so
//!   vendor blocks stored elsewhere in the file can be parsed;
//! - lazy, random access to single strips and tiles of any page (decoded per chunk through
//!   [`emio_core::ChunkedSource`]) and the byte offsets of uncompressed pages so they can be
//!   memory-mapped whole;
//! - writing BigTIFF, private tags and streamed pages with offsets patched afterwards.
//!
//! Modules: [`ifd`] (header, IFD chain, typed values), [`page`] (page geometry and
//! strip/tile decoding: none, PackBits, LZW, Deflate, Zstd, horizontal and floating-point
//! predictors, 1–64-bit samples), [`series`] (pages grouped into datasets, lazy sources),
//! [`meta`] (original metadata and vendor dialects), [`writer`] (2-D, N-D, RGB(A), every
//! numeric dtype; ImageJ hyperstacks or shaped page series; BigTIFF, compression, tiling).

#![forbid(unsafe_code)]

pub mod ifd;
pub mod meta;
pub mod page;
pub mod series;
pub mod tags;
pub mod writer;
pub mod xml;

use std::path::Path;
use std::sync::Arc;

use emio_core::metadata::Tree;
use emio_core::{
    Axis, Dataset, Error, Format, OptionKind, OptionSpec, Options, Progress, Result, ResultExt,
    Storage,
};
use serde_json::Value;

use crate::ifd::{Reader, FORMAT};
use crate::meta::{AxisOptions, StreakAxis};
use crate::page::Page;

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Tiff)]
}

/// TIFF and BigTIFF.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tiff;

const READ_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "force_read_resolution",
        kind: OptionKind::Bool,
        default: Some("false"),
        help: "calibrate from XResolution/YResolution/ResolutionUnit whatever the dialect",
    },
    OptionSpec {
        name: "multipage_as_list",
        kind: OptionKind::Bool,
        default: Some("false"),
        help: "one dataset per page instead of series of pages",
    },
    OptionSpec {
        name: "hamamatsu_streak_axis_type",
        kind: OptionKind::Choice(&["uniform", "data", "functional"]),
        default: None,
        help: "Hamamatsu streak time axis: linear fit (default), stored values, or cubic fit",
    },
];

impl Tiff {
    /// Parse a whole TIFF held in `storage` into its datasets.
    pub fn datasets_from_storage(
        storage: Storage,
        file_name: &str,
        options: &Options,
    ) -> Result<Vec<Dataset>> {
        let bytes: &[u8] = &storage;
        let header = ifd::parse_header(bytes)?;
        let r = Reader {
            bytes,
            order: header.order,
        };
        let (ifds, mut warnings) = ifd::parse_chain(bytes, &header)?;
        let mut pages = Vec::with_capacity(ifds.len());
        let mut first_error = None;
        for (i, d) in ifds.iter().enumerate() {
            match Page::parse(&r, d, i) {
                Ok(p) => pages.push(p),
                Err(e) => {
                    warnings.push(format!("page {i} was skipped: {e}"));
                    first_error.get_or_insert(e);
                }
            }
        }
        if pages.is_empty() {
            return Err(first_error
                .unwrap_or_else(|| Error::malformed(FORMAT, header.first_ifd, "an image page")));
        }
        let description = ifds[pages[0].index]
            .get(tags::IMAGE_DESCRIPTION)
            .and_then(|e| r.text(e).ok());
        let emio_json: Option<Value> = ifds[pages[0].index]
            .get(tags::EMIO_METADATA)
            .and_then(|e| r.text(e).ok())
            .and_then(|t| serde_json::from_str(&t).ok());
        let all_series = series::build(
            pages,
            description.as_deref(),
            options.flag("multipage_as_list"),
            bytes.len() as u64,
        );
        let axis_options = AxisOptions {
            force_read_resolution: options.flag("force_read_resolution"),
            streak: match options.str("hamamatsu_streak_axis_type") {
                Some("data") => StreakAxis::Data,
                Some("functional") => StreakAxis::Functional,
                _ => StreakAxis::Uniform,
            },
        };
        let mut out = Vec::with_capacity(all_series.len());
        for (k, s) in all_series.iter().enumerate() {
            let source = series::source(s, &storage)?;
            let ifd = &ifds[s.first().index];
            let m = meta::series_metadata(&r, &header, ifd, s, file_name, axis_options)?;
            let (axes, metadata, original) = match (&emio_json, k) {
                (Some(j), 0) => {
                    restore_emio(j, source.shape()).unwrap_or((m.axes, m.metadata, m.original))
                }
                _ => (m.axes, m.metadata, m.original),
            };
            out.push(Dataset::new(source, axes, metadata, original)?);
        }
        for warning in &warnings {
            Dataset::warn_all(&mut out, warning);
        }
        Ok(out)
    }
}

/// Axes and metadata emio stored in its private tag, when they fit `shape`.
fn restore_emio(j: &Value, shape: &[u64]) -> Option<(Vec<Axis>, Tree, Tree)> {
    let axes = writer::axes_from_json(j.get("axes")?, shape)?;
    let metadata = j.get("metadata")?.as_object()?.clone();
    let original = j
        .get("original_metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Some((axes, metadata, original))
}

impl Format for Tiff {
    fn name(&self) -> &'static str {
        "tiff"
    }

    fn description(&self) -> &'static str {
        "TIFF / BigTIFF with microscope metadata (FEI, Zeiss, Olympus SIS, Hamamatsu, ImageJ, DM)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["tif", "tiff", "btf", "tf8", "tf2"]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        matches!(
            head.get(..4),
            Some(b"II*\0") | Some(b"MM\0*") | Some(b"II+\0") | Some(b"MM\0+")
        )
    }

    fn can_write(&self) -> bool {
        true
    }

    fn read_options(&self) -> &'static [OptionSpec] {
        READ_OPTIONS
    }

    fn write_options(&self) -> &'static [OptionSpec] {
        writer::WRITE_OPTIONS
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let name = emio_core::metadata::file_name(path);
        Self::datasets_from_storage(storage, &name, options).with_path(path)
    }

    fn write(
        &self,
        dataset: &Dataset,
        path: &Path,
        options: &Options,
        progress: &dyn Progress,
    ) -> Result<()> {
        writer::write(dataset, path, options, progress).with_path(path)
    }
}
