//! The EMSA/MSA writer, following RosettaSciIO's `file_writer`: the keywords of the
//! dataset's original MSA metadata (when it came from an MSA file) updated from its axis
//! and HyperSpy metadata, then one line per channel (`Y`: `y<separator>`; `XY`:
//! `x<separator>y`), CRLF line ends, in the chosen encoding.
//!
//! Unlike rsciio (which writes `%f`/`%g`, six digits), values are written with their
//! shortest round-trip representation, so reading the file back gives the same numbers;
//! `General.time` is written as `TIME` (rsciio checks a misspelled key and never does).
//! Values stream through core's write pipeline ([`emio_core::output::stream_c_order`]).

use std::fs::File;
use std::io::{BufWriter, Write};

use emio_core::metadata::{get_path, get_str};
use emio_core::output::stream_c_order;
use emio_core::{ArrayData, AxisKind, Dataset, Error, Result, WriteRequest};
use serde_json::Value;

use crate::encoding::Encoding;
use crate::keywords::{self, MONTHS};
use crate::FORMAT;

emio_core::options! {
    /// Options of the MSA writer.
    pub struct WriteOptions {
        /// the columns written
        format: Columns = Some("Y"),
        /// column separator: any text without digits, letters, '.', '+', '-' or line breaks (the
        /// standard and rsciio expect a comma or spaces; emio reads any)
        separator: String = Some(", "),
        /// text encoding, as for reading (characters it cannot hold are dropped; utf-8-sig and
        /// utf-16 start with a byte-order mark)
        encoding: String = Some("latin-1"),
    }
}

emio_core::option_choice! {
    /// The columns the MSA writer writes (its `format` option).
    pub enum Columns {
        Y = "Y": "intensities only",
        XY = "XY": "the calibrated axis value before each intensity",
    }
}

/// The `FORMAT` keyword's value.
pub const FORMAT_NAME: &str = "EMSA/MAS Spectral Data File";

/// A float as Python's `repr` would write it, close enough for any reader: the shortest
/// text that parses back to the same value.
fn number_text(x: f64) -> String {
    format!("{x:?}")
}

/// A metadata value as keyword text.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) if n.is_f64() => number_text(n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
}

/// Keywords in file order; setting an existing one keeps its place.
#[derive(Default)]
struct Keywords(Vec<(String, String)>);

impl Keywords {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, key: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// Set a standard keyword, in place of a `KEY-units` spelling of it when present.
    fn set_keyword(&mut self, name: &str, value: String) {
        let existing = self
            .0
            .iter()
            .position(|(k, _)| k.split('-').next().map(str::trim) == Some(name));
        match existing {
            Some(i) => self.0[i].1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }
}

/// `YYYY-MM-DD` as the standard's `DD-MMM-YYYY`.
fn msa_date(iso: &str) -> Option<String> {
    let date = chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d").ok()?;
    use chrono::Datelike;
    Some(format!(
        "{:02}-{}-{}",
        date.day(),
        MONTHS[date.month0() as usize],
        date.year()
    ))
}

/// `HH:MM[:SS]` as the standard's `HH:MM`.
fn msa_time(iso: &str) -> Option<String> {
    let mut parts = iso.split(':');
    let (h, m) = (parts.next()?, parts.next()?);
    let ok = |s: &str| s.len() == 2 && s.bytes().all(|c| c.is_ascii_digit());
    (ok(h) && ok(m)).then(|| format!("{h}:{m}"))
}

/// The signal axis (the one dimension longer than 1, or the last) and the channel count.
fn signal_dim(dataset: &Dataset) -> Result<usize> {
    let shape = dataset.shape();
    let long: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] > 1).collect();
    match (long.as_slice(), shape.len()) {
        (_, 0) => Err(Error::unsupported(FORMAT, "a 0-dimensional dataset")),
        ([], n) => Ok(n - 1),
        ([d], _) => Ok(*d),
        _ => Err(Error::unsupported(
            FORMAT,
            format!("an MSA file holds one spectrum; this dataset has shape {shape:?}"),
        )),
    }
}

/// The header keywords for `dataset`.
fn header(dataset: &Dataset, dim: usize, datatype: &str) -> Keywords {
    let md = &dataset.metadata;
    let mut kw = Keywords::default();
    let from_msa = dataset
        .original_metadata
        .get("FORMAT")
        .and_then(Value::as_str)
        == Some(FORMAT_NAME);
    if from_msa {
        for (k, v) in &dataset.original_metadata {
            kw.set(k, value_text(v));
        }
    } else {
        if let Some(date) = get_str(md, "General.date").and_then(msa_date) {
            kw.set("DATE", date);
        }
        if let Some(time) = get_str(md, "General.time").and_then(msa_time) {
            kw.set("TIME", time);
        }
    }
    let signal_type = get_str(md, "Signal.signal_type").unwrap_or("");
    let msa_type = match signal_type {
        "EDS_SEM" | "EDS_TEM" => "EDS",
        "EELS" => "ELS",
        "CL" | "CL_SEM" | "CL_STEM" => "CLS",
        t @ ("EDS" | "WDS" | "ELS" | "AES" | "PES" | "XRF" | "CLS" | "GAM") => t,
        _ => "",
    };
    kw.set("SIGNALTYPE", msa_type.to_string());
    let axis = &dataset.axes[dim];
    let (scale, offset) = match &axis.kind {
        AxisKind::Uniform { scale, offset } => (*scale, *offset),
        AxisKind::Values(v) => (
            v.get(1).zip(v.first()).map(|(b, a)| b - a).unwrap_or(1.0),
            v.first().copied().unwrap_or(0.0),
        ),
    };
    let from_signal = [
        ("FORMAT", FORMAT_NAME.to_string()),
        ("VERSION", "1.0".to_string()),
        ("TITLE", dataset.title().to_string()),
        ("DATE", String::new()),
        ("TIME", String::new()),
        ("OWNER", String::new()),
        ("NPOINTS", dataset.shape()[dim].to_string()),
        ("NCOLUMNS", "1".to_string()),
        ("DATATYPE", datatype.to_string()),
        ("SIGNALTYPE", String::new()),
        ("XPERCHAN", number_text(scale)),
        ("OFFSET", number_text(offset)),
        ("XLABEL", axis.name.clone()),
        ("XUNITS", axis.units.clone()),
    ];
    for (key, value) in from_signal {
        if kw.get(key).is_none() || !value.is_empty() {
            kw.set(key, value);
        }
    }
    if kw.get("COMMENT").is_none() {
        kw.set(
            "COMMENT",
            format!("File created by emio version {}", env!("CARGO_PKG_VERSION")),
        );
    }
    for keyword in keywords::KEYWORDS {
        let Some(path) = keyword.mapped_to else {
            continue;
        };
        let path = if signal_type.contains("SEM") {
            path.replace("TEM", "SEM")
        } else {
            path.to_string()
        };
        if let Some(value) = get_path(md, &path).filter(|v| !v.is_object()) {
            kw.set_keyword(keyword.name, value_text(value));
        }
    }
    kw.remove("SPECTRUM");
    kw.remove("ENDOFDATA");
    kw
}

/// A `TITLE` or `COMMENT` value as the lines of at most 64 characters the standard allows
/// (readers join repeated keywords). A line never ends in whitespace, which readers strip:
/// whitespace at a cut starts the next line instead.
fn split_long(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < chars.len() || pieces.is_empty() {
        let mut end = (start + 64).min(chars.len());
        if end < chars.len() {
            let kept = chars[start..end]
                .iter()
                .rposition(|c| !c.is_whitespace())
                .map_or(end, |i| start + i + 1);
            end = kept;
        }
        pieces.push(chars[start..end].iter().collect());
        start = end;
    }
    pieces
}

/// Write `dataset` (one spectrum) as an MSA file.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (dataset, path, progress) = (request.dataset, request.path, request.progress);
    let options = request.typed::<WriteOptions>()?;
    let datatype = options.format.word();
    let separator = options.separator.as_str();
    let encoding = Encoding::from_option(&options.encoding)?;
    let unreadable = separator.contains(['\r', '\n']) || separator.contains(crate::read::in_number);
    if unreadable || (separator.is_empty() && datatype == "XY") {
        return Err(Error::invalid_option(
            "separator",
            format!(
                "{separator:?} cannot be told apart from the numbers it separates (use \
                 characters other than digits, letters, '.', '+', '-' and line breaks)"
            ),
        ));
    }
    let dtype = dataset.dtype();
    if dtype.is_complex() || dtype.is_rgb() {
        return Err(Error::unsupported(
            FORMAT,
            format!("{dtype} values (MSA holds real numbers)"),
        ));
    }
    let dim = signal_dim(dataset)?;
    let axis = dataset.axes[dim].clone();
    let mut kw = header(dataset, dim, datatype);

    let io = |e| Error::io(path, e);
    let mut out = BufWriter::new(File::create(path).map_err(io)?);
    out.write_all(encoding.byte_order_mark()).map_err(io)?;
    let mut put = |text: &str| out.write_all(&encoding.encode(text)).map_err(io);
    let line = |key: &str, value: &str| format!("#{key:<12}: {value}\r\n");
    for key in ["FORMAT", "VERSION"] {
        let value = kw.remove(key).unwrap_or_default();
        put(&line(key, &value))?;
    }
    for (key, value) in &kw.0 {
        if key == "TITLE" || key == "COMMENT" {
            for piece in split_long(value) {
                put(&line(key, &piece))?;
            }
        } else {
            put(&line(key, value))?;
        }
    }
    put(&line("SPECTRUM", "Spectral Data Starts Here"))?;
    let mut channel = 0usize;
    stream_c_order(dataset, progress, |region, bytes| {
        let dims: Vec<usize> = region.shape.iter().map(|&n| n as usize).collect();
        let values = ArrayData::fill(dtype, &dims, bytes.len(), |b| {
            b.copy_from_slice(bytes);
            Ok(())
        })?
        .to_f64()
        .ok_or_else(|| Error::unsupported(FORMAT, format!("{dtype} values")))?;
        let mut text = String::new();
        for y in values.iter() {
            let y = number_text(*y);
            if datatype == "XY" {
                let x = number_text(axis.coordinate(channel));
                text.push_str(&format!("{x}{separator}{y}\r\n"));
            } else {
                text.push_str(&format!("{y}{separator}\r\n"));
            }
            channel += 1;
        }
        put(&text)
    })?;
    put(&format!("#{:<12}: End Of Data and File", "ENDOFDATA"))?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_in_msa_spelling() {
        assert_eq!(msa_date("1991-10-01").as_deref(), Some("01-OCT-1991"));
        assert_eq!(msa_time("12:05:09").as_deref(), Some("12:05"));
        assert_eq!(msa_date("bad"), None);
    }

    #[test]
    fn long_values_cut_before_whitespace() {
        let text = format!("{} {}", "a".repeat(63), "b".repeat(70));
        let pieces = split_long(&text);
        assert_eq!(pieces.concat(), text);
        assert!(pieces
            .iter()
            .all(|p| p.chars().count() <= 64 && !p.ends_with(' ')));
        assert_eq!(split_long(""), [""]);
    }

    #[test]
    fn keyword_with_units_updated_in_place() {
        let mut kw = Keywords::default();
        kw.set("BEAMKV   -kV", "100".into());
        kw.set_keyword("BEAMKV", "200.0".into());
        assert_eq!(kw.0, [("BEAMKV   -kV".to_string(), "200.0".to_string())]);
    }
}
