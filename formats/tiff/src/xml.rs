//! Vendor XML blocks (JEOL SightX `TemReporter` descriptions) as metadata trees, read by
//! emio's XML reader (`emio_core::xml`): elements with children become maps (repeated
//! names become lists), leaf elements their text, attributes `@name` keys, text beside
//! children `#text`. Malformed input gives `None`.

use emio_core::xml::Element;
use serde_json::{Map, Value};

/// Parse an XML document into `{root_name: tree}`.
pub fn parse(text: &str) -> Option<Map<String, Value>> {
    let root = emio_core::xml::parse(text, crate::ifd::FORMAT).ok()?;
    let mut out = Map::new();
    out.insert(root.name.to_string(), tree(&root));
    Some(out)
}

/// The element as a tree: its text alone when it has neither attributes nor children.
fn tree(e: &Element) -> Value {
    let mut map = Map::new();
    for (key, value) in &e.attributes {
        map.insert(format!("@{key}"), Value::String(value.clone()));
    }
    for child in &e.children {
        let value = tree(child);
        match map.get_mut(child.name) {
            Some(Value::Array(list)) => list.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                map.insert(child.name.to_string(), value);
            }
        }
    }
    let text = e.text.trim();
    if map.is_empty() {
        return Value::String(text.to_string());
    }
    if !text.is_empty() {
        map.insert("#text".into(), Value::String(text.to_string()));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_elements_attributes_and_lists() {
        let t = parse("<?xml version=\"1.0\"?><R a=\"1\"><B><C>x &amp; y</C><C>z</C></B><E/></R>")
            .unwrap();
        assert_eq!(
            Value::Object(t),
            serde_json::json!({"R": {"@a": "1", "B": {"C": ["x & y", "z"]}, "E": ""}})
        );
        let t = parse("<R>note<B>1</B></R>").unwrap();
        assert_eq!(
            Value::Object(t),
            serde_json::json!({"R": {"B": "1", "#text": "note"}})
        );
        assert!(parse("<a><b></a>").is_none());
        assert!(parse(&"<a>".repeat(1000)).is_none());
    }
}
