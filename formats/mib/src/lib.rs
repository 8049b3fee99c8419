//! Quantum Detectors Merlin MIB for emio: 4D-STEM frames from Medipix3 detectors, each frame
//! an ASCII header followed by its pixels.
//!
//! Reading matches RosettaSciIO's `quantumdetector` reader:
//! - frames are flipped vertically (`np.flip(data, axis=-2)`), as rsciio does by default;
//! - the navigation shape comes from the `navigation_shape` option (rsciio order, x first),
//!   else the `.hdr` companion (`Frames per Trigger`, `Frames in Acquisition`), else the
//!   frame timestamps (the first fly-back between lines gives the line length); incomplete
//!   scans keep only their full lines; size-1 navigation dimensions are dropped;
//! - `first_frame` / `last_frame` select frames with Python slice semantics;
//! - pixels are big-endian counts (`U08`/`U16`/`U32`) mapped with a strided source that
//!   steps over the per-frame headers, converted to native order on read.
//!
//! Beyond rsciio: RAW (`R64`) frames of 1, 6, 12 and 24-bit counters (single chip) and
//! 1, 6, 12-bit counters (2×2 quad) are decoded, and the physical gap between quad chips can
//! be inserted (`quad_gap`, off by default). Opening reads the first header, the last
//! frame's header and, without `.hdr` or option, the headers of the first scan line only.
//!
//! Writing produces u8/u16/u32 frames with valid per-frame headers whose timestamps encode
//! the scan lines, so rsciio (which reads them back identically) and emio recover the
//! navigation shape without a `.hdr`.

#![forbid(unsafe_code)]

mod frames;
mod header;
mod raw;
mod write;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use emio_core::metadata::{json_f64, set_path, Tree};
use emio_core::options::Shape;
use emio_core::{
    ArraySource, Axis, ByteOrder, ChunkedSource, Dataset, Error, Format, FormatInfo, OptionSet,
    Options, Result, ResultExt, Storage, StridedSource, WriteRequest, Writes,
};
use serde_json::{json, Value};

pub use frames::{Encoding, Geometry};
pub use header::{parse_frame_header, parse_hdr, FrameHeader, PixelType};

const FORMAT: &str = "mib";

/// Largest `.hdr` companion read (Merlin writes about 2 KiB of `key:\tvalue` lines); a
/// larger one is refused before it is read or parsed.
pub const MAX_HDR_BYTES: u64 = 64 << 10;

/// rsciio parses at most this many frame timestamps to find the scan line length.
const MAX_TIMESTAMPS: u64 = 10_000;

/// Quantum Detectors Merlin MIB.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mib;

emio_core::options! {
    /// Options of the MIB reader.
    pub struct ReadOptions {
        /// scan shape in rsciio order (x, y); overrides the .hdr and the timestamps
        navigation_shape: Option<Shape> = None,
        /// first frame to load (Python indexing: negative counts from the end)
        first_frame: Option<i64> = None,
        /// frame after the last one to load (Python indexing)
        last_frame: Option<i64> = None,
        /// zero rows/columns inserted between the chips of a 2x2 quad (3 is the physical Merlin
        /// gap; 0 matches rsciio)
        quad_gap: i64 = Some("0"),
    }
}

impl Format for Mib {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "Quantum Detectors Merlin MIB (4D-STEM, incl. RAW and quad)",
            extensions: &["mib"],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::file(WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(b"MQ1,")
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let file = emio_core::inputs::open(path)?;
        let hdr = read_hdr(path)?;
        open_storage(storage, &file, path, hdr, options).with_path(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request)
    }
}

/// The `.hdr` companion next to `path`, parsed, if there is one.
fn read_hdr(path: &Path) -> Result<Option<Vec<(String, String)>>> {
    let is_mib = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mib"));
    if !is_mib {
        return Ok(None);
    }
    let hdr_path = path.with_extension("hdr");
    if !hdr_path.is_file() {
        return Ok(None);
    }
    let size = std::fs::metadata(&hdr_path)
        .map_err(|e| Error::io(&hdr_path, e))?
        .len();
    if size > MAX_HDR_BYTES {
        return Err(Error::malformed(
            FORMAT,
            0,
            format!("a .hdr companion of at most {MAX_HDR_BYTES} bytes, found {size}"),
        )
        .with_path(&hdr_path));
    }
    let bytes = emio_core::inputs::read(&hdr_path)?;
    Ok(Some(parse_hdr(&String::from_utf8_lossy(
        &bytes[..bytes.len().min(MAX_HDR_BYTES as usize)],
    ))))
}

fn hdr_value<'a>(hdr: &'a [(String, String)], key: &str) -> Option<&'a str> {
    hdr.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim())
}

/// Python's `slice(first, last).indices(n)` for a step of 1: the frames to load.
fn frame_range(first: Option<i64>, last: Option<i64>, n: u64) -> (u64, u64) {
    let n = n as i64;
    let clamp = |v: Option<i64>, default: i64| match v {
        None => default,
        Some(v) if v < 0 => (v + n).max(0),
        Some(v) => v.min(n),
    };
    let (a, b) = (clamp(first, 0), clamp(last, n));
    (a as u64, b.max(a) as u64)
}

/// The scan line length rsciio infers from frame timestamps: one plus the index of the first
/// gap between consecutive frames longer than the mean gap (a fly-back). The mean of the
/// gaps telescopes to `(last - first) / (n - 1)`, so only the first line's headers are read.
///
/// The headers are read from `file` with positional reads, not through the memory map:
/// frames lie 64 KiB or more apart, so each header touched through the map costs a page
/// fault (and its page-table teardown when the map is dropped), several times the cost of
/// a small read, and a scan line has hundreds of frames.
fn frames_per_line(file: &File, stride: u64, header_len: u64, frames: u64) -> u64 {
    let n = frames.min(MAX_TIMESTAMPS);
    let mut header = vec![0u8; header_len as usize];
    let mut field = header::TimestampField::default();
    let mut time = |i: u64| -> Option<i64> {
        read_exact_at(file, &mut header, i * stride).ok()?;
        header::timestamp_ns(field.find(&header, header_len as usize)?)
    };
    if n < 2 {
        return 1;
    }
    let (Some(t0), Some(tn)) = (time(0), time(n - 1)) else {
        return 1;
    };
    let total = i128::from(tn) - i128::from(t0);
    let gaps = i128::from(n - 1);
    let mut previous = t0;
    for i in 1..n {
        let Some(t) = time(i) else { return 1 };
        if (i128::from(t) - i128::from(previous)) * gaps > total {
            return i;
        }
        previous = t;
    }
    1
}

/// Fill `buf` with the bytes of `file` at `offset`, without moving a file cursor where the
/// platform has positional reads.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// Navigation shape (C order, before dropping size-1 dims) as rsciio's `load_mib_data`
/// decides it from the requested shape (rsciio order, x first).
fn navigation_shape(
    requested: Option<Vec<u64>>,
    in_file: u64,
    first: u64,
    to_load: u64,
) -> Vec<u64> {
    let Some(nav) = requested else {
        return vec![to_load];
    };
    let wanted: u64 = nav.iter().product();
    if wanted > in_file {
        // An interrupted acquisition: keep the complete lines.
        if first == 0 && nav.len() > 1 {
            vec![in_file / nav[0], nav[0]]
        } else {
            vec![to_load]
        }
    } else if to_load < wanted {
        vec![to_load]
    } else {
        nav.into_iter().rev().collect()
    }
}

fn open_storage(
    storage: Storage,
    file: &File,
    path: &Path,
    hdr: Option<Vec<(String, String)>>,
    options: &Options,
) -> Result<Vec<Dataset>> {
    let options = ReadOptions::from_options(options)?;
    let bytes: &[u8] = &storage;
    let head = parse_frame_header(bytes, 0)?;
    let depth = head.counter_depth().or_else(|| {
        hdr.as_deref()
            .and_then(|h| hdr_value(h, "Counter Depth (number)"))
            .and_then(|v| v.parse().ok())
    });
    let geometry = Geometry::from_header(&head, depth)?;
    let stride = head.header_len + geometry.pixel_bytes;
    let file_size = bytes.len() as u64;
    let in_file = file_size / stride;
    if in_file == 0 {
        return Err(Error::malformed(
            FORMAT,
            0,
            format!("at least one whole {stride}-byte frame, the file has {file_size} bytes"),
        ));
    }
    let last_at = (in_file - 1) * stride;
    let last_header = parse_frame_header(&bytes[last_at as usize..], last_at).map_err(|_| {
        Error::malformed(
            FORMAT,
            last_at,
            "the last frame's header (all frames of one file have equal size)",
        )
    })?;

    let (first, end) = frame_range(options.first_frame, options.last_frame, in_file);
    let to_load = end - first;
    if to_load == 0 {
        return Err(Error::invalid_option(
            "first_frame",
            format!("selects no frame of the {in_file} in the file"),
        ));
    }
    let requested = match options.navigation_shape.map(|s| s.0) {
        // A shape the user gives must hold exactly the frames loaded.
        Some(shape) => {
            if emio_core::source::element_count(&shape) != Some(to_load) {
                let note = if to_load == in_file {
                    String::new()
                } else {
                    format!(" from first_frame {first} to last_frame {end}")
                };
                return Err(emio_core::options::shape_misfit(
                    "navigation_shape",
                    &shape,
                    to_load,
                    &note,
                ));
            }
            Some(shape)
        }
        None => {
            let (mut per_line, count) = match hdr.as_deref() {
                Some(h) => (
                    hdr_value(h, "Frames per Trigger (Number)").and_then(|v| v.parse::<u64>().ok()),
                    hdr_value(h, "Frames in Acquisition (Number)")
                        .and_then(|v| v.parse::<u64>().ok()),
                ),
                None => (Some(1), Some(in_file)),
            };
            if per_line == Some(1) {
                per_line = Some(frames_per_line(file, stride, head.header_len, in_file));
            }
            match (per_line, count) {
                (Some(p), Some(c)) if p > 0 && c > 0 => Some(vec![p, c / p]),
                _ => None,
            }
        }
    };
    let nav_full = navigation_shape(requested, in_file, first, to_load);
    let nav: Vec<u64> = nav_full.iter().copied().filter(|&n| n != 1).collect();
    let n_frames: u64 = nav.iter().product();

    let gap = options.quad_gap;
    if !(0..=1024).contains(&gap) {
        return Err(Error::invalid_option(
            "quad_gap",
            "must be between 0 and 1024",
        ));
    }
    let gap = if geometry.quad { gap as u64 } else { 0 };
    let first_offset = first * stride;
    let (rows, cols) = (geometry.rows, geometry.columns);
    let source: Arc<dyn ArraySource> = if geometry.encoding == Encoding::Processed && gap == 0 {
        // Rows flipped: start at the last row of the first frame, step backwards.
        let es = geometry.dtype.size() as i64;
        let row_bytes = cols as i64 * es;
        let mut strides: Vec<i64> = vec![0; nav.len()];
        let mut step = stride as i64;
        for (s, &n) in strides.iter_mut().zip(&nav).rev() {
            *s = step;
            step = step.saturating_mul(n as i64);
        }
        strides.extend([-row_bytes, es]);
        let mut shape = nav.clone();
        shape.extend([rows, cols]);
        Arc::new(StridedSource::new(
            FORMAT,
            storage.clone(),
            first_offset + head.header_len + (rows - 1) * row_bytes as u64,
            geometry.dtype,
            shape,
            strides,
            ByteOrder::Big,
        )?)
    } else {
        let decoder = frames::FrameDecoder {
            storage: storage.clone(),
            first: first_offset,
            stride,
            header_len: head.header_len,
            geometry,
            nav_shape: nav.clone(),
            gap,
        };
        let (out_rows, out_cols) = decoder.output_shape();
        let mut shape = nav.clone();
        shape.extend([out_rows, out_cols]);
        let mut chunk = vec![1; nav.len()];
        chunk.extend([out_rows, out_cols]);
        Arc::new(ChunkedSource::new(
            geometry.dtype,
            shape,
            chunk,
            Box::new(decoder),
        )?)
    };

    let mut axes: Vec<Axis> = nav.iter().map(|_| Axis::default_for(true)).collect();
    axes.extend([Axis::default_for(false), Axis::default_for(false)]);

    let file_name = emio_core::metadata::file_name(path);
    let exposure_ms = head.exposure_ns().map(|ns| ns / 1e6);
    let timestamp = head.timestamp().unwrap_or("").to_string();
    let mut metadata = Tree::new();
    set_path(
        &mut metadata,
        "General.original_filename",
        file_name.as_str(),
    );
    if let Some((date, time)) = timestamp.split_once('T') {
        set_path(&mut metadata, "General.date", date);
        let utc = time.contains('Z');
        set_path(&mut metadata, "General.time", time.trim_matches('Z'));
        if utc {
            set_path(&mut metadata, "General.time_zone", "UTC");
        }
    }
    set_path(&mut metadata, "Signal.signal_type", "electron_diffraction");
    if let Some(ms) = exposure_ms {
        set_path(
            &mut metadata,
            "Acquisition_instrument.dwell_time",
            json_f64(ms * 1e-3),
        );
    }

    let dtype_name = match geometry.dtype.size() {
        1 => "uint8",
        2 => "uint16",
        _ => "uint32",
    };
    let quad = head.header_len == 768;
    let mut props = Tree::new();
    for (k, v) in [
        ("path", json!(file_name)),
        ("buffer", json!(false)),
        ("merlin_size", json!([head.rows, head.columns])),
        ("assembly_size", json!(if quad { "quad" } else { "single" })),
        ("raw", json!(geometry.encoding != Encoding::Processed)),
        (
            "dynamic_range",
            json!(match geometry.dtype.size() {
                1 => "1 or 6-bit",
                2 => "12-bit",
                _ => "24-bit",
            }),
        ),
        ("packed", Value::Null),
        ("dtype", json!(dtype_name)),
        ("head_size", json!(head.header_len)),
        ("offset", json!(0)),
        ("navigation_shape", json!(nav_full)),
        ("xy", json!(n_frames)),
        ("number_of_frames_in_file", Value::Null),
        ("gap", if gap > 0 { json!(gap) } else { Value::Null }),
        ("quad_scale", Value::Null),
        (
            "detector_geometry",
            json!(if head.layout.ends_with("2x2") {
                "2x2"
            } else if head.layout.ends_with("Nx1") {
                "Nx1"
            } else {
                ""
            }),
        ),
        ("frame_double", Value::Null),
        ("roi_rows", Value::Null),
        ("exposure", exposure_ms.map(json_f64).unwrap_or(Value::Null)),
        ("timestamp", json!(timestamp)),
        ("file_size", json!(file_size)),
        ("frame_number_in_file", json!(in_file)),
    ] {
        props.insert(k.into(), v);
    }
    let mut original = Tree::new();
    original.insert("mib_properties".into(), Value::Object(props));
    if let Some(h) = &hdr {
        let map: Tree = h.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        original.insert("hdr_file".into(), Value::Object(map));
    }
    original.insert(
        "frame_header".into(),
        Value::Object(header_tree(&head, depth)),
    );
    let last_loaded = parse_frame_header(&bytes[((first + to_load - 1) * stride) as usize..], 0)
        .ok()
        .and_then(|h| h.timestamp().map(str::to_string));
    let mut stamps = Tree::new();
    stamps.insert("first".into(), json!(timestamp));
    stamps.insert("last".into(), json!(last_loaded));
    stamps.insert("last_in_file".into(), json!(last_header.timestamp()));
    original.insert("frame_timestamps".into(), Value::Object(stamps));

    Ok(vec![Dataset::new(source, axes, metadata, original)?])
}

/// The detector settings of a frame header as a metadata tree.
fn header_tree(h: &FrameHeader, depth: Option<u32>) -> Tree {
    let mut t = Tree::new();
    t.insert("sequence_number".into(), json!(h.sequence));
    t.insert("header_bytes".into(), json!(h.header_len));
    t.insert("chips".into(), json!(h.chips));
    t.insert("columns".into(), json!(h.columns));
    t.insert("rows".into(), json!(h.rows));
    t.insert("pixel_type".into(), json!(h.pixel_text));
    t.insert("sensor_layout".into(), json!(h.layout));
    t.insert("chip_select".into(), json!(h.fields.get(8)));
    t.insert("local_time".into(), json!(h.local_time()));
    t.insert(
        "shutter_time_s".into(),
        h.shutter_time().map(json_f64).unwrap_or(Value::Null),
    );
    let [counter, colour, gain] = h.modes();
    t.insert("counter".into(), json!(counter));
    t.insert("colour_mode".into(), json!(colour));
    t.insert("gain_mode".into(), json!(gain));
    t.insert(
        "thresholds_keV".into(),
        Value::Array(h.thresholds().into_iter().map(json_f64).collect()),
    );
    let dacs: Vec<Value> = h
        .dacs()
        .into_iter()
        .map(|(chip, values)| json!({"chip_type": chip, "dacs": values}))
        .collect();
    t.insert("chips_dacs".into(), Value::Array(dacs));
    t.insert("timestamp".into(), json!(h.timestamp()));
    t.insert(
        "exposure_ns".into(),
        h.exposure_ns().map(json_f64).unwrap_or(Value::Null),
    );
    t.insert("counter_depth".into(), json!(depth));
    t
}

#[cfg(test)]
mod tests;

pub use write::WriteOptions;
