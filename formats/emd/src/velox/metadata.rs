//! Velox metadata: the JSON datasets of the file (per-frame `Metadata` arrays and the
//! `Displays`/`Operations`/`SharedProperties`/`Features` groups), the detector names and
//! image labels they give, and their mapping to HyperSpy's tree (dates in UTC, TEM
//! parameters, EDS dispersion and selected elements).

use chrono::{DateTime, Datelike, Timelike};
use emio_core::metadata::{json_f64, set_path, Tree};
use emio_core::serde_json::{self, Value};
use emio_core::{DType, Result};
use emio_h5::{H5File, MemberKind};

use super::{bad, Reader};

/// The first string of a JSON string dataset (strings, or text as bytes), parsed.
pub(super) fn json_dataset(f: &H5File, path: &str) -> Result<Value> {
    let ds = f.dataset(path)?;
    let text = match ds.element {
        emio_h5::Element::Str => ds.read_strings()?.into_iter().next().unwrap_or_default(),
        emio_h5::Element::Numeric(DType::U8 | DType::I8, _) => {
            String::from_utf8_lossy(&ds.read_raw()?).into_owned()
        }
        ref other => return Err(bad(format!("JSON text in {path}, found {other:?}"))),
    };
    serde_json::from_slice(unpadded(text.as_bytes()))
        .map_err(|e| bad(format!("JSON in {path} ({e})")))
}

/// `text` without the NUL bytes that pad its end (Velox pads each frame's metadata to
/// 60000 bytes), checked eight at a time: byte by byte (`trim_end_matches`) was a tenth of
/// a fuzzing run, one traced comparison per padding byte.
fn unpadded(text: &[u8]) -> &[u8] {
    let mut end = text.len();
    while end >= 8 && text[end - 8..end] == [0u8; 8] {
        end -= 8;
    }
    while end > 0 && text[end - 1] == 0 {
        end -= 1;
    }
    &text[..end]
}

/// Most bytes of one frame's metadata text (Velox writes 60000).
const MAX_METADATA_ROWS: u64 = 64 << 20;

/// Frame `frame` of a `Metadata` dataset (60000 x frames bytes of NUL-padded JSON).
pub(super) fn frame_metadata(f: &H5File, group: &str, name: &str, frame: usize) -> Result<Tree> {
    let path = format!("{group}/{name}");
    let ds = f.dataset(&path)?;
    let (rows, cols) = match ds.shape.as_slice() {
        [r, c] => (*r, *c),
        [r] => (*r, 1),
        _ => return Err(bad(format!("a 2-D metadata array at {path}"))),
    };
    if cols == 0 {
        return Err(bad(format!("metadata bytes at {path}")));
    }
    let col = frame.min(cols as usize - 1);
    let bytes = if ds.elem_size == 1 && matches!(ds.element, emio_h5::Element::Numeric(..)) {
        // One column through the lazy source: `rows` bytes, not the whole array (60000 ×
        // frames bytes, decoded by hdf5-pure) for one frame's text. The source checks the
        // stored extent before anything is allocated; a column of a sparse array is bounded
        // like any metadata.
        if rows > MAX_METADATA_ROWS {
            return Err(bad(format!(
                "at most {MAX_METADATA_ROWS} bytes of metadata per frame at {path}, found {rows}"
            )));
        }
        let (start, shape) = if ds.shape.len() == 2 {
            (vec![0, col as u64], vec![rows, 1])
        } else {
            (vec![0], vec![rows])
        };
        let source = ds.source(None)?;
        let mut bytes = vec![0u8; rows as usize];
        source.read_region(&start, &shape, &mut bytes)?;
        bytes
    } else {
        let raw = ds.read_raw()?;
        let (rows, cols) = (rows as usize, cols as usize);
        if raw.len() < rows * cols {
            return Err(bad(format!("metadata bytes at {path}")));
        }
        (0..rows).map(|r| raw[r * cols + col]).collect()
    };
    let text = String::from_utf8_lossy(unpadded(&bytes));
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad(format!("a JSON object in {path}"))),
        Err(e) => Err(bad(format!("JSON in {path} ({e})"))),
    }
}

pub(super) fn get<'a>(v: &'a Tree, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v.get(path[0])?;
    for k in &path[1..] {
        cur = cur.as_object()?.get(*k)?;
    }
    Some(cur)
}

pub(super) fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A Unix time (seconds) as ISO date and time in UTC (microseconds shown when there is a
/// fraction of a second).
fn utc_date_time(unix: f64) -> Option<(String, String)> {
    if !unix.is_finite() || unix.abs() > 1e13 {
        return None;
    }
    let t = DateTime::from_timestamp(unix.floor() as i64, 0)?;
    let (h, m, s) = (t.hour(), t.minute(), t.second());
    let frac = unix - unix.floor();
    let time = if frac > 0.0 {
        let micros = ((frac * 1e6).round() as i64).min(999_999);
        format!("{h:02}:{m:02}:{s:02}.{micros:06}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    };
    let date = format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day());
    Some((date, time))
}

impl Reader<'_> {
    pub(super) fn metadata_group(&self, key: &str) -> Result<Tree> {
        let f = self.f;
        let mut d = Tree::new();
        for (name, kind) in f.members(key)? {
            let path = format!("{key}/{name}");
            if kind == MemberKind::Group {
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

    pub(super) fn parse_image_display(&mut self) -> Result<()> {
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
    pub(super) fn group_om(&self, group: &str) -> Result<Tree> {
        let mut om = frame_metadata(self.f, group, "Metadata", 0)?;
        for (k, v) in &self.base_om {
            om.insert(k.clone(), v.clone());
        }
        Ok(om)
    }

    pub(super) fn detector_name_for(&self, key: &str) -> Option<String> {
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

    pub(super) fn detector_info<'o>(&self, om: &'o Tree) -> Option<&'o Value> {
        let index = match om.get("BinaryResult") {
            Some(br) => text(br.get("DetectorIndex"))?,
            None => "0".into(),
        };
        get(om, &["Detectors", &format!("Detector-{index}")])
    }

    pub(super) fn metadata(&self, om: &Tree, signal_type: &str) -> Tree {
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
    pub(super) fn map_eds(&self, om: &Tree, md: &mut Tree) {
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

    pub(super) fn dispersion(&self, om: &Tree) -> (f64, f64, &'static str) {
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

    /// The padding is cut as `trim_end_matches('\0')` cuts it, at every length and with
    /// NUL bytes inside the text kept.
    #[test]
    fn unpadded_cuts_only_the_trailing_nul_bytes() {
        for text_len in 0..20 {
            for pad in 0..20 {
                let mut bytes: Vec<u8> = (0..text_len).map(|i| [b'a', 0][i % 2]).collect();
                if let Some(last) = bytes.last_mut() {
                    *last = b'}';
                }
                bytes.resize(text_len + pad, 0);
                let expected = std::str::from_utf8(&bytes).unwrap().trim_end_matches('\0');
                assert_eq!(unpadded(&bytes), expected.as_bytes(), "{text_len} + {pad}");
            }
        }
    }

    /// Column `frame` of every Velox `Metadata` array of the corpus' files, parsed, is what
    /// reading the whole array (as before) and taking that column gives.
    #[test]
    fn one_frame_read_alone_equals_its_column_of_the_whole_array() {
        let dir = emio_core::corpus::corpus_format_dir("emd");
        let mut checked = 0;
        for name in [
            "SI_empty_selection.emd",
            "Camera_Ceta_Imaging_Micro.emd",
            "fei_example_tem_stack.emd",
        ] {
            let f = H5File::open(&dir.join(name)).unwrap();
            for kind in f.groups("/Data").unwrap() {
                for id in f.groups(&format!("/Data/{kind}")).unwrap() {
                    let group = format!("/Data/{kind}/{id}");
                    if !f.is_dataset(&format!("{group}/Metadata")) {
                        continue;
                    }
                    let ds = f.dataset(&format!("{group}/Metadata")).unwrap();
                    let raw = ds.read_raw().unwrap();
                    let cols = ds.shape.get(1).copied().unwrap_or(1) as usize;
                    for frame in [0, cols - 1] {
                        let column: Vec<u8> =
                            raw.iter().skip(frame).step_by(cols).copied().collect();
                        let text = String::from_utf8_lossy(&column);
                        let expected: Value =
                            serde_json::from_str(text.trim_end_matches('\0')).unwrap();
                        let got = frame_metadata(&f, &group, "Metadata", frame).unwrap();
                        assert_eq!(Value::Object(got), expected, "{name} {group} frame {frame}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 4, "{checked} metadata columns checked");
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
