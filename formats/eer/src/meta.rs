//! EER acquisition metadata: the XML of tag 65001 (`<metadata><item name="exposureTime"
//! unit="s">...</item>...`) as an ordered tree (as tifffile's `eer_metadata` gives it:
//! numbers parsed, `Yes`/`No` as booleans, units as `<name>.unit`), and its mapping to
//! HyperSpy's tree.

use emio_core::metadata::{json_f64, set_path, Tree};
use serde_json::Value;

/// Most items read from the XML.
const MAX_ITEMS: usize = 10_000;

fn unescape(t: &str) -> String {
    t.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in an element's attribute text.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    let at = attrs.find(&key)? + key.len();
    let rest = &attrs[at..];
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let end = rest[1..].find(quote)?;
    Some(unescape(&rest[1..1 + end]))
}

fn typed(text: &str) -> Value {
    match text {
        "Yes" => Value::Bool(true),
        "No" => Value::Bool(false),
        t => t
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| t.parse::<f64>().map(json_f64))
            .unwrap_or_else(|_| Value::from(t)),
    }
}

/// The items of the metadata XML, in order.
pub fn parse_items(xml: &str) -> Tree {
    let mut tree = Tree::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<item") {
        if tree.len() >= MAX_ITEMS {
            break;
        }
        rest = &rest[start + 5..];
        let Some(close) = rest.find('>') else { break };
        let attrs = &rest[..close];
        let self_closing = attrs.ends_with('/');
        rest = &rest[close + 1..];
        let text = if self_closing {
            None
        } else {
            let end = rest.find("</item>").unwrap_or(rest.len());
            let t = unescape(rest[..end].trim());
            rest = &rest[end..];
            Some(t)
        };
        let Some(name) = attribute(attrs, "name") else {
            continue;
        };
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            tree.insert(name.clone(), typed(&t));
        }
        if let Some(unit) = attribute(attrs, "unit") {
            tree.insert(format!("{name}.unit"), Value::from(unit));
        }
    }
    tree
}

/// A number of the items.
pub fn number(items: &Tree, key: &str) -> Option<f64> {
    items.get(key).and_then(Value::as_f64)
}

/// HyperSpy's tree for an EER movie: title, signal, and the camera's acquisition values.
pub fn hyperspy(items: &Tree, file_name: &str, group: u64) -> Tree {
    let mut meta = Tree::new();
    let title = file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem);
    set_path(&mut meta, "General.title", title);
    set_path(&mut meta, "General.original_filename", file_name);
    if let Some(Value::String(t)) = items.get("timestamp") {
        if let Some((date, time)) = t.split_once('T') {
            set_path(&mut meta, "General.date", date);
            set_path(&mut meta, "General.time", time.get(..8).unwrap_or(time));
        }
    }
    set_path(&mut meta, "Signal.signal_type", "");
    set_path(&mut meta, "Signal.quantity", "Electrons (Counts)");
    let cam = "Acquisition_instrument.TEM.Detector.Camera";
    for (key, path) in [
        ("commercialName", "name"),
        ("cameraName", "model"),
        ("serialNumber", "serial_number"),
    ] {
        if let Some(Value::String(s)) = items.get(key) {
            set_path(&mut meta, &format!("{cam}.{path}"), s.as_str());
        }
    }
    for (key, path) in [
        ("exposureTime", "exposure_time"),
        ("meanDoseRate", "dose_rate"),
        ("totalDose", "total_dose"),
    ] {
        if let Some(v) = number(items, key) {
            set_path(&mut meta, &format!("{cam}.{path}"), json_f64(v));
        }
    }
    if let Some(n) = number(items, "numberOfFrames") {
        set_path(&mut meta, &format!("{cam}.raw_frames"), json_f64(n));
    }
    set_path(&mut meta, &format!("{cam}.frames_per_output_frame"), group);
    meta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_units_and_types() {
        let xml = r#"<metadata><item name="exposureTime" unit="s">2.5</item>
            <item name="numberOfFrames">40</item><item name="x">Yes</item>
            <item name="cameraName">BM-Falcon &amp; co</item><item name="empty"/></metadata>"#;
        let t = parse_items(xml);
        assert_eq!(t["exposureTime"], 2.5);
        assert_eq!(t["exposureTime.unit"], "s");
        assert_eq!(t["numberOfFrames"], 40);
        assert_eq!(t["x"], true);
        assert_eq!(t["cameraName"], "BM-Falcon & co");
        assert!(!t.contains_key("empty"));
        let m = hyperspy(&t, "movie.eer", 4);
        assert_eq!(m["General"]["title"], "movie");
    }
}
