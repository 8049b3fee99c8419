//! Zeiss SEM dialect (tag 34118 `CZ_SEM`): the block parsed as tifffile does, the pixel
//! size calibrated and the SEM parameters mapped (values converted to HyperSpy's units).

use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use emio_core::units;
use serde_json::Value;

use super::{astype, parse_date, parse_time, Context};
use crate::tags;

/// Whether the page carries a Zeiss SEM block.
pub(super) fn detect(c: &Context<'_, '_>) -> bool {
    c.has(tags::CZ_SEM)
}

/// Calibrate from the block's pixel size (given for a 1024-pixel-wide image) and map it.
pub(super) fn apply(c: &mut Context<'_, '_>) {
    let text = c.str(tags::CZ_SEM).unwrap_or("").to_string();
    let cz = parse_cz_sem(&text);
    let width = c.series.first().width as f64;
    if let Some(s) = cz
        .get("")
        .and_then(|v| v.as_array())
        .and_then(|a| a.get(3))
        .and_then(value_f64)
    {
        let s = s * 1024.0 / width;
        c.cal.set_plane(s, s, "m");
    }
    map_zeiss(&cz, &mut c.md);
    c.op.insert(tags::name(tags::CZ_SEM), Value::Object(cz));
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

/// Convert a Zeiss value with units to `target` units (lengths, times, currents).
fn zeiss_convert(entry: &[Value], target: &str) -> Option<Value> {
    let v = value_f64(entry.get(1)?)?;
    let unit = entry.get(2).and_then(Value::as_str).unwrap_or("");
    let quantity = units::quantity(target)?;
    let x = v * units::size(unit, quantity)? / units::size(target, quantity)?;
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
