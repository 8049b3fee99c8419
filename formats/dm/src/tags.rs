//! The DigitalMicrograph tag file structure: header, tag groups and typed tag data.
//!
//! Pure functions over bytes. Every count and size read from the file is checked against
//! the bytes that remain before anything is allocated or skipped, so corrupt input yields
//! [`Error::Malformed`] with the offending offset, never a panic or a huge allocation.
//!
//! Layout (all structure fields big-endian; tag data in the byte order of the header):
//! - header: version `u32` (3 or 4), root length (`u32` in DM3, `u64` in DM4), byte order
//!   `u32` (1 = little-endian data);
//! - group: `is_sorted u8`, `is_open u8`, tag count (`u32`/`u64`), then the tags;
//! - tag: kind `u8` (20 = group, 21 = data), name length `u16`, name bytes; DM4 adds the
//!   tag's byte size (`u64`); a data tag continues with `"%%%%"`, the length of its type
//!   description and the description (words of `u32`/`u64`), then the data.

use emio_core::{Error, Result};

const FORMAT: &str = "dm";

/// Deepest group nesting accepted (real files use fewer than 20 levels).
const MAX_DEPTH: usize = 256;

/// Type codes of simple (scalar) tag data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    /// 2: signed 16-bit integer.
    I16,
    /// 3: signed 32-bit integer.
    I32,
    /// 4: unsigned 16-bit integer (UTF-16 code unit in strings).
    U16,
    /// 5: unsigned 32-bit integer.
    U32,
    /// 6: 32-bit float.
    F32,
    /// 7: 64-bit float.
    F64,
    /// 8: boolean byte.
    Bool,
    /// 9: one-byte character.
    Char,
    /// 10: signed byte.
    Octet,
    /// 11: signed 64-bit integer (DM4).
    I64,
    /// 12: unsigned 64-bit integer (DM4).
    U64,
}

impl ElemType {
    /// The type for a DM type code, if it is a simple type.
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            2 => ElemType::I16,
            3 => ElemType::I32,
            4 => ElemType::U16,
            5 => ElemType::U32,
            6 => ElemType::F32,
            7 => ElemType::F64,
            8 => ElemType::Bool,
            9 => ElemType::Char,
            10 => ElemType::Octet,
            11 => ElemType::I64,
            12 => ElemType::U64,
            _ => return None,
        })
    }

    /// The DM type code.
    pub fn code(self) -> u64 {
        match self {
            ElemType::I16 => 2,
            ElemType::I32 => 3,
            ElemType::U16 => 4,
            ElemType::U32 => 5,
            ElemType::F32 => 6,
            ElemType::F64 => 7,
            ElemType::Bool => 8,
            ElemType::Char => 9,
            ElemType::Octet => 10,
            ElemType::I64 => 11,
            ElemType::U64 => 12,
        }
    }

    /// Size in bytes.
    pub fn size(self) -> u64 {
        match self {
            ElemType::Bool | ElemType::Char | ElemType::Octet => 1,
            ElemType::I16 | ElemType::U16 => 2,
            ElemType::I32 | ElemType::U32 | ElemType::F32 => 4,
            ElemType::F64 | ElemType::I64 | ElemType::U64 => 8,
        }
    }
}

/// One decoded scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// Any signed integer type, bool and octet.
    Int(i64),
    /// Unsigned 64-bit values that may not fit `i64`.
    UInt(u64),
    /// Floats.
    Float(f64),
    /// A one-byte character.
    Char(u8),
}

/// The element of an array tag.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayElem {
    /// Simple values.
    Simple(ElemType),
    /// Structs of simple fields.
    Struct(Vec<ElemType>),
    /// Fixed-length byte strings.
    Str(u64),
    /// Fixed-length arrays of simple values.
    Array(ElemType, u64),
}

impl ArrayElem {
    /// Size of one element in bytes (`None` on overflow).
    pub fn size(&self) -> Option<u64> {
        match self {
            ArrayElem::Simple(t) => Some(t.size()),
            ArrayElem::Struct(fields) => Some(fields.iter().map(|t| t.size()).sum()),
            ArrayElem::Str(len) => Some(*len),
            ArrayElem::Array(t, len) => t.size().checked_mul(*len),
        }
    }
}

/// An array located in the file (its values are decoded on demand).
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayRef {
    /// Element description.
    pub elem: ArrayElem,
    /// Number of elements.
    pub count: u64,
    /// Byte offset of the first element.
    pub offset: u64,
    /// Total size in bytes.
    pub nbytes: u64,
}

/// The data of a data tag.
#[derive(Debug, Clone, PartialEq)]
pub enum TagData {
    /// A simple value.
    Scalar(ElemType, Scalar),
    /// A byte string (type 18).
    Str(String),
    /// A struct of simple values.
    Struct(Vec<(ElemType, Scalar)>),
    /// An array, decoded lazily.
    Array(ArrayRef),
}

/// A tag: a group or data.
#[derive(Debug, Clone, PartialEq)]
pub enum Tag {
    /// A nested group.
    Group(TagGroup),
    /// A data tag.
    Data(TagData),
}

/// An ordered group of (possibly unnamed, possibly repeated) tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagGroup {
    /// Tags in file order with their raw names (empty for unnamed entries).
    pub entries: Vec<(String, Tag)>,
}

/// A parsed tag file.
#[derive(Debug, Clone)]
pub struct TagFile {
    /// 3 or 4.
    pub version: u32,
    /// Whether tag data (and pixels) are little-endian.
    pub little_endian: bool,
    /// The root group.
    pub root: TagGroup,
    /// How the file is laid out around and inside the tag tree, for validation.
    pub layout: Layout,
}

/// Structure facts the reader does not need but a validation reports: what the header
/// declares against what the tag tree occupies, and fields DigitalMicrograph writes one
/// way that were found otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// The header's root length field.
    pub root_length: u64,
    /// Offset of the root group's first byte.
    pub root_start: u64,
    /// Offset just past the root group's last tag.
    pub root_end: u64,
    /// Irregular fields, in file order.
    pub irregular: Vec<Irregularity>,
}

/// A field of the tag tree that holds a value DigitalMicrograph does not write.
#[derive(Debug, Clone, PartialEq)]
pub struct Irregularity {
    /// Offset of the field.
    pub offset: u64,
    /// The field (`DM4 size of tag "Data"`, `is_sorted flag of a group`, ...).
    pub field: String,
    /// The value found.
    pub value: u64,
    /// What was expected instead.
    pub expected: String,
}

/// Whether `head` starts like a DM3/DM4 file: version 3 or 4, then (after the file size)
/// a byte-order word of 0 or 1 and the root group's two flag bytes of 0 or 1. A head too
/// short to hold all of them is not DM.
pub fn sniff(head: &[u8]) -> bool {
    let word = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let order_at = match word(0) {
        Some(3) => 8,
        Some(4) => 12,
        _ => return false,
    };
    let flags = head.get(order_at + 4..order_at + 6);
    matches!(word(order_at), Some(0 | 1)) && flags.is_some_and(|f| f[0] <= 1 && f[1] <= 1)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    dm4: bool,
    little: bool,
    irregular: Vec<Irregularity>,
}

impl<'a> Parser<'a> {
    fn err(&self, expected: impl Into<String>) -> Error {
        Error::malformed(FORMAT, self.pos as u64, expected)
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n > remaining {
            return Err(self.err(format!(
                "{what} ({n} bytes; only {remaining} left in the file)"
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn u16_be(&mut self, what: &str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32_be(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes(b.try_into().expect("4 bytes")))
    }

    /// A structure word: `u32` in DM3, `u64` in DM4, big-endian.
    fn word(&mut self, what: &str) -> Result<u64> {
        if self.dm4 {
            let b = self.take(8, what)?;
            Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
        } else {
            Ok(u64::from(self.u32_be(what)?))
        }
    }

    fn scalar(&mut self, t: ElemType) -> Result<Scalar> {
        let b = self.take(t.size(), "tag data")?;
        Ok(decode_scalar(t, b, self.little))
    }

    fn group(&mut self, depth: usize) -> Result<TagGroup> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("tag groups nested at most {MAX_DEPTH} deep")));
        }
        for flag in ["is_sorted", "is_open"] {
            let at = self.pos as u64;
            let value = self.u8("group flag")?;
            if value > 1 {
                self.irregular.push(Irregularity {
                    offset: at,
                    field: format!("{flag} flag of a group"),
                    value: u64::from(value),
                    expected: "0 or 1".into(),
                });
            }
        }
        let ntags = self.word("group tag count")?;
        // Each tag needs at least 3 bytes; the loop below consumes bytes on every step, so
        // the count is bounded by the file and nothing is preallocated from it.
        let remaining = (self.bytes.len() - self.pos) as u64;
        if ntags > remaining / 3 {
            return Err(self.err(format!(
                "at most {} tags in the {remaining} bytes left (group declares {ntags})",
                remaining / 3
            )));
        }
        let mut entries = Vec::new();
        for _ in 0..ntags {
            let at = self.pos;
            let kind = self.u8("tag kind")?;
            let name_len = self.u16_be("tag name length")?;
            let name = decode_text(self.take(u64::from(name_len), "tag name")?);
            let size_at = self.pos as u64;
            let declared = if self.dm4 {
                Some(self.word("tag size")?)
            } else {
                None
            };
            let start = self.pos;
            let tag = match kind {
                20 => Tag::Group(self.group(depth + 1)?),
                21 => Tag::Data(self.data()?),
                other => {
                    return Err(Error::malformed(
                        FORMAT,
                        at as u64,
                        format!("tag kind 20 (group) or 21 (data), found {other}"),
                    ))
                }
            };
            let occupied = (self.pos - start) as u64;
            if let Some(declared) = declared.filter(|&d| d != occupied) {
                self.irregular.push(Irregularity {
                    offset: size_at,
                    field: format!("DM4 size of tag \"{name}\""),
                    value: declared,
                    expected: format!("the {occupied} bytes the tag occupies"),
                });
            }
            entries.push((name, tag));
        }
        Ok(TagGroup { entries })
    }

    fn elem_type(&mut self, what: &str) -> Result<ElemType> {
        let at = self.pos;
        let code = self.word(what)?;
        ElemType::from_code(code).ok_or_else(|| {
            Error::malformed(
                FORMAT,
                at as u64,
                format!("a simple type code (2-12) for {what}, found {code}"),
            )
        })
    }

    fn struct_fields(&mut self) -> Result<Vec<ElemType>> {
        self.word("struct name length")?;
        let at = self.pos;
        let nfields = self.word("struct field count")?;
        let remaining = (self.bytes.len() - self.pos) as u64;
        let word = if self.dm4 { 8 } else { 4 };
        if nfields > remaining / (2 * word) {
            return Err(Error::malformed(
                FORMAT,
                at as u64,
                format!("a struct field count that fits the file, found {nfields}"),
            ));
        }
        (0..nfields)
            .map(|_| {
                self.word("struct field name length")?;
                self.elem_type("struct field type")
            })
            .collect()
    }

    fn array(&mut self, elem: ArrayElem) -> Result<TagData> {
        let at = self.pos;
        let count = self.word("array length")?;
        let nbytes = elem.size().and_then(|s| s.checked_mul(count));
        let offset = self.pos as u64;
        match nbytes {
            Some(n) if n <= (self.bytes.len() - self.pos) as u64 => {
                self.pos += n as usize;
                Ok(TagData::Array(ArrayRef {
                    elem,
                    count,
                    offset,
                    nbytes: n,
                }))
            }
            _ => Err(Error::malformed(
                FORMAT,
                at as u64,
                format!(
                    "an array of {count} elements that fits in the {} bytes left",
                    self.bytes.len() - self.pos
                ),
            )),
        }
    }

    fn data(&mut self) -> Result<TagData> {
        let at = self.pos;
        if self.take(4, "data tag delimiter")? != b"%%%%" {
            return Err(Error::malformed(
                FORMAT,
                at as u64,
                "\"%%%%\" before tag data",
            ));
        }
        let ninfo = self.word("type description length")?;
        let at = self.pos;
        let code = self.word("tag data type")?;
        let mismatch = |what: &str| {
            Error::malformed(
                FORMAT,
                at as u64,
                format!("a type description of {what} (length {ninfo}, type {code})"),
            )
        };
        match (code, ninfo) {
            (15, n) if n > 3 => {
                let fields = self.struct_fields()?;
                let values = fields
                    .iter()
                    .map(|&t| Ok((t, self.scalar(t)?)))
                    .collect::<Result<_>>()?;
                Ok(TagData::Struct(values))
            }
            (18, 2) => {
                let len = self.word("string length")?;
                let b = self.take(len, "string data")?;
                Ok(TagData::Str(decode_text(b)))
            }
            (20, 3) => {
                let t = self.elem_type("array element type")?;
                self.array(ArrayElem::Simple(t))
            }
            (20, n) if n > 3 => {
                let at = self.pos;
                match self.word("array element type")? {
                    15 => {
                        let fields = self.struct_fields()?;
                        self.array(ArrayElem::Struct(fields))
                    }
                    18 => {
                        let len = self.word("string length")?;
                        self.array(ArrayElem::Str(len))
                    }
                    20 => {
                        let t = self.elem_type("array element type")?;
                        let len = self.word("inner array length")?;
                        self.array(ArrayElem::Array(t, len))
                    }
                    other => Err(Error::malformed(
                        FORMAT,
                        at as u64,
                        format!("struct, string or array elements (15, 18, 20), found {other}"),
                    )),
                }
            }
            (c, 1) => {
                let t = ElemType::from_code(c).ok_or_else(|| mismatch("a simple value"))?;
                Ok(TagData::Scalar(t, self.scalar(t)?))
            }
            _ => Err(mismatch("a known layout")),
        }
    }
}

/// Decode one scalar of type `t` from `b` (exactly `t.size()` bytes).
pub fn decode_scalar(t: ElemType, b: &[u8], little: bool) -> Scalar {
    macro_rules! num {
        ($ty:ty) => {{
            let a = b.try_into().expect("sized by caller");
            if little {
                <$ty>::from_le_bytes(a)
            } else {
                <$ty>::from_be_bytes(a)
            }
        }};
    }
    match t {
        ElemType::I16 => Scalar::Int(i64::from(num!(i16))),
        ElemType::I32 => Scalar::Int(i64::from(num!(i32))),
        ElemType::U16 => Scalar::Int(i64::from(num!(u16))),
        ElemType::U32 => Scalar::Int(i64::from(num!(u32))),
        ElemType::F32 => Scalar::Float(f64::from(num!(f32))),
        ElemType::F64 => Scalar::Float(num!(f64)),
        ElemType::Bool => Scalar::Int(i64::from(b[0])),
        ElemType::Char => Scalar::Char(b[0]),
        ElemType::Octet => Scalar::Int(i64::from(b[0] as i8)),
        ElemType::I64 => Scalar::Int(num!(i64)),
        ElemType::U64 => Scalar::UInt(num!(u64)),
    }
}

/// Text of tag names and byte strings: UTF-8, or Latin-1 when not valid UTF-8.
pub fn decode_text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| char::from(c)).collect(),
    }
}

/// Parse the header and the whole tag tree of a DM3/DM4 file held in `bytes`.
pub fn parse(bytes: &[u8]) -> Result<TagFile> {
    let mut p = Parser {
        bytes,
        pos: 0,
        dm4: false,
        little: true,
        irregular: Vec::new(),
    };
    let version = p.u32_be("DM version")?;
    if version != 3 && version != 4 {
        return Err(Error::malformed(
            FORMAT,
            0,
            format!("DM version 3 or 4, found {version}"),
        ));
    }
    p.dm4 = version == 4;
    let root_length = p.word("root length")?;
    let order_at = p.pos;
    let order = p.u32_be("byte order flag")?;
    if order > 1 {
        return Err(Error::malformed(
            FORMAT,
            order_at as u64,
            format!("byte order flag 0 or 1, found {order}"),
        ));
    }
    p.little = order == 1;
    let root_start = p.pos as u64;
    let root = p.group(0)?;
    Ok(TagFile {
        version,
        little_endian: p.little,
        root,
        layout: Layout {
            root_length,
            root_start,
            root_end: p.pos as u64,
            irregular: p.irregular,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(parse(b"").is_err());
        assert!(parse(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        // DM3 header claiming a billion tags in an empty root.
        let mut b = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0];
        b.extend_from_slice(&0x4000_0000u32.to_be_bytes());
        let e = parse(&b).unwrap_err().to_string();
        assert!(e.contains("tags"), "{e}");
    }

    #[test]
    fn sniffs_headers() {
        let mut h = vec![0u8; 32];
        h[3] = 4;
        h[15] = 1;
        h[16] = 1;
        assert!(sniff(&h));
        h[3] = 7;
        assert!(!sniff(&h));
    }

    /// Issue 15, item 1: a 16- or 17-byte head starting `00 00 00 04` indexed past its end.
    #[test]
    fn sniffs_every_short_head_without_panicking() {
        for version in [3u8, 4] {
            let mut full = [0u8; 24];
            full[3] = version;
            for len in 0..full.len() {
                let short = &full[..len];
                let needed = if version == 4 { 18 } else { 14 };
                assert_eq!(
                    sniff(short),
                    len >= needed,
                    "version {version}, {len} bytes"
                );
            }
        }
    }
}
