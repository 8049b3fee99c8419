//! Reading: the parts of a recording (`<name>_000.tvips`, `_001`, ... found by name, a gap
//! in the numbering is an error), the general header, the first frame headers (all of them
//! only for `scan_shape="auto"`), and the frames as a lazy source: one strided memory map
//! stepping over the frame headers when the frames are read in stored order from one file,
//! else a table mapping each logical frame to its part and record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::DateTime;
use emio_core::metadata::{json_f64, set_path, Tree};
use emio_core::source::for_each_index;
use emio_core::source::Threads;
use emio_core::{
    ArraySource, Axis, ByteOrder, DType, Dataset, Error, OptionSet, Options, Progress, Result,
    ResultExt, Storage, StridedSource,
};
use serde_json::Value;

use crate::header::{FrameHeader, Header};
use crate::scan::{self, ScanGrid};
use crate::FORMAT;

emio_core::options! {
    /// Options of the TVIPS reader.
    pub struct ReadOptions {
        /// navigation shape of a 4D-STEM scan (e.g. 64,64), or auto (square scan from the frame
        /// headers' rotator indices); unset: a stack of frames on a time axis
        scan_shape: Option<String> = None,
        /// index of the first frame of the scan (ignored with scan_shape=auto)
        scan_start_frame: i64 = Some("0"),
        /// x or y: every second scan row (x) or column (y) was recorded backwards
        winding_scan_axis: Option<String> = None,
        /// with winding_scan_axis: shift of the reversed rows or columns, in scan points
        hysteresis: i64 = Some("0"),
    }
}

/// One file of a recording, memory-mapped.
struct Part {
    path: PathBuf,
    storage: Storage,
    /// Byte offset of the first frame record.
    start: u64,
    /// Frame records held.
    frames: u64,
    /// Bytes after the last whole record (an interrupted recording).
    trailing: u64,
}

/// The numbered parts of a split recording: `(prefix, digits, extension)` of
/// `<prefix>_<NNN>.<ext>`, when `path` is named that way.
fn split_name(path: &Path) -> Option<(String, u32, String)> {
    let name = path.file_name()?.to_str()?;
    let (stem, ext) = name.rsplit_once('.')?;
    let (prefix, digits) = stem.rsplit_once('_')?;
    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) || prefix.is_empty() {
        return None;
    }
    Some((prefix.to_string(), digits.parse().ok()?, ext.to_string()))
}

/// Every numbered part after the first that exists beside `first` (`<name>_001.tvips`, ...,
/// in any order, gaps included), when `first` is named `<name>_000.tvips`.
pub fn later_parts(first: &Path) -> Vec<PathBuf> {
    let Some((prefix, 0, ext)) = split_name(first) else {
        return Vec::new();
    };
    let dir = first.parent().unwrap_or(Path::new(""));
    let listing = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::read_dir(listing)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| split_name(p).is_some_and(|(p, i, x)| p == prefix && x == ext && i > 0))
        .map(|p| dir.join(p.file_name().unwrap_or_default()))
        .collect()
}

/// The files of the recording starting at `path`: `path` itself, then `_001`, `_002`, ...
/// while they exist. A later part beyond a gap means a part is missing: an error naming it.
pub fn part_paths(path: &Path) -> Result<Vec<PathBuf>> {
    let Some((prefix, index, ext)) = split_name(path) else {
        return Ok(vec![path.to_path_buf()]);
    };
    if !ext.eq_ignore_ascii_case("tvips") {
        return Ok(vec![path.to_path_buf()]);
    }
    if index != 0 {
        return Err(Error::unsupported(
            FORMAT,
            format!("a recording is read from its first part, {prefix}_000.{ext}"),
        )
        .with_path(path));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let part = |i: u32| dir.join(format!("{prefix}_{i:03}.{ext}"));
    let mut parts = vec![path.to_path_buf()];
    while parts.len() < 1000 && part(parts.len() as u32).is_file() {
        parts.push(part(parts.len() as u32));
    }
    // A numbered part after the first missing one means the recording has a gap.
    let next = parts.len() as u32;
    let later = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .map_err(|e| Error::io(dir, e))?
    .filter_map(|e| e.ok())
    .filter_map(|e| split_name(&e.path()))
    .filter(|(p, i, x)| *p == prefix && *x == ext && *i > next)
    .map(|(_, i, _)| i)
    .min();
    if let Some(found) = later {
        let missing = part(next);
        return Err(Error::io(
            &missing,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "part {next:03} of the split recording {} is missing (part {found:03} \
                     exists)",
                    path.display()
                ),
            ),
        ));
    }
    Ok(parts)
}

/// Frames from several parts, in any order: logical frame `i` is stored frame `grid[i]`
/// (counted across parts).
struct FrameTable {
    parts: Vec<StridedSource>,
    /// First global frame index of each part.
    first: Vec<u64>,
    grid: Vec<u64>,
    shape: Vec<u64>,
    dtype: DType,
}

impl ArraySource for FrameTable {
    fn dtype(&self) -> DType {
        self.dtype
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Reads the wrapped source with the caller's progress and [`Threads`].
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        let nav = self.shape.len() - 2;
        let frame_len = (shape[nav] * shape[nav + 1]) as usize * self.dtype.size();
        let mut result = Ok(());
        let mut at = 0usize;
        for_each_index(&shape[..nav], |index| {
            if result.is_err() {
                return;
            }
            let linear = index
                .iter()
                .zip(&start[..nav])
                .zip(&self.shape[..nav])
                .fold(0u64, |acc, ((&i, &s), &n)| acc * n + i + s);
            let global = self.grid[linear as usize];
            let p = self.first.partition_point(|&f| f <= global) - 1;
            let k = global - self.first[p];
            result = self.parts[p].read_region_with(
                &[k, start[nav], start[nav + 1]],
                &[1, shape[nav], shape[nav + 1]],
                &mut out[at..at + frame_len],
                progress,
                threads,
            );
            at += frame_len;
        });
        result
    }

    fn chunk_shape(&self) -> Vec<u64> {
        let nav = self.shape.len() - 2;
        let mut c = vec![1; nav];
        c.extend_from_slice(&self.shape[nav..]);
        c
    }
}

fn open_parts(paths: &[PathBuf], header: &Header) -> Result<Vec<Part>> {
    let record = header.record_len();
    paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let storage = Storage::map(path)?;
            let start = if i == 0 { u64::from(header.size()) } else { 0 };
            let len = storage.len() as u64;
            let body = len.checked_sub(start).ok_or_else(|| {
                Error::malformed(FORMAT, 0, format!("at least {start} bytes")).with_path(path)
            })?;
            if i == 0 && body < record {
                let field = format!(
                    "a first frame record of {record} bytes ({}-byte header + {}×{} pixels of \
                     {} bits)",
                    header.frame_header_len(),
                    header.dimx(),
                    header.dimy(),
                    header.bits()
                );
                emio_core::budget::check_stored(FORMAT, &field, start, record, len)
                    .with_path(path)?;
            }
            Ok(Part {
                path: path.clone(),
                storage,
                start,
                frames: body / record,
                trailing: body % record,
            })
        })
        .collect()
}

fn frame_header(parts: &[Part], header: &Header, global: u64) -> FrameHeader {
    let mut g = global;
    for part in parts {
        if g < part.frames {
            let at = (part.start + g * header.record_len()) as usize;
            return FrameHeader::parse(&part.storage[at..], header.version());
        }
        g -= part.frames;
    }
    FrameHeader::default()
}

/// The scan options parsed: `None` for a plain stack of frames.
fn scan_grid(options: &ReadOptions, parts: &[Part], header: &Header) -> Result<Option<ScanGrid>> {
    let Some(text) = options.scan_shape.as_deref() else {
        return Ok(None);
    };
    let total: u64 = parts.iter().map(|p| p.frames).sum();
    let mut grid = if text.trim() == "auto" {
        if header.version() < 2 {
            return Err(Error::invalid_option(
                "scan_shape",
                "\"auto\" needs the rotator indices of version-2 frame headers",
            ));
        }
        let rotidx: Vec<u32> = (0..total)
            .map(|g| frame_header(parts, header, g).rotidx)
            .collect();
        scan::auto(&rotidx)?
    } else {
        let shape: Vec<u64> = text
            .trim()
            .trim_start_matches(['(', '['])
            .trim_end_matches([')', ']'])
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::invalid_option("scan_shape", format!("{text:?} is not auto or 4,5"))
            })?;
        let start = u64::try_from(options.scan_start_frame)
            .map_err(|_| Error::invalid_option("scan_start_frame", "must not be negative"))?;
        scan::regular(&shape, start, total)?
    };
    if let Some(axis) = options.winding_scan_axis.as_deref() {
        grid.wind(axis, options.hysteresis)?;
    }
    Ok(Some(grid))
}

/// The pixels: a strided map when frames are read in stored order from one file.
fn source(
    parts: &[Part],
    header: &Header,
    grid: &ScanGrid,
    dtype: DType,
) -> Result<Arc<dyn ArraySource>> {
    let (dimy, dimx) = (u64::from(header.dimy()), u64::from(header.dimx()));
    let es = dtype.size() as i64;
    let record = header.record_len() as i64;
    let mut shape = grid.shape.clone();
    shape.extend([dimy, dimx]);
    let first = grid.frames.first().copied().unwrap_or(0);
    let in_order = grid
        .frames
        .iter()
        .enumerate()
        .all(|(i, &f)| f == first + i as u64);
    if parts.len() == 1 && in_order {
        let p = &parts[0];
        let mut strides = emio_core::source::c_strides(&grid.shape, 1);
        strides.iter_mut().for_each(|s| *s *= record);
        strides.extend([dimx as i64 * es, es]);
        let offset = p.start + first * record as u64 + header.frame_header_len();
        let s = StridedSource::new(
            FORMAT,
            p.storage.clone(),
            offset,
            dtype,
            shape,
            strides,
            ByteOrder::Little,
        )
        .with_path(&p.path)?;
        return Ok(Arc::new(s));
    }
    let mut first_frames = Vec::new();
    let mut count = 0;
    let sources = parts
        .iter()
        .map(|p| {
            first_frames.push(count);
            count += p.frames;
            StridedSource::new(
                FORMAT,
                p.storage.clone(),
                p.start + header.frame_header_len(),
                dtype,
                vec![p.frames, dimy, dimx],
                vec![record, dimx as i64 * es, es],
                ByteOrder::Little,
            )
            .with_path(&p.path)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(FrameTable {
        parts: sources,
        first: first_frames,
        grid: grid.frames.clone(),
        shape,
        dtype,
    }))
}

/// Open a TVIPS recording.
pub fn open(path: &Path, options: &Options) -> Result<Vec<Dataset>> {
    let paths = part_paths(path)?;
    let head = Storage::map(path)?;
    let header = Header::parse(&head).with_path(path)?;
    let parts = open_parts(&paths, &header)?;
    let dtype = match header.bits() {
        8 => DType::U8,
        16 => DType::U16,
        _ => DType::U32,
    };
    let total: u64 = parts.iter().map(|p| p.frames).sum();
    let first = frame_header(&parts, &header, 0);
    let dpu = if first.mode == 2 { "1/nm" } else { "nm" };
    let sdp = f64::from(header.field("pixelsize"));
    let (offy, offx) = (
        f64::from(header.field("offsety")),
        f64::from(header.field("offsetx")),
    );
    let scan = scan_grid(&ReadOptions::from_options(options)?, &parts, &header)?;
    let (grid, mut axes) = match scan {
        Some(grid) => {
            let nd = grid.shape.len();
            // Scan axes y, x (right-aligned); extra leading axes unnamed.
            let axes = (0..nd)
                .map(|i| {
                    let name = ["x", "y"].get(nd - 1 - i).copied().unwrap_or("");
                    let units = if name.is_empty() { "" } else { "nm" };
                    Axis::uniform(name, units, 1.0, 0.0, true)
                })
                .collect();
            (grid, axes)
        }
        None => {
            let t0 = first.seconds();
            let step = if total > 1 {
                frame_header(&parts, &header, 1).seconds() - t0
            } else {
                1.0
            };
            let grid = ScanGrid {
                shape: vec![total],
                frames: (0..total).collect(),
            };
            (grid, vec![Axis::uniform("time", "s", step, t0, true)])
        }
    };
    axes.push(Axis::uniform("dy", dpu, sdp, offy, false));
    axes.push(Axis::uniform("dx", dpu, sdp, offx, false));
    let source = source(&parts, &header, &grid, dtype)?;

    let mut md = Tree::new();
    set_path(
        &mut md,
        "General.original_filename",
        emio_core::metadata::file_name(path),
    );
    if let Some(t) = DateTime::from_timestamp(i64::from(first.timestamp), 0) {
        set_path(&mut md, "General.date", t.format("%Y-%m-%d").to_string());
        set_path(&mut md, "General.time", t.format("%H:%M:%S").to_string());
    }
    set_path(&mut md, "General.time_zone", "UTC");
    let tem = "Acquisition_instrument.TEM";
    set_path(
        &mut md,
        &format!("{tem}.magnification"),
        header.field("magtotal"),
    );
    set_path(&mut md, &format!("{tem}.beam_energy"), header.field("ht"));
    set_path(
        &mut md,
        &format!("{tem}.beam_current"),
        json_f64(f64::from(first.fcurrent)),
    );
    set_path(
        &mut md,
        &format!("{tem}.defocus"),
        json_f64(f64::from(first.objective)),
    );
    for (i, name) in [
        (3, "tilt_alpha"),
        (4, "tilt_beta"),
        (0, "x"),
        (1, "y"),
        (2, "z"),
    ] {
        set_path(&mut md, &format!("{tem}.Stage.{name}"), first.stage_json(i));
    }
    if first.mode == 2 {
        set_path(&mut md, "Signal.signal_type", "diffraction");
    }
    let mut original = Tree::new();
    original.insert("tvips_header".into(), Value::Object(header.to_tree()));
    let mut dataset = Dataset::new(source, axes, md, original)?;
    for part in parts.iter().filter(|p| p.trailing > 0) {
        dataset.warn(format!(
            "{}: {} bytes after its last whole frame record (an interrupted recording?) were \
             ignored",
            part.path.display(),
            part.trailing
        ));
    }
    Ok(vec![dataset])
}
