//! The MIB writer: frames of u8/u16/u32 big-endian counts, each after a complete Merlin
//! header (384 bytes for frames up to 256×256, else a 768-byte quad header).
//!
//! Frames are written upside down so that readers which flip them (rsciio, emio) get the
//! original orientation back. Frame timestamps advance by one exposure per frame plus one
//! more at the start of every scan line, which is how rsciio and emio recover the scan shape
//! without a `.hdr` companion.
//!
//! Frames go through core's write pipeline in C-order groups of whole frames: headers are
//! rendered and frames flipped and byte-swapped on the workers, then appended in order.

use std::fs::File;
use std::io::{BufWriter, Write};

use chrono::{NaiveDateTime, TimeDelta};
use emio_core::metadata::{get_f64, get_str};
use emio_core::output::STREAM_REGION_BYTES;
use emio_core::plan::WritePlan;
use emio_core::{DType, Dataset, Error, Result, WriteRequest};

emio_core::options! {
    /// Options of the MIB writer.
    pub struct WriteOptions {
        /// frame exposure in ms written to the headers (default: metadata dwell time, else 1)
        exposure: Option<f64> = None,
    }
}

const FORMAT: &str = "mib";

/// Everything that is the same in every frame header.
struct HeaderTemplate {
    header_len: usize,
    chips: u32,
    rows: u64,
    columns: u64,
    pixel_type: &'static str,
    depth: u32,
    exposure_ns: u64,
    start: NaiveDateTime,
}

impl HeaderTemplate {
    /// The header of frame `index` (0-based) taken at `time`.
    fn render(&self, index: u64, time: NaiveDateTime) -> Result<Vec<u8>> {
        let (layout, select) = if self.chips == 1 {
            ("1x1", "01")
        } else {
            ("2x2", "0F")
        };
        let thresholds = ["0.000000E+0"; 8].join(",");
        let dacs = format!("3RX,{}", ["000"; 27].join(","));
        let dacs = vec![dacs; self.chips as usize].join(",");
        let text = format!(
            "MQ1,{:06},{:05},{:02},{:04},{:04},{},{:>6},{},{},{:.6},0,0,0,{},{},MQ1A,{},{}ns,{},",
            index + 1,
            self.header_len,
            self.chips,
            self.columns,
            self.rows,
            self.pixel_type,
            layout,
            select,
            time.format("%Y-%m-%d %H:%M:%S%.6f"),
            self.exposure_ns as f64 * 1e-9,
            thresholds,
            dacs,
            time.format("%Y-%m-%dT%H:%M:%S%.9fZ"),
            self.exposure_ns,
            self.depth,
        );
        let mut bytes = text.into_bytes();
        if bytes.len() > self.header_len {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "frame header of {} bytes exceeds {}",
                    bytes.len(),
                    self.header_len
                ),
            ));
        }
        bytes.resize(self.header_len, b' ');
        Ok(bytes)
    }

    /// Acquisition time of frame `index` on scan line `line`.
    fn time(&self, index: u64, line: u64) -> NaiveDateTime {
        let ns = (index + line).saturating_mul(self.exposure_ns);
        self.start + TimeDelta::nanoseconds(ns.min(i64::MAX as u64) as i64)
    }
}

/// Start time from `General.date` / `General.time`, else 1970-01-01 00:00.
fn start_time(dataset: &Dataset) -> NaiveDateTime {
    let date = get_str(&dataset.metadata, "General.date").unwrap_or("");
    let time = get_str(&dataset.metadata, "General.time").unwrap_or("");
    NaiveDateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap_or_default()
}

/// Write `dataset` (navigation dims, then rows and columns) as a MIB file.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (dataset, path, progress) = (request.dataset, request.path, request.progress);
    let shape = dataset.shape().to_vec();
    if shape.len() < 2 || shape.len() > 4 {
        return Err(Error::unsupported(
            FORMAT,
            format!("MIB holds frames with up to 2 navigation dimensions; got shape {shape:?}"),
        ));
    }
    let (nav, frame) = shape.split_at(shape.len() - 2);
    let (rows, columns) = (frame[0], frame[1]);
    if rows == 0 || columns == 0 || rows > 9999 || columns > 9999 {
        return Err(Error::unsupported(
            FORMAT,
            format!("frames of {rows}×{columns} pixels (1 to 9999 per side)"),
        ));
    }
    let dtype = dataset.dtype();
    let (pixel_type, depth) = match dtype {
        DType::Bool => ("U08", 1),
        DType::U8 => ("U08", 6),
        DType::U16 => ("U16", 12),
        DType::U32 => ("U32", 24),
        other => {
            return Err(Error::unsupported(
                FORMAT,
                format!("{other} data (MIB holds u8, u16 or u32 counts; convert first)"),
            ))
        }
    };
    let exposure_ms = request
        .typed::<WriteOptions>()?
        .exposure
        .or_else(|| {
            get_f64(&dataset.metadata, "Acquisition_instrument.dwell_time").map(|s| s * 1e3)
        })
        .unwrap_or(1.0);
    if !(exposure_ms.is_finite() && exposure_ms > 0.0 && exposure_ms < 1e9) {
        return Err(Error::invalid_option(
            "exposure",
            "must be a positive number of ms",
        ));
    }
    let chips = if rows <= 256 && columns <= 256 { 1 } else { 4 };
    let template = HeaderTemplate {
        header_len: if chips == 1 { 384 } else { 768 },
        chips,
        rows,
        columns,
        pixel_type,
        depth,
        exposure_ns: ((exposure_ms * 1e6).round() as u64).max(1),
        start: start_time(dataset),
    };

    let es = dtype.size();
    let row_bytes = columns as usize * es;
    let frame_bytes = rows as usize * row_bytes;
    let line_len = nav.last().copied().unwrap_or(1).max(1);
    let frame_elems = rows * columns;

    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let io = |e| Error::io(path, e);
    WritePlan::whole_frames(dataset, 2, STREAM_REGION_BYTES).write_in_order(
        dataset,
        progress,
        |region, buf| {
            let first = region.first_element(&shape) / frame_elems;
            let count = buf.len() / frame_bytes;
            let mut encoded = Vec::with_capacity(count * (template.header_len + frame_bytes));
            for (j, frame) in buf.chunks_exact(frame_bytes).enumerate() {
                let index = first + j as u64;
                let line = if nav.len() == 2 { index / line_len } else { 0 };
                encoded.extend(template.render(index, template.time(index, line))?);
                // Upside down, big-endian.
                let at = encoded.len();
                for src in frame.chunks_exact(row_bytes).rev() {
                    encoded.extend_from_slice(src);
                }
                if cfg!(target_endian = "little") && es > 1 {
                    emio_core::dtype::swap_bytes_in_place(&mut encoded[at..], es);
                }
            }
            *buf = encoded;
            Ok(())
        },
        |_, encoded| out.write_all(encoded).map_err(io),
    )?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}
