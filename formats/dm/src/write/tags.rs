//! The DM tag-file encoder: the tags to write (groups and typed data, pixels as a
//! placeholder), their byte sizes in DM3 or DM4, and the writer that puts them in a file
//! with the pixels streamed into the placeholder's place.

use std::io::Write;
use std::path::Path;

use emio_core::{Error, Result};

use super::layout::PixelFormat;
use super::FORMAT;
use crate::tags::{ElemType, Scalar};

/// The two versions of the tag file: the width of size and count words, and whether every
/// tag carries its byte size (DM4 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// DM3: 32-bit words.
    Dm3,
    /// DM4: 64-bit words and per-tag sizes.
    Dm4,
}

impl Version {
    /// Bytes per size/count word.
    fn word(self) -> u64 {
        match self {
            Version::Dm3 => 4,
            Version::Dm4 => 8,
        }
    }

    /// Bytes of the per-tag size field.
    fn tag_size_field(self) -> u64 {
        match self {
            Version::Dm3 => 0,
            Version::Dm4 => 8,
        }
    }

    /// The version a path's extension asks for: DM3 for `.dm3`, DM4 otherwise.
    pub fn for_path(path: &Path) -> Self {
        let dm3 = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("dm3"));
        if dm3 {
            Version::Dm3
        } else {
            Version::Dm4
        }
    }
}
/// Data of a tag to write.
#[derive(Debug, Clone, PartialEq)]
pub enum WData {
    /// A simple value.
    Scalar(ElemType, Scalar),
    /// Text as an array of UTF-16 code units (how DM stores strings).
    Text(String),
    /// An array of simple values.
    Array(ElemType, Vec<Scalar>),
    /// An array of structs with the given field types.
    StructArray(Vec<ElemType>, Vec<Vec<Scalar>>),
    /// The pixel array, streamed at write time.
    Pixels,
}

/// A tag to write: a group of named (or unnamed: empty name) tags, or data.
#[derive(Debug, Clone, PartialEq)]
pub enum WTag {
    /// A group.
    Group(Vec<(String, WTag)>),
    /// Data.
    Data(WData),
}

fn scalar_bytes(t: ElemType, s: Scalar, out: &mut Vec<u8>) {
    let (i, u, f) = match s {
        Scalar::Int(v) => (v, v as u64, v as f64),
        Scalar::UInt(v) => (v as i64, v, v as f64),
        Scalar::Float(v) => (v as i64, v as u64, v),
        Scalar::Char(c) => (i64::from(c), u64::from(c), f64::from(c)),
    };
    match t {
        ElemType::I16 => out.extend_from_slice(&(i as i16).to_le_bytes()),
        ElemType::I32 => out.extend_from_slice(&(i as i32).to_le_bytes()),
        ElemType::U16 => out.extend_from_slice(&(u as u16).to_le_bytes()),
        ElemType::U32 => out.extend_from_slice(&(u as u32).to_le_bytes()),
        ElemType::F32 => out.extend_from_slice(&(f as f32).to_le_bytes()),
        ElemType::F64 => out.extend_from_slice(&f.to_le_bytes()),
        ElemType::Bool | ElemType::Char | ElemType::Octet => out.push(i as u8),
        ElemType::I64 => out.extend_from_slice(&i.to_le_bytes()),
        ElemType::U64 => out.extend_from_slice(&u.to_le_bytes()),
    }
}

/// Type description words and data bytes of non-pixel data.
fn encode(data: &WData, pixels: (PixelFormat, u64)) -> (Vec<u64>, Vec<u8>) {
    let mut bytes = Vec::new();
    let info = match data {
        WData::Scalar(t, s) => {
            scalar_bytes(*t, *s, &mut bytes);
            vec![t.code()]
        }
        WData::Text(s) => {
            let units: Vec<u16> = s.encode_utf16().collect();
            for u in &units {
                bytes.extend_from_slice(&u.to_le_bytes());
            }
            vec![20, 4, units.len() as u64]
        }
        WData::Array(t, values) => {
            for v in values {
                scalar_bytes(*t, *v, &mut bytes);
            }
            vec![20, t.code(), values.len() as u64]
        }
        WData::StructArray(fields, rows) => {
            for row in rows {
                for (t, v) in fields.iter().zip(row) {
                    scalar_bytes(*t, *v, &mut bytes);
                }
            }
            let mut info = vec![20, 15, 0, fields.len() as u64];
            for t in fields {
                info.extend([0, t.code()]);
            }
            info.push(rows.len() as u64);
            info
        }
        WData::Pixels => {
            let (pf, count) = pixels;
            if pf.complex {
                vec![20, 15, 0, 2, 0, pf.elem.code(), 0, pf.elem.code(), count]
            } else {
                vec![20, pf.elem.code(), count]
            }
        }
    };
    (info, bytes)
}

/// Byte size of a tag's body (after the DM4 size field) in `version`.
pub(super) fn body_size(tag: &WTag, pixels: (PixelFormat, u64), version: Version) -> u64 {
    let word = version.word();
    match tag {
        WTag::Group(entries) => {
            2 + word
                + entries
                    .iter()
                    .map(|(name, t)| {
                        1 + 2
                            + name.len() as u64
                            + version.tag_size_field()
                            + body_size(t, pixels, version)
                    })
                    .sum::<u64>()
        }
        WTag::Data(d) => {
            let (info, bytes) = encode(d, pixels);
            let data = match d {
                WData::Pixels => pixels.0.size * pixels.1,
                _ => bytes.len() as u64,
            };
            4 + word + word * info.len() as u64 + data
        }
    }
}

/// Writes tags in DM3 or DM4 form, streaming the pixels where their placeholder stands.
pub(super) struct TagWriter<'a, W: Write> {
    pub(super) out: W,
    pub(super) path: &'a Path,
    pub(super) pixels: (PixelFormat, u64),
    pub(super) version: Version,
}

impl<W: Write> TagWriter<'_, W> {
    /// Write bytes.
    pub(super) fn put(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b).map_err(|e| Error::io(self.path, e))
    }

    /// A size or count word of the file's version (the caller checked DM3 values fit).
    pub(super) fn put_word(&mut self, v: u64) -> Result<()> {
        match self.version {
            Version::Dm3 => self.put(&(v as u32).to_be_bytes()),
            Version::Dm4 => self.put(&v.to_be_bytes()),
        }
    }

    /// The body of a group: its entries, the pixels streamed by `stream`.
    pub(super) fn group_body(
        &mut self,
        entries: &[(String, WTag)],
        stream: &mut dyn FnMut(&mut W) -> Result<()>,
    ) -> Result<()> {
        self.put(&[0, 0])?;
        self.put_word(entries.len() as u64)?;
        for (name, tag) in entries {
            let kind = if matches!(tag, WTag::Group(_)) {
                20u8
            } else {
                21
            };
            self.put(&[kind])?;
            let name_len = u16::try_from(name.len()).map_err(|_| {
                Error::unsupported(
                    FORMAT,
                    format!("tag name longer than 65535 bytes: {name:.40}"),
                )
            })?;
            self.put(&name_len.to_be_bytes())?;
            self.put(name.as_bytes())?;
            if self.version == Version::Dm4 {
                self.put_word(body_size(tag, self.pixels, self.version))?;
            }
            match tag {
                WTag::Group(sub) => self.group_body(sub, stream)?,
                WTag::Data(d) => {
                    let (info, bytes) = encode(d, self.pixels);
                    self.put(b"%%%%")?;
                    self.put_word(info.len() as u64)?;
                    for w in info {
                        self.put_word(w)?;
                    }
                    if matches!(d, WData::Pixels) {
                        stream(&mut self.out)?;
                    } else {
                        self.put(&bytes)?;
                    }
                }
            }
        }
        Ok(())
    }
}
/// A text tag.
pub(super) fn text(s: impl Into<String>) -> WTag {
    WTag::Data(WData::Text(s.into()))
}

/// An `i32` tag.
pub(super) fn int(v: i64) -> WTag {
    WTag::Data(WData::Scalar(ElemType::I32, Scalar::Int(v)))
}

/// An `f64` tag.
pub(super) fn float(v: f64) -> WTag {
    WTag::Data(WData::Scalar(ElemType::F64, Scalar::Float(v)))
}

/// A group of named tags.
pub(super) fn group(entries: Vec<(&str, WTag)>) -> WTag {
    WTag::Group(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}
/// A list of named (or unnamed: empty name) tags.
pub(crate) type Tags = Vec<(String, WTag)>;
