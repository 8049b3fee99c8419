//! Reading: the `.xml` description (scan shape, calibrations, the `.raw` name) and the
//! `.raw` frames, seen lazily through a strided memory map that steps over the two
//! metadata rows after every 128-row frame.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio_core::metadata::{json_f64, set_path, Tree};
use emio_core::source::Threads;
use emio_core::xml::Element;
use emio_core::{
    ArraySource, Axis, ByteOrder, DType, Dataset, Error, OptionSet, Options, Progress, Result,
    ResultExt, Storage, StridedSource,
};
use serde_json::Value;

use crate::{FORMAT, FRAME_SIDE, RAW_ROWS};

emio_core::options! {
    /// Options of the EMPAD reader.
    pub struct ReadOptions {
        /// diffraction pixel size in 1/nm (overrides the .xml's calibrated_pixelsize)
        q_calibration: Option<f64> = None,
        /// replace NaN by 0 and ±inf by the largest float32 (numpy.nan_to_num)
        remove_nans: bool = Some("false"),
    }
}

/// What the `.xml` says about the acquisition.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// The `.raw` file name (relative to the `.xml`'s folder).
    pub raw_file: String,
    /// Navigation shape: `[series_count]` for a stack, `[scan_y, scan_x]` for a scan.
    pub nav_shape: Vec<u64>,
    /// Whether this is a stack of images (a series) rather than a scan.
    pub series: bool,
    /// Navigation scale and units per navigation dimension.
    pub nav_calibration: Vec<(f64, String)>,
    /// Diffraction pixel size in 1/nm, when the `.xml` records it.
    pub calibrated_pixel_size: Option<f64>,
    /// `General.date` / `General.time` from `timestamp/@isoformat`.
    pub date_time: Option<(String, String)>,
    /// The whole document as rsciio's `convert_xml_to_dict` builds it.
    pub original: Tree,
}

/// Set `path` (dot-separated, as rsciio's `DTBox(box_dots=True)` splits tags) to `value`.
fn set_dotted(tree: &mut Tree, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let node = node_at(tree, &parts);
    node.insert(last.to_string(), value);
}

/// The object at `path`, created (replacing any leaf in the way) as needed.
fn node_at<'a>(tree: &'a mut Tree, path: &[&str]) -> &'a mut Tree {
    let mut node = tree;
    for key in path {
        let entry = node
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Tree::new()));
        if !entry.is_object() {
            *entry = Value::Object(Tree::new());
        }
        node = entry.as_object_mut().expect("object just ensured");
    }
    node
}

/// rsciio's `xml2dtb`: an element with text becomes a string leaf (attributes and children
/// dropped); otherwise a node holding its attributes and children, later siblings of the
/// same name merged into (and overriding) earlier ones.
fn xml_to_tree(element: &Element, tree: &mut Tree) {
    if !element.text.is_empty() {
        set_dotted(tree, element.name, Value::String(element.text.clone()));
        return;
    }
    let parts: Vec<&str> = element.name.split('.').collect();
    let node = node_at(tree, &parts);
    for (key, value) in &element.attributes {
        node.insert(key.to_string(), Value::String(value.clone()));
    }
    for child in &element.children {
        xml_to_tree(child, node);
    }
}

fn get<'a>(tree: &'a Tree, path: &str) -> Option<&'a str> {
    emio_core::metadata::get_str(tree, path)
}

fn parse_number<T: std::str::FromStr>(tree: &Tree, path: &str) -> Result<Option<T>> {
    get(tree, path)
        .map(|text| {
            text.trim().parse::<T>().map_err(|_| {
                Error::malformed_at_unknown(FORMAT, format!("a number in <{path}>, found {text:?}"))
            })
        })
        .transpose()
}

/// Numbers of a Python list literal like `[4.5e-06, 4.5e-06]`, or one number.
fn parse_numbers(text: &str) -> Option<Vec<f64>> {
    text.trim()
        .trim_start_matches(['[', '('])
        .trim_end_matches([']', ')'])
        .split(',')
        .map(|s| s.trim().parse::<f64>().ok())
        .collect()
}

/// pint's `to_compact` for a length in metres: the SI prefix that puts the magnitude of
/// `metres * factor` in `[1, 1000)`, returned as `(metres in that unit, unit)`.
pub fn compact_length(metres: f64, factor: f64) -> (f64, String) {
    const PREFIXES: [(i32, &str); 21] = [
        (-30, "q"),
        (-27, "r"),
        (-24, "y"),
        (-21, "z"),
        (-18, "a"),
        (-15, "f"),
        (-12, "p"),
        (-9, "n"),
        (-6, "µ"),
        (-3, "m"),
        (0, ""),
        (3, "k"),
        (6, "M"),
        (9, "G"),
        (12, "T"),
        (15, "P"),
        (18, "E"),
        (21, "Z"),
        (24, "Y"),
        (27, "R"),
        (30, "Q"),
    ];
    let total = metres * factor;
    if total == 0.0 || !total.is_finite() {
        return (metres, "m".into());
    }
    let power = ((total.abs().log10() / 3.0).floor() * 3.0) as i32;
    let (power, prefix) = PREFIXES
        .iter()
        .find(|(p, _)| *p >= power)
        .copied()
        .unwrap_or(PREFIXES[PREFIXES.len() - 1]);
    (total / 10f64.powi(power) / factor, format!("{prefix}m"))
}

/// Parse the `.xml` document.
pub fn describe(text: &str) -> Result<Description> {
    let root = emio_core::xml::parse(text, FORMAT)?;
    let mut original = Tree::new();
    xml_to_tree(&root, &mut original);
    let raw_file = get(&original, "root.raw_file.filename")
        .ok_or_else(|| {
            Error::malformed_at_unknown(FORMAT, "<raw_file filename=\"...\"/> in the .xml")
        })?
        .to_string();
    let (nav_shape, series) =
        if let Some(n) = parse_number::<u64>(&original, "root.scan_parameters.series_count")? {
            (vec![n], true)
        } else if let (Some(x), Some(y)) = (
            parse_number::<u64>(&original, "root.pix_x")?,
            parse_number::<u64>(&original, "root.pix_y")?,
        ) {
            (vec![y, x], false)
        } else {
            // Newer files: `scan_x<N>_y<M>.raw`.
            let stem = raw_file.split('.').next().unwrap_or_default();
            let parts: Vec<&str> = stem.split('_').collect();
            let parsed = (raw_file.starts_with("scan_") && parts.len() >= 3)
                .then(|| {
                    let x = parts[parts.len() - 2].get(1..)?.parse::<u64>().ok()?;
                    let y = parts[parts.len() - 1].get(1..)?.parse::<u64>().ok()?;
                    Some((x, y))
                })
                .flatten();
            let (x, y) = parsed.ok_or_else(|| {
                Error::malformed_at_unknown(
                    FORMAT,
                    "the scan shape: <pix_x>/<pix_y>, <series_count> or a raw file named \
                     scan_x<N>_y<M>.raw",
                )
            })?;
            (vec![y, x], false)
        };
    let mut nav_calibration: Vec<(f64, String)> = if series {
        vec![(1.0, "ms".into())]
    } else {
        vec![(1.0, String::new()); 2]
    };
    if !series {
        let fov = get(
            &original,
            "root.iom_measurements.optics.get_full_scan_field_of_view",
        )
        .and_then(parse_numbers);
        let fov_xy = get(&original, "root.iom_measurements.full_scan_field_of_view.x")
            .and_then(parse_numbers);
        let factor = get(
            &original,
            "root.iom_measurements.full_scan_field_of_view.scale_factor",
        )
        .and_then(parse_numbers);
        if let Some(fov) = fov.filter(|f| f.len() >= 2) {
            for (i, cal) in nav_calibration.iter_mut().enumerate() {
                let n = nav_shape[i] as f64;
                *cal = compact_length(fov[i] / n, n);
            }
        } else if let (Some(fov), Some(factor)) = (fov_xy, factor) {
            // The field of view is that of the longer scan side, stored multiplied by the
            // scale factor.
            let n = nav_shape.iter().copied().max().unwrap_or(1) as f64;
            let (scale, units) = compact_length(fov[0] / factor[0] / n, 1.0);
            nav_calibration = vec![(scale, units); 2];
        }
    }
    let calibrated_pixel_size =
        parse_number::<f64>(&original, "root.iom_measurements.calibrated_pixelsize")?
            .map(|v| v * 1e9);
    let date_time = get(&original, "root.timestamp.isoformat").and_then(|iso| {
        iso.split_once('T')
            .map(|(d, t)| (d.to_string(), t.to_string()))
    });
    Ok(Description {
        raw_file,
        nav_shape,
        series,
        nav_calibration,
        calibrated_pixel_size,
        date_time,
        original,
    })
}

/// `NaN` → 0 and ±∞ → the largest finite value of that sign, as `numpy.nan_to_num`.
struct NanToNum(StridedSource);

impl ArraySource for NanToNum {
    fn dtype(&self) -> DType {
        DType::F32
    }
    fn shape(&self) -> &[u64] {
        self.0.shape()
    }
    /// Reads the wrapped source with the caller's progress and [`Threads`].
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        self.0
            .read_region_with(start, shape, out, progress, threads)?;
        for value in out.chunks_exact_mut(4) {
            let v = f32::from_ne_bytes(value.try_into().expect("4 bytes"));
            let fixed = if v.is_nan() {
                0.0
            } else if v == f32::INFINITY {
                f32::MAX
            } else if v == f32::NEG_INFINITY {
                f32::MIN
            } else {
                continue;
            };
            value.copy_from_slice(&fixed.to_ne_bytes());
        }
        Ok(())
    }
    fn chunk_shape(&self) -> Vec<u64> {
        self.0.chunk_shape()
    }
    fn decodes_whole_chunks(&self) -> bool {
        self.0.decodes_whole_chunks()
    }
}

/// The `.raw` path named by the `.xml` at `xml_path`.
pub fn raw_path(xml_path: &Path, description: &Description) -> PathBuf {
    xml_path
        .parent()
        .unwrap_or(Path::new(""))
        .join(&description.raw_file)
}

/// Open an EMPAD `.xml` and its `.raw`.
pub fn open(path: &Path, options: &Options) -> Result<Vec<Dataset>> {
    let options = ReadOptions::from_options(options)?;
    let bytes = emio_core::inputs::read_description(path, FORMAT, "an .xml description")?;
    let text = String::from_utf8_lossy(&bytes);
    let description = describe(&text).with_path(path)?;
    let raw = raw_path(path, &description);
    if !raw.is_file() {
        return Err(Error::io(
            &raw,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "the EMPAD frames file named by {} (<raw_file filename=\"{}\"/>) is missing",
                    path.display(),
                    description.raw_file
                ),
            ),
        ));
    }
    let storage = Storage::map(&raw)?;
    let frame_record = RAW_ROWS * FRAME_SIDE * 4;
    let frames = emio_core::source::element_count(&description.nav_shape);
    let needed = frames
        .and_then(|n| n.checked_mul(frame_record))
        .unwrap_or(u64::MAX);
    let field = format!(
        "{} frames of {RAW_ROWS}×{FRAME_SIDE} float32 (navigation shape {:?})",
        frames.map_or("too many".into(), |n| n.to_string()),
        description.nav_shape
    );
    emio_core::budget::check_stored(FORMAT, &field, 0, needed, storage.len() as u64)
        .with_path(&raw)?;
    let surplus = storage.len() as u64 - needed;
    // Size-1 dimensions are dropped, as rsciio's squeeze does.
    let mut dims: Vec<(u64, i64, Axis)> = Vec::new();
    let names: &[&str] = if description.series {
        &["series_count"]
    } else {
        &["scan_y", "scan_x"]
    };
    let mut stride = frame_record as i64;
    let mut nav: Vec<(u64, i64, Axis)> = Vec::new();
    for (i, &n) in description.nav_shape.iter().enumerate().rev() {
        let (scale, units) = description.nav_calibration[i].clone();
        nav.push((n, stride, Axis::uniform(names[i], units, scale, 0.0, true)));
        stride = stride.saturating_mul(n as i64);
    }
    nav.reverse();
    dims.extend(nav);
    let (q, q_units) = match options.q_calibration.or(description.calibrated_pixel_size) {
        Some(q) => (q, "1/nm"),
        None => (1.0, ""),
    };
    for (name, stride) in [("height", (FRAME_SIDE * 4) as i64), ("width", 4)] {
        dims.push((
            FRAME_SIDE,
            stride,
            Axis::uniform(name, q_units, q, -64.0 * q, false),
        ));
    }
    dims.retain(|(n, _, _)| *n != 1);
    let shape: Vec<u64> = dims.iter().map(|d| d.0).collect();
    let strides: Vec<i64> = dims.iter().map(|d| d.1).collect();
    let axes: Vec<Axis> = dims.into_iter().map(|d| d.2).collect();
    let frames = StridedSource::new(
        FORMAT,
        storage,
        0,
        DType::F32,
        shape,
        strides,
        ByteOrder::Little,
    )
    .with_path(&raw)?;
    let source: Arc<dyn ArraySource> = if options.remove_nans {
        Arc::new(NanToNum(frames))
    } else {
        Arc::new(frames)
    };

    let file_name = emio_core::metadata::file_name(path);
    let title = Path::new(&file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut metadata = Tree::new();
    set_path(
        &mut metadata,
        "General.original_filename",
        file_name.as_str(),
    );
    set_path(&mut metadata, "General.title", title);
    if let Some((date, time)) = &description.date_time {
        set_path(&mut metadata, "General.date", date.as_str());
        set_path(&mut metadata, "General.time", time.as_str());
    }
    set_path(&mut metadata, "Signal.signal_type", "electron_diffraction");
    if let Some(kv) = parse_number::<f64>(
        &description.original,
        "root.iom_measurements.source.get_voltage",
    )
    .ok()
    .flatten()
    {
        set_path(
            &mut metadata,
            "Acquisition_instrument.TEM.beam_energy",
            json_f64(kv / 1e3),
        );
    }
    let mut dataset = Dataset::new(source, axes, metadata, description.original)?;
    if surplus > 0 {
        dataset.warn(format!(
            "{}: {surplus} bytes after the last of the frames the .xml describes were ignored",
            raw.display()
        ));
    }
    if !description.series
        && description
            .nav_calibration
            .iter()
            .all(|(_, u)| u.is_empty())
    {
        dataset.warn("the .xml records no scan field of view: navigation axes uncalibrated");
    }
    Ok(vec![dataset])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_lengths_follow_pint() {
        let (v, u) = compact_length(4.5663426505682195e-06 / 4.0, 4.0);
        assert_eq!(u, "µm");
        assert!((v - 1.1415856626420549).abs() < 1e-12);
        assert_eq!(compact_length(5e-7, 1.0).1, "nm");
        assert_eq!(compact_length(5e-7, 4.0).1, "µm");
        assert_eq!(compact_length(2.5e-10, 1.0).1, "pm");
    }

    #[test]
    fn dotted_tags_nest_and_repeated_elements_merge() {
        let d = describe(
            "<root><raw_file filename=\"a.raw\"/><pix_x>2</pix_x><pix_y>3</pix_y>\
             <m><optics.get_x>1</optics.get_x></m><r i=\"0\"><v>1</v></r><r i=\"1\"/></root>",
        )
        .unwrap();
        assert_eq!(d.nav_shape, vec![3, 2]);
        assert_eq!(get(&d.original, "root.m.optics.get_x"), Some("1"));
        assert_eq!(get(&d.original, "root.r.i"), Some("1"));
        assert_eq!(get(&d.original, "root.r.v"), Some("1"));
    }

    #[test]
    fn scan_shape_from_the_raw_file_name_or_series() {
        let d = describe("<root><raw_file filename=\"scan_x5_y7.raw\"/></root>").unwrap();
        assert_eq!((d.nav_shape, d.series), (vec![7, 5], false));
        let d = describe(
            "<root><raw_file filename=\"s.raw\"/><scan_parameters>\
             <series_count>9</series_count></scan_parameters></root>",
        )
        .unwrap();
        assert_eq!((d.nav_shape, d.series), (vec![9], true));
        assert!(describe("<root><raw_file filename=\"s.raw\"/></root>").is_err());
        assert!(describe("<root><pix_x>2</pix_x></root>").is_err());
    }
}
