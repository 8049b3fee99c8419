//! One TIFF page (image): geometry, sample layout and the strips or tiles holding its
//! pixels, validated from the IFD; and decoding of one strip or tile to native values.

use emio_core::{ByteOrder, DType, Error, Result};

use crate::codec::{decode_jpeg, decompress, decompress_into};
use crate::ifd::{Entry, Ifd, Reader, FORMAT};
use crate::predictor::{undo_float_predictor, undo_horizontal};

/// TIFF compression codes emio decodes.
pub mod compression {
    /// No compression.
    pub const NONE: u16 = 1;
    /// LZW.
    pub const LZW: u16 = 5;
    /// Deflate (zlib), Adobe code.
    pub const ADOBE_DEFLATE: u16 = 8;
    /// PackBits run-length encoding.
    pub const PACKBITS: u16 = 32773;
    /// Deflate (zlib), old code.
    pub const DEFLATE: u16 = 32946;
    /// Zstandard (code used by libtiff).
    pub const ZSTD: u16 = 50000;
    /// JPEG ("new-style", with shared tables in JPEGTables).
    pub const JPEG: u16 = 7;
}

/// Largest decoded strip or tile emio accepts (a corrupt header cannot make it allocate more).
pub const MAX_CHUNK_BYTES: u64 = 1 << 31;

/// Where a page's pixels are and how they are stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Index of the page in the IFD chain.
    pub index: usize,
    /// ImageWidth.
    pub width: u64,
    /// ImageLength.
    pub height: u64,
    /// SamplesPerPixel.
    pub samples: u64,
    /// BitsPerSample (the same for every sample).
    pub bits: u64,
    /// Scalar type of one sample after decoding.
    pub sample_dtype: DType,
    /// Logical element type: an RGB(A) record for 8/16-bit RGB pages, else `sample_dtype`.
    pub dtype: DType,
    /// Whether samples form a trailing dimension (multi-sample pages that are not RGB records).
    pub sample_axis: bool,
    /// Compression code.
    pub compression: u16,
    /// Predictor (1 none, 2 horizontal, 3 floating point).
    pub predictor: u16,
    /// Planar configuration 2 (one plane per sample) rather than 1 (interleaved).
    pub planar_separate: bool,
    /// PhotometricInterpretation.
    pub photometric: u16,
    /// NewSubfileType.
    pub subfile_type: u64,
    /// Rows per strip or tile height.
    pub block_height: u64,
    /// Tile width (the image width for strips).
    pub block_width: u64,
    /// Whether blocks are tiles.
    pub tiled: bool,
    /// Byte offsets of the strips/tiles.
    pub offsets: Vec<u64>,
    /// Byte counts of the strips/tiles.
    pub counts: Vec<u64>,
    /// Byte order of the file.
    pub order: ByteOrder,
    /// JPEGTables (quantisation and Huffman tables shared by JPEG strips).
    pub jpeg_tables: Option<Vec<u8>>,
}

fn sample_dtype(format: u64, bits: u64, at: u64) -> Result<DType> {
    let unsupported = || {
        Error::unsupported(
            FORMAT,
            format!("{bits}-bit samples of SampleFormat {format} (IFD at byte {at})"),
        )
    };
    Ok(match (format, bits) {
        (1 | 4, 1) => DType::Bool,
        (1 | 4, 2..=8) => DType::U8,
        (1 | 4, 9..=16) => DType::U16,
        (1 | 4, 17..=32) => DType::U32,
        (1 | 4, 33..=64) => DType::U64,
        (2, 8) => DType::I8,
        (2, 16) => DType::I16,
        (2, 32) => DType::I32,
        (2, 64) => DType::I64,
        (3, 16) => DType::F16,
        (3, 32) => DType::F32,
        (3, 64) => DType::F64,
        (6, 64) => DType::C64,
        (6, 128) => DType::C128,
        _ => return Err(unsupported()),
    })
}

/// How many tags a page is described by.
const PAGE_TAG_COUNT: usize = 19;

/// The slot of each tag a page is described by in [`PageTags`] (below [`PAGE_TAG_COUNT`]).
const fn page_tag_slot(tag: u16) -> Option<usize> {
    Some(match tag {
        254 => 0,
        256 => 1,
        257 => 2,
        258 => 3,
        259 => 4,
        262 => 5,
        273 => 6,
        277 => 7,
        278 => 8,
        279 => 9,
        284 => 10,
        317 => 11,
        322 => 12,
        323 => 13,
        324 => 14,
        325 => 15,
        338 => 16,
        339 => 17,
        347 => 18,
        _ => return None,
    })
}

/// The entries of the tags a page is described by in one IFD (the first of each, as
/// [`Ifd::get`] finds), collected in one pass over its entries: looking each tag up on its
/// own walked the whole table for every tag a page lacks, a fifth of the time to open a
/// stack of pages.
struct PageTags<'a>([Option<&'a Entry>; PAGE_TAG_COUNT]);

impl<'a> PageTags<'a> {
    fn of(ifd: &'a Ifd) -> Self {
        let mut found = [None; PAGE_TAG_COUNT];
        for entry in &ifd.entries {
            if let Some(i) = page_tag_slot(entry.tag) {
                found[i].get_or_insert(entry);
            }
        }
        PageTags(found)
    }

    /// The entry of `tag`, one of those [`page_tag_slot`] knows.
    fn get(&self, tag: u16) -> Option<&'a Entry> {
        let slot = page_tag_slot(tag);
        debug_assert!(slot.is_some(), "tag {tag} has no slot");
        slot.and_then(|i| self.0[i])
    }
}

impl Page {
    /// Validate the IFD of page `index` into a page description.
    pub fn parse(r: &Reader<'_>, ifd: &Ifd, index: usize) -> Result<Page> {
        let at = ifd.offset;
        let tags = PageTags::of(ifd);
        let missing = |what: &str| Error::malformed(FORMAT, at, format!("tag {what} in the IFD"));
        let first = |tag: u16, default: Option<u64>| -> Result<Option<u64>> {
            match tags.get(tag) {
                Some(e) => Ok(r.first_unsigned(e)?.or(default)),
                None => Ok(default),
            }
        };
        let width = first(256, None)?.ok_or_else(|| missing("ImageWidth"))?;
        let height = first(257, None)?.ok_or_else(|| missing("ImageLength"))?;
        let samples = first(277, Some(1))?.unwrap_or(1).max(1);
        // One value per sample; a single one (most pages) is read without a list.
        let bits = match tags.get(258) {
            Some(e) if e.count > 1 => {
                let all = r.unsigned(e)?;
                if all.iter().any(|&b| b != all[0]) {
                    return Err(Error::unsupported(
                        FORMAT,
                        format!("different BitsPerSample per sample {all:?}"),
                    ));
                }
                all[0]
            }
            Some(e) => r.first_unsigned(e)?.unwrap_or(1),
            None => 1,
        };
        let format = first(339, Some(1))?.unwrap_or(1);
        let sample_dtype = sample_dtype(format, bits, at)?;
        let compression = first(259, Some(1))?.unwrap_or(1) as u16;
        let predictor = first(317, Some(1))?.unwrap_or(1) as u16;
        let planar_separate = first(284, Some(1))? == Some(2) && samples > 1;
        let photometric = first(262, Some(1))?.unwrap_or(1) as u16;
        let subfile_type = first(254, Some(0))?.unwrap_or(0);
        let extra = match tags.get(338) {
            Some(e) => r.unsigned(e)?.len() as u64,
            None => 0,
        };
        let color = samples.saturating_sub(extra);
        let dtype = match (photometric, color, samples, sample_dtype) {
            (2, 3, 3, DType::U8) => DType::Rgb8,
            (2, 3, 4, DType::U8) => DType::Rgba8,
            (2, 3, 3, DType::U16) => DType::Rgb16,
            (2, 3, 4, DType::U16) => DType::Rgba16,
            _ => sample_dtype,
        };
        let sample_axis = samples > 1 && !dtype.is_rgb();
        let tiled = tags.get(322).is_some();
        let (block_height, block_width, off_tag, cnt_tag) = if tiled {
            let tw = first(322, None)?.ok_or_else(|| missing("TileWidth"))?;
            let th = first(323, None)?.ok_or_else(|| missing("TileLength"))?;
            (th, tw, 324, 325)
        } else {
            let rps = first(278, Some(height))?.unwrap_or(height);
            (rps.clamp(1, height.max(1)), width, 273, 279)
        };
        let max = u64::from(u32::MAX);
        if width == 0
            || height == 0
            || block_height == 0
            || block_width == 0
            || width > max
            || height > max
            || block_width > max
        {
            return Err(Error::malformed(
                FORMAT,
                at,
                "image and strip/tile sizes between 1 and 2^32-1",
            ));
        }
        let offsets = match tags
            .get(off_tag)
            .or_else(|| tags.get(if tiled { 273 } else { 324 }))
        {
            Some(e) => r.unsigned(e)?,
            None => return Err(missing("StripOffsets/TileOffsets")),
        };
        let counts = match tags
            .get(cnt_tag)
            .or_else(|| tags.get(if tiled { 279 } else { 325 }))
        {
            Some(e) => r.unsigned(e)?,
            None => Vec::new(),
        };
        let jpeg_tables = match tags.get(347) {
            Some(e) => Some(r.slice(e.pos, e.len())?.to_vec()),
            None => None,
        };
        let page = Page {
            jpeg_tables,
            index,
            width,
            height,
            samples,
            bits,
            sample_dtype,
            dtype,
            sample_axis,
            compression,
            predictor,
            planar_separate,
            photometric,
            subfile_type,
            block_height,
            block_width,
            tiled,
            offsets,
            counts,
            order: r.order,
        };
        page.validate(r.bytes.len() as u64)?;
        Ok(page)
    }

    fn validate(&self, file_len: u64) -> Result<()> {
        let bad = |what: String| {
            Error::malformed(FORMAT, self.offsets.first().copied().unwrap_or(0), what)
        };
        let blocks = self
            .blocks_per_plane()
            .checked_mul(self.planes())
            .ok_or_else(|| bad("a sane number of strips".into()))?;
        if (self.offsets.len() as u64) < blocks {
            return Err(bad(format!(
                "{blocks} strip/tile offsets, found {}",
                self.offsets.len()
            )));
        }
        let block = self.block_bytes();
        let native = self
            .block_height
            .checked_mul(self.block_width)
            .and_then(|n| n.checked_mul(self.pixel_bytes() as u64));
        if block.is_none_or(|b| b > MAX_CHUNK_BYTES) || native.is_none_or(|b| b > MAX_CHUNK_BYTES) {
            return Err(bad("strips/tiles of at most 2 GiB".into()));
        }
        let block = block.unwrap_or(0);
        if !matches!(
            self.compression,
            compression::NONE
                | compression::LZW
                | compression::ADOBE_DEFLATE
                | compression::DEFLATE
                | compression::PACKBITS
                | compression::ZSTD
                | compression::JPEG
        ) {
            // Readable structure, undecodable pixels: reported when pixels are read.
            return Ok(());
        }
        for i in 0..blocks as usize {
            let off = self.offsets[i];
            let count = if self.compression == compression::NONE {
                self.uncompressed_block_bytes(i as u64).min(block)
            } else {
                self.counts.get(i).copied().unwrap_or(0)
            };
            if off.checked_add(count).is_none_or(|e| e > file_len) {
                // Uncompressed data may omit trailing bytes of the last strip only if the
                // byte count says so; anything else is corrupt.
                return Err(bad(format!(
                    "strip/tile {i} ({count} bytes at {off}) inside the {file_len}-byte file"
                )));
            }
        }
        Ok(())
    }

    /// Number of sample planes stored separately (1 for interleaved samples).
    pub fn planes(&self) -> u64 {
        if self.planar_separate {
            self.samples
        } else {
            1
        }
    }

    /// Samples interleaved in one stored pixel.
    fn samples_per_block_pixel(&self) -> u64 {
        if self.planar_separate {
            1
        } else {
            self.samples
        }
    }

    /// Strips or tiles down the image.
    pub fn blocks_down(&self) -> u64 {
        self.height.div_ceil(self.block_height)
    }

    /// Tiles across the image (1 for strips).
    pub fn blocks_across(&self) -> u64 {
        self.width.div_ceil(self.block_width)
    }

    /// Strips or tiles per sample plane.
    pub fn blocks_per_plane(&self) -> u64 {
        self.blocks_down().saturating_mul(self.blocks_across())
    }

    /// Bytes of one stored row of a block (rows start on byte boundaries).
    pub fn row_bytes(&self) -> Option<u64> {
        self.block_width
            .checked_mul(self.samples_per_block_pixel())?
            .checked_mul(self.bits)
            .map(|b| b.div_ceil(8))
    }

    /// Bytes of one full block as stored uncompressed.
    pub fn block_bytes(&self) -> Option<u64> {
        self.row_bytes()?.checked_mul(self.block_height)
    }

    /// Bytes block `i` holds when uncompressed (the last strip may be short).
    fn uncompressed_block_bytes(&self, i: u64) -> u64 {
        let row = self.row_bytes().unwrap_or(0);
        if self.tiled {
            return row * self.block_height;
        }
        let strip = i % self.blocks_per_plane();
        let rows = self
            .block_height
            .min(self.height - (strip * self.block_height).min(self.height));
        row * rows
    }

    /// The page's shape as it appears in a series: `[height, width]`, plus samples when
    /// they form their own axis (leading for separate planes, trailing for interleaved).
    pub fn shape(&self) -> Vec<u64> {
        let (dims, n) = self.shape_array();
        dims[..n].to_vec()
    }

    /// [`Page::shape`] without allocating: the dimensions, then how many of them there are.
    pub fn shape_array(&self) -> ([u64; 3], usize) {
        if self.samples_first() {
            ([self.samples, self.height, self.width], 3)
        } else if self.sample_axis {
            ([self.height, self.width, self.samples], 3)
        } else {
            ([self.height, self.width, 0], 2)
        }
    }

    /// Whether the page is stored uncompressed, interleaved, whole bytes per sample, in one
    /// contiguous run of strips: then its pixels can be memory-mapped. Returns the offset.
    pub fn contiguous_offset(&self) -> Option<u64> {
        if self.compression != compression::NONE
            || self.tiled
            || self.planar_separate
            || self.predictor != 1
            || self.bits != 8 * self.sample_dtype.size() as u64
            || self.sample_dtype == DType::Bool
        {
            return None;
        }
        let mut next = self.offsets[0];
        for i in 0..self.blocks_per_plane() {
            if self.offsets[i as usize] != next {
                return None;
            }
            next += self.uncompressed_block_bytes(i);
        }
        Some(self.offsets[0])
    }

    /// Bytes of one decoded pixel (all samples) in native layout.
    pub fn pixel_bytes(&self) -> usize {
        self.sample_dtype.size() * self.samples as usize
    }

    /// Whether samples form a leading dimension (`[S, Y, X]`, as tifffile presents pages
    /// stored as separate planes) rather than a trailing one.
    pub fn samples_first(&self) -> bool {
        self.sample_axis && self.planar_separate
    }

    /// Decode block (`row`, `col`) of sample plane `plane` (separately stored planes) into
    /// `out`: the block clipped to the image, C order, native-endian.
    pub fn decode_plane_block(
        &self,
        file: &[u8],
        plane: u64,
        row: u64,
        col: u64,
        out: &mut [u8],
    ) -> Result<()> {
        let rows = self.block_height.min(self.height - row * self.block_height) as usize;
        let cols = self.block_width.min(self.width - col * self.block_width) as usize;
        let es = self.sample_dtype.size();
        let bw = self.block_width as usize;
        let i = plane * self.blocks_per_plane() + row * self.blocks_across() + col;
        let decoded = self.decode_raw(file, i as usize, rows)?;
        for r in 0..rows {
            out[r * cols * es..(r + 1) * cols * es]
                .copy_from_slice(&decoded[r * bw * es..r * bw * es + cols * es]);
        }
        Ok(())
    }

    /// Decode block (`row`, `col`) of the block grid into `out`: the block's pixels clipped
    /// to the image, in C order (rows, columns, samples), native-endian.
    pub fn decode_block(&self, file: &[u8], row: u64, col: u64, out: &mut [u8]) -> Result<()> {
        let rows = self.block_height.min(self.height - row * self.block_height) as usize;
        let cols = self.block_width.min(self.width - col * self.block_width) as usize;
        let px = self.pixel_bytes();
        let es = self.sample_dtype.size();
        let planes = self.planes() as usize;
        let spp = self.samples_per_block_pixel() as usize;
        let bw = self.block_width as usize;
        if planes == 1 && self.decodes_in_place(rows, cols) {
            let i = row * self.blocks_across() + col;
            return self.decode_raw_into(file, i as usize, &mut out[..rows * cols * px]);
        }
        for plane in 0..planes {
            let i = plane as u64 * self.blocks_per_plane() + row * self.blocks_across() + col;
            let decoded = self.decode_raw(file, i as usize, rows)?;
            // `decoded` holds `rows` rows of `bw * spp` native samples.
            let row_len = bw * spp * es;
            for r in 0..rows {
                let src = &decoded[r * row_len..(r + 1) * row_len];
                let dst = &mut out[r * cols * px..(r + 1) * cols * px];
                if planes == 1 {
                    dst.copy_from_slice(&src[..cols * px]);
                } else {
                    for c in 0..cols {
                        let d = c * px + plane * es;
                        dst[d..d + es].copy_from_slice(&src[c * es..(c + 1) * es]);
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a block of `rows` x `cols` decodes byte for byte into its place in the
    /// output: whole-byte samples, no JPEG, as wide as the block grid and (tiles) as tall.
    fn decodes_in_place(&self, rows: usize, cols: usize) -> bool {
        self.bits as usize == self.sample_dtype.size() * 8
            && self.sample_dtype != DType::Bool
            && self.compression != compression::JPEG
            && cols as u64 == self.block_width
            && (!self.tiled || rows as u64 == self.block_height)
    }

    /// The stored bytes of block `i` and their file offset.
    fn stored_block<'f>(
        &self,
        file: &'f [u8],
        i: usize,
        expected: usize,
    ) -> Result<(&'f [u8], u64)> {
        let off = self.offsets[i];
        let stored_len = match self.compression {
            compression::NONE => {
                (expected as u64).min(file.len() as u64 - off.min(file.len() as u64))
            }
            _ => self.counts.get(i).copied().unwrap_or(0),
        };
        let end = off
            .checked_add(stored_len)
            .filter(|&e| e <= file.len() as u64)
            .ok_or_else(|| Error::malformed(FORMAT, off, "strip/tile data inside the file"))?;
        Ok((&file[off as usize..end as usize], off))
    }

    /// A block that decodes short is damaged: an error, never silent zero padding.
    fn check_decoded(i: usize, off: u64, decoded: usize, expected: usize) -> Result<()> {
        if decoded < expected {
            return Err(Error::malformed(
                FORMAT,
                off,
                format!("strip/tile {i} to decode to {expected} bytes, it gives {decoded}"),
            ));
        }
        Ok(())
    }

    /// Decode block `i` straight into `out` (see [`Page::decodes_in_place`]): `out` is
    /// the block's rows, each `row_bytes` long.
    fn decode_raw_into(&self, file: &[u8], i: usize, out: &mut [u8]) -> Result<()> {
        let (stored, off) = self.stored_block(file, i, out.len())?;
        let decoded = decompress_into(self.compression, stored, out, off)?;
        Self::check_decoded(i, off, decoded, out.len())?;
        self.to_native(out, true)
    }

    /// Decompress block `i` and turn its first `rows` rows into native samples (unpacked,
    /// byte-swapped, predictor undone): `rows * block_width * spp` values.
    fn decode_raw(&self, file: &[u8], i: usize, rows: usize) -> Result<Vec<u8>> {
        let row_bytes = self.row_bytes().unwrap_or(0) as usize;
        let expected = if self.tiled {
            row_bytes * self.block_height as usize
        } else {
            row_bytes * rows
        };
        let (stored, off) = self.stored_block(file, i, expected)?;
        let mut raw = match self.compression {
            compression::JPEG => decode_jpeg(
                stored,
                self.jpeg_tables.as_deref(),
                self.photometric,
                expected,
                off,
            )?,
            code => decompress(code, stored, expected, off)?,
        };
        Self::check_decoded(i, off, raw.len(), expected)?;
        raw.truncate(expected);
        let spp = self.samples_per_block_pixel() as usize;
        let bw = self.block_width as usize;
        let es = self.sample_dtype.size();
        let values_per_row = bw * spp;
        let whole_bytes = self.bits as usize == es * 8 && self.sample_dtype != DType::Bool;
        let mut out = if whole_bytes {
            raw.truncate(rows * row_bytes);
            raw
        } else {
            unpack_bits(&raw, rows, row_bytes, values_per_row, self.bits, es)
        };
        self.to_native(&mut out, whole_bytes)?;
        Ok(out)
    }

    /// Turn decoded rows of samples into native values in place: bytes swapped when
    /// `swap` allows it and the file's order is not native (whole-byte samples not under the
    /// floating-point predictor, which stores bytes big-endian first), predictor undone.
    fn to_native(&self, samples: &mut [u8], swap: bool) -> Result<()> {
        if swap && self.predictor != 3 && !self.order.is_native() {
            emio_core::dtype::swap_bytes_in_place(samples, self.sample_dtype.swap_unit());
        }
        let spp = self.samples_per_block_pixel() as usize;
        let values_per_row = self.block_width as usize * spp;
        let es = self.sample_dtype.size();
        match self.predictor {
            1 => {}
            2 => undo_horizontal(samples, values_per_row, spp, self.sample_dtype),
            3 => {
                for row in samples.chunks_exact_mut(values_per_row * es) {
                    undo_float_predictor(row, spp, es);
                }
            }
            p => {
                return Err(Error::unsupported(FORMAT, format!("predictor {p}")));
            }
        }
        Ok(())
    }
}

/// Unpack `bits`-bit big-endian-packed values (rows padded to bytes) into native unsigned
/// values of `es` bytes (1-bit values become 0/1 bytes).
fn unpack_bits(
    raw: &[u8],
    rows: usize,
    row_bytes: usize,
    per_row: usize,
    bits: u64,
    es: usize,
) -> Vec<u8> {
    let mut out = vec![0u8; rows * per_row * es];
    let bits = bits as usize;
    for r in 0..rows {
        let row = &raw[r * row_bytes..(r + 1) * row_bytes];
        for v in 0..per_row {
            let mut value: u64 = 0;
            let start = v * bits;
            for b in start..start + bits {
                let bit = (row[b / 8] >> (7 - b % 8)) & 1;
                value = (value << 1) | u64::from(bit);
            }
            let o = (r * per_row + v) * es;
            if cfg!(target_endian = "big") {
                out[o..o + es].copy_from_slice(&value.to_be_bytes()[8 - es..]);
            } else {
                out[o..o + es].copy_from_slice(&value.to_le_bytes()[..es]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Tags a page reads and a few it does not.
    const TAGS: [u16; 22] = [
        254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 338, 339,
        347, 255, 270, 65000,
    ];

    proptest! {
        /// The one-pass table finds the entry `Ifd::get` finds for every tag a page reads,
        /// repeated and unsorted tags included.
        #[test]
        fn page_tags_find_what_ifd_get_finds(
            picks in proptest::collection::vec((0..TAGS.len(), 0u64..4), 0..40)
        ) {
            let entries = picks
                .iter()
                .map(|&(t, count)| Entry {
                    tag: TAGS[t],
                    ftype: 3,
                    count,
                    pos: 8,
                })
                .collect();
            let ifd = Ifd {
                offset: 8,
                entries,
                next: 0,
                defects: Vec::new(),
                more_defects: 0,
            };
            let tags = PageTags::of(&ifd);
            for tag in TAGS.into_iter().filter(|&t| page_tag_slot(t).is_some()) {
                let found = tags.get(tag).map(|e| e as *const Entry);
                prop_assert_eq!(found, ifd.get(tag).map(|e| e as *const Entry));
            }
        }
    }

    #[test]
    fn unpacks_12_bit_values() {
        let raw = [0xABu8, 0xCD, 0xEF];
        let out = unpack_bits(&raw, 1, 3, 2, 12, 2);
        let v: Vec<u16> = out
            .chunks_exact(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(v, [0xABC, 0xDEF]);
    }
}
