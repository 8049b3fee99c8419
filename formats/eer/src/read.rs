//! EER structure and rendering: the TIFF pages of a movie (one raw frame each, its strips
//! of events), checked once at open; and the lazy renderer that sums groups of raw frames
//! into output frames at an upsampling, one output frame per chunk (core's
//! `ChunkedSource` decodes chunks in parallel; a region decodes only its frames).

use std::sync::Arc;

use emio_core::options::IntList;
use emio_core::{ChunkDecoder, ChunkedSource, DType, Error, Result, Storage};
use emio_tiff::ifd::{self, Reader};

use crate::codec::{self, Coding};
use crate::Upsampling;

emio_core::options! {
    /// Options of the EER reader.
    pub struct ReadOptions {
        /// output pixels per sensor pixel and axis (2, 4: super-resolution from the events'
        /// sub-pixel positions)
        upsampling: Upsampling = Some("1"),
        /// raw frames summed into one output frame (dose fractionation)
        group: i64 = Some("1"),
        /// keep a last output frame summing fewer than `group` raw frames
        keep_partial_group: bool = Some("false"),
        /// START,STOP: raw frames START..STOP (STOP exclusive) only
        frame_range: Option<IntList> = None,
    }
}

/// TIFF tags used.
const WIDTH: u16 = 256;
const LENGTH: u16 = 257;
const COMPRESSION: u16 = 259;
const STRIP_OFFSETS: u16 = 273;
const ROWS_PER_STRIP: u16 = 278;
const STRIP_BYTE_COUNTS: u16 = 279;
/// The acquisition metadata XML (`<metadata><item name=...>`), on the first page.
pub const TAG_METADATA: u16 = 65001;
/// Run-length, horizontal and vertical sub-pixel bit sizes (compression 65002).
pub const TAG_CODING: [u16; 3] = [65007, 65008, 65009];

/// One raw frame: its coding and strips `(offset, length, first row, rows)`.
#[derive(Debug, Clone)]
pub struct Frame {
    /// How the events are coded.
    pub coding: Coding,
    /// Strips in row order.
    pub strips: Vec<(u64, u64, u64, u64)>,
}

/// The raw frames of an EER file.
#[derive(Debug, Clone)]
pub struct Movie {
    /// Sensor height in pixels.
    pub height: u64,
    /// Sensor width in pixels.
    pub width: u64,
    /// Raw frames in file order.
    pub frames: Vec<Frame>,
    /// The metadata XML of the first page, when present.
    pub xml: Option<String>,
}

fn bad(offset: u64, what: String) -> Error {
    Error::malformed("eer", offset, what)
}

/// Parse the pages of an EER file (its bytes): every page compressed with 65000-65002 is
/// a raw frame (a leading uncompressed page, the integrated image, is skipped).
pub fn parse(bytes: &[u8]) -> Result<Movie> {
    let header = ifd::parse_header(bytes)?;
    let (ifds, _) = ifd::parse_chain(bytes, &header)?;
    let r = Reader {
        bytes,
        order: header.order,
    };
    let one = |d: &ifd::Ifd, tag: u16| -> Result<Option<u64>> {
        match d.get(tag) {
            Some(e) => Ok(r.unsigned(e)?.first().copied()),
            None => Ok(None),
        }
    };
    let xml = match ifds[0].get(TAG_METADATA) {
        Some(e) => Some(r.text(e)?),
        None => None,
    };
    let (mut height, mut width) = (0, 0);
    let mut frames = Vec::new();
    for d in &ifds {
        let compression = one(d, COMPRESSION)?.unwrap_or(1);
        if !(65000..=65002).contains(&compression) {
            if frames.is_empty() {
                continue;
            }
            return Err(bad(
                d.offset,
                format!("an EER frame (compression 65000-65002), got compression {compression}"),
            ));
        }
        let w = one(d, WIDTH)?.unwrap_or(0);
        let h = one(d, LENGTH)?.unwrap_or(0);
        if frames.is_empty() {
            (height, width) = (h, w);
            if h == 0 || w == 0 || h.checked_mul(w).is_none_or(|n| n > 1 << 32) {
                return Err(bad(
                    d.offset,
                    format!("a frame of 1 to 2^32 pixels, got {w}x{h}"),
                ));
            }
        } else if (h, w) != (height, width) {
            return Err(bad(
                d.offset,
                format!("every frame {width}x{height} pixels, this one is {w}x{h}"),
            ));
        }
        let mut tags = [None; 3];
        for (t, code) in tags.iter_mut().zip(TAG_CODING) {
            *t = one(d, code)?.map(|v| v.min(u64::from(u32::MAX)) as u32);
        }
        let coding = Coding::new(compression as u16, tags).map_err(|e| match e {
            Error::Malformed { expected, .. } => bad(d.offset, expected),
            other => other,
        })?;
        let rows = one(d, ROWS_PER_STRIP)?.unwrap_or(h).clamp(1, h);
        let offsets = d.get(STRIP_OFFSETS).map(|e| r.unsigned(e)).transpose()?;
        let counts = d
            .get(STRIP_BYTE_COUNTS)
            .map(|e| r.unsigned(e))
            .transpose()?;
        let (Some(offsets), Some(counts)) = (offsets, counts) else {
            return Err(bad(d.offset, "StripOffsets and StripByteCounts".into()));
        };
        let n = h.div_ceil(rows);
        if offsets.len() as u64 != n || counts.len() as u64 != n {
            return Err(bad(
                d.offset,
                format!(
                    "{n} strips of {rows} rows, got {} offsets and {} byte counts",
                    offsets.len(),
                    counts.len()
                ),
            ));
        }
        let mut strips = Vec::with_capacity(n as usize);
        for (i, (&o, &c)) in offsets.iter().zip(&counts).enumerate() {
            r.slice(o, c)?;
            let first = i as u64 * rows;
            let strip_rows = rows.min(h - first);
            let needed = coding.min_strip_bytes(strip_rows * w);
            if c < needed {
                return Err(bad(
                    o,
                    format!(
                        "a strip of {strip_rows} rows of {w} pixels coded in at least \
                         {needed} bytes ({} run bits reach at most {} pixels a code), \
                         got {c} bytes",
                        coding.skip_bits,
                        (1u64 << coding.skip_bits) - 1
                    ),
                ));
            }
            strips.push((o, c, first, strip_rows));
        }
        frames.push(Frame { coding, strips });
    }
    if frames.is_empty() {
        return Err(bad(
            header.first_ifd,
            "pages compressed with the EER codes 65000-65002".into(),
        ));
    }
    Ok(Movie {
        height,
        width,
        frames,
        xml,
    })
}

/// How raw frames become output frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendering {
    /// Upsampling exponent: output pixels are `2^up_log2` per sensor pixel and axis.
    pub up_log2: u32,
    /// Raw frames summed into one output frame.
    pub group: u64,
    /// First raw frame used.
    pub first: u64,
    /// Raw frames used (from `first`).
    pub count: u64,
    /// Whether a last group with fewer than `group` raw frames is kept.
    pub keep_partial: bool,
}

impl Rendering {
    /// Number of output frames.
    pub fn output_frames(&self) -> u64 {
        if self.keep_partial {
            self.count.div_ceil(self.group)
        } else {
            self.count / self.group
        }
    }

    /// The output dtype: uint8 for single raw frames (at most one event per pixel),
    /// uint16 for sums (uint32 for groups beyond 65535 frames).
    pub fn dtype(&self) -> DType {
        match self.group {
            1 => DType::U8,
            2..=65535 => DType::U16,
            _ => DType::U32,
        }
    }
}

/// Output frames of a movie, one per chunk.
struct Renderer {
    storage: Storage,
    movie: Arc<Movie>,
    rendering: Rendering,
}

impl Renderer {
    /// Add the events of raw frame `index` to `add(output pixel index)`.
    fn raw_frame(&self, index: usize, add: &mut dyn FnMut(usize)) -> Result<()> {
        let m = &self.movie;
        let up = self.rendering.up_log2;
        let out_width = (m.width << up) as usize;
        let frame = &m.frames[index];
        let cap = frame.coding.max_upsampling_log2();
        if up > cap {
            return Err(Error::invalid_option(
                "upsampling",
                format!(
                    "frame {index} has {cap} sub-pixel bits: upsampling up to {}",
                    1 << cap
                ),
            ));
        }
        for &(offset, len, first_row, rows) in &frame.strips {
            let data = &self.storage[offset as usize..(offset + len) as usize];
            codec::decode_strip(
                data,
                frame.coding,
                rows * m.width,
                m.width,
                up,
                |r, c, h, v| {
                    let y = (((first_row + r) << up) + u64::from(v)) as usize;
                    let x = ((c << up) + u64::from(h)) as usize;
                    add(y * out_width + x);
                },
            )
            .map_err(|e| match e {
                Error::Malformed { expected, .. } => Error::Malformed {
                    format: "eer",
                    path: None,
                    offset: Some(offset),
                    expected: format!("{expected} (raw frame {index}, strip at byte {offset})"),
                },
                other => other,
            })?;
        }
        Ok(())
    }
}

impl ChunkDecoder for Renderer {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        let r = &self.rendering;
        let start = r.first + index[0] * r.group;
        let end = (start + r.group).min(r.first + r.count);
        let dtype = r.dtype();
        for f in start..end {
            match dtype {
                DType::U8 => {
                    self.raw_frame(f as usize, &mut |i| out[i] = out[i].wrapping_add(1))?
                }
                DType::U16 => self.raw_frame(f as usize, &mut |i| {
                    let v = u16::from_ne_bytes([out[2 * i], out[2 * i + 1]]) + 1;
                    out[2 * i..2 * i + 2].copy_from_slice(&v.to_ne_bytes());
                })?,
                _ => self.raw_frame(f as usize, &mut |i| {
                    let b: [u8; 4] = out[4 * i..4 * i + 4].try_into().expect("4 bytes");
                    let v = u32::from_ne_bytes(b) + 1;
                    out[4 * i..4 * i + 4].copy_from_slice(&v.to_ne_bytes());
                })?,
            }
        }
        Ok(())
    }
}

/// The lazy source of `movie`'s output frames under `rendering` (checked by the caller).
pub fn source(
    storage: Storage,
    movie: Arc<Movie>,
    rendering: Rendering,
) -> Result<Arc<dyn emio_core::ArraySource>> {
    let (h, w) = (
        movie.height << rendering.up_log2,
        movie.width << rendering.up_log2,
    );
    let shape = vec![rendering.output_frames(), h, w];
    Ok(Arc::new(ChunkedSource::new(
        rendering.dtype(),
        shape,
        vec![1, h, w],
        Box::new(Renderer {
            storage,
            movie,
            rendering,
        }),
    )?))
}
