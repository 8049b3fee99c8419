//! Structure of NanoMegas blockfiles: the fixed little-endian header at the start of every
//! `.blo` file, parsed and written as pure functions over bytes.
//!
//! Layout (240 bytes, then a free-text note up to `Data_offset_1`):
//!
//! ```text
//! 0    ID "IMGBLO"        6    MAGIC u16 (0x0102)  8   Data_offset_1 u32 (virtual image)
//! 12   Data_offset_2 u32 (frames)                  16  UNKNOWN1 u32
//! 20   DP_SZ u16          22   DP_rotation u16     24  NX u16   26 NY u16
//! 28   Scan_rotation u16 (1/100 degree)            30  SX f64 (nm)  38 SY f64 (nm)
//! 46   Beam_energy u32 (V)  50 SDP u16 (100 × pixels per cm)  52 Camera_length u32
//! 56   Acquisition_time f64 (serial date: days since 1899-12-30)
//! 64   Centering_N0..N7 f64   128 Distortion_N00..N13 f64
//! ```
//!
//! Each frame is stored as `AA 55`, a u32 frame number, then `DP_SZ²` u8 pixels.

use emio_core::{Error, Result};
use serde_json::{json, Value};

const FORMAT: &str = "blo";

/// The file signature.
pub const MAGIC_ID: &[u8; 6] = b"IMGBLO";
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 240;
/// Bytes before each frame's pixels (`AA 55` and a u32 frame number).
pub const FRAME_PREFIX: u64 = 6;

/// The fixed blockfile header.
#[derive(Debug, Clone, PartialEq)]
pub struct BloHeader {
    /// Signature (0x0102 in known files).
    pub magic: u16,
    /// Offset of the virtual bright-field image (NX × NY u8).
    pub data_offset_1: u32,
    /// Offset of the first frame record.
    pub data_offset_2: u32,
    /// Flags of the ASTAR software.
    pub unknown1: u32,
    /// Side of the square diffraction patterns in pixels.
    pub dp_sz: u16,
    /// Pattern rotation.
    pub dp_rotation: u16,
    /// Scan columns.
    pub nx: u16,
    /// Scan rows.
    pub ny: u16,
    /// Scan rotation, 1/100 degree.
    pub scan_rotation: u16,
    /// Scan step along x, nm.
    pub sx: f64,
    /// Scan step along y, nm.
    pub sy: f64,
    /// Beam energy, V.
    pub beam_energy: u32,
    /// Pattern calibration, 100 × pixels per cm.
    pub sdp: u16,
    /// Camera length, 0.1 mm.
    pub camera_length: u32,
    /// Acquisition time as a serial date (days since 1899-12-30 UTC).
    pub acquisition_time: f64,
    /// Centering coefficients.
    pub centering: [f64; 8],
    /// Distortion coefficients.
    pub distortion: [f64; 14],
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn f64_at(b: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl BloHeader {
    /// Parse the header at the start of a file.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if !bytes.starts_with(MAGIC_ID) {
            return Err(Error::malformed(FORMAT, 0, "the signature \"IMGBLO\""));
        }
        if bytes.len() < HEADER_LEN {
            return Err(Error::malformed(
                FORMAT,
                bytes.len() as u64,
                format!("a {HEADER_LEN}-byte header, the file ends first"),
            ));
        }
        let b = bytes;
        Ok(BloHeader {
            magic: u16_at(b, 6),
            data_offset_1: u32_at(b, 8),
            data_offset_2: u32_at(b, 12),
            unknown1: u32_at(b, 16),
            dp_sz: u16_at(b, 20),
            dp_rotation: u16_at(b, 22),
            nx: u16_at(b, 24),
            ny: u16_at(b, 26),
            scan_rotation: u16_at(b, 28),
            sx: f64_at(b, 30),
            sy: f64_at(b, 38),
            beam_energy: u32_at(b, 46),
            sdp: u16_at(b, 50),
            camera_length: u32_at(b, 52),
            acquisition_time: f64_at(b, 56),
            centering: std::array::from_fn(|i| f64_at(b, 64 + 8 * i)),
            distortion: std::array::from_fn(|i| f64_at(b, 128 + 8 * i)),
        })
    }

    /// The 240 header bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN);
        b.extend_from_slice(MAGIC_ID);
        b.extend_from_slice(&self.magic.to_le_bytes());
        for v in [self.data_offset_1, self.data_offset_2, self.unknown1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            self.dp_sz,
            self.dp_rotation,
            self.nx,
            self.ny,
            self.scan_rotation,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.sx.to_le_bytes());
        b.extend_from_slice(&self.sy.to_le_bytes());
        b.extend_from_slice(&self.beam_energy.to_le_bytes());
        b.extend_from_slice(&self.sdp.to_le_bytes());
        b.extend_from_slice(&self.camera_length.to_le_bytes());
        b.extend_from_slice(&self.acquisition_time.to_le_bytes());
        for v in self.centering.iter().chain(&self.distortion) {
            b.extend_from_slice(&v.to_le_bytes());
        }
        debug_assert_eq!(b.len(), HEADER_LEN);
        b
    }

    /// The header as rsciio's `blockfile_header` dictionary (its field names), plus the note.
    pub fn to_json(&self, note: &str) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("ID".into(), json!("IMGBLO"));
        m.insert("MAGIC".into(), json!(self.magic));
        m.insert("Data_offset_1".into(), json!(self.data_offset_1));
        m.insert("Data_offset_2".into(), json!(self.data_offset_2));
        m.insert("UNKNOWN1".into(), json!(self.unknown1));
        m.insert("DP_SZ".into(), json!(self.dp_sz));
        m.insert("DP_rotation".into(), json!(self.dp_rotation));
        m.insert("NX".into(), json!(self.nx));
        m.insert("NY".into(), json!(self.ny));
        m.insert("Scan_rotation".into(), json!(self.scan_rotation));
        m.insert("SX".into(), emio_core::metadata::json_f64(self.sx));
        m.insert("SY".into(), emio_core::metadata::json_f64(self.sy));
        m.insert("Beam_energy".into(), json!(self.beam_energy));
        m.insert("SDP".into(), json!(self.sdp));
        m.insert("Camera_length".into(), json!(self.camera_length));
        m.insert(
            "Acquisition_time".into(),
            emio_core::metadata::json_f64(self.acquisition_time),
        );
        for (i, v) in self.centering.iter().enumerate() {
            m.insert(format!("Centering_N{i}"), emio_core::metadata::json_f64(*v));
        }
        for (i, v) in self.distortion.iter().enumerate() {
            m.insert(
                format!("Distortion_N{i:02}"),
                emio_core::metadata::json_f64(*v),
            );
        }
        m.insert("Note".into(), json!(note));
        m
    }

    /// Take the values of an rsciio `blockfile_header` dictionary (e.g. read from another
    /// blockfile) where they are present and in range.
    pub fn update_from_json(&mut self, m: &serde_json::Map<String, Value>) {
        let num = |k: &str| m.get(k).and_then(emio_core::metadata::value_f64);
        let int =
            |k: &str, max: f64| num(k).filter(|v| v.fract() == 0.0 && (0.0..=max).contains(v));
        let u16v = |k: &str| int(k, f64::from(u16::MAX)).map(|v| v as u16);
        let u32v = |k: &str| int(k, f64::from(u32::MAX)).map(|v| v as u32);
        if let Some(v) = u16v("MAGIC") {
            self.magic = v;
        }
        if let Some(v) = u32v("UNKNOWN1") {
            self.unknown1 = v;
        }
        if let Some(v) = u16v("DP_rotation") {
            self.dp_rotation = v;
        }
        if let Some(v) = u16v("Scan_rotation") {
            self.scan_rotation = v;
        }
        if let Some(v) = u32v("Beam_energy") {
            self.beam_energy = v;
        }
        if let Some(v) = u32v("Camera_length") {
            self.camera_length = v;
        }
        if let Some(v) = num("Acquisition_time") {
            self.acquisition_time = v;
        }
        for (i, c) in self.centering.iter_mut().enumerate() {
            if let Some(v) = num(&format!("Centering_N{i}")) {
                *c = v;
            }
        }
        for (i, d) in self.distortion.iter_mut().enumerate() {
            if let Some(v) = num(&format!("Distortion_N{i:02}")) {
                *d = v;
            }
        }
    }
}

/// Date, time (ISO, microseconds only when non-zero) and time zone of a serial date, as
/// rsciio's `serial_date_to_ISO_format` gives them in UTC. `None` when not finite or out of
/// range.
pub fn serial_date_to_iso(serial: f64) -> Option<(String, String)> {
    if !serial.is_finite() || serial.abs() > 3e6 {
        return None;
    }
    let days = serial.trunc() as i64;
    let micros = (serial.rem_euclid(1.0) * 86400.0 * 1e6).round_ties_even() as i64;
    let origin = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let t = origin
        .checked_add_signed(chrono::TimeDelta::days(days))?
        .checked_add_signed(chrono::TimeDelta::microseconds(micros))?;
    let date = t.format("%Y-%m-%d").to_string();
    let time = if micros % 1_000_000 == 0 {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S%.6f").to_string()
    };
    Some((date, time))
}

/// A serial date from an ISO date and time (UTC), whole seconds as rsciio's
/// `datetime_to_serial_date` keeps them.
pub fn iso_to_serial_date(date: &str, time: &str) -> Option<f64> {
    let t =
        chrono::NaiveDateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?;
    let origin = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?.and_hms_opt(0, 0, 0)?;
    let delta = t - origin;
    let days = delta.num_days();
    let seconds = (delta - chrono::TimeDelta::days(days)).num_seconds();
    Some(days as f64 + seconds as f64 / 86400.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BloHeader {
        BloHeader {
            magic: 0x0102,
            data_offset_1: 4096,
            data_offset_2: 4112,
            unknown1: 131135,
            dp_sz: 144,
            dp_rotation: 0,
            nx: 2,
            ny: 3,
            scan_rotation: 2500,
            sx: 12.8,
            sy: 12.8,
            beam_energy: 200000,
            sdp: 6226,
            camera_length: 2000,
            acquisition_time: 42339.653470046294,
            centering: [0.0; 8],
            distortion: std::array::from_fn(|i| i as f64 / 10.0),
        }
    }

    #[test]
    fn header_round_trips_through_bytes_and_json() {
        let h = sample();
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(BloHeader::parse(&bytes).unwrap(), h);
        let mut other = BloHeader::parse(&bytes).unwrap();
        other.beam_energy = 0;
        other.distortion = [0.0; 14];
        other.update_from_json(&h.to_json("note"));
        assert_eq!(other, h);
        assert!(BloHeader::parse(&bytes[..100]).is_err());
        assert!(BloHeader::parse(b"NOTBLO").is_err());
    }

    #[test]
    fn serial_dates_convert_like_rsciio() {
        assert_eq!(
            serial_date_to_iso(42339.653470046294),
            Some(("2015-12-01".into(), "15:40:59.812000".into()))
        );
        assert_eq!(
            serial_date_to_iso(25570.0),
            Some(("1970-01-02".into(), "00:00:00".into()))
        );
        assert_eq!(iso_to_serial_date("1970-01-02", "00:00:00"), Some(25570.0));
        let s = iso_to_serial_date("2015-12-01", "15:40:59.812000").unwrap();
        assert_eq!(serial_date_to_iso(s).unwrap().1, "15:40:59");
        assert!(serial_date_to_iso(f64::NAN).is_none());
    }
}
