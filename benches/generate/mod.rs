//! Inputs for formats emio reads but does not write, made by the benchmark itself in the
//! layout their vendors' software writes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use emio::{DType, Dataset, Error, Result};

/// Whether [`write`] can make a file of `format`.
pub fn can_generate(format: &str) -> bool {
    format == "tia"
}

/// Write `ds` as a file of `format` (see [`can_generate`]).
pub fn write(format: &str, ds: &Dataset, path: &Path) -> Result<()> {
    match format {
        "tia" => tia_series(ds, path),
        other => Err(Error::unsupported("bench", format!("generating {other}"))),
    }
}

/// TIA's code for a dtype.
fn tia_code(dtype: DType) -> Result<u16> {
    Ok(match dtype {
        DType::U8 => 1,
        DType::U16 => 2,
        DType::U32 => 3,
        DType::I8 => 4,
        DType::I16 => 5,
        DType::I32 => 6,
        DType::F32 => 7,
        DType::F64 => 8,
        other => return Err(Error::unsupported("bench", format!("TIA {other}"))),
    })
}

/// A TIA series (version 0x220, 64-bit offsets) of `frames × rows × cols` images, as TIA
/// writes it: header, one "Number" dimension, the data and tag offset arrays, then each
/// element (50-byte header, rows bottom-up) followed by its time tag.
fn tia_series(ds: &Dataset, path: &Path) -> Result<()> {
    let [frames, rows, cols] = ds.shape() else {
        return Err(Error::unsupported(
            "bench",
            "TIA series of rank other than 3",
        ));
    };
    let (frames, rows, cols) = (*frames, *rows, *cols);
    let code = tia_code(ds.dtype())?;
    let io = |e| Error::io(path, e);
    let mut out = BufWriter::with_capacity(8 << 20, File::create(path).map_err(io)?);
    let mut header = Vec::new();
    header.extend(0x4949u16.to_le_bytes());
    header.extend(0x0197u16.to_le_bytes());
    header.extend(0x0220u16.to_le_bytes());
    header.extend(0x4122u32.to_le_bytes());
    header.extend(0x4152u32.to_le_bytes());
    header.extend((frames as u32).to_le_bytes());
    header.extend((frames as u32).to_le_bytes());
    let offset_array_at = header.len();
    header.extend(0u64.to_le_bytes());
    header.extend(1u32.to_le_bytes());
    header.extend((frames as u32).to_le_bytes());
    header.extend(0.0f64.to_le_bytes());
    header.extend(1.0f64.to_le_bytes());
    header.extend(0u32.to_le_bytes());
    header.extend(6u32.to_le_bytes());
    header.extend(b"Number");
    header.extend(0u32.to_le_bytes());
    let arrays = header.len() as u64;
    header[offset_array_at..offset_array_at + 8].copy_from_slice(&arrays.to_le_bytes());
    let frame_bytes = rows * cols * ds.dtype().size() as u64;
    let record = 50 + frame_bytes + 8;
    let first = arrays + 16 * frames;
    for i in 0..frames {
        header.extend((first + i * record).to_le_bytes());
    }
    for i in 0..frames {
        header.extend((first + i * record + 50 + frame_bytes).to_le_bytes());
    }
    out.write_all(&header).map_err(io)?;
    for i in 0..frames {
        let mut element = Vec::with_capacity(50);
        for _ in 0..2 {
            element.extend(0.0f64.to_le_bytes());
            element.extend(1e-9f64.to_le_bytes());
            element.extend(0u32.to_le_bytes());
        }
        element.extend(code.to_le_bytes());
        element.extend((cols as u32).to_le_bytes());
        element.extend((rows as u32).to_le_bytes());
        out.write_all(&element).map_err(io)?;
        let frame = ds.read_region_bytes(&[i, 0, 0], &[1, rows, cols])?;
        for row in frame.chunks_exact((frame_bytes / rows) as usize).rev() {
            out.write_all(row).map_err(io)?;
        }
        let mut tag = 0x4152u16.to_le_bytes().to_vec();
        tag.extend(0u16.to_le_bytes());
        tag.extend((1_456_000_000 + i as u32).to_le_bytes());
        out.write_all(&tag).map_err(io)?;
    }
    out.flush().map_err(io)
}
