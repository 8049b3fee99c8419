//! The `.rpl` description: tab-separated `key<TAB>value` lines (`;` starts a comment),
//! parsed as RosettaSciIO's `parse_ripple` does, including its rewriting of Oxford INCA's
//! `(MLX::key : value)` dialect. Pure functions over text, so they can be fuzzed.

use emio_core::metadata::Tree;
use emio_core::{ByteOrder, DType, Error, Result};
use serde_json::Value;

use crate::FORMAT;

/// How a known key's value is typed.
enum Kind {
    Int,
    Float,
    Text,
    OneOf(&'static [&'static str]),
}

/// rsciio's `rpl_keys`: the keys with a type; any other key is kept as text.
fn kind(key: &str) -> Option<Kind> {
    Some(match key {
        "width" | "height" | "depth" | "offset" => Kind::Int,
        "data-length" => Kind::OneOf(&["1", "2", "4", "8"]),
        "data-type" => Kind::OneOf(&["signed", "unsigned", "float"]),
        "byte-order" => Kind::OneOf(&["little-endian", "big-endian", "dont-care"]),
        "record-by" => Kind::OneOf(&["image", "vector", "dont-care"]),
        "ev-per-chan"
        | "detector-peak-width-ev"
        | "depth-origin"
        | "depth-scale"
        | "width-origin"
        | "width-scale"
        | "height-origin"
        | "height-scale"
        | "collection-angle"
        | "convergence-angle"
        | "beam-energy"
        | "elevation-angle"
        | "azimuth-angle"
        | "live-time"
        | "energy-resolution"
        | "tilt-stage" => Kind::Float,
        "depth-units" | "width-units" | "height-units" | "signal" | "date" | "time" | "title" => {
            Kind::Text
        }
        _ => return None,
    })
}

/// Type `value` as rsciio does for `key`.
pub fn typed_value(key: &str, value: &str) -> Result<Value> {
    let bad = |what: &str| {
        Error::malformed_at_unknown(FORMAT, format!("{what} for {key:?}, found {value:?}"))
    };
    Ok(match kind(key) {
        Some(Kind::Int) => Value::from(value.parse::<i64>().map_err(|_| bad("an integer"))?),
        Some(Kind::Float) => {
            let v = parse_python_float(value).ok_or_else(|| bad("a number"))?;
            emio_core::metadata::json_f64(v)
        }
        Some(Kind::OneOf(choices)) => {
            if !choices.contains(&value) {
                return Err(bad(&format!("one of {}", choices.join(", "))));
            }
            Value::String(value.to_string())
        }
        Some(Kind::Text) | None => Value::String(value.to_string()),
    })
}

/// Python's `float(text)`: also `inf`, `nan` and underscores between digits.
fn parse_python_float(text: &str) -> Option<f64> {
    let t = text.trim().replace('_', "");
    match t.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" | "nan" => {}
        _ if t
            .chars()
            .any(|c| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E')) =>
        {
            return None
        }
        _ => {}
    }
    t.parse().ok()
}

/// rsciio's `correct_INCA_format`: when the first line holds a `(`, every later line is
/// rewritten from INCA's `(MLX::key : value)` form into `key<TAB>value`.
fn correct_inca(text: &str) -> String {
    let mut lines = text.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return String::new();
    };
    if !first.contains('(') {
        return text.to_string();
    }
    let mut out = String::new();
    for line in lines {
        let mut line = line
            .replace("(MLX::", "")
            .replace(" : ", "\t")
            .replace(" :", "\t")
            .replace(' ', "\t")
            .to_lowercase()
            .trim()
            .replace(')', "\n");
        if line.contains("record-by") {
            for mode in ["image", "vector", "dont-care"] {
                if line.contains(mode) {
                    // rsciio drops the line break here, gluing the next key onto the
                    // mode (and then rejecting it); the break is kept.
                    line = format!("record-by\t{mode}\n");
                }
            }
        }
        out.push_str(&line);
    }
    out
}

/// Parse `.rpl` text into rsciio's `rpl_info`: keys in file order, typed values.
pub fn parse(text: &str) -> Result<Tree> {
    // Python reads text files with universal newlines.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let text = correct_inca(&text);
    let mut info = Tree::new();
    for (number, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.replace("data-Length", "data-length");
        if line.starts_with('\n') || line.starts_with(';') {
            continue;
        }
        let mut line = line.trim_matches(['\r', '\n']);
        if let Some(i) = line.find(';') {
            line = &line[..i];
        }
        if !line.contains('\t') {
            return Err(Error::malformed_at_unknown(
                FORMAT,
                format!(
                    "a <TAB> between key and value on line {}: {line:?}",
                    number + 1
                ),
            ));
        }
        let mut parts = line.split('\t').map(str::trim);
        let key = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default();
        info.insert(key.to_string(), typed_value(key, value)?);
    }
    Ok(info)
}

/// How the `.raw` file is laid out, from `rpl_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Logical element type.
    pub dtype: DType,
    /// Stored byte order.
    pub order: ByteOrder,
    /// `width`, `height`, `depth`.
    pub width: u64,
    /// Number of rows.
    pub height: u64,
    /// Number of channels (vector) or images (image).
    pub depth: u64,
    /// Byte offset of the first value.
    pub offset: u64,
    /// `vector`, `image` or `dont-care`.
    pub record_by: String,
}

fn required<'a>(info: &'a Tree, key: &str) -> Result<&'a Value> {
    info.get(key)
        .ok_or_else(|| Error::malformed_at_unknown(FORMAT, format!("the key {key:?}")))
}

fn size(info: &Tree, key: &str) -> Result<u64> {
    let v = required(info, key)?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| {
            Error::malformed_at_unknown(FORMAT, format!("a non-negative integer {key}, found {v}"))
        })
}

fn text<'a>(info: &'a Tree, key: &str) -> Result<&'a str> {
    let v = required(info, key)?;
    v.as_str()
        .ok_or_else(|| Error::malformed_at_unknown(FORMAT, format!("text for {key}, found {v}")))
}

impl Layout {
    /// Validate `info` (rsciio's consistency checks) and derive the layout.
    pub fn from_info(info: &Tree) -> Result<Self> {
        let (width, height, depth, offset) = (
            size(info, "width")?,
            size(info, "height")?,
            size(info, "depth")?,
            size(info, "offset")?,
        );
        let length = match required(info, "data-length")? {
            Value::String(s) => s.parse::<u64>().ok(),
            v => v.as_u64(),
        };
        let data_type = text(info, "data-type")?;
        let byte_order = text(info, "byte-order")?;
        let record_by = text(info, "record-by")?.to_string();
        let bad = |what: String| Error::malformed_at_unknown(FORMAT, what);
        if (depth == 1) != (record_by == "dont-care") {
            return Err(bad(format!(
                "depth 1 exactly when record-by is dont-care, found depth {depth} and \
                 record-by {record_by}"
            )));
        }
        let dtype = match (data_type, length) {
            ("signed", Some(1)) => DType::I8,
            ("signed", Some(2)) => DType::I16,
            ("signed", Some(4)) => DType::I32,
            ("signed", Some(8)) => DType::I64,
            ("unsigned", Some(1)) => DType::U8,
            ("unsigned", Some(2)) => DType::U16,
            ("unsigned", Some(4)) => DType::U32,
            ("unsigned", Some(8)) => DType::U64,
            ("float", Some(4)) => DType::F32,
            ("float", Some(8)) => DType::F64,
            _ => {
                return Err(bad(format!(
                    "a data-type (signed, unsigned, float) and data-length (1, 2, 4, 8; 4 or \
                     8 for float), found {data_type} of {length:?} bytes"
                )))
            }
        };
        let order = match byte_order {
            "big-endian" => ByteOrder::Big,
            "little-endian" => ByteOrder::Little,
            "dont-care" => ByteOrder::NATIVE,
            other => return Err(bad(format!("a byte-order, found {other:?}"))),
        };
        if dtype.size() == 1 && byte_order != "dont-care" {
            return Err(bad(format!(
                "byte-order dont-care for 1-byte data, found {byte_order}"
            )));
        }
        Ok(Layout {
            dtype,
            order,
            width,
            height,
            depth,
            offset,
            record_by,
        })
    }

    /// The stored (C-order) shape before size-1 dimensions are dropped.
    pub fn full_shape(&self) -> [u64; 3] {
        match self.record_by.as_str() {
            "vector" => [self.height, self.width, self.depth],
            "image" => [self.depth, self.height, self.width],
            _ => [1, self.height, self.width],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_typed_and_comments_skipped() {
        let info = parse(
            ";made by hand\r\nkey\tvalue\r\nwidth\t4 ; four\r\n\r\ndepth-scale\t2.5\r\n\
             depth-name\tE\r\nrecord-by\tvector\n",
        )
        .unwrap();
        assert_eq!(info["key"], "value");
        assert_eq!(info["width"], 4);
        assert_eq!(info["depth-scale"], 2.5);
        assert_eq!(info["depth-name"], "E");
        assert!(parse("width 4\n").is_err());
        assert!(parse("width\tfour\n").is_err());
        assert!(parse("record-by\tcolumns\n").is_err());
    }

    #[test]
    fn inca_dialect_is_rewritten() {
        let info = parse(
            "(MLX::INCA export)\n(MLX::WIDTH : 2)\n(MLX::RECORD-BY : VECTOR)\n\
             (MLX::DATA-TYPE : UNSIGNED)\n",
        )
        .unwrap();
        assert_eq!(info["width"], 2);
        assert_eq!(info["record-by"], "vector");
        assert_eq!(info["data-type"], "unsigned");
    }

    #[test]
    fn layouts_are_checked() {
        let base = "width\t2\nheight\t3\noffset\t0\ndata-length\t2\ndata-type\tunsigned\n\
                    byte-order\tbig-endian\n";
        let l = Layout::from_info(&parse(&format!("{base}depth\t5\nrecord-by\tvector\n")).unwrap())
            .unwrap();
        assert_eq!(
            (l.dtype, l.order, l.full_shape()),
            (DType::U16, ByteOrder::Big, [3, 2, 5])
        );
        for bad in [
            "depth\t1\nrecord-by\tvector\n",
            "depth\t5\nrecord-by\tdont-care\n",
        ] {
            assert!(Layout::from_info(&parse(&format!("{base}{bad}")).unwrap()).is_err());
        }
        let float16 = base.replace("unsigned", "float") + "depth\t5\nrecord-by\timage\n";
        assert!(Layout::from_info(&parse(&float16).unwrap()).is_err());
        assert!(Layout::from_info(&parse("width\t2\n").unwrap()).is_err());
    }
}
