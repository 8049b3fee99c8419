//! The DM3/DM4 writer: one image with its dtype, dimensions, calibrations, title and tags,
//! laid out the way GMS and Nion Swift write minimal files (`ImageList`,
//! `DocumentObjectList`, `ImageSourceList`). DM4 (64-bit sizes) is the default; a `.dm3`
//! path gets DM3 (32-bit sizes, no per-tag size field), which holds files below 4 GiB.
//!
//! The tag tree is built first with the pixel array as a placeholder of known size, so
//! every group's byte size (DM4 stores them, and both store the root's) is computed before
//! writing; the pixels are then
//! streamed region by region into the placeholder's position. Spectrum images (one signal
//! axis, last, after two or more navigation axes) are written energy-slowest as DM stores
//! them, slab by slab.
//!
//! Tags come from the dataset's original metadata when it was read from a DM file (its
//! `ImageTags` and top-level tags), otherwise from its normalized metadata translated to the
//! DM tags the reader maps back (`Microscope Info.Voltage`, `DataBar.Acquisition Date`, ...).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use emio_core::metadata::{get_f64, get_path, get_str};
use emio_core::output::{stream_c_order, STREAM_REGION_BYTES};
use emio_core::serde_json::Value;
use emio_core::{AxisKind, DType, Dataset, Error, Progress, Result, Tree};

use crate::tags::{ElemType, Scalar};

const FORMAT: &str = "dm";

/// The two versions of the tag file: the width of size and count words, and whether every
/// tag carries its byte size (DM4 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// DM3: 32-bit words.
    Dm3,
    /// DM4: 64-bit words and per-tag sizes.
    Dm4,
}

impl Version {
    /// Bytes per size/count word.
    fn word(self) -> u64 {
        match self {
            Version::Dm3 => 4,
            Version::Dm4 => 8,
        }
    }

    /// Bytes of the per-tag size field.
    fn tag_size_field(self) -> u64 {
        match self {
            Version::Dm3 => 0,
            Version::Dm4 => 8,
        }
    }

    /// The version a path's extension asks for: DM3 for `.dm3`, DM4 otherwise.
    pub fn for_path(path: &Path) -> Self {
        let dm3 = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("dm3"));
        if dm3 {
            Version::Dm3
        } else {
            Version::Dm4
        }
    }
}

/// How the pixels are stored: DM `DataType`, array element type and size per value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelFormat {
    data_type: i64,
    /// Simple element type, or the float type of complex (struct) elements.
    elem: ElemType,
    /// Whether each element is a (re, im) struct.
    complex: bool,
    /// Bytes per element on disk.
    size: u64,
}

fn pixel_format(dtype: DType) -> Result<PixelFormat> {
    let f = |data_type, elem: ElemType| PixelFormat {
        data_type,
        elem,
        complex: false,
        size: elem.size(),
    };
    Ok(match dtype {
        DType::I16 => f(1, ElemType::I16),
        DType::F32 | DType::F16 => f(2, ElemType::F32),
        DType::U8 => f(6, ElemType::Octet),
        DType::I32 => f(7, ElemType::I32),
        DType::I8 => f(9, ElemType::Char),
        DType::U16 => f(10, ElemType::U16),
        DType::U32 => f(11, ElemType::U32),
        DType::F64 => f(12, ElemType::F64),
        DType::Bool => f(14, ElemType::Bool),
        DType::Rgb8 | DType::Rgba8 => f(23, ElemType::I32),
        DType::C64 => PixelFormat {
            data_type: 3,
            elem: ElemType::F32,
            complex: true,
            size: 8,
        },
        DType::C128 => PixelFormat {
            data_type: 13,
            elem: ElemType::F64,
            complex: true,
            size: 16,
        },
        other => {
            return Err(Error::unsupported(
                FORMAT,
                format!("{other} pixels (DM images have no such data type)"),
            ))
        }
    })
}

/// Data of a tag to write.
#[derive(Debug, Clone, PartialEq)]
pub enum WData {
    /// A simple value.
    Scalar(ElemType, Scalar),
    /// Text as an array of UTF-16 code units (how DM stores strings).
    Text(String),
    /// An array of simple values.
    Array(ElemType, Vec<Scalar>),
    /// An array of structs with the given field types.
    StructArray(Vec<ElemType>, Vec<Vec<Scalar>>),
    /// The pixel array, streamed at write time.
    Pixels,
}

/// A tag to write: a group of named (or unnamed: empty name) tags, or data.
#[derive(Debug, Clone, PartialEq)]
pub enum WTag {
    /// A group.
    Group(Vec<(String, WTag)>),
    /// Data.
    Data(WData),
}

fn scalar_bytes(t: ElemType, s: Scalar, out: &mut Vec<u8>) {
    let (i, u, f) = match s {
        Scalar::Int(v) => (v, v as u64, v as f64),
        Scalar::UInt(v) => (v as i64, v, v as f64),
        Scalar::Float(v) => (v as i64, v as u64, v),
        Scalar::Char(c) => (i64::from(c), u64::from(c), f64::from(c)),
    };
    match t {
        ElemType::I16 => out.extend_from_slice(&(i as i16).to_le_bytes()),
        ElemType::I32 => out.extend_from_slice(&(i as i32).to_le_bytes()),
        ElemType::U16 => out.extend_from_slice(&(u as u16).to_le_bytes()),
        ElemType::U32 => out.extend_from_slice(&(u as u32).to_le_bytes()),
        ElemType::F32 => out.extend_from_slice(&(f as f32).to_le_bytes()),
        ElemType::F64 => out.extend_from_slice(&f.to_le_bytes()),
        ElemType::Bool | ElemType::Char | ElemType::Octet => out.push(i as u8),
        ElemType::I64 => out.extend_from_slice(&i.to_le_bytes()),
        ElemType::U64 => out.extend_from_slice(&u.to_le_bytes()),
    }
}

/// Type description words and data bytes of non-pixel data.
fn encode(data: &WData, pixels: (PixelFormat, u64)) -> (Vec<u64>, Vec<u8>) {
    let mut bytes = Vec::new();
    let info = match data {
        WData::Scalar(t, s) => {
            scalar_bytes(*t, *s, &mut bytes);
            vec![t.code()]
        }
        WData::Text(s) => {
            let units: Vec<u16> = s.encode_utf16().collect();
            for u in &units {
                bytes.extend_from_slice(&u.to_le_bytes());
            }
            vec![20, 4, units.len() as u64]
        }
        WData::Array(t, values) => {
            for v in values {
                scalar_bytes(*t, *v, &mut bytes);
            }
            vec![20, t.code(), values.len() as u64]
        }
        WData::StructArray(fields, rows) => {
            for row in rows {
                for (t, v) in fields.iter().zip(row) {
                    scalar_bytes(*t, *v, &mut bytes);
                }
            }
            let mut info = vec![20, 15, 0, fields.len() as u64];
            for t in fields {
                info.extend([0, t.code()]);
            }
            info.push(rows.len() as u64);
            info
        }
        WData::Pixels => {
            let (pf, count) = pixels;
            if pf.complex {
                vec![20, 15, 0, 2, 0, pf.elem.code(), 0, pf.elem.code(), count]
            } else {
                vec![20, pf.elem.code(), count]
            }
        }
    };
    (info, bytes)
}

/// Byte size of a tag's body (after the DM4 size field) in `version`.
fn body_size(tag: &WTag, pixels: (PixelFormat, u64), version: Version) -> u64 {
    let word = version.word();
    match tag {
        WTag::Group(entries) => {
            2 + word
                + entries
                    .iter()
                    .map(|(name, t)| {
                        1 + 2
                            + name.len() as u64
                            + version.tag_size_field()
                            + body_size(t, pixels, version)
                    })
                    .sum::<u64>()
        }
        WTag::Data(d) => {
            let (info, bytes) = encode(d, pixels);
            let data = match d {
                WData::Pixels => pixels.0.size * pixels.1,
                _ => bytes.len() as u64,
            };
            4 + word + word * info.len() as u64 + data
        }
    }
}

struct TagWriter<'a, W: Write> {
    out: W,
    path: &'a Path,
    pixels: (PixelFormat, u64),
    version: Version,
}

impl<W: Write> TagWriter<'_, W> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b).map_err(|e| Error::io(self.path, e))
    }

    /// A size or count word of the file's version (the caller checked DM3 values fit).
    fn put_word(&mut self, v: u64) -> Result<()> {
        match self.version {
            Version::Dm3 => self.put(&(v as u32).to_be_bytes()),
            Version::Dm4 => self.put(&v.to_be_bytes()),
        }
    }

    fn group_body(
        &mut self,
        entries: &[(String, WTag)],
        stream: &mut dyn FnMut(&mut W) -> Result<()>,
    ) -> Result<()> {
        self.put(&[0, 0])?;
        self.put_word(entries.len() as u64)?;
        for (name, tag) in entries {
            let kind = if matches!(tag, WTag::Group(_)) {
                20u8
            } else {
                21
            };
            self.put(&[kind])?;
            let name_len = u16::try_from(name.len()).map_err(|_| {
                Error::unsupported(
                    FORMAT,
                    format!("tag name longer than 65535 bytes: {name:.40}"),
                )
            })?;
            self.put(&name_len.to_be_bytes())?;
            self.put(name.as_bytes())?;
            if self.version == Version::Dm4 {
                self.put_word(body_size(tag, self.pixels, self.version))?;
            }
            match tag {
                WTag::Group(sub) => self.group_body(sub, stream)?,
                WTag::Data(d) => {
                    let (info, bytes) = encode(d, self.pixels);
                    self.put(b"%%%%")?;
                    self.put_word(info.len() as u64)?;
                    for w in info {
                        self.put_word(w)?;
                    }
                    if matches!(d, WData::Pixels) {
                        stream(&mut self.out)?;
                    } else {
                        self.put(&bytes)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn text(s: impl Into<String>) -> WTag {
    WTag::Data(WData::Text(s.into()))
}

fn int(v: i64) -> WTag {
    WTag::Data(WData::Scalar(ElemType::I32, Scalar::Int(v)))
}

fn float(v: f64) -> WTag {
    WTag::Data(WData::Scalar(ElemType::F64, Scalar::Float(v)))
}

fn group(entries: Vec<(&str, WTag)>) -> WTag {
    WTag::Group(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The name rsciio (and this crate's reader) gives the `n`-th unnamed group or data tag.
fn unnamed_key(is_group: bool, n: usize) -> String {
    if is_group {
        format!("TagGroup{n}")
    } else {
        format!("Data{n}")
    }
}

/// Tags from a JSON tree (as in `original_metadata`). Keys equal to the name the reader
/// gives unnamed entries (`TagGroup0`, `Data0`, ... in order) are written unnamed, so a
/// tree read from a DM file is written back with the same structure.
pub fn tags_from_json(tree: &Tree) -> Vec<(String, WTag)> {
    let (mut groups, mut datas) = (0, 0);
    let mut out = Vec::new();
    for (key, value) in tree {
        let Some(tag) = tag_from_json(value) else {
            continue;
        };
        let is_group = matches!(tag, WTag::Group(_));
        let counter = if is_group { &mut groups } else { &mut datas };
        let name = if *key == unnamed_key(is_group, *counter) {
            *counter += 1;
            String::new()
        } else {
            key.clone()
        };
        out.push((name, tag));
    }
    out
}

fn json_scalar(v: &Value) -> Option<(ElemType, Scalar)> {
    match v {
        Value::Bool(b) => Some((ElemType::Bool, Scalar::Int(i64::from(*b)))),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if i32::try_from(i).is_ok() {
                    Some((ElemType::I32, Scalar::Int(i)))
                } else {
                    Some((ElemType::I64, Scalar::Int(i)))
                }
            } else if let Some(u) = n.as_u64() {
                Some((ElemType::U64, Scalar::UInt(u)))
            } else {
                n.as_f64().map(|f| (ElemType::F64, Scalar::Float(f)))
            }
        }
        _ => None,
    }
}

/// One element type able to hold every value of a list of scalars.
fn common_type(values: &[(ElemType, Scalar)]) -> ElemType {
    let all = |t: ElemType| values.iter().all(|(u, _)| *u == t);
    if all(ElemType::Bool) {
        ElemType::Bool
    } else if values
        .iter()
        .all(|(u, _)| *u == ElemType::I32 || *u == ElemType::Bool)
    {
        ElemType::I32
    } else if values
        .iter()
        .all(|(u, _)| matches!(u, ElemType::I32 | ElemType::I64 | ElemType::Bool))
    {
        ElemType::I64
    } else if all(ElemType::U64) {
        ElemType::U64
    } else {
        ElemType::F64
    }
}

fn as_type(t: ElemType, (_, s): (ElemType, Scalar)) -> Scalar {
    match (t, s) {
        (ElemType::F64, Scalar::Int(i)) => Scalar::Float(i as f64),
        (ElemType::F64, Scalar::UInt(u)) => Scalar::Float(u as f64),
        _ => s,
    }
}

fn tag_from_json(value: &Value) -> Option<WTag> {
    Some(match value {
        Value::Null => return None,
        Value::Object(m) => WTag::Group(tags_from_json(m)),
        Value::String(s) => text(s.clone()),
        Value::Bool(_) | Value::Number(_) => {
            let (t, s) = json_scalar(value)?;
            WTag::Data(WData::Scalar(t, s))
        }
        Value::Array(items) => {
            // A list of numbers: an array; a list of equal-length number lists: an array of
            // structs; anything else: a group of unnamed entries.
            let scalars: Option<Vec<_>> = items.iter().map(json_scalar).collect();
            if let Some(scalars) = scalars {
                let t = if scalars.is_empty() {
                    ElemType::U16
                } else {
                    common_type(&scalars)
                };
                return Some(WTag::Data(WData::Array(
                    t,
                    scalars.into_iter().map(|s| as_type(t, s)).collect(),
                )));
            }
            let rows: Option<Vec<Vec<_>>> = items
                .iter()
                .map(|r| {
                    r.as_array()
                        .and_then(|r| r.iter().map(json_scalar).collect())
                })
                .collect();
            if let Some(rows) = rows.filter(|r| {
                let n = r[0].len();
                n > 0 && r.iter().all(|row| row.len() == n)
            }) {
                let fields: Vec<ElemType> = (0..rows[0].len())
                    .map(|c| {
                        let col: Vec<_> = rows.iter().map(|r| r[c]).collect();
                        common_type(&col)
                    })
                    .collect();
                let rows = rows
                    .into_iter()
                    .map(|r| {
                        r.into_iter()
                            .zip(&fields)
                            .map(|(s, t)| as_type(*t, s))
                            .collect()
                    })
                    .collect();
                return Some(WTag::Data(WData::StructArray(fields, rows)));
            }
            let mut m = Tree::new();
            let (mut groups, mut datas) = (0, 0);
            for item in items {
                let key = if item.is_object() {
                    groups += 1;
                    unnamed_key(true, groups - 1)
                } else {
                    datas += 1;
                    unnamed_key(false, datas - 1)
                };
                m.insert(key, item.clone());
            }
            WTag::Group(tags_from_json(&m))
        }
    })
}

/// Where the dataset's axes go in the DM file.
pub(crate) struct Geometry {
    /// Whether this is a spectrum image written energy-slowest.
    pub(crate) spectrum_image: bool,
    /// `Meta Data.Format` to write, if any.
    format: Option<&'static str>,
    /// Axis indices (into `dataset.axes`) in DM order: fastest first.
    pub(crate) dm_axes: Vec<usize>,
}

fn geometry(ds: &Dataset) -> Geometry {
    let n = ds.ndim();
    let nav: Vec<bool> = ds.axes.iter().map(|a| a.navigate).collect();
    let one_signal_last = n >= 2 && !nav[n - 1] && nav[..n - 1].iter().all(|&b| b);
    let spectrum_image = one_signal_last && n >= 3;
    let format = if spectrum_image {
        Some("Spectrum image")
    } else if one_signal_last {
        Some("Spectrum")
    } else {
        None
    };
    let dm_axes = if spectrum_image {
        // Stored (E, nav...) in C order: DM order is the nav axes fastest first, then E.
        let mut v: Vec<usize> = (0..n - 1).rev().collect();
        v.push(n - 1);
        v
    } else {
        (0..n).rev().collect()
    };
    Geometry {
        spectrum_image,
        format,
        dm_axes,
    }
}

fn calibration(ds: &Dataset, i: usize) -> WTag {
    let axis = &ds.axes[i];
    let size = ds.shape()[i];
    let (scale, offset) = match &axis.kind {
        AxisKind::Uniform { scale, offset } => (*scale, *offset),
        AxisKind::Values(v) => {
            // DM calibrations are linear: keep the end points.
            let first = v.first().copied().unwrap_or(0.0);
            let last = v.last().copied().unwrap_or(first);
            let step = if size > 1 {
                (last - first) / (size - 1) as f64
            } else {
                1.0
            };
            (step, first)
        }
    };
    let origin = if scale != 0.0 { -offset / scale } else { 0.0 };
    group(vec![
        ("Origin", float(origin)),
        ("Scale", float(scale)),
        ("Units", text(axis.units.clone())),
    ])
}

/// `Signal.quantity` "Intensity (counts)" → "counts".
fn quantity_units(q: &str) -> &str {
    match (q.find('('), q.rfind(')')) {
        (Some(a), Some(b)) if a < b => &q[a + 1..b],
        _ => "",
    }
}

/// DM image tags translated from normalized metadata (the inverse of the reader's mapping).
fn tags_from_metadata(md: &Tree, format: Option<&str>) -> Vec<(String, WTag)> {
    let mut tags = Tree::new();
    let mut put = |path: &str, v: Value| emio_core::metadata::set_path(&mut tags, path, v);
    let signal = match get_str(md, "Signal.signal_type").unwrap_or("") {
        "EELS" => Some("EELS"),
        "EDS_TEM" | "EDS_SEM" | "EDS" => Some("X-ray"),
        "CL" => Some("CL"),
        _ => None,
    };
    if let Some(f) = format {
        put("Meta Data.Format", Value::from(f));
    }
    if let Some(s) = signal {
        put("Meta Data.Signal", Value::from(s));
    }
    if let Some(d) = get_str(md, "General.date") {
        put("DataBar.Acquisition Date", Value::from(d));
    }
    if let Some(t) = get_str(md, "General.time") {
        put("DataBar.Acquisition Time", Value::from(t));
    }
    if let Some(a) = get_path(md, "General.authors").filter(|v| v.is_string()) {
        put("Session Info.Operator", a.clone());
    }
    if let Some(s) = get_path(md, "Sample.description").filter(|v| v.is_string()) {
        put("Session Info.Specimen", s.clone());
    }
    for mic in ["TEM", "SEM"] {
        let base = format!("Acquisition_instrument.{mic}");
        let Some(Value::Object(inst)) = get_path(md, &base) else {
            continue;
        };
        let f = |p: &str| get_f64(inst, p);
        if let Some(v) = f("beam_energy") {
            put("Microscope Info.Voltage", Value::from(v * 1e3));
        }
        if let Some(v) = f("magnification") {
            put("Microscope Info.Indicated Magnification", Value::from(v));
        }
        if let Some(v) = f("camera_length") {
            put("Microscope Info.STEM Camera Length", Value::from(v));
        }
        if let Some(v) = f("beam_current") {
            put("Microscope Info.Probe Current (nA)", Value::from(v));
        }
        for (k, dm, scale) in [
            ("Stage.tilt_alpha", "Stage Alpha", 1.0),
            ("Stage.tilt_beta", "Stage Beta", 1.0),
            ("Stage.x", "Stage X", 1e3),
            ("Stage.y", "Stage Y", 1e3),
            ("Stage.z", "Stage Z", 1e3),
        ] {
            if let Some(v) = f(k) {
                put(
                    &format!("Microscope Info.Stage Position.{dm}"),
                    Value::from(v * scale),
                );
            }
        }
        let mode =
            get_str(inst, "acquisition_mode").unwrap_or(if mic == "SEM" { "SEM" } else { "" });
        if !mode.is_empty() {
            put("Microscope Info.Illumination Mode", Value::from(mode));
        }
        if let Some(m) = get_path(inst, "microscope").filter(|v| v.is_string()) {
            put("Microscope Info.Name", m.clone());
        }
        if let Some(v) = f("dwell_time") {
            put("DigiScan.Sample Time", Value::from(v * 1e6));
        }
        if let Some(v) = f("convergence_angle") {
            put(
                "EELS.Experimental Conditions.Convergence semi-angle (mrad)",
                Value::from(v),
            );
        }
        let eels = |p: &str| get_f64(inst, &format!("Detector.EELS.{p}"));
        if let Some(v) = eels("collection_angle") {
            put(
                "EELS.Experimental Conditions.Collection semi-angle (mrad)",
                Value::from(v),
            );
        }
        if let Some(v) = eels("exposure").or(eels("dwell_time")) {
            put("EELS.Acquisition.Integration time (s)", Value::from(v));
        }
        if let Some(v) = eels("frame_number") {
            put("EELS.Acquisition.Number of frames", Value::from(v));
        }
        if let Some(v) = get_path(inst, "Detector.EELS.spectrometer").filter(|v| v.is_string()) {
            put("EELS Spectrometer.Instrument name", v.clone());
        }
        let eds = |p: &str| get_f64(inst, &format!("Detector.EDS.{p}"));
        for (k, dm) in [
            ("azimuth_angle", "EDS.Detector Info.Azimuthal angle"),
            ("elevation_angle", "EDS.Detector Info.Elevation angle"),
            ("solid_angle", "EDS.Solid angle"),
            ("live_time", "EDS.Live time"),
            ("real_time", "EDS.Real time"),
        ] {
            if let Some(v) = eds(k) {
                put(dm, Value::from(v));
            }
        }
        if let Some(v) = get_f64(inst, "Camera.exposure") {
            put(
                "Acquisition.Parameters.Detector.exposure (s)",
                Value::from(v),
            );
        }
    }
    tags_from_json(&tags)
}

/// Whether a dataset's original metadata came from a DM file (rsciio/emio layout).
fn dm_image_tags(om: &Tree) -> Option<&Tree> {
    get_path(om, "ImageList.TagGroup0.ImageTags").and_then(Value::as_object)
}

/// Top-level tags the writer creates itself (never copied from original metadata).
const STRUCTURAL: [&str; 5] = [
    "root",
    "ImageList",
    "DocumentObjectList",
    "ImageSourceList",
    "Thumbnails",
];

/// The whole tag tree for `ds` (pixels as a placeholder).
fn build_tree(ds: &Dataset, pf: PixelFormat, geo: &Geometry) -> Vec<(String, WTag)> {
    let md = &ds.metadata;
    let om = &ds.original_metadata;
    let mut image_tags = match dm_image_tags(om) {
        Some(t) => tags_from_json(t),
        None => tags_from_metadata(md, geo.format),
    };
    if dm_image_tags(om).is_some() {
        // Keep the spectrum flags consistent with the axes being written.
        if let Some(f) = geo.format {
            let mut extra = Tree::new();
            emio_core::metadata::set_path(&mut extra, "Meta Data.Format", f);
            for (name, tag) in tags_from_json(&extra) {
                merge_tag(&mut image_tags, name, tag);
            }
        }
    }
    let dims: Vec<(String, WTag)> = geo
        .dm_axes
        .iter()
        .map(|&i| (String::new(), int(ds.shape()[i] as i64)))
        .collect();
    let cal_dims: Vec<(String, WTag)> = geo
        .dm_axes
        .iter()
        .map(|&i| (String::new(), calibration(ds, i)))
        .collect();
    let gain = get_f64(
        md,
        "Signal.Noise_properties.Variance_linear_model.gain_factor",
    )
    .unwrap_or(1.0);
    let gain_offset = get_f64(
        md,
        "Signal.Noise_properties.Variance_linear_model.gain_offset",
    )
    .unwrap_or(0.0);
    let brightness_units = get_str(md, "Signal.quantity")
        .map(quantity_units)
        .unwrap_or("");
    let image_data = group(vec![
        (
            "Calibrations",
            group(vec![
                (
                    "Brightness",
                    group(vec![
                        ("Origin", float(gain_offset)),
                        ("Scale", float(gain)),
                        ("Units", text(brightness_units)),
                    ]),
                ),
                ("Dimension", WTag::Group(cal_dims)),
                (
                    "DisplayCalibratedUnits",
                    WTag::Data(WData::Scalar(ElemType::Bool, Scalar::Int(1))),
                ),
            ]),
        ),
        ("Data", WTag::Data(WData::Pixels)),
        ("DataType", int(pf.data_type)),
        ("Dimensions", WTag::Group(dims)),
        ("PixelDepth", int(pf.size as i64)),
    ]);
    let image = group(vec![
        ("ImageData", image_data),
        ("ImageTags", WTag::Group(image_tags)),
        ("Name", text(ds.title())),
        (
            "UniqueID",
            group(vec![("", int(1)), ("", int(0)), ("", int(0)), ("", int(0))]),
        ),
    ]);
    let display_type = if ds.ndim() == 1 || geo.format == Some("Spectrum") {
        3
    } else {
        1
    };
    let mut root: Vec<(String, WTag)> = vec![
        (
            "DocumentObjectList".into(),
            group(vec![(
                "",
                group(vec![
                    ("AnnotationType", int(20)),
                    ("ImageDisplayType", int(display_type)),
                    ("ImageSource", int(0)),
                ]),
            )]),
        ),
        (
            "ImageList".into(),
            WTag::Group(vec![(String::new(), image)]),
        ),
        (
            "ImageSourceList".into(),
            group(vec![(
                "",
                group(vec![
                    ("ClassName", text("ImageSource:Simple")),
                    ("Id", group(vec![("", int(0))])),
                    ("ImageRef", int(0)),
                ]),
            )]),
        ),
        (
            "InImageMode".into(),
            WTag::Data(WData::Scalar(ElemType::Bool, Scalar::Int(1))),
        ),
    ];
    if dm_image_tags(om).is_some() {
        let mut rest = Tree::new();
        for (k, v) in om {
            if !STRUCTURAL.contains(&k.as_str()) && k != "InImageMode" {
                rest.insert(k.clone(), v.clone());
            }
        }
        root.extend(tags_from_json(&rest));
    }
    root
}

/// Replace or append a named tag in a list of tags (groups merge recursively).
fn merge_tag(list: &mut Vec<(String, WTag)>, name: String, tag: WTag) {
    if let Some((_, existing)) = list.iter_mut().find(|(n, _)| !n.is_empty() && *n == name) {
        match (existing, tag) {
            (WTag::Group(mine), WTag::Group(theirs)) => {
                for (n, t) in theirs {
                    merge_tag(mine, n, t);
                }
            }
            (slot, tag) => *slot = tag,
        }
    } else {
        list.push((name, tag));
    }
}

/// Convert native C-order region bytes of `dtype` to the DM on-disk bytes (little-endian).
fn to_disk(dtype: DType, bytes: &[u8], out: &mut Vec<u8>) {
    out.clear();
    match dtype {
        DType::Rgba8 => {
            out.extend_from_slice(bytes);
            for px in out.chunks_exact_mut(4) {
                px.swap(0, 2);
            }
        }
        DType::Rgb8 => {
            for px in bytes.chunks_exact(3) {
                out.extend_from_slice(&[px[2], px[1], px[0], 0]);
            }
        }
        DType::F16 => {
            for h in bytes.chunks_exact(2) {
                let v = emio_core::half::f16::from_ne_bytes([h[0], h[1]]).to_f32();
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        other => {
            out.extend_from_slice(bytes);
            if cfg!(target_endian = "big") {
                emio_core::dtype::swap_bytes_in_place(out, other.swap_unit());
            }
        }
    }
}

/// Stream the pixels of a spectrum image energy-slowest: slabs of whole energy planes.
fn stream_spectrum_image(
    ds: &Dataset,
    progress: &dyn Progress,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let shape = ds.shape().to_vec();
    let n = shape.len();
    let es = ds.dtype().size() as u64;
    let plane: u64 = shape[..n - 1].iter().product::<u64>().max(1);
    let energies = shape[n - 1];
    let per_slab = (STREAM_REGION_BYTES / (plane * es).max(1)).clamp(1, energies.max(1));
    progress.set_total(ds.nbytes());
    let mut e0 = 0;
    let mut transposed = Vec::new();
    while e0 < energies {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let de = per_slab.min(energies - e0);
        let mut start = vec![0; n];
        start[n - 1] = e0;
        let mut region = shape.clone();
        region[n - 1] = de;
        let bytes = ds.read_region_bytes(&start, &region)?;
        // (plane, de) -> (de, plane)
        let es = es as usize;
        transposed.resize(bytes.len(), 0);
        for (p, spectrum) in bytes.chunks_exact(de as usize * es).enumerate() {
            for (e, v) in spectrum.chunks_exact(es).enumerate() {
                let dst = (e * plane as usize + p) * es;
                transposed[dst..dst + es].copy_from_slice(v);
            }
        }
        sink(&transposed)?;
        progress.advance(bytes.len() as u64);
        e0 += de;
    }
    Ok(())
}

/// A list of named (or unnamed: empty name) tags.
pub(crate) type Tags = Vec<(String, WTag)>;

/// The checks and the tag tree every DM writer starts from: the pixel format, where the
/// axes go, and the whole tag tree with the pixels as a placeholder.
pub(crate) fn prepare(ds: &Dataset) -> Result<(PixelFormat, Geometry, Tags)> {
    let pf = pixel_format(ds.dtype())?;
    if ds.ndim() == 0 || ds.ndim() > 4 {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "{}-dimensional data (DM images have 1 to 4 dimensions)",
                ds.ndim()
            ),
        ));
    }
    let geo = geometry(ds);
    let tree = build_tree(ds, pf, &geo);
    Ok((pf, geo, tree))
}

/// Stream the pixels of `ds` as DM stores them (little-endian, colour as `0xAARRGGBB`
/// values, half floats widened, spectrum images energy-slowest) into `sink`, region by
/// region, through core's write pipeline.
pub(crate) fn stream_pixels(
    ds: &Dataset,
    geo: &Geometry,
    progress: &dyn Progress,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let dtype = ds.dtype();
    let mut disk = Vec::new();
    let mut convert = |bytes: &[u8]| -> Result<()> {
        to_disk(dtype, bytes, &mut disk);
        sink(&disk)
    };
    if geo.spectrum_image {
        stream_spectrum_image(ds, progress, &mut convert)
    } else {
        stream_c_order(ds, progress, |_, bytes| convert(bytes))
    }
}

/// Write `ds` as a DM3 or DM4 file at `path`.
pub fn write_dm(
    ds: &Dataset,
    path: &Path,
    version: Version,
    progress: &dyn Progress,
) -> Result<()> {
    let (pf, geo, tree) = prepare(ds)?;
    let pixels = (pf, ds.len());
    let root_size = body_size(&WTag::Group(tree.clone()), pixels, version);
    if version == Version::Dm3
        && (root_size > u64::from(u32::MAX) || ds.len() > u64::from(u32::MAX))
    {
        return Err(Error::unsupported(
            FORMAT,
            format!("{root_size} bytes in a DM3 file (its 32-bit sizes stop at 4 GiB); write .dm4"),
        ));
    }
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = TagWriter {
        out: BufWriter::with_capacity(1 << 20, file),
        path,
        pixels,
        version,
    };
    w.put(&(if version == Version::Dm3 { 3u32 } else { 4 }).to_be_bytes())?;
    w.put_word(root_size)?;
    w.put(&1u32.to_be_bytes())?;
    let mut stream = |out: &mut BufWriter<File>| -> Result<()> {
        stream_pixels(ds, &geo, progress, &mut |bytes| {
            out.write_all(bytes).map_err(|e| Error::io(path, e))
        })
    };
    w.group_body(&tree, &mut stream)?;
    // The file ends with one zero word.
    w.put_word(0)?;
    w.out.flush().map_err(|e| Error::io(path, e))?;
    Ok(())
}
