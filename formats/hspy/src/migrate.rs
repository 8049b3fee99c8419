//! Moves the metadata of older HyperSpy file format versions to today's places, as rsciio's
//! `HierarchicalReader.group2signaldict` does (format < 1.1: `signal`/`name`; < 1.2: the
//! flat `mapped_parameters` layout; < 3.0: stage tilt and exposure).

use emio_core::serde_json::Value;
use emio_core::Tree;

/// A file format version `major.minor`, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl Version {
    /// Parse `"3.1"`, `"1"` (or a float's text, `"1.2000000476837158"`, rounded to 2
    /// decimals as rsciio does).
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        if let Ok(x) = text.parse::<f64>() {
            if text.contains('.') && text.len() > 5 {
                let hundredths = (x * 100.0).round() as u32;
                return Some(Version(hundredths / 100, hundredths % 100 / 10));
            }
        }
        let mut parts = text.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
        Some(Version(major, minor))
    }
}

/// Take `key` out of `tree`.
fn take(tree: &mut Tree, key: &str) -> Option<Value> {
    tree.shift_remove(key)
}

/// The subtree `key` of `tree`, created when missing (a non-object value is replaced).
fn subtree<'a>(tree: &'a mut Tree, key: &str) -> &'a mut Tree {
    let slot = tree
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Tree::new()));
    if !slot.is_object() {
        *slot = Value::Object(Tree::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("made an object just above"),
    }
}

/// Move `from` of `tree` into `to_group.to_key`, when present.
fn relocate(tree: &mut Tree, from: &str, to_group: &str, to_key: &str) {
    if let Some(v) = take(tree, from) {
        subtree(tree, to_group).insert(to_key.to_string(), v);
    }
}

/// Apply every migration for a file of format `version` to a signal's metadata.
pub fn metadata(version: Version, md: &mut Tree) {
    if version < Version(1, 1) {
        relocate(md, "signal", "Signal", "signal_type");
        relocate(md, "name", "General", "title");
    }
    if version < Version(1, 2) {
        to_1_2(md);
    }
    if version < Version(3, 0) {
        to_3_0(md);
    }
}

fn to_1_2(md: &mut Tree) {
    if let Some(Value::Object(mut hs)) = take(md, "_internal_parameters") {
        if let Some(v) = take(&mut hs, "stacking_history") {
            hs.insert("Stacking_history".into(), v);
        }
        if let Some(v) = take(&mut hs, "folding") {
            hs.insert("Folding".into(), v);
        }
        md.insert("_HyperSpy".into(), Value::Object(hs));
    }
    relocate(
        md,
        "Variance_estimation",
        "Noise_properties",
        "Variance_linear_model",
    );
    for instrument in ["TEM", "SEM"] {
        if let Some(Value::Object(mut inst)) = take(md, instrument) {
            if instrument == "TEM" {
                if let Some(Value::Object(mut eels)) = take(&mut inst, "EELS") {
                    for k in [
                        "dwell_time",
                        "dwell_time_units",
                        "exposure",
                        "exposure_units",
                    ] {
                        if let Some(v) = take(&mut inst, k) {
                            eels.insert(k.into(), v);
                        }
                    }
                    inst.insert("Detector".into(), Value::Object(eels));
                }
            }
            if let Some(eds) = take(&mut inst, "EDS") {
                subtree(&mut inst, "Detector").insert("EDS".into(), eds);
            }
            subtree(md, "Acquisition_instrument").insert(instrument.into(), Value::Object(inst));
        }
    }
    if let Some(Value::Object(sample)) = md.get_mut("Sample") {
        if let Some(v) = take(sample, "Xray_lines") {
            sample.insert("xray_lines".into(), v);
        }
    }
    for key in ["title", "date", "time", "original_filename"] {
        relocate(md, key, "General", key);
    }
    for key in ["record_by", "signal_origin", "signal_type"] {
        relocate(md, key, "Signal", key);
    }
}

fn to_3_0(md: &mut Tree) {
    let Some(Value::Object(ai)) = md.get_mut("Acquisition_instrument") else {
        return;
    };
    if let Some(Value::Object(tem)) = ai.get_mut("TEM") {
        if let Some(tilt) = take(tem, "tilt_stage") {
            let mut stage = Tree::new();
            stage.insert("tilt_alpha".into(), tilt);
            tem.insert("Stage".into(), Value::Object(stage));
        }
        // rsciio prefers `exposure_time` (what its DM reader once wrote) over `exposure`.
        let exposure = take(tem, "exposure_time").or_else(|| take(tem, "exposure"));
        if let Some(v) = exposure {
            let mut camera = Tree::new();
            camera.insert("exposure".into(), v);
            subtree(tem, "Detector").insert("Camera".into(), Value::Object(camera));
        }
    }
    if let Some(Value::Object(sem)) = ai.get_mut("SEM") {
        if let Some(tilt) = take(sem, "tilt_stage") {
            let mut stage = Tree::new();
            stage.insert("tilt_alpha".into(), tilt);
            sem.insert("Stage".into(), Value::Object(stage));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::serde_json::json;

    fn tree(v: Value) -> Tree {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("3.1"), Some(Version(3, 1)));
        assert_eq!(Version::parse("2"), Some(Version(2, 0)));
        assert_eq!(Version::parse("1.2000000476837158"), Some(Version(1, 2)));
        assert!(Version(1, 2) < Version(3, 0));
        assert_eq!(Version::parse("x"), None);
    }

    #[test]
    fn flat_1_0_metadata_moves_to_todays_places() {
        let mut md = tree(json!({
            "title": "t", "record_by": "spectrum", "signal_type": "EELS",
            "TEM": {"beam_energy": 120.0, "dwell_time": 100.0,
                    "EELS": {"collection_angle": 3.4}},
        }));
        metadata(Version(1, 0), &mut md);
        assert_eq!(
            Value::Object(md),
            json!({
                "Acquisition_instrument": {"TEM": {"beam_energy": 120.0,
                    "Detector": {"collection_angle": 3.4, "dwell_time": 100.0}}},
                "General": {"title": "t"},
                "Signal": {"record_by": "spectrum", "signal_type": "EELS"},
            })
        );
    }

    #[test]
    fn stage_tilt_and_exposure_move_before_3_0() {
        let mut md = tree(json!({"Acquisition_instrument": {
            "TEM": {"tilt_stage": 10.0, "exposure": 0.2}, "SEM": {"tilt_stage": 5.0}}}));
        metadata(Version(2, 2), &mut md);
        assert_eq!(
            Value::Object(md),
            json!({"Acquisition_instrument": {
                "TEM": {"Stage": {"tilt_alpha": 10.0}, "Detector": {"Camera": {"exposure": 0.2}}},
                "SEM": {"Stage": {"tilt_alpha": 5.0}}}})
        );
    }
}
