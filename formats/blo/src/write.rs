//! The blockfile writer, following rsciio's `file_writer`: header, note, the virtual
//! bright-field image at 0x1000, then one `AA 55` + u32 number + u8 pixels record per frame.
//!
//! Frames go through core's write pipeline in groups of whole frames (records encoded on
//! the workers, appended in order); the virtual image (the mean of each pattern, rescaled
//! like the frames) is accumulated on the way and written into its reserved place at the end.
//! Values are mapped onto u8 as scikit-image's `rescale_intensity(x, in_range, np.uint8)`
//! does: clip to the range, scale to 0–255, truncate.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};

use emio_core::metadata::{get_f64, get_path, get_str};
use emio_core::output::STREAM_REGION_BYTES;
use emio_core::plan::WritePlan;
use emio_core::signals::Combined;
use emio_core::units;
use emio_core::{AxisKind, DType, Dataset, Error, Progress, Result, WriteRequest};

use crate::header::{iso_to_serial_date, BloHeader, HEADER_LEN};
use crate::VBF_TITLE;

emio_core::options! {
    /// Options of the blockfile writer.
    pub struct WriteOptions {
        /// map values onto 0-255: dtype (the dtype's range), minmax (the data's range), crop
        /// (clip to 0-255) or LOW,HIGH; required for data other than u8
        intensity_scaling: Option<String> = None,
        /// virtual bright-field image stored in the file: navigator (the source's virtual
        /// bright-field image when it has one, e.g. a blockfile's, else the mean of each pattern)
        /// or None (zeros)
        navigator: String = Some("navigator"),
    }
}

const FORMAT: &str = "blo";

/// Offset of the virtual image; the note fills the bytes before it.
const OFFSET_1: u32 = 0x1000;

/// How stored values become u8.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scaling {
    /// u8 (or bool) data stored as is.
    Unscaled,
    /// Values in `lo..=hi` mapped linearly onto 0–255, others clipped.
    Range(f64, f64),
}

impl Scaling {
    fn apply(self, v: f64) -> u8 {
        match self {
            Scaling::Unscaled => v as u8,
            Scaling::Range(lo, hi) => {
                let v = v.clamp(lo, hi);
                if lo != hi {
                    (((v - lo) / (hi - lo)) * 255.0) as u8
                } else {
                    v.clamp(0.0, 255.0) as u8
                }
            }
        }
    }
}

/// Values of native-endian `bytes` of a real `dtype` as f64.
fn values_f64(dtype: DType, bytes: &[u8], out: &mut Vec<f64>) {
    out.clear();
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            out.extend(
                bytes
                    .chunks_exact($n)
                    .map(|b| <$t>::from_ne_bytes(b.try_into().expect("element")) as f64),
            )
        };
    }
    match dtype {
        DType::Bool | DType::U8 => out.extend(bytes.iter().map(|&b| f64::from(b))),
        DType::I8 => out.extend(bytes.iter().map(|&b| f64::from(b as i8))),
        DType::U16 => conv!(u16, 2),
        DType::I16 => conv!(i16, 2),
        DType::U32 => conv!(u32, 4),
        DType::I32 => conv!(i32, 4),
        DType::U64 => conv!(u64, 8),
        DType::I64 => conv!(i64, 8),
        DType::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| f64::from(emio_core::half::f16::from_ne_bytes([b[0], b[1]]))),
        ),
        DType::F32 => conv!(f32, 4),
        _ => conv!(f64, 8),
    }
}

/// The range `intensity_scaling=dtype` maps from (scikit-image's `dtype_limits`).
fn dtype_limits(dtype: DType) -> Option<(f64, f64)> {
    Some(match dtype {
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::U16 => (0.0, 65535.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::U32 => (0.0, f64::from(u32::MAX)),
        DType::I32 => (f64::from(i32::MIN), f64::from(i32::MAX)),
        DType::U64 => (0.0, u64::MAX as f64),
        DType::I64 => (i64::MIN as f64, i64::MAX as f64),
        _ => return None,
    })
}

/// An axis scale in `target` units (as is when its units are not a known length).
fn scale_in(dataset: &Dataset, dim: usize, target: &str) -> f64 {
    let axis = &dataset.axes[dim];
    let scale = match axis.kind {
        AxisKind::Uniform { scale, .. } => scale,
        AxisKind::Values(ref v) if v.len() > 1 => v[1] - v[0],
        AxisKind::Values(_) => 1.0,
    };
    match (units::metres(&axis.units), units::metres(target)) {
        (Some(from), Some(to)) => scale * from / to,
        _ => scale,
    }
}

/// The plan both passes read the frames with: C-order groups of whole frames, a quarter
/// of a streaming region each (the values are widened to f64 for scaling).
fn frame_plan(dataset: &Dataset) -> WritePlan {
    WritePlan::whole_frames(dataset, 2, STREAM_REGION_BYTES / 4)
}

/// The smallest and largest value of `dataset` (NaN left out), or `(0, 0)` when it holds
/// none: the range `intensity_scaling=minmax` maps from.
fn value_range(dataset: &Dataset, progress: &dyn Progress) -> Result<(f64, f64)> {
    let dtype = dataset.dtype();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    frame_plan(dataset).write_in_order(
        dataset,
        progress,
        |_, buf| {
            let mut values = Vec::new();
            values_f64(dtype, buf, &mut values);
            let (lo, hi) = values
                .iter()
                .filter(|v| !v.is_nan())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            buf.clear();
            buf.extend(lo.to_ne_bytes());
            buf.extend(hi.to_ne_bytes());
            Ok(())
        },
        |_, range| {
            let (l, h) = range.split_at(8);
            lo = lo.min(f64::from_ne_bytes(l.try_into().expect("8 bytes")));
            hi = hi.max(f64::from_ne_bytes(h.try_into().expect("8 bytes")));
            Ok(())
        },
    )?;
    Ok(if lo > hi { (0.0, 0.0) } else { (lo, hi) })
}

/// Write `dataset` (up to 2 scan dims, then a square pattern) as a blockfile.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (dataset, path, progress) = (request.dataset, request.path, request.progress);
    let shape = dataset.shape().to_vec();
    if !(2..=4).contains(&shape.len()) {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "blockfiles hold square patterns on a scan of up to 2 dims; got shape {shape:?}"
            ),
        ));
    }
    let ndim = shape.len();
    let (nav, frame) = shape.split_at(ndim - 2);
    if frame[0] != frame[1] {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "blockfiles require square patterns; got {}×{}",
                frame[0], frame[1]
            ),
        ));
    }
    let dp = frame[0];
    let (ny, nx) = match nav {
        [y, x] => (*y, *x),
        [x] => (1, *x),
        _ => (1, 1),
    };
    if dp == 0
        || dp > u64::from(u16::MAX)
        || nx > u64::from(u16::MAX)
        || ny > u64::from(u16::MAX)
        || nx * ny == 0
    {
        return Err(Error::unsupported(
            FORMAT,
            format!("scan {ny}×{nx} of {dp}×{dp} patterns (each size 1 to 65535)"),
        ));
    }
    let dtype = dataset.dtype();
    if dtype.is_complex() || dtype.is_rgb() {
        return Err(Error::unsupported(
            FORMAT,
            format!("{dtype} data (blockfiles store u8)"),
        ));
    }
    let options = request.typed::<WriteOptions>()?;
    let requested = options.intensity_scaling.as_deref().map(str::trim);
    // minmax reads the data twice: progress counts both passes.
    let passes = if requested == Some("minmax") { 2 } else { 1 };
    let progress = Combined::new(progress, dataset.nbytes().saturating_mul(passes));
    let scaling = match requested {
        None | Some("None") if matches!(dtype, DType::U8 | DType::Bool) => Scaling::Unscaled,
        None | Some("None") => {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "{dtype} data: blockfiles store u8; choose intensity_scaling=dtype, minmax, \
                     crop or LOW,HIGH"
                ),
            ))
        }
        Some("dtype") => {
            let (lo, hi) = dtype_limits(dtype).ok_or_else(|| {
                Error::invalid_option(
                    "intensity_scaling",
                    format!("`dtype` needs integer data, not {dtype}"),
                )
            })?;
            Scaling::Range(lo, hi)
        }
        Some("crop") => Scaling::Range(0.0, 255.0),
        Some("minmax") => {
            let (lo, hi) = value_range(dataset, &progress)?;
            Scaling::Range(lo, hi)
        }
        Some(text) => {
            let bounds: Vec<f64> = text
                .trim_matches(['(', ')', '[', ']'])
                .split(',')
                .map(|s| s.trim().parse::<f64>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad_scaling(text))?;
            match bounds[..] {
                [lo, hi] if lo.is_finite() && hi.is_finite() && lo <= hi => Scaling::Range(lo, hi),
                _ => return Err(bad_scaling(text)),
            }
        }
    };
    let navigator_mean = match options.navigator.trim() {
        "navigator" => true,
        "None" | "none" => false,
        other => {
            return Err(Error::invalid_option(
                "navigator",
                format!("{other:?}: expected navigator or None"),
            ))
        }
    };

    let mut h = BloHeader {
        magic: 0x0102,
        data_offset_1: OFFSET_1,
        data_offset_2: 0,
        unknown1: 131141,
        dp_sz: dp as u16,
        dp_rotation: 0,
        nx: nx as u16,
        ny: ny as u16,
        scan_rotation: 0,
        sx: 1.0,
        sy: 1.0,
        beam_energy: 0,
        sdp: 0,
        camera_length: 0,
        acquisition_time: 25570.0,
        centering: [0.0; 8],
        distortion: [0.0; 14],
    };
    let meta = &dataset.metadata;
    let to_u32 = |v: f64| {
        (v.is_finite() && (0.0..=f64::from(u32::MAX)).contains(&v)).then(|| v.round() as u32)
    };
    if let Some(v) =
        get_f64(meta, "Acquisition_instrument.TEM.beam_energy").and_then(|kev| to_u32(kev * 1e3))
    {
        h.beam_energy = v;
    }
    if let Some(v) =
        get_f64(meta, "Acquisition_instrument.TEM.camera_length").and_then(|c| to_u32(c * 1e4))
    {
        h.camera_length = v;
    }
    if let Some(v) =
        get_f64(meta, "Acquisition_instrument.TEM.rotation").and_then(|r| to_u32(r * 1e2))
    {
        h.scan_rotation = v.min(u32::from(u16::MAX)) as u16;
    }
    if let (Some(date), Some(time)) = (get_str(meta, "General.date"), get_str(meta, "General.time"))
    {
        if let Some(serial) = iso_to_serial_date(date, time) {
            h.acquisition_time = serial;
        }
    }
    let mut note = get_str(meta, "General.notes").unwrap_or("").to_string();
    if let Some(serde_json::Value::Object(original)) =
        get_path(&dataset.original_metadata, "blockfile_header")
    {
        h.update_from_json(original);
        if let Some(n) = original.get("Note").and_then(|v| v.as_str()) {
            note = n.to_string();
        }
    }
    match nav.len() {
        2 => {
            h.sx = scale_in(dataset, 1, "nm");
            h.sy = scale_in(dataset, 0, "nm");
        }
        1 => {
            h.sx = scale_in(dataset, 0, "nm");
            h.sy = h.sx;
        }
        _ => {}
    }
    let pattern_scale = scale_in(dataset, ndim - 1, "cm");
    let sdp = 100.0 / pattern_scale;
    h.sdp = if sdp.is_finite() && sdp >= 0.0 {
        sdp.round().min(f64::from(u16::MAX)) as u16
    } else {
        0
    };
    let n = nx * ny;
    let mut offset2 = n + u64::from(OFFSET_1);
    // The frames start at a 16-byte boundary as rsciio computes it.
    offset2 += offset2 % 16;
    h.data_offset_2 = u32::try_from(offset2)
        .map_err(|_| Error::unsupported(FORMAT, format!("a scan of {n} positions")))?;

    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let io = |e| Error::io(path, e);
    let mut head = h.to_bytes();
    let room = OFFSET_1 as usize - HEADER_LEN;
    head.extend(
        note.chars()
            .take(room)
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
    );
    head.resize(offset2 as usize, 0);
    out.write_all(&head).map_err(io)?;

    let frame_len = (dp * dp) as usize;
    let frame_elems = dp * dp;
    let mut navigator = vec![0u8; n as usize];
    // u8 data stored as is: no conversion, integer sums for the means.
    let as_is = scaling == Scaling::Unscaled;
    frame_plan(dataset).write_in_order(
        dataset,
        &progress,
        |region, buf| {
            // The frames' records, then the scaled mean of each frame (one byte each).
            let first = region.first_element(&shape) / frame_elems;
            let frames = buf.len() / (frame_len * dtype.size());
            let mut values = Vec::new();
            if !as_is {
                values_f64(dtype, buf, &mut values);
            }
            let mut encoded = Vec::with_capacity(frames * (6 + frame_len + 1));
            let mut means = Vec::with_capacity(frames);
            for j in 0..frames {
                encoded.extend_from_slice(&0x55AAu16.to_le_bytes());
                encoded.extend_from_slice(&((first + j as u64) as u32).to_le_bytes());
                let mean = if as_is {
                    let frame = &buf[j * frame_len..(j + 1) * frame_len];
                    encoded.extend_from_slice(frame);
                    frame.iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / frame_len as f64
                } else {
                    let frame = &values[j * frame_len..(j + 1) * frame_len];
                    encoded.extend(frame.iter().map(|&v| scaling.apply(v)));
                    frame.iter().sum::<f64>() / frame_len as f64
                };
                means.push(scaling.apply(mean));
            }
            encoded.extend(means);
            *buf = encoded;
            Ok(())
        },
        |region, encoded| {
            let first = (region.first_element(&shape) / frame_elems) as usize;
            let frames = encoded.len() / (6 + frame_len + 1);
            let (records, means) = encoded.split_at(frames * (6 + frame_len));
            out.write_all(records).map_err(io)?;
            if navigator_mean {
                navigator[first..first + frames].copy_from_slice(means);
            }
            Ok(())
        },
    )?;
    if navigator_mean {
        if let Some(vbf) = stored_navigator(dataset, n)? {
            navigator = vbf;
        }
    }
    out.seek(SeekFrom::Start(u64::from(OFFSET_1))).map_err(io)?;
    out.write_all(&navigator).map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// The virtual bright-field image the source file stored with the data (a blockfile's,
/// attached to its patterns by the reader): `n` u8 values, kept instead of the mean of
/// each pattern.
fn stored_navigator(dataset: &Dataset, n: u64) -> Result<Option<Vec<u8>>> {
    let Some(vbf) = dataset
        .derived()
        .iter()
        .find(|d| d.dtype() == DType::U8 && d.len() == n && d.title() == VBF_TITLE)
    else {
        return Ok(None);
    };
    vbf.read_region_bytes(&vec![0; vbf.ndim()], vbf.shape())
        .map(Some)
}

fn bad_scaling(text: &str) -> Error {
    Error::invalid_option(
        "intensity_scaling",
        format!("{text:?}: expected dtype, minmax, crop or LOW,HIGH with LOW <= HIGH"),
    )
}
