//! The `.emi` side of a TIA acquisition: its `<ObjectInfo>` XML blocks (one per `.ser`
//! file, in order) found in the binary file, parsed by core's XML reader and turned into
//! the tree RosettaSciIO builds (`emixml2dtb`): text elements as strings,
//! `ExperimentalDescription` rows as `Label[_Unit]: value` (a float when it has a unit),
//! `TrueImageHeaderInfo` (escaped XML) as `Index: value` floats.

use std::sync::LazyLock;

use emio_core::metadata::{json_f64, Tree};
use emio_core::xml::{parse, Element};
use emio_core::Result;
use memchr::memmem::Finder;
use serde_json::{Map, Value};

use crate::FORMAT;

/// The `<ObjectInfo>…</ObjectInfo>` blocks of an `.emi` file, in file order.
pub fn object_blocks(bytes: &[u8]) -> Vec<String> {
    // `memchr`'s substring finders skip through the binary parts of an .emi many bytes
    // per step (a byte-by-byte scan was a seventh of the fuzzed `.ser` reader's time); they
    // are built once.
    static OPEN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"<ObjectInfo>"));
    static CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"</ObjectInfo>"));
    let (open, close) = (&*OPEN, &*CLOSE);
    let find = |from: usize, f: &Finder<'_>| f.find(bytes.get(from..)?).map(|at| from + at);
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(start) = find(from, open) {
        let Some(end) = find(start, close) else {
            break;
        };
        let end = end + close.needle().len();
        // Valid UTF-8 (as TIA writes) is checked by the standard library's fast validator;
        // anything else is decoded with replacement characters.
        let block = &bytes[start..end];
        blocks.push(match std::str::from_utf8(block) {
            Ok(text) => text.to_string(),
            Err(_) => String::from_utf8_lossy(block).into_owned(),
        });
        from = end;
    }
    blocks
}

/// Python's `float()` for the values TIA writes.
pub fn py_float(text: &str) -> Option<f64> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.parse::<f64>().ok()).flatten()
}

fn experimental_description(el: &Element) -> Value {
    let mut node = Map::new();
    let rows = el
        .child("Root")
        .map(|r| r.children.as_slice())
        .unwrap_or(&[]);
    for data in rows.iter().filter(|d| d.name == "Data") {
        let text = |name: &str| data.child(name).map(|c| c.text.as_str()).unwrap_or("");
        let (label, value, unit) = (text("Label"), text("Value"), text("Unit"));
        let (key, value) = if unit.is_empty() {
            (label.to_string(), Value::String(value.to_string()))
        } else {
            let typed = py_float(value).map(json_f64);
            (
                format!("{label}_{unit}"),
                typed.unwrap_or_else(|| Value::String(value.to_string())),
            )
        };
        node.insert(key, value);
    }
    Value::Object(node)
}

fn true_image_header(el: &Element) -> Value {
    let mut node = Map::new();
    if let Ok(root) = parse(&el.text, FORMAT) {
        for data in root.children.iter().filter(|d| d.name == "Data") {
            let index = data.child("Index").map(|c| c.text.clone());
            let value = data.child("Value").and_then(|c| py_float(&c.text));
            if let (Some(index), Some(value)) = (index, value) {
                node.insert(index, json_f64(value));
            }
        }
    }
    Value::Object(node)
}

/// Add `el` to `tree` as rsciio's `emixml2dtb` does.
pub fn to_tree(el: &Element, tree: &mut Tree) {
    let value = match el.name {
        "ExperimentalDescription" => experimental_description(el),
        "TrueImageHeaderInfo" => true_image_header(el),
        _ if !el.text.is_empty() => Value::String(el.text.clone()),
        _ => {
            let mut node = match tree.remove(el.name) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            for child in &el.children {
                to_tree(child, &mut node);
            }
            Value::Object(node)
        }
    };
    tree.insert(el.name.to_string(), value);
}

/// An `<ObjectInfo>` block as a tree (`{"ObjectInfo": {...}}`); an error (with the
/// offset in the block) when it is not well-formed XML.
pub fn object_tree(block: &str) -> Result<Tree> {
    let el = parse(block, FORMAT)?;
    let mut tree = Tree::new();
    to_tree(&el, &mut tree);
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_rsciio_tree() {
        let xml = "<ObjectInfo><Uuid>u-1</Uuid><Empty/><A><B>x &amp; y</B><C></C></A>\
            <ExperimentalDescription><Root><Data><Label>High tension</Label><Value>200\
            </Value><Unit>kV</Unit></Data><Data><Label>Mode</Label><Value> STEM</Value>\
            <Unit></Unit></Data></Root></ExperimentalDescription><TrueImageHeaderInfo>\
            &lt;Root&gt;&lt;Data&gt;&lt;Index&gt;5&lt;/Index&gt;&lt;Value&gt;1.5&lt;/Value\
            &gt;&lt;/Data&gt;&lt;/Root&gt;</TrueImageHeaderInfo></ObjectInfo>";
        let t = Value::Object(object_tree(xml).unwrap());
        let o = &t["ObjectInfo"];
        assert_eq!(o["Uuid"], "u-1");
        assert_eq!(o["A"]["B"], "x & y");
        assert_eq!(o["A"]["C"], Value::Object(Map::new()));
        assert_eq!(o["ExperimentalDescription"]["High tension_kV"], 200.0);
        assert_eq!(o["ExperimentalDescription"]["Mode"], " STEM");
        assert_eq!(o["TrueImageHeaderInfo"]["5"], 1.5);
    }

    #[test]
    fn finds_blocks_and_rejects_broken_xml() {
        let bytes = b"JK\0\x02..<ObjectInfo><a>1</a></ObjectInfo>..<ObjectInfo><b/></ObjectInfo>";
        assert_eq!(object_blocks(bytes).len(), 2);
        // `<` that do not open a block, and an unclosed block at the end, are skipped.
        let bytes = b"<<ObjectInf<ObjectInfo><c/></ObjectInfo><<ObjectInfo><d/>";
        assert_eq!(object_blocks(bytes), ["<ObjectInfo><c/></ObjectInfo>"]);
        assert!(object_tree("<ObjectInfo><b></ObjectInfo>").is_err());
    }
}
