//! Structure of a `.npy` file: magic, version, and the Python-literal header dict
//! (`{'descr': '<u2', 'fortran_order': False, 'shape': (3, 4), }`). Pure functions over
//! bytes, fully validated.

use emio_core::{ByteOrder, DType, Error, Result};

/// `\x93NUMPY`.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
const FORMAT: &str = "npy";
/// Largest header accepted: NumPy itself refuses headers over 10 000 bytes by default.
const MAX_HEADER: usize = 1 << 20;

/// What a `.npy` header says.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Format version (major, minor).
    pub version: (u8, u8),
    /// Logical element type.
    pub dtype: DType,
    /// Byte order of the stored elements.
    pub order: ByteOrder,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Array shape.
    pub shape: Vec<u64>,
    /// Byte offset of the data.
    pub data_offset: u64,
}

/// A parsed Python literal (the subset `.npy` headers use).
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(i128),
    Bool(bool),
    Seq(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

struct LiteralParser<'a> {
    text: &'a [u8],
    pos: usize,
    base: u64,
    depth: usize,
}

impl LiteralParser<'_> {
    fn err(&self, expected: &str) -> Error {
        Error::malformed(FORMAT, self.base + self.pos as u64, expected.to_string())
    }

    fn skip_ws(&mut self) {
        while self.pos < self.text.len() && self.text[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.text.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Literal> {
        self.skip_ws();
        self.depth += 1;
        if self.depth > 16 {
            return Err(self.err("header nesting of at most 16 levels"));
        }
        let v = match self.text.get(self.pos) {
            Some(b'\'') | Some(b'"') => self.string()?,
            Some(b'(') => self.sequence(b')')?,
            Some(b'[') => self.sequence(b']')?,
            Some(b'{') => self.dict()?,
            Some(c) if c.is_ascii_digit() || *c == b'-' => self.int()?,
            Some(_) if self.text[self.pos..].starts_with(b"True") => {
                self.pos += 4;
                Literal::Bool(true)
            }
            Some(_) if self.text[self.pos..].starts_with(b"False") => {
                self.pos += 5;
                Literal::Bool(false)
            }
            _ => return Err(self.err("a Python literal (string, number, bool, tuple, dict)")),
        };
        self.depth -= 1;
        Ok(v)
    }

    fn string(&mut self) -> Result<Literal> {
        let quote = self.text[self.pos];
        let start = self.pos + 1;
        let end = self.text[start..]
            .iter()
            .position(|&c| c == quote)
            .ok_or_else(|| self.err("a closing quote"))?;
        self.pos = start + end + 1;
        let s = std::str::from_utf8(&self.text[start..start + end])
            .map_err(|_| self.err("UTF-8 text in a header string"))?;
        Ok(Literal::Str(s.to_string()))
    }

    fn int(&mut self) -> Result<Literal> {
        let start = self.pos;
        if self.text[self.pos] == b'-' {
            self.pos += 1;
        }
        while self.pos < self.text.len() && self.text[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        // Python 2 era headers may write `3L`.
        let digits = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or("");
        if self.text.get(self.pos) == Some(&b'L') {
            self.pos += 1;
        }
        digits
            .parse()
            .map(Literal::Int)
            .map_err(|_| self.err("an integer"))
    }

    fn sequence(&mut self, close: u8) -> Result<Literal> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(Literal::Seq(items));
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                if self.eat(close) {
                    return Ok(Literal::Seq(items));
                }
                return Err(self.err("a comma or the end of the sequence"));
            }
        }
    }

    fn dict(&mut self) -> Result<Literal> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(b'}') {
                return Ok(Literal::Dict(items));
            }
            let key = self.value()?;
            if !self.eat(b':') {
                return Err(self.err("a colon after a dict key"));
            }
            let value = self.value()?;
            items.push((key, value));
            if !self.eat(b',') {
                if self.eat(b'}') {
                    return Ok(Literal::Dict(items));
                }
                return Err(self.err("a comma or the end of the dict"));
            }
        }
    }
}

fn parse_descr(descr: &Literal, offset: u64) -> Result<(DType, ByteOrder)> {
    match descr {
        Literal::Str(s) => DType::from_numpy_str(s),
        Literal::Seq(fields) => {
            let pairs: Option<Vec<(String, String)>> = fields
                .iter()
                .map(|f| match f {
                    Literal::Seq(p) => match p.as_slice() {
                        [Literal::Str(n), Literal::Str(t)] => Some((n.clone(), t.clone())),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            pairs
                .as_deref()
                .and_then(DType::from_numpy_fields)
                .ok_or_else(|| {
                    Error::unsupported(
                        FORMAT,
                        format!("structured dtype {descr:?} (only R,G,B[,A] records of u1/u2)"),
                    )
                })
        }
        _ => Err(Error::malformed(
            FORMAT,
            offset,
            "'descr' as a string or a list of fields",
        )),
    }
}

/// Parse the header at the start of `bytes` (which may be just the file's first bytes,
/// as long as they include the whole header).
pub fn parse_header(bytes: &[u8]) -> Result<Header> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(Error::malformed(FORMAT, 0, "the magic \\x93NUMPY"));
    }
    let version = (bytes[6], bytes[7]);
    let (len, start) = match version.0 {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(Error::malformed(FORMAT, 8, "a 4-byte header length"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(Error::unsupported(FORMAT, format!("format version {v}"))),
    };
    if len > MAX_HEADER {
        return Err(Error::malformed(
            FORMAT,
            8,
            format!("a header of at most {MAX_HEADER} bytes, not {len}"),
        ));
    }
    let text = bytes
        .get(start..start + len)
        .ok_or_else(|| Error::malformed(FORMAT, start as u64, format!("{len} header bytes")))?;
    let mut parser = LiteralParser {
        text,
        pos: 0,
        base: start as u64,
        depth: 0,
    };
    let Literal::Dict(items) = parser.value()? else {
        return Err(Error::malformed(FORMAT, start as u64, "a header dict"));
    };
    let find = |key: &str| {
        items
            .iter()
            .find(|(k, _)| *k == Literal::Str(key.into()))
            .map(|(_, v)| v)
            .ok_or_else(|| Error::malformed(FORMAT, start as u64, format!("the key '{key}'")))
    };
    let (dtype, order) = parse_descr(find("descr")?, start as u64)?;
    let fortran_order = match find("fortran_order")? {
        Literal::Bool(b) => *b,
        _ => {
            return Err(Error::malformed(
                FORMAT,
                start as u64,
                "fortran_order True or False",
            ))
        }
    };
    let shape = match find("shape")? {
        Literal::Seq(dims) => dims
            .iter()
            .map(|d| match d {
                Literal::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            })
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                Error::malformed(FORMAT, start as u64, "a shape of non-negative integers")
            })?,
        _ => return Err(Error::malformed(FORMAT, start as u64, "a shape tuple")),
    };
    Ok(Header {
        version,
        dtype,
        order,
        fortran_order,
        shape,
        data_offset: (start + len) as u64,
    })
}

/// The NumPy `descr` literal for a dtype stored little-endian.
fn descr(dtype: DType) -> String {
    match dtype.numpy_fields() {
        Some(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(n, t)| format!("('{n}', '{t}')"))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        None => format!("'{}'", dtype.numpy_str()),
    }
}

/// Encode a header for C-order little-endian data: version 1.0 when it fits, else 2.0;
/// padded with spaces so the data starts on a 64-byte boundary, as NumPy does.
pub fn encode_header(dtype: DType, shape: &[u64]) -> Vec<u8> {
    let shape_text = match shape {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!(
        "{{'descr': {}, 'fortran_order': False, 'shape': {shape_text}, }}",
        descr(dtype)
    );
    let build = |major: u8, len_bytes: usize| {
        let fixed = 6 + 2 + len_bytes;
        let total = (fixed + dict.len() + 1).div_ceil(64) * 64;
        let header_len = total - fixed;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[major, 0]);
        if len_bytes == 2 {
            out.extend_from_slice(&(header_len as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header_len as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.resize(total - 1, b' ');
        out.push(b'\n');
        out
    };
    let v1 = build(1, 2);
    if v1.len() - 10 <= u16::MAX as usize {
        v1
    } else {
        build(2, 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let h = parse_header(&encode_header(DType::U16, &[3, 4])).unwrap();
        assert_eq!(h.dtype, DType::U16);
        assert_eq!(h.shape, vec![3, 4]);
        assert_eq!(h.data_offset % 64, 0);
        let mut raw = b"\x93NUMPY\x01\x00".to_vec();
        let dict = b"{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3L), }\n";
        raw.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        raw.extend_from_slice(dict);
        let h = parse_header(&raw).unwrap();
        assert_eq!(
            (h.dtype, h.order, h.fortran_order),
            (DType::F64, ByteOrder::Big, true)
        );
        assert_eq!(h.shape, vec![2, 3]);
    }

    #[test]
    fn scalar_and_rgb_headers() {
        let h = parse_header(&encode_header(DType::Rgb8, &[])).unwrap();
        assert_eq!((h.dtype, h.shape.len()), (DType::Rgb8, 0));
        let h = parse_header(&encode_header(DType::F32, &[5])).unwrap();
        assert_eq!(h.shape, vec![5]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_header(b"\x93NUMPY\x01\x00\x05\x00{'des").is_err());
        assert!(parse_header(b"not a numpy file at all").is_err());
        let mut raw = b"\x93NUMPY\x01\x00".to_vec();
        let dict = b"{'descr': '<u2', 'fortran_order': False, 'shape': (-1,), }";
        raw.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        raw.extend_from_slice(dict);
        assert!(parse_header(&raw).is_err());
        let deep = format!("{{'descr': {}'<u2'{} }}", "(".repeat(100), ")".repeat(100));
        let mut raw = b"\x93NUMPY\x01\x00".to_vec();
        raw.extend_from_slice(&(deep.len() as u16).to_le_bytes());
        raw.extend_from_slice(deep.as_bytes());
        assert!(parse_header(&raw).is_err());
    }
}
