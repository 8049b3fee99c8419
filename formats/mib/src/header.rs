//! Structure of Merlin MIB files: the ASCII per-frame header (`MQ1,...`) and the `.hdr`
//! acquisition companion, as pure functions over bytes.
//!
//! A frame header is a comma-separated record padded to its declared length (384 bytes for
//! one chip, 768 for a quad):
//!
//! ```text
//! MQ1, sequence, header length, chips, columns, rows, pixel type (U08/U16/U32/R64),
//! sensor layout (1x1, 2x2, 2x2G, Nx1), chip select (hex), local time, shutter time (s),
//! counter, colour mode, gain mode, 8 thresholds (keV), per chip "3RX" + 27 DACs,
//! MQ1A, UTC timestamp (ISO, ns), exposure ("<n>ns"), counter depth, padding
//! ```

use emio_core::{Error, Result};

const FORMAT: &str = "mib";

/// Largest header length accepted (real files use 384 or 768 bytes).
pub const MAX_HEADER_LEN: u64 = 1 << 16;

/// How pixels are stored after each header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelType {
    /// Processed big-endian counts of 1, 2 or 4 bytes (`U08`, `U16`, `U32`).
    Unsigned(u8),
    /// RAW counter data (`R64`): 64-bit words straight from the Medipix read-out, bit-packed
    /// by counter depth, with chip rows interleaved on quads.
    Raw,
}

impl PixelType {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "U08" => Some(PixelType::Unsigned(1)),
            "U16" => Some(PixelType::Unsigned(2)),
            "U32" => Some(PixelType::Unsigned(4)),
            "R64" => Some(PixelType::Raw),
            _ => None,
        }
    }
}

/// One parsed frame header.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameHeader {
    /// Frame sequence number (1-based).
    pub sequence: u64,
    /// Bytes of the header, i.e. offset of the pixels from the frame start.
    pub header_len: u64,
    /// Number of chips read out.
    pub chips: u64,
    /// Columns as written in the header.
    pub columns: u64,
    /// Rows as written in the header.
    pub rows: u64,
    /// Raw pixel type text (`U08`, `R64`, ...).
    pub pixel_text: String,
    /// Decoded pixel type.
    pub pixel: PixelType,
    /// Sensor layout text, trimmed (`1x1`, `2x2`, `2x2G`, `Nx1`).
    pub layout: String,
    /// Every comma-separated field, trimmed, padding dropped.
    pub fields: Vec<String>,
    /// Index of the `MQ1A` extension marker in `fields`, when present.
    extension: Option<usize>,
}

impl FrameHeader {
    /// Local acquisition time (`YYYY-MM-DD HH:MM:SS.ffffff`).
    pub fn local_time(&self) -> Option<&str> {
        self.fields.get(9).map(String::as_str)
    }

    /// Shutter-open time in seconds.
    pub fn shutter_time(&self) -> Option<f64> {
        self.fields.get(10).and_then(|s| s.parse().ok())
    }

    /// Counter, colour mode and gain mode.
    pub fn modes(&self) -> [Option<&str>; 3] {
        [11, 12, 13].map(|i| self.fields.get(i).map(String::as_str))
    }

    /// The eight thresholds in keV.
    pub fn thresholds(&self) -> Vec<f64> {
        self.fields
            .iter()
            .skip(14)
            .take(8)
            .filter_map(|s| s.parse().ok())
            .collect()
    }

    /// Per chip: the chip type (`3RX`) and its DAC values.
    pub fn dacs(&self) -> Vec<(String, Vec<String>)> {
        let end = self.extension.unwrap_or(self.fields.len());
        let mut out = Vec::new();
        let mut i = 22;
        while i < end {
            let next = (i + 28).min(end);
            out.push((self.fields[i].clone(), self.fields[i + 1..next].to_vec()));
            i = next;
        }
        out
    }

    fn extension_field(&self, k: usize) -> Option<&str> {
        self.extension
            .and_then(|i| self.fields.get(i + k))
            .map(String::as_str)
    }

    /// UTC timestamp (`YYYY-MM-DDTHH:MM:SS.fffffffffZ`) of extended headers.
    pub fn timestamp(&self) -> Option<&str> {
        self.extension_field(1)
    }

    /// Exposure in nanoseconds (`100000000ns`).
    pub fn exposure_ns(&self) -> Option<f64> {
        self.extension_field(2)
            .and_then(|s| s.strip_suffix("ns"))
            .and_then(|s| s.trim().parse().ok())
    }

    /// Counter depth in bits (1, 6, 12, 24).
    pub fn counter_depth(&self) -> Option<u32> {
        self.extension_field(3).and_then(|s| s.parse().ok())
    }
}

fn field_u64(fields: &[&str], i: usize, what: &str, offset: u64) -> Result<u64> {
    fields
        .get(i)
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| Error::malformed(FORMAT, offset, format!("{what} (header field {i})")))
}

/// The header length a frame header starting at `bytes` declares (field 2), checked.
pub fn header_len(bytes: &[u8], offset: u64) -> Result<u64> {
    if !bytes.starts_with(b"MQ1,") {
        return Err(Error::malformed(
            FORMAT,
            offset,
            "a frame header starting with \"MQ1,\"",
        ));
    }
    let head = &bytes[..bytes.len().min(64)];
    let text = String::from_utf8_lossy(head);
    let fields: Vec<&str> = text.split(',').collect();
    if fields.len() < 4 {
        return Err(Error::malformed(
            FORMAT,
            offset,
            "header fields MQ1,sequence,length",
        ));
    }
    let len = field_u64(&fields, 2, "the header length", offset)?;
    if !(64..=MAX_HEADER_LEN).contains(&len) {
        return Err(Error::malformed(
            FORMAT,
            offset,
            format!("a header length between 64 and {MAX_HEADER_LEN}, found {len}"),
        ));
    }
    Ok(len)
}

/// Parse the frame header at the start of `bytes` (which must hold the whole header).
/// `offset` is where it lies in the file, for errors.
pub fn parse_frame_header(bytes: &[u8], offset: u64) -> Result<FrameHeader> {
    let len = header_len(bytes, offset)?;
    let Some(head) = bytes.get(..len as usize) else {
        return Err(Error::malformed(
            FORMAT,
            offset,
            format!("a {len}-byte frame header, the file ends first"),
        ));
    };
    let text = String::from_utf8_lossy(head);
    let raw: Vec<&str> = text.split(',').collect();
    let bad = |what: &str| Error::malformed(FORMAT, offset, what.to_string());
    if raw.len() < 8 {
        return Err(bad("at least 8 comma-separated header fields"));
    }
    let sequence = field_u64(&raw, 1, "the frame sequence number", offset)?;
    let chips = field_u64(&raw, 3, "the number of chips", offset)?;
    let columns = field_u64(&raw, 4, "the number of columns", offset)?;
    let rows = field_u64(&raw, 5, "the number of rows", offset)?;
    let pixel_text = raw[6].trim().to_string();
    let pixel = PixelType::parse(&pixel_text).ok_or_else(|| {
        if pixel_text == "U01" || pixel_text == "U64" {
            Error::unsupported(FORMAT, format!("pixel type {pixel_text}"))
        } else {
            bad("a pixel type U08, U16, U32 or R64 (header field 6)")
        }
    })?;
    if columns == 0 || rows == 0 || columns > 1 << 16 || rows > 1 << 16 {
        return Err(bad("frame dimensions between 1 and 65536"));
    }
    let fields: Vec<String> = raw
        .iter()
        .map(|s| s.trim_matches(|c: char| c == '\0' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let extension = fields.iter().position(|f| f == "MQ1A");
    Ok(FrameHeader {
        sequence,
        header_len: len,
        chips,
        columns,
        rows,
        pixel_text,
        pixel,
        layout: raw[7].trim().to_string(),
        fields,
        extension,
    })
}

/// Parse a `.hdr` companion: `key:\tvalue` lines between `HDR,` and `End`, keys without the
/// trailing colon, in file order. Lines without a tab are skipped.
pub fn parse_hdr(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.starts_with("HDR") && !line.starts_with("End\t"))
        .filter_map(|line| {
            let (k, v) = line.split_once('\t')?;
            Some((
                k.trim_end_matches(':').to_string(),
                v.trim_end_matches(['\r', '\n']).to_string(),
            ))
        })
        .collect()
}

/// Finds the UTC timestamp field (after `MQ1A,`) of frame headers without parsing the
/// other fields (the fly-back detection reads a scan line's headers). The headers of one
/// file put it at the same place, so after the first search each header costs a
/// comparison: the place is checked, and searched again where it does not hold.
#[derive(Debug, Default)]
pub struct TimestampField {
    /// Where the previous header's field started.
    at: Option<usize>,
}

impl TimestampField {
    /// The field of the frame header at the start of `bytes` (its first `header_len` bytes).
    pub fn find<'a>(&mut self, bytes: &'a [u8], header_len: usize) -> Option<&'a str> {
        const MARKER: &[u8] = b"MQ1A,";
        let head = bytes.get(..header_len)?;
        let at = match self.at {
            Some(at) if at >= MARKER.len() && head.get(at - MARKER.len()..at) == Some(MARKER) => at,
            _ => head.windows(MARKER.len()).position(|w| w == MARKER)? + MARKER.len(),
        };
        self.at = Some(at);
        let rest = &head[at..];
        let end = rest.iter().position(|&b| b == b',')?;
        std::str::from_utf8(&rest[..end]).ok()
    }
}

/// Nanoseconds since 1970 of an ISO timestamp `YYYY-MM-DDTHH:MM:SS[.f]`, every field
/// zero-padded (a trailing `Z` is ignored; digits of the fraction past the ninth are too),
/// as the fly-back detection needs; `None` for any other text or a time outside `i64`
/// nanoseconds.
///
/// Parsed by hand: open reads the header of every frame of a scan line, and a general
/// date parser (chrono's) was the largest remaining cost of open (issue 21).
pub fn timestamp_ns(text: &str) -> Option<i64> {
    let b = text.trim().trim_end_matches('Z').as_bytes();
    let (stamp, fraction) = b.split_at_checked(19)?;
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| stamp[i] != c) {
        return None;
    }
    let number = |digits: &[u8]| -> Option<i64> {
        digits.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let field = |at: usize, len: usize| number(&stamp[at..at + len]);
    let (year, month, day) = (field(0, 4)?, field(5, 2)?, field(8, 2)?);
    let (hour, minute, second) = (field(11, 2)?, field(14, 2)?, field(17, 2)?);
    // Second 60 is a leap second, as chrono reads it.
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60;
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() => {
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let kept = &digits[..digits.len().min(9)];
            number(kept)? * 10i64.pow(9 - kept.len() as u32)
        }
        _ => return None,
    };
    if !valid {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    // Before 1970 the fraction is taken from the next whole second, so that the instant
    // just after i64's earliest nanosecond still fits.
    let (seconds, nanos) = if seconds < 0 && nanos > 0 {
        (seconds + 1, nanos - 1_000_000_000)
    } else {
        (seconds, nanos)
    };
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days in `month` (1-12) of the proleptic Gregorian `year`.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a valid proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`: years counted from March, in 400-year eras).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINGLE: &str = "MQ1,000001,00384,01,0256,0256,U08,   1x1,01,2021-05-07 18:51:10.905800,0.100000,0,0,0,4.000000E+1,5.110000E+2,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,0.000000E+0,3RX,068,511,000,000,000,000,000,000,100,255,100,125,100,100,080,100,090,030,128,004,255,126,128,174,172,511,511,MQ1A,2021-05-07T16:51:10.905800928Z,100000000ns,6,";

    fn padded(text: &str, len: usize) -> Vec<u8> {
        let mut b = text.as_bytes().to_vec();
        b.resize(len, b' ');
        b
    }

    #[test]
    fn parses_a_single_chip_header() {
        let h = parse_frame_header(&padded(SINGLE, 384), 0).unwrap();
        assert_eq!((h.sequence, h.header_len, h.chips), (1, 384, 1));
        assert_eq!((h.columns, h.rows), (256, 256));
        assert_eq!(h.pixel, PixelType::Unsigned(1));
        assert_eq!(h.layout, "1x1");
        assert_eq!(h.timestamp(), Some("2021-05-07T16:51:10.905800928Z"));
        assert_eq!(h.exposure_ns(), Some(1e8));
        assert_eq!(h.counter_depth(), Some(6));
        assert_eq!(h.thresholds()[..2], [40.0, 511.0]);
        let dacs = h.dacs();
        assert_eq!(dacs.len(), 1);
        assert_eq!(dacs[0].0, "3RX");
        assert_eq!(dacs[0].1.len(), 27);
        assert_eq!(h.shutter_time(), Some(0.1));
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(parse_frame_header(b"XQ1,000001,00384", 0).is_err());
        assert!(parse_frame_header(&padded(SINGLE, 100), 0).is_err());
        let huge = SINGLE.replace("00384", "99999999");
        assert!(parse_frame_header(&padded(&huge, 384), 0).is_err());
        let bad_type = SINGLE.replace("U08", "X08");
        assert!(parse_frame_header(&padded(&bad_type, 384), 0).is_err());
        let zero = SINGLE.replace(",0256,0256,", ",0000,0256,");
        assert!(parse_frame_header(&padded(&zero, 384), 0).is_err());
    }

    #[test]
    fn parses_hdr_and_timestamps() {
        let hdr = parse_hdr("HDR,\t\r\nFrames in Acquisition (Number):\t8\r\nNo tab\nEnd\t   ");
        assert_eq!(
            hdr,
            vec![("Frames in Acquisition (Number)".into(), "8".into())]
        );
        let a = timestamp_ns("2021-05-07T16:51:10.905800928Z").unwrap();
        let b = timestamp_ns("2021-05-07T16:51:11.005800929Z").unwrap();
        assert_eq!(b - a, 100_000_001);
        assert!(timestamp_ns("garbage").is_none());
        for bad in [
            "2021-13-07T16:51:10Z",
            "2021-02-29T16:51:10",
            "2021-05-07 16:51:10",
            "2021-05-07T24:00:00",
            "2021-05-07T16:51:10.",
            "2021-05-07T16:51:10.5x",
            // A fraction longer than an i64's digits (a fuzzer's find: it overflowed).
            "1970-01-01T00:00:00.0000000000000000000000000000000001",
            "1970-01-01T00:00:00.99999999999999999999999x",
        ] {
            assert_eq!(timestamp_ns(bad), chrono_ns(bad), "{bad}");
        }
        let h = padded(SINGLE, 384);
        let mut field = TimestampField::default();
        assert_eq!(field.find(&h, 384), Some("2021-05-07T16:51:10.905800928Z"));
        // The next header at the same place, then one whose field moved (searched again).
        let next = padded(&SINGLE.replace("10.905800928Z", "10.905800929Z"), 384);
        assert_eq!(
            field.find(&next, 384),
            Some("2021-05-07T16:51:10.905800929Z")
        );
        let moved = padded(&SINGLE.replace(",MQ1A,", ",0,MQ1A,"), 384);
        assert_eq!(
            field.find(&moved, 384),
            Some("2021-05-07T16:51:10.905800928Z")
        );
        assert_eq!(TimestampField::default().find(&h, 100), None);
        assert_eq!(field.find(&h, 100), None);
    }

    /// What chrono makes of a timestamp (the parser `timestamp_ns` replaced).
    fn chrono_ns(text: &str) -> Option<i64> {
        let text = text.trim().trim_end_matches('Z');
        let t = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
        t.and_utc().timestamp_nanos_opt()
    }

    proptest::proptest! {
        /// Any valid timestamp (every day of years 1600-2400, fractions of 0-40 digits, past
        /// what an `i64` holds, with or without `Z`) reads as chrono reads it.
        #[test]
        fn timestamps_read_as_chrono_reads_them(
            days in -135_000i64..157_000,
            second in 0i64..86_400,
            fraction in proptest::option::of("[0-9]{1,40}"),
            zulu in proptest::bool::ANY,
        ) {
            let t = chrono::DateTime::from_timestamp(days * 86_400 + second, 0).unwrap();
            let text = format!(
                "{}{}{}",
                t.format("%Y-%m-%dT%H:%M:%S"),
                fraction.map(|f| format!(".{f}")).unwrap_or_default(),
                if zulu { "Z" } else { "" }
            );
            proptest::prop_assert_eq!(timestamp_ns(&text), chrono_ns(&text), "{}", text);
        }
    }
}
