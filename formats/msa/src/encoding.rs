//! The text encodings of the `encoding` options. rsciio hands the name to Python's `open`,
//! so any Python codec works there; emio implements the ones MSA files are met in: Latin-1
//! (rsciio's default), UTF-8 with or without a byte-order mark, ASCII, the Windows code
//! pages 1250 (Central European), 1251 (Cyrillic) and 1252 (Western; what Windows tools
//! write when they say "ANSI"), and UTF-16 (with a byte-order mark, or either byte order).
//! Names are matched as Python matches them (case, `-`, `_` and spaces ignored the same
//! way; Python's aliases such as `latin1`, `iso-8859-1`, `utf8`, `windows-1252`). Decoding
//! replaces what is not valid with U+FFFD (Python's `errors="replace"`, rsciio's reader);
//! encoding drops the characters the encoding cannot hold (`errors="ignore"`, rsciio's
//! writer). Other names are refused with the list of these.

use emio_core::{Error, Result};

/// A supported text encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// ISO 8859-1: every byte is the code point of the same value.
    Latin1,
    /// UTF-8; a leading byte-order mark is kept as U+FEFF (Python's `utf-8`).
    Utf8,
    /// UTF-8 with a byte-order mark: skipped when reading, written first.
    Utf8Sig,
    /// 7-bit ASCII.
    Ascii,
    /// Windows-1250.
    Cp1250,
    /// Windows-1251.
    Cp1251,
    /// Windows-1252.
    Cp1252,
    /// UTF-16 with a byte-order mark (little-endian without one, and when writing).
    Utf16,
    /// UTF-16 little-endian, no byte-order mark.
    Utf16Le,
    /// UTF-16 big-endian, no byte-order mark.
    Utf16Be,
}

/// The canonical names (Python's spelling) of the supported encodings, for messages.
pub const NAMES: &str =
    "latin-1, utf-8, utf-8-sig, ascii, cp1250, cp1251, cp1252, utf-16, utf-16-le, utf-16-be";

/// Python's codec names and aliases, normalized, of each encoding.
const ALIASES: &[(Encoding, &[&str])] = &[
    (
        Encoding::Latin1,
        &[
            "latin_1",
            "latin1",
            "latin",
            "l1",
            "8859",
            "cp819",
            "csisolatin1",
            "ibm819",
            "iso8859",
            "iso8859_1",
            "iso_8859_1",
            "iso_8859_1_1987",
            "iso_ir_100",
        ],
    ),
    (
        Encoding::Utf8,
        &[
            "utf_8",
            "utf8",
            "u8",
            "utf",
            "cp65001",
            "utf8_ucs2",
            "utf8_ucs4",
        ],
    ),
    (Encoding::Utf8Sig, &["utf_8_sig"]),
    (
        Encoding::Ascii,
        &[
            "ascii",
            "646",
            "us",
            "us_ascii",
            "csascii",
            "cp367",
            "ibm367",
            "iso646_us",
            "iso_ir_6",
            "ansi_x3.4_1968",
            "ansi_x3_4_1968",
            "ansi_x3.4_1986",
            "iso_646.irv_1991",
        ],
    ),
    (Encoding::Cp1250, &["cp1250", "windows_1250", "1250"]),
    (Encoding::Cp1251, &["cp1251", "windows_1251", "1251"]),
    (Encoding::Cp1252, &["cp1252", "windows_1252", "1252"]),
    (Encoding::Utf16, &["utf_16", "utf16", "u16"]),
    (
        Encoding::Utf16Le,
        &["utf_16_le", "utf_16le", "unicodelittleunmarked"],
    ),
    (
        Encoding::Utf16Be,
        &["utf_16_be", "utf_16be", "unicodebigunmarked"],
    ),
];

/// Python's `encodings.normalize_encoding` of a lowercased name: runs of characters other
/// than letters, digits and `.` become one `_`, none at either end.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut punct = false;
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            if punct && !out.is_empty() {
                out.push('_');
            }
            out.push(c);
            punct = false;
        } else {
            punct = true;
        }
    }
    out
}

impl Encoding {
    /// The encoding Python would find for `name`, when it is one of the supported ones.
    pub fn from_name(name: &str) -> Option<Encoding> {
        let key = normalize(name);
        ALIASES
            .iter()
            .find(|(_, names)| names.contains(&key.as_str()))
            .map(|(e, _)| *e)
    }

    /// The encoding an `encoding` option names; a name that is not one of the supported
    /// encodings is an invalid option listing them.
    pub fn from_option(name: &str) -> Result<Encoding> {
        Encoding::from_name(name).ok_or_else(|| {
            Error::invalid_option(
                "encoding",
                format!(
                    "{name:?} is not an encoding emio reads and writes MSA text in ({NAMES}, \
                     or Python's aliases of them)"
                ),
            )
        })
    }

    /// The 128 characters of bytes 0x80–0xFF of a Windows code page.
    fn high_half(self) -> Option<&'static [u16; 128]> {
        match self {
            Encoding::Cp1250 => Some(&CP1250),
            Encoding::Cp1251 => Some(&CP1251),
            Encoding::Cp1252 => Some(&CP1252),
            _ => None,
        }
    }

    /// `bytes` as text; what is not valid in the encoding becomes U+FFFD.
    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Encoding::Utf8Sig => {
                String::from_utf8_lossy(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes))
                    .into_owned()
            }
            Encoding::Latin1 => emio_core::latin1::latin1(bytes),
            Encoding::Ascii => bytes
                .iter()
                .map(|&b| if b < 0x80 { char::from(b) } else { '\u{FFFD}' })
                .collect(),
            Encoding::Cp1250 | Encoding::Cp1251 | Encoding::Cp1252 => {
                let high = self.high_half().expect("a code page");
                bytes
                    .iter()
                    .map(|&b| match b {
                        0..=0x7f => char::from(b),
                        _ => char::from_u32(u32::from(high[usize::from(b - 0x80)]))
                            .unwrap_or('\u{FFFD}'),
                    })
                    .collect()
            }
            Encoding::Utf16 => match bytes {
                [0xff, 0xfe, rest @ ..] => decode_utf16(rest, false),
                [0xfe, 0xff, rest @ ..] => decode_utf16(rest, true),
                _ => decode_utf16(bytes, false),
            },
            Encoding::Utf16Le => decode_utf16(bytes, false),
            Encoding::Utf16Be => decode_utf16(bytes, true),
        }
    }

    /// The byte-order mark Python writes at the start of a file: for `utf-8-sig` and
    /// `utf-16` (little-endian); none for the others.
    pub fn byte_order_mark(self) -> &'static [u8] {
        match self {
            Encoding::Utf8Sig => b"\xef\xbb\xbf",
            Encoding::Utf16 => b"\xff\xfe",
            _ => b"",
        }
    }

    /// `text` in the encoding, without the characters it cannot hold (and without a
    /// byte-order mark: see [`Encoding::byte_order_mark`]).
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 | Encoding::Utf8Sig => text.as_bytes().to_vec(),
            Encoding::Latin1 => text
                .chars()
                .filter_map(|c| u8::try_from(u32::from(c)).ok())
                .collect(),
            Encoding::Ascii => text
                .chars()
                .filter(char::is_ascii)
                .map(|c| c as u8)
                .collect(),
            Encoding::Cp1250 | Encoding::Cp1251 | Encoding::Cp1252 => {
                let high = self.high_half().expect("a code page");
                text.chars()
                    .filter_map(|c| {
                        if c.is_ascii() {
                            return Some(c as u8);
                        }
                        let code = u16::try_from(u32::from(c)).ok().filter(|&u| u != 0xFFFD)?;
                        let i = high.iter().position(|&h| h == code)?;
                        Some(0x80 + i as u8)
                    })
                    .collect()
            }
            Encoding::Utf16 | Encoding::Utf16Le => {
                text.encode_utf16().flat_map(u16::to_le_bytes).collect()
            }
            Encoding::Utf16Be => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        }
    }
}

/// UTF-16 code units (a trailing odd byte and unpaired surrogates become U+FFFD).
fn decode_utf16(bytes: &[u8], big_endian: bool) -> String {
    let units = bytes.chunks_exact(2).map(|p| {
        let pair = [p[0], p[1]];
        if big_endian {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    });
    let mut text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or('\u{FFFD}'))
        .collect();
    if bytes.len() % 2 == 1 {
        text.push('\u{FFFD}');
    }
    text
}

/// Characters of bytes 0x80–0xFF in cp1250 (Windows-1250); U+FFFD where it has none.
const CP1250: [u16; 128] = [
    0x20AC, 0xFFFD, 0x201A, 0xFFFD, 0x201E, 0x2026, 0x2020, 0x2021, 0xFFFD, 0x2030, 0x0160, 0x2039,
    0x015A, 0x0164, 0x017D, 0x0179, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0xFFFD, 0x2122, 0x0161, 0x203A, 0x015B, 0x0165, 0x017E, 0x017A, 0x00A0, 0x02C7, 0x02D8, 0x0141,
    0x00A4, 0x0104, 0x00A6, 0x00A7, 0x00A8, 0x00A9, 0x015E, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x017B,
    0x00B0, 0x00B1, 0x02DB, 0x0142, 0x00B4, 0x00B5, 0x00B6, 0x00B7, 0x00B8, 0x0105, 0x015F, 0x00BB,
    0x013D, 0x02DD, 0x013E, 0x017C, 0x0154, 0x00C1, 0x00C2, 0x0102, 0x00C4, 0x0139, 0x0106, 0x00C7,
    0x010C, 0x00C9, 0x0118, 0x00CB, 0x011A, 0x00CD, 0x00CE, 0x010E, 0x0110, 0x0143, 0x0147, 0x00D3,
    0x00D4, 0x0150, 0x00D6, 0x00D7, 0x0158, 0x016E, 0x00DA, 0x0170, 0x00DC, 0x00DD, 0x0162, 0x00DF,
    0x0155, 0x00E1, 0x00E2, 0x0103, 0x00E4, 0x013A, 0x0107, 0x00E7, 0x010D, 0x00E9, 0x0119, 0x00EB,
    0x011B, 0x00ED, 0x00EE, 0x010F, 0x0111, 0x0144, 0x0148, 0x00F3, 0x00F4, 0x0151, 0x00F6, 0x00F7,
    0x0159, 0x016F, 0x00FA, 0x0171, 0x00FC, 0x00FD, 0x0163, 0x02D9,
];

/// Characters of bytes 0x80–0xFF in cp1251 (Windows-1251); U+FFFD where it has none.
const CP1251: [u16; 128] = [
    0x0402, 0x0403, 0x201A, 0x0453, 0x201E, 0x2026, 0x2020, 0x2021, 0x20AC, 0x2030, 0x0409, 0x2039,
    0x040A, 0x040C, 0x040B, 0x040F, 0x0452, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0xFFFD, 0x2122, 0x0459, 0x203A, 0x045A, 0x045C, 0x045B, 0x045F, 0x00A0, 0x040E, 0x045E, 0x0408,
    0x00A4, 0x0490, 0x00A6, 0x00A7, 0x0401, 0x00A9, 0x0404, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x0407,
    0x00B0, 0x00B1, 0x0406, 0x0456, 0x0491, 0x00B5, 0x00B6, 0x00B7, 0x0451, 0x2116, 0x0454, 0x00BB,
    0x0458, 0x0405, 0x0455, 0x0457, 0x0410, 0x0411, 0x0412, 0x0413, 0x0414, 0x0415, 0x0416, 0x0417,
    0x0418, 0x0419, 0x041A, 0x041B, 0x041C, 0x041D, 0x041E, 0x041F, 0x0420, 0x0421, 0x0422, 0x0423,
    0x0424, 0x0425, 0x0426, 0x0427, 0x0428, 0x0429, 0x042A, 0x042B, 0x042C, 0x042D, 0x042E, 0x042F,
    0x0430, 0x0431, 0x0432, 0x0433, 0x0434, 0x0435, 0x0436, 0x0437, 0x0438, 0x0439, 0x043A, 0x043B,
    0x043C, 0x043D, 0x043E, 0x043F, 0x0440, 0x0441, 0x0442, 0x0443, 0x0444, 0x0445, 0x0446, 0x0447,
    0x0448, 0x0449, 0x044A, 0x044B, 0x044C, 0x044D, 0x044E, 0x044F,
];

/// Characters of bytes 0x80–0xFF in cp1252 (Windows-1252); U+FFFD where it has none.
const CP1252: [u16; 128] = [
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178, 0x00A0, 0x00A1, 0x00A2, 0x00A3,
    0x00A4, 0x00A5, 0x00A6, 0x00A7, 0x00A8, 0x00A9, 0x00AA, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x00AF,
    0x00B0, 0x00B1, 0x00B2, 0x00B3, 0x00B4, 0x00B5, 0x00B6, 0x00B7, 0x00B8, 0x00B9, 0x00BA, 0x00BB,
    0x00BC, 0x00BD, 0x00BE, 0x00BF, 0x00C0, 0x00C1, 0x00C2, 0x00C3, 0x00C4, 0x00C5, 0x00C6, 0x00C7,
    0x00C8, 0x00C9, 0x00CA, 0x00CB, 0x00CC, 0x00CD, 0x00CE, 0x00CF, 0x00D0, 0x00D1, 0x00D2, 0x00D3,
    0x00D4, 0x00D5, 0x00D6, 0x00D7, 0x00D8, 0x00D9, 0x00DA, 0x00DB, 0x00DC, 0x00DD, 0x00DE, 0x00DF,
    0x00E0, 0x00E1, 0x00E2, 0x00E3, 0x00E4, 0x00E5, 0x00E6, 0x00E7, 0x00E8, 0x00E9, 0x00EA, 0x00EB,
    0x00EC, 0x00ED, 0x00EE, 0x00EF, 0x00F0, 0x00F1, 0x00F2, 0x00F3, 0x00F4, 0x00F5, 0x00F6, 0x00F7,
    0x00F8, 0x00F9, 0x00FA, 0x00FB, 0x00FC, 0x00FD, 0x00FE, 0x00FF,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_python_finds_them() {
        assert_eq!(Encoding::from_name("latin-1"), Some(Encoding::Latin1));
        assert_eq!(Encoding::from_name("ISO-8859-1"), Some(Encoding::Latin1));
        assert_eq!(Encoding::from_name("UTF8"), Some(Encoding::Utf8));
        assert_eq!(Encoding::from_name("utf-8-sig"), Some(Encoding::Utf8Sig));
        assert_eq!(Encoding::from_name("Windows-1252"), Some(Encoding::Cp1252));
        assert_eq!(Encoding::from_name("utf_16le"), Some(Encoding::Utf16Le));
        assert_eq!(Encoding::from_name("shift_jis"), None);
        assert_eq!(Encoding::from_name(""), None);
    }

    #[test]
    fn decodes_like_python_with_replace() {
        assert_eq!(Encoding::Latin1.decode(&[0xb5, b'm']), "µm");
        assert_eq!(Encoding::Ascii.decode(&[0xb5]), "\u{FFFD}");
        assert_eq!(
            Encoding::Cp1252.decode(&[0x80, 0x96, 0xb5, 0x81]),
            "€–µ\u{FFFD}"
        );
        assert_eq!(Encoding::Cp1250.decode(&[0x8a, 0xe8]), "Šč");
        assert_eq!(Encoding::Cp1251.decode(&[0xcc, 0xea]), "Мк");
        assert_eq!(Encoding::Utf8.decode(b"\xef\xbb\xbf#A"), "\u{FEFF}#A");
        assert_eq!(Encoding::Utf8Sig.decode(b"\xef\xbb\xbf#A"), "#A");
        assert_eq!(
            Encoding::Utf16.decode(&[0xfe, 0xff, 0, b'#', 0, b'A']),
            "#A"
        );
        assert_eq!(Encoding::Utf16.decode(&[b'#', 0, 0xac, 0x20]), "#€");
        assert_eq!(
            Encoding::Utf16Le.decode(&[0x00, 0xd8, b'A', 0]),
            "\u{FFFD}A"
        );
        assert_eq!(Encoding::Utf16Le.decode(&[b'A', 0, b'x']), "A\u{FFFD}");
    }

    #[test]
    fn encodes_like_python_with_ignore() {
        let all = [
            Encoding::Latin1,
            Encoding::Utf8,
            Encoding::Utf8Sig,
            Encoding::Ascii,
            Encoding::Cp1250,
            Encoding::Cp1251,
            Encoding::Cp1252,
            Encoding::Utf16,
            Encoding::Utf16Le,
            Encoding::Utf16Be,
        ];
        for e in all {
            let text = "#TITLE: x, 1.5e-3\r\n";
            let mut file = e.byte_order_mark().to_vec();
            file.extend(e.encode(text));
            assert_eq!(e.decode(&file), text, "{e:?}");
        }
        assert_eq!(Encoding::Latin1.encode("µ→"), [0xb5]);
        assert_eq!(Encoding::Ascii.encode("µ"), b"");
        assert_eq!(Encoding::Cp1252.encode("€µ→\u{FFFD}"), [0x80, 0xb5]);
        assert_eq!(
            Encoding::Cp1251.decode(&Encoding::Cp1251.encode("Мк µ")),
            "Мк µ"
        );
        assert_eq!(Encoding::Utf16.byte_order_mark(), [0xff, 0xfe]);
        assert_eq!(Encoding::Utf16.encode("A"), [b'A', 0]);
    }
}
