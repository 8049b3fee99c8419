//! The Velox `SpectrumStream` decoder: each detector's event stream (one `u16` channel
//! index per X-ray count, 65535 = next pixel), the index of where its scan rows start,
//! and the chunk decoder that sums bands of rows into the spectrum image.

use std::sync::{Arc, OnceLock};

use emio_core::metadata::Tree;
use emio_core::source::Select;
use emio_core::{ArraySource, ChunkDecoder, DType, Result};
use emio_h5::H5File;
use rayon::prelude::*;

use super::bad;
use super::metadata::{frame_metadata, json_dataset, num, text};

/// The marker that ends a pixel in the spectrum stream.
const NEXT_PIXEL: u16 = 65535;
/// Events read from the stream at a time while decoding.
const STREAM_BLOCK: u64 = 1 << 20;

/// One detector's event stream: the lazily read `Data` and where each frame starts.
pub(super) struct Stream {
    data: Arc<dyn ArraySource>,
    len: u64,
    pub(super) bins: u64,
    pub(super) encoding: String,
    pub(super) om: Tree,
    height: u64,
    width: u64,
    table: Option<Vec<u64>>,
    rows: OnceLock<Result<RowIndex, String>>,
}

/// Where every scan row of every frame starts in a stream, found in one pass.
struct RowIndex {
    /// Entry `k` is the stream position of global row `k` (frame `k / height`).
    starts: Vec<u64>,
    /// Number of pixel markers in the stream.
    markers: u64,
}

impl Stream {
    pub(super) fn open(f: &H5File, group: &str, (h, w): (u64, u64)) -> Result<Self> {
        let settings = json_dataset(f, &format!("{group}/AcquisitionSettings"))?;
        let bins = num(settings.get("bincount"))
            .filter(|b| *b >= 1.0 && *b < 65535.0)
            .ok_or_else(|| bad(format!("a bincount in {group}/AcquisitionSettings")))?
            as u64;
        let encoding = text(settings.get("StreamEncoding")).unwrap_or_else(|| "uint16".into());
        let om = frame_metadata(f, group, "Metadata", 0)?;
        let ds = f.dataset(&format!("{group}/Data"))?;
        if ds.numeric()?.0 != DType::U16 {
            return Err(bad(format!("a uint16 event stream at {group}/Data")));
        }
        let len = ds.len();
        let data = ds.source(None)?;
        let data: Arc<dyn ArraySource> = if data.shape().len() == 1 {
            data
        } else {
            // An (n, 1) column.
            Arc::new(Select::new(data, vec![None, Some(0)])?)
        };
        // Frame start offsets: trusted when they start at 0, increase and stay in the stream.
        let flt = format!("{group}/FrameLocationTable");
        let table = if f.is_dataset(&flt) {
            f.dataset(&flt)?.read_f64().ok().and_then(|v| {
                let t: Vec<u64> = v.iter().map(|&x| x as u64).collect();
                let ok = t.first() == Some(&0)
                    && t.windows(2).all(|p| p[0] <= p[1])
                    && t.last().is_some_and(|&l| l <= len);
                ok.then_some(t)
            })
        } else {
            None
        };
        Ok(Stream {
            data,
            len,
            bins,
            encoding,
            om,
            height: h,
            width: w,
            table,
            rows: OnceLock::new(),
        })
    }

    /// The row index, built on first use by one pass over the stream.
    fn rows(&self) -> Result<&RowIndex> {
        self.rows
            .get_or_init(|| self.scan().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| bad(e.clone()))
    }

    /// Number of (possibly partial) frames, as rsciio counts them.
    pub(super) fn frames(&self) -> Result<u64> {
        if let Some(t) = &self.table {
            return Ok(t.len() as u64);
        }
        let pixels = (self.height * self.width).max(1);
        Ok(self.rows()?.markers.div_ceil(pixels))
    }

    fn scan(&self) -> Result<RowIndex> {
        self.scan_in_blocks(STREAM_BLOCK)
    }

    /// Locate every row start in two parallel passes over blocks of `size` events: count
    /// the pixel markers of each block, then, knowing how many precede it, record where
    /// each block's row starts are.
    fn scan_in_blocks(&self, size: u64) -> Result<RowIndex> {
        let width = self.width.max(1);
        let blocks: Vec<u64> = (0..self.len.div_ceil(size)).collect();
        let block = |b: u64, buf: &mut Vec<u16>| -> Result<u64> {
            let pos = b * size;
            self.read(pos, size.min(self.len - pos), buf)?;
            Ok(pos)
        };
        let counts: Vec<u64> = blocks
            .par_iter()
            .map_init(Vec::new, |buf, &b| {
                block(b, buf)?;
                Ok(buf.iter().filter(|&&v| v == NEXT_PIXEL).count() as u64)
            })
            .collect::<Result<_>>()?;
        let mut before = Vec::with_capacity(counts.len());
        let mut markers = 0u64;
        for c in &counts {
            before.push(markers);
            markers += c;
        }
        let parts: Vec<Vec<u64>> = blocks
            .par_iter()
            .map_init(Vec::new, |buf, &b| {
                let pos = block(b, buf)?;
                let mut seen = before[b as usize];
                let mut starts = Vec::new();
                for (i, &v) in buf.iter().enumerate() {
                    if v == NEXT_PIXEL {
                        seen += 1;
                        if seen % width == 0 {
                            starts.push(pos + i as u64 + 1);
                        }
                    }
                }
                Ok(starts)
            })
            .collect::<Result<_>>()?;
        let mut starts = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 1);
        starts.push(0);
        for p in parts {
            starts.extend(p);
        }
        Ok(RowIndex { starts, markers })
    }

    fn read(&self, pos: u64, n: u64, buf: &mut Vec<u16>) -> Result<()> {
        buf.resize(n as usize, 0);
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf.as_mut_slice());
        self.data.read_region(&[pos], &[n], bytes)
    }

    /// Range of stream indices holding rows `r0..r1` of frame `f` (empty past the end).
    /// Whole frames come from the file's frame table when it has one (no scan).
    fn row_range(&self, f: u64, r0: u64, r1: u64) -> Result<(u64, u64)> {
        if let (Some(t), true) = (&self.table, r0 == 0 && r1 == self.height) {
            let Some(&a) = t.get(f as usize) else {
                return Ok((self.len, self.len));
            };
            let b = t.get(f as usize + 1).copied().unwrap_or(self.len);
            return Ok((a, b.max(a)));
        }
        let idx = &self.rows()?.starts;
        let at = |r: u64| {
            usize::try_from(f * self.height + r)
                .ok()
                .and_then(|k| idx.get(k).copied())
                .unwrap_or(self.len)
                .min(self.len)
        };
        let (a, b) = (at(r0), at(r1));
        Ok((a, b.max(a)))
    }
}

/// Decodes spectrum-image chunks from the event streams: one frame per chunk (frames
/// kept), or a band of rows summed over the selected frames.
pub(super) struct SpectrumDecoder {
    pub(super) streams: Vec<Arc<Stream>>,
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) sum_frames: bool,
    pub(super) rebin: u64,
    pub(super) dtype: DType,
    pub(super) shape: Vec<u64>,
    pub(super) chunk: Vec<u64>,
}

impl ChunkDecoder for SpectrumDecoder {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        let n = self.shape.len();
        let (h, w, c) = (self.shape[n - 3], self.shape[n - 2], self.shape[n - 1]);
        let row0 = index[n - 3] * self.chunk[n - 3];
        let rows = self.chunk[n - 3].min(h - row0);
        let frames = if self.sum_frames {
            self.first..self.last
        } else {
            let f = self.first + index[0];
            f..f + 1
        };
        let band = Band {
            first: row0 * w,
            end: (row0 + rows) * w,
            channels: c as usize,
            rebin: self.rebin as usize,
        };
        let mut buf = Vec::new();
        for s in &self.streams {
            for frame in frames.clone() {
                let (a, b) = s.row_range(frame, row0, row0 + rows)?;
                let mut pixel = band.first;
                let mut pos = a;
                while pos < b && pixel < band.end {
                    let len = STREAM_BLOCK.min(b - pos);
                    s.read(pos, len, &mut buf)?;
                    pixel = band.add(self.dtype, &buf, pixel, out);
                    pos += len;
                }
            }
        }
        Ok(())
    }
}

/// The pixels `first .. end` (scan order) a chunk of the spectrum image holds, and how
/// stream values map to its channels.
struct Band {
    first: u64,
    end: u64,
    channels: usize,
    rebin: usize,
}

impl Band {
    /// Add the counts of `events` (continuing at `pixel`) to `out`, which holds the band
    /// as `dtype` values (zeroed by the caller); returns the pixel reached. Counts
    /// accumulate in `dtype`, wrapping like rsciio's NumPy accumulation in `SI_dtype`.
    fn add(&self, dtype: DType, events: &[u16], pixel: u64, out: &mut [u8]) -> u64 {
        macro_rules! int {
            ($t:ty) => {
                self.add_as(events, pixel, out, |b| {
                    <$t>::from_ne_bytes(b).wrapping_add(1).to_ne_bytes()
                })
            };
        }
        macro_rules! float {
            ($t:ty) => {
                self.add_as(events, pixel, out, |b| {
                    (<$t>::from_ne_bytes(b) + 1.0).to_ne_bytes()
                })
            };
        }
        match dtype {
            DType::U8 => int!(u8),
            DType::I8 => int!(i8),
            DType::U16 => int!(u16),
            DType::I16 => int!(i16),
            DType::U32 => int!(u32),
            DType::I32 => int!(i32),
            DType::U64 => int!(u64),
            DType::I64 => int!(i64),
            DType::F32 => float!(f32),
            _ => float!(f64),
        }
    }

    /// [`Band::add`] for values of `N` bytes incremented by `inc`: one compare per event,
    /// no allocation.
    #[inline(always)]
    fn add_as<const N: usize>(
        &self,
        events: &[u16],
        mut pixel: u64,
        out: &mut [u8],
        inc: impl Fn([u8; N]) -> [u8; N],
    ) -> u64 {
        // Element index of the current pixel's first channel.
        let mut base = (pixel - self.first) as usize * self.channels;
        for &v in events {
            if v == NEXT_PIXEL {
                pixel += 1;
                if pixel >= self.end {
                    break;
                }
                base += self.channels;
                continue;
            }
            let ch = if self.rebin == 1 {
                usize::from(v)
            } else {
                usize::from(v) / self.rebin
            };
            if ch < self.channels {
                let o = (base + ch) * N;
                let cell: &mut [u8; N] = (&mut out[o..o + N]).try_into().expect("one value");
                *cell = inc(*cell);
            }
        }
        pixel
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::StridedSource;

    /// A 2 x 2 scan, two frames, no frame table: the row index is found by scanning.
    fn stream() -> Stream {
        const M: u16 = NEXT_PIXEL;
        let events: Vec<u16> = vec![5, M, M, 7, 7, M, M, 1, M, M, M, 2, M];
        let bytes: Vec<u8> = events.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let len = events.len() as u64;
        Stream {
            data: Arc::new(StridedSource::from_bytes(bytes, DType::U16, vec![len]).unwrap()),
            len,
            bins: 8,
            encoding: "uint16".into(),
            om: Tree::new(),
            height: 2,
            width: 2,
            table: None,
            rows: OnceLock::new(),
        }
    }

    #[test]
    fn rows_are_located_by_one_scan() {
        let s = stream();
        assert_eq!(s.frames().unwrap(), 2);
        assert_eq!(s.row_range(0, 1, 2).unwrap(), (3, 7));
        assert_eq!(s.row_range(1, 1, 2).unwrap(), (10, 13));
        assert_eq!(s.row_range(1, 0, 2).unwrap(), (7, 13));
        assert_eq!(s.row_range(5, 0, 2).unwrap(), (13, 13));
    }

    #[test]
    fn row_starts_found_across_scan_blocks() {
        let s = stream();
        let whole = s.scan().unwrap();
        for size in 1..6 {
            let blocks = s.scan_in_blocks(size).unwrap();
            assert_eq!(blocks.starts, whole.starts, "blocks of {size}");
            assert_eq!(blocks.markers, whole.markers, "blocks of {size}");
        }
        assert_eq!(whole.starts, vec![0, 3, 7, 10, 13]);
    }

    #[test]
    fn row_bands_sum_frames_and_frames_stay_apart() {
        let streams = vec![Arc::new(stream())];
        let summed = SpectrumDecoder {
            streams: streams.clone(),
            first: 0,
            last: 2,
            sum_frames: true,
            rebin: 1,
            dtype: DType::U8,
            shape: vec![2, 2, 8],
            chunk: vec![1, 2, 8],
        };
        let mut out = vec![0u8; 16];
        summed.decode_chunk(&[1, 0, 0], &mut out).unwrap();
        let mut want = vec![0u8; 16];
        want[7] = 2; // pixel (1, 0), channel 7, frame 0
        want[8 + 2] = 1; // pixel (1, 1), channel 2, frame 1
        assert_eq!(out, want);
        let frames = SpectrumDecoder {
            sum_frames: false,
            shape: vec![2, 2, 2, 8],
            chunk: vec![1, 2, 2, 8],
            ..summed
        };
        let mut out = vec![0u8; 32];
        frames.decode_chunk(&[1, 0, 0, 0], &mut out).unwrap();
        let mut want = vec![0u8; 32];
        want[1] = 1; // frame 1, pixel (0, 0), channel 1
        want[24 + 2] = 1; // frame 1, pixel (1, 1), channel 2
        assert_eq!(out, want);
    }
}
