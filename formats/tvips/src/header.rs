//! The TVIPS recorder's binary structures: the 256-byte general header at the start of the
//! first file and the header before every frame (12 bytes in version 1; 60 bytes plus any
//! extra bytes the general header declares in version 2). All little-endian.

use emio_core::metadata::{json_f64, Tree};
use emio_core::{Error, Result};
use serde_json::Value;

use crate::FORMAT;

/// Size of the general header.
pub const HEADER_LEN: usize = 256;
/// Bytes of a version-2 frame header's known fields.
pub const FRAME_HEADER_V2: usize = 60;
/// Bytes of a version-1 frame header (number, seconds, milliseconds).
pub const FRAME_HEADER_V1: usize = 12;

/// Names of the general header's 13 u32 fields, in order (then 204 bytes of padding).
const FIELDS: [&str; 13] = [
    "size",
    "version",
    "dimx",
    "dimy",
    "bitsperpixel",
    "offsetx",
    "offsety",
    "binx",
    "biny",
    "pixelsize",
    "ht",
    "magtotal",
    "frameheaderbytes",
];

/// The general header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The 13 u32 fields, in `FIELDS` order.
    pub fields: [u32; 13],
    /// The padding text (`TVIPS TVIPS ...`).
    pub dummy: Vec<u8>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

impl Header {
    /// Parse and validate the general header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < HEADER_LEN {
            return Err(Error::malformed(
                FORMAT,
                0,
                format!(
                    "a {HEADER_LEN}-byte general header, found {} bytes",
                    bytes.len()
                ),
            ));
        }
        let mut fields = [0u32; 13];
        for (i, f) in fields.iter_mut().enumerate() {
            *f = u32_at(bytes, 4 * i);
        }
        let h = Header {
            fields,
            dummy: bytes[52..HEADER_LEN].to_vec(),
        };
        let bad = |at: u64, what: String| Err(Error::malformed(FORMAT, at, what));
        if !(HEADER_LEN as u32..=1 << 20).contains(&h.size()) {
            return bad(
                0,
                format!("a header size of 256 to 1 MiB, found {}", h.size()),
            );
        }
        if !matches!(h.version(), 1 | 2) {
            return bad(4, format!("version 1 or 2, found {}", h.version()));
        }
        if h.dimx() == 0 || h.dimy() == 0 || h.dimx() > 1 << 16 || h.dimy() > 1 << 16 {
            return bad(
                8,
                format!("frame sizes of 1 to 65536, found {}×{}", h.dimx(), h.dimy()),
            );
        }
        if !matches!(h.bits(), 8 | 16 | 32) {
            return bad(
                16,
                format!("8, 16 or 32 bits per pixel, found {}", h.bits()),
            );
        }
        if h.version() == 2 && !(FRAME_HEADER_V2 as u32..=1 << 20).contains(&h.frame_header_bytes())
        {
            return bad(
                48,
                format!(
                    "frame headers of 60 bytes to 1 MiB, found {}",
                    h.frame_header_bytes()
                ),
            );
        }
        Ok(h)
    }

    /// Field by name.
    pub fn field(&self, name: &str) -> u32 {
        FIELDS
            .iter()
            .position(|f| *f == name)
            .map_or(0, |i| self.fields[i])
    }
    /// Bytes before the first frame of the first file.
    pub fn size(&self) -> u32 {
        self.fields[0]
    }
    /// Format version (1 or 2).
    pub fn version(&self) -> u32 {
        self.fields[1]
    }
    /// Frame width.
    pub fn dimx(&self) -> u32 {
        self.fields[2]
    }
    /// Frame height.
    pub fn dimy(&self) -> u32 {
        self.fields[3]
    }
    /// Bits per pixel.
    pub fn bits(&self) -> u32 {
        self.fields[4]
    }
    /// Declared frame header size (version 2).
    pub fn frame_header_bytes(&self) -> u32 {
        self.fields[12]
    }

    /// Bytes of each frame's header.
    pub fn frame_header_len(&self) -> u64 {
        if self.version() == 1 {
            FRAME_HEADER_V1 as u64
        } else {
            u64::from(self.frame_header_bytes())
        }
    }

    /// Bytes of one frame's pixels.
    pub fn frame_bytes(&self) -> u64 {
        u64::from(self.dimx()) * u64::from(self.dimy()) * u64::from(self.bits() / 8)
    }

    /// Bytes of one frame record (header + pixels).
    pub fn record_len(&self) -> u64 {
        self.frame_header_len() + self.frame_bytes()
    }

    /// The header as rsciio's `tvips_header` original metadata.
    pub fn to_tree(&self) -> Tree {
        let mut t: Tree = FIELDS
            .iter()
            .zip(self.fields)
            .map(|(k, v)| (k.to_string(), Value::from(v)))
            .collect();
        let end = self
            .dummy
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        t.insert(
            "dummy".into(),
            Value::String(String::from_utf8_lossy(&self.dummy[..end]).into_owned()),
        );
        t
    }

    /// Encode a header (the writer's).
    pub fn encode(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.fields.iter().flat_map(|f| f.to_le_bytes()).collect();
        out.extend_from_slice(&self.dummy);
        out.resize(HEADER_LEN, 0);
        out
    }
}

/// One frame's header. Version-1 headers hold only `num`, `timestamp` and `ms`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FrameHeader {
    /// Frame number (tends to cycle).
    pub num: u32,
    /// Seconds since 1970-01-01 UTC.
    pub timestamp: u32,
    /// Milliseconds to add to `timestamp`.
    pub ms: u32,
    /// Colour lookup table index.
    pub lut_index: u32,
    /// Beam current.
    pub fcurrent: f32,
    /// Magnification.
    pub mag: u32,
    /// 1 imaging, 2 diffraction.
    pub mode: u32,
    /// Stage x, y, z, alpha, beta.
    pub stage: [f32; 5],
    /// Scan rotator index (1-based position in the scan).
    pub rotidx: u32,
    /// Temperature.
    pub temperature: f32,
    /// Objective (defocus).
    pub objective: f32,
}

impl FrameHeader {
    /// Parse a frame header of `version` from the start of `bytes` (long enough).
    pub fn parse(bytes: &[u8], version: u32) -> Self {
        let mut h = FrameHeader {
            num: u32_at(bytes, 0),
            timestamp: u32_at(bytes, 4),
            ms: u32_at(bytes, 8),
            ..FrameHeader::default()
        };
        if version >= 2 {
            h.lut_index = u32_at(bytes, 12);
            h.fcurrent = f32_at(bytes, 16);
            h.mag = u32_at(bytes, 20);
            h.mode = u32_at(bytes, 24);
            for (i, s) in h.stage.iter_mut().enumerate() {
                *s = f32_at(bytes, 28 + 4 * i);
            }
            h.rotidx = u32_at(bytes, 48);
            h.temperature = f32_at(bytes, 52);
            h.objective = f32_at(bytes, 56);
        }
        h
    }

    /// Encode as `version` (12 or 60 bytes).
    pub fn encode(&self, version: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRAME_HEADER_V2);
        for v in [self.num, self.timestamp, self.ms] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        if version >= 2 {
            out.extend_from_slice(&self.lut_index.to_le_bytes());
            out.extend_from_slice(&self.fcurrent.to_le_bytes());
            out.extend_from_slice(&self.mag.to_le_bytes());
            out.extend_from_slice(&self.mode.to_le_bytes());
            for s in self.stage {
                out.extend_from_slice(&s.to_le_bytes());
            }
            out.extend_from_slice(&self.rotidx.to_le_bytes());
            out.extend_from_slice(&self.temperature.to_le_bytes());
            out.extend_from_slice(&self.objective.to_le_bytes());
        }
        out
    }

    /// The acquisition time in seconds (rsciio's `timestamp + ms / 1000`).
    pub fn seconds(&self) -> f64 {
        f64::from(self.timestamp) + f64::from(self.ms) / 1000.0
    }

    /// Float fields as JSON numbers.
    pub fn stage_json(&self, i: usize) -> Value {
        json_f64(f64::from(self.stage[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_are_validated() {
        let mut fields = [0u32; 13];
        fields[..5].copy_from_slice(&[256, 2, 3, 4, 16]);
        fields[12] = 64;
        let h = Header {
            fields,
            dummy: b"TVIPS".to_vec(),
        };
        let bytes = h.encode();
        let back = Header::parse(&bytes).unwrap();
        assert_eq!(back.record_len(), 64 + 24);
        assert_eq!(back.to_tree()["dummy"], "TVIPS");
        for (at, value) in [(4, 3u32), (16, 12), (8, 0), (48, 12), (0, 10)] {
            let mut bad = bytes.clone();
            bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
            assert!(Header::parse(&bad).is_err(), "field at {at} = {value}");
        }
        assert!(Header::parse(&bytes[..100]).is_err());
        let f = FrameHeader {
            timestamp: 5,
            ms: 250,
            rotidx: 3,
            stage: [1.0, 2.0, 3.0, 4.0, 5.0],
            ..FrameHeader::default()
        };
        assert_eq!(FrameHeader::parse(&f.encode(2), 2), f);
        assert_eq!(f.encode(1).len(), FRAME_HEADER_V1);
        assert_eq!(FrameHeader::parse(&f.encode(1), 1).seconds(), 5.25);
    }
}
