//! Logical element types and the byte order of stored data.

use crate::error::{Error, Result};

/// Byte order of stored bytes. Belongs to a pixel source, never to a logical [`DType`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// Least significant byte first.
    Little,
    /// Most significant byte first.
    Big,
}

impl ByteOrder {
    /// The byte order of the machine emio runs on.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "little") {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };

    /// Whether data stored in this order must be swapped to become native.
    pub fn is_native(self) -> bool {
        self == Self::NATIVE
    }
}

/// Logical element type of a dataset.
///
/// Complex types are pairs of floats (real, imaginary). RGB/RGBA types are records of
/// 3 or 4 unsigned channels in R, G, B(, A) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// One byte, 0 or 1.
    Bool,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// IEEE half precision float.
    F16,
    /// IEEE single precision float.
    F32,
    /// IEEE double precision float.
    F64,
    /// Complex of two f32.
    C64,
    /// Complex of two f64.
    C128,
    /// RGB record of u8 channels.
    Rgb8,
    /// RGBA record of u8 channels.
    Rgba8,
    /// RGB record of u16 channels.
    Rgb16,
    /// RGBA record of u16 channels.
    Rgba16,
}

impl DType {
    /// Every logical type, for tests and listings.
    pub const ALL: [DType; 18] = [
        DType::Bool,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::F32,
        DType::F64,
        DType::C64,
        DType::C128,
        DType::Rgb8,
        DType::Rgba8,
        DType::Rgb16,
        DType::Rgba16,
    ];

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 | DType::C64 => 8,
            DType::C128 => 16,
            DType::Rgb8 => 3,
            DType::Rgba8 => 4,
            DType::Rgb16 => 6,
            DType::Rgba16 => 8,
        }
    }

    /// Size of the unit that byte swapping reverses: the whole element for scalars, one
    /// component for complex numbers, one channel for RGB(A).
    pub fn swap_unit(self) -> usize {
        match self {
            DType::C64 => 4,
            DType::C128 => 8,
            DType::Rgb8 | DType::Rgba8 => 1,
            DType::Rgb16 | DType::Rgba16 => 2,
            other => other.size(),
        }
    }

    /// NumPy's `dtype.str` for this type in little-endian storage (`<u2`, `|u1`, `|V3`, ...).
    pub fn numpy_str(self) -> &'static str {
        match self {
            DType::Bool => "|b1",
            DType::U8 => "|u1",
            DType::U16 => "<u2",
            DType::U32 => "<u4",
            DType::U64 => "<u8",
            DType::I8 => "|i1",
            DType::I16 => "<i2",
            DType::I32 => "<i4",
            DType::I64 => "<i8",
            DType::F16 => "<f2",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::C64 => "<c8",
            DType::C128 => "<c16",
            DType::Rgb8 => "|V3",
            DType::Rgba8 => "|V4",
            DType::Rgb16 => "|V6",
            DType::Rgba16 => "|V8",
        }
    }

    /// The record fields of RGB(A) types as NumPy spells them (`[("R", "|u1"), ...]`).
    pub fn numpy_fields(self) -> Option<&'static [(&'static str, &'static str)]> {
        const RGB8: [(&str, &str); 3] = [("R", "|u1"), ("G", "|u1"), ("B", "|u1")];
        const RGBA8: [(&str, &str); 4] = [("R", "|u1"), ("G", "|u1"), ("B", "|u1"), ("A", "|u1")];
        const RGB16: [(&str, &str); 3] = [("R", "<u2"), ("G", "<u2"), ("B", "<u2")];
        const RGBA16: [(&str, &str); 4] = [("R", "<u2"), ("G", "<u2"), ("B", "<u2"), ("A", "<u2")];
        match self {
            DType::Rgb8 => Some(&RGB8),
            DType::Rgba8 => Some(&RGBA8),
            DType::Rgb16 => Some(&RGB16),
            DType::Rgba16 => Some(&RGBA16),
            _ => None,
        }
    }

    /// Parse a NumPy scalar type string (`<u2`, `>f4`, `|u1`, `b1`, `=i8`...) into the logical
    /// type and the byte order of the stored data.
    pub fn from_numpy_str(s: &str) -> Result<(DType, ByteOrder)> {
        let bad = || Error::unsupported("npy", format!("NumPy dtype {s:?}"));
        let (order, code) = match s.as_bytes().first() {
            Some(b'<') => (ByteOrder::Little, &s[1..]),
            Some(b'>') => (ByteOrder::Big, &s[1..]),
            Some(b'|') | Some(b'=') => (ByteOrder::NATIVE, &s[1..]),
            _ => (ByteOrder::NATIVE, s),
        };
        let dtype = match code {
            "b1" | "?" => DType::Bool,
            "u1" | "B" => DType::U8,
            "u2" => DType::U16,
            "u4" => DType::U32,
            "u8" => DType::U64,
            "i1" | "b" => DType::I8,
            "i2" => DType::I16,
            "i4" => DType::I32,
            "i8" => DType::I64,
            "f2" | "e" => DType::F16,
            "f4" => DType::F32,
            "f8" => DType::F64,
            "c8" => DType::C64,
            "c16" => DType::C128,
            _ => return Err(bad()),
        };
        Ok((dtype, order))
    }

    /// The RGB(A) type whose NumPy record fields are exactly `fields` (name, scalar type).
    pub fn from_numpy_fields(fields: &[(String, String)]) -> Option<(DType, ByteOrder)> {
        let channel = fields.first()?.1.as_str();
        let (ctype, order) = DType::from_numpy_str(channel).ok()?;
        if fields.iter().any(|(_, t)| t != channel) {
            return None;
        }
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        let dtype = match (names.as_slice(), ctype) {
            (["R", "G", "B"], DType::U8) => DType::Rgb8,
            (["R", "G", "B", "A"], DType::U8) => DType::Rgba8,
            (["R", "G", "B"], DType::U16) => DType::Rgb16,
            (["R", "G", "B", "A"], DType::U16) => DType::Rgba16,
            _ => return None,
        };
        Some((dtype, order))
    }

    /// Whether this is a complex type.
    pub fn is_complex(self) -> bool {
        matches!(self, DType::C64 | DType::C128)
    }

    /// Whether this is an RGB or RGBA record type.
    pub fn is_rgb(self) -> bool {
        self.numpy_fields().is_some()
    }

    /// Whether this is a floating-point scalar type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::F32 | DType::F64)
    }

    /// Whether this is an integer scalar type (not bool).
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            DType::U8
                | DType::U16
                | DType::U32
                | DType::U64
                | DType::I8
                | DType::I16
                | DType::I32
                | DType::I64
        )
    }

    /// Whether this is a signed integer type.
    pub fn is_signed_integer(self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }
}

impl DType {
    /// NumPy's name of the type (`uint16`, `complex64`, ...; `rgb8` etc. for records),
    /// which is also Zarr v3's `data_type` spelling for the scalar types.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::C64 => "complex64",
            DType::C128 => "complex128",
            DType::Rgb8 => "rgb8",
            DType::Rgba8 => "rgba8",
            DType::Rgb16 => "rgb16",
            DType::Rgba16 => "rgba16",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Reverse the byte order of every `unit`-sized group in `bytes` (in place), with the
/// widest byte shuffles the processor runs ([`crate::swap`]).
pub fn swap_bytes_in_place(bytes: &mut [u8], unit: usize) {
    crate::swap::in_place(bytes, unit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_spelling_round_trips() {
        for dt in DType::ALL {
            if dt.is_rgb() {
                let fields: Vec<(String, String)> = dt
                    .numpy_fields()
                    .unwrap()
                    .iter()
                    .map(|(n, t)| (n.to_string(), t.to_string()))
                    .collect();
                assert_eq!(DType::from_numpy_fields(&fields).unwrap().0, dt);
            } else {
                assert_eq!(DType::from_numpy_str(dt.numpy_str()).unwrap().0, dt);
            }
        }
        assert_eq!(
            DType::from_numpy_str(">u2").unwrap(),
            (DType::U16, ByteOrder::Big)
        );
        assert!(DType::from_numpy_str("<U8").is_err());
    }

    #[test]
    fn swap_reverses_units() {
        let mut b = [1u8, 2, 3, 4, 5, 6, 7, 8];
        swap_bytes_in_place(&mut b, 4);
        assert_eq!(b, [4, 3, 2, 1, 8, 7, 6, 5]);
        swap_bytes_in_place(&mut b, 2);
        assert_eq!(b, [3, 4, 1, 2, 7, 8, 5, 6]);
        let mut c = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        swap_bytes_in_place(&mut c, 16);
        assert_eq!(c[0], 16);
        // Misaligned slices take the group-by-group path with the same result.
        let mut d = [0u8, 1, 2, 3, 4, 5, 6, 7, 8];
        swap_bytes_in_place(&mut d[1..], 8);
        assert_eq!(d, [0, 8, 7, 6, 5, 4, 3, 2, 1]);
        let mut e = [0u8, 1, 2, 3, 4];
        swap_bytes_in_place(&mut e[1..], 2);
        assert_eq!(e, [0, 2, 1, 4, 3]);
    }
}
