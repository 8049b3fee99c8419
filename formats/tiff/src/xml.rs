//! A small XML-to-tree reader for vendor blocks (JEOL SightX `TemReporter` descriptions):
//! elements with children become maps (repeated names become lists), leaf elements their
//! text, attributes `@name` keys. Bounded nesting; malformed input gives `None`.

use serde_json::{Map, Value};

/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

fn unescape(t: &str) -> String {
    t.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    /// Skip whitespace, the prolog, comments, doctype and processing instructions.
    fn skip_misc(&mut self) -> Option<()> {
        loop {
            let r = self.rest();
            let trimmed = r.trim_start();
            self.pos += r.len() - trimmed.len();
            if trimmed.starts_with("<?") {
                self.pos += trimmed.find("?>")? + 2;
            } else if trimmed.starts_with("<!--") {
                self.pos += trimmed.find("-->")? + 3;
            } else if trimmed.starts_with("<!") {
                self.pos += trimmed.find('>')? + 1;
            } else {
                return Some(());
            }
        }
    }

    /// One element starting at `<`: its name and value.
    fn element(&mut self, depth: usize) -> Option<(String, Value)> {
        if depth > MAX_DEPTH || !self.rest().starts_with('<') {
            return None;
        }
        let head_end = self.rest().find('>')?;
        let head = &self.rest()[1..head_end];
        self.pos += head_end + 1;
        let self_closing = head.ends_with('/');
        let head = head.trim_end_matches('/');
        let mut parts = head.splitn(2, char::is_whitespace);
        let name = parts.next()?.to_string();
        let mut map = Map::new();
        if let Some(attrs) = parts.next() {
            let mut a = attrs.trim();
            while let Some(eq) = a.find('=') {
                let key = a[..eq].trim();
                let after = a[eq + 1..].trim_start();
                let quote = after.chars().next()?;
                if quote != '"' && quote != '\'' {
                    return None;
                }
                let end = after[1..].find(quote)?;
                map.insert(
                    format!("@{key}"),
                    Value::String(unescape(&after[1..1 + end])),
                );
                a = after[end + 2..].trim_start();
            }
        }
        if self_closing {
            return Some((name, Value::Object(map)));
        }
        let mut text = String::new();
        loop {
            let r = self.rest();
            let lt = r.find('<')?;
            text.push_str(&r[..lt]);
            self.pos += lt;
            if self.rest().starts_with("</") {
                self.pos += self.rest().find('>')? + 1;
                break;
            }
            if self.rest().starts_with("<!--") || self.rest().starts_with("<?") {
                self.skip_misc()?;
                continue;
            }
            let (child, value) = self.element(depth + 1)?;
            match map.get_mut(&child) {
                Some(Value::Array(list)) => list.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None => {
                    map.insert(child, value);
                }
            }
        }
        let text = unescape(text.trim());
        Some((
            name,
            if map.is_empty() {
                Value::String(text)
            } else {
                if !text.is_empty() {
                    map.insert("#text".into(), Value::String(text));
                }
                Value::Object(map)
            },
        ))
    }
}

/// Parse an XML document into `{root_name: tree}`.
pub fn parse(text: &str) -> Option<Map<String, Value>> {
    let mut p = Parser { s: text, pos: 0 };
    p.skip_misc()?;
    let (name, value) = p.element(0)?;
    let mut out = Map::new();
    out.insert(name, value);
    Some(out)
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
            serde_json::json!({"R": {"@a": "1", "B": {"C": ["x & y", "z"]}, "E": {}}})
        );
        assert!(parse("<a><b></a>").is_none());
        assert!(parse(&"<a>".repeat(1000)).is_none());
    }
}
