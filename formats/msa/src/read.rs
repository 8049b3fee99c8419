//! The EMSA/MSA reader: keyword lines (`#KEY[-units]: value`) until `#SPECTRUM`, then
//! `Y` or `XY` data in any separator (commas, spaces, semicolons, tabs, `|`, ...), as
//! RosettaSciIO's `parse_msa_string` reads them: every keyword into the original metadata
//! (standard keywords typed, multi-line `TITLE`/`COMMENT` joined), the mapped ones into
//! HyperSpy's tree (with `_units` from a `-units` suffix), `DATE`/`TIME` as ISO date and
//! time, the signal type from `SIGNALTYPE` (EDS above 30 kV is `EDS_TEM`).
//!
//! The structure is text, so the whole file is parsed at open; values are validated (a
//! data value that is not a number is an error naming its line).

use emio_core::metadata::{json_f64, set_path, Tree};
use emio_core::{Axis, Error, Result};
use serde_json::Value;

use crate::keywords::{self, Kind, MONTHS};
use crate::FORMAT;

emio_core::options! {
    /// Options of the MSA reader.
    pub struct ReadOptions {
        /// text encoding of the file, by Python's codec name: latin-1, utf-8, utf-8-sig, ascii,
        /// cp1250, cp1251, cp1252, utf-16, utf-16-le, utf-16-be or an alias (undecodable bytes
        /// become U+FFFD)
        encoding: String = Some("latin-1"),
    }
}

/// One parsed spectrum: values, its axis, normalized and original metadata, and the
/// problems with `DATE`/`TIME` that were skipped (rsciio logs them as warnings; the
/// reader hands them to the dataset's warnings).
#[derive(Debug, Clone)]
pub struct Spectrum {
    /// The intensities.
    pub data: Vec<f64>,
    /// The signal axis.
    pub axis: Axis,
    /// HyperSpy's tree.
    pub metadata: Tree,
    /// Every keyword of the file, typed.
    pub original: Tree,
    /// Non-fatal problems found (malformed date or time).
    pub warnings: Vec<String>,
}

/// Python's `float(text)` for the forms files use (surrounding whitespace allowed).
fn py_float(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() || t.contains(['_', ' ']) {
        return None;
    }
    t.parse::<f64>().ok()
}

/// A standard keyword's value converted as rsciio does: a float, else with the spaces of a
/// split exponent removed (`2.0 E-06`), else its first word (`1.5 2.5`); text otherwise.
fn typed_value(kind: Kind, value: &str) -> Value {
    if kind == Kind::Text {
        return Value::String(value.to_string());
    }
    let retry = if value.to_lowercase().contains('e') {
        py_float(&value.replace(' ', ""))
    } else {
        value.split(' ').next().and_then(py_float)
    };
    match py_float(value).or(retry) {
        Some(x) => json_f64(x),
        None => Value::String(value.to_string()),
    }
}

/// Greedy digits as Python's `strptime` regexes take them: two digits when the pair is
/// at most `max2`, else one digit. Returns the value and the rest.
fn take_field(s: &str, max2: u32) -> Option<(u32, &str)> {
    let b = s.as_bytes();
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u32::from(c - b'0'))
    };
    let first = digit(0)?;
    match digit(1) {
        Some(second) if first * 10 + second <= max2 => Some((first * 10 + second, &s[2..])),
        _ => Some((first, &s[1..])),
    }
}

/// `TIME` as `HH:MM` or `HH:MM:SS` (Python's `%H:%M[:%S]`), to ISO `HH:MM:SS`.
fn parse_time(text: &str) -> std::result::Result<String, String> {
    let bad = || format!("time data {text:?} does not match format HH:MM[:SS]");
    let parts = text.split(':').count();
    if parts != 2 && parts != 3 {
        return Err(bad());
    }
    let (h, rest) = take_field(text, 23).ok_or_else(bad)?;
    let rest = rest.strip_prefix(':').ok_or_else(bad)?;
    let (m, rest) = take_field(rest, 59).ok_or_else(bad)?;
    let (s, rest) = if parts == 3 {
        let rest = rest.strip_prefix(':').ok_or_else(bad)?;
        take_field(rest, 61).ok_or_else(bad)?
    } else {
        (0, rest)
    };
    if !rest.is_empty() {
        return Err(format!("unconverted data remains: {rest}"));
    }
    if s > 59 {
        return Err(bad());
    }
    Ok(format!("{h:02}:{m:02}:{s:02}"))
}

/// `DATE` as `DD-MMM-YYYY` (month as its three-letter name, any case) to ISO `YYYY-MM-DD`.
fn parse_date(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split('-').collect();
    let [day, month, year] = parts[..] else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as u32 + 1;
    let day = match day.as_bytes() {
        [d @ b'1'..=b'9'] | [b' ' | b'0', d @ b'1'..=b'9'] => u32::from(d - b'0'),
        [a @ b'1'..=b'3', b @ b'0'..=b'9'] => u32::from(a - b'0') * 10 + u32::from(b - b'0'),
        _ => return None,
    };
    if year.len() != 4 || !year.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year.parse().ok()?, month, day)?;
    Some(date.format("%Y-%m-%d").to_string())
}

/// Whether `c` can be part of a number (digits, sign, point, exponent, `inf`/`nan`).
pub fn in_number(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-')
}

/// Values of one data line: any run of characters that cannot be part of a number
/// separates them (commas and whitespace as the standard and rsciio have it, but also
/// semicolons, tabs, `|`, ...).
fn line_values(line: &str, number: usize) -> Result<Vec<f64>> {
    line.split(|c: char| !in_number(c))
        .filter(|t| !t.is_empty())
        .map(|t| {
            py_float(t).ok_or_else(|| {
                Error::malformed_at_unknown(
                    FORMAT,
                    format!("a number on data line {number}, found {t:?}"),
                )
            })
        })
        .collect()
}

/// The signal type HyperSpy uses for an MSA `SIGNALTYPE`.
fn signal_type(original: &Tree) -> String {
    match original.get("SIGNALTYPE").and_then(Value::as_str) {
        Some("ELS") => "EELS".into(),
        Some("CLS") => "CL".into(),
        Some("EDS") => {
            let beam = original
                .iter()
                .find(|(k, _)| k.starts_with("BEAMKV"))
                .and_then(|(_, v)| v.as_f64());
            if beam.is_some_and(|kv| kv > 30.0) {
                "EDS_TEM".into()
            } else {
                "EDS_SEM".into()
            }
        }
        _ => String::new(),
    }
}

/// Parse a whole MSA text (already decoded).
pub fn parse(text: &str, file_name: &str) -> Result<Spectrum> {
    let mut original = Tree::new();
    let mut data = Vec::new();
    let mut in_data = false;
    let mut datatype: Option<String> = None;
    let text = text.replace("\r\n", "\n");
    for (index, line) in text.split(['\n', '\r']).enumerate() {
        let number = index + 1;
        if in_data {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let values = line_values(line, number)?;
            match datatype.as_deref() {
                Some("XY") => {
                    // x, y pairs; NCOLUMNS 2 puts a second pair on the line.
                    let ys = values.iter().skip(1).step_by(2);
                    if values.len() < 2 {
                        return Err(Error::malformed_at_unknown(
                            FORMAT,
                            format!("an x, y pair on data line {number}"),
                        ));
                    }
                    data.extend(ys);
                }
                _ => data.extend(values),
            }
            continue;
        }
        if !line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(": ");
        let (key, value) = match (parts.next(), parts.next(), parts.next()) {
            (Some(k), Some(v), None) => (k, Some(v.trim_end())),
            _ => (line, None),
        };
        let key = key.trim_matches('#').trim();
        if key == "SPECTRUM" {
            in_data = true;
            datatype = match original.get("DATATYPE") {
                Some(Value::String(t)) if t == "XY" || t == "Y" => Some(t.clone()),
                other => {
                    return Err(Error::malformed_at_unknown(
                        FORMAT,
                        format!(
                            "a #DATATYPE of Y or XY before #SPECTRUM (line {number}), found {}",
                            other.map(Value::to_string).unwrap_or("none".into())
                        ),
                    ))
                }
            };
            continue;
        }
        let joined = match (key, original.get(key), value) {
            ("TITLE" | "COMMENT", Some(Value::String(before)), Some(v)) => {
                Value::String(format!("{before}{v}"))
            }
            (_, _, Some(v)) => Value::String(v.to_string()),
            (_, _, None) => Value::Null,
        };
        original.insert(key.to_string(), joined);
    }
    if !in_data {
        return Err(Error::malformed_at_unknown(
            FORMAT,
            "a #SPECTRUM line starting the data",
        ));
    }
    original.insert("FORMAT".into(), "EMSA/MAS Spectral Data File".into());

    let mut metadata = Tree::new();
    let keys: Vec<String> = original.keys().cloned().collect();
    for key in keys {
        let (name, units) = match key.split_once('-') {
            Some((n, u)) => (n.trim(), Some(u.trim())),
            None => (key.as_str(), None),
        };
        let Some(keyword) = keywords::find(name) else {
            continue;
        };
        let Some(Value::String(text)) = original.get(&key).cloned() else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        let value = typed_value(keyword.kind, &text);
        original.insert(key.clone(), value.clone());
        if let Some(path) = keyword.mapped_to {
            set_path(&mut metadata, path, value);
            if let Some(units) = units {
                set_path(&mut metadata, &format!("{path}_units"), units);
            }
        }
    }
    let mut warnings = Vec::new();
    if let Some(time) = original
        .get("TIME")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        match parse_time(time) {
            Ok(iso) => set_path(&mut metadata, "General.time", iso),
            Err(e) => warnings.push(format!("malformed TIME {time:?}: {e}")),
        }
    }
    if let Some(date) = original
        .get("DATE")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        match parse_date(date) {
            Some(iso) => set_path(&mut metadata, "General.date", iso),
            None => warnings.push(format!("malformed DATE {date:?} (expected DD-MMM-YYYY)")),
        }
    }
    set_path(&mut metadata, "General.original_filename", file_name);
    let signal_type = signal_type(&original);
    set_path(&mut metadata, "Signal.signal_type", signal_type.as_str());
    let text_of = |k: &str| original.get(k).and_then(Value::as_str);
    let mut yunits = text_of("YUNITS")
        .map(|u| format!("({u})"))
        .unwrap_or_default();
    let quantity = match text_of("YLABEL") {
        Some(label) => label.to_string(),
        None if signal_type == "EELS" || signal_type.contains("EDS") => {
            if yunits.is_empty() {
                yunits = "(Counts)".into();
            }
            if signal_type == "EELS" {
                "Electrons"
            } else {
                "X-rays"
            }
            .to_string()
        }
        None => String::new(),
    };
    if !quantity.is_empty() || !yunits.is_empty() {
        set_path(
            &mut metadata,
            "Signal.quantity",
            format!("{quantity} {yunits}").trim(),
        );
    }
    let number = |k: &str, default: f64| match original.get(k) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(default),
        _ => default,
    };
    let axis = Axis::uniform(
        text_of("XLABEL").unwrap_or(""),
        text_of("XUNITS").unwrap_or(""),
        number("XPERCHAN", 1.0),
        number("OFFSET", 0.0),
        false,
    );
    Ok(Spectrum {
        data,
        axis,
        metadata,
        original,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y_FILE: &str = "#FORMAT      : EMSA/MAS Spectral Data File\r\n\
        #VERSION     : 1.0\r\n#TITLE       : A long\r\n#TITLE       :  title\r\n\
        #DATE        : 5-oct-1991\r\n#TIME        : 9:05:07\r\n#NPOINTS     : 4.\r\n\
        #DATATYPE    : Y\r\n#XPERCHAN    : 2.0 E-01\r\n#OFFSET      : -1.5\r\n\
        #SIGNALTYPE  : EDS\r\n#BEAMKV   -kV: 200 300\r\n#MYKEY      : x\r\n\
        #SPECTRUM    : Spectral Data Starts Here\r\n1, 2;3\r\n4\t5e0\r\n\r\n\
        #ENDOFDATA   : End Of Data and File";

    #[test]
    fn reads_keywords_data_and_mapping() {
        let s = parse(Y_FILE, "f.msa").unwrap();
        assert_eq!(s.data, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s.axis.scale_offset(), Some((0.2, -1.5)));
        assert_eq!(s.original["TITLE"], "A long title");
        assert_eq!(s.original["MYKEY"], "x");
        assert_eq!(s.original["NPOINTS"], 4.0);
        assert_eq!(s.original["BEAMKV   -kV"], 200.0);
        let m = Value::Object(s.metadata);
        assert_eq!(m["General"]["date"], "1991-10-05");
        assert_eq!(m["General"]["time"], "09:05:07");
        assert_eq!(m["General"]["title"], "A long title");
        assert_eq!(m["Signal"]["signal_type"], "EDS_TEM");
        assert_eq!(m["Signal"]["quantity"], "X-rays (Counts)");
        assert_eq!(
            m["Acquisition_instrument"]["TEM"]["beam_energy_units"],
            "kV"
        );
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn xy_pairs_and_two_columns() {
        let text = "#DATATYPE: XY\n#SPECTRUM: go\n1, 10, 2, 20\n3 30\n4|-4e-1\n5 ;\t5.5\n";
        assert_eq!(
            parse(text, "f").unwrap().data,
            [10.0, 20.0, 30.0, -0.4, 5.5]
        );
    }

    #[test]
    fn python_strptime_quirks() {
        assert_eq!(parse_time("12:00").unwrap(), "12:00:00");
        assert!(parse_time("12:100").unwrap_err().contains("remains: 0"));
        assert!(parse_time("25:00").is_err());
        assert_eq!(parse_date("01-OCT-1991").as_deref(), Some("1991-10-01"));
        assert_eq!(parse_date("01-09-1991"), None);
        assert_eq!(parse_date("31-FEB-1991"), None);
        assert_eq!(parse_date("1-Jan-19912"), None);
    }

    #[test]
    fn errors_name_what_is_missing() {
        let e = parse("#DATATYPE: Y\n1 2\n", "f").unwrap_err().to_string();
        assert!(e.contains("#SPECTRUM"), "{e}");
        let e = parse("#SPECTRUM: go\n1\n", "f").unwrap_err().to_string();
        assert!(e.contains("DATATYPE"), "{e}");
        let e = parse("#DATATYPE: Y\n#SPECTRUM: go\n1 x\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("data line 3"), "{e}");
    }
}
