//! Frame geometry (what a frame header says about the pixels that follow it) and the lazy
//! pixel sources: a memory-mapped strided view for processed frames, a per-frame decoder for
//! RAW frames and for quad images with the chip gap inserted.

use emio_core::{ChunkDecoder, DType, Error, Result, Storage};

use crate::header::{FrameHeader, PixelType};
use crate::raw;

const FORMAT: &str = "mib";

/// How the pixels of every frame are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Big-endian unsigned counts of the dtype's size.
    Processed,
    /// RAW single-chip counters of this depth.
    RawSingle(u32),
    /// RAW 2×2 quad counters of this depth.
    RawQuad(u32),
}

/// Pixel layout of one frame (identical for all frames of a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Image rows, in file order.
    pub rows: u64,
    /// Image columns.
    pub columns: u64,
    /// Logical dtype (u8 for 1/6-bit, u16 for 12-bit, u32 for 24-bit counters).
    pub dtype: DType,
    /// Pixel bytes after each header.
    pub pixel_bytes: u64,
    /// Storage encoding.
    pub encoding: Encoding,
    /// Whether the image is a 2×2 quad (chip gap insertion applies).
    pub quad: bool,
}

impl Geometry {
    /// The frame layout a header describes. `depth` is the counter depth (from the header's
    /// extension or the `.hdr` companion), needed for RAW frames.
    pub fn from_header(h: &FrameHeader, depth: Option<u32>) -> Result<Self> {
        let quad = h.chips == 4 && h.layout.starts_with("2x2");
        let (rows, columns) = (h.rows, h.columns);
        match h.pixel {
            PixelType::Unsigned(size) => Ok(Geometry {
                rows,
                columns,
                dtype: match size {
                    1 => DType::U8,
                    2 => DType::U16,
                    _ => DType::U32,
                },
                pixel_bytes: rows * columns * u64::from(size),
                encoding: Encoding::Processed,
                quad,
            }),
            PixelType::Raw => {
                let depth = depth.ok_or_else(|| {
                    Error::malformed(FORMAT, 0, "a counter depth for RAW data (header or .hdr)")
                })?;
                let dtype = match depth {
                    1 | 6 => DType::U8,
                    12 => DType::U16,
                    24 => DType::U32,
                    _ => {
                        return Err(Error::unsupported(
                            FORMAT,
                            format!("RAW counter depth {depth}"),
                        ))
                    }
                };
                let unit = raw::pixels_per_word(depth);
                if h.chips <= 1 {
                    // 24-bit RAW frames are two 12-bit frames side by side: the header counts
                    // twice the columns.
                    let columns = if depth == 24 { columns / 2 } else { columns };
                    let pixels = rows * columns;
                    if pixels == 0 || pixels % unit != 0 {
                        return Err(Error::malformed(
                            FORMAT,
                            0,
                            format!("a RAW frame size that is a multiple of {unit} pixels"),
                        ));
                    }
                    Ok(Geometry {
                        rows,
                        columns,
                        dtype,
                        pixel_bytes: raw::stored_bytes(depth, pixels).unwrap_or(0),
                        encoding: Encoding::RawSingle(depth),
                        quad: false,
                    })
                } else if quad && depth != 24 {
                    // RAW quad headers give one chip's rows and four chips' columns.
                    if columns != 4 * rows || rows % unit != 0 {
                        return Err(Error::malformed(
                            FORMAT,
                            0,
                            format!(
                                "RAW quad rows of four chips (columns = 4 × rows, rows a \
                                 multiple of {unit}), found {columns}×{rows}"
                            ),
                        ));
                    }
                    Ok(Geometry {
                        rows: 2 * rows,
                        columns: 2 * rows,
                        dtype,
                        pixel_bytes: raw::stored_bytes(depth, 4 * rows * rows).unwrap_or(0),
                        encoding: Encoding::RawQuad(depth),
                        quad: true,
                    })
                } else {
                    Err(Error::unsupported(
                        FORMAT,
                        format!(
                            "RAW data of {} chips in layout {} at depth {depth}",
                            h.chips, h.layout
                        ),
                    ))
                }
            }
        }
    }
}

/// Decodes one frame per chunk: RAW counters, or processed frames with the quad chip gap
/// inserted. Output rows are flipped like rsciio's (`np.flip(data, axis=-2)`).
pub struct FrameDecoder {
    /// The mapped file.
    pub storage: Storage,
    /// File offset of the first frame read.
    pub first: u64,
    /// Bytes from one frame header to the next.
    pub stride: u64,
    /// Header bytes before the pixels.
    pub header_len: u64,
    /// Frame layout.
    pub geometry: Geometry,
    /// Navigation shape, C order (frames are consecutive in it).
    pub nav_shape: Vec<u64>,
    /// Zero rows/columns inserted between the quad chips.
    pub gap: u64,
}

impl FrameDecoder {
    /// Output frame shape (rows, columns), gap included.
    pub fn output_shape(&self) -> (u64, u64) {
        (
            self.geometry.rows + self.gap,
            self.geometry.columns + self.gap,
        )
    }

    fn frame_values(&self, offset: u64) -> Result<Vec<u32>> {
        let g = &self.geometry;
        let bytes: &[u8] = &self.storage;
        let start = offset + self.header_len;
        let pixels = bytes
            .get(start as usize..(start + g.pixel_bytes) as usize)
            .ok_or_else(|| Error::malformed(FORMAT, start, "a whole frame before the end"))?;
        if !bytes[offset as usize..].starts_with(b"MQ1,") {
            return Err(Error::malformed(
                FORMAT,
                offset,
                "a frame header starting with \"MQ1,\" (frames of equal size)",
            ));
        }
        let n = (g.rows * g.columns) as usize;
        let mut values = vec![0u32; n];
        match g.encoding {
            Encoding::Processed => {
                let size = g.dtype.size();
                for (v, b) in values.iter_mut().zip(pixels.chunks_exact(size)) {
                    *v = b.iter().fold(0u32, |acc, &x| acc << 8 | u32::from(x));
                }
            }
            Encoding::RawSingle(depth) => raw::decode_single(depth, pixels, &mut values),
            Encoding::RawQuad(depth) => {
                raw::decode_quad(depth, (g.rows / 2) as usize, pixels, &mut values)
            }
        }
        Ok(values)
    }
}

impl ChunkDecoder for FrameDecoder {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        let nav = &index[..self.nav_shape.len()];
        let linear = nav
            .iter()
            .zip(&self.nav_shape)
            .fold(0u64, |acc, (&i, &n)| acc * n + i);
        let values = self.frame_values(self.first + linear * self.stride)?;
        let g = &self.geometry;
        let (rows, cols) = (g.rows as usize, g.columns as usize);
        let (_, out_cols) = self.output_shape();
        let gap = self.gap as usize;
        let es = g.dtype.size();
        out.fill(0);
        for r in 0..rows {
            let src = &values[(rows - 1 - r) * cols..(rows - r) * cols];
            let dst_row = r + if r >= rows / 2 { gap } else { 0 };
            for (c, &v) in src.iter().enumerate() {
                let dst_col = c + if c >= cols / 2 { gap } else { 0 };
                let at = (dst_row * out_cols as usize + dst_col) * es;
                let slot = &mut out[at..at + es];
                match es {
                    1 => slot[0] = v as u8,
                    2 => slot.copy_from_slice(&(v as u16).to_ne_bytes()),
                    _ => slot.copy_from_slice(&v.to_ne_bytes()),
                }
            }
        }
        Ok(())
    }
}
