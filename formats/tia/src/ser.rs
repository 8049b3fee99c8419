//! The `.ser` structure (TIA series, versions 0x210 with 32-bit and 0x220 with 64-bit
//! offsets): header, dimension arrays, the data and tag offset arrays, and the element
//! headers and tags, read with positioned reads; every size and offset is checked against
//! the file before use. Pixels are not read here.

use std::path::Path;

use emio_core::metadata::{json_f64, Tree};
use emio_core::read_at::{ReadAt, WindowReader};
use emio_core::{DType, Error, Result};
use serde_json::Value;

use crate::FORMAT;

/// `ByteOrder` of a little-endian series (`II`).
pub const BYTE_ORDER: u16 = 0x4949;
/// `SeriesID` of every TIA series.
pub const SERIES_ID: u16 = 0x0197;
/// `DataTypeID` of 1-D elements (spectra).
pub const DATA_1D: u32 = 0x4120;
/// `DataTypeID` of 2-D elements (images).
pub const DATA_2D: u32 = 0x4122;
/// `TagTypeID` of tags holding a time and a scan position.
pub const TAG_TIME_POSITION: u32 = 0x4142;
/// Bytes before the values of a 1-D element.
pub const HEADER_1D: u64 = 26;
/// Bytes before the values of a 2-D element.
pub const HEADER_2D: u64 = 50;

/// Bytes before the values of an element: [`HEADER_2D`] for images, [`HEADER_1D`] for
/// spectra.
pub fn header_len(image: bool) -> u64 {
    if image {
        HEADER_2D
    } else {
        HEADER_1D
    }
}

/// One entry of the dimension array (a scan or series dimension).
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    /// Number of elements along it.
    pub size: u32,
    /// Coordinate of element `calibration_element`.
    pub offset: f64,
    /// Step between elements.
    pub delta: f64,
    /// Index the offset refers to.
    pub element: u32,
    /// Free text (`Position`, `Number`, ...).
    pub description: String,
    /// Units (`meters`, empty, ...).
    pub units: String,
}

/// One element's calibration: per axis (x then y for images; spectra use the first entry
/// and leave the second zero), offset, delta and calibration element.
pub type Calibration = [(f64, f64, u32); 2];

/// The calibration and size of one element (all elements share size and type). Held
/// inline: a series has thousands of elements, each of whose headers is read at open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElementHeader {
    /// Whether the element is an image (two axes) rather than a spectrum (one).
    pub image: bool,
    /// Offset, delta and calibration element per axis.
    pub calibration: Calibration,
    /// TIA data type code (1..=10).
    pub data_type: u16,
    /// `ArrayLength` then 1 (spectra), or `ArraySizeX`, `ArraySizeY` (images).
    pub sizes: [u32; 2],
}

impl ElementHeader {
    /// Axes of the element: 2 for images, 1 for spectra.
    pub fn axes(&self) -> usize {
        if self.image {
            2
        } else {
            1
        }
    }

    /// Logical element type.
    pub fn dtype(&self) -> DType {
        dtype_of(self.data_type).expect("validated at parse")
    }

    /// Bytes of the element's values, saturating: a size no file can hold then fails the
    /// check against the file instead of wrapping around.
    pub fn data_bytes(&self) -> u64 {
        self.sizes.iter().fold(self.dtype().size() as u64, |n, &s| {
            n.saturating_mul(u64::from(s))
        })
    }
}

/// One element's tag: acquisition time and, for [`TAG_TIME_POSITION`], the scan position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tag {
    /// `TagTypeID` as stored in the tag.
    pub type_id: u16,
    /// The two bytes after it (unused by TIA, kept).
    pub unknown: u16,
    /// Seconds since 1970.
    pub time: u32,
    /// Scan position (metres), when the tag holds one.
    pub position: Option<(f64, f64)>,
}

/// A parsed series: header, dimensions, the valid elements' offsets, first header, tags.
#[derive(Debug, Clone)]
pub struct Series {
    /// `SeriesVersion` (0x210 or 0x220).
    pub version: u16,
    /// `DataTypeID`: [`DATA_1D`] or [`DATA_2D`].
    pub data_type_id: u32,
    /// `TagTypeID` of the header.
    pub tag_type_id: u32,
    /// Elements the acquisition planned.
    pub total: u32,
    /// Elements actually stored.
    pub valid: u32,
    /// Where the offset arrays start.
    pub offset_array_offset: u64,
    /// Series dimensions, slowest last as stored (Dim-1 first).
    pub dimensions: Vec<Dimension>,
    /// Byte offset of each valid element.
    pub offsets: Vec<u64>,
    /// The header of element 0 (every valid element has its type and size).
    pub element: ElementHeader,
    /// Each valid element's calibration (offset, delta, calibration element per axis),
    /// which may differ from element 0's (see [`Series::calibration_mismatch`]).
    pub calibrations: Vec<Calibration>,
    /// Each valid element's tag.
    pub tags: Vec<Tag>,
}

/// The logical dtype of a TIA data type code.
pub fn dtype_of(code: u16) -> Option<DType> {
    Some(match code {
        1 => DType::U8,
        2 => DType::U16,
        3 => DType::U32,
        4 => DType::I8,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::F32,
        8 => DType::F64,
        9 => DType::C64,
        10 => DType::C128,
        _ => return None,
    })
}

/// Little-endian reads with bounds checks that name the field, through positioned reads
/// (an open series is 2 MiB elements apart: touching each header through a memory map
/// costs a page fault per element).
struct Reader<'a> {
    source: WindowReader<'a>,
    path: &'a Path,
}

/// Bytes read at once: a tag and the next element's header, which TIA writes side by
/// side, come in one read.
const WINDOW: usize = 512;

/// What a read is for, named only when the read fails: a series of thousands of elements
/// makes several reads per element, which must not format a name each.
trait What {
    fn describe(&self) -> String;
}

impl What for &str {
    fn describe(&self) -> String {
        (*self).to_string()
    }
}

/// Field `.1` of dimension `.0` (`Dim-1_DimensionSize`, as rsciio names them).
struct OfDimension<'a>(u32, &'a str);

impl What for OfDimension<'_> {
    fn describe(&self) -> String {
        format!("Dim-{}_{}", self.0, self.1)
    }
}

/// Field `.1` of element `.0`.
struct OfElement<'a>(u64, &'a str);

impl What for OfElement<'_> {
    fn describe(&self) -> String {
        format!("element {} {}", self.0, self.1)
    }
}

impl Reader<'_> {
    /// Fails unless `n` bytes at `at` lie inside the file.
    fn check(&self, at: u64, n: u64, what: impl What) -> Result<()> {
        let size = self.source.size();
        if at.checked_add(n).is_some_and(|end| end <= size) {
            return Ok(());
        }
        Err(Error::malformed(
            FORMAT,
            at,
            format!(
                "{} ({n} bytes at {at}) inside the {size}-byte file",
                what.describe()
            ),
        ))
    }
    /// The `n` bytes at `at`, checked against the file first.
    fn bytes(&self, at: u64, n: u64, what: impl What) -> Result<Vec<u8>> {
        self.check(at, n, what)?;
        self.source.vec(at, n).map_err(|e| Error::io(self.path, e))
    }
    fn array<const N: usize>(&self, at: u64, what: impl What) -> Result<[u8; N]> {
        let mut out = [0; N];
        self.fill(at, &mut out, what)?;
        Ok(out)
    }
    fn u16(&self, at: u64, what: impl What) -> Result<u16> {
        self.array(at, what).map(u16::from_le_bytes)
    }
    fn u32(&self, at: u64, what: impl What) -> Result<u32> {
        self.array(at, what).map(u32::from_le_bytes)
    }
    fn u64(&self, at: u64, what: impl What) -> Result<u64> {
        self.array(at, what).map(u64::from_le_bytes)
    }
    fn f64(&self, at: u64, what: impl What) -> Result<f64> {
        self.array(at, what).map(f64::from_le_bytes)
    }
    /// Fill `out` with the bytes at `at`, checked against the file first.
    fn fill(&self, at: u64, out: &mut [u8], what: impl What) -> Result<()> {
        self.check(at, out.len() as u64, what)?;
        self.source
            .read(at, out)
            .map_err(|e| Error::io(self.path, e))
    }
    /// Latin-1 text.
    fn text(&self, at: u64, n: u64, what: impl What) -> Result<String> {
        Ok(emio_core::latin1::latin1(&self.bytes(at, n, what)?))
    }
}

/// The header of element `index` at `at` (images: [`HEADER_2D`] bytes, spectra:
/// [`HEADER_1D`]), read at once.
fn parse_element(r: &Reader, at: u64, two_d: bool, index: usize) -> Result<ElementHeader> {
    let mut header = [0; HEADER_2D as usize];
    let header = &mut header[..header_len(two_d) as usize];
    r.fill(at, header, OfElement(index as u64, "header"))?;
    let f64_at = |from: usize| f64::from_le_bytes(header[from..from + 8].try_into().expect("8"));
    let u32_at = |from: usize| u32::from_le_bytes(header[from..from + 4].try_into().expect("4"));
    let axes = if two_d { 2 } else { 1 };
    let mut calibration = [(0.0, 0.0, 0); 2];
    for (a, c) in calibration.iter_mut().take(axes).enumerate() {
        let base = a * 20;
        *c = (f64_at(base), f64_at(base + 8), u32_at(base + 16));
    }
    let p = axes * 20;
    let data_type = u16::from_le_bytes([header[p], header[p + 1]]);
    if dtype_of(data_type).is_none() {
        return Err(Error::malformed(
            FORMAT,
            at + p as u64,
            format!("element {index} DataType between 1 and 10, found {data_type}"),
        ));
    }
    let sizes = [u32_at(p + 2), if two_d { u32_at(p + 6) } else { 1 }];
    Ok(ElementHeader {
        image: two_d,
        calibration,
        data_type,
        sizes,
    })
}

/// Parse a series' structure from the file `path` (read through `source`, the first
/// bytes of that file: all of it, or what is mapped of it).
pub fn parse(source: &dyn ReadAt, path: &Path) -> Result<Series> {
    let r = Reader {
        source: WindowReader::new(source, WINDOW),
        path,
    };
    let file_len = r.source.size();
    let order = r.u16(0, "ByteOrder")?;
    let id = r.u16(2, "SeriesID")?;
    if order != BYTE_ORDER || id != SERIES_ID {
        return Err(Error::malformed(
            FORMAT,
            0,
            format!("a TIA series signature 4949 9701, found {order:04x} {id:04x}"),
        ));
    }
    let version = r.u16(4, "SeriesVersion")?;
    let data_type_id = r.u32(6, "DataTypeID")?;
    if data_type_id != DATA_1D && data_type_id != DATA_2D {
        return Err(Error::malformed(
            FORMAT,
            6,
            format!("DataTypeID 0x4120 (spectra) or 0x4122 (images), found {data_type_id:#x}"),
        ));
    }
    let tag_type_id = r.u32(10, "TagTypeID")?;
    let total = r.u32(14, "TotalNumberElements")?;
    let valid = r.u32(18, "ValidNumberElements")?;
    if valid > total {
        return Err(Error::malformed(
            FORMAT,
            18,
            format!("ValidNumberElements at most TotalNumberElements ({total}), found {valid}"),
        ));
    }
    let wide = version > 0x210;
    let word = if wide { 8 } else { 4 };
    let offset_array_offset = if wide {
        r.u64(22, "OffsetArrayOffset")?
    } else {
        u64::from(r.u32(22, "OffsetArrayOffset")?)
    };
    let ndim = r.u32(22 + word, "NumberDimensions")?;
    let mut at = 26 + word;
    // Each dimension entry takes at least 32 bytes: a count beyond the file is a lie.
    if u64::from(ndim) * 32 > file_len {
        return Err(Error::malformed(
            FORMAT,
            22 + word,
            format!("NumberDimensions that fit in the file, found {ndim}"),
        ));
    }
    let dimensions_at = at;
    let mut dimensions = Vec::with_capacity(ndim as usize);
    for n in 1..=ndim {
        let f = |name| OfDimension(n, name);
        let size = r.u32(at, f("DimensionSize"))?;
        let offset = r.f64(at + 4, f("CalibrationOffset"))?;
        let delta = r.f64(at + 12, f("CalibrationDelta"))?;
        let element = r.u32(at + 20, f("CalibrationElement"))?;
        let dlen = u64::from(r.u32(at + 24, f("DescriptionLength"))?);
        let description = r.text(at + 28, dlen, f("Description"))?;
        let ulen_at = at + 28 + dlen;
        let ulen = u64::from(r.u32(ulen_at, f("UnitsLength"))?);
        let units = r.text(ulen_at + 4, ulen, f("Units"))?;
        at = ulen_at + 4 + ulen;
        dimensions.push(Dimension {
            size,
            offset,
            delta,
            element,
            description,
            units,
        });
    }
    // The series' elements are laid out over the product of the dimension sizes: with
    // three or more dimensions, damaged sizes can make it more than any index counts.
    let sizes: Vec<u64> = dimensions.iter().map(|d| u64::from(d.size)).collect();
    if emio_core::source::element_count(&sizes).is_none() {
        return Err(Error::malformed(
            FORMAT,
            dimensions_at,
            format!("dimension sizes whose product fits in 64 bits, found {sizes:?}"),
        ));
    }
    // Both offset arrays (data, then tags) hold TotalNumberElements entries; only the
    // first ValidNumberElements of each are used.
    let array_bytes = u64::from(total) * word;
    r.check(
        offset_array_offset,
        2 * array_bytes,
        "the data and tag offset arrays",
    )?;
    let used = u64::from(valid) * word;
    let data_offsets = r.bytes(offset_array_offset, used, "the data offset array")?;
    let tag_offsets = r.bytes(
        offset_array_offset + array_bytes,
        used,
        "the tag offset array",
    )?;
    let entry = |array: &[u8], i: u64| -> u64 {
        let at = (i * word) as usize;
        if wide {
            u64::from_le_bytes(array[at..at + 8].try_into().expect("8 bytes"))
        } else {
            u64::from(u32::from_le_bytes(
                array[at..at + 4].try_into().expect("4 bytes"),
            ))
        }
    };
    let two_d = data_type_id == DATA_2D;
    let mut offsets = Vec::with_capacity(valid as usize);
    let mut tags = Vec::with_capacity(valid as usize);
    let mut calibrations = Vec::with_capacity(valid as usize);
    let mut element: Option<ElementHeader> = None;
    for i in 0..u64::from(valid) {
        let offset = entry(&data_offsets, i);
        let header = parse_element(&r, offset, two_d, i as usize)?;
        let values_at = offset + header_len(two_d);
        r.check(values_at, header.data_bytes(), OfElement(i, "values"))?;
        calibrations.push(header.calibration);
        match &element {
            None => element = Some(header),
            Some(first) if first.data_type != header.data_type || first.sizes != header.sizes => {
                return Err(Error::malformed(
                    FORMAT,
                    offset,
                    format!(
                        "element {i} of the same type and size as element 0 \
                         (DataType {}, sizes {:?}), found DataType {}, sizes {:?}",
                        first.data_type,
                        &first.sizes[..first.axes()],
                        header.data_type,
                        &header.sizes[..header.axes()]
                    ),
                ))
            }
            Some(_) => {}
        }
        offsets.push(offset);
        let tag_at = entry(&tag_offsets, i);
        let what = || OfElement(i, "tag");
        let tag: [u8; 8] = r.array(tag_at, what())?;
        let type_id = u16::from_le_bytes([tag[0], tag[1]]);
        let position = if u32::from(type_id) == TAG_TIME_POSITION {
            let xy: [u8; 16] = r.array(tag_at + 8, what())?;
            let (x, y) = xy.split_at(8);
            let f = |b: &[u8]| f64::from_le_bytes(b.try_into().expect("8 bytes"));
            Some((f(x), f(y)))
        } else {
            None
        };
        tags.push(Tag {
            type_id,
            unknown: u16::from_le_bytes([tag[2], tag[3]]),
            time: u32::from_le_bytes([tag[4], tag[5], tag[6], tag[7]]),
            position,
        });
    }
    let element = element.ok_or_else(|| {
        Error::malformed(
            FORMAT,
            18,
            "at least one valid element (ValidNumberElements is 0: TIA keeps a single \
             spectrum in the .emi, which emio does not read)",
        )
    })?;
    Ok(Series {
        version,
        data_type_id,
        tag_type_id,
        total,
        valid,
        offset_array_offset,
        dimensions,
        offsets,
        element,
        calibrations,
        tags,
    })
}

impl Series {
    /// Whether elements are images.
    pub fn is_image(&self) -> bool {
        self.data_type_id == DATA_2D
    }

    /// Bytes from an element's start to its values.
    pub fn header_len(&self) -> u64 {
        header_len(self.is_image())
    }

    /// The step between consecutive elements when they are evenly spaced without overlap
    /// (one element: its own size).
    pub fn regular_stride(&self) -> Option<u64> {
        let record = self.header_len() + self.element.data_bytes();
        match self.offsets.as_slice() {
            [] => None,
            [_] => Some(record),
            [first, second, ..] => {
                let stride = second.checked_sub(*first)?;
                let regular = stride >= record
                    && self
                        .offsets
                        .iter()
                        .enumerate()
                        .all(|(i, &o)| Some(o) == first.checked_add(stride * i as u64));
                regular.then_some(stride)
            }
        }
    }

    /// The first element whose calibration differs from element 0's, with both
    /// calibrations as text (`offset, delta, element` per axis), when there is one.
    pub fn calibration_mismatch(&self) -> Option<(usize, String, String)> {
        let axes = self.element.axes();
        // Bit for bit: NaN offsets of every element agree.
        let bits = |c: &Calibration| c.map(|(o, d, e)| (o.to_bits(), d.to_bits(), e));
        let text = |c: &Calibration| -> String {
            c[..axes]
                .iter()
                .map(|(o, d, e)| format!("offset {o:e}, delta {d:e}, element {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let first = self.calibrations.first()?;
        let i = self
            .calibrations
            .iter()
            .position(|c| bits(c) != bits(first))?;
        Some((i, text(&self.calibrations[i]), text(first)))
    }

    /// The series header as rsciio's `ser_header_parameters` names it, with the per-element
    /// element-header and tag fields as lists.
    pub fn to_json(&self) -> Tree {
        let mut t = Tree::new();
        t.insert("ByteOrder".into(), BYTE_ORDER.into());
        t.insert("SeriesID".into(), SERIES_ID.into());
        t.insert("SeriesVersion".into(), self.version.into());
        t.insert("DataTypeID".into(), self.data_type_id.into());
        t.insert("TagTypeID".into(), self.tag_type_id.into());
        t.insert("TotalNumberElements".into(), self.total.into());
        t.insert("ValidNumberElements".into(), self.valid.into());
        t.insert("OffsetArrayOffset".into(), self.offset_array_offset.into());
        t.insert("NumberDimensions".into(), self.dimensions.len().into());
        for (i, d) in self.dimensions.iter().enumerate() {
            let k = |name: &str| format!("Dim-{}_{name}", i + 1);
            t.insert(k("DimensionSize"), d.size.into());
            t.insert(k("CalibrationOffset"), json_f64(d.offset));
            t.insert(k("CalibrationDelta"), json_f64(d.delta));
            t.insert(k("CalibrationElement"), d.element.into());
            // The lengths as stored: one byte per character (Latin-1).
            t.insert(k("DescriptionLength"), d.description.chars().count().into());
            t.insert(k("Description"), d.description.clone().into());
            t.insert(k("UnitsLength"), d.units.chars().count().into());
            t.insert(k("Units"), d.units.clone().into());
        }
        let n = self.offsets.len();
        let list = |v: Value| Value::Array(vec![v; n]);
        let axes: &[&str] = if self.is_image() { &["X", "Y"] } else { &[""] };
        for (i, a) in axes.iter().enumerate() {
            let each = |f: &dyn Fn(&(f64, f64, u32)) -> Value| {
                Value::Array(self.calibrations.iter().map(|c| f(&c[i])).collect())
            };
            t.insert(format!("CalibrationOffset{a}"), each(&|c| json_f64(c.0)));
            t.insert(format!("CalibrationDelta{a}"), each(&|c| json_f64(c.1)));
            t.insert(format!("CalibrationElement{a}"), each(&|c| c.2.into()));
        }
        t.insert("DataType".into(), list(self.element.data_type.into()));
        let size_names: &[&str] = if self.is_image() {
            &["ArraySizeX", "ArraySizeY"]
        } else {
            &["ArrayLength"]
        };
        for (name, size) in size_names.iter().zip(&self.element.sizes) {
            t.insert((*name).into(), list((*size).into()));
        }
        let tags = |f: &dyn Fn(&Tag) -> Value| Value::Array(self.tags.iter().map(f).collect());
        t.insert("TagTypeID".into(), tags(&|g| g.type_id.into()));
        t.insert("Unknown".into(), tags(&|g| g.unknown.into()));
        t.insert("Time".into(), tags(&|g| g.time.into()));
        if self.tags.iter().all(|g| g.position.is_some()) {
            t.insert(
                "PositionX".into(),
                tags(&|g| json_f64(g.position.map_or(f64::NAN, |p| p.0))),
            );
            t.insert(
                "PositionY".into(),
                tags(&|g| json_f64(g.position.map_or(f64::NAN, |p| p.1))),
            );
        }
        t
    }
}
