//! A small, strict XML reader for the metadata documents microscopy formats embed or sit
//! beside (EMPAD `.xml`, TIA `.emi`, ...): elements, attributes, text, CDATA and the five
//! predefined entities plus character references. Comments, processing instructions and
//! the document type declaration are skipped. No DTD processing, no external entities.
//!
//! Parsing is iterative (no recursion), so hostile nesting cannot overflow the stack, and
//! every error names the byte offset and what was expected there.

use crate::error::{Error, Result};

/// One XML element.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    /// Tag name (with any namespace prefix as written).
    pub name: String,
    /// Attributes in document order.
    pub attributes: Vec<(String, String)>,
    /// Text before the first child element (ElementTree's `text`), entities decoded.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 256;

/// What each byte is to the parser, looked up rather than compared: fuzzing instruments
/// every comparison, and names and spaces are scanned a byte at a time.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b' ' | b'\t' | b'\r' | b'\n' => SPACE | ENDS_NAME,
            b'>' | b'/' | b'=' | b'<' | b'"' | b'\'' => ENDS_NAME,
            _ => 0,
        };
        i += 1;
    }
    t
};
/// XML white space (`S`: space, tab, carriage return, line feed).
const SPACE: u8 = 1;
/// A byte that cannot be part of a name here: space or markup.
const ENDS_NAME: u8 = 2;

struct Cursor<'a> {
    text: &'a str,
    at: usize,
    format: &'static str,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn error(&self, expected: impl Into<String>) -> Error {
        Error::malformed(self.format, self.at as u64, expected)
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest
            .bytes()
            .position(|b| CLASS[b as usize] & SPACE == 0)
            .unwrap_or(rest.len());
    }

    /// Skip past the next `end`, failing with `what` if it never comes.
    fn skip_past(&mut self, end: &str, what: &str) -> Result<&'a str> {
        match self.rest().find(end) {
            Some(i) => {
                let skipped = &self.rest()[..i];
                self.at += i + end.len();
                Ok(skipped)
            }
            None => Err(self.error(what)),
        }
    }

    fn name(&mut self) -> Result<&'a str> {
        let rest = self.rest();
        let end = rest
            .bytes()
            .position(|b| CLASS[b as usize] & ENDS_NAME != 0)
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(self.error("a name"));
        }
        self.at += end;
        Ok(&rest[..end])
    }

    /// Step over the byte `b` (`>`, `=`), or fail naming it.
    fn expect(&mut self, b: u8) -> Result<()> {
        if self.rest().as_bytes().first() == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(format!("\"{}\"", char::from(b))))
        }
    }
}

/// Decode entity and character references in `raw`, which starts at byte `at`.
fn unescape(raw: &str, at: usize, format: &'static str) -> Result<String> {
    if !raw.contains('&') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let offset = at + raw.len() - rest.len() + i;
        let bad = || Error::malformed(format, offset as u64, "an entity like &amp; or &#38;");
        let end = rest[i..].find(';').ok_or_else(bad)?;
        let entity = &rest[i + 1..i + end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).ok_or_else(bad)?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parse a whole document and return its root element. `format` names the format in
/// errors.
pub fn parse(text: &str, format: &'static str) -> Result<Element> {
    let mut c = Cursor {
        text: text.strip_prefix('\u{feff}').unwrap_or(text),
        at: 0,
        format,
    };
    // Prolog: declaration, comments, processing instructions, doctype.
    loop {
        c.skip_space();
        let rest = c.rest();
        if rest.starts_with("<?") {
            c.skip_past("?>", "the end of a processing instruction (?>)")?;
        } else if rest.starts_with("<!--") {
            c.skip_past("-->", "the end of a comment (-->)")?;
        } else if rest.starts_with("<!") {
            c.skip_past(">", "the end of the document type declaration")?;
        } else if rest.starts_with('<') {
            break;
        } else {
            return Err(c.error("an XML document starting with '<'"));
        }
    }
    // Open elements; the last one receives text and children.
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    while root.is_none() {
        let rest = c.rest();
        if rest.is_empty() {
            return Err(c.error(format!(
                "the closing tag of <{}>",
                stack.last().map(|e| e.name.as_str()).unwrap_or("")
            )));
        }
        if !rest.starts_with('<') {
            let end = rest.find('<').unwrap_or(rest.len());
            let start = c.at;
            c.at += end;
            if let Some(open) = stack.last_mut() {
                if open.children.is_empty() {
                    open.text.push_str(&unescape(&rest[..end], start, format)?);
                }
            }
            continue;
        }
        // The byte after `<` says which markup this is (one comparison, not a string
        // comparison for each kind: most markup is an element's start or end tag).
        let markup = rest.as_bytes().get(1).copied();
        if markup == Some(b'!') && rest.starts_with("<!--") {
            c.skip_past("-->", "the end of a comment (-->)")?;
        } else if markup == Some(b'!') && rest.starts_with("<![CDATA[") {
            c.at += 9;
            let data = c.skip_past("]]>", "the end of a CDATA section (]]>)")?;
            if let Some(open) = stack.last_mut() {
                if open.children.is_empty() {
                    open.text.push_str(data);
                }
            }
        } else if markup == Some(b'?') {
            c.skip_past("?>", "the end of a processing instruction (?>)")?;
        } else if markup == Some(b'/') {
            c.at += 2;
            let name = c.name()?;
            c.skip_space();
            c.expect(b'>')?;
            let done = stack.pop().ok_or_else(|| c.error("no closing tag here"))?;
            if done.name != name {
                return Err(c.error(format!("</{}>, found </{name}>", done.name)));
            }
            match stack.last_mut() {
                Some(parent) => parent.children.push(done),
                None => root = Some(done),
            }
        } else {
            c.at += 1;
            let mut element = Element {
                name: c.name()?.to_string(),
                ..Element::default()
            };
            let closed = loop {
                c.skip_space();
                if matches!(c.rest().as_bytes(), [b'/', b'>', ..]) {
                    c.at += 2;
                    break true;
                }
                if c.rest().starts_with('>') {
                    c.at += 1;
                    break false;
                }
                let key = c.name()?.to_string();
                c.skip_space();
                c.expect(b'=')?;
                c.skip_space();
                let quote = match c.rest().chars().next() {
                    Some(q @ ('"' | '\'')) => q,
                    _ => return Err(c.error("a quoted attribute value")),
                };
                c.at += 1;
                let start = c.at;
                let raw = c.skip_past(&quote.to_string(), "the end of an attribute value")?;
                element
                    .attributes
                    .push((key, unescape(raw, start, format)?));
            };
            if closed {
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            } else {
                if stack.len() >= MAX_DEPTH {
                    return Err(c.error(format!("elements nested at most {MAX_DEPTH} deep")));
                }
                stack.push(element);
            }
        }
    }
    root.ok_or_else(|| c.error("a root element"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_elements_attributes_text_and_entities() {
        let doc = "\u{feff}<?xml version=\"1.0\"?><!-- c --><root a=\"1 &amp; 2\">\
                   <x>t&lt;<![CDATA[<raw>]]></x><y b='q'/><z>&#65;&#x42;</z></root>";
        let root = parse(doc, "test").unwrap();
        assert_eq!(root.name, "root");
        assert_eq!(root.attribute("a"), Some("1 & 2"));
        assert_eq!(root.child("x").unwrap().text, "t<<raw>");
        assert_eq!(root.child("y").unwrap().attribute("b"), Some("q"));
        assert_eq!(root.child("z").unwrap().text, "AB");
    }

    #[test]
    fn text_is_what_precedes_the_first_child() {
        let root = parse("<a>head<b/>tail</a>", "test").unwrap();
        assert_eq!(root.text, "head");
    }

    #[test]
    fn skips_comments_and_processing_instructions_between_elements() {
        let root = parse("<a><?pi x?><!-- <c/> --><b/><?q?></a>", "test").unwrap();
        let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b"]);
    }

    #[test]
    fn errors_name_the_markup_expected() {
        let e = parse("<a x/>", "test").unwrap_err().to_string();
        assert!(e.contains("expected \"=\""), "{e}");
        let e = parse("<a></a x>", "test").unwrap_err().to_string();
        assert!(e.contains("expected \">\""), "{e}");
    }

    #[test]
    fn rejects_broken_documents_with_offsets() {
        for bad in [
            "",
            "text",
            "<a>",
            "<a></b>",
            "<a x=1/>",
            "<a>&bogus;</a>",
            "<a><!-- x</a>",
        ] {
            let e = parse(bad, "test").unwrap_err().to_string();
            assert!(e.contains("at byte"), "{bad:?}: {e}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep, "test").is_err());
    }
}
