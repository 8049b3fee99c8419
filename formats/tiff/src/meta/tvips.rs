//! TVIPS dialect (tag 37706): the EM-MENU header (version 1 and 2 blocks) parsed, the
//! pixel size calibrated (else the resolution tags) and the TEM parameters mapped.

use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use emio_core::Result;
use serde_json::Value;

use super::{resolution_scales, Context};
use crate::ifd::Reader;
use crate::tags;

/// Whether the page carries a TVIPS header tag.
pub(super) fn detect(c: &Context<'_, '_>) -> bool {
    c.has(tags::TVIPS)
}

/// Calibrate from the header's pixel size (nm), else from the resolution tags (cm), and
/// map the header.
pub(super) fn apply(c: &mut Context<'_, '_>) {
    let r = c.r;
    let tv = c.ifd.get(tags::TVIPS).and_then(|e| {
        // The tag holds the header itself (UNDEFINED/BYTE) or its offset (LONG).
        if e.ftype == 4 || e.ftype == 13 {
            r.unsigned(e).ok()?.first().and_then(|&o| parse_tvips(r, o))
        } else {
            parse_tvips(r, e.pos)
        }
    });
    let pixel = tv.as_ref().and_then(|t| {
        Some((
            t.get("PixelSizeX").and_then(value_f64)?,
            t.get("PixelSizeY").and_then(value_f64)?,
        ))
    });
    if let Some((px, py)) = pixel {
        c.cal.set_plane(px, py, "nm");
    } else if let Some((sx, sy)) = resolution_scales(&c.op, 1e-2) {
        c.cal.set_plane(sx, sy, "m");
    }
    if let Some(tv) = tv {
        map_tvips(&tv, &mut c.md);
        c.op.insert(tags::name(tags::TVIPS), Value::Object(tv));
    }
}

/// Fields of the TVIPS EM-MENU header (tag 37706): version 1 block, then the version 2
/// block when `Version == 2`. Types: `i` i32, `f` f32, `u` u32, `S<n>` text,
/// `V<n>` UTF-16 text, `<k>f` f32 array, `c<k>` complex128 array (skipped).
const TVIPS_V1: &[(&str, &str)] = &[
    ("Version", "i"),
    ("CommentV1", "S80"),
    ("HighTension", "i"),
    ("SphericalAberration", "i"),
    ("IlluminationAperture", "i"),
    ("Magnification", "i"),
    ("PostMagnification", "i"),
    ("FocalLength", "i"),
    ("Defocus", "i"),
    ("Astigmatism", "i"),
    ("AstigmatismDirection", "i"),
    ("BiprismVoltage", "i"),
    ("SpecimenTiltAngle", "i"),
    ("SpecimenTiltDirection", "i"),
    ("IlluminationTiltDirection", "i"),
    ("IlluminationTiltAngle", "i"),
    ("ImageMode", "i"),
    ("EnergySpread", "i"),
    ("ChromaticAberration", "i"),
    ("ShutterType", "i"),
    ("DefocusSpread", "i"),
    ("CcdNumber", "i"),
    ("CcdSize", "i"),
    ("OffsetXV1", "i"),
    ("OffsetYV1", "i"),
    ("PhysicalPixelSize", "i"),
    ("Binning", "i"),
    ("ReadoutSpeed", "i"),
    ("GainV1", "i"),
    ("SensitivityV1", "i"),
    ("ExposureTimeV1", "i"),
    ("FlatCorrected", "i"),
    ("DeadPxCorrected", "i"),
    ("ImageMean", "i"),
    ("ImageStd", "i"),
    ("DisplacementX", "i"),
    ("DisplacementY", "i"),
    ("DateV1", "i"),
    ("TimeV1", "i"),
    ("ImageMin", "i"),
    ("ImageMax", "i"),
    ("ImageStatisticsQuality", "i"),
];

const TVIPS_V2: &[(&str, &str)] = &[
    ("ImageName", "V160"),
    ("ImageFolder", "V160"),
    ("ImageSizeX", "i"),
    ("ImageSizeY", "i"),
    ("ImageSizeZ", "i"),
    ("ImageSizeE", "i"),
    ("ImageDataType", "i"),
    ("Date", "i"),
    ("Time", "i"),
    ("Comment", "V1024"),
    ("ImageHistory", "V1024"),
    ("Scaling", "16f"),
    ("ImageStatistics", "c16"),
    ("ImageType", "i"),
    ("ImageDisplayType", "i"),
    ("PixelSizeX", "f"),
    ("PixelSizeY", "f"),
    ("ImageDistanceZ", "f"),
    ("ImageDistanceE", "f"),
    ("ImageMisc", "32f"),
    ("TemType", "V160"),
    ("TemHighTension", "f"),
    ("TemAberrations", "32f"),
    ("TemEnergy", "32f"),
    ("TemMode", "i"),
    ("TemMagnification", "f"),
    ("TemMagnificationCorrection", "f"),
    ("PostMagnification", "f"),
    ("TemStageType", "i"),
    ("TemStagePosition", "5f"),
    ("TemImageShift", "2f"),
    ("TemBeamShift", "2f"),
    ("TemBeamTilt", "2f"),
    ("TilingParameters", "7f"),
    ("TemIllumination", "3f"),
    ("TemShutter", "i"),
    ("TemMisc", "32f"),
    ("CameraType", "V160"),
    ("PhysicalPixelSizeX", "f"),
    ("PhysicalPixelSizeY", "f"),
    ("OffsetX", "i"),
    ("OffsetY", "i"),
    ("BinningX", "i"),
    ("BinningY", "i"),
    ("ExposureTime", "f"),
    ("Gain", "f"),
    ("ReadoutRate", "f"),
    ("FlatfieldDescription", "V160"),
    ("Sensitivity", "f"),
    ("Dose", "f"),
    ("CamMisc", "32f"),
    ("FeiMicroscopeInformation", "V1024"),
    ("FeiSpecimenInformation", "V1024"),
    ("Magic", "u"),
];

/// Parse one block of TVIPS fields at `offset`; returns the tree and the end offset.
fn tvips_block(
    r: &Reader<'_>,
    mut at: u64,
    fields: &[(&str, &str)],
    tree: &mut Tree,
) -> Option<u64> {
    for (name, ty) in fields {
        let value = match *ty {
            "i" => Value::from(r.u32(at).ok()? as i32),
            "u" => Value::from(r.u32(at).ok()?),
            "f" => json_f64(f64::from(f32::from_bits(r.u32(at).ok()?))),
            "c16" => {
                at += 16 * 16;
                continue;
            }
            t if t.starts_with('S') => {
                let n: u64 = t[1..].parse().ok()?;
                let v = Value::String(crate::ifd::ascii(r.slice(at, n).ok()?));
                at += n;
                tree.insert((*name).to_string(), v);
                continue;
            }
            t if t.starts_with('V') => {
                let n: u64 = t[1..].parse().ok()?;
                let raw = r.slice(at, n).ok()?;
                let units: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                at += n;
                tree.insert(
                    (*name).to_string(),
                    Value::String(String::from_utf16_lossy(&units)),
                );
                continue;
            }
            t => {
                let k: u64 = t.trim_end_matches('f').parse().ok()?;
                let v = (0..k)
                    .map(|i| {
                        r.u32(at + 4 * i)
                            .map(|b| json_f64(f64::from(f32::from_bits(b))))
                    })
                    .collect::<Result<Vec<_>>>()
                    .ok()?;
                at += 4 * k;
                tree.insert((*name).to_string(), Value::Array(v));
                continue;
            }
        };
        at += 4;
        tree.insert((*name).to_string(), value);
    }
    Some(at)
}

/// The TVIPS header the tag 37706 entry points at (or holds).
pub fn parse_tvips(r: &Reader<'_>, offset: u64) -> Option<Tree> {
    if offset > r.bytes.len() as u64 {
        return None;
    }
    let mut tree = Tree::new();
    let end = tvips_block(r, offset, TVIPS_V1, &mut tree)?;
    if tree.get("Version").and_then(Value::as_i64) == Some(2) {
        tvips_block(r, end, TVIPS_V2, &mut tree)?;
    }
    Some(tree)
}

fn map_tvips(tv: &Tree, md: &mut Tree) {
    let tem = "Acquisition_instrument.TEM";
    let f = |k: &str| tv.get(k).and_then(value_f64);
    let mag_key = if tv.get("TemMode").and_then(Value::as_i64) == Some(3) {
        "camera_length"
    } else {
        "magnification"
    };
    if let Some(m) = f("TemMagnification") {
        set_path(md, &format!("{tem}.{mag_key}"), json_f64(m));
    }
    if let Some(c) = tv.get("CameraType").and_then(Value::as_str) {
        set_path(md, &format!("{tem}.Detector.Camera.name"), c);
    }
    if let Some(e) = f("ExposureTime") {
        set_path(
            md,
            &format!("{tem}.Detector.Camera.exposure"),
            json_f64(e * 1e-3),
        );
    }
    if let Some(ht) = f("TemHighTension") {
        set_path(md, &format!("{tem}.beam_energy"), json_f64(ht * 1e-3));
    }
    if let Some(c) = tv
        .get("Comment")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        set_path(md, "General.notes", c);
    }
    if let Some(t) = tv.get("Time").and_then(Value::as_i64) {
        let t = t.max(0);
        set_path(
            md,
            "General.time",
            format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60),
        );
    }
    if let Some(p) = tv.get("TemStagePosition").and_then(Value::as_array) {
        let v: Vec<f64> = p.iter().filter_map(value_f64).collect();
        if v.len() == 5 {
            set_path(md, &format!("{tem}.Stage.x"), json_f64(v[0] * 1e3));
            set_path(md, &format!("{tem}.Stage.y"), json_f64(v[1] * 1e3));
            set_path(md, &format!("{tem}.Stage.z"), json_f64(v[2] * 1e3));
            set_path(md, &format!("{tem}.Stage.tilt_alpha"), json_f64(v[3]));
            set_path(md, &format!("{tem}.Stage.tilt_beta"), json_f64(v[4]));
        }
    }
}
