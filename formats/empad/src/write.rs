//! Writing: the `.raw` frames (each 128×128 float32 frame followed by two zero metadata
//! rows), streamed through core's pipeline, and the `.xml` that names it, in the layout
//! rsciio's and LiberTEM's readers expect (both read the `.raw` as float32 whatever the
//! `.xml` says, so no other type can be stored).
//!
//! Data of another real type is converted exactly: every value of u8/i8/u16/i16/f16 (and
//! bool) is a float32; u32/i32/u64/i64 and f64 values are checked one by one, and the first
//! one float32 cannot hold exactly (an integer above 2^24 off the float grid, a float64
//! with more precision) stops the write with an error naming it, so nothing is rounded
//! silently and, the registry writing atomically, no partial file is left. Complex and RGB
//! data are refused up front.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use emio_core::metadata::get_str;
use emio_core::output::stream_frames;
use emio_core::units::{self, Quantity};
use emio_core::{AxisKind, DType, Dataset, Error, Progress, Result};

use crate::{FORMAT, FRAME_SIDE, RAW_ROWS};

/// Escape text for an XML attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Per-nm of a reciprocal length unit.
fn per_nm(unit: &str) -> Option<f64> {
    units::ratio("nm", units::reciprocal(unit)?, Quantity::Length)
}

fn uniform_scale(dataset: &Dataset, dim: usize) -> Option<f64> {
    match dataset.axes[dim].kind {
        AxisKind::Uniform { scale, .. } => Some(scale),
        AxisKind::Values(_) => None,
    }
}

/// A value float32 cannot hold exactly: its index in the piece and its text.
type Inexact = (usize, String);

/// Converts one frame piece of `dtype` values (a real type) into little-endian float32
/// bytes, exactly: the first value float32 cannot hold exactly (an integer beyond 2^24
/// that is not a multiple of the float spacing there, a float64 with more precision or
/// range) is returned instead, nothing is rounded.
fn to_f32_le(dtype: DType, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Inexact> {
    out.clear();
    macro_rules! ints {
        ($t:ty) => {
            for (i, b) in bytes.chunks_exact(size_of::<$t>()).enumerate() {
                let v = <$t>::from_ne_bytes(b.try_into().expect("element"));
                let f = v as f32;
                if f as i128 != v as i128 {
                    return Err((i, v.to_string()));
                }
                out.extend_from_slice(&f.to_le_bytes());
            }
        };
    }
    match dtype {
        DType::Bool | DType::U8 => ints!(u8),
        DType::I8 => ints!(i8),
        DType::U16 => ints!(u16),
        DType::I16 => ints!(i16),
        DType::U32 => ints!(u32),
        DType::I32 => ints!(i32),
        DType::U64 => ints!(u64),
        DType::I64 => ints!(i64),
        DType::F16 => {
            for b in bytes.chunks_exact(2) {
                let v = f32::from(emio_core::half::f16::from_ne_bytes([b[0], b[1]]));
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        DType::F64 => {
            for (i, b) in bytes.chunks_exact(8).enumerate() {
                let v = f64::from_ne_bytes(b.try_into().expect("element"));
                let f = v as f32;
                if !v.is_nan() && f64::from(f) != v {
                    return Err((i, format!("{v:?}")));
                }
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        _ => {
            for b in bytes.chunks_exact(4) {
                let v = f32::from_ne_bytes(b.try_into().expect("element"));
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// The `.xml` describing `nav` (`[]`, `[n]` or `[y, x]`) frames of `dataset`.
fn description(dataset: &Dataset, nav: &[u64], raw_name: &str) -> String {
    let mut xml = String::from("<root name=\"emio\">");
    let date = get_str(&dataset.metadata, "General.date").filter(|d| !d.is_empty());
    let time = get_str(&dataset.metadata, "General.time").filter(|t| !t.is_empty());
    if let (Some(date), Some(time)) = (date, time) {
        xml += &format!(
            "<timestamp isoformat=\"{}T{}\"/>",
            escape(date),
            escape(time)
        );
    }
    xml += &format!(
        "<software_version>emio {}</software_version>",
        env!("CARGO_PKG_VERSION")
    );
    let mut iom = String::new();
    if let [n] = nav {
        xml += &format!(
            "<type>series</type><count>{n}</count><scan_parameters mode=\"acquire\">\
             <series_count>{n}</series_count></scan_parameters>"
        );
    } else {
        let (y, x) = match nav {
            [y, x] => (*y, *x),
            _ => (1, 1),
        };
        xml += &format!(
            "<type>scan</type><pix_x>{x}</pix_x><pix_y>{y}</pix_y>\
             <scan_parameters mode=\"acquire\"><scan_resolution_x>{x}</scan_resolution_x>\
             <scan_resolution_y>{y}</scan_resolution_y></scan_parameters>"
        );
        // rsciio divides field_of_view[i] by the size of scan dimension i (y, then x).
        let fov: Option<Vec<f64>> = (nav.len() == 2)
            .then(|| {
                (0..2)
                    .map(|d| {
                        let metres = units::metres(&dataset.axes[d].units)?;
                        Some(uniform_scale(dataset, d)? * metres * nav[d] as f64)
                    })
                    .collect()
            })
            .flatten();
        if let Some(fov) = fov {
            iom += &format!(
                "<optics.get_full_scan_field_of_view>[{:e}, {:e}]\
                 </optics.get_full_scan_field_of_view>",
                fov[0], fov[1]
            );
        }
    }
    xml += &format!("<raw_file filename=\"{}\"/>", escape(raw_name));
    let last = dataset.axes.len() - 1;
    if let (Some(scale), Some(factor)) = (
        uniform_scale(dataset, last),
        per_nm(&dataset.axes[last].units),
    ) {
        // rsciio reads calibrated_pixelsize × 1e9 as the pixel size in 1/nm.
        iom += &format!(
            "<calibrated_pixelsize>{:e}</calibrated_pixelsize>",
            scale * factor * 1e-9
        );
    }
    if !iom.is_empty() {
        xml += &format!("<iom_measurements>{iom}</iom_measurements>");
    }
    xml + "</root>\n"
}

/// Write `dataset` (128×128 frames, up to two navigation dimensions) as `path` (`.xml`)
/// and the `.raw` beside it.
pub fn write(dataset: &Dataset, path: &Path, progress: &dyn Progress) -> Result<()> {
    let shape = dataset.shape();
    if shape.len() < 2 || shape.len() > 4 || shape[shape.len() - 2..] != [FRAME_SIDE; 2] {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "EMPAD holds 128×128 frames with up to two navigation dimensions; got shape \
                 {shape:?}"
            ),
        ));
    }
    let dtype = dataset.dtype();
    if dtype.is_complex() || dtype.is_rgb() {
        return Err(Error::unsupported(
            FORMAT,
            format!("{dtype} data (an EMPAD .raw holds real float32 values)"),
        ));
    }
    let nav = &shape[..shape.len() - 2];
    let raw = path.with_extension("raw");
    let raw_name = emio_core::metadata::file_name(&raw);
    std::fs::write(path, description(dataset, nav, &raw_name)).map_err(|e| Error::io(path, e))?;

    let io = |e| Error::io(&raw, e);
    let file = File::create(&raw).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let footer = vec![0u8; ((RAW_ROWS - FRAME_SIDE) * FRAME_SIDE * 4) as usize];
    let mut buf = Vec::new();
    stream_frames(dataset, 2, progress, |piece| {
        if dtype == DType::F32 && cfg!(target_endian = "little") {
            out.write_all(piece.bytes).map_err(io)?;
        } else {
            to_f32_le(dtype, piece.bytes, &mut buf).map_err(|(i, value)| {
                Error::unsupported(
                    FORMAT,
                    format!(
                        "{dtype} value {value} (frame {}, value {} of the piece written) \
                         that float32, the only type of an EMPAD .raw, cannot hold exactly; \
                         nothing was written: scale or convert the data to float32 first",
                        piece.frame, i
                    ),
                )
            })?;
            out.write_all(&buf).map_err(io)?;
        }
        if piece.last {
            out.write_all(&footer).map_err(io)?;
        }
        Ok(())
    })?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}
