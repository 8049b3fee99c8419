//! Blosc frames written by emio, laid out as c-blosc 1.x lays them out (its automatic
//! block sizes, splits and stored blocks), so that every Blosc reader reads them: the
//! shuffles by [`emio_core::bitplanes`] (GFNI or SSE2 transposes, one pass over each block
//! while it is in the cache), LZ4 blocks by `lz4_flex` (which does not take LZ4's
//! "acceleration": every level compresses as c-blosc's level 9 does, 5% smaller than
//! level 5 on detector frames at about the same speed), Zstd by `zstd` at c-blosc's level
//! (`2 × level − 1`, level 9 the maximum).

use super::{
    splits, Compressor, BIT_SHUFFLE, BYTE_SHUFFLE, DONT_SPLIT, HEADER, MAX_SPLITS, MEMCPYED,
    MIN_SPLIT_ELEMENTS,
};
use crate::Shuffle;
use emio_core::bitplanes;
use emio_core::region_bytes::RegionBytes;
use emio_core::source::StoredRuns;

/// How chunks are compressed: what a `blosc` codec's configuration says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The blocks' compressor.
    pub compressor: Compressor,
    /// Blosc's level: 0 stores the chunk as it is, 1-9 compress harder and in larger
    /// blocks.
    pub level: u8,
    /// How each block is rearranged before it is compressed.
    pub shuffle: Shuffle,
    /// Bytes per element (the shuffles' unit), 1-255.
    pub type_size: usize,
}

/// The largest chunk c-blosc 1.x takes (`BLOSC_MAX_BUFFERSIZE`).
const MAX_BUFFER: usize = i32::MAX as usize - HEADER;
/// Chunks shorter than this are stored as they are (`MIN_BUFFERSIZE`).
const MIN_BUFFER: usize = 128;
/// The cache size c-blosc's automatic block sizes start from.
const L1: usize = 32 * 1024;

/// A chunk to encode: its little-endian bytes in memory, or a region of a dataset that
/// the encoder reads block by block, each just before it shuffles it (so the chunk is
/// read once, into the cache, instead of into memory and again out of it).
pub trait Chunk {
    /// Its length in bytes.
    fn size(&self) -> usize;
    /// The bytes, when they are in memory.
    fn in_memory(&self) -> Option<&[u8]>;
    /// Copy bytes `at..at + out.len()` into `out`.
    fn fill(&self, at: usize, out: &mut [u8]) -> emio_core::Result<()>;
    /// Bytes `at..at + len` where the source stores them, as runs in order, when it does
    /// so for values of `unit` bytes ([`RegionBytes::stored_runs`]); `None` (the default)
    /// when they must be filled.
    fn stored_runs(&self, at: usize, len: usize, unit: usize) -> Option<StoredRuns<'_>> {
        let _ = (at, len, unit);
        None
    }
}

impl Chunk for [u8] {
    fn size(&self) -> usize {
        self.len()
    }
    fn in_memory(&self) -> Option<&[u8]> {
        Some(self)
    }
    fn fill(&self, at: usize, out: &mut [u8]) -> emio_core::Result<()> {
        out.copy_from_slice(&self[at..at + out.len()]);
        Ok(())
    }
}

impl Chunk for RegionBytes<'_> {
    fn size(&self) -> usize {
        self.len()
    }
    fn in_memory(&self) -> Option<&[u8]> {
        RegionBytes::in_memory(self)
    }
    fn fill(&self, at: usize, out: &mut [u8]) -> emio_core::Result<()> {
        RegionBytes::fill(self, at, out)
    }
    fn stored_runs(&self, at: usize, len: usize, unit: usize) -> Option<StoredRuns<'_>> {
        RegionBytes::stored_runs(self, at, len, unit)
    }
}

/// Why a chunk was not encoded.
#[derive(Debug)]
pub enum EncodeError {
    /// The chunk cannot be a Blosc frame (longer than a frame holds, a level Zstd
    /// refuses).
    Frame(String),
    /// Reading the chunk failed.
    Read(emio_core::Error),
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::Frame(why) => f.write_str(why),
            EncodeError::Read(e) => e.fmt(f),
        }
    }
}

/// Encode `chunk` (the chunk's little-endian bytes) as one Blosc frame.
pub fn encode<C: Chunk + ?Sized>(chunk: &C, settings: &Settings) -> Result<Vec<u8>, EncodeError> {
    let len = chunk.size();
    if len > MAX_BUFFER {
        return Err(EncodeError::Frame(format!(
            "a chunk of {len} bytes is longer than a Blosc frame holds ({MAX_BUFFER})"
        )));
    }
    let type_size = settings.type_size.clamp(1, 255);
    let block = block_size(settings, type_size, len);
    let may_split = may_split(settings.compressor, type_size, block);
    let flags = (settings.compressor.code() << 5)
        | if may_split { 0 } else { DONT_SPLIT }
        | match settings.shuffle {
            Shuffle::Byte => BYTE_SHUFFLE,
            Shuffle::Bit => BIT_SHUFFLE,
            Shuffle::None => 0,
        };
    let header = |flags: u8, frame_len: usize| {
        let mut h = [0u8; HEADER];
        h[..4].copy_from_slice(&[2, 1, flags, type_size as u8]);
        h[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(block as u32).to_le_bytes());
        h[12..].copy_from_slice(&(frame_len as u32).to_le_bytes());
        h
    };
    let stored_as_is = || -> Result<Vec<u8>, EncodeError> {
        let mut frame = header(flags | MEMCPYED, HEADER + len).to_vec();
        frame.resize(HEADER + len, 0);
        chunk
            .fill(0, &mut frame[HEADER..])
            .map_err(EncodeError::Read)?;
        Ok(frame)
    };
    if settings.level == 0 || len < MIN_BUFFER {
        return stored_as_is();
    }
    let blocks = len.div_ceil(block);
    // c-blosc gives up compressing when the frame would outgrow the chunk plus a header.
    let limit = len + HEADER;
    let mut frame = Vec::with_capacity(HEADER + 4 * blocks + len / 4);
    frame.resize(HEADER + 4 * blocks, 0);
    let mut packer = Packer::new(settings, block).map_err(EncodeError::Frame)?;
    let mut scratch = vec![0u8; block];
    // Where a block read on demand goes (a chunk in memory, or one shuffled from the
    // runs that store it, is shuffled where it is).
    let mut read = Vec::new();
    for j in 0..blocks {
        let start = j * block;
        let end = (start + block).min(len);
        let size = end - start;
        let shuffled = match chunk.in_memory() {
            Some(raw) => shuffle_block(&raw[start..end], type_size, settings.shuffle, &mut scratch),
            None if settings.shuffle == Shuffle::Bit
                && shuffle_stored(chunk, start, type_size, &mut scratch[..size]) =>
            {
                &scratch[..size]
            }
            None => {
                read.resize(size, 0);
                let src = &mut read[..];
                chunk.fill(start, src).map_err(EncodeError::Read)?;
                shuffle_block(src, type_size, settings.shuffle, &mut scratch)
            }
        };
        let at = frame.len();
        frame[HEADER + 4 * j..HEADER + 4 * j + 4].copy_from_slice(&(at as u32).to_le_bytes());
        let streams = splits(may_split, type_size, size, block);
        for part in shuffled.chunks_exact(size / streams) {
            let packed = packer.pack(part).map_err(EncodeError::Frame)?;
            let stored = if packed.len() < part.len() {
                packed
            } else {
                part
            };
            if frame.len() + 4 + stored.len() > limit {
                return stored_as_is();
            }
            frame.extend_from_slice(&(stored.len() as u32).to_le_bytes());
            frame.extend_from_slice(stored);
        }
    }
    let len = frame.len();
    frame[..HEADER].copy_from_slice(&header(flags, len));
    Ok(frame)
}

/// c-blosc's automatic block size for a chunk of `len` bytes: 32 KiB (64 KiB for Zstd)
/// scaled by the level, then, for blocks that are split, per stream up to 256 KiB and
/// the block 64 KiB to 1 MiB; never more than the chunk, a whole number of elements.
fn block_size(settings: &Settings, type_size: usize, len: usize) -> usize {
    if len < type_size {
        return 1;
    }
    let zstd = settings.compressor == Compressor::Zstd;
    let mut block = len;
    if len >= L1 {
        block = if zstd { 2 * L1 } else { L1 };
        block = match settings.level {
            0 => block / 4,
            1 => block / 2,
            2 => block,
            3 => block * 2,
            4 | 5 => block * 4,
            6..=8 => block * 8,
            _ => block * if zstd { 16 } else { 8 },
        };
    }
    if settings.level > 0 && may_split(settings.compressor, type_size, block) {
        block = (block.min(1 << 18) * type_size).clamp(1 << 16, 1 << 20);
    }
    block = block.min(len);
    if block > type_size {
        block = block / type_size * type_size;
    }
    block
}

/// Whether c-blosc splits the blocks of a frame (its forward-compatible rule: every
/// compressor but Zstd, types of at most `MAX_SPLITS` bytes, blocks of at least
/// `MIN_SPLIT_ELEMENTS` elements).
fn may_split(compressor: Compressor, type_size: usize, block: usize) -> bool {
    compressor != Compressor::Zstd
        && type_size <= MAX_SPLITS
        && block / type_size >= MIN_SPLIT_ELEMENTS
}

/// Bit-shuffle the block of `chunk` from byte `start` (as long as `planes`) into
/// `planes` straight from the runs of stored bytes that hold it, reversing the bytes of
/// each element stored in the other byte order on the way (the block is not copied out of
/// the memory map first); false, with nothing written, when the chunk has no such runs or
/// the shuffle does not take them.
fn shuffle_stored<C: Chunk + ?Sized>(
    chunk: &C,
    start: usize,
    type_size: usize,
    planes: &mut [u8],
) -> bool {
    chunk
        .stored_runs(start, planes.len(), type_size)
        .is_some_and(|stored| bitplanes::shuffle_runs(&stored, planes, type_size))
}

/// The block `src` as it is compressed: byte-shuffled, bit-shuffled (when it holds a
/// multiple of 8 elements; bytes after the last whole element stay where they are) into
/// `scratch`, or as it is.
fn shuffle_block<'a>(
    src: &'a [u8],
    type_size: usize,
    shuffle: Shuffle,
    scratch: &'a mut [u8],
) -> &'a [u8] {
    let out = &mut scratch[..src.len()];
    let elements = src.len() / type_size;
    match shuffle {
        Shuffle::Byte if type_size > 1 => bitplanes::shuffle_bytes(src, out, type_size),
        Shuffle::Bit if elements > 0 && elements.is_multiple_of(8) => {
            let whole = elements * type_size;
            bitplanes::shuffle(&src[..whole], &mut out[..whole], type_size);
            out[whole..].copy_from_slice(&src[whole..]);
        }
        _ => return src,
    }
    out
}

/// A compressor with its state and output buffer, reused for every stream of a chunk.
enum Packer {
    Lz4(Vec<u8>),
    Zstd(zstd::bulk::Compressor<'static>, Vec<u8>),
}

impl Packer {
    /// A packer for streams of up to `block` bytes.
    fn new(settings: &Settings, block: usize) -> Result<Self, String> {
        Ok(match settings.compressor {
            Compressor::Lz4 => {
                Packer::Lz4(vec![0; lz4_flex::block::get_maximum_output_size(block)])
            }
            Compressor::Zstd => {
                let level = match settings.level {
                    9.. => zstd::compression_level_range().end().to_owned(),
                    level => 2 * i32::from(level) - 1,
                };
                let compressor = zstd::bulk::Compressor::new(level)
                    .map_err(|e| format!("a Zstd compressor at level {level} ({e})"))?;
                Packer::Zstd(compressor, vec![0; zstd::zstd_safe::compress_bound(block)])
            }
        })
    }

    /// `part` compressed (its bytes are in the packer's buffer until the next call).
    fn pack(&mut self, part: &[u8]) -> Result<&[u8], String> {
        match self {
            Packer::Lz4(out) => {
                let n = lz4_flex::block::compress_into(part, out)
                    .map_err(|e| format!("an LZ4 block of {} bytes ({e})", part.len()))?;
                Ok(&out[..n])
            }
            Packer::Zstd(compressor, out) => {
                let n = compressor
                    .compress_to_buffer(part, out.as_mut_slice())
                    .map_err(|e| format!("a Zstd block of {} bytes ({e})", part.len()))?;
                Ok(&out[..n])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{c_blosc, c_blosc_decode};
    use super::super::{decode_into, Outcome};
    use super::*;
    use emio_core::dataset::{Dataset, Region};
    use emio_core::{DType, NoProgress};
    use proptest::prelude::*;

    /// Detector-like counts (mostly small, a bright run) or random bytes, by `noise`.
    fn values(len: usize, noise: u32, seed: u64) -> Vec<u8> {
        let mut s = seed | 1;
        (0..len)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                if (s % 4) < u64::from(noise) {
                    s as u8
                } else {
                    (i / 97) as u8
                }
            })
            .collect()
    }

    proptest! {
        /// Every frame emio writes (any compressor, level, shuffle and type size;
        /// compressible or not: split, unsplit, stored and memcpy'ed blocks, a last
        /// partial block) is read back to its bytes by c-blosc and by emio's decoder.
        #[test]
        fn frames_decode_to_their_bytes_in_c_blosc_and_emio(
            type_size in prop::sample::select(vec![1usize, 2, 3, 4, 8, 16]),
            n in 0usize..40_000,
            compressor in prop::sample::select(vec![Compressor::Lz4, Compressor::Zstd]),
            level in 0u8..10,
            shuffle in prop::sample::select(vec![Shuffle::None, Shuffle::Byte, Shuffle::Bit]),
            noise in 0u32..5,
            seed in any::<u64>(),
        ) {
            let bytes = values(n * type_size, noise, seed);
            let settings = Settings { compressor, level, shuffle, type_size };
            let frame = encode(&bytes[..], &settings).unwrap();
            if n > 0 {
                prop_assert_eq!(&c_blosc_decode(&frame, bytes.len()), &bytes);
                // The same chunk read block by block from a dataset gives the same frame.
                let shape = vec![n as u64, type_size as u64];
                let ds = Dataset::from_bytes(bytes.clone(), DType::U8, shape.clone()).unwrap();
                let region = Region { start: vec![0, 0], shape };
                let mut buf = Vec::new();
                let unread = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut buf);
                prop_assert_eq!(&encode(&unread, &settings).unwrap(), &frame);
            }
            let mut out = vec![0xEE; bytes.len()];
            prop_assert_eq!(decode_into(&frame, &mut out), Ok(Outcome::Decoded));
            prop_assert_eq!(out, bytes);
        }
    }

    proptest! {
        /// Frames stored as MIB stores them (a header before each, rows flipped,
        /// big-endian or little-endian counts) encode, their blocks bit-shuffled straight
        /// from the rows in the map, to the frame of the same region read into memory; the
        /// rows are taken in place whenever they hold whole steps of the shuffle.
        #[test]
        fn frames_shuffled_from_stored_rows_equal_frames_from_memory(
            frames in 1u64..4,
            rows in 1u64..9,
            cols in prop::sample::select(vec![128u64, 256, 200]),
            dtype in prop::sample::select(vec![DType::U8, DType::U16, DType::U32]),
            big_endian in any::<bool>(),
            level in 1u8..10,
            compressor in prop::sample::select(vec![Compressor::Lz4, Compressor::Zstd]),
            first in 0u64..3,
        ) {
            use emio_core::source::{Storage, StridedSource};
            let es = dtype.size() as u64;
            let header = 11;
            let stride = header + rows * cols * es;
            let values = values((frames * stride) as usize, 1, frames ^ rows);
            let order = if big_endian { emio_core::ByteOrder::Big } else { emio_core::ByteOrder::Little };
            let source = StridedSource::new(
                "test",
                Storage::owned(values),
                header + (rows - 1) * cols * es,
                dtype,
                vec![frames, rows, cols],
                vec![stride as i64, -((cols * es) as i64), es as i64],
                order,
            )
            .unwrap();
            let ds = Dataset::new(
                std::sync::Arc::new(source),
                vec![emio_core::axis::Axis::default_for(false); 3],
                emio_core::metadata::Tree::new(),
                emio_core::metadata::Tree::new(),
            )
            .unwrap();
            let first = first % frames;
            let region = Region { start: vec![first, 0, 0], shape: vec![frames - first, rows, cols] };
            let settings = Settings { compressor, level, shuffle: Shuffle::Bit, type_size: es as usize };
            let mut buf = Vec::new();
            let unread = RegionBytes::on_demand(&ds, &region, &NoProgress, &mut buf);
            let block = block_size(&settings, es as usize, unread.len());
            let mut planes = vec![0u8; block];
            let in_place = shuffle_stored(&unread, 0, es as usize, &mut planes);
            prop_assert_eq!(in_place, es <= 2 && cols % 128 == 0);
            let from_rows = encode(&unread, &settings).unwrap();
            let read = ds.read_region_bytes(&region.start, &region.shape).unwrap();
            prop_assert_eq!(&from_rows, &encode(&read[..], &settings).unwrap());
            prop_assert_eq!(c_blosc_decode(&from_rows, read.len()), read);
        }
    }

    /// The frame's layout is c-blosc's: the same header (block size and flags: shuffle,
    /// split, compressor) and, for stored (incompressible) data, the same bytes.
    #[test]
    fn layout_matches_c_blosc() {
        for (type_size, shuffle, name) in [
            (2, Shuffle::Bit, "bitshuffle"),
            (2, Shuffle::Byte, "shuffle"),
            (4, Shuffle::None, "noshuffle"),
            (1, Shuffle::Bit, "bitshuffle"),
        ] {
            for (compressor, len) in [
                (Compressor::Lz4, 3 << 20),
                (Compressor::Lz4, 100_000),
                (Compressor::Zstd, 3 << 20),
                (Compressor::Zstd, 40_000),
            ] {
                let bytes = values(len, 1, 7);
                let settings = Settings {
                    compressor,
                    level: 5,
                    shuffle,
                    type_size,
                };
                let ours = encode(&bytes[..], &settings).unwrap();
                let theirs = c_blosc(&bytes, type_size, compressor.name(), name, 0);
                assert_eq!(ours[..12], theirs[..12], "{compressor:?} {name} {len}");
                let random = values(len, 4, 9);
                let ours = encode(&random[..], &settings).unwrap();
                let theirs = c_blosc(&random, type_size, compressor.name(), name, 0);
                assert_eq!(ours, theirs, "random bytes: {compressor:?} {name} {len}");
            }
        }
    }
}
