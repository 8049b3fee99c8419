//! Tags from JSON trees: a dataset's original metadata written back as tags (with the
//! unnamed entries the reader named restored), and normalized HyperSpy metadata
//! translated to the DM tags the reader maps back (the inverse of the reader's mapping).

use emio_core::metadata::{get_f64, get_path, get_str};
use emio_core::serde_json::Value;
use emio_core::Tree;

use super::tags::{text, WData, WTag};
use crate::tags::{ElemType, Scalar};

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
/// `Signal.quantity` "Intensity (counts)" → "counts".
pub(super) fn quantity_units(q: &str) -> &str {
    match (q.find('('), q.rfind(')')) {
        (Some(a), Some(b)) if a < b => &q[a + 1..b],
        _ => "",
    }
}

/// DM image tags translated from normalized metadata (the inverse of the reader's mapping).
pub(super) fn tags_from_metadata(md: &Tree, format: Option<&str>) -> Vec<(String, WTag)> {
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
