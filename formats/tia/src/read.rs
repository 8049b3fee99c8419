//! A series as a dataset, as RosettaSciIO's `ser_reader` builds it: navigation axes from
//! the series dimensions (F-ordered scans detected from the tag positions; size-1 image
//! series dropped; a 1-D series cut to its valid elements with `only_valid_data`), or, for
//! a series without dimensions, from the scan positions of its tags ([`crate::positions`];
//! `Unknown dimension` of the stored elements when they hold none or form no grid), the
//! signal axes from the first element's calibration (spectra in eV; images in nm or 1/nm,
//! by acquisition mode when the `.emi` tells it), date, time and HyperSpy's mapping from
//! the `.emi` XML, and the series header plus the XML kept whole as original metadata.
//!
//! Unlike rsciio, axis offsets are converted to nm (1/nm) together with their scales (rsciio
//! leaves them in metres); see tests/known_differences.json. Elements whose calibration
//! differs from element 0's (which the signal axes use, as in rsciio) are reported in a
//! warning; every element's calibration is kept in the original metadata.

use std::fs::File;
use std::path::Path;

use emio_core::metadata::{set_path, Tree};
use emio_core::read_at::FileAt;
use emio_core::source::element_count;
use emio_core::{Axis, Dataset, Result, Storage};
use serde_json::{json, Value};

use crate::mapping;
use crate::positions::scan_axes;
use crate::ser::{self, Series};
use crate::source::series_source;
use crate::FORMAT;

emio_core::options! {
    /// Options of the TIA reader.
    pub struct ReadOptions {
        /// for a 1-D series that stopped early, read only the stored elements; false reads the
        /// planned size with the missing elements filled (NaN for floats, else 0)
        only_valid_data: bool = Some("true"),
    }
}

/// What the `.emi` file says about the series files (absent for a `.ser` read alone).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmiContext<'a> {
    /// The `ObjectInfo` tree of this `.ser` file (its `<n>`-th block), when present.
    pub object: Option<&'a Tree>,
    /// The first block's `ObjectInfo` (rsciio takes date and units from it for every file).
    pub first: Option<&'a Tree>,
}

/// A series dimension or element axis in HyperSpy's units: metres as nm, 1/m as 1/nm.
fn axis_in_nm(name: &str, units: &str, scale: f64, offset: f64, navigate: bool) -> Axis {
    match units {
        "meters" => Axis::uniform(name, "nm", scale * 1e9, offset * 1e9, navigate),
        "1/meters" => Axis::uniform(name, "1 / nm", scale / 1e9, offset / 1e9, navigate),
        _ => Axis::uniform(name, units, scale, offset, navigate),
    }
}

/// Whether the scan is stored x fastest with y read first in the dimension array (rsciio's
/// "F" order): the first two tags share their y position.
fn fortran_order(series: &Series) -> bool {
    match series.tags.as_slice() {
        [a, b, ..] => matches!((a.position, b.position), (Some(p), Some(q)) if p.1 == q.1),
        _ => false,
    }
}

/// Navigation axes and shape of a series without dimensions: the scan grid of its tag
/// positions, else one `Unknown dimension` over the stored elements (with a warning when
/// positions were there but formed no grid).
fn navigation_from_positions(series: &Series) -> (Vec<Axis>, Vec<u64>, Option<String>) {
    let positions: Option<Vec<(f64, f64)>> = series.tags.iter().map(|t| t.position).collect();
    let mut warning = None;
    if let Some(positions) = positions {
        match scan_axes(&positions) {
            Some(grid) => {
                let axes = grid
                    .iter()
                    .map(|a| axis_in_nm(a.name, "meters", a.scale, a.offset, true))
                    .collect();
                return (axes, grid.iter().map(|a| a.size).collect(), None);
            }
            None => {
                warning = Some(format!(
                    "the scan positions of the {} elements form no regular grid: they are \
                     read along one 'Unknown dimension' (positions kept in \
                     original_metadata.ser_header_parameters.PositionX/PositionY)",
                    series.valid
                ))
            }
        }
    }
    let axis = Axis::uniform("Unknown dimension", "", 1.0, 0.0, true);
    (vec![axis], vec![u64::from(series.valid)], warning)
}

/// Navigation axes and shape, and a warning when the series' own description was not
/// enough to place its elements.
fn navigation(series: &Series, only_valid_data: bool) -> (Vec<Axis>, Vec<u64>, Option<String>) {
    let dims = &series.dimensions;
    let ndim = dims.len();
    if ndim == 0 {
        return navigation_from_positions(series);
    }
    let f_order = fortran_order(series);
    let mut spatial = vec!["x", "y"];
    spatial.truncate(ndim);
    let (mut axes, mut shape) = (Vec::new(), Vec::new());
    for i in 0..ndim {
        let d = &dims[if f_order { ndim - 1 - i } else { i }];
        // rsciio tests Dim-(i+1)'s size but takes the values of the reordered dimension.
        if !series.is_image() || dims[i].size != 1 {
            let name = if d.units == "meters" {
                spatial.pop().unwrap_or("")
            } else {
                ""
            };
            axes.push(axis_in_nm(name, &d.units, d.delta, d.offset, true));
            shape.push(u64::from(d.size));
        }
    }
    if ndim == 1 && series.total != series.valid && only_valid_data {
        if series.valid == 1 {
            axes.clear();
            shape.clear();
        } else if let Some(first) = shape.first_mut() {
            *first = u64::from(series.valid);
        }
    }
    (axes, shape, None)
}

/// Signal axes and shape of one element.
fn signal(series: &Series, emi: EmiContext) -> (Vec<Axis>, Vec<u64>) {
    let e = &series.element;
    if !series.is_image() {
        let (offset, delta, _) = e.calibration[0];
        let axis = Axis::uniform("Energy", "eV", delta, offset, false);
        return (vec![axis], vec![u64::from(e.sizes[0])]);
    }
    let units = if emi.first.is_some() {
        let first = series.dimensions.first().map(|d| (d.size, d.units.len()));
        mapping::image_units(emi.first, first)
    } else {
        "meters"
    };
    let axis = |name: &str, (offset, delta, element): (f64, f64, u32)| {
        axis_in_nm(
            name,
            units,
            delta,
            offset - f64::from(element) * delta,
            false,
        )
    };
    (
        vec![axis("y", e.calibration[1]), axis("x", e.calibration[0])],
        vec![u64::from(e.sizes[1]), u64::from(e.sizes[0])],
    )
}

/// Open one `.ser` file as a dataset: its structure read from `file`, its pixels from
/// `storage`, the same file mapped.
pub fn series_dataset(
    path: &Path,
    (storage, file): (Storage, File),
    emi: EmiContext,
    only_valid_data: bool,
) -> Result<Dataset> {
    let series = ser::parse(&FileAt::new(&file, storage.len() as u64), path)?;
    drop(file);
    let (mut axes, nav_shape, nav_warning) = navigation(&series, only_valid_data);
    let (signal_axes, signal_shape) = signal(&series, emi);
    axes.extend(signal_axes);
    // Elements the acquisition never stored are filled (as rsciio does), but only while the
    // whole stays within what the file could hold: a damaged dimension size must not make a
    // small file a dataset of terabytes of filling.
    // Counts within 64 bits (`ser::parse` checked the dimension sizes).
    let needed = element_count(&nav_shape).unwrap_or(u64::MAX);
    let stored = series.offsets.len() as u64;
    let filled = needed > stored;
    if filled {
        let element_bytes = series.element.data_bytes();
        emio_core::budget::check_padded(
            FORMAT,
            &format!("{needed} elements of {element_bytes} bytes"),
            needed.saturating_mul(element_bytes),
            stored.saturating_mul(element_bytes),
            storage.len() as u64,
        )?;
    }
    let source = series_source(storage, &series, (&nav_shape, needed), &signal_shape)?;

    let mut metadata = Tree::new();
    set_path(
        &mut metadata,
        "General.original_filename",
        emio_core::metadata::file_name(path),
    );
    let acquired = emi
        .first
        .and_then(|info| info.get("AcquireDate"))
        .and_then(Value::as_str)
        .and_then(mapping::date_time);
    if let Some((date, time)) = acquired {
        set_path(&mut metadata, "General.date", date);
        set_path(&mut metadata, "General.time", time);
    }
    set_path(&mut metadata, "Signal.signal_type", "");
    if let Some(info) = emi.object {
        mapping::apply(info, &mut metadata);
    }

    let mut original = Tree::new();
    original.insert(
        "ser_header_parameters".into(),
        Value::Object(series.to_json()),
    );
    if let Some(info) = emi.object {
        original.insert("ObjectInfo".into(), Value::Object(info.clone()));
    }
    if filled {
        original.insert(
            "missing_elements".into(),
            json!({
                "stored": stored,
                "expected": needed,
                "filled_with": if series.element.dtype().is_float() { "NaN" } else { "0" },
            }),
        );
    }
    let mut dataset = Dataset::new(source, axes, metadata, original)?;
    if filled {
        let fill = if series.element.dtype().is_float() {
            "NaN"
        } else {
            "zeros"
        };
        dataset.warn(format!(
            "the file stores {stored} of the series' {needed} elements; the missing ones \
             read as {fill}"
        ));
    }
    if let Some(warning) = nav_warning {
        dataset.warn(warning);
    }
    if let Some((i, theirs, first)) = series.calibration_mismatch() {
        dataset.warn(format!(
            "element {i} is calibrated differently from element 0 ({theirs} against \
             {first}): the signal axes use element 0's calibration; every element's is in \
             original_metadata.ser_header_parameters (CalibrationOffset, CalibrationDelta, \
             CalibrationElement)"
        ));
    }
    Ok(dataset)
}
