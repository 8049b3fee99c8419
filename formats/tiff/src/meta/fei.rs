//! FEI/Thermo Fisher SEM dialect (tags 34680 `FEI_SFEG`, 34682 `FEI_HELIOS`): the INI
//! block parsed, pixel size calibrated and the SEM parameters mapped.

use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use serde_json::{Map, Value};

use super::{astype, get_in, parse_date, parse_time, Context};
use crate::tags;

/// Whether the page carries an FEI metadata block.
pub(super) fn detect(c: &Context<'_, '_>) -> bool {
    c.has(tags::FEI_HELIOS) || c.has(tags::FEI_SFEG)
}

/// Calibrate from the block's pixel size (or field width over resolution) and map it.
pub(super) fn apply(c: &mut Context<'_, '_>) {
    let text = c
        .str(tags::FEI_HELIOS)
        .or_else(|| c.str(tags::FEI_SFEG))
        .unwrap_or("")
        .to_string();
    let fei = parse_fei(&text);
    c.op.remove(&tags::name(tags::FEI_HELIOS));
    c.op.remove(&tags::name(tags::FEI_SFEG));
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
        c.cal.set_plane(x, y, "m");
    }
    map_fei(&fei, &mut c.md);
    c.op.insert("fei_metadata".into(), Value::Object(fei));
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
