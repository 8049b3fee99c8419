//! The `.emi` side of a TIA acquisition: its `<ObjectInfo>` XML blocks (one per `.ser`
//! file, in order) found in the binary file, parsed by a small bounded XML reader and turned
//! into the tree RosettaSciIO builds (`emixml2dtb`): text elements as strings,
//! `ExperimentalDescription` rows as `Label[_Unit]: value` (a float when it has a unit),
//! `TrueImageHeaderInfo` (escaped XML) as `Index: value` floats.

use emio_core::metadata::{json_f64, Tree};
use serde_json::{Map, Value};

/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 64;

/// One XML element: name, the text before its first child, children in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// Text before the first child (entities decoded).
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

fn unescape(t: &str) -> String {
    t.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Parse one XML element (with a leading prolog, comments or whitespace allowed); `None`
/// when the text is not well-formed or nests deeper than [`MAX_DEPTH`].
pub fn parse_xml(text: &str) -> Option<Element> {
    let mut pos = 0;
    skip_misc(text, &mut pos)?;
    element(text, &mut pos, 0)
}

fn skip_misc(s: &str, pos: &mut usize) -> Option<()> {
    loop {
        let rest = &s[*pos..];
        let trimmed = rest.trim_start();
        *pos += rest.len() - trimmed.len();
        let end = if trimmed.starts_with("<?") {
            trimmed.find("?>")? + 2
        } else if trimmed.starts_with("<!--") {
            trimmed.find("-->")? + 3
        } else if trimmed.starts_with("<!") {
            trimmed.find('>')? + 1
        } else {
            return Some(());
        };
        *pos += end;
    }
}

fn element(s: &str, pos: &mut usize, depth: usize) -> Option<Element> {
    if depth > MAX_DEPTH || !s[*pos..].starts_with('<') {
        return None;
    }
    let head_end = s[*pos..].find('>')?;
    let head = &s[*pos + 1..*pos + head_end];
    *pos += head_end + 1;
    let self_closing = head.ends_with('/');
    let name = head
        .trim_end_matches('/')
        .split(char::is_whitespace)
        .next()
        .filter(|n| !n.is_empty())?
        .to_string();
    let mut el = Element {
        name,
        ..Element::default()
    };
    if self_closing {
        return Some(el);
    }
    let close = format!("</{}", el.name);
    loop {
        let rest = &s[*pos..];
        let lt = rest.find('<')?;
        if el.children.is_empty() {
            el.text.push_str(&unescape(&rest[..lt]));
        }
        *pos += lt;
        let rest = &s[*pos..];
        if rest.starts_with(&close) {
            *pos += rest.find('>')? + 1;
            return Some(el);
        } else if rest.starts_with("</") {
            return None;
        } else if rest.starts_with("<!--") || rest.starts_with("<?") {
            skip_misc(s, pos)?;
        } else {
            el.children.push(element(s, pos, depth + 1)?);
        }
    }
}

/// The `<ObjectInfo>…</ObjectInfo>` blocks of an `.emi` file, in file order.
pub fn object_blocks(bytes: &[u8]) -> Vec<String> {
    const OPEN: &[u8] = b"<ObjectInfo>";
    const CLOSE: &[u8] = b"</ObjectInfo>";
    let find = |from: usize, pat: &[u8]| {
        bytes
            .get(from..)
            .and_then(|tail| tail.windows(pat.len()).position(|w| w == pat))
            .map(|i| i + from)
    };
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(start) = find(from, OPEN) {
        let Some(end) = find(start, CLOSE) else { break };
        let end = end + CLOSE.len();
        blocks.push(String::from_utf8_lossy(&bytes[start..end]).into_owned());
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
    if let Some(root) = parse_xml(&el.text) {
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
    let value = match el.name.as_str() {
        "ExperimentalDescription" => experimental_description(el),
        "TrueImageHeaderInfo" => true_image_header(el),
        _ if !el.text.is_empty() => Value::String(el.text.clone()),
        _ => {
            let mut node = match tree.remove(&el.name) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            for child in &el.children {
                to_tree(child, &mut node);
            }
            Value::Object(node)
        }
    };
    tree.insert(el.name.clone(), value);
}

/// An `<ObjectInfo>` block as a tree (`{"ObjectInfo": {...}}`); `None` when it is not
/// well-formed XML.
pub fn object_tree(block: &str) -> Option<Tree> {
    let el = parse_xml(block)?;
    let mut tree = Tree::new();
    to_tree(&el, &mut tree);
    Some(tree)
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
        assert!(parse_xml("<a><b></a>").is_none());
        assert!(parse_xml("<a>").is_none());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse_xml(&deep).is_none());
    }
}
