//! The EER writer: an integer event-count movie `(frames, y, x)` (or one frame) as a
//! little-endian BigTIFF of EER pages, one strip per frame, the metadata XML on the first
//! page. Frames are read and encoded in parallel by core's engine and written in order:
//! each page is its IFD, then (first page) the XML, then the strip.

use std::io::{BufWriter, Write};

use emio_core::plan::WritePlan;
use emio_core::{DType, Dataset, Error, Result, WriteRequest};

use crate::codec::{self, Coding};
use crate::read::{TAG_CODING, TAG_METADATA};
use crate::Upsampling;

emio_core::options! {
    /// Options of the EER writer.
    pub struct WriteOptions {
        /// event coding (the TIFF compression code)
        compression: EventCoding = Some("65001"),
        /// run-length bits with compression 65002
        rle_bits: i64 = Some("7"),
        /// horizontal and vertical sub-pixel bits with compression 65002
        subpixel_bits: i64 = Some("2"),
        /// super-resolution of the input: each sensor pixel is 1, 2x2 or 4x4 input pixels
        /// holding at most one event per frame
        upsampling: Upsampling = Some("1"),
    }
}

emio_core::option_choice! {
    /// The event coding the EER writer uses (its `compression` option).
    pub enum EventCoding {
        Runs8 = "65000": "8-bit runs",
        Runs7 = "65001": "7-bit runs",
        Sized = "65002": "run-length and sub-pixel sizes from `rle_bits` and `subpixel_bits`",
    }
}

impl EventCoding {
    /// The TIFF compression tag value.
    pub fn tag(self) -> u16 {
        match self {
            EventCoding::Runs8 => 65000,
            EventCoding::Runs7 => 65001,
            EventCoding::Sized => 65002,
        }
    }
}

const SHORT: u16 = 3;
const LONG: u16 = 4;
const UNDEFINED: u16 = 7;
const LONG8: u16 = 16;

/// An element of an integer dtype as u64 (negative values are an error later).
fn count_at(dtype: DType, b: &[u8], i: usize) -> i128 {
    let s = dtype.size();
    let c = &b[i * s..(i + 1) * s];
    match dtype {
        DType::U8 | DType::Bool => i128::from(c[0]),
        DType::I8 => i128::from(c[0] as i8),
        DType::U16 => i128::from(u16::from_ne_bytes([c[0], c[1]])),
        DType::I16 => i128::from(i16::from_ne_bytes([c[0], c[1]])),
        DType::U32 => i128::from(u32::from_ne_bytes(c.try_into().expect("4"))),
        DType::I32 => i128::from(i32::from_ne_bytes(c.try_into().expect("4"))),
        DType::U64 => i128::from(u64::from_ne_bytes(c.try_into().expect("8"))),
        _ => i128::from(i64::from_ne_bytes(c.try_into().expect("8"))),
    }
}

/// Encode one input frame (`h << up` by `w << up` counts) as an EER strip.
fn encode_frame(
    bytes: &[u8],
    dtype: DType,
    (h, w): (u64, u64),
    up: u32,
    coding: Coding,
    frame: u64,
) -> Result<Vec<u8>> {
    let in_w = (w << up) as usize;
    let side = 1usize << up;
    let mut events = Vec::new();
    for y in 0..h as usize {
        for x in 0..w as usize {
            let mut found = None;
            for v in 0..side {
                for hh in 0..side {
                    let i = (y * side + v) * in_w + x * side + hh;
                    match count_at(dtype, bytes, i) {
                        0 => {}
                        1 if found.is_none() => found = Some((hh as u32, v as u32)),
                        n => {
                            return Err(Error::unsupported(
                                "eer",
                                format!(
                                    "frame {frame}: {n} events in sensor pixel (y {y}, x {x}); \
                                     an EER frame holds at most one event per sensor pixel"
                                ),
                            ))
                        }
                    }
                }
            }
            if let Some((hh, v)) = found {
                events.push(((y * w as usize + x) as u64, hh, v));
            }
        }
    }
    Ok(codec::encode_strip(events, h * w, coding, up))
}

/// Escape text for XML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The metadata XML: frame count and sensor size, plus the camera values of the
/// dataset's HyperSpy tree when present.
fn metadata_xml(ds: &Dataset, frames: u64, h: u64, w: u64) -> Vec<u8> {
    let mut items = vec![
        ("numberOfFrames".to_string(), None, frames.to_string()),
        ("sensorImageHeight".into(), None, h.to_string()),
        ("sensorImageWidth".into(), None, w.to_string()),
    ];
    let cam = ds
        .metadata
        .get("Acquisition_instrument")
        .and_then(|v| v.get("TEM"))
        .and_then(|v| v.get("Detector"))
        .and_then(|v| v.get("Camera"));
    if let Some(t) = cam
        .and_then(|c| c.get("exposure_time"))
        .and_then(|v| v.as_f64())
    {
        items.push(("exposureTime".into(), Some("s"), t.to_string()));
    }
    let mut xml = String::from("<metadata>");
    for (name, unit, value) in items {
        let unit = unit.map(|u| format!(" unit=\"{u}\"")).unwrap_or_default();
        xml.push_str(&format!(
            "<item name=\"{}\"{unit}>{}</item>",
            escape(&name),
            escape(&value)
        ));
    }
    xml.push_str("</metadata>");
    xml.into_bytes()
}

/// One IFD entry: tag, type, count, value bytes (inline when at most 8 bytes, else the
/// offset of `data` stored after the IFD).
struct Entry {
    tag: u16,
    ty: u16,
    count: u64,
    value: Vec<u8>,
}

fn entry(tag: u16, ty: u16, value: u64) -> Entry {
    let bytes = match ty {
        SHORT => (value as u16).to_le_bytes().to_vec(),
        LONG => (value as u32).to_le_bytes().to_vec(),
        _ => value.to_le_bytes().to_vec(),
    };
    Entry {
        tag,
        ty,
        count: 1,
        value: bytes,
    }
}

/// Write `ds` as EER to `path`.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (ds, path, progress) = (request.dataset, request.path, request.progress);
    let dtype = ds.dtype();
    if !(dtype.is_integer() || dtype == DType::Bool) {
        return Err(Error::unsupported(
            "eer",
            format!("writing {dtype} frames (event counts must be integers)"),
        ));
    }
    let (frames, ih, iw) = match ds.shape() {
        [h, w] => (1, *h, *w),
        [n, h, w] => (*n, *h, *w),
        other => {
            return Err(Error::unsupported(
                "eer",
                format!("writing a {}-D dataset (frames, y, x)", other.len()),
            ))
        }
    };
    let options = request.typed::<WriteOptions>()?;
    let up = options.upsampling.log2();
    if ih % (1 << up) != 0 || iw % (1 << up) != 0 || ih == 0 || iw == 0 || frames == 0 {
        return Err(Error::invalid_option(
            "upsampling",
            format!(
                "frames of {ih}x{iw} are not made of {}x{} sub-pixel blocks",
                1 << up,
                1 << up
            ),
        ));
    }
    let (h, w) = (ih >> up, iw >> up);
    let compression = options.compression.tag();
    let bits = |n: i64| n.clamp(0, 32) as u32;
    let sub = bits(options.subpixel_bits);
    let coding = Coding::new(
        compression,
        [Some(bits(options.rle_bits)), Some(sub), Some(sub)],
    )
    .map_err(|e| Error::invalid_option("rle_bits", e.to_string()))?;
    if up > coding.max_upsampling_log2() {
        return Err(Error::invalid_option(
            "upsampling",
            format!(
                "{} sub-pixel bits allow upsampling up to {}",
                coding.max_upsampling_log2(),
                1 << coding.max_upsampling_log2()
            ),
        ));
    }
    let xml = metadata_xml(ds, frames, h, w);
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let io = |e| Error::io(path, e);
    // Header: little-endian BigTIFF, first IFD at 16.
    out.write_all(b"II\x2b\x00\x08\x00\x00\x00").map_err(io)?;
    out.write_all(&16u64.to_le_bytes()).map_err(io)?;
    let mut at = 16u64;
    let chunk: Vec<u64> = if ds.shape().len() == 3 {
        vec![1, ih, iw]
    } else {
        vec![ih, iw]
    };
    WritePlan::new(&chunk).write_in_order(
        ds,
        progress,
        |region, bytes| {
            let strip = encode_frame(bytes, dtype, (h, w), up, coding, region.start[0])?;
            *bytes = strip;
            Ok(())
        },
        |region, strip| {
            let index = if ds.shape().len() == 3 {
                region.start[0]
            } else {
                0
            };
            let mut entries = vec![
                entry(256, LONG, w),
                entry(257, LONG, h),
                entry(258, SHORT, 8),
                entry(259, SHORT, u64::from(coding.compression())),
                entry(262, SHORT, 1),
                entry(273, LONG8, 0),
                entry(277, SHORT, 1),
                entry(278, LONG, h),
                entry(279, LONG8, strip.len() as u64),
            ];
            if index == 0 {
                entries.push(Entry {
                    tag: TAG_METADATA,
                    ty: UNDEFINED,
                    count: xml.len() as u64,
                    value: xml.clone(),
                });
            }
            if coding.compression() == 65002 {
                for (tag, v) in
                    TAG_CODING
                        .iter()
                        .zip([coding.skip_bits, coding.horz_bits, coding.vert_bits])
                {
                    entries.push(entry(*tag, SHORT, u64::from(v)));
                }
            }
            let ifd_len = 8 + 20 * entries.len() as u64 + 8;
            let extra: u64 = entries
                .iter()
                .filter(|e| e.value.len() > 8)
                .map(|e| e.value.len() as u64)
                .sum();
            let data_at = at + ifd_len;
            let strip_at = data_at + extra;
            let end = strip_at + strip.len() as u64;
            let next = if index + 1 == frames {
                0
            } else {
                end + end % 2
            };
            entries[5] = entry(273, LONG8, strip_at);
            let mut ifd = Vec::with_capacity(ifd_len as usize);
            ifd.extend_from_slice(&(entries.len() as u64).to_le_bytes());
            let mut out_of_line = data_at;
            for e in &entries {
                ifd.extend_from_slice(&e.tag.to_le_bytes());
                ifd.extend_from_slice(&e.ty.to_le_bytes());
                ifd.extend_from_slice(&e.count.to_le_bytes());
                let mut v = [0u8; 8];
                if e.value.len() <= 8 {
                    v[..e.value.len()].copy_from_slice(&e.value);
                } else {
                    v = out_of_line.to_le_bytes();
                    out_of_line += e.value.len() as u64;
                }
                ifd.extend_from_slice(&v);
            }
            ifd.extend_from_slice(&next.to_le_bytes());
            out.write_all(&ifd).map_err(io)?;
            for e in entries.iter().filter(|e| e.value.len() > 8) {
                out.write_all(&e.value).map_err(io)?;
            }
            out.write_all(strip).map_err(io)?;
            if end % 2 == 1 {
                out.write_all(&[0]).map_err(io)?;
            }
            at = end + end % 2;
            Ok(())
        },
    )?;
    out.flush().map_err(io)?;
    Ok(())
}
