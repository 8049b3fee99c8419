//! `emconvert check` for TIFF files: what the reader tolerates but the TIFF specification
//! forbids, each with the IFD, the tag, the value and the rule. Entries with field types
//! TIFF does not define or values outside the file (the reader drops them), entries out of
//! tag order, strip/tile offset and byte-count tables of different lengths, and strips or
//! tiles that run past the end of the file. A broken IFD chain and skipped pages are the
//! reader's warnings, which `check` reports as well.

use std::path::Path;

use emio_core::{Problem, Storage};

use crate::ifd::{self, Defect, Ifd, Reader};
use crate::tags;

/// Problems reported per file at most; the rest are counted in a last problem.
const MAX_PROBLEMS: usize = 64;

/// Offset/count tag pairs of a page's data blocks.
const BLOCK_TABLES: [(u16, u16); 2] = [(273, 279), (324, 325)];

/// The problems of the TIFF file at `path` (none when its header or first IFD cannot be
/// read: opening it reports why).
pub fn validate(path: &Path) -> Vec<Problem> {
    let Ok(storage) = Storage::map(path) else {
        return Vec::new();
    };
    let bytes: &[u8] = &storage;
    let Ok(header) = ifd::parse_header(bytes) else {
        return Vec::new();
    };
    let Ok((ifds, _)) = ifd::parse_chain(bytes, &header) else {
        return Vec::new();
    };
    let r = Reader {
        bytes,
        order: header.order,
    };
    let mut problems = Vec::new();
    let mut more = 0u64;
    for (i, d) in ifds.iter().enumerate() {
        for problem in ifd_problems(i, d, &r) {
            if problems.len() < MAX_PROBLEMS {
                problems.push(problem);
            } else {
                more += 1;
            }
        }
        more += d.more_defects;
    }
    if more > 0 {
        problems.push(Problem::new(
            "more",
            more,
            "further problems of the same kinds were not listed",
        ));
    }
    problems
}

/// The problems of IFD `index`.
fn ifd_problems(index: usize, d: &Ifd, r: &Reader) -> Vec<Problem> {
    let field = |tag: u16| format!("IFD {index} tag {tag} ({})", tags::name(tag));
    let mut out: Vec<Problem> = d
        .defects
        .iter()
        .map(|defect| match *defect {
            Defect::UnknownType { tag, ftype } => Problem::new(
                field(tag),
                format!("type {ftype}"),
                "field types are 1-12 (TIFF 6.0) and 16-18 (BigTIFF): the entry is ignored",
            ),
            Defect::Outside {
                tag,
                count,
                size,
                pos,
            } => Problem::new(
                field(tag),
                format!("{count} values of {size} bytes at byte {pos}"),
                format!(
                    "the values must lie inside the {}-byte file: the entry is ignored",
                    r.bytes.len()
                ),
            ),
            Defect::Unsorted { tag, previous } if tag == previous => Problem::new(
                field(tag),
                "repeated",
                "a tag may appear once per IFD: readers take one of the entries",
            ),
            Defect::Unsorted { tag, previous } => Problem::new(
                field(tag),
                format!("after tag {previous}"),
                "entries must be sorted by ascending tag",
            ),
        })
        .collect();
    for (offsets_tag, counts_tag) in BLOCK_TABLES {
        let (Some(offsets), Some(counts)) = (d.get(offsets_tag), d.get(counts_tag)) else {
            continue;
        };
        let (Ok(offsets), Ok(counts)) = (r.unsigned(offsets), r.unsigned(counts)) else {
            continue;
        };
        if offsets.len() != counts.len() {
            out.push(Problem::new(
                field(counts_tag),
                format!("{} values", counts.len()),
                format!(
                    "one byte count per offset: {} has {} values",
                    tags::name(offsets_tag),
                    offsets.len()
                ),
            ));
        }
        let len = r.bytes.len() as u64;
        if let Some((k, (&o, &c))) = offsets
            .iter()
            .zip(&counts)
            .enumerate()
            .find(|(_, (&o, &c))| o.checked_add(c).is_none_or(|end| end > len))
        {
            out.push(Problem::new(
                format!("IFD {index} block {k}"),
                format!("{c} bytes at byte {o}"),
                format!("strips and tiles must lie inside the {len}-byte file"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian classic TIFF of one 4 × 2 uint8 strip, with the given extra entries
    /// `(tag, type, count, value)` added to the IFD's entries in this order.
    fn tiff(extra: &[(u16, u16, u32, u32)], strip_count: u32) -> Vec<u8> {
        let mut entries: Vec<(u16, u16, u32, u32)> = vec![
            (256, 3, 1, 4),
            (257, 3, 1, 2),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (273, 4, 1, 8),
            (278, 3, 1, 2),
            (279, 4, 1, strip_count),
        ];
        entries.extend_from_slice(extra);
        let mut b = b"II*\0".to_vec();
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, ty, count, value) in entries {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&value.to_le_bytes());
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        b
    }

    fn problems(bytes: &[u8]) -> Vec<Problem> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tif");
        std::fs::write(&path, bytes).unwrap();
        validate(&path)
    }

    #[test]
    fn a_well_formed_file_has_none() {
        assert!(problems(&tiff(&[], 8)).is_empty());
    }

    #[test]
    fn dropped_unsorted_and_outside_entries_are_named() {
        let bytes = tiff(
            &[
                (305, 99, 1, 0),       // Software with an undefined type
                (306, 2, 20, 100_000), // DateTime beyond the end of the file
                (270, 2, 1, 0),        // ImageDescription out of order
                (270, 2, 1, 0),        // and repeated
            ],
            500,
        );
        let found = problems(&bytes);
        let fields: Vec<&str> = found.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "IFD 0 tag 305 (Software)",
                "IFD 0 tag 306 (DateTime)",
                "IFD 0 tag 270 (ImageDescription)",
                "IFD 0 tag 270 (ImageDescription)",
                "IFD 0 block 0",
            ]
        );
        assert_eq!(found[0].value, "type 99");
        assert!(found[1].why.contains("inside the"), "{}", found[1].why);
        assert_eq!(found[2].value, "after tag 306");
        assert_eq!(found[3].value, "repeated");
        assert_eq!(found[4].value, "500 bytes at byte 8");
    }

    #[test]
    fn tables_of_different_lengths() {
        // StripOffsets (the sixth entry, at byte 18 + 5 * 12) as two SHORTs, 8 and 0, for
        // one StripByteCounts value.
        let mut bytes = tiff(&[], 8);
        let entry = 18 + 5 * 12;
        bytes[entry + 2..entry + 4].copy_from_slice(&3u16.to_le_bytes());
        bytes[entry + 4..entry + 8].copy_from_slice(&2u32.to_le_bytes());
        bytes[entry + 8..entry + 12].copy_from_slice(&[8, 0, 0, 0]);
        let found = problems(&bytes);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "IFD 0 tag 279 (StripByteCounts)");
        assert_eq!(found[0].value, "1 values");
        assert!(
            found[0].why.contains("StripOffsets has 2 values"),
            "{}",
            found[0].why
        );
    }
}
