//! Inputs for formats emio reads but does not write, made by the benchmark itself in the
//! layout their vendors' software writes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use emio::{DType, Dataset, Error, Result};
use emio_tia::synthetic::SeriesLayout;

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
/// writes it (`emio_tia::synthetic`): header, one "Number" dimension, the data and tag
/// offset arrays, then each element (rows bottom-up) followed by its time tag.
fn tia_series(ds: &Dataset, path: &Path) -> Result<()> {
    let [frames, rows, cols] = ds.shape() else {
        return Err(Error::unsupported(
            "bench",
            "TIA series of rank other than 3",
        ));
    };
    let (frames, rows, cols) = (*frames, *rows, *cols);
    let layout = SeriesLayout {
        version: 0x220,
        code: tia_code(ds.dtype())?,
        sizes: vec![cols as u32, rows as u32],
        total: frames as u32,
        valid: frames as u32,
        calibration: (0.0, 1e-9),
        ..SeriesLayout::default()
    };
    let io = |e| Error::io(path, e);
    let mut out = BufWriter::with_capacity(8 << 20, File::create(path).map_err(io)?);
    layout.write(&mut out, io, |i| {
        let frame = ds.read_region_bytes(&[u64::from(i), 0, 0], &[1, rows, cols])?;
        let row = frame.len() / rows as usize;
        Ok(frame.chunks_exact(row).rev().flatten().copied().collect())
    })?;
    out.flush().map_err(io)
}
