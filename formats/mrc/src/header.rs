//! The 1024-byte MRC2014 / CCP4 main header: parsing with byte-order detection (machine
//! stamp, with fallbacks for files whose stamp is missing or wrong), validation, encoding
//! for the writer, and its original-metadata tree. Pure functions over bytes.

use emio_core::metadata::json_f64;
use emio_core::{ByteOrder, DType, Error, Result, Tree};
use serde_json::{json, Value};

/// Size of the main header in bytes.
pub const HEADER_LEN: usize = 1024;
/// IMOD's stamp at byte 152 (`"IMOD"` read as a little-endian i32 in IMOD's own layout).
pub const IMOD_STAMP: i32 = 1_146_047_817;
/// IMOD flag bit: mode-0 bytes are signed.
const IMOD_FLAG_SIGNED_BYTES: i32 = 1;
/// MRC2014 version written by emio (`20141` is the 2014 format with its 2015 clarifications).
pub const NVERSION: i32 = 20141;

/// How pixels are stored, by MRC mode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mode 0: bytes; signed in MRC2014, unsigned in older and IMOD-unflagged files.
    Byte {
        /// Whether the bytes are two's-complement signed.
        signed: bool,
    },
    /// Mode 1: int16.
    Int16,
    /// Mode 2: float32.
    Float32,
    /// Mode 3: complex of two int16 (read as complex64).
    ComplexInt16,
    /// Mode 4: complex of two float32.
    Complex64,
    /// Mode 6: uint16.
    Uint16,
    /// Mode 12: IEEE half float.
    Float16,
    /// Mode 16 (IMOD): RGB triplets of bytes.
    Rgb8,
    /// Mode 101 (IMOD): 4-bit unsigned values, two per byte, rows padded to whole bytes.
    Packed4,
}

impl Mode {
    /// The mode for a header's `mode` field; mode 0's sign is settled by the caller.
    pub fn from_number(mode: i32) -> Option<Mode> {
        Some(match mode {
            0 => Mode::Byte { signed: true },
            1 => Mode::Int16,
            2 => Mode::Float32,
            3 => Mode::ComplexInt16,
            4 => Mode::Complex64,
            6 => Mode::Uint16,
            12 => Mode::Float16,
            16 => Mode::Rgb8,
            101 => Mode::Packed4,
            _ => return None,
        })
    }

    /// The header's mode number.
    pub fn number(self) -> i32 {
        match self {
            Mode::Byte { .. } => 0,
            Mode::Int16 => 1,
            Mode::Float32 => 2,
            Mode::ComplexInt16 => 3,
            Mode::Complex64 => 4,
            Mode::Uint16 => 6,
            Mode::Float16 => 12,
            Mode::Rgb8 => 16,
            Mode::Packed4 => 101,
        }
    }

    /// The logical dtype emio reads this mode as.
    pub fn dtype(self) -> DType {
        match self {
            Mode::Byte { signed: true } => DType::I8,
            Mode::Byte { signed: false } | Mode::Packed4 => DType::U8,
            Mode::Int16 => DType::I16,
            Mode::Float32 => DType::F32,
            Mode::ComplexInt16 | Mode::Complex64 => DType::C64,
            Mode::Uint16 => DType::U16,
            Mode::Float16 => DType::F16,
            Mode::Rgb8 => DType::Rgb8,
        }
    }

    /// Bytes of one stored element (`None` for the packed 4-bit mode).
    pub fn stored_size(self) -> Option<usize> {
        match self {
            Mode::Packed4 => None,
            Mode::ComplexInt16 => Some(4),
            other => Some(other.dtype().size()),
        }
    }
}

/// The parsed main header. Field names follow the MRC2014 specification.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Byte order of every multi-byte field and of the data.
    pub order: ByteOrder,
    /// Columns, rows, sections.
    pub nx: i32,
    /// Rows.
    pub ny: i32,
    /// Sections.
    pub nz: i32,
    /// Storage mode.
    pub mode: Mode,
    /// Start of the map in columns, rows, sections (grid units).
    pub nstart: [i32; 3],
    /// Sampling along X, Y, Z.
    pub mxyz: [i32; 3],
    /// Cell size in Å along X, Y, Z.
    pub cella: [f32; 3],
    /// Cell angles in degrees.
    pub cellb: [f32; 3],
    /// Which axis (1 = X, 2 = Y, 3 = Z) columns, rows and sections run along.
    pub map_crs: [i32; 3],
    /// Minimum, maximum, mean density.
    pub dmin: f32,
    /// Maximum density.
    pub dmax: f32,
    /// Mean density.
    pub dmean: f32,
    /// Space group: 0 image stack, 1 volume, 401..=630 volume stack.
    pub ispg: i32,
    /// Bytes of extended header after the main header.
    pub nsymbt: i32,
    /// `extra` bytes 96..104.
    pub extra1: [u8; 8],
    /// Extended header type (`FEI1`, `FEI2`, `SERI`, `AGAR`, `CCP4`, `MRCO`, ...).
    pub exttyp: [u8; 4],
    /// Format version (20140 / 20141 for MRC2014).
    pub nversion: i32,
    /// `extra` bytes 112..196 (IMOD and SerialEM fields live here).
    pub extra2: [u8; 84],
    /// Origin in Å along X, Y, Z.
    pub origin: [f32; 3],
    /// The `MAP ` identifier as found.
    pub map: [u8; 4],
    /// Machine stamp as found.
    pub machst: [u8; 4],
    /// RMS deviation from the mean density (negative: not computed).
    pub rms: f32,
    /// Number of labels in use.
    pub nlabl: i32,
    /// The 10 labels, trailing blanks removed.
    pub labels: Vec<String>,
    /// Why the byte order does not come from the machine stamp, when it does not.
    pub byte_order_note: Option<String>,
}

fn read_i32(b: &[u8], at: usize, order: ByteOrder) -> i32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    match order {
        ByteOrder::Little => i32::from_le_bytes(a),
        ByteOrder::Big => i32::from_be_bytes(a),
    }
}

fn read_f32(b: &[u8], at: usize, order: ByteOrder) -> f32 {
    f32::from_bits(read_i32(b, at, order) as u32)
}

fn read_i16(b: &[u8], at: usize, order: ByteOrder) -> i16 {
    let a = [b[at], b[at + 1]];
    match order {
        ByteOrder::Little => i16::from_le_bytes(a),
        ByteOrder::Big => i16::from_be_bytes(a),
    }
}

fn stamp_order(machst: &[u8]) -> Option<ByteOrder> {
    match machst {
        [0x44, 0x44 | 0x41, ..] => Some(ByteOrder::Little),
        [0x11, 0x11, ..] => Some(ByteOrder::Big),
        _ => None,
    }
}

/// How the label emio writes to record a shape the header cannot hold starts.
const SHAPE_LABEL: &str = "emio shape ";

/// The label recording a dataset's C-order `shape`: `emio shape 4,5,64,64`.
pub fn format_shape_label(shape: &[u64]) -> String {
    let sizes: Vec<String> = shape.iter().map(u64::to_string).collect();
    format!("{SHAPE_LABEL}{}", sizes.join(","))
}

/// The C-order shape a label written by [`format_shape_label`] records.
pub fn shape_label(label: &str) -> Option<Vec<u64>> {
    label
        .strip_prefix(SHAPE_LABEL)?
        .split(',')
        .map(|s| s.trim().parse::<u64>().ok().filter(|&n| n > 0))
        .collect()
}

/// Largest dimension a header is taken to be plausible with (no MRC file comes close).
const MAX_DIM: i32 = 1 << 26;

/// Whether the header read in `order` has a known mode and sane dimensions.
fn plausible(b: &[u8], order: ByteOrder) -> bool {
    let dims_ok = (0..3).all(|i| (0..MAX_DIM).contains(&read_i32(b, 4 * i, order)));
    dims_ok && Mode::from_number(read_i32(b, 12, order)).is_some()
}

/// Why a header is plausible in neither byte order, read in the stamped one: a dimension
/// too large for any file (`nx = 2^31 - 1` is that, not a negative size), or the
/// dimensions and mode no MRC file has.
fn implausible(b: &[u8], order: ByteOrder) -> Error {
    let known_mode = Mode::from_number(read_i32(b, 12, order)).is_some();
    for (k, name) in ["nx", "ny", "nz"].iter().enumerate() {
        let n = read_i32(b, 4 * k, order);
        if known_mode && n >= MAX_DIM {
            return Error::malformed(
                "mrc",
                4 * k as u64,
                format!("{name} of at most {MAX_DIM}: {name} = {n} is too large for the file"),
            );
        }
    }
    Error::malformed(
        "mrc",
        0,
        "non-negative nx, ny, nz and a known mode (0, 1, 2, 3, 4, 6, 12, 16, 101) in either byte order",
    )
}

/// Whether `head` starts like an MRC file: `MAP` at byte 208 and a plausible header.
pub fn looks_like_mrc(head: &[u8]) -> bool {
    head.len() >= HEADER_LEN
        && &head[208..211] == b"MAP"
        && (plausible(head, ByteOrder::Little) || plausible(head, ByteOrder::Big))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim_end_matches(['\0', ' '])
        .to_string()
}

impl Header {
    /// Parse the first 1024 bytes of a file. `forced` overrides the byte order.
    pub fn parse(b: &[u8], forced: Option<ByteOrder>) -> Result<Header> {
        if b.len() < HEADER_LEN {
            return Err(Error::malformed(
                "mrc",
                b.len() as u64,
                format!(
                    "a {HEADER_LEN}-byte MRC header (the file has {} bytes)",
                    b.len()
                ),
            ));
        }
        let machst = [b[212], b[213], b[214], b[215]];
        let stamped = stamp_order(&machst);
        let (order, note) = match (forced, stamped) {
            (Some(order), _) => (order, None),
            (None, Some(order)) if plausible(b, order) => (order, None),
            (None, stamp) => {
                let other = |o: ByteOrder| match o {
                    ByteOrder::Little => ByteOrder::Big,
                    ByteOrder::Big => ByteOrder::Little,
                };
                let first = stamp.map(other).unwrap_or(ByteOrder::Little);
                let order = [first, other(first)]
                    .into_iter()
                    .find(|&o| plausible(b, o))
                    .ok_or_else(|| implausible(b, stamp.unwrap_or(ByteOrder::Little)))?;
                let note = match stamp {
                    Some(_) => format!(
                        "machine stamp {machst:02x?} contradicts the header; read as {order:?}-endian"
                    ),
                    None => format!(
                        "machine stamp {machst:02x?} is not a known one; header is plausible as {order:?}-endian"
                    ),
                };
                (order, Some(note))
            }
        };
        let i = |at| read_i32(b, at, order);
        let f = |at| read_f32(b, at, order);
        let mode_number = i(12);
        let mut mode = Mode::from_number(mode_number).ok_or_else(|| {
            Error::malformed(
                "mrc",
                12,
                format!("a known MRC mode (0, 1, 2, 3, 4, 6, 12, 16, 101), found {mode_number}"),
            )
        })?;
        let (nx, ny, nz) = (i(0), i(4), i(8));
        for (at, n) in [(0, nx), (4, ny), (8, nz)] {
            if n < 0 {
                return Err(Error::malformed(
                    "mrc",
                    at,
                    format!("a non-negative dimension, found {n}"),
                ));
            }
        }
        let nsymbt = i(92);
        if nsymbt < 0 {
            return Err(Error::malformed(
                "mrc",
                92,
                format!("a non-negative extended header size, found {nsymbt}"),
            ));
        }
        let mut extra1 = [0u8; 8];
        extra1.copy_from_slice(&b[96..104]);
        let mut extra2 = [0u8; 84];
        extra2.copy_from_slice(&b[112..196]);
        let nversion = i(108);
        if let Mode::Byte { signed } = &mut mode {
            // IMOD marks its files with a stamp and says whether bytes are signed; other
            // pre-2014 files used unsigned bytes; MRC2014 made mode 0 signed.
            *signed = if i(152) == IMOD_STAMP {
                i(156) & IMOD_FLAG_SIGNED_BYTES != 0
            } else {
                nversion >= 20140
            };
        }
        let labels = (0..10)
            .map(|k| text(&b[224 + 80 * k..224 + 80 * (k + 1)]))
            .collect();
        Ok(Header {
            order,
            nx,
            ny,
            nz,
            mode,
            nstart: [i(16), i(20), i(24)],
            mxyz: [i(28), i(32), i(36)],
            cella: [f(40), f(44), f(48)],
            cellb: [f(52), f(56), f(60)],
            map_crs: [i(64), i(68), i(72)],
            dmin: f(76),
            dmax: f(80),
            dmean: f(84),
            ispg: i(88),
            nsymbt,
            extra1,
            exttyp: [b[104], b[105], b[106], b[107]],
            nversion,
            extra2,
            origin: [f(196), f(200), f(204)],
            map: [b[208], b[209], b[210], b[211]],
            machst,
            rms: f(216),
            nlabl: i(220),
            labels,
            byte_order_note: note,
        })
    }

    /// A header for new data of `mode` and size (`nx`, `ny`, `nz`), MRC2014 defaults.
    pub fn new(mode: Mode, nx: i32, ny: i32, nz: i32, order: ByteOrder) -> Header {
        Header {
            order,
            nx,
            ny,
            nz,
            mode,
            nstart: [0; 3],
            mxyz: [nx, ny, nz],
            cella: [0.0; 3],
            cellb: [90.0; 3],
            map_crs: [1, 2, 3],
            dmin: 0.0,
            dmax: -1.0,
            dmean: -2.0,
            ispg: 0,
            nsymbt: 0,
            extra1: [0; 8],
            exttyp: [0; 4],
            nversion: NVERSION,
            extra2: [0; 84],
            origin: [0.0; 3],
            map: *b"MAP ",
            machst: match order {
                ByteOrder::Little => [0x44, 0x44, 0, 0],
                ByteOrder::Big => [0x11, 0x11, 0, 0],
            },
            rms: -1.0,
            nlabl: 0,
            labels: vec![String::new(); 10],
            byte_order_note: None,
        }
    }

    /// The 1024 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        let order = self.order;
        let mut put = |at: usize, v: [u8; 4]| b[at..at + 4].copy_from_slice(&v);
        let i = |v: i32| match order {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        };
        let f = |v: f32| i(v.to_bits() as i32);
        put(0, i(self.nx));
        put(4, i(self.ny));
        put(8, i(self.nz));
        put(12, i(self.mode.number()));
        for k in 0..3 {
            put(16 + 4 * k, i(self.nstart[k]));
            put(28 + 4 * k, i(self.mxyz[k]));
            put(40 + 4 * k, f(self.cella[k]));
            put(52 + 4 * k, f(self.cellb[k]));
            put(64 + 4 * k, i(self.map_crs[k]));
            put(196 + 4 * k, f(self.origin[k]));
        }
        put(76, f(self.dmin));
        put(80, f(self.dmax));
        put(84, f(self.dmean));
        put(88, i(self.ispg));
        put(92, i(self.nsymbt));
        put(104, self.exttyp);
        put(108, i(self.nversion));
        put(208, self.map);
        put(212, self.machst);
        put(216, f(self.rms));
        put(220, i(self.nlabl));
        b[96..104].copy_from_slice(&self.extra1);
        b[112..196].copy_from_slice(&self.extra2);
        for (k, label) in self.labels.iter().take(10).enumerate() {
            let bytes = label.as_bytes();
            let n = bytes.len().min(80);
            let at = 224 + 80 * k;
            b[at..at + n].copy_from_slice(&bytes[..n]);
            b[at + n..at + 80].fill(b' ');
        }
        b
    }

    /// Offset of the data block.
    pub fn data_offset(&self) -> u64 {
        HEADER_LEN as u64 + self.nsymbt as u64
    }

    /// The extended header type as text (empty when unset).
    pub fn exttyp_str(&self) -> String {
        text(&self.exttyp)
    }

    /// Whether the space group marks a volume stack with `mz` sections per volume.
    pub fn is_volume_stack(&self) -> bool {
        (401..=630).contains(&self.ispg) && self.mxyz[2] > 0 && self.nz % self.mxyz[2] == 0
    }

    /// Which stored dimension (0 columns, 1 rows, 2 sections) runs along each of X, Y, Z,
    /// when `mapc/mapr/maps` is a permutation of 1, 2, 3; `None` otherwise.
    pub fn axis_permutation(&self) -> Option<[usize; 3]> {
        let mut perm = [usize::MAX; 3];
        for (stored, &axis) in self.map_crs.iter().enumerate() {
            let a = usize::try_from(axis.checked_sub(1)?).ok()?;
            if a > 2 || perm[a] != usize::MAX {
                return None;
            }
            perm[a] = stored;
        }
        Some(perm)
    }

    /// Voxel size in Å along X, Y, Z (`cella / m`), `None` where undefined.
    pub fn voxel_size(&self) -> [Option<f64>; 3] {
        let mut v = [None; 3];
        for (k, slot) in v.iter_mut().enumerate() {
            let (c, m) = (f64::from(self.cella[k]), self.mxyz[k]);
            if c.is_finite() && c > 0.0 && m > 0 {
                *slot = Some(c / f64::from(m));
            }
        }
        v
    }

    /// IMOD's extra fields when the IMOD stamp is present: flags, and SerialEM's
    /// `nint`/`nreal` (bytes and flags per section of a `SERI` extended header).
    pub fn imod_flags(&self) -> Option<i32> {
        (read_i32(&self.extra2, 152 - 112, self.order) == IMOD_STAMP)
            .then(|| read_i32(&self.extra2, 156 - 112, self.order))
    }

    /// `nint` and `nreal` (bytes 128 and 130): per-section layout of SERI/AGAR headers.
    pub fn nint_nreal(&self) -> (i16, i16) {
        (
            read_i16(&self.extra2, 128 - 112, self.order),
            read_i16(&self.extra2, 130 - 112, self.order),
        )
    }

    /// The header as original metadata (MRC2014 names).
    pub fn to_tree(&self) -> Tree {
        let xyz = |v: [f32; 3]| json!({"x": json_f64(v[0].into()), "y": json_f64(v[1].into()), "z": json_f64(v[2].into())});
        let mut t = Tree::new();
        t.insert("nx".into(), self.nx.into());
        t.insert("ny".into(), self.ny.into());
        t.insert("nz".into(), self.nz.into());
        t.insert("mode".into(), self.mode.number().into());
        t.insert("nxstart".into(), self.nstart[0].into());
        t.insert("nystart".into(), self.nstart[1].into());
        t.insert("nzstart".into(), self.nstart[2].into());
        t.insert("mx".into(), self.mxyz[0].into());
        t.insert("my".into(), self.mxyz[1].into());
        t.insert("mz".into(), self.mxyz[2].into());
        t.insert("cella".into(), xyz(self.cella));
        t.insert(
            "cellb".into(),
            json!({"alpha": json_f64(self.cellb[0].into()), "beta": json_f64(self.cellb[1].into()), "gamma": json_f64(self.cellb[2].into())}),
        );
        t.insert("mapc".into(), self.map_crs[0].into());
        t.insert("mapr".into(), self.map_crs[1].into());
        t.insert("maps".into(), self.map_crs[2].into());
        t.insert("dmin".into(), json_f64(self.dmin.into()));
        t.insert("dmax".into(), json_f64(self.dmax.into()));
        t.insert("dmean".into(), json_f64(self.dmean.into()));
        t.insert("ispg".into(), self.ispg.into());
        t.insert("nsymbt".into(), self.nsymbt.into());
        t.insert("exttyp".into(), self.exttyp_str().into());
        t.insert("nversion".into(), self.nversion.into());
        t.insert("origin".into(), xyz(self.origin));
        t.insert("map".into(), text(&self.map).into());
        t.insert(
            "machst".into(),
            Value::Array(self.machst.iter().map(|&v| v.into()).collect()),
        );
        t.insert("byte_order".into(), format!("{:?}", self.order).into());
        t.insert("rms".into(), json_f64(self.rms.into()));
        t.insert("nlabl".into(), self.nlabl.into());
        let n = usize::try_from(self.nlabl).unwrap_or(0).min(10);
        let used: Vec<Value> = self.labels[..n].iter().map(|l| l.as_str().into()).collect();
        t.insert("labels".into(), Value::Array(used));
        if let Some(flags) = self.imod_flags() {
            t.insert("imodStamp".into(), IMOD_STAMP.into());
            t.insert("imodFlags".into(), flags.into());
        }
        let (nint, nreal) = self.nint_nreal();
        if nint != 0 || nreal != 0 {
            t.insert("nint".into(), nint.into());
            t.insert("nreal".into(), nreal.into());
        }
        if let Some(note) = &self.byte_order_note {
            t.insert("byte_order_note".into(), note.as_str().into());
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_parse_round_trip_both_orders() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let mut h = Header::new(Mode::Float32, 7, 5, 3, order);
            h.cella = [7.0, 10.0, 3.0];
            h.labels[0] = "hello".into();
            h.nlabl = 1;
            let b = h.encode();
            assert!(looks_like_mrc(&b));
            let p = Header::parse(&b, None).unwrap();
            assert_eq!(p, h);
            assert_eq!(p.voxel_size(), [Some(1.0), Some(2.0), Some(1.0)]);
        }
    }

    #[test]
    fn wrong_or_missing_stamp_falls_back() {
        let h = Header::new(Mode::Int16, 64, 32, 1, ByteOrder::Big);
        let mut b = h.encode();
        b[212..216].copy_from_slice(&[0x44, 0x44, 0, 0]);
        let p = Header::parse(&b, None).unwrap();
        assert_eq!(p.order, ByteOrder::Big);
        assert!(p.byte_order_note.is_some());
        b[212..216].fill(0);
        assert_eq!(Header::parse(&b, None).unwrap().order, ByteOrder::Big);
    }

    #[test]
    fn mode_zero_sign_conventions() {
        let mut h = Header::new(Mode::Byte { signed: true }, 4, 4, 1, ByteOrder::Little);
        assert_eq!(
            Header::parse(&h.encode(), None).unwrap().mode.dtype(),
            DType::I8
        );
        h.nversion = 0;
        assert_eq!(
            Header::parse(&h.encode(), None).unwrap().mode.dtype(),
            DType::U8
        );
        h.extra2[40..44].copy_from_slice(&IMOD_STAMP.to_le_bytes());
        h.extra2[44..48].copy_from_slice(&1i32.to_le_bytes());
        assert_eq!(
            Header::parse(&h.encode(), None).unwrap().mode.dtype(),
            DType::I8
        );
    }

    #[test]
    fn permutation_of_axes() {
        let mut h = Header::new(Mode::Float32, 2, 3, 4, ByteOrder::Little);
        assert_eq!(h.axis_permutation(), Some([0, 1, 2]));
        h.map_crs = [3, 1, 2];
        assert_eq!(h.axis_permutation(), Some([1, 2, 0]));
        h.map_crs = [1, 1, 2];
        assert_eq!(h.axis_permutation(), None);
    }

    #[test]
    fn rejects_short_and_garbage() {
        assert!(Header::parse(&[0u8; 100], None).is_err());
        assert!(Header::parse(&[0xffu8; 1024], None).is_err());
    }
}
