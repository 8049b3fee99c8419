//! Extended headers, by `exttyp`: FEI1/FEI2 per-frame metadata records (decoded and
//! encoded), SerialEM `SERI` and Agard `AGAR` per-section values, CCP4/MRCO symmetry
//! cards; anything else is kept raw. Pure functions over bytes.

use emio_core::metadata::{json_f64, set_path, value_f64};
use emio_core::{ByteOrder, Tree};
use serde_json::{Map, Value};

use crate::header::Header;

/// Largest unknown extended header kept verbatim (as hex) in the original metadata.
const RAW_KEEP_BYTES: usize = 64 << 10;

/// The type of one FEI record field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// int32 in the file's byte order.
    I4,
    /// int64 in the file's byte order.
    I8,
    /// float64 in the file's byte order.
    F8,
    /// uint32 bit mask, always little-endian.
    Mask,
    /// One byte, 0 or 1.
    Bool,
    /// Fixed-size text, NUL padded.
    Text(usize),
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::I4 | Kind::Mask => 4,
            Kind::I8 | Kind::F8 => 8,
            Kind::Bool => 1,
            Kind::Text(n) => n,
        }
    }
}

use Kind::{Bool, Mask, Text, F8, I4, I8};

/// FEI1 record fields (metadata version 0/1), in order, as named by the FEI/EPU manual.
const FEI1_FIELDS: &[(&str, Kind)] = &[
    ("Metadata size", I4),
    ("Metadata version", I4),
    ("Bitmask 1", Mask),
    ("Timestamp", F8),
    ("Microscope type", Text(16)),
    ("D-Number", Text(16)),
    ("Application", Text(16)),
    ("Application version", Text(16)),
    ("HT", F8),
    ("Dose", F8),
    ("Alpha tilt", F8),
    ("Beta tilt", F8),
    ("X-Stage", F8),
    ("Y-Stage", F8),
    ("Z-Stage", F8),
    ("Tilt axis angle", F8),
    ("Dual axis rotation", F8),
    ("Pixel size X", F8),
    ("Pixel size Y", F8),
    ("Unused range", Text(48)),
    ("Defocus", F8),
    ("STEM Defocus", F8),
    ("Applied defocus", F8),
    ("Instrument mode", I4),
    ("Projection mode", I4),
    ("Objective lens mode", Text(16)),
    ("High magnification mode", Text(16)),
    ("Probe mode", I4),
    ("EFTEM On", Bool),
    ("Magnification", F8),
    ("Bitmask 2", Mask),
    ("Camera length", F8),
    ("Spot index", I4),
    ("Illuminated area", F8),
    ("Intensity", F8),
    ("Convergence angle", F8),
    ("Illumination mode", Text(16)),
    ("Wide convergence angle range", Bool),
    ("Slit inserted", Bool),
    ("Slit width", F8),
    ("Acceleration voltage offset", F8),
    ("Drift tube voltage", F8),
    ("Energy shift", F8),
    ("Shift offset X", F8),
    ("Shift offset Y", F8),
    ("Shift X", F8),
    ("Shift Y", F8),
    ("Integration time", F8),
    ("Binning Width", I4),
    ("Binning Height", I4),
    ("Camera name", Text(16)),
    ("Readout area left", I4),
    ("Readout area top", I4),
    ("Readout area right", I4),
    ("Readout area bottom", I4),
    ("Ceta noise reduction", Bool),
    ("Ceta frames summed", I4),
    ("Direct detector electron counting", Bool),
    ("Direct detector align frames", Bool),
    ("Camera param reserved 0", I4),
    ("Camera param reserved 1", I4),
    ("Camera param reserved 2", I4),
    ("Camera param reserved 3", I4),
    ("Bitmask 3", Mask),
    ("Camera param reserved 4", I4),
    ("Camera param reserved 5", I4),
    ("Camera param reserved 6", I4),
    ("Camera param reserved 7", I4),
    ("Camera param reserved 8", I4),
    ("Camera param reserved 9", I4),
    ("Phase Plate", Bool),
    ("STEM Detector name", Text(16)),
    ("Gain", F8),
    ("Offset", F8),
    ("STEM param reserved 0", I4),
    ("STEM param reserved 1", I4),
    ("STEM param reserved 2", I4),
    ("STEM param reserved 3", I4),
    ("STEM param reserved 4", I4),
    ("Dwell time", F8),
    ("Frame time", F8),
    ("Scan size left", I4),
    ("Scan size top", I4),
    ("Scan size right", I4),
    ("Scan size bottom", I4),
    ("Full scan FOV X", F8),
    ("Full scan FOV Y", F8),
    ("Element", Text(16)),
    ("Energy interval lower", F8),
    ("Energy interval higher", F8),
    ("Method", I4),
    ("Is dose fraction", Bool),
    ("Fraction number", I4),
    ("Start frame", I4),
    ("End frame", I4),
    ("Input stack filename", Text(80)),
    ("Bitmask 4", Mask),
    ("Alpha tilt min", F8),
    ("Alpha tilt max", F8),
];

/// Fields FEI2 (metadata version 2) appends to FEI1.
const FEI2_EXTRA_FIELDS: &[(&str, Kind)] = &[
    ("Scan rotation", F8),
    ("Diffraction pattern rotation", F8),
    ("Image rotation", F8),
    ("Scan mode enumeration", I4),
    ("Acquisition time stamp", I8),
    ("Detector commercial name", Text(16)),
    ("Start tilt angle", F8),
    ("End tilt angle", F8),
    ("Tilt per image", F8),
    ("Tilt speed", F8),
    ("Beam center X pixel", I4),
    ("Beam center Y pixel", I4),
    ("CFEG flash timestamp", I8),
    ("Phase plate position index", I4),
    ("Objective aperture name", Text(16)),
];

/// The FEI flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fei {
    /// `FEI1`: 768-byte records.
    V1,
    /// `FEI2`: 888-byte records.
    V2,
}

impl Fei {
    fn fields(self) -> impl Iterator<Item = &'static (&'static str, Kind)> {
        let extra: &[(&str, Kind)] = match self {
            Fei::V1 => &[],
            Fei::V2 => FEI2_EXTRA_FIELDS,
        };
        FEI1_FIELDS.iter().chain(extra.iter())
    }

    /// Bytes of one record.
    pub fn record_size(self) -> usize {
        self.fields().map(|(_, k)| k.size()).sum()
    }

    fn exttyp(self) -> &'static [u8; 4] {
        match self {
            Fei::V1 => b"FEI1",
            Fei::V2 => b"FEI2",
        }
    }
}

fn order_bytes<const N: usize>(b: &[u8], order: ByteOrder) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    if order == ByteOrder::Big {
        a.reverse();
    }
    a
}

fn decode_field(b: &[u8], kind: Kind, order: ByteOrder) -> Value {
    match kind {
        I4 => i32::from_le_bytes(order_bytes(b, order)).into(),
        I8 => i64::from_le_bytes(order_bytes(b, order)).into(),
        F8 => json_f64(f64::from_le_bytes(order_bytes(b, order))),
        Mask => u32::from_le_bytes(order_bytes(b, ByteOrder::Little)).into(),
        Bool => (b[0] != 0).into(),
        Text(n) => String::from_utf8_lossy(&b[..n])
            .trim_end_matches(['\0', ' '])
            .into(),
    }
}

fn encode_field(out: &mut [u8], kind: Kind, value: Option<&Value>, order: ByteOrder) {
    let put = |out: &mut [u8], mut le: Vec<u8>, order: ByteOrder| {
        if order == ByteOrder::Big {
            le.reverse();
        }
        out[..le.len()].copy_from_slice(&le);
    };
    let num = value.and_then(value_f64).unwrap_or(0.0);
    match kind {
        I4 => put(out, (num as i32).to_le_bytes().to_vec(), order),
        I8 => put(out, (num as i64).to_le_bytes().to_vec(), order),
        F8 => put(out, num.to_le_bytes().to_vec(), order),
        Mask => put(out, (num as u32).to_le_bytes().to_vec(), ByteOrder::Little),
        Bool => out[0] = u8::from(num != 0.0),
        Text(n) => {
            let s = value.and_then(Value::as_str).unwrap_or("").as_bytes();
            let k = s.len().min(n);
            out[..k].copy_from_slice(&s[..k]);
        }
    }
}

/// Decode `records` FEI records of `stride` bytes into `{field: [value per record]}`.
/// `None` when the bytes cannot hold them.
pub fn decode_fei(ext: &[u8], fei: Fei, records: usize, order: ByteOrder) -> Option<Tree> {
    let size = fei.record_size();
    if ext.len() < 4 {
        return None;
    }
    let stride = i32::from_le_bytes(order_bytes(ext, order));
    let stride = usize::try_from(stride).ok().filter(|&s| s >= size)?;
    let records = records.min(ext.len() / stride);
    if records == 0 {
        return None;
    }
    let mut columns: Vec<Vec<Value>> = fei.fields().map(|_| Vec::new()).collect();
    for r in 0..records {
        let rec = &ext[r * stride..r * stride + size];
        let mut at = 0;
        for ((_, kind), column) in fei.fields().zip(&mut columns) {
            column.push(decode_field(&rec[at..], *kind, order));
            at += kind.size();
        }
    }
    Some(
        fei.fields()
            .zip(columns)
            .map(|((name, _), values)| (name.to_string(), Value::Array(values)))
            .collect(),
    )
}

/// Encode per-frame FEI2 records from `{field: [value per frame]}` (missing fields and
/// frames are zero; the size and version fields are set).
pub fn encode_fei2(table: &Map<String, Value>, frames: usize, order: ByteOrder) -> Vec<u8> {
    let fei = Fei::V2;
    let size = fei.record_size();
    let mut out = vec![0u8; size * frames];
    for (f, rec) in out.chunks_exact_mut(size).enumerate() {
        let mut at = 0;
        for (name, kind) in fei.fields() {
            let value = match *name {
                "Metadata size" => Some(Value::from(size)),
                "Metadata version" => Some(Value::from(2)),
                _ => table
                    .get(*name)
                    .and_then(|v| v.as_array().map_or(Some(v), |a| a.get(f)))
                    .cloned(),
            };
            encode_field(&mut rec[at..], *kind, value.as_ref(), order);
            at += kind.size();
        }
    }
    out
}

/// The `exttyp` value for FEI2 headers written by emio.
pub fn fei2_exttyp() -> [u8; 4] {
    *Fei::V2.exttyp()
}

/// SerialEM `SERI` per-section items by flag bit (bit, name, bytes); see IMOD's MRC doc.
const SERI_ITEMS: &[(i16, &str, usize)] = &[
    (1, "tilt_angle", 2),
    (2, "piece_coordinates", 6),
    (4, "stage_position", 4),
    (8, "magnification", 2),
    (16, "intensity", 2),
    (32, "exposure_dose", 4),
    (64, "reserved_64", 2),
    (128, "reserved_128", 4),
    (256, "reserved_256", 2),
    (512, "reserved_512", 4),
    (1024, "reserved_1024", 2),
];

fn i16_at(b: &[u8], at: usize, order: ByteOrder) -> i16 {
    i16::from_le_bytes(order_bytes(&b[at..], order))
}

/// SerialEM per-section values: `nint` bytes per section laid out by the `nreal` flags.
/// Falls back to `None` when the flags do not add up to `nint`.
fn decode_serialem(
    ext: &[u8],
    nint: usize,
    flags: i16,
    sections: usize,
    order: ByteOrder,
) -> Option<Tree> {
    let used: usize = SERI_ITEMS
        .iter()
        .filter(|(bit, _, _)| flags & bit != 0)
        .map(|(_, _, n)| n)
        .sum();
    if nint == 0 || used != nint {
        return None;
    }
    let sections = sections.min(ext.len() / nint);
    let mut t = Tree::new();
    for s in 0..sections {
        let rec = &ext[s * nint..(s + 1) * nint];
        let mut at = 0;
        for &(bit, name, n) in SERI_ITEMS {
            if flags & bit == 0 {
                continue;
            }
            let short = |k: usize| f64::from(i16_at(rec, at + 2 * k, order));
            let value: Value = match bit {
                1 => json_f64(short(0) / 100.0),
                2 => Value::Array((0..3).map(|k| json_f64(short(k))).collect()),
                4 => Value::Array((0..2).map(|k| json_f64(short(k) / 25.0)).collect()),
                8 => json_f64(short(0) * 100.0),
                16 => json_f64(short(0) / 25000.0),
                32 => json_f64(imod_packed_float(
                    i16_at(rec, at, order),
                    i16_at(rec, at + 2, order),
                )),
                _ => Value::Array((0..n / 2).map(|k| json_f64(short(k))).collect()),
            };
            let entry = t
                .entry(name.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(value);
            }
            at += n;
        }
    }
    Some(t)
}

/// IMOD's two-short float encoding for the SerialEM dose:
/// `value = sign(a) * (|a| * 256 + (|b| % 256)) * 2^(sign(b) * (|b| / 256))`.
fn imod_packed_float(a: i16, b: i16) -> f64 {
    let (a, b) = (i32::from(a), i32::from(b));
    let mantissa = f64::from(a.abs() * 256 + (b.abs() % 256));
    let exponent = b.signum() * (b.abs() / 256);
    f64::from(a.signum()) * mantissa * 2f64.powi(exponent)
}

/// Agard-style records: `nint` int32 then `nreal` float32 per section.
fn decode_ints_reals(
    ext: &[u8],
    nint: usize,
    nreal: usize,
    sections: usize,
    order: ByteOrder,
) -> Option<Tree> {
    let rec_len = 4 * (nint + nreal);
    if rec_len == 0 {
        return None;
    }
    let sections = sections.min(ext.len() / rec_len);
    let mut ints = Vec::with_capacity(sections);
    let mut reals = Vec::with_capacity(sections);
    for s in 0..sections {
        let rec = &ext[s * rec_len..(s + 1) * rec_len];
        let word = |k: usize| order_bytes::<4>(&rec[4 * k..], order);
        ints.push(Value::Array(
            (0..nint)
                .map(|k| i32::from_le_bytes(word(k)).into())
                .collect(),
        ));
        reals.push(Value::Array(
            (nint..nint + nreal)
                .map(|k| json_f64(f32::from_le_bytes(word(k)).into()))
                .collect(),
        ));
    }
    let mut t = Tree::new();
    t.insert("ints".into(), Value::Array(ints));
    t.insert("reals".into(), Value::Array(reals));
    Some(t)
}

/// Everything learned from an extended header.
#[derive(Debug, Default)]
pub struct Extended {
    /// FEI per-frame table (`{field: [value per frame]}`), for `FEI1`/`FEI2`.
    pub fei: Option<Tree>,
    /// Original metadata for the extended header.
    pub tree: Tree,
}

/// Interpret the extended header `ext` of a file with header `h` holding `sections`
/// images.
pub fn interpret(h: &Header, ext: &[u8], sections: usize) -> Extended {
    let mut out = Extended::default();
    if ext.is_empty() {
        return out;
    }
    let kind = h.exttyp_str();
    out.tree.insert("type".into(), kind.as_str().into());
    out.tree.insert("size".into(), ext.len().into());
    let (nint, nreal) = h.nint_nreal();
    let decoded = match kind.as_str() {
        "FEI1" | "FEI2" => {
            let fei = if kind == "FEI1" { Fei::V1 } else { Fei::V2 };
            // Version-0 files sometimes say FEI2 with FEI1-sized records; try both.
            let table = decode_fei(ext, fei, sections, h.order)
                .or_else(|| decode_fei(ext, Fei::V1, sections, h.order));
            out.fei = table.clone();
            table
        }
        "SERI" => {
            decode_serialem(ext, nint.max(0) as usize, nreal, sections, h.order).or_else(|| {
                decode_ints_reals(
                    ext,
                    nint.max(0) as usize,
                    nreal.max(0) as usize,
                    sections,
                    h.order,
                )
            })
        }
        "AGAR" => decode_ints_reals(
            ext,
            nint.max(0) as usize,
            nreal.max(0) as usize,
            sections,
            h.order,
        ),
        "CCP4" | "MRCO" => {
            let cards: Vec<Value> = ext
                .chunks(80)
                .map(|c| {
                    String::from_utf8_lossy(c)
                        .trim_end_matches(['\0', ' '])
                        .to_string()
                })
                .filter(|s| !s.is_empty())
                .map(Value::from)
                .collect();
            let mut t = Tree::new();
            t.insert("symmetry_operators".into(), Value::Array(cards));
            Some(t)
        }
        _ => None,
    };
    match decoded {
        Some(table) => {
            out.tree.insert("values".into(), Value::Object(table));
        }
        None if ext.len() <= RAW_KEEP_BYTES => {
            out.tree.insert("raw_hex".into(), hex(ext).into());
        }
        None => {
            out.tree.insert(
                "raw_hex".into(),
                format!("(not kept: {} bytes)", ext.len()).into(),
            );
        }
    }
    out
}

/// Lower-case hex of `bytes`, two digits a byte, by table lookup (a `format!` per byte
/// allocated 64 Ki strings for a large unknown extended header: 40% of the mrc_parse fuzz
/// target's time).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The first frame's value of an FEI field as a number.
fn first_number(fei: &Tree, field: &str) -> Option<f64> {
    fei.get(field)?.as_array()?.first().and_then(value_f64)
}

fn first_text<'a>(fei: &'a Tree, field: &str) -> Option<&'a str> {
    fei.get(field)?
        .as_array()?
        .first()?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// Normalized (HyperSpy) metadata from the first frame of an FEI table.
pub fn fei_metadata(fei: &Tree, metadata: &mut Tree) {
    let tem = "Acquisition_instrument.TEM";
    let positive = |field: &str| first_number(fei, field).filter(|v| v.is_finite() && *v > 0.0);
    let finite = |field: &str| first_number(fei, field).filter(|v| v.is_finite());
    if let Some(ht) = positive("HT") {
        set_path(
            metadata,
            &format!("{tem}.beam_energy"),
            json_f64(ht / 1000.0),
        );
    }
    if let Some(mag) = positive("Magnification") {
        set_path(metadata, &format!("{tem}.magnification"), json_f64(mag));
    }
    if let Some(cl) = positive("Camera length") {
        set_path(
            metadata,
            &format!("{tem}.camera_length"),
            json_f64(cl * 1000.0),
        );
    }
    if let Some(a) = positive("Convergence angle") {
        set_path(
            metadata,
            &format!("{tem}.convergence_angle"),
            json_f64(a * 1000.0),
        );
    }
    if let Some(t) = positive("Integration time") {
        set_path(
            metadata,
            &format!("{tem}.Detector.Camera.exposure"),
            json_f64(t),
        );
    }
    if let Some(t) = positive("Dwell time") {
        set_path(metadata, &format!("{tem}.dwell_time"), json_f64(t));
    }
    if let Some(name) = first_text(fei, "Microscope type") {
        set_path(metadata, &format!("{tem}.microscope"), name);
    }
    // FEI instrument mode 1 is TEM, 2 is STEM (the record also carries the idle camera).
    match first_number(fei, "Instrument mode").map(|m| m as i64) {
        Some(2) => {
            set_path(metadata, &format!("{tem}.acquisition_mode"), "STEM");
            if let Some(name) = first_text(fei, "STEM Detector name") {
                set_path(metadata, &format!("{tem}.Detector.STEM.name"), name);
            }
        }
        mode => {
            if mode == Some(1) {
                set_path(metadata, &format!("{tem}.acquisition_mode"), "TEM");
            }
            if let Some(name) = first_text(fei, "Camera name") {
                set_path(metadata, &format!("{tem}.Detector.Camera.name"), name);
            }
        }
    }
    for (field, key) in [("Alpha tilt", "tilt_alpha"), ("Beta tilt", "tilt_beta")] {
        if let Some(v) = finite(field) {
            set_path(metadata, &format!("{tem}.Stage.{key}"), json_f64(v));
        }
    }
    // Stage positions are in metres; HyperSpy uses millimetres.
    for (field, key) in [("X-Stage", "x"), ("Y-Stage", "y"), ("Z-Stage", "z")] {
        if let Some(v) = finite(field) {
            set_path(
                metadata,
                &format!("{tem}.Stage.{key}"),
                json_f64(v * 1000.0),
            );
        }
    }
    // FEI's timestamp is an OLE automation date: days since 1899-12-30.
    if let Some(days) = positive("Timestamp") {
        let base =
            chrono::NaiveDate::from_ymd_opt(1899, 12, 30).and_then(|d| d.and_hms_opt(0, 0, 0));
        let when = base.and_then(|b| {
            b.checked_add_signed(chrono::Duration::milliseconds(
                (days * 86_400_000.0).round() as i64,
            ))
        });
        if let Some(when) = when {
            set_path(
                metadata,
                "General.date",
                when.format("%Y-%m-%d").to_string(),
            );
            set_path(
                metadata,
                "General.time",
                when.format("%H:%M:%S").to_string(),
            );
        }
    }
}

/// FEI pixel size in nm along X and Y (first frame), when recorded.
pub fn fei_pixel_size_nm(fei: &Tree) -> [Option<f64>; 2] {
    ["Pixel size X", "Pixel size Y"].map(|f| {
        first_number(fei, f)
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(|m| m * 1e9)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Mode;

    #[test]
    fn hex_is_two_lower_case_digits_a_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), expected);
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn fei_sizes_match_the_specification() {
        assert_eq!(Fei::V1.record_size(), 768);
        assert_eq!(Fei::V2.record_size(), 888);
    }

    #[test]
    fn fei2_round_trip() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let mut table = Map::new();
            table.insert(
                "HT".into(),
                Value::Array(vec![300000.0.into(), 200000.0.into()]),
            );
            table.insert("Camera name".into(), "Ceta".into());
            table.insert("Bitmask 1".into(), Value::Array(vec![5.into(), 6.into()]));
            let bytes = encode_fei2(&table, 2, order);
            let back = decode_fei(&bytes, Fei::V2, 2, order).unwrap();
            assert_eq!(
                back["HT"],
                Value::Array(vec![300000.0.into(), 200000.0.into()])
            );
            assert_eq!(back["Camera name"][1], "Ceta");
            assert_eq!(back["Metadata size"][0], 888);
            assert_eq!(back["Bitmask 1"][1], 6);
            let mut md = Tree::new();
            fei_metadata(&back, &mut md);
            assert_eq!(md["Acquisition_instrument"]["TEM"]["beam_energy"], 300.0);
        }
    }

    #[test]
    fn serialem_tilt_angles() {
        let mut h = Header::new(Mode::Int16, 4, 4, 2, ByteOrder::Little);
        h.exttyp = *b"SERI";
        h.extra2[16..18].copy_from_slice(&4i16.to_le_bytes());
        h.extra2[18..20].copy_from_slice(&(1i16 | 8).to_le_bytes());
        let mut ext = Vec::new();
        for (tilt, mag) in [(-6000i16, 50i16), (1234, 51)] {
            ext.extend_from_slice(&tilt.to_le_bytes());
            ext.extend_from_slice(&mag.to_le_bytes());
        }
        let e = interpret(&h, &ext, 2);
        let v = &e.tree["values"];
        assert_eq!(v["tilt_angle"][0], -60.0);
        assert_eq!(v["tilt_angle"][1], 12.34);
        assert_eq!(v["magnification"][1], 5100.0);
    }

    #[test]
    fn packed_float() {
        assert_eq!(imod_packed_float(1, 0), 256.0);
        assert_eq!(imod_packed_float(-1, 2), -258.0);
        assert_eq!(imod_packed_float(1, 256), 512.0);
    }
}
