//! The encoded HDF5 structures every object uses: attribute values, datatype, dataspace
//! and attribute messages, and version-1 object headers.

use emio_core::{DType, Error, Result};

/// Largest message a version-1 object header can hold.
const MAX_MESSAGE: usize = 0xFFFF;

/// An attribute value the writer can store.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A fixed-length UTF-8 string (h5py reads it as `bytes`).
    Str(String),
    /// A variable-length UTF-8 string (h5py reads it as `str`, and writes Python strings
    /// so): stored in a global heap collection written just before the object's header.
    VarStr(String),
    /// A 64-bit signed integer scalar.
    Int(i64),
    /// A 64-bit float scalar.
    Float(f64),
    /// A boolean scalar (h5py's enum representation).
    Bool(bool),
    /// A 1-D array of 64-bit floats.
    Floats(Vec<f64>),
    /// A 1-D array of 64-bit signed integers.
    Ints(Vec<i64>),
}
/// Pad with NULs to a multiple of 8 bytes.
pub(super) fn pad8(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
}

/// A NUL-terminated name padded with NULs to a multiple of 8 bytes (counted from the name's
/// own start, as compound and enum datatype messages require).
pub(super) fn push_name(v: &mut Vec<u8>, name: &str) {
    let padded = (name.len() + 8) / 8 * 8;
    v.extend_from_slice(name.as_bytes());
    v.resize(v.len() + padded - name.len(), 0);
}
/// The datatype message body for an emio dtype (native byte order).
pub(super) fn datatype_message(dtype: DType) -> Result<Vec<u8>> {
    let big = cfg!(target_endian = "big");
    let order_bit = u8::from(big);
    let mut m = Vec::new();
    let fixed = |m: &mut Vec<u8>, size: u32, signed: bool| {
        m.extend_from_slice(&[0x10, order_bit | if signed { 0x08 } else { 0 }, 0, 0]);
        m.extend_from_slice(&size.to_le_bytes());
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&((size * 8) as u16).to_le_bytes());
    };
    let float = |m: &mut Vec<u8>, size: u32| {
        let (eloc, esize, msize, bias) = match size {
            2 => (10u8, 5u8, 10u8, 15u32),
            4 => (23, 8, 23, 127),
            _ => (52, 11, 52, 1023),
        };
        m.extend_from_slice(&[0x11, order_bit | 0x20, (size * 8 - 1) as u8, 0]);
        m.extend_from_slice(&size.to_le_bytes());
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&((size * 8) as u16).to_le_bytes());
        m.extend_from_slice(&[eloc, esize, 0, msize]);
        m.extend_from_slice(&bias.to_le_bytes());
    };
    let compound = |m: &mut Vec<u8>, names: &[&str], member: &dyn Fn(&mut Vec<u8>), size: u32| {
        let member_size = size / names.len() as u32;
        m.extend_from_slice(&[0x16, names.len() as u8, 0, 0]);
        m.extend_from_slice(&size.to_le_bytes());
        for (i, name) in names.iter().enumerate() {
            push_name(m, name);
            m.extend_from_slice(&(i as u32 * member_size).to_le_bytes());
            m.extend_from_slice(&[0; 4]); // dimensionality + reserved
            m.extend_from_slice(&[0; 4]); // permutation
            m.extend_from_slice(&[0; 4]); // reserved
            m.extend_from_slice(&[0; 16]); // dimension sizes
            member(m);
        }
    };
    match dtype {
        DType::U8 => fixed(&mut m, 1, false),
        DType::U16 => fixed(&mut m, 2, false),
        DType::U32 => fixed(&mut m, 4, false),
        DType::U64 => fixed(&mut m, 8, false),
        DType::I8 => fixed(&mut m, 1, true),
        DType::I16 => fixed(&mut m, 2, true),
        DType::I32 => fixed(&mut m, 4, true),
        DType::I64 => fixed(&mut m, 8, true),
        DType::F16 => float(&mut m, 2),
        DType::F32 => float(&mut m, 4),
        DType::F64 => float(&mut m, 8),
        DType::C64 => compound(&mut m, &["r", "i"], &|m| float(m, 4), 8),
        DType::C128 => compound(&mut m, &["r", "i"], &|m| float(m, 8), 16),
        DType::Rgb8 => compound(&mut m, &["R", "G", "B"], &|m| fixed(m, 1, false), 3),
        DType::Rgba8 => compound(&mut m, &["R", "G", "B", "A"], &|m| fixed(m, 1, false), 4),
        DType::Rgb16 => compound(&mut m, &["R", "G", "B"], &|m| fixed(m, 2, false), 6),
        DType::Rgba16 => compound(&mut m, &["R", "G", "B", "A"], &|m| fixed(m, 2, false), 8),
        DType::Bool => {
            // h5py's bool: enum of int8 {FALSE: 0, TRUE: 1}.
            m.extend_from_slice(&[0x18, 2, 0, 0]);
            m.extend_from_slice(&1u32.to_le_bytes());
            fixed(&mut m, 1, true);
            for name in ["FALSE", "TRUE"] {
                push_name(&mut m, name);
            }
            m.extend_from_slice(&[0, 1]);
        }
    }
    Ok(m)
}

/// The datatype message of a record of named members, packed in order (a compound type, as
/// h5py stores a NumPy structured dtype; HyperSpy's parameter maps are `values`, `std`,
/// `is_set`).
pub(super) fn record_message(fields: &[(String, DType)]) -> Result<Vec<u8>> {
    let count = u16::try_from(fields.len())
        .map_err(|_| Error::Layout(format!("a record of {} members", fields.len())))?;
    let size: usize = fields.iter().map(|(_, d)| d.size()).sum();
    let mut m = vec![0x16, count as u8, (count >> 8) as u8, 0];
    m.extend_from_slice(&(size as u32).to_le_bytes());
    let mut at = 0u32;
    for (name, dtype) in fields {
        push_name(&mut m, name);
        m.extend_from_slice(&at.to_le_bytes());
        // Dimensionality, reserved, permutation, reserved, dimension sizes (version 1).
        m.extend_from_slice(&[0; 28]);
        m.extend_from_slice(&datatype_message(*dtype)?);
        at += dtype.size() as u32;
    }
    Ok(m)
}

/// The datatype message of a fixed-length, NUL-padded UTF-8 string of `len` bytes.
pub(super) fn string_type(len: usize) -> Vec<u8> {
    // Class 3, null-terminated, UTF-8.
    let mut m = vec![0x13, 0x10, 0, 0];
    m.extend_from_slice(&(len.max(1) as u32).to_le_bytes());
    m
}

/// The dataspace message of a simple dataspace of `shape`.
pub(super) fn dataspace_message(shape: &[u64]) -> Vec<u8> {
    let mut m = vec![1, shape.len() as u8, 0, 0, 0, 0, 0, 0];
    for &n in shape {
        m.extend_from_slice(&n.to_le_bytes());
    }
    m
}

pub(super) fn attribute_message(name: &str, value: &Attr) -> Result<Vec<u8>> {
    attribute_message_with(name, value, &[0; super::vlen::REF_SIZE])
}

/// [`attribute_message`] with the global heap reference of a [`Attr::VarStr`]'s string.
pub(super) fn attribute_message_with(
    name: &str,
    value: &Attr,
    heap_ref: &[u8; super::vlen::REF_SIZE],
) -> Result<Vec<u8>> {
    let (dtype, shape, data): (Vec<u8>, Vec<u64>, Vec<u8>) = match value {
        Attr::VarStr(_) => (super::vlen::string_type()?, vec![], heap_ref.to_vec()),
        Attr::Str(s) => {
            let mut b = s.as_bytes().to_vec();
            if b.is_empty() {
                b.push(0);
            }
            (string_type(b.len()), vec![], b)
        }
        Attr::Int(v) => (
            datatype_message(DType::I64)?,
            vec![],
            v.to_ne_bytes().to_vec(),
        ),
        Attr::Float(v) => (
            datatype_message(DType::F64)?,
            vec![],
            v.to_ne_bytes().to_vec(),
        ),
        Attr::Bool(v) => (datatype_message(DType::Bool)?, vec![], vec![u8::from(*v)]),
        Attr::Floats(v) => (
            datatype_message(DType::F64)?,
            vec![v.len() as u64],
            v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        ),
        Attr::Ints(v) => (
            datatype_message(DType::I64)?,
            vec![v.len() as u64],
            v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        ),
    };
    let space = dataspace_message(&shape);
    let mut m = vec![1, 0];
    m.extend_from_slice(&((name.len() + 1) as u16).to_le_bytes());
    m.extend_from_slice(&(dtype.len() as u16).to_le_bytes());
    m.extend_from_slice(&(space.len() as u16).to_le_bytes());
    m.extend_from_slice(name.as_bytes());
    m.push(0);
    pad8(&mut m);
    m.extend_from_slice(&dtype);
    pad8(&mut m);
    m.extend_from_slice(&space);
    pad8(&mut m);
    m.extend_from_slice(&data);
    if m.len() > MAX_MESSAGE - 8 {
        return Err(Error::unsupported(
            "hdf5",
            format!(
                "attribute {name} of {} bytes (the limit is 64 KiB)",
                m.len()
            ),
        ));
    }
    Ok(m)
}

/// Assemble a version-1 object header from `(type, body)` messages.
pub(super) fn object_header(messages: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (kind, data) in messages {
        let mut d = data.clone();
        pad8(&mut d);
        body.extend_from_slice(&kind.to_le_bytes());
        body.extend_from_slice(&(d.len() as u16).to_le_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]);
        body.extend_from_slice(&d);
    }
    let mut h = vec![1, 0];
    h.extend_from_slice(&(messages.len() as u16).to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&(body.len() as u32).to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(&body);
    h
}
