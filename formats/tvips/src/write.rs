//! Writing, as rsciio's writer: the general header, then one record per frame (frame
//! header, extra zero bytes, pixels), split into `<name>_000`, `_001`, ... parts of at most
//! `max_file_size` bytes. Frames are streamed through core's pipeline.
//!
//! Where rsciio's writer is wrong, emio does what the format means: the pixel size comes
//! from the signal axes (rsciio takes the first axis, a navigation axis for scans), stage
//! tilts from `Stage.tilt_alpha`/`tilt_beta`, the magnification is kept for diffraction
//! data too, the defocus is stored, and version 1 gets 12-byte frame headers
//! (rsciio writes version-2 records under a version-1 header, which no reader can read).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use emio_core::metadata::{get_f64, get_str};
use emio_core::output::stream_frames;
use emio_core::units::{self, Quantity};
use emio_core::{AxisKind, DType, Dataset, Error, Result, WriteRequest};

use crate::header::{FrameHeader, Header, FRAME_HEADER_V1, FRAME_HEADER_V2, HEADER_LEN};
use crate::FORMAT;

emio_core::options! {
    /// Options of the TVIPS writer.
    pub struct WriteOptions {
        /// approximate largest part in bytes: the recording is split into <name>_000, _001, ...
        /// (name the output <name>_000.tvips); unset: one file
        max_file_size: Option<i64> = None,
        /// format version
        version: Version = Some("2"),
        /// zero bytes added to every frame header (version 2)
        frame_header_extra_bytes: i64 = Some("0"),
    }
}

emio_core::option_choice! {
    /// The TVIPS format version written (the writer's `version` option).
    pub enum Version {
        V1 = "1": "12-byte frame headers",
        V2 = "2": "60-byte frame headers",
    }
}

/// Metres per unit for lengths, per-metre per unit for reciprocal lengths.
fn unit_factor(unit: &str) -> Option<(bool, f64)> {
    if let Some(per) = units::reciprocal(unit) {
        return units::metres(per).map(|m| (true, 1.0 / m));
    }
    units::metres(unit).map(|m| (false, m))
}

/// Python's `round()` (half to even), clamped into a u32 header field.
fn round_u32(v: f64) -> u32 {
    let r = v.round();
    let r = if (v - v.trunc()).abs() == 0.5 {
        2.0 * (v / 2.0).round()
    } else {
        r
    };
    r.clamp(0.0, f64::from(u32::MAX)) as u32
}

/// Seconds since 1970 of `General.date`/`time`/`time_zone` (UTC and ±HH:MM zones).
fn start_seconds(dataset: &Dataset) -> f64 {
    let md = &dataset.metadata;
    let date = get_str(md, "General.date")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .unwrap_or_default();
    let time = get_str(md, "General.time")
        .and_then(|t| NaiveTime::parse_from_str(t, "%H:%M:%S%.f").ok())
        .unwrap_or_default();
    let zone = get_str(md, "General.time_zone").unwrap_or("UTC");
    let offset = FixedOffset::east_opt(0).expect("UTC");
    let offset =
        chrono::DateTime::parse_from_str(&format!("2000-01-01 00:00 {zone}"), "%Y-%m-%d %H:%M %:z")
            .map(|d| *d.offset())
            .unwrap_or(offset);
    let local = NaiveDateTime::new(date, time);
    offset
        .from_local_datetime(&local)
        .single()
        .map_or(0.0, |t| t.timestamp_micros() as f64 * 1e-6)
}

/// Milliseconds between frames, from the last navigation axis when it is a time axis.
fn frame_interval_ms(dataset: &Dataset) -> f64 {
    let nd = dataset.ndim();
    if nd < 3 {
        return 1.0;
    }
    let axis = &dataset.axes[nd - 3];
    let AxisKind::Uniform { scale, .. } = axis.kind else {
        return 1.0;
    };
    let Some(per_ms) = units::ratio(&axis.units, "ms", Quantity::Time) else {
        return 1.0;
    };
    scale * per_ms
}

/// The name of part `index` of the recording whose first part is `first`.
fn part_path(first: &Path, index: u64) -> Result<PathBuf> {
    if index == 0 {
        return Ok(first.to_path_buf());
    }
    let name = first
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, "tvips"));
    let prefix = stem.strip_suffix("_000").ok_or_else(|| {
        Error::invalid_option(
            "max_file_size",
            format!(
                "the recording needs several parts: name the output <name>_000.{ext} (got \
                 {name})"
            ),
        )
    })?;
    Ok(first.with_file_name(format!("{prefix}_{index:03}.{ext}")))
}

/// Write `dataset` (frames in its last two dimensions) as a TVIPS recording at `path`.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (dataset, path, progress) = (request.dataset, request.path, request.progress);
    let shape = dataset.shape();
    if shape.len() < 2 {
        return Err(Error::unsupported(
            FORMAT,
            format!("TVIPS holds 2-D frames; got shape {shape:?}"),
        ));
    }
    let dtype = dataset.dtype();
    if !matches!(dtype, DType::U8 | DType::U16 | DType::U32) {
        return Err(Error::unsupported(
            FORMAT,
            format!("{dtype} data (TVIPS holds u8, u16 or u32 frames; convert first)"),
        ));
    }
    let options = request.typed::<WriteOptions>()?;
    let version: u32 = match options.version {
        Version::V1 => 1,
        Version::V2 => 2,
    };
    let extra = options.frame_header_extra_bytes;
    if !(0..=1 << 20).contains(&extra) || (version == 1 && extra != 0) {
        return Err(Error::invalid_option(
            "frame_header_extra_bytes",
            "0 to 1 MiB, and 0 for version 1 (its frame headers have a fixed size)",
        ));
    }
    let nd = shape.len();
    let (dimy, dimx) = (shape[nd - 2], shape[nd - 1]);
    if dimx > 1 << 16 || dimy > 1 << 16 || dimx == 0 || dimy == 0 {
        return Err(Error::unsupported(
            FORMAT,
            format!("frames of {dimy}×{dimx}"),
        ));
    }
    let frames: u64 = shape[..nd - 2].iter().product();
    let frame_header_len = if version == 1 {
        FRAME_HEADER_V1
    } else {
        FRAME_HEADER_V2 + extra as usize
    };
    let record = frame_header_len as u64 + dimx * dimy * dtype.size() as u64;

    // Calibration: pixel size and offsets in nm (images) or 1/nm (diffraction).
    let signal = &dataset.axes[nd - 1];
    let (scale, offx) = signal.scale_offset().unwrap_or((1.0, 0.0));
    let offy = dataset.axes[nd - 2].scale_offset().map_or(0.0, |(_, o)| o);
    let (mode, to_unit) = match unit_factor(&signal.units) {
        Some((true, per_m)) => (2, per_m * 1e-9),
        Some((false, m)) => (1, m * 1e9),
        None => (2, 1.0),
    };
    let md = &dataset.metadata;
    let tem = |p: &str| get_f64(md, &format!("Acquisition_instrument.TEM.{p}"));
    let (cl, mag) = (
        tem("camera_length").unwrap_or(0.0),
        tem("magnification").unwrap_or(0.0),
    );
    // Readers (rsciio's and emio's) take `magtotal` as the magnification, so it is
    // written whatever the mode (rsciio's writer drops it for diffraction data); a camera
    // length only fills it for diffraction data without a magnification, as rsciio does.
    let magtotal = if mag != 0.0 {
        mag
    } else if mode == 2 {
        cl
    } else {
        0.0
    };
    let mut fields = [0u32; 13];
    fields[0] = HEADER_LEN as u32;
    fields[1] = version;
    fields[2] = dimx as u32;
    fields[3] = dimy as u32;
    fields[4] = dtype.size() as u32 * 8;
    fields[5] = round_u32(offx * to_unit);
    fields[6] = round_u32(offy * to_unit);
    fields[7] = 1;
    fields[8] = 1;
    fields[9] = round_u32(scale * to_unit);
    fields[10] = tem("beam_energy").map_or(0, |v| v.clamp(0.0, f64::from(u32::MAX)) as u32);
    fields[11] = magtotal.clamp(0.0, f64::from(u32::MAX)) as u32;
    fields[12] = frame_header_len as u32;
    let header = Header {
        fields,
        dummy: b"EMIO ".repeat(41)[..204].to_vec(),
    };

    let max = options
        .max_file_size
        .map(|m| m.max(0) as u64)
        .unwrap_or(u64::MAX)
        .max(HEADER_LEN as u64 + record);
    let first_part = (max - HEADER_LEN as u64) / record;
    let per_part = (max / record).max(1);
    let part_of = |frame: u64| {
        if frame < first_part {
            0
        } else {
            1 + (frame - first_part) / per_part
        }
    };
    // Every part's name is checked before anything is written.
    if frames > 0 {
        part_path(path, part_of(frames - 1))?;
    }

    let start = start_seconds(dataset);
    let interval = frame_interval_ms(dataset);
    let stage = |p: &str| tem(&format!("Stage.{p}")).unwrap_or(0.0) as f32;
    let template = FrameHeader {
        fcurrent: tem("beam_current").unwrap_or(0.0) as f32,
        mode,
        stage: [
            stage("x"),
            stage("y"),
            stage("z"),
            stage("tilt_alpha"),
            stage("tilt_beta"),
        ],
        objective: tem("defocus").unwrap_or(0.0) as f32,
        ..FrameHeader::default()
    };
    let extra_zeros = vec![0u8; extra as usize];

    let mut part = 0u64;
    let mut out =
        BufWriter::with_capacity(1 << 20, File::create(path).map_err(|e| Error::io(path, e))?);
    out.write_all(&header.encode())
        .map_err(|e| Error::io(path, e))?;
    let mut current = path.to_path_buf();
    let finish = |out: BufWriter<File>, at: &Path| -> Result<()> {
        let file = out
            .into_inner()
            .map_err(|e| Error::io(at, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(at, e))
    };
    let mut swapped = Vec::new();
    stream_frames(dataset, 2, progress, |piece| {
        if piece.first {
            let wanted = part_of(piece.frame);
            if wanted != part {
                let next = part_path(path, wanted)?;
                let file = File::create(&next).map_err(|e| Error::io(&next, e))?;
                let previous = std::mem::replace(&mut out, BufWriter::with_capacity(1 << 20, file));
                finish(previous, &current)?;
                current = next;
                part = wanted;
            }
            let ms_total = piece.frame as f64 * interval;
            let h = FrameHeader {
                timestamp: (start + ms_total / 1000.0) as u32,
                ms: (ms_total % 1000.0) as u32,
                rotidx: (piece.frame + 1) as u32,
                ..template
            };
            out.write_all(&h.encode(version))
                .map_err(|e| Error::io(&current, e))?;
            out.write_all(&extra_zeros)
                .map_err(|e| Error::io(&current, e))?;
        }
        if cfg!(target_endian = "big") && dtype.size() > 1 {
            swapped.clear();
            swapped.extend_from_slice(piece.bytes);
            emio_core::dtype::swap_bytes_in_place(&mut swapped, dtype.size());
            out.write_all(&swapped).map_err(|e| Error::io(&current, e))
        } else {
            out.write_all(piece.bytes)
                .map_err(|e| Error::io(&current, e))
        }
    })?;
    finish(out, &current)
}
