//! Olympus SIS dialect (tags 33560 `OlympusSIS`, 33471 `OlympusINI`): the binary SIS
//! structure parsed for pixel size, magnification and camera name.

use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use serde_json::Value;

use super::Context;
use crate::ifd::Reader;
use crate::tags;

/// Whether the page carries an Olympus SIS tag.
pub(super) fn detect(c: &Context<'_, '_>) -> bool {
    c.has(tags::OLYMPUS_SIS) || c.has(tags::OLYMPUS_INI)
}

/// Calibrate from the first SIS structure a tag points at and map it.
pub(super) fn apply(c: &mut Context<'_, '_>) {
    let r = c.r;
    let sis = [tags::OLYMPUS_SIS, tags::OLYMPUS_INI]
        .iter()
        .filter_map(|&t| c.ifd.get(t))
        .filter_map(|e| r.unsigned(e).ok().and_then(|v| v.first().copied()))
        .find_map(|off| parse_sis(r.bytes, off));
    let Some(sis) = sis else {
        return;
    };
    let round15 = |v: f64| (v * 1e15).round() / 1e15;
    if let (Some(x), Some(y)) = (
        sis.get("pixelsizex").and_then(value_f64),
        sis.get("pixelsizey").and_then(value_f64),
    ) {
        c.cal.set_plane(round15(x), round15(y), "m");
    }
    if let Some(m) = sis.get("magnification") {
        set_path(
            &mut c.md,
            "Acquisition_instrument.TEM.magnification",
            m.clone(),
        );
    }
    if let Some(name) = sis.get("cameraname").and_then(Value::as_str) {
        set_path(
            &mut c.md,
            "Acquisition_instrument.TEM.Detector.Camera.name",
            name,
        );
    }
    c.op.insert("Olympus_SIS_metadata".into(), Value::Object(sis));
}

/// Olympus SIS structure (tag 33560/33471 points at it; always little-endian).
pub fn parse_sis(bytes: &[u8], offset: u64) -> Option<Tree> {
    let r = Reader {
        bytes,
        order: emio_core::ByteOrder::Little,
    };
    if offset > bytes.len() as u64 || r.slice(offset, 4).ok()? != b"SIS0" {
        return None;
    }
    let i16_at = |o: u64| r.u16(o).ok().map(|v| v as i16);
    let mut tree = Tree::new();
    let name = crate::ifd::ascii(r.slice(offset + 26, 32).ok()?);
    tree.insert("name".into(), Value::String(name));
    let (minute, hour, day, month, year) = (
        i16_at(offset + 10)?,
        i16_at(offset + 12)?,
        i16_at(offset + 14)?,
        i16_at(offset + 16)?,
        i16_at(offset + 18)?,
    );
    tree.insert(
        "datetime".into(),
        Value::String(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:00",
            1900 + i32::from(year),
            month + 1,
            day,
            hour,
            minute
        )),
    );
    let count = u64::from(r.u16(offset + 58).ok()?);
    for i in 0..count {
        let at = offset + 60 + 8 * i;
        let Some(kind) = i16_at(at) else { break };
        let Ok(off) = r.u32(at + 4) else { break };
        if kind != 1 {
            continue;
        }
        let off = u64::from(off);
        let Ok(rec) = r.slice(off, 112) else { continue };
        let f64_at = |o: usize| f64::from_le_bytes(rec[o..o + 8].try_into().expect("8 bytes"));
        let lenexp = i16::from_le_bytes([rec[10], rec[11]]);
        let m = 10f64.powi(i32::from(lenexp));
        tree.insert("pixelsizex".into(), json_f64(f64_at(12) * m));
        tree.insert("pixelsizey".into(), json_f64(f64_at(20) * m));
        tree.insert("magnification".into(), json_f64(f64_at(36)));
        tree.insert(
            "cameraname".into(),
            Value::String(crate::ifd::ascii(&rec[46..80])),
        );
        tree.insert(
            "picturetype".into(),
            Value::String(crate::ifd::ascii(&rec[80..112])),
        );
    }
    Some(tree)
}
