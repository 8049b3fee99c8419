//! The DM5 writer: the tag tree the DM4 writer builds (`crate::write`), stored the way
//! DM5 stores it: tag groups as HDF5 groups, data tags as attributes, unnamed entries
//! named by their index (`[0]`, `[1]`, ...), and the pixels as the contiguous dataset
//! `ImageList/[0]/ImageData/Data` (C order: DM's dimensions reversed; colour as 32-bit
//! `0xAARRGGBB` values, as Nion Swift writes them). The pixels stream through core's
//! write pipeline straight into the file.

use std::path::Path;

use emio_core::{DType, Dataset, Progress, Result};
use emio_h5::writer::{Attr, H5Writer};

use crate::tags::{ElemType, Scalar};
use crate::write::{place_pixels, prepare, stream_spectrum_image, WData, WTag};

/// The HDF5 element type of the stored pixels of `dtype` (as DM stores them, [`crate::write`]).
fn stored_dtype(dtype: DType) -> DType {
    match dtype {
        DType::Rgb8 | DType::Rgba8 => DType::U32,
        DType::F16 => DType::F32,
        other => other,
    }
}

fn is_float(t: ElemType) -> bool {
    matches!(t, ElemType::F32 | ElemType::F64)
}

fn scalar_attr(t: ElemType, s: Scalar) -> Attr {
    match (t, s) {
        (ElemType::Bool, Scalar::Int(v)) => Attr::Bool(v != 0),
        (_, Scalar::Float(v)) => Attr::Float(v),
        (_, Scalar::Int(v)) if is_float(t) => Attr::Float(v as f64),
        (_, Scalar::Int(v)) => Attr::Int(v),
        (_, Scalar::UInt(v)) => i64::try_from(v).map_or(Attr::Float(v as f64), Attr::Int),
        (_, Scalar::Char(c)) => Attr::Int(i64::from(c)),
    }
}

fn as_f64(s: Scalar) -> f64 {
    match s {
        Scalar::Int(v) => v as f64,
        Scalar::UInt(v) => v as f64,
        Scalar::Float(v) => v,
        Scalar::Char(c) => f64::from(c),
    }
}

/// An array tag as one attribute.
fn array_attr(t: ElemType, values: &[Scalar]) -> Attr {
    let ints: Option<Vec<i64>> = values
        .iter()
        .map(|v| match v {
            Scalar::Int(i) => Some(*i),
            Scalar::UInt(u) => i64::try_from(*u).ok(),
            Scalar::Char(c) => Some(i64::from(*c)),
            Scalar::Float(_) => None,
        })
        .collect();
    match ints {
        Some(ints) if !is_float(t) => Attr::Ints(ints),
        _ => Attr::Floats(values.iter().map(|v| as_f64(*v)).collect()),
    }
}

/// The HDF5 name of a tag: unnamed entries by their index among the unnamed ones; `/`
/// (the HDF5 path separator) replaced.
fn member_name(name: &str, unnamed: &mut usize) -> String {
    if name.is_empty() {
        *unnamed += 1;
        format!("[{}]", *unnamed - 1)
    } else {
        name.replace('/', "_")
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// Largest attribute written as one: a version-1 object header message holds at most
/// 64 KiB, so larger arrays and texts become datasets (which the reader reads back as
/// values).
const MAX_ATTRIBUTE_BYTES: usize = 32 << 10;

/// An attribute too large for an object header as a dataset: dtype, shape and native bytes.
fn as_dataset(attr: &Attr) -> Option<(DType, Vec<u64>, Vec<u8>)> {
    let (dtype, bytes): (DType, Vec<u8>) = match attr {
        Attr::Ints(v) if v.len() * 8 > MAX_ATTRIBUTE_BYTES => {
            (DType::I64, v.iter().flat_map(|x| x.to_ne_bytes()).collect())
        }
        Attr::Floats(v) if v.len() * 8 > MAX_ATTRIBUTE_BYTES => {
            (DType::F64, v.iter().flat_map(|x| x.to_ne_bytes()).collect())
        }
        Attr::Str(s) if s.len() > MAX_ATTRIBUTE_BYTES => (DType::U8, s.as_bytes().to_vec()),
        _ => return None,
    };
    let n = (bytes.len() / dtype.size()) as u64;
    Some((dtype, vec![n], bytes))
}

/// Create group `path` holding `entries`; returns the path of the pixel placeholder when
/// it lies below.
fn put_group(w: &mut H5Writer, path: &str, entries: &[(String, WTag)]) -> Result<Option<String>> {
    let mut attrs = Vec::new();
    let mut pixels = None;
    let mut unnamed = 0;
    w.create_group(path, Vec::new())?;
    for (name, tag) in entries {
        let name = member_name(name, &mut unnamed);
        match tag {
            WTag::Group(sub) => {
                if let Some(p) = put_group(w, &join(path, &name), sub)? {
                    pixels = Some(p);
                }
            }
            WTag::Data(WData::Pixels) => pixels = Some(join(path, &name)),
            WTag::Data(WData::Scalar(t, s)) => attrs.push((name, scalar_attr(*t, *s))),
            WTag::Data(WData::Text(s)) => attrs.push((name, Attr::Str(s.clone()))),
            WTag::Data(WData::Array(t, values)) => attrs.push((name, array_attr(*t, values))),
            WTag::Data(WData::StructArray(fields, rows)) => {
                // No HDF5 attribute of records here: one row array per index.
                let group = join(path, &name);
                let row_attrs = rows
                    .iter()
                    .enumerate()
                    .map(|(i, row)| {
                        let values: Vec<Scalar> = row.clone();
                        let float = fields.iter().any(|t| is_float(*t));
                        let t = if float { ElemType::F64 } else { ElemType::I64 };
                        (format!("[{i}]"), array_attr(t, &values))
                    })
                    .collect();
                w.create_group(&group, row_attrs)?;
            }
        }
    }
    let mut small = Vec::new();
    for (name, attr) in attrs {
        match as_dataset(&attr) {
            Some((dtype, shape, bytes)) => {
                w.write_dataset(&join(path, &name), dtype, &shape, &bytes, &[])?
            }
            None => small.push((name, attr)),
        }
    }
    w.create_group(path, small)?;
    Ok(pixels)
}

/// Write `ds` as a DM5 file at `path`.
pub fn write_dm5(ds: &Dataset, path: &Path, progress: &dyn Progress) -> Result<()> {
    let (_, geo, tree) = prepare(ds)?;
    let stored = stored_dtype(ds.dtype());
    // C order of the stored array: DM's dimensions (fastest first) reversed.
    let shape: Vec<u64> = geo.dm_axes.iter().rev().map(|&i| ds.shape()[i]).collect();
    let mut w = H5Writer::create(path)?;
    let pixels =
        put_group(&mut w, "", &tree)?.unwrap_or_else(|| "ImageList/[0]/ImageData/Data".into());
    // DM's bytes are little-endian; HDF5's declared type is native.
    let to_native = |bytes: &mut [u8]| {
        if cfg!(target_endian = "big") {
            emio_core::dtype::swap_bytes_in_place(bytes, stored.swap_unit());
        }
    };
    if geo.spectrum_image {
        w.write_streamed(&pixels, stored, &shape, &[], |sink| {
            stream_spectrum_image(ds, progress, &mut |bytes| {
                let mut native = bytes.to_vec();
                to_native(&mut native);
                sink(&native)
            })
        })?;
    } else {
        // Stored as the dataset is (C order): each region at its place.
        w.write_placed(&pixels, stored, &shape, &[], |file, path, at| {
            place_pixels(ds, file, path, at, progress, |buffer| to_native(buffer))
        })?;
    }
    w.finish()
}
