//! Writing: the `.raw` frames (each 128×128 float32 frame followed by two zero metadata
//! rows), streamed through core's pipeline, and the `.xml` that names it, in the layout
//! rsciio's and LiberTEM's readers expect.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use emio_core::metadata::get_str;
use emio_core::output::stream_frames;
use emio_core::{AxisKind, DType, Dataset, Error, Progress, Result};

use crate::{FORMAT, FRAME_SIDE, RAW_ROWS};

/// Escape text for an XML attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Metres per unit of a length unit.
fn metres_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "m" => 1.0,
        "mm" => 1e-3,
        "µm" | "μm" | "um" => 1e-6,
        "nm" => 1e-9,
        "Å" | "A" => 1e-10,
        "pm" => 1e-12,
        _ => return None,
    })
}

/// Per-nm of a reciprocal length unit.
fn per_nm(unit: &str) -> Option<f64> {
    Some(match unit {
        "1/nm" | "nm^-1" => 1.0,
        "1/Å" | "1/A" | "Å^-1" => 10.0,
        "1/pm" => 1e3,
        "1/m" => 1e-9,
        _ => return None,
    })
}

fn uniform_scale(dataset: &Dataset, dim: usize) -> Option<f64> {
    match dataset.axes[dim].kind {
        AxisKind::Uniform { scale, .. } => Some(scale),
        AxisKind::Values(_) => None,
    }
}

/// Converts one frame piece of `dtype` values into little-endian float32 bytes, exactly.
fn to_f32_le(dtype: DType, bytes: &[u8], out: &mut Vec<u8>) {
    out.clear();
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            for b in bytes.chunks_exact($n) {
                let v = <$t>::from_ne_bytes(b.try_into().expect("element")) as f32;
                out.extend_from_slice(&v.to_le_bytes());
            }
        };
    }
    match dtype {
        DType::U8 | DType::Bool => conv!(u8, 1),
        DType::I8 => conv!(i8, 1),
        DType::U16 => conv!(u16, 2),
        DType::I16 => conv!(i16, 2),
        DType::F16 => {
            for b in bytes.chunks_exact(2) {
                let v = f32::from(emio_core::half::f16::from_ne_bytes([b[0], b[1]]));
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        _ => conv!(f32, 4),
    }
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
                        let metres = metres_per(&dataset.axes[d].units)?;
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
    if !matches!(
        dtype,
        DType::Bool | DType::U8 | DType::I8 | DType::U16 | DType::I16 | DType::F16 | DType::F32
    ) {
        return Err(Error::unsupported(
            FORMAT,
            format!("{dtype} data (EMPAD stores float32; convert first to avoid rounding)"),
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
            to_f32_le(dtype, piece.bytes, &mut buf);
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
