//! NanoMegas blockfile (`.blo`) for emio: precession-electron-diffraction scans from the
//! ASTAR system, u8 diffraction patterns on a rectangular scan.
//!
//! Reading follows RosettaSciIO's `blockfile` reader (axes `y`, `x` in nm, `dy`, `dx` in cm,
//! date from the serial acquisition time in UTC, the note as `General.notes`, size-1 scan
//! dimensions dropped, missing frames of a truncated file read as zeros) and adds:
//! - the stored virtual bright-field image as a second dataset (rsciio skips it);
//! - HyperSpy's mapping of beam energy (keV), camera length and scan rotation into
//!   `Acquisition_instrument.TEM`.
//!
//! Frames are a strided memory-mapped u8 array stepping over each frame's 6-byte prefix.
//!
//! Writing follows rsciio's writer (`intensity_scaling`, `navigator`), streaming frame
//! groups; it refuses non-square patterns, more than two scan dimensions, sizes beyond the
//! header's u16 fields and non-u8 data without an `intensity_scaling`.

#![forbid(unsafe_code)]

mod header;
mod write;

use std::path::Path;
use std::sync::Arc;

use emio_core::metadata::{json_f64, set_path, Tree};
use emio_core::{
    ArraySource, Axis, AxisKind, ByteOrder, ChunkDecoder, ChunkedSource, DType, Dataset, Error,
    Format, FormatInfo, OptionSet, Options, Result, ResultExt, Storage, StridedSource,
    WriteRequest, Writes,
};
use serde_json::Value;

pub use header::{iso_to_serial_date, serial_date_to_iso, BloHeader, FRAME_PREFIX, HEADER_LEN};

const FORMAT: &str = "blo";

/// Title of the virtual bright-field image a blockfile stores beside its patterns.
pub const VBF_TITLE: &str = "Virtual bright field";

/// NanoMegas blockfile.
#[derive(Debug, Default, Clone, Copy)]
pub struct Blo;

impl Format for Blo {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "NanoMegas blockfile (ASTAR precession diffraction scans)",
            extensions: &["blo"],
            read_options: &[],
            writes: Some(Writes::file(WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(header::MAGIC_ID)
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let name = emio_core::metadata::file_name(path);
        open_storage(storage, &name).with_path(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request)
    }
}

/// Frames of a truncated file: stored frames as they are, missing ones as zeros.
struct PaddedFrames {
    storage: Storage,
    /// Offset of the first frame's pixels.
    offset: u64,
    record: u64,
    available: u64,
    nav_shape: Vec<u64>,
}

impl ChunkDecoder for PaddedFrames {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        let linear = index[..self.nav_shape.len()]
            .iter()
            .zip(&self.nav_shape)
            .fold(0u64, |acc, (&i, &n)| acc * n + i);
        if linear < self.available {
            let at = (self.offset + linear * self.record) as usize;
            out.copy_from_slice(&self.storage[at..at + out.len()]);
        } else {
            out.fill(0);
        }
        Ok(())
    }
}

/// The note between the header and `Data_offset_1`: Latin-1 text with its NUL padding
/// trimmed. The padding (most of the region in real files) is trimmed as bytes, before
/// the text is decoded.
fn note_text(region: &[u8]) -> String {
    let end = region.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let start = region[..end].iter().position(|&b| b != 0).unwrap_or(end);
    emio_core::latin1::latin1(&region[start..end])
}

fn nm_axis(name: &str, scale: f64, navigate: bool) -> Axis {
    Axis {
        name: name.into(),
        units: "nm".into(),
        navigate,
        kind: AxisKind::Uniform { scale, offset: 0.0 },
    }
}

fn open_storage(storage: Storage, file_name: &str) -> Result<Vec<Dataset>> {
    let bytes: &[u8] = &storage;
    let h = BloHeader::parse(bytes)?;
    let file_len = bytes.len() as u64;
    if h.dp_sz == 0 || h.nx == 0 || h.ny == 0 {
        return Err(Error::malformed(
            FORMAT,
            20,
            format!(
                "non-zero pattern and scan sizes, found DP_SZ {} NX {} NY {}",
                h.dp_sz, h.nx, h.ny
            ),
        ));
    }
    let off1 = u64::from(h.data_offset_1);
    if off1 < HEADER_LEN as u64 || off1 > file_len {
        return Err(Error::malformed(
            FORMAT,
            8,
            format!("Data_offset_1 between {HEADER_LEN} and the file size, found {off1}"),
        ));
    }
    let note = note_text(&bytes[HEADER_LEN..off1 as usize]);
    let dp = u64::from(h.dp_sz);
    let record = FRAME_PREFIX + dp * dp;
    let off2 = u64::from(h.data_offset_2);
    let available = file_len.saturating_sub(off2) / record;
    if off2 > file_len || available == 0 {
        return Err(Error::malformed(
            FORMAT,
            12,
            format!("frames of {record} bytes from Data_offset_2 ({off2}) inside the file"),
        ));
    }
    let (ny, nx) = (u64::from(h.ny), u64::from(h.nx));
    let n = nx * ny;
    // Size-1 scan dimensions are dropped, as rsciio's squeeze does.
    let nav_dims: Vec<(&str, u64, f64)> = [("y", ny, h.sy), ("x", nx, h.sx)]
        .into_iter()
        .filter(|&(_, size, _)| size != 1)
        .collect();
    let nav_shape: Vec<u64> = nav_dims.iter().map(|d| d.1).collect();
    let mut shape = nav_shape.clone();
    shape.extend([dp, dp]);
    if available < n {
        emio_core::budget::check_padded(
            FORMAT,
            &format!("NX × NY = {nx} × {ny} frames of {record} bytes"),
            n.saturating_mul(record),
            available * record,
            file_len,
        )?;
    }
    let source: Arc<dyn ArraySource> = if available >= n {
        let mut strides: Vec<i64> = vec![0; nav_shape.len()];
        let mut step = record as i64;
        for (s, &size) in strides.iter_mut().zip(&nav_shape).rev() {
            *s = step;
            step *= size as i64;
        }
        strides.extend([dp as i64, 1]);
        Arc::new(StridedSource::new(
            FORMAT,
            storage.clone(),
            off2 + FRAME_PREFIX,
            DType::U8,
            shape,
            strides,
            ByteOrder::Little,
        )?)
    } else {
        let mut chunk = vec![1; nav_shape.len()];
        chunk.extend([dp, dp]);
        Arc::new(ChunkedSource::new(
            DType::U8,
            shape,
            chunk,
            Box::new(PaddedFrames {
                storage: storage.clone(),
                offset: off2 + FRAME_PREFIX,
                record,
                available,
                nav_shape: nav_shape.clone(),
            }),
        )?)
    };
    let sdp_scale = if h.sdp != 0 {
        100.0 / f64::from(h.sdp)
    } else {
        1.0
    };
    let mut axes: Vec<Axis> = nav_dims
        .iter()
        .map(|&(name, _, scale)| nm_axis(name, scale, true))
        .collect();
    for name in ["dy", "dx"] {
        axes.push(Axis {
            name: name.into(),
            units: "cm".into(),
            navigate: false,
            kind: AxisKind::Uniform {
                scale: sdp_scale,
                offset: 0.0,
            },
        });
    }

    let mut general = Tree::new();
    set_path(&mut general, "General.original_filename", file_name);
    if let Some((date, time)) = serial_date_to_iso(h.acquisition_time) {
        set_path(&mut general, "General.date", date);
        set_path(&mut general, "General.time", time);
        set_path(&mut general, "General.time_zone", "UTC");
    }
    set_path(&mut general, "General.notes", note.as_str());
    let mut metadata = general.clone();
    // rsciio leaves the title empty; a title tells the patterns from the virtual image.
    set_path(&mut metadata, "General.title", "Diffraction patterns");
    set_path(&mut metadata, "Signal.signal_type", "diffraction");
    for (path, value) in [
        ("beam_energy", f64::from(h.beam_energy) * 1e-3),
        ("camera_length", f64::from(h.camera_length) * 1e-4),
        ("rotation", f64::from(h.scan_rotation) * 1e-2),
    ] {
        set_path(
            &mut metadata,
            &format!("Acquisition_instrument.TEM.{path}"),
            json_f64(value),
        );
    }
    let mut original = Tree::new();
    original.insert("blockfile_header".into(), Value::Object(h.to_json(&note)));
    if available < n {
        original.insert(
            "missing_frames".into(),
            serde_json::json!({"stored": available, "expected": n, "filled_with": 0}),
        );
    }
    let mut datasets = vec![Dataset::new(source, axes, metadata, original.clone())?];
    if available < n {
        datasets[0].warn(format!(
            "the file holds {available} of its {n} frames; the missing ones read as zeros"
        ));
    }

    // The virtual bright-field image (NY × NX u8 at Data_offset_1), when the file holds it.
    if off1 + n <= file_len {
        let vbf_shape = if nav_shape.is_empty() {
            vec![1]
        } else {
            nav_shape.clone()
        };
        let vbf = StridedSource::contiguous(
            FORMAT,
            storage.clone(),
            off1,
            DType::U8,
            vbf_shape.clone(),
            ByteOrder::Little,
        )?;
        let vbf_axes = if nav_dims.is_empty() {
            vec![Axis::default_for(false)]
        } else {
            nav_dims
                .iter()
                .map(|&(name, _, scale)| nm_axis(name, scale, false))
                .collect()
        };
        let mut meta = general;
        set_path(&mut meta, "General.title", VBF_TITLE);
        set_path(&mut meta, "Signal.signal_type", "");
        let mut vbf = Dataset::new(Arc::new(vbf), vbf_axes, meta, original)?;
        vbf.mark_derived();
        datasets[0].attach_derived(vbf.clone());
        datasets.push(vbf);
    }
    Ok(datasets)
}

#[cfg(test)]
mod tests;

pub use write::WriteOptions;
