//! JSON documents of a Zarr store: reading them tolerantly (Python's `json` writes the bare
//! tokens `NaN`, `Infinity`, `-Infinity`, which strict JSON rejects) and writing them.

use std::path::Path;

use emio_core::{Error, Result};
use serde_json::Value;

/// Replace the bare tokens `NaN`, `Infinity` and `-Infinity` outside strings by the strings
/// emio uses for non-finite floats (`"NaN"`, `"Infinity"`, `"-Infinity"`).
pub fn quote_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else {
            let token = ["-Infinity", "Infinity", "NaN"]
                .into_iter()
                .find(|t| rest.starts_with(t));
            if let Some(t) = token {
                out.push('"');
                out.push_str(t);
                out.push('"');
                rest = &rest[t.len()..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Parse a JSON document of a store (see [`quote_non_finite`]).
pub fn parse(format: &'static str, path: &Path, bytes: &[u8]) -> Result<Value> {
    let bad = |e: serde_json::Error| {
        Error::malformed_at_unknown(format, format!("JSON in {} ({e})", path.display()))
            .with_path(path)
    };
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(first) => {
            let text = std::str::from_utf8(bytes).map_err(|_| bad(first))?;
            serde_json::from_str(&quote_non_finite(text)).map_err(bad)
        }
    }
}

/// Read and parse a JSON document, `None` when the file does not exist.
pub fn read(format: &'static str, path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            emio_core::inputs::record(path);
            parse(format, path, &bytes).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Write a JSON document (pretty-printed, like zarr-python).
pub fn write(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_non_finite_tokens_become_strings() {
        let v = parse(
            "zspy",
            Path::new("x"),
            br#"{"a": NaN, "b": [-Infinity, Infinity], "c": "NaN in text"}"#,
        )
        .unwrap();
        assert_eq!(v["a"], "NaN");
        assert_eq!(v["b"][0], "-Infinity");
        assert_eq!(v["c"], "NaN in text");
    }
}
