//! Thermo Fisher (FEI) Velox EMD: images and image stacks per detector (complex FFT/DPC
//! images included), single spectra, and EDS spectrum images decoded lazily from the
//! `SpectrumStream` event stream (one `u16` channel index per X-ray count, 65535 = next
//! pixel). Metadata is the per-frame JSON of each data group plus the file's
//! `Displays`/`Operations`/`SharedProperties`/`Features` JSON, mapped to HyperSpy's tree.
//!
//! Options follow rsciio: `select_type`, `first_frame`, `last_frame`, `sum_frames`,
//! `sum_EDS_detectors`, `rebin_energy`, `SI_dtype`, `load_SI_image_stack`.

use std::sync::{Arc, OnceLock};

use emio_core::metadata::{json_f64, set_path, Tree};
use emio_core::serde_json::{self, Value};
use emio_core::{
    ArraySource, Axis, ChunkDecoder, ChunkedSource, DType, Dataset, Error, Options, Result,
};
use emio_h5::H5File;
use rayon::prelude::*;

use crate::units::{compact, convert};

/// The marker that ends a pixel in the spectrum stream.
const NEXT_PIXEL: u16 = 65535;
/// Bytes of decoded spectrum image per chunk (a band of scan rows of one frame or of the
/// frame sum).
const SI_CHUNK_BYTES: u64 = 8 << 20;
/// Events read from the stream at a time while decoding.
const STREAM_BLOCK: u64 = 1 << 20;

/// Whether the file is a Velox EMD (`Version` JSON and a `Data` group).
pub fn is_velox(f: &H5File) -> bool {
    f.is_dataset("Version") && f.is_group("Data")
}

fn bad(what: impl Into<String>) -> Error {
    Error::malformed_at_unknown("emd", what.into())
}

/// The first string of a JSON string dataset, parsed.
fn json_dataset(f: &H5File, path: &str) -> Result<Value> {
    let ds = f.dataset(path)?;
    let text = match ds.element {
        emio_h5::Element::Str => ds.read_strings()?.into_iter().next().unwrap_or_default(),
        _ => String::from_utf8_lossy(&ds.read_raw()?).into_owned(),
    };
    serde_json::from_str(text.trim_end_matches('\0'))
        .map_err(|e| bad(format!("JSON in {path} ({e})")))
}

/// Frame `frame` of a `Metadata` dataset (60000 x frames bytes of NUL-padded JSON).
fn frame_metadata(f: &H5File, group: &str, name: &str, frame: usize) -> Result<Tree> {
    let path = format!("{group}/{name}");
    let ds = f.dataset(&path)?;
    let raw = ds.read_raw()?;
    let (rows, cols) = match ds.shape.as_slice() {
        [r, c] => (*r as usize, *c as usize),
        [r] => (*r as usize, 1),
        _ => return Err(bad(format!("a 2-D metadata array at {path}"))),
    };
    if cols == 0 || raw.len() < rows * cols {
        return Err(bad(format!("metadata bytes at {path}")));
    }
    let col = frame.min(cols - 1);
    let bytes: Vec<u8> = (0..rows).map(|r| raw[r * cols + col]).collect();
    let text = String::from_utf8_lossy(&bytes);
    match serde_json::from_str(text.trim_end_matches('\0')) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad(format!("a JSON object in {path}"))),
        Err(e) => Err(bad(format!("JSON in {path} ({e})"))),
    }
}

fn get<'a>(v: &'a Tree, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v.get(path[0])?;
    for k in &path[1..] {
        cur = cur.as_object()?.get(*k)?;
    }
    Some(cur)
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What to read, from `select_type`.
#[derive(Debug, Clone, Copy)]
struct Selection {
    images: bool,
    spectra: bool,
    spectrum_image: bool,
}

struct Reader<'a> {
    f: &'a H5File,
    file_name: String,
    version: i64,
    base_om: Tree,
    labels: Vec<(String, String)>,
    detector_name: Option<String>,
    rebin: u64,
}

/// Read the datasets of a Velox file.
pub fn read(f: &H5File, file_name: &str, options: &Options) -> Result<Vec<Dataset>> {
    let version_json = json_dataset(f, "Version")?;
    let version = num(version_json.get("version")).unwrap_or(0.0) as i64;
    let sel = match options.str("select_type") {
        Some("single_spectrum") => Selection {
            images: false,
            spectra: true,
            spectrum_image: false,
        },
        Some("image") | Some("images") => Selection {
            images: true,
            spectra: false,
            spectrum_image: false,
        },
        Some("spectrum_image") => Selection {
            images: false,
            spectra: false,
            spectrum_image: true,
        },
        _ => Selection {
            images: true,
            spectra: true,
            spectrum_image: true,
        },
    };
    let rebin = options.int("rebin_energy").unwrap_or(1);
    if rebin < 1 {
        return Err(Error::invalid_option("rebin_energy", "must be at least 1"));
    }
    let mut r = Reader {
        f,
        file_name: file_name.to_string(),
        version,
        base_om: Tree::new(),
        labels: Vec::new(),
        detector_name: None,
        rebin: rebin as u64,
    };
    for key in ["Displays", "Operations", "SharedProperties", "Features"] {
        if f.is_group(key) {
            let group = r.metadata_group(key)?;
            r.base_om.insert(key.into(), Value::Object(group));
        }
    }
    let has_image = f.is_group("Data/Image");
    let stream_type = has_image && f.is_group("Data/SpectrumImage");
    if stream_type {
        r.parse_image_display()?;
    }
    let mut out = Vec::new();
    if (!has_image || stream_type) && sel.spectra {
        r.read_spectra(&mut out)?;
    }
    let read_stack = options.flag("load_SI_image_stack") || !stream_type;
    let spatial = r.read_images(&mut out, sel, read_stack)?;
    if stream_type && sel.spectrum_image {
        if let Some(spatial) = spatial {
            r.read_spectrum_streams(&mut out, options, spatial)?;
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 to a civil (year, month, day) date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A Unix time (seconds) as ISO date and time in UTC.
fn utc_date_time(unix: f64) -> Option<(String, String)> {
    if !unix.is_finite() || unix.abs() > 1e13 {
        return None;
    }
    let secs = unix.floor() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let frac = unix - unix.floor();
    let time = if frac > 0.0 {
        let micros = (frac * 1e6).round() as i64;
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            micros.min(999_999)
        )
    } else {
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    Some((format!("{y:04}-{m:02}-{d:02}"), time))
}

/// A view of frame 0 of a `(frames, y, x)` source as a `(y, x)` array.
struct FirstFrame {
    inner: Arc<dyn ArraySource>,
    shape: Vec<u64>,
}

impl ArraySource for FirstFrame {
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }
    fn shape(&self) -> &[u64] {
        &self.shape
    }
    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        let mut s = vec![0];
        s.extend_from_slice(start);
        let mut n = vec![1];
        n.extend_from_slice(shape);
        self.inner.read_region(&s, &n, out)
    }
    fn chunk_shape(&self) -> Vec<u64> {
        self.inner.chunk_shape()[1..].to_vec()
    }
}

impl Reader<'_> {
    fn metadata_group(&self, key: &str) -> Result<Tree> {
        let f = self.f;
        let mut names: Vec<(String, bool)> = f
            .groups(key)?
            .into_iter()
            .map(|g| (g, true))
            .chain(f.datasets(key)?.into_iter().map(|d| (d, false)))
            .collect();
        names.sort();
        let mut d = Tree::new();
        for (name, is_group) in names {
            let path = format!("{key}/{name}");
            if is_group {
                let mut sub = Tree::new();
                for ds in f.datasets(&path)? {
                    if let Ok(v) = json_dataset(f, &format!("{path}/{ds}")) {
                        sub.insert(ds, v);
                    }
                }
                d.insert(name, Value::Object(sub));
            } else if let Ok(v) = json_dataset(f, &path) {
                d.insert(name, v);
            }
        }
        Ok(d)
    }

    fn parse_image_display(&mut self) -> Result<()> {
        if self.version >= 11 {
            let displays = get(&self.base_om, &["Displays", "ImageDisplay"])
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for v in displays.values() {
                let (Some(data), Some(id)) = (
                    v.get("data").and_then(Value::as_str),
                    v.get("id").and_then(Value::as_str),
                ) else {
                    continue;
                };
                if let Ok(j) = json_dataset(self.f, data) {
                    if let Some(p) = j.get("dataPath").and_then(Value::as_str) {
                        let key = p.rsplit('/').next().unwrap_or(p).to_string();
                        self.labels.push((key, id.to_string()));
                    }
                }
            }
        } else {
            let g = "Presentation/Displays/ImageDisplay";
            if self.f.is_group(g) {
                for name in self.f.datasets(g)? {
                    let v = json_dataset(self.f, &format!("{g}/{name}"))?;
                    if let (Some(p), Some(label)) = (
                        v.get("dataPath").and_then(Value::as_str),
                        v.pointer("/display/label").and_then(Value::as_str),
                    ) {
                        let key = p.rsplit('/').next().unwrap_or(p).to_string();
                        self.labels.push((key, label.to_string()));
                    }
                }
            }
        }
        Ok(())
    }

    /// The per-frame metadata of a data group merged with the file-level JSON.
    fn group_om(&self, group: &str) -> Result<Tree> {
        let mut om = frame_metadata(self.f, group, "Metadata", 0)?;
        for (k, v) in &self.base_om {
            om.insert(k.clone(), v.clone());
        }
        Ok(om)
    }

    fn detector_name_for(&self, key: &str) -> Option<String> {
        let ops = self.base_om.get("Operations").and_then(Value::as_object)?;
        let has = |v: &Value, field: &str| {
            v.get(field)
                .and_then(Value::as_str)
                .is_some_and(|p| p.contains(key))
        };
        let dpc = |v: &Value| {
            if v.get("integrationMode").and_then(Value::as_str) == Some("true") {
                "iDPC"
            } else {
                "dDPC"
            }
        };
        let each = |op: &str| -> Vec<Value> {
            ops.get(op)
                .and_then(Value::as_object)
                .map(|o| o.values().cloned().collect())
                .unwrap_or_default()
        };
        for v in each("CameraInputOperation") {
            if has(&v, "dataPath") {
                return text(v.get("cameraName"));
            }
        }
        for v in each("StemInputOperation") {
            if has(&v, "dataPath") {
                return text(v.get("detector"));
            }
        }
        for v in each("SurfaceReconstructionOperation") {
            if has(&v, "unfilteredDataPath") {
                return Some(dpc(&v).into());
            }
            if has(&v, "dataPath") {
                let name = dpc(&v);
                return Some(
                    if v.get("enableFilter").and_then(Value::as_str) == Some("true") {
                        format!("Filtered {name}")
                    } else {
                        name.into()
                    },
                );
            }
        }
        for v in each("MathematicsOperation") {
            if has(&v, "dataPath") {
                match v.pointer("/outputs/0/inputIndex").and_then(Value::as_str) {
                    Some("0") => return Some("A-C".into()),
                    Some("1") => return Some("B-D".into()),
                    _ => {}
                }
            }
        }
        for v in each("DpcOperation") {
            if has(&v, "dataPath") {
                return Some("DPC".into());
            }
        }
        for v in each("IntegrationOperation") {
            if has(&v, "dataPath") {
                return Some("DCFI".into());
            }
        }
        for v in each("FftOperation") {
            if has(&v, "imageOutputPath") {
                return Some("Half FFT".into());
            }
        }
        Some("Unrecognized_image_signal".into())
    }

    fn detector_info<'o>(&self, om: &'o Tree) -> Option<&'o Value> {
        let index = match om.get("BinaryResult") {
            Some(br) => text(br.get("DetectorIndex"))?,
            None => "0".into(),
        };
        get(om, &["Detectors", &format!("Detector-{index}")])
    }

    fn metadata(&self, om: &Tree, signal_type: &str) -> Tree {
        let mut md = Tree::new();
        set_path(
            &mut md,
            "General.original_filename",
            self.file_name.as_str(),
        );
        if let Some(t) = &self.detector_name {
            set_path(&mut md, "General.title", t.as_str());
        }
        let unix = num(get(
            om,
            &["Acquisition", "AcquisitionStartDatetime", "DateTime"],
        ))
        .or_else(|| {
            num(get(
                om,
                &["CustomProperties", "Detectors[BM-Ceta].TimeStamp", "value"],
            ))
            .map(|v| v / 1e6)
        });
        if let Some((date, time)) = unix.and_then(utc_date_time) {
            set_path(&mut md, "General.date", date);
            set_path(&mut md, "General.time", time);
            set_path(&mut md, "General.time_zone", "UTC");
        }
        set_path(&mut md, "Signal.signal_type", signal_type);
        // rsciio's mapping (applied by HyperSpy after reading), applied here directly.
        let tem = "Acquisition_instrument.TEM";
        if let Some(v) = num(get(om, &["Optics", "AccelerationVoltage"])) {
            set_path(&mut md, &format!("{tem}.beam_energy"), json_f64(v / 1e3));
        }
        if let Some(v) = num(get(om, &["Optics", "CameraLength"])) {
            set_path(&mut md, &format!("{tem}.camera_length"), json_f64(v * 1e3));
        }
        if let Some(v) = num(get(om, &["CustomProperties", "StemMagnification", "value"])) {
            set_path(&mut md, &format!("{tem}.magnification"), json_f64(v));
        }
        if let Some(v) = text(get(om, &["Instrument", "InstrumentClass"])) {
            set_path(&mut md, &format!("{tem}.microscope"), v);
        }
        let round = |v: f64, d: i32| (v * 10f64.powi(d)).round() / 10f64.powi(d);
        for (key, name) in [("AlphaTilt", "tilt_alpha"), ("BetaTilt", "tilt_beta")] {
            if let Some(v) = num(get(om, &["Stage", key])) {
                set_path(
                    &mut md,
                    &format!("{tem}.Stage.{name}"),
                    json_f64(round(v.to_degrees(), 3)),
                );
            }
        }
        for axis in ["x", "y", "z"] {
            if let Some(v) = num(get(om, &["Stage", "Position", axis])) {
                set_path(
                    &mut md,
                    &format!("{tem}.Stage.{axis}"),
                    json_f64(round(v, 6)),
                );
            }
        }
        if let Some(v) = num(get(om, &["Scan", "DwellTime"])) {
            set_path(&mut md, &format!("{tem}.dwell_time"), json_f64(v));
        }
        if let Some(d) = &self.detector_name {
            set_path(&mut md, &format!("{tem}.detector"), d.as_str());
        }
        md
    }

    /// rsciio's mapping for EDS spectra (not for images): the number of frames read, and
    /// the elements selected for quantification (atomic numbers of the first quantification
    /// settings, `SharedProperties.EDSSpectrumQuantificationSettings` from version 11,
    /// `Operations.ImageQuantificationOperation` before; none selected gives an empty list).
    fn map_eds(&self, om: &Tree, md: &mut Tree) {
        if let Some(n) = get(om, &["ImportedDataParameter", "Number_of_frames"]) {
            set_path(
                md,
                "Acquisition_instrument.TEM.Detector.EDS.number_of_frames",
                n.clone(),
            );
        }
        let settings = if self.version >= 11 {
            get(
                om,
                &["SharedProperties", "EDSSpectrumQuantificationSettings"],
            )
        } else {
            get(om, &["Operations", "ImageQuantificationOperation"])
        };
        let Some(first) = settings
            .and_then(Value::as_object)
            .and_then(|m| m.values().next())
        else {
            return;
        };
        let elements: Vec<Value> = first
            .get("elementSelection")
            .and_then(Value::as_array)
            .map(|numbers| {
                numbers
                    .iter()
                    .filter_map(|z| num(Some(z)))
                    .filter_map(|z| element_symbol(z as usize))
                    .map(Value::from)
                    .collect()
            })
            .unwrap_or_default();
        set_path(md, "Sample.elements", Value::Array(elements));
    }

    fn dispersion(&self, om: &Tree) -> (f64, f64, &'static str) {
        let detector = text(get(om, &["BinaryResult", "Detector"]));
        if let (Some(det), Some(dets)) = (detector, om.get("Detectors").and_then(Value::as_object))
        {
            for d in dets.values() {
                let name = d.get("DetectorName").and_then(Value::as_str).unwrap_or("");
                if name.contains(&det) {
                    if let (Some(disp), Some(off)) =
                        (num(d.get("Dispersion")), num(d.get("OffsetEnergy")))
                    {
                        return (disp / 1000.0 * self.rebin as f64, off / 1000.0, "keV");
                    }
                }
            }
        }
        (1.0, 0.0, "")
    }

    fn read_spectra(&mut self, out: &mut Vec<Dataset>) -> Result<()> {
        let g = "Data/Spectrum";
        if !self.f.is_group(g) {
            return Ok(());
        }
        self.detector_name = Some("EDS".into());
        for key in self.f.groups(g)? {
            let group = format!("{g}/{key}");
            let ds = self.f.dataset(&format!("{group}/Data"))?;
            let om = self.group_om(&group)?;
            let (disp, off, unit) = self.dispersion(&om);
            // Stored (channels, n); HyperSpy order is the transpose.
            let source = ds.source(Some(&(0..ds.shape.len()).rev().collect::<Vec<_>>()))?;
            let shape = source.shape().to_vec();
            let mut axes = Vec::new();
            let source: Arc<dyn ArraySource> = if shape.len() == 2 && shape[0] == 1 {
                Arc::new(FirstFrame {
                    inner: source,
                    shape: vec![shape[1]],
                })
            } else {
                if shape.len() == 2 {
                    axes.push(Axis::uniform("Stack", "", 1.0, 0.0, true));
                }
                source
            };
            axes.push(Axis::uniform("Energy", unit, disp, off, false));
            if axes.len() != source.shape().len() {
                return Err(bad(format!("a 1-D or 2-D spectrum at {group}")));
            }
            let mut md = self.metadata(&om, "EDS_TEM");
            self.map_eds(&om, &mut md);
            out.push(Dataset::new(source, axes, md, om)?);
        }
        Ok(())
    }

    /// Read the images; returns the spatial shape the spectrum stream uses.
    fn read_images(
        &mut self,
        out: &mut Vec<Dataset>,
        sel: Selection,
        read_stack: bool,
    ) -> Result<Option<(u64, u64)>> {
        let g = "Data/Image";
        if !self.f.is_group(g) || (!sel.images && !sel.spectrum_image) {
            return Ok(None);
        }
        let mut spatial = None;
        for key in self.f.groups(g)? {
            let group = format!("{g}/{key}");
            let mut om = self.group_om(&group)?;
            let info = self.detector_info(&om).cloned();
            self.detector_name = if self.base_om.contains_key("Operations") {
                self.detector_name_for(&key)
            } else {
                info.as_ref()
                    .and_then(|i| text(i.get("DetectorName")))
                    .or(self.detector_name.take())
            };
            let ds = self.f.dataset(&format!("{group}/Data"))?;
            let [h, w, frames] = ds.shape[..] else {
                return Err(bad(format!("a (y, x, frame) image at {group}")));
            };
            spatial = Some((h, w));
            if !sel.images {
                return Ok(spatial);
            }
            let source = ds.source(Some(&[2, 0, 1]))?;
            let stacked = read_stack && frames > 1;
            let source: Arc<dyn ArraySource> = if stacked {
                source
            } else {
                Arc::new(FirstFrame {
                    inner: source,
                    shape: vec![h, w],
                })
            };
            let br = om.get("BinaryResult").cloned().unwrap_or(Value::Null);
            let width = num(br.pointer("/PixelSize/width")).unwrap_or(1.0);
            let height = num(br.pointer("/PixelSize/height")).unwrap_or(1.0);
            let ox = num(br.pointer("/Offset/x")).unwrap_or(0.0);
            let oy = num(br.pointer("/Offset/y")).unwrap_or(0.0);
            let units = text(br.get("PixelUnitX")).unwrap_or_default();
            let mut axes = Vec::new();
            if stacked {
                let frame_time = num(get(&om, &["Scan", "FrameTime"])).or_else(|| {
                    let idx = text(br.get("DetectorIndex")).unwrap_or_default();
                    num(get(
                        &om,
                        &["Detectors", &format!("Detector-{idx}"), "ExposureTime"],
                    ))
                });
                let (t, tu) = compact(frame_time.unwrap_or(1.0), "s", 2.0 * frames as f64);
                axes.push(Axis::uniform("Time", tu, t, 0.0, true));
            }
            let (sx, xu) = compact(width, &units, w as f64);
            let sy = convert(height, &units, &xu);
            axes.push(Axis::uniform(
                "y",
                xu.as_str(),
                sy,
                convert(oy, &units, &xu),
                false,
            ));
            axes.push(Axis::uniform(
                "x",
                xu.as_str(),
                sx,
                convert(ox, &units, &xu),
                false,
            ));
            let mut md = self.metadata(&om, "");
            if let Some((_, label)) = self.labels.iter().find(|(k, _)| *k == key) {
                set_path(&mut md, "General.title", label.as_str());
            }
            if let Some(name) = &self.detector_name {
                let dets = om.get("Detectors").and_then(Value::as_object);
                let det = dets
                    .and_then(|d| {
                        d.values()
                            .find(|v| v.get("DetectorName").and_then(Value::as_str) == Some(name))
                    })
                    .cloned()
                    .unwrap_or(Value::Null);
                om.insert("DetectorMetadata".into(), det);
            }
            out.push(Dataset::new(source, axes, md, om)?);
        }
        Ok(spatial)
    }

    fn read_spectrum_streams(
        &mut self,
        out: &mut Vec<Dataset>,
        options: &Options,
        (h, w): (u64, u64),
    ) -> Result<()> {
        self.detector_name = Some("EDS".into());
        let f = self.f;
        let number_of_frames = f
            .groups("Data/SpectrumImage")?
            .first()
            .and_then(|k| {
                json_dataset(f, &format!("Data/SpectrumImage/{k}/SpectrumImageSettings")).ok()
            })
            .and_then(|j| num(j.get("endFramePosition")))
            .map(|v| v as u64);
        let g = "Data/SpectrumStream";
        let keys = if f.is_group(g) {
            f.groups(g)?
        } else {
            Vec::new()
        };
        if keys.is_empty() {
            // Pruned file (or bcf converted): no stream to decode, like rsciio.
            return Ok(());
        }
        let mut streams = Vec::new();
        for key in &keys {
            streams.push(Stream::open(f, &format!("{g}/{key}"), (h, w))?);
        }
        let total_frames = match number_of_frames {
            Some(n) => n,
            None => streams[0].frames()?,
        };
        let first = options.int("first_frame").unwrap_or(0).max(0) as u64;
        let last = match options.int("last_frame") {
            Some(l) if l < 0 => return Err(Error::invalid_option("last_frame", "negative")),
            Some(l) if (l as u64) > total_frames => {
                return Err(Error::invalid_option(
                    "last_frame",
                    format!("cannot exceed the number of frames, {total_frames}"),
                ))
            }
            Some(l) => l as u64,
            None => total_frames,
        };
        if last < first {
            return Err(Error::invalid_option(
                "first_frame",
                format!("{first} is after last_frame {last}"),
            ));
        }
        let bins = streams[0].bins;
        if bins % self.rebin != 0 {
            return Err(Error::invalid_option(
                "rebin_energy",
                format!("must divide the {bins} channels"),
            ));
        }
        let channels = bins / self.rebin;
        let dtype = match options.str("SI_dtype") {
            Some(s) => dtype_from_name(s)?,
            None => dtype_from_name(&streams[0].encoding).unwrap_or(DType::U16),
        };
        let sum_frames = options.flag("sum_frames");
        let groups: Vec<Vec<Arc<Stream>>> = if options.flag("sum_EDS_detectors") {
            vec![streams.into_iter().map(Arc::new).collect()]
        } else {
            streams.into_iter().map(|s| vec![Arc::new(s)]).collect()
        };
        for group in groups {
            let mut om = group[0].om.clone();
            let mut imported = Tree::new();
            imported.insert("First_frame".into(), first.into());
            imported.insert("Last_frame".into(), last.into());
            imported.insert("Number_of_frames".into(), total_frames.into());
            imported.insert("Rebin_energy".into(), self.rebin.into());
            imported.insert("Number_of_channels".into(), bins.into());
            om.insert("ImportedDataParameter".into(), Value::Object(imported));
            for (k, v) in &self.base_om {
                om.insert(k.clone(), v.clone());
            }
            let br = om.get("BinaryResult").cloned().unwrap_or(Value::Null);
            let width = num(br.pointer("/PixelSize/width")).unwrap_or(1.0);
            let height = num(br.pointer("/PixelSize/height")).unwrap_or(1.0);
            let ox = num(br.pointer("/Offset/x")).unwrap_or(0.0);
            let oy = num(br.pointer("/Offset/y")).unwrap_or(0.0);
            let units = text(br.get("PixelUnitX")).unwrap_or_default();
            let (disp, eoff, eunit) = self.dispersion(&om);
            let (sx, xu) = compact(width, &units, w as f64);
            let sy = convert(height, &units, &xu);
            let mut axes = Vec::new();
            let frames = last - first;
            if !sum_frames {
                let (t, tu) = match num(get(&om, &["Scan", "FrameTime"])) {
                    Some(ft) => compact(ft, "s", frames as f64),
                    None => (1.0, String::new()),
                };
                axes.push(Axis::uniform("Time", tu, t, 0.0, true));
            }
            axes.push(Axis::uniform(
                "y",
                xu.as_str(),
                sy,
                convert(oy, &units, &xu),
                true,
            ));
            axes.push(Axis::uniform(
                "x",
                xu.as_str(),
                sx,
                convert(ox, &units, &xu),
                true,
            ));
            axes.push(Axis::uniform("X-ray energy", eunit, disp, eoff, false));
            let mut shape = vec![h, w, channels];
            // Bands of scan rows: decoded in parallel, each from its rows' stretch of every
            // frame of the stream (located by the row index).
            let row = w * channels * dtype.size() as u64;
            let band = (SI_CHUNK_BYTES / row.max(1)).clamp(1, h.max(1));
            let chunk = if sum_frames {
                vec![band, w, channels]
            } else {
                shape.insert(0, frames);
                vec![1, band, w, channels]
            };
            let decoder = SpectrumDecoder {
                streams: group,
                first,
                last,
                sum_frames,
                rebin: self.rebin,
                dtype,
                shape: shape.clone(),
                chunk: chunk.clone(),
            };
            let source = ChunkedSource::new(dtype, shape, chunk, Box::new(decoder))?;
            let mut md = self.metadata(&om, "EDS_TEM");
            self.map_eds(&om, &mut md);
            out.push(Dataset::new(Arc::new(source), axes, md, om)?);
        }
        Ok(())
    }
}

fn dtype_from_name(s: &str) -> Result<DType> {
    Ok(match s {
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "uint32" => DType::U32,
        "uint64" => DType::U64,
        "int8" => DType::I8,
        "int16" => DType::I16,
        "int32" => DType::I32,
        "int64" => DType::I64,
        "float32" => DType::F32,
        "float64" => DType::F64,
        other => return Err(Error::invalid_option("SI_dtype", format!("{other:?}"))),
    })
}

/// One detector's event stream: the lazily read `Data` and where each frame starts.
struct Stream {
    data: Arc<dyn ArraySource>,
    len: u64,
    bins: u64,
    encoding: String,
    om: Tree,
    height: u64,
    width: u64,
    table: Option<Vec<u64>>,
    rows: OnceLock<Result<RowIndex, String>>,
}

/// Where every scan row of every frame starts in a stream, found in one pass.
struct RowIndex {
    /// Entry `k` is the stream position of global row `k` (frame `k / height`).
    starts: Vec<u64>,
    /// Number of pixel markers in the stream.
    markers: u64,
}

impl Stream {
    fn open(f: &H5File, group: &str, (h, w): (u64, u64)) -> Result<Self> {
        let settings = json_dataset(f, &format!("{group}/AcquisitionSettings"))?;
        let bins = num(settings.get("bincount"))
            .filter(|b| *b >= 1.0 && *b < 65535.0)
            .ok_or_else(|| bad(format!("a bincount in {group}/AcquisitionSettings")))?
            as u64;
        let encoding = text(settings.get("StreamEncoding")).unwrap_or_else(|| "uint16".into());
        let om = frame_metadata(f, group, "Metadata", 0)?;
        let ds = f.dataset(&format!("{group}/Data"))?;
        if ds.numeric()?.0 != DType::U16 {
            return Err(bad(format!("a uint16 event stream at {group}/Data")));
        }
        let len = ds.len();
        let data = ds.source(None)?;
        let data: Arc<dyn ArraySource> = if data.shape().len() == 1 {
            data
        } else {
            Arc::new(Flat {
                inner: data,
                shape: vec![len],
            })
        };
        // Frame start offsets: trusted when they start at 0, increase and stay in the stream.
        let flt = format!("{group}/FrameLocationTable");
        let table = if f.is_dataset(&flt) {
            f.dataset(&flt)?.read_f64().ok().and_then(|v| {
                let t: Vec<u64> = v.iter().map(|&x| x as u64).collect();
                let ok = t.first() == Some(&0)
                    && t.windows(2).all(|p| p[0] <= p[1])
                    && t.last().is_some_and(|&l| l <= len);
                ok.then_some(t)
            })
        } else {
            None
        };
        Ok(Stream {
            data,
            len,
            bins,
            encoding,
            om,
            height: h,
            width: w,
            table,
            rows: OnceLock::new(),
        })
    }

    /// The row index, built on first use by one pass over the stream.
    fn rows(&self) -> Result<&RowIndex> {
        self.rows
            .get_or_init(|| self.scan().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| bad(e.clone()))
    }

    /// Number of (possibly partial) frames, as rsciio counts them.
    fn frames(&self) -> Result<u64> {
        if let Some(t) = &self.table {
            return Ok(t.len() as u64);
        }
        let pixels = (self.height * self.width).max(1);
        Ok(self.rows()?.markers.div_ceil(pixels))
    }

    fn scan(&self) -> Result<RowIndex> {
        self.scan_in_blocks(STREAM_BLOCK)
    }

    /// Locate every row start in two parallel passes over blocks of `size` events: count
    /// the pixel markers of each block, then, knowing how many precede it, record where
    /// each block's row starts are.
    fn scan_in_blocks(&self, size: u64) -> Result<RowIndex> {
        let width = self.width.max(1);
        let blocks: Vec<u64> = (0..self.len.div_ceil(size)).collect();
        let block = |b: u64, buf: &mut Vec<u16>| -> Result<u64> {
            let pos = b * size;
            self.read(pos, size.min(self.len - pos), buf)?;
            Ok(pos)
        };
        let counts: Vec<u64> = blocks
            .par_iter()
            .map_init(Vec::new, |buf, &b| {
                block(b, buf)?;
                Ok(buf.iter().filter(|&&v| v == NEXT_PIXEL).count() as u64)
            })
            .collect::<Result<_>>()?;
        let mut before = Vec::with_capacity(counts.len());
        let mut markers = 0u64;
        for c in &counts {
            before.push(markers);
            markers += c;
        }
        let parts: Vec<Vec<u64>> = blocks
            .par_iter()
            .map_init(Vec::new, |buf, &b| {
                let pos = block(b, buf)?;
                let mut seen = before[b as usize];
                let mut starts = Vec::new();
                for (i, &v) in buf.iter().enumerate() {
                    if v == NEXT_PIXEL {
                        seen += 1;
                        if seen % width == 0 {
                            starts.push(pos + i as u64 + 1);
                        }
                    }
                }
                Ok(starts)
            })
            .collect::<Result<_>>()?;
        let mut starts = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 1);
        starts.push(0);
        for p in parts {
            starts.extend(p);
        }
        Ok(RowIndex { starts, markers })
    }

    fn read(&self, pos: u64, n: u64, buf: &mut Vec<u16>) -> Result<()> {
        buf.resize(n as usize, 0);
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf.as_mut_slice());
        self.data.read_region(&[pos], &[n], bytes)
    }

    /// Range of stream indices holding rows `r0..r1` of frame `f` (empty past the end).
    /// Whole frames come from the file's frame table when it has one (no scan).
    fn row_range(&self, f: u64, r0: u64, r1: u64) -> Result<(u64, u64)> {
        if let (Some(t), true) = (&self.table, r0 == 0 && r1 == self.height) {
            let Some(&a) = t.get(f as usize) else {
                return Ok((self.len, self.len));
            };
            let b = t.get(f as usize + 1).copied().unwrap_or(self.len);
            return Ok((a, b.max(a)));
        }
        let idx = &self.rows()?.starts;
        let at = |r: u64| {
            usize::try_from(f * self.height + r)
                .ok()
                .and_then(|k| idx.get(k).copied())
                .unwrap_or(self.len)
                .min(self.len)
        };
        let (a, b) = (at(r0), at(r1));
        Ok((a, b.max(a)))
    }
}

/// A 1-D view of an `(n, 1)` array.
struct Flat {
    inner: Arc<dyn ArraySource>,
    shape: Vec<u64>,
}

impl ArraySource for Flat {
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }
    fn shape(&self) -> &[u64] {
        &self.shape
    }
    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        self.inner.read_region(&[start[0], 0], &[shape[0], 1], out)
    }
    fn chunk_shape(&self) -> Vec<u64> {
        vec![self.inner.chunk_shape()[0]]
    }
}

/// Decodes spectrum-image chunks from the event streams: one frame per chunk (frames
/// kept), or a band of rows summed over the selected frames.
struct SpectrumDecoder {
    streams: Vec<Arc<Stream>>,
    first: u64,
    last: u64,
    sum_frames: bool,
    rebin: u64,
    dtype: DType,
    shape: Vec<u64>,
    chunk: Vec<u64>,
}

impl ChunkDecoder for SpectrumDecoder {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        let n = self.shape.len();
        let (h, w, c) = (self.shape[n - 3], self.shape[n - 2], self.shape[n - 1]);
        let row0 = index[n - 3] * self.chunk[n - 3];
        let rows = self.chunk[n - 3].min(h - row0);
        let frames = if self.sum_frames {
            self.first..self.last
        } else {
            let f = self.first + index[0];
            f..f + 1
        };
        let band = Band {
            first: row0 * w,
            end: (row0 + rows) * w,
            channels: c as usize,
            rebin: self.rebin as usize,
        };
        let mut buf = Vec::new();
        for s in &self.streams {
            for frame in frames.clone() {
                let (a, b) = s.row_range(frame, row0, row0 + rows)?;
                let mut pixel = band.first;
                let mut pos = a;
                while pos < b && pixel < band.end {
                    let len = STREAM_BLOCK.min(b - pos);
                    s.read(pos, len, &mut buf)?;
                    pixel = band.add(self.dtype, &buf, pixel, out);
                    pos += len;
                }
            }
        }
        Ok(())
    }
}

/// The pixels `first .. end` (scan order) a chunk of the spectrum image holds, and how
/// stream values map to its channels.
struct Band {
    first: u64,
    end: u64,
    channels: usize,
    rebin: usize,
}

impl Band {
    /// Add the counts of `events` (continuing at `pixel`) to `out`, which holds the band
    /// as `dtype` values (zeroed by the caller); returns the pixel reached. Counts
    /// accumulate in `dtype`, wrapping like rsciio's NumPy accumulation in `SI_dtype`.
    fn add(&self, dtype: DType, events: &[u16], pixel: u64, out: &mut [u8]) -> u64 {
        macro_rules! int {
            ($t:ty) => {
                self.add_as(events, pixel, out, |b| {
                    <$t>::from_ne_bytes(b).wrapping_add(1).to_ne_bytes()
                })
            };
        }
        macro_rules! float {
            ($t:ty) => {
                self.add_as(events, pixel, out, |b| {
                    (<$t>::from_ne_bytes(b) + 1.0).to_ne_bytes()
                })
            };
        }
        match dtype {
            DType::U8 => int!(u8),
            DType::I8 => int!(i8),
            DType::U16 => int!(u16),
            DType::I16 => int!(i16),
            DType::U32 => int!(u32),
            DType::I32 => int!(i32),
            DType::U64 => int!(u64),
            DType::I64 => int!(i64),
            DType::F32 => float!(f32),
            _ => float!(f64),
        }
    }

    /// [`Band::add`] for values of `N` bytes incremented by `inc`: one compare per event,
    /// no allocation.
    #[inline(always)]
    fn add_as<const N: usize>(
        &self,
        events: &[u16],
        mut pixel: u64,
        out: &mut [u8],
        inc: impl Fn([u8; N]) -> [u8; N],
    ) -> u64 {
        // Element index of the current pixel's first channel.
        let mut base = (pixel - self.first) as usize * self.channels;
        for &v in events {
            if v == NEXT_PIXEL {
                pixel += 1;
                if pixel >= self.end {
                    break;
                }
                base += self.channels;
                continue;
            }
            let ch = if self.rebin == 1 {
                usize::from(v)
            } else {
                usize::from(v) / self.rebin
            };
            if ch < self.channels {
                let o = (base + ch) * N;
                let cell: &mut [u8; N] = (&mut out[o..o + N]).try_into().expect("one value");
                *cell = inc(*cell);
            }
        }
        pixel
    }
}

/// The chemical symbol of atomic number `z` (1 to 118).
fn element_symbol(z: usize) -> Option<&'static str> {
    const SYMBOLS: [&str; 118] = [
        "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S",
        "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga",
        "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd",
        "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm",
        "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os",
        "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa",
        "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg",
        "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
    ];
    z.checked_sub(1).and_then(|i| SYMBOLS.get(i)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::StridedSource;

    /// A 2 x 2 scan, two frames, no frame table: the row index is found by scanning.
    fn stream() -> Stream {
        const M: u16 = NEXT_PIXEL;
        let events: Vec<u16> = vec![5, M, M, 7, 7, M, M, 1, M, M, M, 2, M];
        let bytes: Vec<u8> = events.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let len = events.len() as u64;
        Stream {
            data: Arc::new(StridedSource::from_bytes(bytes, DType::U16, vec![len]).unwrap()),
            len,
            bins: 8,
            encoding: "uint16".into(),
            om: Tree::new(),
            height: 2,
            width: 2,
            table: None,
            rows: OnceLock::new(),
        }
    }

    #[test]
    fn rows_are_located_by_one_scan() {
        let s = stream();
        assert_eq!(s.frames().unwrap(), 2);
        assert_eq!(s.row_range(0, 1, 2).unwrap(), (3, 7));
        assert_eq!(s.row_range(1, 1, 2).unwrap(), (10, 13));
        assert_eq!(s.row_range(1, 0, 2).unwrap(), (7, 13));
        assert_eq!(s.row_range(5, 0, 2).unwrap(), (13, 13));
    }

    #[test]
    fn row_starts_found_across_scan_blocks() {
        let s = stream();
        let whole = s.scan().unwrap();
        for size in 1..6 {
            let blocks = s.scan_in_blocks(size).unwrap();
            assert_eq!(blocks.starts, whole.starts, "blocks of {size}");
            assert_eq!(blocks.markers, whole.markers, "blocks of {size}");
        }
        assert_eq!(whole.starts, vec![0, 3, 7, 10, 13]);
    }

    #[test]
    fn row_bands_sum_frames_and_frames_stay_apart() {
        let streams = vec![Arc::new(stream())];
        let summed = SpectrumDecoder {
            streams: streams.clone(),
            first: 0,
            last: 2,
            sum_frames: true,
            rebin: 1,
            dtype: DType::U8,
            shape: vec![2, 2, 8],
            chunk: vec![1, 2, 8],
        };
        let mut out = vec![0u8; 16];
        summed.decode_chunk(&[1, 0, 0], &mut out).unwrap();
        let mut want = vec![0u8; 16];
        want[7] = 2; // pixel (1, 0), channel 7, frame 0
        want[8 + 2] = 1; // pixel (1, 1), channel 2, frame 1
        assert_eq!(out, want);
        let frames = SpectrumDecoder {
            sum_frames: false,
            shape: vec![2, 2, 2, 8],
            chunk: vec![1, 2, 2, 8],
            ..summed
        };
        let mut out = vec![0u8; 32];
        frames.decode_chunk(&[1, 0, 0, 0], &mut out).unwrap();
        let mut want = vec![0u8; 32];
        want[1] = 1; // frame 1, pixel (0, 0), channel 1
        want[24 + 2] = 1; // frame 1, pixel (1, 1), channel 2
        assert_eq!(out, want);
    }

    #[test]
    fn unix_times_become_utc_dates() {
        assert_eq!(
            utc_date_time(1_488_794_201.0),
            Some(("2017-03-06".into(), "09:56:41".into()))
        );
        assert_eq!(
            utc_date_time(0.0),
            Some(("1970-01-01".into(), "00:00:00".into()))
        );
    }
}
