//! Writing datasets as TIFF: one page per 2-D image (1-D data as one-row pages), leading
//! dimensions as a page series described as an ImageJ hyperstack when the data fits ImageJ
//! (uint8, uint16, float32 or RGB8; up to three leading dimensions, TZC), else by a shaped
//! JSON description tifffile understands. Calibration goes to X/YResolution, the ImageJ
//! description and DigitalMicrograph tags (so ImageJ/Fiji, tifffile and rsciio read scale and
//! units), and emio's exact axes and metadata to a private JSON tag.
//!
//! Pixels go through core's write pipeline strip by strip (or tile by tile, padded at the
//! image edges), encoded on its workers and appended in order; uncompressed strips, which
//! hold the array in C order, go to their places in the file instead (`COrderFile`). The
//! IFDs follow the data and the header is patched last. BigTIFF is chosen automatically
//! when the file could exceed 4 GiB (or with `bigtiff=true`); `compression=deflate|zstd`
//! and `tile=N` select codecs and tiling.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use emio_core::metadata::{get_str, value_f64};
use emio_core::plan::WritePlan;
use emio_core::positioned::COrderFile;
use emio_core::{Axis, AxisKind, ByteOrder, DType, Dataset, Error, Result, WriteRequest};
use serde_json::{json, Value};

use crate::ifd::FORMAT;
use crate::page::compression;
use crate::tags;

emio_core::option_choice! {
    /// Pixel compression of the TIFF writer.
    pub enum Codec {
        None = "none": "stored as they are",
        Deflate = "deflate": "Adobe deflate (zlib)",
        Zstd = "zstd": "Zstandard",
    }
}

impl Codec {
    /// The TIFF Compression tag value.
    fn tag(self) -> u16 {
        match self {
            Codec::None => compression::NONE,
            Codec::Deflate => compression::ADOBE_DEFLATE,
            Codec::Zstd => compression::ZSTD,
        }
    }
}

emio_core::options! {
    /// Options of the TIFF writer.
    pub struct WriteOptions {
        /// pixel compression
        compression: Codec = Some("none"),
        /// compression level (deflate 0-9, zstd 1-22)
        level: Option<i64> = None,
        /// write square tiles of this size (a multiple of 16) instead of strips
        tile: Option<i64> = None,
        /// rows per strip (default: about 8 MiB uncompressed, 1 MiB compressed)
        rows_per_strip: Option<i64> = None,
        /// force BigTIFF (default: automatic when the file could exceed 4 GiB)
        bigtiff: Option<bool> = None,
        /// describe stacks as ImageJ hyperstacks when the data fits ImageJ
        imagej: bool = Some("true"),
    }
}

/// Target bytes of one uncompressed strip.
const STRIP_BYTES: u64 = 8 << 20;
/// Target bytes of one compressed strip (smaller: finer random access).
const COMPRESSED_STRIP_BYTES: u64 = 1 << 20;

/// How samples are stored for a dtype: (samples per pixel, bits per sample, SampleFormat).
fn sample_layout(dtype: DType) -> (u16, u16, u16) {
    match dtype {
        DType::Bool => (1, 1, 1),
        DType::U8 | DType::U16 | DType::U32 | DType::U64 => (1, 8 * dtype.size() as u16, 1),
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => (1, 8 * dtype.size() as u16, 2),
        DType::F16 | DType::F32 | DType::F64 => (1, 8 * dtype.size() as u16, 3),
        DType::C64 => (1, 64, 6),
        DType::C128 => (1, 128, 6),
        DType::Rgb8 => (3, 8, 1),
        DType::Rgba8 => (4, 8, 1),
        DType::Rgb16 => (3, 16, 1),
        DType::Rgba16 => (4, 16, 1),
    }
}

/// A tag value to write.
enum TagValue {
    Short(Vec<u16>),
    Long(Vec<u32>),
    Long8(Vec<u64>),
    SLong(Vec<i32>),
    Rational(Vec<(u32, u32)>),
    Double(Vec<f64>),
    Ascii(Vec<u8>),
    Undefined(Vec<u8>),
}

impl TagValue {
    fn code_count(&self) -> (u16, u64) {
        match self {
            TagValue::Short(v) => (3, v.len() as u64),
            TagValue::Long(v) => (4, v.len() as u64),
            TagValue::Long8(v) => (16, v.len() as u64),
            TagValue::SLong(v) => (9, v.len() as u64),
            TagValue::Rational(v) => (5, v.len() as u64),
            TagValue::Double(v) => (12, v.len() as u64),
            TagValue::Ascii(v) => (2, v.len() as u64),
            TagValue::Undefined(v) => (7, v.len() as u64),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            TagValue::Short(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TagValue::Long(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TagValue::Long8(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TagValue::SLong(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TagValue::Rational(v) => v.iter().for_each(|(n, d)| {
                out.extend(n.to_le_bytes());
                out.extend(d.to_le_bytes());
            }),
            TagValue::Double(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            TagValue::Ascii(v) | TagValue::Undefined(v) => out.extend(v),
        }
        out
    }
}

/// Text as NUL-terminated ASCII/Latin-1 bytes (characters outside Latin-1 become `?`).
fn latin1(s: &str) -> Vec<u8> {
    let mut v: Vec<u8> = s
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect();
    v.push(0);
    v
}

/// Best rational approximation `num/den` of `x > 0` with both parts fitting u32.
fn rational(x: f64) -> (u32, u32) {
    if !(x.is_finite() && x > 0.0) {
        return (1, 1);
    }
    let (mut h0, mut h1, mut k0, mut k1) = (0f64, 1f64, 1f64, 0f64);
    let mut v = x;
    let max = f64::from(u32::MAX);
    for _ in 0..64 {
        let a = v.floor();
        let h2 = a * h1 + h0;
        let k2 = a * k1 + k0;
        if h2 > max || k2 > max {
            break;
        }
        (h0, h1, k0, k1) = (h1, h2, k1, k2);
        let frac = v - a;
        if frac < 1e-15 || (h1 / k1 - x).abs() <= x * 1e-17 {
            break;
        }
        v = 1.0 / frac;
    }
    if h1 == 0.0 || k1 == 0.0 {
        // Too large or too small for u32 parts: clamp.
        return if x > 1.0 {
            (u32::MAX, 1)
        } else {
            (1, u32::MAX)
        };
    }
    (h1 as u32, k1 as u32)
}

/// Geometry of the pages a dataset is written as.
struct Layout {
    /// Leading (page grid) shape.
    lead: Vec<u64>,
    height: u64,
    width: u64,
    /// Whether the dataset is 1-D (pages are its one row).
    one_d: bool,
}

impl Layout {
    fn of(shape: &[u64]) -> Result<Layout> {
        match shape.len() {
            0 => Err(Error::unsupported(FORMAT, "0-dimensional datasets")),
            1 => Ok(Layout {
                lead: Vec::new(),
                height: 1,
                width: shape[0],
                one_d: true,
            }),
            n => Ok(Layout {
                lead: shape[..n - 2].to_vec(),
                height: shape[n - 2],
                width: shape[n - 1],
                one_d: false,
            }),
        }
    }

    fn pages(&self) -> u64 {
        self.lead.iter().product()
    }
}

/// Where the writer is in the output, with classic-TIFF overflow detection.
struct Out<'a> {
    w: BufWriter<File>,
    /// The file written, named by every I/O error.
    path: &'a Path,
    pos: u64,
    big: bool,
}

impl Out<'_> {
    fn write(&mut self, b: &[u8]) -> Result<()> {
        self.w.write_all(b).map_err(|e| Error::io(self.path, e))?;
        self.pos += b.len() as u64;
        self.check_size()
    }

    /// An error once the file outgrows classic TIFF's 32-bit offsets.
    fn check_size(&self) -> Result<()> {
        if !self.big && self.pos > u64::from(u32::MAX) {
            return Err(Error::unsupported(
                FORMAT,
                "the file grew beyond 4 GiB as classic TIFF; write with bigtiff=true",
            ));
        }
        Ok(())
    }

    /// Move past `n` bytes to be written at their places ([`COrderFile`]), flushing what
    /// the writer holds; an error if they would take a classic TIFF past 4 GiB.
    fn skip(&mut self, n: u64) -> Result<()> {
        self.pos += n;
        self.check_size()?;
        let pos = self.pos;
        self.w
            .seek(SeekFrom::Start(pos))
            .map_err(|e| Error::io(self.path, e))
            .map(|_| ())
    }

    fn align(&mut self) -> Result<()> {
        if self.pos % 2 == 1 {
            self.write(&[0])?;
        }
        Ok(())
    }
}

/// The ImageJ description for `ds` laid out as `layout`, when ImageJ can hold it.
fn imagej_description(ds: &Dataset, layout: &Layout) -> Option<String> {
    if !matches!(
        ds.dtype(),
        DType::U8 | DType::U16 | DType::F32 | DType::Rgb8
    ) || layout.one_d
        || layout.lead.len() > 3
        || layout.lead.contains(&1)
    {
        return None;
    }
    let mut s = String::from("ImageJ=1.11a\n");
    let n = layout.pages();
    let nl = layout.lead.len();
    let names: &[&str] = match nl {
        0 => &[],
        1 => &["slices"],
        2 => &["frames", "slices"],
        _ => &["frames", "slices", "channels"],
    };
    if nl > 0 {
        s.push_str(&format!("images={n}\n"));
        for (name, size) in names.iter().zip(&layout.lead) {
            s.push_str(&format!("{name}={size}\n"));
        }
        if nl > 1 {
            s.push_str("hyperstack=true\nmode=grayscale\n");
        }
    }
    let ya = &ds.axes[ds.ndim() - 2];
    let xa = &ds.axes[ds.ndim() - 1];
    let unit = match xa.units.as_str() {
        "µm" | "μm" | "um" => "micron".to_string(),
        "Å" => "angstrom".to_string(),
        "" => String::new(),
        u => u.chars().filter(char::is_ascii).collect(),
    };
    if !unit.is_empty() && xa.scale_offset().is_some() && ya.units == xa.units {
        s.push_str(&format!("unit={unit}\n"));
    }
    for (k, name) in names.iter().enumerate() {
        if let Some((scale, _)) = ds.axes[k].scale_offset() {
            match *name {
                "slices" => s.push_str(&format!("spacing={scale}\n")),
                "frames" => s.push_str(&format!("finterval={scale}\n")),
                _ => {}
            }
        }
    }
    if nl > 0 {
        s.push_str("loop=false\n");
    }
    Some(s)
}

/// Axes as emio's JSON (the `axes` list of `info --json`).
fn axes_json(ds: &Dataset) -> Value {
    Value::Array(
        ds.axes
            .iter()
            .zip(ds.shape())
            .map(|(a, &n)| a.to_json(n))
            .collect(),
    )
}

/// Axes back from emio's JSON, when they fit `shape`.
pub fn axes_from_json(v: &Value, shape: &[u64]) -> Option<Vec<Axis>> {
    let list = v.as_array()?;
    if list.len() != shape.len() {
        return None;
    }
    list.iter()
        .zip(shape)
        .map(|(a, &n)| {
            let name = a.get("name")?.as_str()?.to_string();
            let units = a.get("units")?.as_str()?.to_string();
            let navigate = a.get("navigate")?.as_bool()?;
            let kind = match a.get("values") {
                Some(vals) => {
                    let v: Vec<f64> = vals
                        .as_array()?
                        .iter()
                        .map(value_f64)
                        .collect::<Option<_>>()?;
                    if v.len() as u64 != n {
                        return None;
                    }
                    AxisKind::Values(v)
                }
                None => AxisKind::Uniform {
                    scale: value_f64(a.get("scale")?)?,
                    offset: value_f64(a.get("offset")?)?,
                },
            };
            Some(Axis {
                name,
                units,
                navigate,
                kind,
            })
        })
        .collect()
}

fn uniform(a: &Axis) -> (f64, f64) {
    a.scale_offset().unwrap_or((1.0, 0.0))
}

/// Tags of the first page carrying descriptions and calibration.
fn first_page_tags(ds: &Dataset, layout: &Layout, imagej: bool) -> Vec<(u16, TagValue)> {
    let mut t = Vec::new();
    let n = ds.ndim();
    let shape = ds.shape();
    let description = imagej
        .then(|| imagej_description(ds, layout))
        .flatten()
        .unwrap_or_else(|| {
            let mut full: Vec<u64> = shape.to_vec();
            let samples = sample_layout(ds.dtype()).0;
            if samples > 1 {
                full.push(u64::from(samples));
            }
            let lead_codes = if layout.lead.len() == 1 {
                "I".to_string()
            } else {
                "Q".repeat(layout.lead.len())
            };
            let mut axes = if layout.one_d {
                "X".to_string()
            } else {
                format!("{lead_codes}YX")
            };
            if ds.dtype().is_rgb() {
                axes.push('S');
            }
            json!({"shape": full, "axes": axes}).to_string()
        });
    t.push((
        tags::IMAGE_DESCRIPTION,
        TagValue::Ascii(latin1(&description)),
    ));
    t.push((305, TagValue::Ascii(latin1("emio"))));
    if let (Some(date), Some(time)) = (
        get_str(&ds.metadata, "General.date"),
        get_str(&ds.metadata, "General.time"),
    ) {
        let time: String = time.chars().take(8).collect();
        let dt = format!("{} {time}", date.replace('-', ":"));
        if dt.len() == 19 && dt.is_ascii() {
            t.push((306, TagValue::Ascii(latin1(&dt))));
        }
    }
    // DigitalMicrograph calibration tags, as rsciio writes them.
    if !layout.one_d {
        let xa = &ds.axes[n - 1];
        let ya = &ds.axes[n - 2];
        let (xs, xo) = uniform(xa);
        let (ys, yo) = uniform(ya);
        t.push((tags::DM_X_UNITS, TagValue::Ascii(latin1(&xa.units))));
        t.push((tags::DM_Y_UNITS, TagValue::Ascii(latin1(&ya.units))));
        t.push((tags::DM_X_OFFSET, TagValue::Double(vec![xo])));
        t.push((tags::DM_Y_OFFSET, TagValue::Double(vec![yo])));
        t.push((tags::DM_X_SCALE, TagValue::Double(vec![xs])));
        t.push((tags::DM_Y_SCALE, TagValue::Double(vec![ys])));
        if n >= 3 {
            let za = &ds.axes[0];
            let (zs, zo) = uniform(za);
            t.push((tags::DM_Z_UNITS, TagValue::Ascii(latin1(&za.units))));
            t.push((tags::DM_Z_OFFSET, TagValue::Double(vec![zo])));
            t.push((tags::DM_Z_SCALE, TagValue::Double(vec![zs])));
            t.push((65017, TagValue::SLong(vec![1])));
        }
    }
    let emio = json!({
        "emio": env!("CARGO_PKG_VERSION"),
        "shape": shape,
        "dtype": ds.dtype().to_string(),
        "axes": axes_json(ds),
        "metadata": Value::Object(ds.metadata.clone()),
        "original_metadata": Value::Object(ds.original_metadata.clone()),
    });
    t.push((
        tags::EMIO_METADATA,
        TagValue::Undefined(emio.to_string().into_bytes()),
    ));
    t
}

/// Encode one block of native-endian samples for the file (little-endian, bit-packed for
/// bool, compressed). A compressor's failure names `path`, the file being written.
fn encode_block(
    path: &Path,
    raw: Vec<u8>,
    dtype: DType,
    cols: usize,
    codec: u16,
    level: Option<i64>,
) -> Result<Vec<u8>> {
    let mut data = raw;
    if dtype == DType::Bool {
        let row_bytes = cols.div_ceil(8);
        let rows = data.len() / cols.max(1);
        let mut packed = vec![0u8; rows * row_bytes];
        for (r, row) in data.chunks_exact(cols).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                if v != 0 {
                    packed[r * row_bytes + c / 8] |= 0x80 >> (c % 8);
                }
            }
        }
        data = packed;
    } else if cfg!(target_endian = "big") {
        emio_core::dtype::swap_bytes_in_place(&mut data, dtype.swap_unit());
    }
    let fail = |e: std::io::Error| Error::io(path, e);
    Ok(match codec {
        compression::ADOBE_DEFLATE => {
            let lvl = level.map_or(6, |l| l.clamp(0, 9) as u32);
            emio_core::deflate::zlib_compress(&data, lvl)
        }
        compression::ZSTD => {
            let lvl = level.map_or(3, |l| l.clamp(1, 22) as i32);
            zstd::bulk::compress(&data, lvl).map_err(fail)?
        }
        _ => data,
    })
}

/// Write `ds` to `path` as TIFF.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (ds, path, progress) = (request.dataset, request.path, request.progress);
    let layout = Layout::of(ds.shape())?;
    if layout.height == 0 || layout.width == 0 || layout.pages() == 0 {
        return Err(Error::unsupported(
            FORMAT,
            "datasets with an empty dimension",
        ));
    }
    let dtype = ds.dtype();
    let (spp, bits, sformat) = sample_layout(dtype);
    let options = request.typed::<WriteOptions>()?;
    let codec = options.compression.tag();
    let level = options.level;
    let es = dtype.size() as u64;
    let row_bytes = layout.width * es;
    let tile = match options.tile {
        None | Some(0) => None,
        Some(t) if t > 0 && t % 16 == 0 => Some(t as u64),
        Some(t) => {
            return Err(Error::invalid_option(
                "tile",
                format!("{t} is not a positive multiple of 16"),
            ))
        }
    };
    let (block_h, block_w) = match tile {
        Some(t) => (t, t),
        None => match options.rows_per_strip {
            Some(rows) if rows > 0 => ((rows as u64).min(layout.height), layout.width),
            _ => {
                let target = if codec == compression::NONE {
                    STRIP_BYTES
                } else {
                    COMPRESSED_STRIP_BYTES
                };
                (
                    (target / row_bytes.max(1)).clamp(1, layout.height),
                    layout.width,
                )
            }
        },
    };
    let down = layout.height.div_ceil(block_h);
    let across = layout.width.div_ceil(block_w);
    let blocks_per_page = down * across;
    let pages = layout.pages();
    let imagej = options.imagej;
    let first_tags = first_page_tags(ds, &layout, imagej);
    let meta_bytes: u64 = first_tags.iter().map(|(_, v)| v.bytes().len() as u64).sum();
    let estimate = ds
        .nbytes()
        .saturating_add(ds.nbytes() / 64)
        .saturating_add(meta_bytes)
        .saturating_add(pages.saturating_mul(512 + blocks_per_page * 16))
        .saturating_add(1 << 20);
    let big = options.bigtiff.unwrap_or(estimate > u64::from(u32::MAX));
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = Out {
        w: BufWriter::with_capacity(1 << 20, file),
        path,
        pos: 0,
        big,
    };
    if big {
        out.write(b"II\x2b\x00\x08\x00\x00\x00")?;
        out.write(&0u64.to_le_bytes())?;
    } else {
        out.write(b"II\x2a\x00")?;
        out.write(&0u32.to_le_bytes())?;
    }
    let mut offsets: Vec<Vec<u64>> = Vec::with_capacity(pages as usize);
    let mut counts: Vec<Vec<u64>> = Vec::with_capacity(pages as usize);
    if codec == compression::NONE && tile.is_none() && dtype != DType::Bool {
        // Uncompressed strips hold the array in C order: each region goes to its place
        // (following the source's chunks where the stream would cut them), and the strips'
        // offsets follow from their sizes.
        let at = out.pos;
        out.skip(ds.nbytes())?;
        let target = COrderFile::new(out.w.get_ref(), path, at, ds.shape());
        target.write(ds, ByteOrder::Little, progress)?;
        let page_bytes = layout.height * row_bytes;
        for p in 0..pages {
            let (po, pc) = (0..down)
                .map(|s| {
                    let (row, rows) = (s * block_h, block_h.min(layout.height - s * block_h));
                    (at + p * page_bytes + row * row_bytes, rows * row_bytes)
                })
                .unzip();
            offsets.push(po);
            counts.push(pc);
        }
    } else {
        // Pixels through core's write pipeline: one region per strip or tile (tiles padded
        // at the image edges), encoded on the workers, appended page by page in order.
        let mut chunk = vec![1u64; layout.lead.len()];
        if !layout.one_d {
            chunk.push(block_h);
        }
        chunk.push(block_w);
        let plan = match tile {
            Some(_) => WritePlan::new(&chunk).padded(),
            None => WritePlan::new(&chunk),
        };
        let tile_bytes = (block_h * block_w * es) as usize;
        plan.write_in_order(
            ds,
            progress,
            |_, buf| {
                if tile.is_some() {
                    // A 1-D dataset's tile holds one row of the image: the rest is padding.
                    buf.resize(tile_bytes, 0);
                }
                *buf = encode_block(
                    path,
                    std::mem::take(buf),
                    dtype,
                    block_w as usize,
                    codec,
                    level,
                )?;
                Ok(())
            },
            |_, encoded| {
                if offsets
                    .last()
                    .is_none_or(|po| po.len() as u64 == blocks_per_page)
                {
                    offsets.push(Vec::with_capacity(blocks_per_page as usize));
                    counts.push(Vec::with_capacity(blocks_per_page as usize));
                }
                let (po, pc) = (offsets.last_mut(), counts.last_mut());
                po.expect("a page").push(out.pos);
                pc.expect("a page").push(encoded.len() as u64);
                out.write(encoded)
            },
        )?;
    }
    // IFDs after the data.
    let mut first_ifd = 0u64;
    let mut first_tags = Some(first_tags);
    for p in 0..pages as usize {
        out.align()?;
        if p == 0 {
            first_ifd = out.pos;
        }
        let mut entries: Vec<(u16, TagValue)> = vec![
            (254, TagValue::Long(vec![0])),
            (256, TagValue::Long(vec![layout.width as u32])),
            (257, TagValue::Long(vec![layout.height as u32])),
            (258, TagValue::Short(vec![bits; spp as usize])),
            (259, TagValue::Short(vec![codec])),
            (262, TagValue::Short(vec![if spp >= 3 { 2 } else { 1 }])),
            (277, TagValue::Short(vec![spp])),
            (284, TagValue::Short(vec![1])),
            (296, TagValue::Short(vec![1])),
            (339, TagValue::Short(vec![sformat; spp as usize])),
        ];
        if !layout.one_d {
            let n = ds.ndim();
            let xs = uniform(&ds.axes[n - 1]).0.abs();
            let ys = uniform(&ds.axes[n - 2]).0.abs();
            let (xn, xd) = rational(1.0 / xs);
            let (yn, yd) = rational(1.0 / ys);
            entries.push((282, TagValue::Rational(vec![(xn, xd)])));
            entries.push((283, TagValue::Rational(vec![(yn, yd)])));
        }
        if spp == 4 {
            entries.push((338, TagValue::Short(vec![2])));
        }
        let offs = std::mem::take(&mut offsets[p]);
        let cnts = std::mem::take(&mut counts[p]);
        let as_tag = |v: Vec<u64>| {
            if big {
                TagValue::Long8(v)
            } else {
                TagValue::Long(v.into_iter().map(|x| x as u32).collect())
            }
        };
        if tile.is_some() {
            entries.push((322, TagValue::Long(vec![block_w as u32])));
            entries.push((323, TagValue::Long(vec![block_h as u32])));
            entries.push((324, as_tag(offs)));
            entries.push((325, as_tag(cnts)));
        } else {
            entries.push((273, as_tag(offs)));
            entries.push((278, TagValue::Long(vec![block_h as u32])));
            entries.push((279, as_tag(cnts)));
        }
        if let Some(extra) = first_tags.take() {
            entries.extend(extra);
        }
        entries.sort_by_key(|(tag, _)| *tag);
        let next_known = p + 1 < pages as usize;
        write_ifd(&mut out, &entries, next_known)?;
    }
    out.w.flush().map_err(|e| Error::io(path, e))?;
    let mut file = out
        .w
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    let at = if big { 8 } else { 4 };
    file.seek(SeekFrom::Start(at))
        .map_err(|e| Error::io(path, e))?;
    let bytes = if big {
        first_ifd.to_le_bytes().to_vec()
    } else {
        (first_ifd as u32).to_le_bytes().to_vec()
    };
    file.write_all(&bytes).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Write one IFD at the current (even) position with its out-of-line values after it; the
/// next-IFD offset points just past those values when `has_next`.
fn write_ifd(out: &mut Out<'_>, entries: &[(u16, TagValue)], has_next: bool) -> Result<()> {
    let (entry_size, inline, count_size) = if out.big {
        (20u64, 8u64, 8u64)
    } else {
        (12, 4, 2)
    };
    let start = out.pos;
    let table = count_size + entries.len() as u64 * entry_size + inline;
    let mut values_at = start + table;
    let mut table_bytes = Vec::with_capacity(table as usize);
    let mut extra = Vec::new();
    if out.big {
        table_bytes.extend((entries.len() as u64).to_le_bytes());
    } else {
        table_bytes.extend((entries.len() as u16).to_le_bytes());
    }
    for (tag, value) in entries {
        let (code, count) = value.code_count();
        let bytes = value.bytes();
        table_bytes.extend(tag.to_le_bytes());
        table_bytes.extend(code.to_le_bytes());
        if out.big {
            table_bytes.extend(count.to_le_bytes());
        } else {
            table_bytes.extend((count as u32).to_le_bytes());
        }
        if bytes.len() as u64 <= inline {
            let mut field = bytes.clone();
            field.resize(inline as usize, 0);
            table_bytes.extend(field);
        } else {
            if out.big {
                table_bytes.extend(values_at.to_le_bytes());
            } else {
                table_bytes.extend((values_at as u32).to_le_bytes());
            }
            values_at += bytes.len() as u64;
            extra.extend(bytes);
            if values_at % 2 == 1 {
                values_at += 1;
                extra.push(0);
            }
        }
    }
    let next = if has_next { values_at } else { 0 };
    if out.big {
        table_bytes.extend(next.to_le_bytes());
    } else {
        table_bytes.extend((next as u32).to_le_bytes());
    }
    out.write(&table_bytes)?;
    out.write(&extra)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rationals_approximate_closely() {
        for x in [1.0, 0.5, 3.0, 1.0 / 0.16867469251155853, 1e-3, 5.9285714e6] {
            let (n, d) = rational(x);
            let r = f64::from(n) / f64::from(d);
            assert!((r - x).abs() <= 1e-9 * x, "{x} -> {n}/{d}");
        }
    }
}
