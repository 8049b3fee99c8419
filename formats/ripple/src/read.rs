//! Reading: the `.rpl` description (or the `rpl_info` option) mapped onto axes and
//! HyperSpy metadata as rsciio does, and the `.raw` file memory-mapped as a strided source
//! in its stored byte order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio_core::metadata::{set_path, value_f64, Tree};
use emio_core::{
    Axis, Dataset, Error, OptionSet, Options, Result, ResultExt, Storage, StridedSource,
};
use serde_json::Value;

use crate::rpl::{self, Layout};
use crate::FORMAT;

emio_core::options! {
    /// Options of the Ripple reader.
    pub struct ReadOptions {
        /// the .rpl keys as a JSON object, to read a .raw without .rpl (open the .raw itself with
        /// --from ripple)
        rpl_info: Option<String> = None,
    }
}

/// The `.raw` beside `path`: its name with the last three characters replaced by `raw`
/// (or `RAW`), as rsciio looks for it; `None` when neither exists.
pub fn raw_path(path: &Path) -> Option<PathBuf> {
    let text = path.as_os_str().to_string_lossy();
    let cut = text.char_indices().rev().nth(2).map_or(0, |(i, _)| i);
    ["raw", "RAW"]
        .iter()
        .map(|ext| PathBuf::from(format!("{}{ext}", &text[..cut])))
        .find(|p| p.is_file())
}

/// `rpl_info` given as an option: a JSON object, or a Python dict literal.
fn info_from_option(text: &str) -> Result<Tree> {
    let json = if text.trim_start().starts_with('{') && text.contains('\'') {
        text.replace('\'', "\"")
            .replace("True", "true")
            .replace("False", "false")
            .replace("None", "null")
    } else {
        text.to_string()
    };
    let bad = || {
        Error::invalid_option(
            "rpl_info",
            "expected a JSON object of .rpl keys, e.g. {\"width\": 4, \"height\": 2, \"depth\": \
             8, \"offset\": 0, \"data-length\": \"2\", \"data-type\": \"unsigned\", \
             \"byte-order\": \"little-endian\", \"record-by\": \"vector\"}",
        )
    };
    let Value::Object(given) = serde_json::from_str::<Value>(&json).map_err(|_| bad())? else {
        return Err(bad());
    };
    // Values are typed as in a .rpl file (numbers given as text are accepted too).
    given
        .into_iter()
        .map(|(k, v)| {
            let text = match &v {
                Value::String(s) => s.clone(),
                Value::Null => return Ok((k, v)),
                other => other.to_string(),
            };
            let typed = rpl::typed_value(&k, &text)
                .map_err(|e| Error::invalid_option("rpl_info", e.to_string()))?;
            Ok((k, typed))
        })
        .collect()
}

fn float(info: &Tree, key: &str) -> Option<f64> {
    info.get(key).and_then(value_f64)
}

fn string(info: &Tree, key: &str) -> Option<String> {
    info.get(key).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Axes, in array order, for the stored dimensions of size > 1 (rsciio's mapping).
fn axes(info: &Tree, layout: &Layout, squeezed_rank: usize) -> Vec<Axis> {
    let vector = layout.record_by == "vector";
    // (name, size) in array order before dropping size-1 dimensions.
    let (names, sizes, navigate) = if vector {
        (
            ["height", "width", "depth"],
            [layout.height, layout.width, layout.depth],
            [true, true, false],
        )
    } else {
        let navigate = if layout.record_by == "image" || squeezed_rank != 1 {
            [true, false, false]
        } else {
            [true, true, false]
        };
        (
            ["depth", "height", "width"],
            [layout.depth, layout.height, layout.width],
            navigate,
        )
    };
    names
        .iter()
        .zip(sizes)
        .zip(navigate)
        .filter(|((_, size), _)| *size > 1)
        .map(|((&name, _), navigate)| {
            let scale_key = format!("{name}-scale");
            let scale = float(info, &scale_key)
                .or_else(|| {
                    (name == "depth")
                        .then(|| float(info, "ev-per-chan"))
                        .flatten()
                })
                .unwrap_or(1.0);
            let offset = float(info, &format!("{name}-origin")).unwrap_or(0.0);
            let units = string(info, &format!("{name}-units"))
                .filter(|u| u != "<undefined>")
                .unwrap_or_default();
            let label = string(info, &format!("{name}-name")).unwrap_or_else(|| name.into());
            Axis::uniform(label, units, scale, offset, navigate)
        })
        .collect()
}

/// HyperSpy metadata from `rpl_info`, as rsciio maps it.
fn metadata(info: &Tree, file_name: &str) -> Tree {
    let mut md = Tree::new();
    set_path(&mut md, "General.original_filename", file_name);
    for key in ["date", "time", "title"] {
        let value = string(info, key).unwrap_or_default();
        set_path(&mut md, &format!("General.{key}"), value);
    }
    set_path(
        &mut md,
        "Signal.signal_type",
        string(info, "signal").unwrap_or_default(),
    );
    let tem = "Acquisition_instrument.TEM";
    for (key, path) in [
        ("convergence-angle", "convergence_angle"),
        ("tilt-stage", "Stage.tilt_alpha"),
        ("collection-angle", "Detector.EELS.collection_angle"),
        ("beam-energy", "beam_energy"),
        ("elevation-angle", "Detector.EDS.elevation_angle"),
        ("azimuth-angle", "Detector.EDS.azimuth_angle"),
        ("energy-resolution", "Detector.EDS.energy_resolution_MnKa"),
        (
            "detector-peak-width-ev",
            "Detector.EDS.energy_resolution_MnKa",
        ),
        ("live-time", "Detector.EDS.live_time"),
    ] {
        if let Some(v) = info.get(key) {
            set_path(&mut md, &format!("{tem}.{path}"), v.clone());
        }
    }
    md
}

/// Open a `.rpl` (or, with `rpl_info`, any file whose `.raw` is beside it).
pub fn open(path: &Path, options: &Options) -> Result<Vec<Dataset>> {
    let options = ReadOptions::from_options(options)?;
    let mut info = match options.rpl_info.as_deref() {
        Some(text) => info_from_option(text)?,
        None => {
            let bytes = emio_core::inputs::read_description(path, FORMAT, "a .rpl description")?;
            let text = emio_core::latin1::latin1(&bytes);
            rpl::parse(&text).with_path(path)?
        }
    };
    let layout = Layout::from_info(&info).with_path(path)?;
    let raw = raw_path(path).ok_or_else(|| {
        let expected = path.with_extension("raw");
        Error::io(
            &expected,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "the Ripple data file (.raw or .RAW) beside {} is missing",
                    path.display()
                ),
            ),
        )
    })?;
    for key in ["date", "time", "signal", "title"] {
        info.entry(key.to_string())
            .or_insert_with(|| Value::String(String::new()));
    }
    let storage = Storage::map(&raw)?;
    let shape: Vec<u64> = layout.full_shape().into_iter().filter(|&n| n > 1).collect();
    let needed = emio_core::source::element_count(&shape)
        .and_then(|n| n.checked_mul(layout.dtype.size() as u64))
        .unwrap_or(u64::MAX);
    let field = format!("{} values of shape {shape:?}", layout.dtype);
    emio_core::budget::check_stored(FORMAT, &field, layout.offset, needed, storage.len() as u64)
        .with_path(&raw)?;
    let surplus = storage.len() as u64 - layout.offset - needed;
    let source = StridedSource::contiguous(
        FORMAT,
        storage,
        layout.offset,
        layout.dtype,
        shape.clone(),
        layout.order,
    )
    .with_path(&raw)?;
    let axes = axes(&info, &layout, shape.len());
    if axes.len() != shape.len() {
        return Err(Error::malformed_at_unknown(
            FORMAT,
            "one axis per stored dimension of size > 1",
        )
        .with_path(path));
    }
    let file_name = emio_core::metadata::file_name(path);
    let metadata = metadata(&info, &file_name);
    let mut dataset = Dataset::new(Arc::new(source), axes, metadata, info)?;
    if surplus > 0 {
        dataset.warn(format!(
            "{}: {surplus} bytes after the values the .rpl describes were ignored",
            raw.display()
        ));
    }
    Ok(vec![dataset])
}
