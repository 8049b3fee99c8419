//! A small, strict XML reader for the metadata documents microscopy formats embed or sit
//! beside (EMPAD `.xml`, TIA `.emi`, ...): elements, attributes, text, CDATA and the five
//! predefined entities plus character references. Comments, processing instructions and
//! the document type declaration are skipped. No DTD processing, no external entities.
//!
//! Parsing is iterative (no recursion), so hostile nesting cannot overflow the stack, and
//! every error names the byte offset and what was expected there.

use crate::error::{Error, Result};

/// One XML element of a document `'a` (names are borrowed from it, not copied: a
/// document's many small names were as many allocations).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element<'a> {
    /// Tag name (with any namespace prefix as written).
    pub name: &'a str,
    /// Attributes (name, value with entities decoded) in document order.
    pub attributes: Vec<(&'a str, String)>,
    /// Text before the first child element (ElementTree's `text`), entities decoded.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element<'a>>,
}

impl<'a> Element<'a> {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 256;

/// What each byte is to the parser: bit `c` is set when the byte is in class `c`. Bytes are
/// classed by looking this up rather than by comparing: fuzzing instruments every
/// comparison, and names, spaces and text are scanned a byte at a time.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b' ' | b'\t' | b'\r' | b'\n' => 1 << SPACE | 1 << ENDS_NAME,
            b'<' => 1 << ENDS_NAME | 1 << OPENS_MARKUP,
            b'>' | b'/' | b'=' | b'"' | b'\'' => 1 << ENDS_NAME,
            b'&' => 1 << OPENS_ENTITY,
            _ => 0,
        };
        i += 1;
    }
    t
};
/// XML white space (`S`: space, tab, carriage return, line feed).
const SPACE: u8 = 0;
/// A byte that cannot be part of a name here: space or markup.
const ENDS_NAME: u8 = 1;
/// `<`, which ends text.
const OPENS_MARKUP: u8 = 2;
/// `&`, which starts an entity or character reference.
const OPENS_ENTITY: u8 = 3;

/// The length of the prefix of `bytes` whose bytes are all in `class` (`INSIDE`) or all
/// outside it (`!INSIDE`). Eight bytes are classed per step into a bit mask without a
/// comparison, so a scan costs one comparison per eight bytes rather than two per byte
/// (fuzzing instruments every comparison: byte-at-a-time scans were a fifth of the time
/// of the TIA `.emi` target).
fn span<const INSIDE: bool>(bytes: &[u8], class: u8) -> usize {
    let flip = u64::from(INSIDE);
    // Bit i set when byte i ends the span.
    let stops = |chunk: &[u8; 8]| {
        chunk.iter().enumerate().fold(0u64, |bits, (i, &b)| {
            bits | ((u64::from(CLASS[b as usize] >> class) & 1) ^ flip) << i
        })
    };
    let (chunks, tail) = bytes.as_chunks::<8>();
    for (i, chunk) in chunks.iter().enumerate() {
        let bits = stops(chunk);
        if bits != 0 {
            return 8 * i + bits.trailing_zeros() as usize;
        }
    }
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    8 * chunks.len() + (stops(&last) | 1 << tail.len()).trailing_zeros() as usize
}

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
        self.at += span::<true>(self.rest().as_bytes(), SPACE);
    }

    /// Skip past the next `end`, failing with `what` if it never comes.
    fn skip_past(&mut self, end: &str, what: &str) -> Result<&'a str> {
        match memchr::memmem::find(self.rest().as_bytes(), end.as_bytes()) {
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
        let end = span::<false>(rest.as_bytes(), ENDS_NAME);
        if end == 0 {
            return Err(self.error("a name"));
        }
        self.at += end;
        Ok(&rest[..end])
    }

    /// Step over `name` when the name here is exactly it (the closing tag of the open
    /// element, compared whole rather than scanned); false, not moving, otherwise.
    fn skip_name(&mut self, name: &str) -> bool {
        let rest = self.rest().as_bytes();
        let matches = rest.starts_with(name.as_bytes())
            && rest
                .get(name.len())
                .is_none_or(|&b| CLASS[b as usize] >> ENDS_NAME & 1 != 0);
        if matches {
            self.at += name.len();
        }
        matches
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

/// Decode entity and character references in `raw`, which starts at byte `at`, onto the end
/// of `out` (an element's text grows in place, without a string per piece of text).
fn unescape_into(raw: &str, at: usize, format: &'static str, out: &mut String) -> Result<()> {
    let mut from = span::<false>(raw.as_bytes(), OPENS_ENTITY);
    out.push_str(&raw[..from]);
    while from < raw.len() {
        // `from` is at an `&`. The five named entities are matched byte by byte (escaped
        // XML such as TIA's `TrueImageHeaderInfo` is mostly `&lt;` and `&gt;`).
        let tail = &raw.as_bytes()[from + 1..];
        // `len` counts the bytes after the `&`, the `;` included.
        let (c, len) = match tail {
            [b'l', b't', b';', ..] => ('<', 3),
            [b'g', b't', b';', ..] => ('>', 3),
            [b'a', b'm', b'p', b';', ..] => ('&', 4),
            [b'q', b'u', b'o', b't', b';', ..] => ('"', 5),
            [b'a', b'p', b'o', b's', b';', ..] => ('\'', 5),
            _ => {
                let bad = || {
                    Error::malformed(format, (at + from) as u64, "an entity like &amp; or &#38;")
                };
                let end = memchr::memchr(b';', tail).ok_or_else(bad)?;
                let entity = &raw[from + 1..from + 1 + end];
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                (code.and_then(char::from_u32).ok_or_else(bad)?, end + 1)
            }
        };
        out.push(c);
        from += 1 + len;
        let next = span::<false>(&raw.as_bytes()[from..], OPENS_ENTITY);
        out.push_str(&raw[from..from + next]);
        from += next;
    }
    Ok(())
}

/// Parse a whole document and return its root element. `format` names the format in
/// errors.
pub fn parse<'a>(text: &'a str, format: &'static str) -> Result<Element<'a>> {
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
                stack.last().map(|e| e.name).unwrap_or("")
            )));
        }
        if !rest.starts_with('<') {
            let end = span::<false>(rest.as_bytes(), OPENS_MARKUP);
            let start = c.at;
            c.at += end;
            if let Some(open) = stack.last_mut() {
                if open.children.is_empty() {
                    unescape_into(&rest[..end], start, format, &mut open.text)?;
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
            let done = stack.pop().ok_or_else(|| c.error("no closing tag here"))?;
            if !c.skip_name(done.name) {
                let found = c.name()?;
                return Err(c.error(format!("</{}>, found </{found}>", done.name)));
            }
            c.skip_space();
            c.expect(b'>')?;
            match stack.last_mut() {
                Some(parent) => parent.children.push(done),
                None => root = Some(done),
            }
        } else {
            c.at += 1;
            let mut element = Element {
                name: c.name()?,
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
                let key = c.name()?;
                c.skip_space();
                c.expect(b'=')?;
                c.skip_space();
                let quote = match c.rest().as_bytes().first() {
                    Some(&q @ (b'"' | b'\'')) => q,
                    _ => return Err(c.error("a quoted attribute value")),
                };
                c.at += 1;
                let start = c.at;
                let rest = c.rest();
                let Some(len) = memchr::memchr(quote, rest.as_bytes()) else {
                    return Err(c.error("the end of an attribute value"));
                };
                let mut value = String::with_capacity(len);
                unescape_into(&rest[..len], start, format, &mut value)?;
                c.at += len + 1;
                element.attributes.push((key, value));
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
    use proptest::prelude::*;

    /// XML-escape `text` the way a writer would, with a character reference for one
    /// character in seven so both reference kinds are decoded.
    fn escape(text: &str) -> String {
        let mut out = String::new();
        for (i, c) in text.chars().enumerate() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                _ if i % 7 == 3 => out.push_str(&format!("&#x{:x};", c as u32)),
                _ if i % 7 == 5 => out.push_str(&format!("&#{};", c as u32)),
                _ => out.push(c),
            }
        }
        out
    }

    proptest! {
        /// The eight-bytes-a-step scan agrees with a byte-at-a-time one at every length
        /// and position.
        #[test]
        fn span_agrees_with_a_byte_scan(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'\n'), Just(b'<'), Just(b'&'), Just(b'a'), any::<u8>()],
                0..40,
            ),
            class in 0u8..4,
        ) {
            let inside = |b: &u8| CLASS[*b as usize] >> class & 1 == 1;
            let expected_in = bytes.iter().position(|b| !inside(b)).unwrap_or(bytes.len());
            let expected_out = bytes.iter().position(inside).unwrap_or(bytes.len());
            prop_assert_eq!(span::<true>(&bytes, class), expected_in);
            prop_assert_eq!(span::<false>(&bytes, class), expected_out);
        }

        /// Text and attribute values come back exactly as written, whatever they hold.
        #[test]
        fn escaped_text_and_attributes_read_back(
            text in "[ a-z<>&\"'\n\u{e9}\u{1F600}]{0,30}",
            name in "[a-zA-Z_][a-zA-Z0-9_.:-]{0,20}",
        ) {
            let doc = format!(
                "<{name} k=\"{0}\" \t j='{0}' >{0}<b/></{name}\n>",
                escape(&text)
            );
            let root = parse(&doc, "test").unwrap();
            prop_assert_eq!(&root.name, &name);
            prop_assert_eq!(root.attribute("k"), Some(text.as_str()));
            prop_assert_eq!(root.attribute("j"), Some(text.as_str()));
            prop_assert_eq!(&root.text, &text);
        }
    }

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
        let names: Vec<&str> = root.children.iter().map(|c| c.name).collect();
        assert_eq!(names, ["b"]);
    }

    #[test]
    fn errors_name_the_markup_expected() {
        let e = parse("<a x/>", "test").unwrap_err().to_string();
        assert!(e.contains("expected \"=\""), "{e}");
        let e = parse("<a></a x>", "test").unwrap_err().to_string();
        assert!(e.contains("expected \">\""), "{e}");
        // A closing tag that only starts with the open element's name is not its end.
        let e = parse("<ab></abc>", "test").unwrap_err().to_string();
        assert!(e.contains("expected </ab>, found </abc>"), "{e}");
        let e = parse("<a>&lt</a>", "test").unwrap_err().to_string();
        assert!(e.contains("at byte 3"), "{e}");
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
