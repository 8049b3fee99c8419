//! JEOL SightX dialect (`Make` is `JEOL Ltd.`): the XML report in the description
//! parsed; calibration (image or diffraction), title and TEM parameters from it.

use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use serde_json::Value;

use super::{get_in, num_of, resolution_scales, Cal, Context};
use crate::tags;

/// Whether the page was written by a JEOL instrument.
pub(super) fn detect(c: &Context<'_, '_>) -> bool {
    c.str(tags::MAKE) == Some("JEOL Ltd.")
}

/// Map the report in the description and keep it, parsed, in its place.
pub(super) fn apply(c: &mut Context<'_, '_>) {
    if let Some(report) = c.desc.as_deref().and_then(parse_jeol) {
        jeol(&report, &c.op, &mut c.cal, &mut c.md);
        c.op.insert(tags::name(tags::IMAGE_DESCRIPTION), Value::Object(report));
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
