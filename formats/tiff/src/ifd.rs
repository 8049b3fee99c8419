//! TIFF structure: the file header, the chain of image file directories (IFDs) and the
//! typed values of their entries. Pure functions over the file's bytes; every count and
//! offset is checked against the file size before use, and IFD chains that loop are cut.

use std::collections::HashSet;

use emio_core::metadata::json_f64;
use emio_core::{ByteOrder, Error, Result};
use serde_json::Value;

/// Registry name used in errors.
pub const FORMAT: &str = "tiff";

/// Most IFDs a file may chain (a guard against pathological files; 10 million pages).
const MAX_IFDS: usize = 10_000_000;

/// Classic (32-bit offsets) or BigTIFF (64-bit offsets) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Byte order of every number in the file.
    pub order: ByteOrder,
    /// BigTIFF (version 43) rather than classic TIFF (version 42).
    pub big: bool,
    /// Offset of the first IFD.
    pub first_ifd: u64,
}

/// Reads numbers of the file's byte order at checked positions.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The whole file.
    pub bytes: &'a [u8],
    /// Byte order of the file.
    pub order: ByteOrder,
}

impl<'a> Reader<'a> {
    /// `n` bytes at `offset`, or a malformed-file error.
    pub fn slice(&self, offset: u64, n: u64) -> Result<&'a [u8]> {
        let end = offset
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len() as u64)
            .ok_or_else(|| {
                Error::malformed(
                    FORMAT,
                    offset,
                    format!("{n} bytes inside the {}-byte file", self.bytes.len()),
                )
            })?;
        Ok(&self.bytes[offset as usize..end as usize])
    }

    fn array<const N: usize>(&self, offset: u64) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.slice(offset, N as u64)?);
        Ok(native(self.order, a))
    }

    /// An unsigned 16-bit number.
    pub fn u16(&self, offset: u64) -> Result<u16> {
        Ok(u16::from_ne_bytes(self.array(offset)?))
    }

    /// An unsigned 32-bit number.
    pub fn u32(&self, offset: u64) -> Result<u32> {
        Ok(u32::from_ne_bytes(self.array(offset)?))
    }

    /// An unsigned 64-bit number.
    pub fn u64(&self, offset: u64) -> Result<u64> {
        Ok(u64::from_ne_bytes(self.array(offset)?))
    }
}

/// The `N`-byte numbers of `raw` in byte order `order`, each converted by `f` from its
/// bytes in native order; the order is looked at once, not per number ([`FileOrder`]).
fn numbers<const N: usize, T>(raw: &[u8], order: ByteOrder, f: impl Fn([u8; N]) -> T) -> Vec<T> {
    fn each<O: FileOrder, const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        let (numbers, _) = raw.as_chunks::<N>();
        numbers.iter().map(|&a| f(O::native(a))).collect()
    }
    match order {
        ByteOrder::Little => each::<Little, N, T>(raw, f),
        ByteOrder::Big => each::<Big, N, T>(raw, f),
    }
}

/// The rationals of `raw` (pairs of 4-byte numbers, numerator first) in byte order
/// `order`, each number converted by `f` as in [`numbers`].
fn pairs(raw: &[u8], order: ByteOrder, f: impl Fn([u8; 4]) -> i64) -> Vec<(i64, i64)> {
    let halves = numbers(raw, order, f);
    halves.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// Parse the 8-byte (classic) or 16-byte (BigTIFF) header.
pub fn parse_header(bytes: &[u8]) -> Result<Header> {
    let order = match bytes.get(..2) {
        Some(b"II") => ByteOrder::Little,
        Some(b"MM") => ByteOrder::Big,
        _ => return Err(Error::malformed(FORMAT, 0, "byte-order mark II or MM")),
    };
    let r = Reader { bytes, order };
    match r.u16(2)? {
        42 => Ok(Header {
            order,
            big: false,
            first_ifd: u64::from(r.u32(4)?),
        }),
        43 => {
            if r.u16(4)? != 8 || r.u16(6)? != 0 {
                return Err(Error::malformed(
                    FORMAT,
                    4,
                    "BigTIFF offset size 8 and reserved 0",
                ));
            }
            Ok(Header {
                order,
                big: true,
                first_ifd: r.u64(8)?,
            })
        }
        v => Err(Error::malformed(
            FORMAT,
            2,
            format!("version 42 or 43, found {v}"),
        )),
    }
}

/// Size in bytes of one value of a TIFF field type, or `None` for unknown types.
pub fn type_size(ftype: u16) -> Option<u64> {
    Some(match ftype {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

/// One IFD entry; its value bytes lie at `pos` (inline or at an offset), already checked to
/// be inside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Tag number.
    pub tag: u16,
    /// Field type code (1 BYTE ... 18 IFD8).
    pub ftype: u16,
    /// Number of values.
    pub count: u64,
    /// File offset of the value bytes.
    pub pos: u64,
}

impl Entry {
    /// Length of the value bytes.
    pub fn len(&self) -> u64 {
        self.count * type_size(self.ftype).unwrap_or(1)
    }

    /// Whether the entry holds no value.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// About how many bytes the entry's values take as JSON ([`Values::to_json`]): what is
    /// charged against the file's metadata budget before they are decoded.
    pub fn json_size(&self) -> u64 {
        const SUMMARY: u64 = 24;
        match self.ftype {
            2 => self.count.saturating_add(2),
            7 if self.count > MAX_BYTES_LISTED as u64 => SUMMARY,
            _ if self.count > MAX_VALUES_LISTED as u64 => SUMMARY,
            // A number of 1 or 2 bytes as text (`-128,`, `-32768,`); wider ones up to 24.
            t => match type_size(t).unwrap_or(1) {
                size @ (1 | 2) => self.count.saturating_mul(2 * size + 3),
                _ => self.count.saturating_mul(24),
            },
        }
    }
}

/// Most numbers of one entry listed in metadata; longer lists are summarised by their
/// length (`<N values>`).
const MAX_VALUES_LISTED: usize = 1 << 16;
/// Most bytes of an UNDEFINED entry listed in metadata; longer blobs are summarised.
const MAX_BYTES_LISTED: usize = 64;

/// What is wrong with an IFD entry as stored (readers tolerate it; `emconvert check`
/// reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// The entry's field type code is not one TIFF defines: the entry was dropped.
    UnknownType {
        /// Tag number.
        tag: u16,
        /// The field type code found.
        ftype: u16,
    },
    /// The entry's `count` values (of `size` bytes each) at byte `pos` do not lie inside
    /// the file: the entry was dropped.
    Outside {
        /// Tag number.
        tag: u16,
        /// Number of values.
        count: u64,
        /// Bytes per value.
        size: u64,
        /// Where the values would start.
        pos: u64,
    },
    /// The entry follows one with the same or a higher tag: TIFF requires entries sorted
    /// by ascending tag (readers that search the table may miss it).
    Unsorted {
        /// Tag number.
        tag: u16,
        /// The tag before it.
        previous: u16,
    },
}

/// Defects kept per IFD at most (the rest are counted in [`Ifd::more_defects`]).
pub const MAX_DEFECTS: usize = 32;

/// One image file directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ifd {
    /// File offset of the IFD.
    pub offset: u64,
    /// Entries in file order (entries with unknown types or out-of-file values are dropped).
    pub entries: Vec<Entry>,
    /// Offset of the next IFD (0 at the end of the chain).
    pub next: u64,
    /// The first [`MAX_DEFECTS`] defects of the entry table, in file order.
    pub defects: Vec<Defect>,
    /// How many more defects there were.
    pub more_defects: u64,
}

impl Ifd {
    /// The entry for `tag`.
    pub fn get(&self, tag: u16) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }
}

/// Parse one IFD at `offset`.
pub fn parse_ifd(bytes: &[u8], header: &Header, offset: u64) -> Result<Ifd> {
    let r = Reader {
        bytes,
        order: header.order,
    };
    let (count, entry_size, first, inline) = if header.big {
        (r.u64(offset)?, 20u64, offset + 8, 8u64)
    } else {
        (u64::from(r.u16(offset)?), 12u64, offset + 2, 4u64)
    };
    // The entries and the next-IFD offset must fit in the file.
    let table = r.slice(
        first,
        count.saturating_mul(entry_size).saturating_add(inline),
    )?;
    let table = &table[..(count * entry_size) as usize];
    let (mut defects, mut more_defects) = (Vec::new(), 0u64);
    let mut defect = |d: Defect| {
        if defects.len() < MAX_DEFECTS {
            defects.push(d);
        } else {
            more_defects += 1;
        }
    };
    let file_len = bytes.len() as u64;
    let entries = match (header.order, header.big) {
        (ByteOrder::Little, false) => entries::<Little, 12>(table, first, file_len, &mut defect),
        (ByteOrder::Little, true) => entries::<Little, 20>(table, first, file_len, &mut defect),
        (ByteOrder::Big, false) => entries::<Big, 12>(table, first, file_len, &mut defect),
        (ByteOrder::Big, true) => entries::<Big, 20>(table, first, file_len, &mut defect),
    };
    let next_at = first + count * entry_size;
    let next = if header.big {
        r.u64(next_at)?
    } else {
        u64::from(r.u32(next_at)?)
    };
    Ok(Ifd {
        offset,
        entries,
        next,
        defects,
        more_defects,
    })
}

/// A file's byte order as a type, so that code reading many numbers is compiled once per
/// order rather than testing the order per number (under fuzzing's comparison tracing, a
/// test per field was a third of a structure parse). [`Reader`]'s single numbers and
/// [`numbers`]' lists go through it too: one byte-order mechanism for the whole file.
trait FileOrder {
    /// The order of the file's bytes.
    const ORDER: ByteOrder;

    /// `b`, the bytes of a number in the file's order, in native order.
    #[inline(always)]
    fn native<const N: usize>(mut b: [u8; N]) -> [u8; N] {
        if !matches!(
            (Self::ORDER, ByteOrder::NATIVE),
            (ByteOrder::Little, ByteOrder::Little) | (ByteOrder::Big, ByteOrder::Big)
        ) {
            b.reverse();
        }
        b
    }
}

/// Little-endian files (`II`).
struct Little;
/// Big-endian files (`MM`).
struct Big;

impl FileOrder for Little {
    const ORDER: ByteOrder = ByteOrder::Little;
}

impl FileOrder for Big {
    const ORDER: ByteOrder = ByteOrder::Big;
}

/// `b` (bytes in `order`) in native order.
fn native<const N: usize>(order: ByteOrder, b: [u8; N]) -> [u8; N] {
    match order {
        ByteOrder::Little => Little::native(b),
        ByteOrder::Big => Big::native(b),
    }
}

/// The `N` bytes at `at` of an entry.
#[inline(always)]
fn field<const N: usize>(entry: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&entry[at..at + N]);
    a
}

/// The entries of the IFD table `table` (at byte `first` of a `file_len`-byte file) of
/// `SIZE`-byte entries (12 in TIFF, 20 in BigTIFF) in byte order `O`; entries of unknown
/// type or with values outside the file are dropped as defects. Compiled once per order
/// and kind, the loop reads fixed-size entries with no per-field test of either (IFDs of
/// thousands of entries, under fuzzing's comparison tracing, were a third of a structure
/// parse).
fn entries<O: FileOrder, const SIZE: usize>(
    table: &[u8],
    first: u64,
    file_len: u64,
    defect: &mut impl FnMut(Defect),
) -> Vec<Entry> {
    let big = SIZE == 20;
    let inline: u64 = if big { 8 } else { 4 };
    let word = |entry: &[u8], at: usize| {
        if big {
            u64::from_ne_bytes(O::native(field(entry, at)))
        } else {
            u64::from(u32::from_ne_bytes(O::native(field(entry, at))))
        }
    };
    let mut entries = Vec::with_capacity(table.len() / SIZE);
    let mut previous: Option<u16> = None;
    for (i, entry) in table.chunks_exact(SIZE).enumerate() {
        let tag = u16::from_ne_bytes(O::native(field(entry, 0)));
        if let Some(previous) = previous.filter(|&p| p >= tag) {
            defect(Defect::Unsorted { tag, previous });
        }
        previous = Some(tag);
        let ftype = u16::from_ne_bytes(O::native(field(entry, 2)));
        let n = word(entry, 4);
        let value_field = if big { 12 } else { 8 };
        let Some(size) = type_size(ftype) else {
            defect(Defect::UnknownType { tag, ftype });
            continue;
        };
        let len = n.checked_mul(size);
        let pos = match len {
            Some(len) if len <= inline => first + (i * SIZE + value_field) as u64,
            _ => word(entry, value_field),
        };
        let inside = len
            .and_then(|len| pos.checked_add(len))
            .is_some_and(|end| end <= file_len);
        if !inside {
            defect(Defect::Outside {
                tag,
                count: n,
                size,
                pos,
            });
            continue;
        }
        entries.push(Entry {
            tag,
            ftype,
            count: n,
            pos,
        });
    }
    entries
}

/// Follow the IFD chain from the header. A chain that loops back, points outside the file or
/// reaches a broken IFD ends there: the pages read so far are kept, and what ended the chain
/// is returned as a warning for the user. A broken first IFD is an error.
pub fn parse_chain(bytes: &[u8], header: &Header) -> Result<(Vec<Ifd>, Vec<String>)> {
    // Offsets seen, kept only once the chain first steps back: while every IFD lies after
    // the one before (as writers chain them), none can be a revisit.
    let mut seen: Option<HashSet<u64>> = None;
    let mut ifds: Vec<Ifd> = Vec::new();
    let mut warnings = Vec::new();
    let mut offset = header.first_ifd;
    while offset != 0 {
        if ifds.len() >= MAX_IFDS {
            warnings.push(format!(
                "only the first {MAX_IFDS} IFDs were read; the chain goes on at byte {offset}"
            ));
            break;
        }
        let ascending = seen.is_none() && ifds.last().is_none_or(|last| offset > last.offset);
        let revisit = !ascending
            && !seen
                .get_or_insert_with(|| ifds.iter().map(|ifd| ifd.offset).collect())
                .insert(offset);
        if revisit {
            warnings.push(format!(
                "the IFD chain loops back to byte {offset} after {} IFDs; it was cut there",
                ifds.len()
            ));
            break;
        }
        match parse_ifd(bytes, header, offset) {
            Ok(ifd) => {
                offset = ifd.next;
                ifds.push(ifd);
            }
            Err(e) if ifds.is_empty() => return Err(e),
            Err(e) => {
                warnings.push(format!(
                    "IFD {} and any after it were skipped: {e}",
                    ifds.len()
                ));
                break;
            }
        }
    }
    if ifds.is_empty() {
        return Err(Error::malformed(FORMAT, 4, "at least one IFD"));
    }
    Ok((ifds, warnings))
}

/// Decoded values of an entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// BYTE, SHORT, LONG, LONG8, IFD, IFD8.
    Unsigned(Vec<u64>),
    /// SBYTE, SSHORT, SLONG, SLONG8.
    Signed(Vec<i64>),
    /// RATIONAL / SRATIONAL as (numerator, denominator).
    Rational(Vec<(i64, i64)>),
    /// FLOAT, DOUBLE.
    Float(Vec<f64>),
    /// ASCII.
    Ascii(String),
    /// UNDEFINED.
    Bytes(Vec<u8>),
}

impl<'a> Reader<'a> {
    /// Decode all values of `entry`.
    pub fn values(&self, e: &Entry) -> Result<Values> {
        let raw = self.slice(e.pos, e.len())?;
        let order = self.order;
        Ok(match e.ftype {
            1 => Values::Unsigned(raw.iter().map(|&b| u64::from(b)).collect()),
            6 => Values::Signed(raw.iter().map(|&b| i64::from(b as i8)).collect()),
            7 => Values::Bytes(raw.to_vec()),
            2 => Values::Ascii(ascii(raw)),
            3 => Values::Unsigned(numbers(raw, order, |a| u64::from(u16::from_ne_bytes(a)))),
            8 => Values::Signed(numbers(raw, order, |a| i64::from(i16::from_ne_bytes(a)))),
            4 | 13 => Values::Unsigned(numbers(raw, order, |a| u64::from(u32::from_ne_bytes(a)))),
            9 => Values::Signed(numbers(raw, order, |a| i64::from(i32::from_ne_bytes(a)))),
            16 | 18 => Values::Unsigned(numbers(raw, order, u64::from_ne_bytes)),
            17 => Values::Signed(numbers(raw, order, i64::from_ne_bytes)),
            5 => Values::Rational(pairs(raw, order, |a| i64::from(u32::from_ne_bytes(a)))),
            10 => Values::Rational(pairs(raw, order, |a| i64::from(i32::from_ne_bytes(a)))),
            11 => Values::Float(numbers(raw, order, |a| f64::from(f32::from_ne_bytes(a)))),
            12 => Values::Float(numbers(raw, order, f64::from_ne_bytes)),
            t => {
                return Err(Error::malformed(
                    FORMAT,
                    e.pos,
                    format!("a known field type, found {t}"),
                ))
            }
        })
    }

    /// Unsigned integer values of an entry (offsets, counts, sizes).
    pub fn unsigned(&self, e: &Entry) -> Result<Vec<u64>> {
        match self.values(e)? {
            Values::Unsigned(v) => Ok(v),
            Values::Signed(v) => Ok(v.into_iter().map(|x| x.max(0) as u64).collect()),
            _ => Err(Error::malformed(
                FORMAT,
                e.pos,
                format!("integer values for tag {}", e.tag),
            )),
        }
    }

    /// The first of an entry's [`Reader::unsigned`] values (None when it has none), read
    /// without building the list: a page's single-valued tags (sizes, compression,
    /// sample format) are read this way for every page, and the list's allocation was a
    /// quarter of the open of a 256-page stack. The checks are the same: the whole entry
    /// lies in the file and holds integers.
    pub fn first_unsigned(&self, e: &Entry) -> Result<Option<u64>> {
        fn first<O: FileOrder, const N: usize>(raw: &[u8]) -> Option<[u8; N]> {
            raw.first_chunk::<N>().map(|&a| O::native(a))
        }
        fn number<const N: usize>(raw: &[u8], order: ByteOrder) -> Option<[u8; N]> {
            match order {
                ByteOrder::Little => first::<Little, N>(raw),
                ByteOrder::Big => first::<Big, N>(raw),
            }
        }
        let raw = self.slice(e.pos, e.len())?;
        let order = self.order;
        let positive = |v: i64| v.max(0) as u64;
        Ok(match e.ftype {
            1 => raw.first().map(|&b| u64::from(b)),
            6 => raw.first().map(|&b| positive(i64::from(b as i8))),
            3 => number(raw, order).map(|a| u64::from(u16::from_ne_bytes(a))),
            8 => number(raw, order).map(|a| positive(i64::from(i16::from_ne_bytes(a)))),
            4 | 13 => number(raw, order).map(|a| u64::from(u32::from_ne_bytes(a))),
            9 => number(raw, order).map(|a| positive(i64::from(i32::from_ne_bytes(a)))),
            16 | 18 => number(raw, order).map(u64::from_ne_bytes),
            17 => number(raw, order).map(|a| positive(i64::from_ne_bytes(a))),
            // Not integers: the error `unsigned` gives.
            _ => return self.unsigned(e).map(|v| v.first().copied()),
        })
    }

    /// The text of an ASCII (or byte) entry.
    pub fn text(&self, e: &Entry) -> Result<String> {
        Ok(match self.values(e)? {
            Values::Ascii(s) => s,
            Values::Bytes(b) => ascii(&b),
            Values::Unsigned(v) => ascii(&v.iter().map(|&x| x as u8).collect::<Vec<_>>()),
            _ => {
                return Err(Error::malformed(
                    FORMAT,
                    e.pos,
                    format!("text for tag {}", e.tag),
                ))
            }
        })
    }

    /// Float values of a numeric entry (rationals divided out).
    pub fn floats(&self, e: &Entry) -> Result<Vec<f64>> {
        Ok(match self.values(e)? {
            Values::Unsigned(v) => v.into_iter().map(|x| x as f64).collect(),
            Values::Signed(v) => v.into_iter().map(|x| x as f64).collect(),
            Values::Rational(v) => v.into_iter().map(|(n, d)| n as f64 / d as f64).collect(),
            Values::Float(v) => v,
            _ => {
                return Err(Error::malformed(
                    FORMAT,
                    e.pos,
                    format!("numbers for tag {}", e.tag),
                ))
            }
        })
    }
}

/// Text up to the first NUL, decoded as UTF-8 or, failing that, Latin-1.
pub fn ascii(raw: &[u8]) -> String {
    // Up to the first NUL, found by the standard library's word-wise search (a byte loop
    // here was a comparison traced per byte under fuzzing, a tenth of a structure parse).
    let raw = std::ffi::CStr::from_bytes_until_nul(raw).map_or(raw, |c| c.to_bytes());
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_string(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

impl Values {
    /// The values as JSON: single values unwrapped, rationals as `[num, den]` pairs, long
    /// byte blobs and number lists (over 64 bytes, over 65,536 numbers) summarised by their
    /// length.
    pub fn to_json(&self) -> Value {
        fn one_or_many<T>(v: &[T], f: impl Fn(&T) -> Value) -> Value {
            match v {
                [one] => f(one),
                _ if v.len() > MAX_VALUES_LISTED => Value::String(format!("<{} values>", v.len())),
                _ => Value::Array(v.iter().map(f).collect()),
            }
        }
        match self {
            Values::Unsigned(v) => one_or_many(v, |&x| Value::from(x)),
            Values::Signed(v) => one_or_many(v, |&x| Value::from(x)),
            Values::Rational(v) => one_or_many(v, |&(n, d)| Value::Array(vec![n.into(), d.into()])),
            Values::Float(v) => one_or_many(v, |&x| json_f64(x)),
            Values::Ascii(s) => Value::String(s.clone()),
            Values::Bytes(b) if b.len() <= MAX_BYTES_LISTED => {
                Value::Array(b.iter().map(|&x| Value::from(x)).collect())
            }
            Values::Bytes(b) => Value::String(format!("<{} bytes>", b.len())),
        }
    }
}

#[cfg(test)]
mod tests;
