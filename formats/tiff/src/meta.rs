//! Metadata of a series: every tag of its first page decoded into original metadata, vendor
//! blocks parsed into trees (FEI/Thermo, Zeiss SEM, Olympus SIS, Hamamatsu streak, ImageJ,
//! DigitalMicrograph, TVIPS, JEOL SightX), and calibrated axes plus HyperSpy metadata mapped
//! from them the way rsciio does.

use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use emio_core::{Axis, Result};
use serde_json::{Map, Value};

use crate::ifd::{Ifd, Reader, Values};
use crate::series::Series;
use crate::tags;

/// Reader options that affect axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisOptions {
    /// Calibrate from XResolution/YResolution/ResolutionUnit whatever the dialect.
    pub force_read_resolution: bool,
    /// How to present a Hamamatsu streak time axis.
    pub streak: StreakAxis,
}

/// rsciio's `hamamatsu_streak_axis_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreakAxis {
    /// Best linear fit.
    Uniform,
    /// The stored values.
    Data,
    /// Cubic fit, emitted as explicit values.
    Functional,
}

/// Decode every entry of `ifd` into a tree keyed by tag name (sub-IFDs such as EXIF as
/// nested trees).
pub fn tags_tree(r: &Reader<'_>, ifd: &Ifd, header: &crate::ifd::Header, depth: u32) -> Tree {
    let mut tree = Tree::new();
    for e in &ifd.entries {
        let name = tags::name(e.tag);
        let value = match e.tag {
            34665 | 34853 if depth == 0 => r
                .unsigned(e)
                .ok()
                .and_then(|v| v.first().copied())
                .and_then(|off| crate::ifd::parse_ifd(r.bytes, header, off).ok())
                .map(|sub| Value::Object(tags_tree(r, &sub, header, depth + 1))),
            _ => None,
        };
        let value = match value {
            Some(v) => v,
            None => match r.values(e) {
                Ok(Values::Unsigned(v)) if v.len() > 65536 => {
                    Value::String(format!("<{} values>", v.len()))
                }
                Ok(v) => v.to_json(),
                Err(_) => continue,
            },
        };
        // Repeated tags (some writers emit several ImageDescription entries) keep the first.
        tree.entry(name).or_insert(value);
    }
    tree
}

/// Python-like conversion of text to int, float or (failing both) the text itself.
fn astype(s: &str) -> Value {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = t.parse::<f64>() {
        if t.chars().any(|c| c.is_ascii_digit()) {
            return json_f64(f);
        }
    }
    Value::String(t.to_string())
}

/// FEI/Thermo INI block (`[Section]` then `key=value` lines).
pub fn parse_fei(text: &str) -> Tree {
    let mut tree = Tree::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            let name = line[1..line.len() - 1].to_string();
            tree.insert(name.clone(), Value::Object(Map::new()));
            section = Some(name);
            continue;
        }
        let (Some(sec), Some((k, v))) = (&section, line.split_once('=')) else {
            continue;
        };
        if let Some(Value::Object(m)) = tree.get_mut(sec) {
            m.insert(k.trim().to_string(), astype(v));
        }
    }
    tree
}

fn is_upper(s: &str) -> bool {
    s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_lowercase)
}

/// Zeiss SEM block (tag 34118): unnamed leading numbers under `""`, then `KEY` lines each
/// followed by `Name = value [unit]`, stored as `[name, value(, unit)]`.
pub fn parse_cz_sem(text: &str) -> Tree {
    let mut tree = Tree::new();
    let mut unnamed = Vec::new();
    let mut key: Option<String> = None;
    for line in text.lines() {
        if is_upper(line) {
            key = Some(line.to_lowercase());
            continue;
        }
        let Some(k) = key.take() else {
            unnamed.push(astype(line));
            continue;
        };
        let Some((name, value)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            continue;
        };
        let value = value.trim();
        let parts: Vec<&str> = value.split_whitespace().collect();
        let mut entry = vec![Value::String(name.trim().to_string())];
        match (parts.as_slice(), parts.first().map(|p| astype(p))) {
            ([_, unit], Some(n)) if !n.is_string() => {
                entry.push(n);
                entry.push(Value::String(unit.to_string()));
            }
            _ => entry.push(match astype(value) {
                Value::String(s) if s == "No" || s == "Off" => Value::Bool(false),
                Value::String(s) if s == "Yes" || s == "On" => Value::Bool(true),
                v => v,
            }),
        }
        tree.insert(k, Value::Array(entry));
    }
    let mut out = Tree::new();
    out.insert(String::new(), Value::Array(unnamed));
    out.extend(tree);
    out
}

/// Olympus SIS structure (tag 33560/33471 points at it; always little-endian).
pub fn parse_sis(bytes: &[u8], offset: u64) -> Option<Tree> {
    let r = Reader {
        bytes,
        order: emio_core::ByteOrder::Little,
    };
    if offset > bytes.len() as u64 || r.slice(offset, 4).ok()? != b"SIS0" {
        return None;
    }
    let i16_at = |o: u64| r.u16(o).ok().map(|v| v as i16);
    let mut tree = Tree::new();
    let name = crate::ifd::ascii(r.slice(offset + 26, 32).ok()?);
    tree.insert("name".into(), Value::String(name));
    let (minute, hour, day, month, year) = (
        i16_at(offset + 10)?,
        i16_at(offset + 12)?,
        i16_at(offset + 14)?,
        i16_at(offset + 16)?,
        i16_at(offset + 18)?,
    );
    tree.insert(
        "datetime".into(),
        Value::String(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:00",
            1900 + i32::from(year),
            month + 1,
            day,
            hour,
            minute
        )),
    );
    let count = u64::from(r.u16(offset + 58).ok()?);
    for i in 0..count {
        let at = offset + 60 + 8 * i;
        let Some(kind) = i16_at(at) else { break };
        let Ok(off) = r.u32(at + 4) else { break };
        if kind != 1 {
            continue;
        }
        let off = u64::from(off);
        let Ok(rec) = r.slice(off, 112) else { continue };
        let f64_at = |o: usize| f64::from_le_bytes(rec[o..o + 8].try_into().expect("8 bytes"));
        let lenexp = i16::from_le_bytes([rec[10], rec[11]]);
        let m = 10f64.powi(i32::from(lenexp));
        tree.insert("pixelsizex".into(), json_f64(f64_at(12) * m));
        tree.insert("pixelsizey".into(), json_f64(f64_at(20) * m));
        tree.insert("magnification".into(), json_f64(f64_at(36)));
        tree.insert(
            "cameraname".into(),
            Value::String(crate::ifd::ascii(&rec[46..80])),
        );
        tree.insert(
            "picturetype".into(),
            Value::String(crate::ifd::ascii(&rec[80..112])),
        );
    }
    Some(tree)
}

/// Fields of the TVIPS EM-MENU header (tag 37706): version 1 block, then the version 2
/// block when `Version == 2`. Types: `i` i32, `f` f32, `u` u32, `S<n>` text,
/// `V<n>` UTF-16 text, `<k>f` f32 array, `c<k>` complex128 array (skipped).
const TVIPS_V1: &[(&str, &str)] = &[
    ("Version", "i"),
    ("CommentV1", "S80"),
    ("HighTension", "i"),
    ("SphericalAberration", "i"),
    ("IlluminationAperture", "i"),
    ("Magnification", "i"),
    ("PostMagnification", "i"),
    ("FocalLength", "i"),
    ("Defocus", "i"),
    ("Astigmatism", "i"),
    ("AstigmatismDirection", "i"),
    ("BiprismVoltage", "i"),
    ("SpecimenTiltAngle", "i"),
    ("SpecimenTiltDirection", "i"),
    ("IlluminationTiltDirection", "i"),
    ("IlluminationTiltAngle", "i"),
    ("ImageMode", "i"),
    ("EnergySpread", "i"),
    ("ChromaticAberration", "i"),
    ("ShutterType", "i"),
    ("DefocusSpread", "i"),
    ("CcdNumber", "i"),
    ("CcdSize", "i"),
    ("OffsetXV1", "i"),
    ("OffsetYV1", "i"),
    ("PhysicalPixelSize", "i"),
    ("Binning", "i"),
    ("ReadoutSpeed", "i"),
    ("GainV1", "i"),
    ("SensitivityV1", "i"),
    ("ExposureTimeV1", "i"),
    ("FlatCorrected", "i"),
    ("DeadPxCorrected", "i"),
    ("ImageMean", "i"),
    ("ImageStd", "i"),
    ("DisplacementX", "i"),
    ("DisplacementY", "i"),
    ("DateV1", "i"),
    ("TimeV1", "i"),
    ("ImageMin", "i"),
    ("ImageMax", "i"),
    ("ImageStatisticsQuality", "i"),
];

const TVIPS_V2: &[(&str, &str)] = &[
    ("ImageName", "V160"),
    ("ImageFolder", "V160"),
    ("ImageSizeX", "i"),
    ("ImageSizeY", "i"),
    ("ImageSizeZ", "i"),
    ("ImageSizeE", "i"),
    ("ImageDataType", "i"),
    ("Date", "i"),
    ("Time", "i"),
    ("Comment", "V1024"),
    ("ImageHistory", "V1024"),
    ("Scaling", "16f"),
    ("ImageStatistics", "c16"),
    ("ImageType", "i"),
    ("ImageDisplayType", "i"),
    ("PixelSizeX", "f"),
    ("PixelSizeY", "f"),
    ("ImageDistanceZ", "f"),
    ("ImageDistanceE", "f"),
    ("ImageMisc", "32f"),
    ("TemType", "V160"),
    ("TemHighTension", "f"),
    ("TemAberrations", "32f"),
    ("TemEnergy", "32f"),
    ("TemMode", "i"),
    ("TemMagnification", "f"),
    ("TemMagnificationCorrection", "f"),
    ("PostMagnification", "f"),
    ("TemStageType", "i"),
    ("TemStagePosition", "5f"),
    ("TemImageShift", "2f"),
    ("TemBeamShift", "2f"),
    ("TemBeamTilt", "2f"),
    ("TilingParameters", "7f"),
    ("TemIllumination", "3f"),
    ("TemShutter", "i"),
    ("TemMisc", "32f"),
    ("CameraType", "V160"),
    ("PhysicalPixelSizeX", "f"),
    ("PhysicalPixelSizeY", "f"),
    ("OffsetX", "i"),
    ("OffsetY", "i"),
    ("BinningX", "i"),
    ("BinningY", "i"),
    ("ExposureTime", "f"),
    ("Gain", "f"),
    ("ReadoutRate", "f"),
    ("FlatfieldDescription", "V160"),
    ("Sensitivity", "f"),
    ("Dose", "f"),
    ("CamMisc", "32f"),
    ("FeiMicroscopeInformation", "V1024"),
    ("FeiSpecimenInformation", "V1024"),
    ("Magic", "u"),
];

/// Parse one block of TVIPS fields at `offset`; returns the tree and the end offset.
fn tvips_block(
    r: &Reader<'_>,
    mut at: u64,
    fields: &[(&str, &str)],
    tree: &mut Tree,
) -> Option<u64> {
    for (name, ty) in fields {
        let value = match *ty {
            "i" => Value::from(r.u32(at).ok()? as i32),
            "u" => Value::from(r.u32(at).ok()?),
            "f" => json_f64(f64::from(f32::from_bits(r.u32(at).ok()?))),
            "c16" => {
                at += 16 * 16;
                continue;
            }
            t if t.starts_with('S') => {
                let n: u64 = t[1..].parse().ok()?;
                let v = Value::String(crate::ifd::ascii(r.slice(at, n).ok()?));
                at += n;
                tree.insert((*name).to_string(), v);
                continue;
            }
            t if t.starts_with('V') => {
                let n: u64 = t[1..].parse().ok()?;
                let raw = r.slice(at, n).ok()?;
                let units: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                at += n;
                tree.insert(
                    (*name).to_string(),
                    Value::String(String::from_utf16_lossy(&units)),
                );
                continue;
            }
            t => {
                let k: u64 = t.trim_end_matches('f').parse().ok()?;
                let v = (0..k)
                    .map(|i| {
                        r.u32(at + 4 * i)
                            .map(|b| json_f64(f64::from(f32::from_bits(b))))
                    })
                    .collect::<Result<Vec<_>>>()
                    .ok()?;
                at += 4 * k;
                tree.insert((*name).to_string(), Value::Array(v));
                continue;
            }
        };
        at += 4;
        tree.insert((*name).to_string(), value);
    }
    Some(at)
}

/// The TVIPS header the tag 37706 entry points at (or holds).
pub fn parse_tvips(r: &Reader<'_>, offset: u64) -> Option<Tree> {
    if offset > r.bytes.len() as u64 {
        return None;
    }
    let mut tree = Tree::new();
    let end = tvips_block(r, offset, TVIPS_V1, &mut tree)?;
    if tree.get("Version").and_then(Value::as_i64) == Some(2) {
        tvips_block(r, end, TVIPS_V2, &mut tree)?;
    }
    Some(tree)
}

fn map_tvips(tv: &Tree, md: &mut Tree) {
    let tem = "Acquisition_instrument.TEM";
    let f = |k: &str| tv.get(k).and_then(value_f64);
    let mag_key = if tv.get("TemMode").and_then(Value::as_i64) == Some(3) {
        "camera_length"
    } else {
        "magnification"
    };
    if let Some(m) = f("TemMagnification") {
        set_path(md, &format!("{tem}.{mag_key}"), json_f64(m));
    }
    if let Some(c) = tv.get("CameraType").and_then(Value::as_str) {
        set_path(md, &format!("{tem}.Detector.Camera.name"), c);
    }
    if let Some(e) = f("ExposureTime") {
        set_path(
            md,
            &format!("{tem}.Detector.Camera.exposure"),
            json_f64(e * 1e-3),
        );
    }
    if let Some(ht) = f("TemHighTension") {
        set_path(md, &format!("{tem}.beam_energy"), json_f64(ht * 1e-3));
    }
    if let Some(c) = tv
        .get("Comment")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        set_path(md, "General.notes", c);
    }
    if let Some(t) = tv.get("Time").and_then(Value::as_i64) {
        let t = t.max(0);
        set_path(
            md,
            "General.time",
            format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60),
        );
    }
    if let Some(p) = tv.get("TemStagePosition").and_then(Value::as_array) {
        let v: Vec<f64> = p.iter().filter_map(value_f64).collect();
        if v.len() == 5 {
            set_path(md, &format!("{tem}.Stage.x"), json_f64(v[0] * 1e3));
            set_path(md, &format!("{tem}.Stage.y"), json_f64(v[1] * 1e3));
            set_path(md, &format!("{tem}.Stage.z"), json_f64(v[2] * 1e3));
            set_path(md, &format!("{tem}.Stage.tilt_alpha"), json_f64(v[3]));
            set_path(md, &format!("{tem}.Stage.tilt_beta"), json_f64(v[4]));
        }
    }
}

/// The `TemReporter` tree of a JEOL SightX description (XML, lines stripped as rsciio does).
fn parse_jeol(desc: &str) -> Option<Tree> {
    let strip: &[char] = &[' ', '\r', '\n', '\t', '\x01', '\0'];
    let joined: String = desc.split('\n').map(|l| l.trim_matches(strip)).collect();
    match crate::xml::parse(&joined)?.remove("TemReporter")? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Relativistic electron wavelength in metres at `volts`.
fn wavelength(volts: f64) -> f64 {
    let (m_e, e, c, h) = (
        9.1093837015e-31,
        1.602176634e-19,
        299792458.0,
        6.62607015e-34,
    );
    let p = 2.0 * m_e * e * volts * (1.0 + e * volts / (2.0 * m_e * c * c));
    h / p.sqrt()
}

/// JEOL SightX calibration, title and instrument metadata.
fn jeol(rep: &Tree, op: &Tree, cal: &mut Cal, md: &mut Tree) {
    let s = |path: &[&str]| {
        get_in(rep, path)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let f = |path: &[&str]| {
        get_in(rep, path).and_then(|v| match v {
            Value::String(t) => t.trim().parse().ok(),
            v => value_f64(v),
        })
    };
    let eos = s(&["Eos", "EosMode"]);
    let stem = eos == "modeASID";
    let tail = |t: String| t.get(4..).unwrap_or("").to_string();
    let forming = if stem {
        s(&["ImageFormingSystem", "ScanningImageFormingMode"])
    } else {
        s(&["ImageFormingSystem", "ImageFormingMode"])
    };
    let notes = [
        (if stem { "STEM" } else { "TEM" }).to_string(),
        tail(s(&["IlluminationSystem", "ImageField"])),
        tail(forming),
        s(&["ImageFormingSystem", "SelectorString"]),
    ]
    .join(", ");
    set_path(md, "General.title", notes.as_str());
    let mut unit = 0.01;
    if num_of(op, "ResolutionUnit") == Some(2.0) {
        unit = 0.0254;
    }
    let mode = s(&["ImageFormingSystem", "ModeString"]);
    let selector = f(&["ImageFormingSystem", "SelectorValue"]);
    if eos == "eosTEM" && mode == "MAG" {
        if let (Some(mag), Some((sx, sy))) = (selector, resolution_scales(op, 1.0)) {
            let k = unit / mag * 1e9;
            cal.scale[0] = Some(sx * k);
            cal.scale[1] = Some(sy * k);
            for u in cal.units.iter_mut() {
                *u = Some("nm".into());
            }
        }
    } else if eos == "eosTEM" && mode == "DIFF" {
        let ht = f(&["ElectronGun", "AccelerationVoltage"]);
        if let (Some(mut cl), Some(ht), Some((sx, sy))) = (selector, ht, resolution_scales(op, 1.0))
        {
            match s(&["ImageFormingSystem", "SelectorUnitString"]).as_str() {
                "mm" => cl /= 1000.0,
                "cm" => cl /= 100.0,
                _ => {}
            }
            let k = unit / (cl * wavelength(ht) * 1e9);
            cal.scale[0] = Some(sx * k);
            cal.scale[1] = Some(sy * k);
            cal.units[0] = Some("1 / nm".into());
            cal.units[1] = Some("1 / nm".into());
        }
    }
    let tem = "Acquisition_instrument.TEM";
    if let Some(v) = f(&["ElectronGun", "AccelerationVoltage"]) {
        set_path(md, &format!("{tem}.beam_energy"), json_f64(v * 1e-3));
    }
    if let Some(v) = f(&["ElectronGun", "BeamCurrent"]) {
        set_path(md, &format!("{tem}.beam_current"), json_f64(v * 1e-3));
    }
    if let Some(v) = get_in(rep, &["Instruments"]) {
        set_path(md, &format!("{tem}.microscope"), v.clone());
    }
    if let Some(v) = f(&["GonioStage", "StagePosition", "TX"]) {
        set_path(md, &format!("{tem}.Stage.tilt_alpha"), json_f64(v));
    }
    if let Some(v) = f(&["GonioStage", "StagePosition", "TY"]) {
        set_path(md, &format!("{tem}.Stage.tilt_beta"), json_f64(v));
    }
    if let Some(v) = f(&["GonioStage", "MZ"]) {
        set_path(md, &format!("{tem}.Stage.z"), json_f64(v * 1e-6));
    }
    set_path(
        md,
        &format!("{tem}.acquisition_mode"),
        if eos == "eosASID" { "STEM" } else { "TEM" },
    );
    if let Some(v) = selector {
        let key = if mode == "DIFF" {
            "camera_length"
        } else {
            "magnification"
        };
        set_path(md, &format!("{tem}.{key}"), json_f64(v));
    }
}

/// ImageJ description `key=value` lines with typed values.
pub fn parse_imagej(desc: &str) -> Tree {
    let mut tree = Tree::new();
    for line in desc.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let value = match v.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => astype(v),
            };
            tree.insert(k.trim().to_string(), value);
        }
    }
    tree
}

/// Split one line of a Hamamatsu description on commas outside double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

/// Hamamatsu HPD-TA description: `[Section],key=value,...` lines.
pub fn parse_hamamatsu(desc: &str) -> Tree {
    let mut tree = Tree::new();
    for line in desc.lines() {
        let row = split_csv(line);
        let Some(first) = row.first() else { continue };
        let key = first
            .trim_matches(|c| c == ' ' || c == '[' || c == ']')
            .to_string();
        let mut section = Map::new();
        for el in &row[1..] {
            let parts: Vec<&str> = el.split('=').collect();
            if parts.len() == 2 {
                section.insert(
                    parts[0].to_string(),
                    Value::String(parts[1].trim_matches('"').to_string()),
                );
            }
        }
        tree.insert(key, Value::Object(section));
    }
    tree
}

/// Least-squares polynomial of `degree` through (i, y_i), highest power first (numpy's
/// `polyfit` order).
pub fn polyfit(y: &[f64], degree: usize) -> Vec<f64> {
    let n = degree + 1;
    // Fit in a scaled variable t = i / len for conditioning, then expand back.
    let len = y.len().max(1) as f64;
    let mut ata = vec![vec![0.0; n]; n];
    let mut aty = vec![0.0; n];
    for (i, &v) in y.iter().enumerate() {
        let t = i as f64 / len;
        let pw: Vec<f64> = (0..n).map(|k| t.powi(k as i32)).collect();
        for a in 0..n {
            aty[a] += pw[a] * v;
            for b in 0..n {
                ata[a][b] += pw[a] * pw[b];
            }
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&a, &b| ata[a][col].abs().total_cmp(&ata[b][col].abs()))
            .unwrap_or(col);
        ata.swap(col, pivot);
        aty.swap(col, pivot);
        let d = ata[col][col];
        if d == 0.0 {
            continue;
        }
        let pivot_row = ata[col].clone();
        for row in 0..n {
            if row != col {
                let f = ata[row][col] / d;
                for (a, p) in ata[row].iter_mut().zip(&pivot_row).skip(col) {
                    *a -= f * p;
                }
                aty[row] -= f * aty[col];
            }
        }
    }
    let c_t: Vec<f64> = (0..n)
        .map(|k| {
            if ata[k][k] == 0.0 {
                0.0
            } else {
                aty[k] / ata[k][k]
            }
        })
        .collect();
    // c_t are coefficients in t = i/len: coefficient of i^k is c_t[k] / len^k.
    (0..n).rev().map(|k| c_t[k] / len.powi(k as i32)).collect()
}

fn polyval(p: &[f64], x: f64) -> f64 {
    p.iter().fold(0.0, |acc, c| acc * x + c)
}

/// Calibration per axis role in rsciio's vocabulary: `x` feeds `height`, `y` feeds
/// `width`, `z` the stack axis.
#[derive(Debug, Clone, Default)]
struct Cal {
    scale: [Option<f64>; 3],
    offset: [Option<f64>; 3],
    units: [Option<String>; 3],
    /// ImageJ frame interval (seconds), for a time axis.
    frame_interval: Option<f64>,
}

/// rsciio's axis names for tifffile's axis codes.
fn code_name(c: char) -> &'static str {
    match c {
        'X' => "width",
        'Y' => "height",
        'S' => "sample",
        'P' => "plane",
        'I' => "image series",
        'Z' => "depth",
        'C' => "color|em-wavelength|channel",
        'E' => "ex-wavelength|lambda",
        'T' => "time",
        'R' => "region|tile",
        'A' => "angle",
        'F' => "phase",
        'H' => "lifetime",
        'L' => "exposure",
        'V' => "event",
        _ => "None",
    }
}

fn build_axes(series: &Series, cal: &Cal) -> Vec<Axis> {
    let shape = series.shape();
    let n = shape.len();
    series
        .codes
        .iter()
        .enumerate()
        .map(|(i, &code)| {
            let name = code_name(code);
            let role = match name {
                "height" => Some(0),
                "width" => Some(1),
                "depth" | "image series" | "time" => Some(2),
                _ => None,
            };
            if name == "time" {
                if let Some(dt) = cal.frame_interval {
                    return Axis::uniform(name, "s", dt, 0.0, i + 2 < n);
                }
            }
            let (scale, offset, units) = match role {
                Some(r) => (
                    cal.scale[r].unwrap_or(1.0),
                    cal.offset[r].unwrap_or(0.0),
                    cal.units[r].clone().unwrap_or_default(),
                ),
                None => (1.0, 0.0, String::new()),
            };
            Axis::uniform(name, units, scale, offset, i + 2 < n)
        })
        .collect()
}

/// The metadata of one series.
pub struct SeriesMetadata {
    /// Calibrated axes.
    pub axes: Vec<Axis>,
    /// HyperSpy metadata.
    pub metadata: Tree,
    /// All tags and parsed vendor blocks.
    pub original: Tree,
}

fn str_of<'a>(op: &'a Tree, key: &str) -> Option<&'a str> {
    op.get(key).and_then(Value::as_str)
}

fn num_of(op: &Tree, key: &str) -> Option<f64> {
    op.get(key).and_then(value_f64)
}

fn rational(op: &Tree, key: &str) -> Option<(f64, f64)> {
    let v = op.get(key)?.as_array()?;
    Some((value_f64(v.first()?)?, value_f64(v.get(1)?)?))
}

/// Scales from X/YResolution: (from YResolution, from XResolution), each `den/num * factor`.
fn resolution_scales(op: &Tree, factor: f64) -> Option<(f64, f64)> {
    let (yn, yd) = rational(op, "YResolution")?;
    let (xn, xd) = rational(op, "XResolution")?;
    Some((yd / yn * factor, xd / xn * factor))
}

fn get_in<'a>(tree: &'a Tree, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(tree.get(*first)?, |v, k| v.as_object()?.get(*k))
}

/// Parse a date in the forms FEI and Zeiss write (`MM/DD/YYYY`, `DD Mon YYYY`, ISO) to ISO.
fn parse_date(s: &str) -> Option<String> {
    let s = s.trim();
    for fmt in ["%m/%d/%Y", "%d %b %Y", "%Y-%m-%d", "%d.%m.%Y", "%Y:%m:%d"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, fmt) {
            return Some(d.format("%Y-%m-%d").to_string());
        }
    }
    None
}

/// Parse a time (`HH:MM:SS`, with optional AM/PM) to ISO.
fn parse_time(s: &str) -> Option<String> {
    let s = s.trim();
    for fmt in ["%I:%M:%S %p", "%H:%M:%S", "%H:%M"] {
        if let Ok(t) = chrono::NaiveTime::parse_from_str(s, fmt) {
            return Some(t.format("%H:%M:%S").to_string());
        }
    }
    None
}

/// Build axes, metadata and original metadata of `series`.
pub fn series_metadata(
    r: &Reader<'_>,
    header: &crate::ifd::Header,
    ifd: &Ifd,
    series: &Series,
    file_name: &str,
    options: AxisOptions,
) -> Result<SeriesMetadata> {
    let mut op = tags_tree(r, ifd, header, 0);
    let mut md = Tree::new();
    // The title stays empty unless a dialect's tags give one, as HyperSpy has it.
    set_path(&mut md, "General.title", "");
    set_path(&mut md, "General.original_filename", file_name);
    set_path(&mut md, "Signal.signal_type", "");
    if let Some(dt) = str_of(&op, "DateTime") {
        let dt = dt.trim();
        let parsed = chrono::NaiveDateTime::parse_from_str(dt, "%Y:%m:%d %H:%M:%S")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(dt, "%Y/%m/%d %H:%M"));
        if let Ok(dt) = parsed {
            set_path(
                &mut md,
                "General.date",
                dt.date().format("%Y-%m-%d").to_string(),
            );
            set_path(
                &mut md,
                "General.time",
                dt.time().format("%H:%M:%S").to_string(),
            );
        }
    }
    let mut cal = Cal::default();
    let desc = str_of(&op, "ImageDescription").map(str::to_string);
    let is_dm = [
        "65003", "65004", "65005", "65009", "65010", "65011", "65006", "65007", "65008", "65022",
        "65024", "65025",
    ]
    .iter()
    .any(|k| op.contains_key(*k));
    if is_dm {
        if let Some(u) = str_of(&op, "65022") {
            set_path(&mut md, "Signal.quantity", u);
        }
        if let (Some(o), Some(s)) = (num_of(&op, "65024"), num_of(&op, "65025")) {
            set_path(
                &mut md,
                "Signal.Noise_properties.Variance_linear_model.gain_factor",
                json_f64(s),
            );
            set_path(
                &mut md,
                "Signal.Noise_properties.Variance_linear_model.gain_offset",
                json_f64(o),
            );
        }
    }
    let first_page_tags = |tag: u16| ifd.get(tag);
    let mut axes_override: Option<Vec<Axis>> = None;
    let is_fei = op.contains_key("FEI_HELIOS") || op.contains_key("FEI_SFEG");
    let is_zeiss = op.contains_key("CZ_SEM");
    let is_tvips = op.contains_key("TVIPS");
    let is_sis = op.contains_key("OlympusSIS") || op.contains_key("OlympusINI");
    let is_jeol = str_of(&op, "Make") == Some("JEOL Ltd.");
    let is_streak = str_of(&op, "Artist").is_some_and(|a| a.starts_with("Copyright Hamamatsu"))
        && str_of(&op, "Software").is_some_and(|s| s.starts_with("HPD-TA"));
    if options.force_read_resolution
        && op.contains_key("ResolutionUnit")
        && op.contains_key("XResolution")
    {
        let unit = num_of(&op, "ResolutionUnit").unwrap_or(1.0) as i64;
        if unit != 1 {
            if let Some((sx, sy)) = resolution_scales(&op, 1.0) {
                let f = if unit == 2 { 25400.0 } else { 10000.0 };
                cal.scale[0] = Some(sx * f);
                cal.scale[1] = Some(sy * f);
                cal.units[0] = Some("µm".into());
                cal.units[1] = Some("µm".into());
            }
        }
    } else if is_fei {
        let text = str_of(&op, "FEI_HELIOS")
            .or_else(|| str_of(&op, "FEI_SFEG"))
            .unwrap_or("")
            .to_string();
        let fei = parse_fei(&text);
        op.remove("FEI_HELIOS");
        op.remove("FEI_SFEG");
        let f = |path: &[&str]| get_in(&fei, path).and_then(value_f64);
        let scales = match (f(&["Scan", "PixelWidth"]), f(&["Scan", "PixelHeight"])) {
            (Some(w), Some(h)) => Some((w, h)),
            _ => match (
                f(&["IRBeam", "HFW"]),
                f(&["Image", "ResolutionX"]),
                f(&["IRBeam", "VFW"]),
                f(&["Image", "ResolutionY"]),
            ) {
                (Some(hfw), Some(rx), Some(vfw), Some(ry)) => Some((hfw / rx, vfw / ry)),
                _ => None,
            },
        };
        if let Some((x, y)) = scales {
            cal.scale[0] = Some(x);
            cal.scale[1] = Some(y);
            cal.units[0] = Some("m".into());
            cal.units[1] = Some("m".into());
        }
        map_fei(&fei, &mut md);
        op.insert("fei_metadata".into(), Value::Object(fei));
    } else if is_zeiss {
        let text = str_of(&op, "CZ_SEM").unwrap_or("").to_string();
        let cz = parse_cz_sem(&text);
        let width = series.first().width as f64;
        if let Some(s) = cz
            .get("")
            .and_then(|v| v.as_array())
            .and_then(|a| a.get(3))
            .and_then(value_f64)
        {
            let s = s * 1024.0 / width;
            cal.scale[0] = Some(s);
            cal.scale[1] = Some(s);
            cal.units[0] = Some("m".into());
            cal.units[1] = Some("m".into());
        }
        map_zeiss(&cz, &mut md);
        op.insert("CZ_SEM".into(), Value::Object(cz));
    } else if is_tvips {
        let tv = first_page_tags(37706).and_then(|e| {
            // The tag holds the header itself (UNDEFINED/BYTE) or its offset (LONG).
            if e.ftype == 4 || e.ftype == 13 {
                r.unsigned(e).ok()?.first().and_then(|&o| parse_tvips(r, o))
            } else {
                parse_tvips(r, e.pos)
            }
        });
        let pixel = tv.as_ref().and_then(|t| {
            Some((
                t.get("PixelSizeX").and_then(value_f64)?,
                t.get("PixelSizeY").and_then(value_f64)?,
            ))
        });
        if let Some((px, py)) = pixel {
            cal.scale[0] = Some(px);
            cal.scale[1] = Some(py);
            cal.units[0] = Some("nm".into());
            cal.units[1] = Some("nm".into());
        } else if let Some((sx, sy)) = resolution_scales(&op, 1e-2) {
            cal.scale[0] = Some(sx);
            cal.scale[1] = Some(sy);
            cal.units[0] = Some("m".into());
            cal.units[1] = Some("m".into());
        }
        if let Some(tv) = tv {
            map_tvips(&tv, &mut md);
            op.insert("TVIPS".into(), Value::Object(tv));
        }
    } else if is_sis {
        let sis = [33560u16, 33471]
            .iter()
            .filter_map(|&t| first_page_tags(t))
            .filter_map(|e| r.unsigned(e).ok().and_then(|v| v.first().copied()))
            .find_map(|off| parse_sis(r.bytes, off));
        if let Some(sis) = sis {
            let round15 = |v: f64| (v * 1e15).round() / 1e15;
            if let (Some(x), Some(y)) = (
                sis.get("pixelsizex").and_then(value_f64),
                sis.get("pixelsizey").and_then(value_f64),
            ) {
                cal.scale[0] = Some(round15(x));
                cal.scale[1] = Some(round15(y));
                cal.units[0] = Some("m".into());
                cal.units[1] = Some("m".into());
            }
            if let Some(m) = sis.get("magnification") {
                set_path(
                    &mut md,
                    "Acquisition_instrument.TEM.magnification",
                    m.clone(),
                );
            }
            if let Some(c) = sis.get("cameraname").and_then(Value::as_str) {
                set_path(
                    &mut md,
                    "Acquisition_instrument.TEM.Detector.Camera.name",
                    c,
                );
            }
            op.insert("Olympus_SIS_metadata".into(), Value::Object(sis));
        }
    } else if is_jeol {
        if let Some(report) = desc.as_deref().and_then(parse_jeol) {
            jeol(&report, &op, &mut cal, &mut md);
            op.insert("ImageDescription".into(), Value::Object(report));
        }
    } else if is_streak {
        if let Some(d) = desc.as_deref() {
            let mut parsed = parse_hamamatsu(d);
            axes_override = streak_axes(r, series, &mut parsed, options.streak);
            op.insert("ImageDescriptionParsed".into(), Value::Object(parsed));
        }
    } else {
        if is_dm {
            let s = |k: &str| num_of(&op, k);
            let u = |k: &str| str_of(&op, k).map(str::to_string);
            cal.units[1] = u("65003").or(cal.units[1].take());
            cal.units[0] = u("65004").or(cal.units[0].take());
            cal.units[2] = u("65005").or(cal.units[2].take());
            cal.scale[1] = s("65009").or(cal.scale[1]);
            cal.scale[0] = s("65010").or(cal.scale[0]);
            cal.scale[2] = s("65011").or(cal.scale[2]);
            cal.offset[1] = s("65006").or(cal.offset[1]);
            cal.offset[0] = s("65007").or(cal.offset[0]);
            cal.offset[2] = s("65008").or(cal.offset[2]);
        }
        if let Some(d) = desc.as_deref().filter(|d| d.starts_with("ImageJ=")) {
            let ij = parse_imagej(d);
            if let Some(unit) = ij.get("unit").and_then(Value::as_str) {
                let unit = match unit {
                    "micron" | "um" => "µm",
                    "angstrom" => "Å",
                    u => u,
                };
                if unit != "pixel" {
                    cal.units[0] = Some(unit.to_string());
                    cal.units[1] = Some(unit.to_string());
                }
                if let Some((sx, sy)) = resolution_scales(&op, 1.0) {
                    cal.scale[0] = Some(sx);
                    cal.scale[1] = Some(sy);
                }
            }
            if let Some(sp) = ij.get("spacing").and_then(value_f64) {
                cal.scale[2] = Some(sp);
            }
            // rsciio gives a time axis the z spacing; the frame interval is what it means.
            cal.frame_interval = ij.get("finterval").and_then(value_f64);
            op.insert("ImageJ".into(), Value::Object(ij));
        }
    }
    let axes = match axes_override {
        Some(a) => a,
        None => build_axes(series, &cal),
    };
    Ok(SeriesMetadata {
        axes,
        metadata: md,
        original: op,
    })
}

/// Hamamatsu streak axes: a linear spectral (width) axis and a time (height) axis as chosen.
fn streak_axes(
    r: &Reader<'_>,
    series: &Series,
    parsed: &mut Tree,
    kind: StreakAxis,
) -> Option<Vec<Axis>> {
    let page = series.first();
    let scaling = parsed.get("Scaling")?.as_object()?.clone();
    let address = |key: &str, skip: &str| -> Option<u64> {
        let v = scaling.get(key)?.as_str()?;
        if v.starts_with(skip) {
            return None;
        }
        let digits: String = v
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    // Axis lengths come from the header: bound them before allocating.
    if page.width.max(page.height) > 1 << 24 {
        return None;
    }
    let read_axis = |addr: Option<u64>, n: u64| -> Vec<f64> {
        match addr.and_then(|a| r.slice(a, n * 4).ok()) {
            Some(raw) => raw
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            None => (0..n).map(|i| i as f64).collect(),
        }
    };
    let xax = read_axis(address("ScalingXScalingFile", "Other"), page.width);
    let yax = read_axis(address("ScalingYScalingFile", "Focus mode"), page.height);
    let unit = |k: &str| {
        scaling
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let px = polyfit(&xax, 1);
    let width = Axis::uniform("width", unit("ScalingXUnit"), px[0], px[1], false);
    let height = match kind {
        StreakAxis::Uniform => {
            let py = polyfit(&yax, 1);
            Axis::uniform("height", unit("ScalingYUnit"), py[0], py[1], false)
        }
        StreakAxis::Data => Axis::values("height", unit("ScalingYUnit"), yax.clone(), false),
        StreakAxis::Functional => {
            let p = polyfit(&yax, 3);
            let values = (0..yax.len()).map(|i| polyval(&p, i as f64)).collect();
            Axis::values("height", unit("ScalingYUnit"), values, false)
        }
    };
    if let Some(Value::Object(s)) = parsed.get_mut("Scaling") {
        s.insert(
            "ScalingXaxis".into(),
            Value::Array(xax.iter().map(|&v| json_f64(v)).collect()),
        );
        s.insert(
            "ScalingYaxis".into(),
            Value::Array(yax.iter().map(|&v| json_f64(v)).collect()),
        );
    }
    let mut axes = Vec::new();
    for &c in &series.codes {
        axes.push(match c {
            'Y' => height.clone(),
            'X' => width.clone(),
            c => Axis::uniform(code_name(c), "", 1.0, 0.0, true),
        });
    }
    Some(axes)
}

fn map_fei(fei: &Tree, md: &mut Tree) {
    let f = |path: &[&str]| get_in(fei, path).and_then(value_f64);
    let sem = "Acquisition_instrument.SEM";
    if let Some(v) = f(&["Beam", "HV"]) {
        set_path(md, &format!("{sem}.beam_energy"), json_f64(v * 1e-3));
    }
    for (k, name) in [
        ("StageX", "x"),
        ("StageY", "y"),
        ("StageZ", "z"),
        ("StageR", "rotation"),
        ("StageT", "tilt"),
    ] {
        if let Some(v) = get_in(fei, &["Stage", k]) {
            set_path(md, &format!("{sem}.Stage.{name}"), v.clone());
        }
    }
    if let Some(v) = f(&["Stage", "WorkingDistance"]) {
        set_path(md, &format!("{sem}.working_distance"), json_f64(v * 1e3));
    }
    if let Some(v) = get_in(fei, &["Scan", "Dwelltime"]) {
        set_path(md, &format!("{sem}.dwell_time"), v.clone());
    }
    if let Some(v) = f(&["EBeam", "BeamCurrent"]) {
        set_path(md, &format!("{sem}.beam_current"), json_f64(v * 1e9));
    }
    if let Some(v) = get_in(fei, &["System", "SystemType"]) {
        set_path(md, &format!("{sem}.microscope"), v.clone());
    }
    if let Some(v) = get_in(fei, &["Detectors", "Name"]) {
        set_path(md, &format!("{sem}.Detector.detector_type"), v.clone());
    }
    if let Some(d) = get_in(fei, &["User", "Date"])
        .and_then(Value::as_str)
        .and_then(parse_date)
    {
        set_path(md, "General.date", d);
    }
    if let Some(t) = get_in(fei, &["User", "Time"])
        .and_then(Value::as_str)
        .and_then(parse_time)
    {
        set_path(md, "General.time", t);
    }
    if let Some(u) = get_in(fei, &["User", "User"]) {
        set_path(md, "General.authors", u.clone());
    }
}

/// Convert a Zeiss value with units to `target` units (lengths, times, currents).
fn zeiss_convert(entry: &[Value], target: &str) -> Option<Value> {
    let v = value_f64(entry.get(1)?)?;
    let unit = entry.get(2).and_then(Value::as_str).unwrap_or("");
    let si = |u: &str| -> Option<f64> {
        Some(match u {
            "m" | "s" | "A" => 1.0,
            "mm" | "ms" | "mA" => 1e-3,
            "µm" | "um" | "µs" | "us" | "µA" | "uA" => 1e-6,
            "nm" | "ns" | "nA" => 1e-9,
            "pm" | "ps" | "pA" => 1e-12,
            _ => return None,
        })
    };
    let x = v * si(unit)? / si(target)?;
    Some(json_f64(format!("{x:.6e}").parse().ok()?))
}

fn map_zeiss(cz: &Tree, md: &mut Tree) {
    let sem = "Acquisition_instrument.SEM";
    let entry = |k: &str| cz.get(k).and_then(Value::as_array).map(Vec::as_slice);
    let plain = |k: &str| {
        entry(k).and_then(|e| e.get(1)).map(|v| match v {
            Value::String(s) => astype(s),
            v => v.clone(),
        })
    };
    for (k, path) in [
        ("ap_actualkv", "beam_energy"),
        ("ap_mag", "magnification"),
        ("ap_stage_at_r", "Stage.rotation"),
        ("ap_stage_at_t", "Stage.tilt"),
        ("dp_detector_type", "Detector.detector_type"),
        ("sv_serial_number", "microscope"),
    ] {
        if let Some(v) = plain(k) {
            set_path(md, &format!("{sem}.{path}"), v);
        }
    }
    for (k, path, unit) in [
        ("ap_stage_at_x", "Stage.x", "mm"),
        ("ap_stage_at_y", "Stage.y", "mm"),
        ("ap_stage_at_z", "Stage.z", "mm"),
        ("ap_wd", "working_distance", "mm"),
        ("dp_dwell_time", "dwell_time", "s"),
        ("ap_iprobe", "beam_current", "nA"),
    ] {
        if let Some(v) = entry(k).and_then(|e| zeiss_convert(e, unit)) {
            set_path(md, &format!("{sem}.{path}"), v);
        }
    }
    let text = |k: &str| {
        entry(k)
            .and_then(|e| e.get(1))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if let Some(d) = text("ap_date").and_then(|d| parse_date(&d)) {
        set_path(md, "General.date", d);
    }
    if let Some(t) = text("ap_time").and_then(|t| parse_time(&t)) {
        set_path(md, "General.time", t);
    }
    if let Some(u) = plain("sv_user_name") {
        set_path(md, "General.authors", u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polyfit_recovers_a_cubic() {
        let y: Vec<f64> = (0..50)
            .map(|i| {
                let x = i as f64;
                0.5 * x * x * x - 2.0 * x * x + 3.0 * x + 7.0
            })
            .collect();
        let p = polyfit(&y, 3);
        for (a, b) in p.iter().zip([0.5, -2.0, 3.0, 7.0]) {
            assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "{p:?}");
        }
    }

    #[test]
    fn zeiss_block_parses_like_tifffile() {
        let t = parse_cz_sem(
            "0\n0\n1.5e-08\nAP_MAG\nMag = 10.03 K X\nAP_WD\nWD = 5.2 mm\nDP_X\nFlag = Yes\n",
        );
        assert_eq!(t[""], serde_json::json!([0, 0, 1.5e-08]));
        assert_eq!(t["ap_mag"], serde_json::json!(["Mag", "10.03 K X"]));
        assert_eq!(t["ap_wd"], serde_json::json!(["WD", 5.2, "mm"]));
        assert_eq!(t["dp_x"], serde_json::json!(["Flag", true]));
    }
}
