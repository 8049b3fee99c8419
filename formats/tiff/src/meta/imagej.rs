//! ImageJ dialect (a description starting `ImageJ=`): unit, resolution-tag scales, z
//! spacing and frame interval.

use emio_core::metadata::{value_f64, Tree};
use serde_json::Value;

use super::{astype, resolution_scales, Context};

/// Calibrate from an ImageJ description, when the page has one, and keep it parsed.
pub(super) fn apply(c: &mut Context<'_, '_>) {
    let Some(d) = c.desc.as_deref().filter(|d| d.starts_with("ImageJ=")) else {
        return;
    };
    let ij = parse_imagej(d);
    if let Some(unit) = ij.get("unit").and_then(Value::as_str) {
        let unit = match unit {
            "micron" | "um" => "µm",
            "angstrom" => "Å",
            u => u,
        };
        if unit != "pixel" {
            c.cal.units[0] = Some(unit.to_string());
            c.cal.units[1] = Some(unit.to_string());
        }
        if let Some((sx, sy)) = resolution_scales(&c.op, 1.0) {
            c.cal.scale[0] = Some(sx);
            c.cal.scale[1] = Some(sy);
        }
    }
    if let Some(sp) = ij.get("spacing").and_then(value_f64) {
        c.cal.scale[2] = Some(sp);
    }
    // rsciio gives a time axis the z spacing; the frame interval is what it means.
    c.cal.frame_interval = ij.get("finterval").and_then(value_f64);
    c.op.insert("ImageJ".into(), Value::Object(ij));
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
