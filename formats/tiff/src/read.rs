//! Reading a TIFF: the IFD chain parsed, pages validated and grouped into series, each
//! series a lazy dataset with the metadata of its dialect (or the axes and metadata emio
//! stored in its private tag).

use emio_core::budget::MetadataBudget;
use emio_core::metadata::Tree;
use emio_core::{Axis, Dataset, Error, OptionSet, Options, Result, Storage};
use serde_json::Value;

use crate::ifd::{self, Reader, FORMAT};
use crate::meta::{self, AxisOptions};
use crate::page::Page;
use crate::{series, tags, write, Tiff};

emio_core::options! {
    /// Options of the TIFF reader.
    pub struct ReadOptions {
        /// calibrate from XResolution/YResolution/ResolutionUnit whatever the dialect
        force_read_resolution: bool = Some("false"),
        /// one dataset per page instead of series of pages
        multipage_as_list: bool = Some("false"),
        /// Hamamatsu streak time axis
        hamamatsu_streak_axis_type: meta::StreakAxis = Some("uniform"),
    }
}

impl Tiff {
    /// Parse a whole TIFF held in `storage` into its datasets.
    pub fn datasets_from_storage(
        storage: Storage,
        file_name: &str,
        options: &Options,
    ) -> Result<Vec<Dataset>> {
        let options = ReadOptions::from_options(options)?;
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
            options.multipage_as_list,
            bytes.len() as u64,
        );
        let axis_options = AxisOptions {
            force_read_resolution: options.force_read_resolution,
            streak: options.hamamatsu_streak_axis_type,
        };
        // Tag values kept as metadata are bounded per file (a damaged directory may declare
        // thousands of entries of 65,536 values each).
        let budget = MetadataBudget::for_file(FORMAT, bytes.len() as u64);
        let mut out = Vec::with_capacity(all_series.len());
        for (k, s) in all_series.iter().enumerate() {
            let source = series::source(s, &storage)?;
            let ifd = &ifds[s.first().index];
            let m = meta::series_metadata(&r, &header, ifd, s, file_name, axis_options, &budget)?;
            let (axes, metadata, original) = match (&emio_json, k) {
                (Some(j), 0) => {
                    restore_emio(j, source.shape()).unwrap_or((m.axes, m.metadata, m.original))
                }
                _ => (m.axes, m.metadata, m.original),
            };
            let mut dataset = Dataset::new(source, axes, metadata, original)?;
            for warning in m.warnings {
                dataset.warn(warning);
            }
            out.push(dataset);
        }
        for warning in &warnings {
            Dataset::warn_all(&mut out, warning);
        }
        Ok(out)
    }
}

/// Axes and metadata emio stored in its private tag, when they fit `shape`.
fn restore_emio(j: &Value, shape: &[u64]) -> Option<(Vec<Axis>, Tree, Tree)> {
    let axes = write::axes_from_json(j.get("axes")?, shape)?;
    let metadata = j.get("metadata")?.as_object()?.clone();
    let original = j
        .get("original_metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Some((axes, metadata, original))
}
