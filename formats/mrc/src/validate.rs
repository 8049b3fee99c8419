//! `emconvert check` for MRC files: the MRC2014 rules (those mrcfile's `validate` checks,
//! and a few it does not), each broken rule reported with its header field, the value
//! found and the rule. A header the reader cannot parse at all is reported by `open`.
//!
//! Not checked here: whether `dmin`/`dmax`/`dmean`/`rms` match the data (that needs every
//! pixel; `emconvert stats` computes them).

use std::io::Read;
use std::path::Path;

use emio_core::Problem;

use crate::header::{Header, Mode, HEADER_LEN};
use crate::sources::{self, Codec};

/// Machine stamps MRC2014 allows: little-endian (two forms) and big-endian.
const MACHINE_STAMPS: [[u8; 4]; 3] = [[0x44, 0x44, 0, 0], [0x44, 0x41, 0, 0], [0x11, 0x11, 0, 0]];

/// Extended header types MRC2014 defines.
const EXTENDED_HEADER_TYPES: [&str; 7] = ["CCP4", "MRCO", "SERI", "AGAR", "FEI1", "FEI2", "HDF5"];

/// The problems of the MRC file at `path` (none when its header cannot be read: opening
/// it reports why).
pub fn validate(path: &Path) -> Vec<Problem> {
    let Some((head, file_len)) = read_head(path) else {
        return Vec::new();
    };
    match Header::parse(&head, None) {
        Ok(h) => header_problems(&h, file_len),
        Err(_) => Vec::new(),
    }
}

/// The main header's bytes, and the file's length when its data is stored uncompressed
/// (the size of a compressed file says nothing about the data).
fn read_head(path: &Path) -> Option<(Vec<u8>, Option<u64>)> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut head = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut head)
        .ok()?;
    match Codec::detect(&head) {
        Some(codec) => Some((
            sources::decompress_head(path, codec, HEADER_LEN as u64).ok()?,
            None,
        )),
        None => Some((head, Some(len))),
    }
}

/// Every MRC2014 rule `h` breaks; `file_len` is the stored file's size when known.
pub fn header_problems(h: &Header, file_len: Option<u64>) -> Vec<Problem> {
    let mut p = Vec::new();
    if &h.map != b"MAP " {
        p.push(Problem::new(
            "map",
            format!("{:?}", String::from_utf8_lossy(&h.map)),
            "the format ID at byte 208 must be \"MAP \"",
        ));
    }
    if !MACHINE_STAMPS.contains(&h.machst) {
        p.push(Problem::new(
            "machst",
            format!("{:02x?}", h.machst),
            "the machine stamp must be 44 44 00 00 or 44 41 00 00 (little-endian) or \
             11 11 00 00 (big-endian)",
        ));
    }
    if h.mode == Mode::Rgb8 {
        p.push(Problem::new(
            "mode",
            16,
            "mode 16 (RGB) is IMOD's extension, not an MRC2014 mode (0, 1, 2, 3, 4, 6, 12, 101)",
        ));
    }
    for (name, value) in [("nx", h.nx), ("ny", h.ny), ("nz", h.nz)] {
        if value == 0 {
            p.push(Problem::new(
                name,
                value,
                "a map dimension must be positive",
            ));
        }
    }
    for (name, value) in ["mx", "my", "mz"].into_iter().zip(h.mxyz) {
        if value < 0 {
            p.push(Problem::new(name, value, "a sampling must not be negative"));
        }
    }
    for ((axis, cell), m) in ["x", "y", "z"].into_iter().zip(h.cella).zip(h.mxyz) {
        let field = format!("cella.{axis}");
        if !cell.is_finite() || cell < 0.0 {
            p.push(Problem::new(
                field,
                cell,
                "a cell dimension must be a non-negative number",
            ));
        } else if cell > 0.0 && m <= 0 {
            p.push(Problem::new(
                field,
                cell,
                format!("the cell is set but m{axis} is {m}: the voxel size is undefined"),
            ));
        }
    }
    if h.axis_permutation().is_none() {
        p.push(Problem::new(
            "mapc, mapr, maps",
            format!("{:?}", h.map_crs),
            "the axis mapping must hold 1, 2 and 3 in some order",
        ));
    }
    let ispg = h.ispg;
    if !((0..=230).contains(&ispg) || (401..=630).contains(&ispg)) {
        p.push(Problem::new(
            "ispg",
            ispg,
            "the space group must be 0 (image stack), 1-230 (volume) or 401-630 (volume stack)",
        ));
    } else if (401..=630).contains(&ispg) && (h.mxyz[2] <= 0 || h.nz % h.mxyz[2] != 0) {
        p.push(Problem::new(
            "nz, mz",
            format!("{}, {}", h.nz, h.mxyz[2]),
            format!("a volume stack (ispg {ispg}) needs nz to be a multiple of mz"),
        ));
    }
    label_problems(h, &mut p);
    if !matches!(h.nversion, 20140 | 20141) {
        p.push(Problem::new(
            "nversion",
            h.nversion,
            "MRC2014 files have version 20140 or 20141",
        ));
    }
    let exttyp = h.exttyp_str();
    if h.nsymbt > 0 && !EXTENDED_HEADER_TYPES.contains(&exttyp.as_str()) {
        p.push(Problem::new(
            "exttyp",
            format!("{exttyp:?}"),
            format!(
                "an extended header of {} bytes is present: exttyp must name its type ({})",
                h.nsymbt,
                EXTENDED_HEADER_TYPES.join(", ")
            ),
        ));
    }
    if let (Some(len), Some(data)) = (file_len, data_bytes(h)) {
        let expected = h.data_offset().saturating_add(data);
        if len != expected {
            p.push(Problem::new(
                "file size",
                len,
                format!(
                    "the header describes {expected} bytes ({HEADER_LEN} header, {} extended \
                     header, {data} data): {}",
                    h.nsymbt,
                    if len > expected {
                        format!("{} bytes follow the data", len - expected)
                    } else {
                        format!("{} bytes of data are missing", expected - len)
                    }
                ),
            ));
        }
    }
    p
}

/// `nlabl` must count the labels holding text, and those must come first.
fn label_problems(h: &Header, p: &mut Vec<Problem>) {
    let used: Vec<bool> = h.labels.iter().map(|l| !l.trim().is_empty()).collect();
    let count = used.iter().filter(|&&u| u).count();
    if !(0..=10).contains(&h.nlabl) || h.nlabl as usize != count {
        p.push(Problem::new(
            "nlabl",
            h.nlabl,
            format!("{count} labels hold text: nlabl must count them"),
        ));
    }
    if let Some(gap) = used.iter().position(|&u| !u) {
        if let Some(late) = used[gap..].iter().position(|&u| u) {
            p.push(Problem::new(
                format!("label {}", gap + late),
                format!("{:?}", h.labels[gap + late]),
                format!("label {gap} is empty: labels in use must come first"),
            ));
        }
    }
}

/// Bytes of pixel data the header describes (`None` when it overflows).
fn data_bytes(h: &Header) -> Option<u64> {
    let (nx, ny, nz) = (h.nx as u64, h.ny as u64, h.nz as u64);
    let row = match h.mode.stored_size() {
        Some(size) => nx.checked_mul(size as u64)?,
        None => nx.div_ceil(2),
    };
    row.checked_mul(ny)?.checked_mul(nz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::ByteOrder;

    fn fields(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    fn valid() -> Header {
        let mut h = Header::new(Mode::Float32, 4, 3, 2, ByteOrder::Little);
        h.cella = [4.0, 3.0, 2.0];
        h
    }

    const DATA: u64 = 4 * 3 * 2 * 4;

    #[test]
    fn what_the_writer_makes_is_valid() {
        let h = valid();
        let problems = header_problems(&h, Some(1024 + DATA));
        assert!(problems.is_empty(), "{problems:?}");
        // And the same header after a round trip through its bytes.
        let again = Header::parse(&h.encode(), None).unwrap();
        assert!(header_problems(&again, Some(1024 + DATA)).is_empty());
    }

    #[test]
    fn every_broken_rule_is_named() {
        let mut h = valid();
        h.map = *b"MAP\0";
        h.machst = [1, 2, 3, 4];
        h.mxyz = [4, 0, 3];
        h.cella = [4.0, 3.0, -1.0];
        h.map_crs = [1, 1, 3];
        h.ispg = 402;
        h.nversion = 0;
        h.nsymbt = 8;
        h.exttyp = *b"XYZW";
        h.nlabl = 2;
        h.labels = vec!["".into(), "late".into()];
        let problems = header_problems(&h, Some(1024 + 8 + DATA + 5));
        assert_eq!(
            fields(&problems),
            [
                "map",
                "machst",
                "cella.y",
                "cella.z",
                "mapc, mapr, maps",
                "nz, mz",
                "nlabl",
                "label 1",
                "nversion",
                "exttyp",
                "file size",
            ]
        );
        let size = problems.last().unwrap();
        assert_eq!(size.value, (1024 + 8 + DATA + 5).to_string());
        assert!(size.why.contains("5 bytes follow the data"), "{}", size.why);
        let missing = header_problems(&valid(), Some(1000));
        assert!(missing[0].why.contains("bytes of data are missing"));
    }

    #[test]
    fn packed_and_imod_modes() {
        let mut h = Header::new(Mode::Packed4, 5, 2, 1, ByteOrder::Little);
        h.cella = [0.0; 3];
        // Rows of 5 four-bit values take 3 bytes.
        assert!(header_problems(&h, Some(1024 + 6)).is_empty());
        h.mode = Mode::Rgb8;
        assert_eq!(fields(&header_problems(&h, None)), ["mode"]);
    }
}
