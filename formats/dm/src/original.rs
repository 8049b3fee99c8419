//! The tag tree as `original_metadata`: an ordered JSON tree named the way rsciio names it.
//!
//! Unnamed groups become `TagGroup0`, `TagGroup1`, ... and unnamed data tags `Data0`,
//! `Data1`, ... (counted separately, in file order); dots are removed from names (they would
//! clash with dotted metadata paths). Arrays of `u16` are text (DM stores strings as UTF-16
//! code units); other arrays become lists. The pixel array (`ImageData.Data`) and other
//! arrays too large to be useful as JSON are summarised as `{size, endian, size_bytes,
//! offset}` instead of being read.

use emio_core::metadata::json_f64;
use emio_core::serde_json::{json, Map, Value};
use emio_core::Tree;

use crate::tags::{
    decode_scalar, decode_text, ArrayElem, ArrayRef, Scalar, Tag, TagData, TagGroup,
};

/// Arrays with more elements than this (besides the pixel data, which is never read here)
/// are summarised rather than converted to JSON lists.
pub const MAX_JSON_ARRAY: u64 = 1 << 20;

/// A scalar as JSON.
pub fn scalar_json(s: Scalar) -> Value {
    match s {
        Scalar::Int(v) => json!(v),
        Scalar::UInt(v) => json!(v),
        Scalar::Float(v) => json_f64(v),
        Scalar::Char(c) => Value::String(char::from(c).to_string()),
    }
}

/// Converts tag data to JSON, reading array values from the file bytes.
pub struct Converter<'a> {
    /// The whole file.
    pub bytes: &'a [u8],
    /// Byte order of tag data.
    pub little: bool,
}

impl Converter<'_> {
    /// The JSON tree of a group (names as rsciio gives them).
    pub fn group(&self, group: &TagGroup, group_name: &str) -> Tree {
        let mut out = Tree::new();
        let (mut unnamed_data, mut unnamed_groups) = (0, 0);
        for (raw, tag) in &group.entries {
            let mut name = raw.replace('.', "");
            match tag {
                Tag::Group(g) => {
                    if name.is_empty() {
                        name = format!("TagGroup{unnamed_groups}");
                        unnamed_groups += 1;
                    }
                    let sub = self.group(g, &name);
                    out.insert(name, Value::Object(sub));
                }
                Tag::Data(d) => {
                    if name.is_empty() {
                        name = format!("Data{unnamed_data}");
                        unnamed_data += 1;
                    }
                    let skip = group_name == "ImageData" && name == "Data";
                    out.insert(name, self.data(d, skip));
                }
            }
        }
        out
    }

    fn data(&self, data: &TagData, skip: bool) -> Value {
        match data {
            TagData::Scalar(_, s) => scalar_json(*s),
            TagData::Str(s) => Value::String(s.clone()),
            TagData::Struct(fields) => {
                Value::Array(fields.iter().map(|(_, s)| scalar_json(*s)).collect())
            }
            TagData::Array(a) if skip || a.count > MAX_JSON_ARRAY => self.summary(a),
            TagData::Array(a) => self.array(a),
        }
    }

    /// rsciio's record of an array it did not read.
    fn summary(&self, a: &ArrayRef) -> Value {
        let endian = if self.little { "little" } else { "big" };
        let mut m = Map::new();
        m.insert("size".into(), json!(a.count));
        m.insert("endian".into(), json!(endian));
        m.insert("size_bytes".into(), json!(a.nbytes));
        m.insert("offset".into(), json!(a.offset));
        Value::Object(m)
    }

    fn array(&self, a: &ArrayRef) -> Value {
        let bytes = &self.bytes[a.offset as usize..(a.offset + a.nbytes) as usize];
        let little = self.little;
        match &a.elem {
            ArrayElem::Simple(t) if t.code() == 4 && a.count > 0 => {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|c| {
                        if little {
                            u16::from_le_bytes([c[0], c[1]])
                        } else {
                            u16::from_be_bytes([c[0], c[1]])
                        }
                    })
                    .collect();
                Value::String(String::from_utf16_lossy(&units))
            }
            ArrayElem::Simple(t) => Value::Array(
                bytes
                    .chunks_exact(t.size() as usize)
                    .map(|c| scalar_json(decode_scalar(*t, c, little)))
                    .collect(),
            ),
            ArrayElem::Struct(fields) => {
                let size = fields.iter().map(|t| t.size() as usize).sum::<usize>();
                if size == 0 {
                    return Value::Array((0..a.count).map(|_| json!([])).collect());
                }
                Value::Array(
                    bytes
                        .chunks_exact(size)
                        .map(|rec| {
                            let mut at = 0;
                            Value::Array(
                                fields
                                    .iter()
                                    .map(|t| {
                                        let n = t.size() as usize;
                                        let v = decode_scalar(*t, &rec[at..at + n], little);
                                        at += n;
                                        scalar_json(v)
                                    })
                                    .collect(),
                            )
                        })
                        .collect(),
                )
            }
            ArrayElem::Str(len) => {
                if *len == 0 {
                    return Value::Array((0..a.count).map(|_| json!("")).collect());
                }
                Value::Array(
                    bytes
                        .chunks_exact(*len as usize)
                        .map(|s| Value::String(decode_text(s)))
                        .collect(),
                )
            }
            ArrayElem::Array(t, len) => {
                let size = (t.size() * len) as usize;
                if size == 0 {
                    return Value::Array((0..a.count).map(|_| json!([])).collect());
                }
                Value::Array(
                    bytes
                        .chunks_exact(size)
                        .map(|row| {
                            Value::Array(
                                row.chunks_exact(t.size() as usize)
                                    .map(|c| scalar_json(decode_scalar(*t, c, little)))
                                    .collect(),
                            )
                        })
                        .collect(),
                )
            }
        }
    }
}
