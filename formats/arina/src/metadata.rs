//! ARINA metadata: the scan-metadata file, the NXmx tree of the master as original
//! metadata, and its calibrations mapped to HyperSpy's tree.

use std::path::{Path, PathBuf};

use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use emio_core::serde_json::Value;
use emio_core::Result;
use emio_h5::{Element, GroupWalk, H5File};

/// Datasets of at most this many elements are kept as values in the original metadata;
/// larger ones (flat field, pixel mask, count-rate tables) are summarised.
const MAX_VALUES: u64 = 64;

/// What the scan-metadata file (`<stem>.h5`, group `STEM Metadata`) says.
#[derive(Debug, Clone)]
pub(crate) struct ScanMetadata {
    /// `[NumPixelsY, NumPixelsX]`.
    pub scan_shape: Option<[u64; 2]>,
    /// `Pixel Size` (nm).
    pub pixel_size_nm: Option<f64>,
    /// All attributes of `STEM Metadata`.
    pub attrs: Tree,
}

/// The scan-metadata file beside master `path` (`X_master.h5` -> `X.h5`).
fn scan_file(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix("_master.h5")?;
    Some(path.with_file_name(format!("{stem}.h5")))
}

/// First number of an attribute value (a scalar or a one-element array).
fn first_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Array(a) => a.first().and_then(value_f64),
        other => value_f64(other),
    }
}

/// Read the scan-metadata file, when there is one that emio can read.
pub(crate) fn scan_metadata(path: &Path) -> Option<ScanMetadata> {
    let file = scan_file(path).filter(|f| f.is_file())?;
    let h5 = H5File::open(&file).ok()?;
    let attrs = h5.attrs("/STEM Metadata").ok()?;
    let count = |k: &str| {
        first_number(attrs.get(k))
            .filter(|v| *v >= 1.0)
            .map(|v| v as u64)
    };
    let scan_shape = count("NumPixelsY")
        .zip(count("NumPixelsX"))
        .map(|(y, x)| [y, x]);
    let pixel_size_nm = first_number(attrs.get("Pixel Size"));
    Some(ScanMetadata {
        scan_shape,
        pixel_size_nm,
        attrs,
    })
}

/// The values of dataset `path`: a scalar, a list, or a summary of a large array.
fn dataset_value(file: &H5File, path: &str) -> Option<Value> {
    let ds = file.dataset(path).ok()?;
    let scalar = |mut v: Vec<Value>| {
        if ds.shape.is_empty() && v.len() == 1 {
            v.pop()
        } else {
            Some(Value::Array(v))
        }
    };
    if ds.len() > MAX_VALUES {
        return Some(Value::from(format!(
            "ndarray(shape={:?}, dtype={:?})",
            ds.shape, ds.element
        )));
    }
    match ds.element {
        Element::Str => scalar(
            ds.read_strings()
                .ok()?
                .into_iter()
                .map(Value::from)
                .collect(),
        ),
        Element::Numeric(..) => scalar(ds.read_f64().ok()?.into_iter().map(json_f64).collect()),
        _ => None,
    }
}

/// The group at `path` as a tree: attributes as `@name`, datasets as values, subgroups
/// (each group once, however many links lead to it: [`GroupWalk`]).
fn group_tree(file: &H5File, path: &str, depth: usize, walk: &mut GroupWalk) -> Result<Tree> {
    let mut tree = Tree::new();
    if !walk.enter(file, path)? {
        return Ok(tree);
    }
    for (k, v) in file.attrs(path).unwrap_or_default() {
        tree.insert(format!("@{k}"), v);
    }
    for name in file.datasets(path).unwrap_or_default() {
        let p = format!("{path}/{name}");
        if let Some(v) = dataset_value(file, &p) {
            tree.insert(name.clone(), v);
        }
        for (k, v) in file.attrs(&p).unwrap_or_default() {
            tree.insert(format!("{name}@{k}"), v);
        }
    }
    if depth < 8 {
        for name in file.groups(path).unwrap_or_default() {
            let sub = group_tree(file, &format!("{path}/{name}"), depth + 1, walk)?;
            tree.insert(name, Value::Object(sub));
        }
    }
    Ok(tree)
}

/// A number at `path` in `tree` (slash-separated keys).
fn number(tree: &Tree, path: &str) -> Option<f64> {
    let mut cur: Option<&Value> = None;
    for (i, key) in path.split('/').enumerate() {
        cur = if i == 0 { tree.get(key) } else { cur?.get(key) };
    }
    first_number(cur)
}

/// HyperSpy metadata and original metadata of a master file with `frames` frames (and
/// `masked_pixels` pixels flagged in its pixel mask, when it has one).
pub(crate) fn trees(
    master: &H5File,
    file_name: &str,
    scan: Option<&ScanMetadata>,
    masked_pixels: Option<usize>,
    frames: u64,
) -> Result<(Tree, Tree)> {
    let mut original = Tree::new();
    original.insert(
        "entry".into(),
        Value::Object(group_tree(
            master,
            "/entry",
            0,
            &mut GroupWalk::new(crate::FORMAT),
        )?),
    );
    if let Some(s) = scan {
        original.insert("STEM Metadata".into(), Value::Object(s.attrs.clone()));
    }
    let mut meta = Tree::new();
    set_path(&mut meta, "General.title", "");
    set_path(&mut meta, "General.original_filename", file_name);
    set_path(&mut meta, "Signal.signal_type", "");
    let tem = "Acquisition_instrument.TEM";
    if let Some(s) = scan {
        for (key, path, factor) in [
            ("High Tension", "beam_energy", 1e-3),
            ("Camera Length", "camera_length", 1e3),
            ("Magnification", "magnification", 1.0),
        ] {
            if let Some(v) = first_number(s.attrs.get(key)) {
                set_path(&mut meta, &format!("{tem}.{path}"), json_f64(v * factor));
            }
        }
    }
    let det = "instrument/detector";
    let entry = match original.get("entry") {
        Some(Value::Object(t)) => t.clone(),
        _ => Tree::new(),
    };
    let d = format!("{tem}.Detector.Diffraction");
    for (src, dst, factor) in [
        ("count_time", "exposure_time", 1.0),
        ("frame_time", "frame_time", 1.0),
        ("detector_distance", "detector_distance", 1e3),
        ("beam_center_x", "beam_center_x", 1.0),
        ("beam_center_y", "beam_center_y", 1.0),
        ("x_pixel_size", "pixel_size", 1e6),
        ("threshold_energy", "threshold_energy", 1e-3),
        ("sensor_thickness", "sensor_thickness", 1e6),
    ] {
        if let Some(v) = number(&entry, &format!("{det}/{src}")) {
            set_path(&mut meta, &format!("{d}.{dst}"), json_f64(v * factor));
        }
    }
    if scan.is_none() {
        if let Some(ev) = number(&entry, &format!("{det}/detectorSpecific/photon_energy")) {
            set_path(
                &mut meta,
                &format!("{tem}.beam_energy"),
                json_f64(ev * 1e-3),
            );
        }
    }
    let text = |k: &str| {
        entry
            .get("instrument")
            .and_then(|i| i.get("detector"))
            .and_then(|dd| dd.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if let Some(v) = text("description") {
        set_path(&mut meta, &format!("{d}.model"), v);
    }
    if let Some(v) = text("detector_number") {
        set_path(&mut meta, &format!("{d}.serial_number"), v);
    }
    if let Some(v) = text("sensor_material") {
        set_path(&mut meta, &format!("{d}.sensor_material"), v);
    }
    set_path(&mut meta, &format!("{d}.frames"), frames);
    if let Some(masked) = masked_pixels {
        set_path(&mut meta, &format!("{d}.masked_pixels"), masked);
    }
    Ok((meta, original))
}
