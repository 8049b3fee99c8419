//! Series files (`.ser`) laid out the way TIA writes them, for tests and benchmarks
//! (feature `test-util`): emio reads TIA but does not write it, so the crate's tests and
//! the benchmark's inputs are made here, by one writer.

use std::io::{self, Write};

/// The layout of a generated series: header, dimensions, the offset arrays, then each
/// element (calibrations, type, sizes, values) followed by its tag.
#[derive(Debug, Clone)]
pub struct SeriesLayout {
    /// The series version: 0x210 (32-bit offsets) or 0x220 (64-bit offsets).
    pub version: u16,
    /// TIA's element type code (1 u8, 2 u16, 3 u32, 4 i8, 5 i16, 6 i32, 7 f32, 8 f64,
    /// 9 complex64, 10 complex128).
    pub code: u16,
    /// Element sizes as stored: `[n]` for spectra, `[columns, rows]` for images (whose
    /// rows TIA stores bottom-up: the values [`SeriesLayout::write`] is given are stored
    /// as they are).
    pub sizes: Vec<u32>,
    /// Elements the series declares (its first dimension's size).
    pub total: u32,
    /// Elements stored: the first `valid` of them.
    pub valid: u32,
    /// Sizes of the dimensions after the first.
    pub more_dimensions: Vec<u32>,
    /// With positions, the header declares no dimension and each element's tag holds its
    /// scan position (x, y).
    pub positions: Option<Vec<(f64, f64)>>,
    /// Three stray bytes before each odd element, so that elements are not evenly spaced.
    pub scattered: bool,
    /// The calibration (offset, delta) of every element axis of element 0.
    pub calibration: (f64, f64),
    /// Added to the calibration offset of each element after the first, once per element.
    pub drift: f64,
}

impl Default for SeriesLayout {
    fn default() -> Self {
        SeriesLayout {
            version: 0x220,
            code: 1,
            sizes: vec![1],
            total: 1,
            valid: 1,
            more_dimensions: Vec::new(),
            positions: None,
            scattered: false,
            calibration: (0.0, 1.0),
            drift: 0.0,
        }
    }
}

/// Bytes of the stray gap before odd elements of a scattered series.
const GAP: u64 = 3;

impl SeriesLayout {
    /// Bytes of an offset: 8 from version 0x220 on, 4 before.
    fn word(&self) -> u64 {
        if self.version > 0x210 {
            8
        } else {
            4
        }
    }

    /// The tag type: time and position (0x4142) or time only (0x4152).
    fn tag_type(&self) -> u16 {
        if self.positions.is_some() {
            0x4142
        } else {
            0x4152
        }
    }

    /// Bytes of the values of one element.
    ///
    /// # Panics
    /// When [`SeriesLayout::code`] is no TIA type.
    pub fn data_bytes(&self) -> u64 {
        let element = crate::ser::dtype_of(self.code)
            .expect("a TIA type code")
            .size();
        self.sizes.iter().map(|&s| u64::from(s)).product::<u64>() * element as u64
    }

    /// Bytes of an element before its values: a calibration per axis, type and sizes.
    fn element_header_bytes(&self) -> u64 {
        self.sizes.len() as u64 * 20 + 2 + 4 * self.sizes.len() as u64
    }

    /// Bytes of an element's tag.
    fn tag_bytes(&self) -> u64 {
        if self.positions.is_some() {
            24
        } else {
            8
        }
    }

    /// The series header, dimensions and offset arrays: everything before element 0.
    fn head(&self) -> Vec<u8> {
        let word = self.word() as usize;
        let mut f = Vec::new();
        f.extend(0x4949u16.to_le_bytes());
        f.extend(0x0197u16.to_le_bytes());
        f.extend(self.version.to_le_bytes());
        let data_type: u32 = if self.sizes.len() == 2 {
            0x4122
        } else {
            0x4120
        };
        f.extend(data_type.to_le_bytes());
        f.extend(u32::from(self.tag_type()).to_le_bytes());
        f.extend(self.total.to_le_bytes());
        f.extend(self.valid.to_le_bytes());
        let arrays_offset_at = f.len();
        f.extend(vec![0u8; word]);
        if self.positions.is_some() {
            f.extend(0u32.to_le_bytes());
        } else {
            f.extend((1 + self.more_dimensions.len() as u32).to_le_bytes());
            // Each dimension: size, calibration offset 0 and delta 1, element 0, "Number",
            // no units.
            for size in std::iter::once(self.total).chain(self.more_dimensions.iter().copied()) {
                f.extend(size.to_le_bytes());
                f.extend(0.0f64.to_le_bytes());
                f.extend(1.0f64.to_le_bytes());
                f.extend(0u32.to_le_bytes());
                f.extend(6u32.to_le_bytes());
                f.extend(b"Number");
                f.extend(0u32.to_le_bytes());
            }
        }
        let arrays_at = f.len() as u64;
        f[arrays_offset_at..arrays_offset_at + word]
            .copy_from_slice(&arrays_at.to_le_bytes()[..word]);
        let first = arrays_at + 2 * self.word() * u64::from(self.total);
        let record = self.element_header_bytes() + self.data_bytes() + self.tag_bytes();
        let element_at = |i: u64| {
            // One gap before each odd element up to `i`.
            let gaps = if self.scattered { i.div_ceil(2) } else { 0 };
            first + i * record + gaps * GAP
        };
        let stored = |i: u64| i < u64::from(self.valid);
        let offsets = (0..u64::from(self.total)).map(|i| stored(i).then(|| element_at(i)));
        let tags = (0..u64::from(self.total)).map(|i| {
            stored(i).then(|| element_at(i) + self.element_header_bytes() + self.data_bytes())
        });
        for at in offsets.chain(tags) {
            f.extend(&at.unwrap_or(0).to_le_bytes()[..word]);
        }
        f
    }

    /// Element `i`'s bytes before its values.
    fn element_header(&self, i: u32) -> Vec<u8> {
        let mut e = Vec::new();
        let (offset, delta) = self.calibration;
        for _ in &self.sizes {
            e.extend((offset + f64::from(i) * self.drift).to_le_bytes());
            e.extend(delta.to_le_bytes());
            e.extend(0u32.to_le_bytes());
        }
        e.extend(self.code.to_le_bytes());
        for s in &self.sizes {
            e.extend(s.to_le_bytes());
        }
        e
    }

    /// Element `i`'s tag: its type, time, and position.
    fn tag(&self, i: u32) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend(self.tag_type().to_le_bytes());
        t.extend(0u16.to_le_bytes());
        t.extend((1_456_000_000 + i).to_le_bytes());
        if let Some(positions) = &self.positions {
            let (x, y) = positions[i as usize];
            t.extend(x.to_le_bytes());
            t.extend(y.to_le_bytes());
        }
        t
    }

    /// Write the series to `out`, the values of element `i` (as stored) from `values(i)`,
    /// for each of the [`SeriesLayout::valid`] elements in turn: files of any size stream.
    /// Errors of `out` are given as `io_error` makes them; errors of `values` as they are.
    ///
    /// # Panics
    /// When `values` gives other than [`SeriesLayout::data_bytes`] bytes, or a positioned
    /// series has fewer positions than stored elements.
    pub fn write<E>(
        &self,
        out: &mut impl Write,
        io_error: impl Fn(io::Error) -> E,
        mut values: impl FnMut(u32) -> Result<Vec<u8>, E>,
    ) -> Result<(), E> {
        let mut put = |bytes: &[u8]| out.write_all(bytes).map_err(&io_error);
        put(&self.head())?;
        for i in 0..self.valid {
            if self.scattered && i % 2 == 1 {
                put(&[0xAA; GAP as usize])?;
            }
            put(&self.element_header(i))?;
            let v = values(i)?;
            assert_eq!(v.len() as u64, self.data_bytes(), "element {i}'s values");
            put(&v)?;
            put(&self.tag(i))?;
        }
        Ok(())
    }

    /// The series as bytes in memory ([`SeriesLayout::write`]).
    pub fn to_bytes(&self, mut values: impl FnMut(u32) -> Vec<u8>) -> Vec<u8> {
        let mut f = Vec::new();
        let written: io::Result<()> = self.write(&mut f, |e| e, |i| Ok(values(i)));
        written.expect("writing to memory");
        f
    }
}
