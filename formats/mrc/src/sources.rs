//! Pixel sources MRC needs beyond a plain [`StridedSource`]: complex int16 (mode 3)
//! widened to complex64, IMOD's 4-bit packed mode 101, frames placed at scan positions
//! (Direct Electron non-raster scans, incomplete scans), and a source that decompresses a
//! `.mrc.gz` / `.mrc.bz2` once, on first access, into memory or a temporary file (a damaged
//! stream fails as [`Error::Codec`] with the decoder's error). gzip files that fit in
//! memory are decoded whole by emio's inflater, the rest by streaming decoders.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use emio_core::inflate::InflateError;
use emio_core::source::Threads;
use emio_core::source::{c_strides, element_count, for_each_index};
use emio_core::{ArraySource, DType, Error, Progress, Result, Storage, StridedSource};

/// Builds the final source once the file's bytes are available.
pub type Build = Arc<dyn Fn(Storage) -> Result<Arc<dyn ArraySource>> + Send + Sync>;

/// Mode 3: complex numbers stored as two int16, read as complex64.
#[derive(Debug, Clone)]
pub struct ComplexInt16 {
    /// An int16 source with a trailing dimension of 2 (real, imaginary).
    pairs: StridedSource,
    shape: Vec<u64>,
}

impl ComplexInt16 {
    /// Wrap an int16 source whose last dimension (of size 2) holds real and imaginary parts.
    pub fn new(pairs: StridedSource) -> Result<Self> {
        let s = pairs.shape();
        if pairs.dtype() != DType::I16 || s.last() != Some(&2) {
            return Err(Error::malformed_at_unknown(
                "mrc",
                "int16 pairs for complex mode 3",
            ));
        }
        let shape = s[..s.len() - 1].to_vec();
        Ok(ComplexInt16 { pairs, shape })
    }
}

impl ArraySource for ComplexInt16 {
    fn dtype(&self) -> DType {
        DType::C64
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
        let n = out.len() / 8;
        let mut pairs = vec![0u8; n * 4];
        let mut s = start.to_vec();
        s.push(0);
        let mut sh = shape.to_vec();
        sh.push(2);
        self.pairs
            .read_region_with(&s, &sh, &mut pairs, progress, threads)?;
        for (dst, src) in out.chunks_exact_mut(4).zip(pairs.chunks_exact(2)) {
            let v = f32::from(i16::from_ne_bytes([src[0], src[1]]));
            dst.copy_from_slice(&v.to_ne_bytes());
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        let mut c = self.pairs.chunk_shape();
        c.pop();
        if let Some(last) = c.last_mut() {
            *last = *self.shape.last().unwrap_or(&1);
        }
        c
    }
}

/// Mode 101: 4-bit unsigned values, two per byte (first pixel in the low nibble), each
/// row starting on a byte boundary. Logical shape (sections, rows, columns), uint8.
#[derive(Clone)]
pub struct Packed4 {
    storage: Storage,
    offset: u64,
    shape: [u64; 3],
}

impl fmt::Debug for Packed4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packed4")
            .field("shape", &self.shape)
            .finish()
    }
}

impl Packed4 {
    /// Bytes one packed row of `nx` pixels takes.
    pub fn row_bytes(nx: u64) -> u64 {
        nx.div_ceil(2)
    }

    /// A packed source over `storage` at `offset`; checks the data fits.
    pub fn new(storage: Storage, offset: u64, shape: [u64; 3]) -> Result<Self> {
        let need = Self::row_bytes(shape[2])
            .checked_mul(shape[1])
            .and_then(|n| n.checked_mul(shape[0]))
            .and_then(|n| n.checked_add(offset));
        if need.is_none_or(|n| n > storage.len() as u64) {
            return Err(Error::malformed(
                "mrc",
                offset,
                format!(
                    "4-bit data of shape {shape:?} inside the {}-byte file",
                    storage.len()
                ),
            ));
        }
        Ok(Packed4 {
            storage,
            offset,
            shape,
        })
    }
}

impl ArraySource for Packed4 {
    fn dtype(&self) -> DType {
        DType::U8
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        _threads: Threads,
    ) -> Result<()> {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let row = Self::row_bytes(self.shape[2]);
        let width = shape[2] as usize;
        let mut rows = out.chunks_exact_mut(width.max(1));
        for z in start[0]..start[0] + shape[0] {
            for y in start[1]..start[1] + shape[1] {
                let base = (self.offset + (z * self.shape[1] + y) * row) as usize;
                let Some(dst) = rows.next() else {
                    return Ok(());
                };
                for (k, px) in dst.iter_mut().enumerate() {
                    let x = start[2] as usize + k;
                    let byte = self.storage[base + x / 2];
                    *px = if x.is_multiple_of(2) {
                        byte & 0x0f
                    } else {
                        byte >> 4
                    };
                }
            }
        }
        Ok(())
    }

    fn chunk_shape(&self) -> Vec<u64> {
        vec![1, self.shape[1], self.shape[2]]
    }
}

/// Marks a scan position no frame was recorded at (read as zeros).
pub const NO_FRAME: u32 = u32::MAX;

/// Frames of a stack placed on a navigation grid: navigation index `i` (C order) shows
/// frame `map[i]`, or zeros for [`NO_FRAME`].
pub struct PlacedFrames {
    frames: Arc<dyn ArraySource>,
    map: Arc<[u32]>,
    shape: Vec<u64>,
    nav_dims: usize,
}

impl fmt::Debug for PlacedFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlacedFrames")
            .field("shape", &self.shape)
            .finish()
    }
}

impl PlacedFrames {
    /// Place `frames` (shape `[n, signal...]`) on `nav_shape` by `map` (one entry per
    /// navigation index). Every mapped frame must exist.
    pub fn new(frames: Arc<dyn ArraySource>, nav_shape: &[u64], map: Vec<u32>) -> Result<Self> {
        let n = frames.shape().first().copied().unwrap_or(0);
        if element_count(nav_shape) != Some(map.len() as u64)
            || map.iter().any(|&m| m != NO_FRAME && u64::from(m) >= n)
        {
            return Err(Error::malformed_at_unknown(
                "mrc",
                format!("a frame for every scan position of {nav_shape:?} among {n} frames"),
            ));
        }
        let mut shape = nav_shape.to_vec();
        shape.extend_from_slice(&frames.shape()[1..]);
        Ok(PlacedFrames {
            frames,
            map: map.into(),
            shape,
            nav_dims: nav_shape.len(),
        })
    }
}

impl ArraySource for PlacedFrames {
    fn dtype(&self) -> DType {
        self.frames.dtype()
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
        let nd = self.nav_dims;
        let nav_strides = c_strides(&self.shape[..nd], 1);
        let frame_bytes = element_count(&shape[nd..]).unwrap_or(0) as usize * self.dtype().size();
        let mut fstart = vec![0u64; 1 + self.shape.len() - nd];
        fstart[1..].copy_from_slice(&start[nd..]);
        let mut fshape = vec![1u64; fstart.len()];
        fshape[1..].copy_from_slice(&shape[nd..]);
        let mut chunks = out.chunks_exact_mut(frame_bytes.max(1));
        let mut result = Ok(());
        for_each_index(&shape[..nd], |rel| {
            let Some(dst) = chunks.next() else { return };
            if result.is_err() {
                return;
            }
            let flat: i64 = rel
                .iter()
                .zip(start)
                .zip(&nav_strides)
                .map(|((r, s), st)| (r + s) as i64 * st)
                .sum();
            match self.map[flat as usize] {
                NO_FRAME => dst.fill(0),
                frame => {
                    fstart[0] = u64::from(frame);
                    result = self
                        .frames
                        .read_region_with(&fstart, &fshape, dst, progress, threads);
                }
            }
        });
        result
    }

    fn chunk_shape(&self) -> Vec<u64> {
        let mut c = vec![1u64; self.nav_dims];
        c.extend_from_slice(&self.shape[self.nav_dims..]);
        c
    }
}

/// Compression of a whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// gzip (possibly several members).
    Gzip,
    /// bzip2 (possibly several streams).
    Bzip2,
}

impl Codec {
    /// The codec a file starts with, if any.
    pub fn detect(head: &[u8]) -> Option<Codec> {
        match head {
            [0x1f, 0x8b, ..] => Some(Codec::Gzip),
            [b'B', b'Z', b'h', b'1'..=b'9', ..] => Some(Codec::Bzip2),
            _ => None,
        }
    }

    /// A streaming decoder over `input`.
    pub fn reader<'a>(self, input: impl Read + 'a) -> Box<dyn Read + 'a> {
        match self {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
            Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        }
    }

    /// The error of a failed read from this codec's decoder over `path`: the decoder's
    /// own error as an [`Error::Codec`] when it rejected the stream (damaged or cut short),
    /// else the file's I/O error.
    fn error(self, path: &Path, e: std::io::Error) -> Error {
        use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
        if !matches!(e.kind(), InvalidData | InvalidInput | UnexpectedEof) {
            return Error::io(path, e);
        }
        let name = match self {
            Codec::Gzip => "gzip",
            Codec::Bzip2 => "bzip2",
        };
        Error::codec("mrc", None, format!("a complete, valid {name} stream"), e).with_path(path)
    }
}

/// Read up to `limit` decompressed bytes from the start of `path`.
pub fn decompress_head(path: &Path, codec: Codec, limit: u64) -> Result<Vec<u8>> {
    let file = emio_core::inputs::open(path)?;
    let mut out = Vec::new();
    codec
        .reader(std::io::BufReader::new(file))
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| codec.error(path, e))?;
    Ok(out)
}

/// Decompressed files up to this size are kept in memory; larger ones go to an anonymous
/// temporary file that is memory-mapped.
const IN_MEMORY_LIMIT: u64 = 256 << 20;

/// A compressed file's pixels: decompressed once, on the first read that completes,
/// sequentially (the only way gzip and bzip2 streams can be read), bounded by `needed`
/// bytes; gzip files of at most [`IN_MEMORY_LIMIT`] bytes first by emio's inflater, all at
/// once, then by the streaming decoder where that did not give the `needed` bytes. A read
/// cancelled while decompressing stops within a few MiB and leaves nothing behind; a
/// damaged stream fails every read with the codec's error.
pub struct Decompressed {
    path: PathBuf,
    codec: Codec,
    needed: u64,
    dtype: DType,
    shape: Vec<u64>,
    chunk: Vec<u64>,
    build: Build,
    inner: Mutex<Option<Unpacked>>,
}

/// The decompressed bytes' source, and the temporary file holding them when they were
/// too large for memory (removed when the source is dropped).
type Unpacked = (Arc<dyn ArraySource>, Option<tempfile::NamedTempFile>);

/// Decompressed bytes between two checks of cancellation.
const PIECE: usize = 4 << 20;

impl fmt::Debug for Decompressed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressed")
            .field("path", &self.path)
            .field("codec", &self.codec)
            .field("shape", &self.shape)
            .finish()
    }
}

impl Decompressed {
    /// A lazy source of `dtype`/`shape` whose bytes are the first `needed` decompressed
    /// bytes of `path`, turned into the real source by `build`.
    pub fn new(
        path: PathBuf,
        codec: Codec,
        needed: u64,
        (dtype, shape, chunk): (DType, Vec<u64>, Vec<u64>),
        build: Build,
    ) -> Self {
        Decompressed {
            path,
            codec,
            needed,
            dtype,
            shape,
            chunk,
            build,
            inner: Mutex::new(None),
        }
    }

    /// Decompress the first `needed` bytes, into memory or a temporary file, checking
    /// `progress` for cancellation between pieces.
    fn decompress(&self, progress: &dyn Progress) -> Result<Unpacked> {
        // Whether emio's inflater found damage the streaming decoder may not reach: it
        // stops after `needed` bytes, before the last member's CRC-32 and length (a
        // damaged byte may still decode, to another value).
        let mut damaged = false;
        if self.codec == Codec::Gzip && self.needed <= IN_MEMORY_LIMIT {
            match self.gunzip_whole(progress)? {
                Ok(bytes) => return Ok(((self.build)(Storage::owned(bytes))?, None)),
                Err(InflateError::BadData) => damaged = true,
                Err(InflateError::InsufficientSpace) => {}
            }
        }
        let file = emio_core::inputs::open(&self.path)?;
        let mut reader = self
            .codec
            .reader(std::io::BufReader::with_capacity(1 << 20, file))
            .take(self.needed);
        let io = |e| Error::io(&self.path, e);
        // In memory, the stream is decoded straight into its final buffer (allocated
        // untouched: pages are only backed as they are written, so a header declaring more
        // than the stream holds costs nothing); larger files go through a piece buffer
        // into a temporary file.
        let (mut tmp, mut bytes, mut piece) = if self.needed <= IN_MEMORY_LIMIT {
            let mut bytes = vec![0u8; self.needed as usize];
            emio_core::advise_huge_pages(&mut bytes);
            (None, bytes, Vec::new())
        } else {
            let file = tempfile::NamedTempFile::new().map_err(io)?;
            (Some(file), Vec::new(), vec![0u8; PIECE])
        };
        let mut got = 0u64;
        loop {
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let target: &mut [u8] = if tmp.is_some() {
                &mut piece
            } else {
                let at = got as usize;
                let end = (at + PIECE).min(bytes.len());
                &mut bytes[at..end]
            };
            if target.is_empty() {
                break;
            }
            let n = match reader.read(target) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.codec.error(&self.path, e)),
            };
            if let Some(t) = &mut tmp {
                t.as_file_mut().write_all(&piece[..n]).map_err(io)?;
            }
            got += n as u64;
        }
        if got < self.needed {
            return Err(Error::malformed(
                "mrc",
                got,
                format!(
                    "{} decompressed bytes (header, extended header and data)",
                    self.needed
                ),
            ));
        }
        if damaged {
            let trailer = "a member's check values (CRC-32, length, header CRC-16) do not \
                match its bytes, or the stream ends before them";
            return Err(
                Error::codec("mrc", None, "a complete, valid gzip stream", trailer)
                    .with_path(&self.path),
            );
        }
        let storage = match &tmp {
            Some(t) => {
                t.as_file().sync_all().map_err(io)?;
                Storage::map(t.path())?
            }
            None => Storage::owned(bytes),
        };
        Ok(((self.build)(storage)?, tmp))
    }

    /// A gzip file decoded whole by emio's inflater, straight into its final buffer (1.6
    /// times as fast as the streaming decoder: docs/performance.md, session 47),
    /// every member's CRC-32 and length checked, `progress` asked for cancellation between
    /// Deflate blocks. [`InflateError::InsufficientSpace`] when the stream holds more than
    /// the `needed` bytes (the streaming decoder then reads them),
    /// [`InflateError::BadData`] for damage or fewer bytes (the streaming decoder names
    /// the damage, where it reaches it).
    fn gunzip_whole(
        &self,
        progress: &dyn Progress,
    ) -> Result<std::result::Result<Vec<u8>, InflateError>> {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let input = Storage::map(&self.path)?;
        // Allocated untouched, as for the streaming decoder.
        let mut bytes = vec![0u8; self.needed as usize];
        emio_core::advise_huge_pages(&mut bytes);
        let mut go_on = |_| !progress.is_cancelled();
        match emio_core::inflate::gzip_decompress(&input, &mut bytes, &mut go_on) {
            Ok(None) => Err(Error::Cancelled),
            Ok(Some(n)) if n as u64 == self.needed => Ok(Ok(bytes)),
            Ok(Some(_)) => Ok(Err(InflateError::BadData)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// The decompressed source, decompressing first if no read has completed that yet
    /// (other reads wait meanwhile).
    fn inner(&self, progress: &dyn Progress) -> Result<Arc<dyn ArraySource>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.is_none() {
            *inner = Some(self.decompress(progress)?);
        }
        Ok(inner
            .as_ref()
            .map(|(source, _)| source.clone())
            .expect("set above"))
    }
}

impl ArraySource for Decompressed {
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
        self.inner(progress)?
            .read_region_with(start, shape, out, progress, threads)
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.chunk.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(n: u64) -> Arc<dyn ArraySource> {
        let bytes: Vec<u8> = (0..n * 4).map(|v| v as u8).collect();
        Arc::new(StridedSource::from_bytes(bytes, DType::U8, vec![n, 2, 2]).unwrap())
    }

    #[test]
    fn placed_frames_follow_the_map() {
        let p = PlacedFrames::new(stack(2), &[2, 2], vec![1, NO_FRAME, 0, NO_FRAME]).unwrap();
        let mut out = vec![0u8; 16];
        p.read_region(&[0, 0, 0, 0], &[2, 2, 2, 2], &mut out)
            .unwrap();
        assert_eq!(out, [4, 5, 6, 7, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0]);
        let mut part = vec![0u8; 2];
        p.read_region(&[1, 0, 1, 0], &[1, 1, 1, 2], &mut part)
            .unwrap();
        assert_eq!(part, [2, 3]);
        assert!(PlacedFrames::new(stack(1), &[2], vec![0, 1]).is_err());
        // Three frames in order on a 2×2 grid: the last position is empty.
        let padded = PlacedFrames::new(stack(3), &[2, 2], vec![0, 1, 2, NO_FRAME]).unwrap();
        let mut all = vec![0u8; 16];
        padded
            .read_region(&[0, 0, 0, 0], &[2, 2, 2, 2], &mut all)
            .unwrap();
        assert_eq!(&all[8..12], &[8, 9, 10, 11]);
        assert_eq!(&all[12..], &[0, 0, 0, 0]);
    }

    #[test]
    fn packed_nibbles_low_first_with_row_padding() {
        // 3 columns: rows take 2 bytes.
        let storage = Storage::owned(vec![0x21u8, 0x03, 0x54, 0x06]);
        let p = Packed4::new(storage, 0, [1, 2, 3]).unwrap();
        let mut out = vec![0u8; 6];
        p.read_region(&[0, 0, 0], &[1, 2, 3], &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        let mut mid = vec![0u8; 2];
        p.read_region(&[0, 1, 1], &[1, 1, 2], &mut mid).unwrap();
        assert_eq!(mid, [5, 6]);
        assert!(Packed4::new(Storage::owned(vec![0u8; 3]), 0, [1, 2, 3]).is_err());
    }

    /// A `Decompressed` source of the first `needed` bytes of the gzip file `path`, as
    /// bytes.
    fn gzipped(path: &Path, needed: u64) -> Decompressed {
        let build: Build = Arc::new(move |storage| {
            let bytes = StridedSource::new(
                "mrc",
                storage,
                0,
                DType::U8,
                vec![needed],
                vec![1],
                emio_core::ByteOrder::Little,
            )?;
            Ok(Arc::new(bytes) as Arc<dyn ArraySource>)
        });
        let layout = (DType::U8, vec![needed], vec![needed]);
        Decompressed::new(path.to_path_buf(), Codec::Gzip, needed, layout, build)
    }

    /// What `source` reads, all of it.
    fn read_all(source: &Decompressed, n: u64) -> Result<Vec<u8>> {
        let mut out = vec![0u8; n as usize];
        source.read_region(&[0], &[n], &mut out)?;
        Ok(out)
    }

    #[test]
    fn gzip_files_decode_whole_or_through_the_streaming_decoder() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| ((i % 251) ^ (i / 997)) as u8)
            .collect();
        let mut file = Vec::new();
        let mut member_ends = Vec::new();
        for part in data.chunks(100_000) {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
            e.write_all(part).unwrap();
            file.extend(e.finish().unwrap());
            member_ends.push(file.len());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack.mrc.gz");
        std::fs::write(&path, &file).unwrap();
        let all = data.len() as u64;
        // Whole: every member into the final buffer.
        let whole = gzipped(&path, all).gunzip_whole(&emio_core::NoProgress);
        assert!(matches!(&whole, Ok(Ok(bytes)) if *bytes == data));
        assert!(read_all(&gzipped(&path, all), all).unwrap() == data);
        // A header that asks for less than the stream holds: the streaming decoder reads
        // the first bytes.
        let part = 150_000;
        let short = gzipped(&path, part);
        assert!(matches!(
            short.gunzip_whole(&emio_core::NoProgress),
            Ok(Err(InflateError::InsufficientSpace))
        ));
        assert!(read_all(&short, part).unwrap() == data[..part as usize]);
        // Cancelled: nothing decoded.
        let cancelled = emio_core::CancelFlag(std::sync::atomic::AtomicBool::new(true));
        assert!(matches!(
            gzipped(&path, all).gunzip_whole(&cancelled),
            Err(Error::Cancelled)
        ));
        // Damaged: the first member's CRC-32 (which the streaming decoder checks and
        // names), the last one's (which it never reaches), the last one cut in its
        // trailer, a member missing.
        let last = file.len();
        let mut first_crc = file.clone();
        first_crc[member_ends[0] - 5] ^= 1;
        let mut last_crc = file.clone();
        last_crc[last - 5] ^= 1;
        for (what, damaged, says) in [
            ("first CRC", first_crc, "checksum"),
            ("last CRC", last_crc, "check values"),
            ("cut", file[..last - 3].to_vec(), "check values"),
            (
                "no last member",
                file[..member_ends[1]].to_vec(),
                "decompressed bytes",
            ),
        ] {
            std::fs::write(&path, &damaged).unwrap();
            assert!(matches!(
                gzipped(&path, all).gunzip_whole(&emio_core::NoProgress),
                Ok(Err(InflateError::BadData))
            ));
            match read_all(&gzipped(&path, all), all) {
                Err(e) => assert!(e.to_string().contains(says), "{what}: {e}"),
                Ok(_) => panic!("{what}: a damaged file read"),
            }
        }
    }

    #[test]
    fn complex_int16_widens() {
        let vals: [i16; 4] = [1, -2, 300, -32768];
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let pairs = StridedSource::from_bytes(bytes, DType::I16, vec![2, 2]).unwrap();
        let c = ComplexInt16::new(pairs).unwrap();
        let mut out = vec![0u8; 16];
        c.read_region(&[0], &[2], &mut out).unwrap();
        let f: Vec<f32> = out
            .chunks_exact(4)
            .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(f, [1.0, -2.0, 300.0, -32768.0]);
    }
}
