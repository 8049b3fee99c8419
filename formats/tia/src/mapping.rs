//! HyperSpy's tree from a TIA `ObjectInfo`: rsciio's `mapping` (beam energy, microscope,
//! acquisition mode, camera length in mm, magnification, camera name and exposure, stage
//! tilts and position in mm, user) as HyperSpy applies it on load, and the acquisition date
//! and time.

use emio_core::metadata::{json_f64, set_path, Tree};
use serde_json::Value;

/// `AcquireDate` (`Mon Feb 22 18:57:51 2016`, or ISO 8601) as ISO date and time.
pub fn date_time(text: &str) -> Option<(String, String)> {
    let text = text.trim();
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%a %b %e %H:%M:%S %Y")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S"))
        .ok()?;
    Some((
        parsed.format("%Y-%m-%d").to_string(),
        parsed.format("%H:%M:%S").to_string(),
    ))
}

/// A value of the tree by keys, where HyperSpy also matches spaces in keys written as
/// underscores (`High_tension_kV` finds `High tension_kV`).
fn lookup<'a>(tree: &'a Tree, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    let value = tree
        .iter()
        .find(|(k, _)| k.replace(' ', "_") == *first)
        .map(|(_, v)| v)?;
    match (rest.is_empty(), value) {
        (true, v) => Some(v),
        (false, Value::Object(map)) => lookup(map, rest),
        _ => None,
    }
}

/// How a mapped value is converted.
enum Convert {
    Same,
    Scale(f64),
    MicroscopeName,
    SimplifiedMode,
}

const MAPPING: &[(&str, &str, Convert)] = &[
    (
        "ExperimentalDescription.High_tension_kV",
        "Acquisition_instrument.TEM.beam_energy",
        Convert::Same,
    ),
    (
        "ExperimentalDescription.Microscope",
        "Acquisition_instrument.TEM.microscope",
        Convert::MicroscopeName,
    ),
    (
        "ExperimentalDescription.Mode",
        "Acquisition_instrument.TEM.acquisition_mode",
        Convert::SimplifiedMode,
    ),
    (
        "ExperimentalDescription.Camera_length_m",
        "Acquisition_instrument.TEM.camera_length",
        Convert::Scale(1e3),
    ),
    (
        "ExperimentalDescription.Magnification_x",
        "Acquisition_instrument.TEM.magnification",
        Convert::Same,
    ),
    (
        "AcquireInfo.CameraNamePath",
        "Acquisition_instrument.TEM.Detector.Camera.Name",
        Convert::Same,
    ),
    (
        "AcquireInfo.DwellTimePath",
        "Acquisition_instrument.TEM.Detector.Camera.exposure",
        Convert::Same,
    ),
    (
        "ExperimentalDescription.Stage_A_deg",
        "Acquisition_instrument.TEM.Stage.tilt_alpha",
        Convert::Same,
    ),
    (
        "ExperimentalDescription.Stage_B_deg",
        "Acquisition_instrument.TEM.Stage.tilt_beta",
        Convert::Same,
    ),
    (
        "ExperimentalDescription.Stage_X_um",
        "Acquisition_instrument.TEM.Stage.x",
        Convert::Scale(1e-3),
    ),
    (
        "ExperimentalDescription.Stage_Y_um",
        "Acquisition_instrument.TEM.Stage.y",
        Convert::Scale(1e-3),
    ),
    (
        "ExperimentalDescription.Stage_Z_um",
        "Acquisition_instrument.TEM.Stage.z",
        Convert::Scale(1e-3),
    ),
    (
        "ExperimentalDescription.User",
        "General.authors",
        Convert::Same,
    ),
];

/// Add the mapped values of `object_info` (the `ObjectInfo` map) to `metadata`.
pub fn apply(object_info: &Tree, metadata: &mut Tree) {
    for (from, to, convert) in MAPPING {
        let keys: Vec<&str> = from.split('.').collect();
        let Some(value) = lookup(object_info, &keys) else {
            continue;
        };
        let mapped = match (convert, value) {
            (Convert::Same, v) => v.clone(),
            (Convert::Scale(f), Value::Number(n)) => json_f64(n.as_f64().unwrap_or(f64::NAN) * f),
            (Convert::MicroscopeName, Value::String(s)) => s.replace("Microscope ", "").into(),
            (Convert::SimplifiedMode, Value::String(s)) => {
                if s.contains("STEM") { "STEM" } else { "TEM" }.into()
            }
            _ => continue,
        };
        set_path(metadata, to, mapped);
    }
}

/// The units rsciio gives image axes from the acquisition mode: `1/meters` for
/// diffraction (a `Diffraction` mode, or STEM with a camera or a scan of patterns),
/// `meters` otherwise or when the mode is unknown.
pub fn image_units(
    object_info: Option<&Tree>,
    first_dimension: Option<(u32, usize)>,
) -> &'static str {
    let Some(info) = object_info else {
        return "meters";
    };
    let Some(Value::String(mode)) = lookup(info, &["ExperimentalDescription", "Mode"]) else {
        return "meters";
    };
    let Some(Value::Object(acquire)) = lookup(info, &["AcquireInfo"]) else {
        return "meters";
    };
    let is_camera = acquire.contains_key("CameraNamePath");
    let Some((size, units_len)) = first_dimension else {
        return "meters";
    };
    let diffraction_scan = size > 1 && units_len != 0;
    if mode.contains("STEM") {
        if is_camera || diffraction_scan {
            "1/meters"
        } else {
            "meters"
        }
    } else if mode.contains("Diffraction") {
        "1/meters"
    } else {
        "meters"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_like_hyperspy() {
        let info: Tree = serde_json::from_str(
            r#"{"ExperimentalDescription": {"High tension_kV": 200.0, "Microscope":
            "Microscope Talos", "Mode": " STEM nP", "Camera length_m": 0.26, "Stage X_um": 0.15,
            "Magnification_x": 80000.0, "Stage A_deg": -12.5, "Stage B_deg": 3.0,
            "User": "ERIC"}, "AcquireInfo": {"DwellTimePath": "0.05",
            "CameraNamePath": "BM-Ceta"}}"#,
        )
        .unwrap();
        let mut md = Tree::new();
        apply(&info, &mut md);
        let md = Value::Object(md);
        let tem = &md["Acquisition_instrument"]["TEM"];
        assert_eq!(tem["beam_energy"], 200.0);
        assert_eq!(tem["microscope"], "Talos");
        assert_eq!(tem["acquisition_mode"], "STEM");
        assert_eq!(tem["camera_length"], 260.0);
        assert_eq!(tem["Stage"]["x"], 0.15 * 1e-3);
        assert_eq!(tem["Detector"]["Camera"]["exposure"], "0.05");
        assert_eq!(tem["Detector"]["Camera"]["Name"], "BM-Ceta");
        assert_eq!(tem["magnification"], 80000.0);
        assert_eq!(tem["Stage"]["tilt_alpha"], -12.5);
        assert_eq!(tem["Stage"]["tilt_beta"], 3.0);
        assert_eq!(md["General"]["authors"], "ERIC");
        // STEM with a camera: diffraction patterns.
        assert_eq!(image_units(Some(&info), Some((1, 6))), "1/meters");
        let mut info = info;
        if let Some(Value::Object(acquire)) = info.get_mut("AcquireInfo") {
            acquire.remove("CameraNamePath");
        }
        assert_eq!(image_units(Some(&info), Some((5, 6))), "1/meters");
        assert_eq!(image_units(Some(&info), Some((1, 6))), "meters");
        assert_eq!(image_units(None, None), "meters");
    }

    #[test]
    fn parses_tia_dates() {
        assert_eq!(
            date_time("Mon Feb 22 18:57:51 2016"),
            Some(("2016-02-22".into(), "18:57:51".into()))
        );
        assert_eq!(date_time("yesterday"), None);
    }
}
