//! MRC2014 / CCP4 maps and image stacks for emio.
//!
//! Reading: every MRC mode (0 with the MRC2014 / IMOD / legacy sign conventions, 1, 2, 3,
//! 4, 6, 12, IMOD's 16 and 101), either byte order (machine stamp, with fallbacks),
//! `mapc/mapr/maps` axis order applied as permuted strides, volume stacks, voxel size and
//! origin as calibrated axes, labels and extended headers (FEI1/FEI2, SERI, AGAR, CCP4) as
//! metadata, Direct Electron 4D-STEM movies with their info and scan companions, and
//! `.mrc.gz` / `.mrc.bz2` files. Uncompressed pixels are memory-mapped and read lazily;
//! opening reads only the header and extended header.
//!
//! Writing: MRC2014 files that `mrcfile.validate` accepts; see `write`.

#![forbid(unsafe_code)]

pub mod de;
pub mod exthdr;
pub mod header;
mod sources;
mod stats;
mod validate;
mod write;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio_core::budget::{check_padded, human_bytes, metadata_limit};
use emio_core::metadata::{base_metadata, merge, set_path};
use emio_core::options::Shape;
use emio_core::source::element_count;
use emio_core::{
    ArraySource, Axis, ByteOrder, DType, Dataset, Error, Format, FormatInfo, OptionSet, Options,
    Problem, Result, ResultExt, Storage, StridedSource, Tree, WriteRequest, Writes,
};
use serde_json::Value;

use header::{Header, Mode, HEADER_LEN};
use sources::{Build, Codec, ComplexInt16, Decompressed, Packed4, PlacedFrames};

/// MRC2014 / CCP4 maps, image stacks and Direct Electron movies.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mrc;

emio_core::option_choice! {
    /// The byte order the MRC reader assumes (its `endianness` option).
    pub enum ReadEndianness {
        Auto = "auto": "from the machine stamp, with fallbacks",
        Little = "<": "little-endian",
        Big = ">": "big-endian",
    }
}

emio_core::options! {
    /// Options of the MRC reader.
    pub struct ReadOptions {
        /// split the sections into this navigation shape, fastest axis first (rsciio's order)
        navigation_shape: Option<Shape> = None,
        /// Direct Electron *_info.txt: a path, auto (found by name beside the file) or none
        metadata_file: PathBuf = Some("auto"),
        /// Direct Electron *_scan_coordinates.csv for custom/random scans (default: found by
        /// name)
        scan_file: Option<PathBuf> = None,
        /// byte order of the file
        endianness: ReadEndianness = Some("auto"),
    }
}

/// Largest extended header interpreted as metadata (its bytes are never pixel data).
const MAX_EXT_INTERPRETED: u64 = 64 << 20;

/// Where a file's bytes come from.
enum Bytes {
    /// Memory-mapped uncompressed file.
    Mapped(Storage),
    /// A compressed file: the header and extended header decompressed so far.
    Compressed { codec: Codec, head: Vec<u8> },
}

/// The arrangement of the logical array, before its bytes are available.
#[derive(Debug, Clone)]
struct Geometry {
    offset: u64,
    mode: Mode,
    order: ByteOrder,
    /// Packed 4-bit data: stored (sections, rows, columns).
    packed: Option<[u64; 3]>,
    /// Shape and byte strides of the strided view (per stored element).
    shape: Vec<u64>,
    strides: Vec<i64>,
    /// Frames placed on a navigation grid: (navigation shape, frame per position).
    placed: Option<(Vec<u64>, Arc<[u32]>)>,
}

impl Geometry {
    fn final_shape(&self) -> Vec<u64> {
        match &self.placed {
            Some((nav, _)) => {
                let mut s = nav.clone();
                s.extend_from_slice(&self.frame_shape()[1..]);
                s
            }
            None => self.frame_shape(),
        }
    }

    /// When frames are placed on a scan grid (Direct Electron scans) and some positions
    /// have no frame in the file (they read as zeros): a warning saying how many, after
    /// checking that the grid stays mostly stored in the `file_size`-byte file (a scan file
    /// of millions of lines cannot make a small movie claim gigabytes of zeros).
    fn missing_frames(&self, file_size: u64) -> Result<Option<String>> {
        let Some((_, map)) = &self.placed else {
            return Ok(None);
        };
        let missing = map.iter().filter(|&&m| m == sources::NO_FRAME).count() as u64;
        if missing == 0 {
            return Ok(None);
        }
        let positions = map.len() as u64;
        let frame = self.frame_shape()[1..]
            .iter()
            .product::<u64>()
            .saturating_mul(self.mode.stored_size().unwrap_or(1) as u64);
        check_padded(
            "mrc",
            "the scan grid (info and scan coordinates files)",
            positions.saturating_mul(frame),
            (positions - missing).saturating_mul(frame),
            file_size,
        )?;
        Ok(Some(format!(
            "{missing} of the {positions} scan positions have no frame in the file; they read as zeros"
        )))
    }

    fn frame_shape(&self) -> Vec<u64> {
        match self.packed {
            Some(p) => p.to_vec(),
            None => self.shape.clone(),
        }
    }

    fn build(&self, storage: Storage) -> Result<Arc<dyn ArraySource>> {
        let frames: Arc<dyn ArraySource> = if let Some(p) = self.packed {
            Arc::new(Packed4::new(storage, self.offset, p)?)
        } else if self.mode == Mode::ComplexInt16 {
            let mut shape = self.shape.clone();
            shape.push(2);
            let mut strides = self.strides.clone();
            strides.push(2);
            let pairs = StridedSource::new(
                "mrc",
                storage,
                self.offset,
                DType::I16,
                shape,
                strides,
                self.order,
            )?;
            Arc::new(ComplexInt16::new(pairs)?)
        } else {
            Arc::new(StridedSource::new(
                "mrc",
                storage,
                self.offset,
                self.mode.dtype(),
                self.shape.clone(),
                self.strides.clone(),
                self.order,
            )?)
        };
        match &self.placed {
            Some((nav, map)) => Ok(Arc::new(PlacedFrames::new(frames, nav, map.to_vec())?)),
            None => Ok(frames),
        }
    }

    /// Bytes from the file start the data needs.
    fn needed(&self) -> u64 {
        let data: i128 = match self.packed {
            Some([z, y, x]) => i128::from(Packed4::row_bytes(x)) * i128::from(y) * i128::from(z),
            None if self.shape.contains(&0) => 0,
            None => {
                let es = self.mode.stored_size().unwrap_or(1) as i128;
                let reach: i128 = self
                    .shape
                    .iter()
                    .zip(&self.strides)
                    .map(|(&n, &s)| (i128::from(n) - 1).max(0) * i128::from(s).abs())
                    .sum();
                reach + es
            }
        };
        u64::try_from(i128::from(self.offset) + data).unwrap_or(u64::MAX)
    }
}

/// One logical dimension while planning: its size, byte stride and axis.
#[derive(Debug, Clone)]
struct Dim {
    size: u64,
    stride: i64,
    axis: Axis,
}

/// Calibration of the physical axes X, Y, Z: (scale nm, offset nm, units).
fn calibrations(h: &Header, perm: [usize; 3], fei: Option<&Tree>) -> [(f64, f64, &'static str); 3] {
    let mut vox = h.voxel_size();
    if let Some(fei) = fei {
        let px = exthdr::fei_pixel_size_nm(fei);
        for k in 0..2 {
            if vox[k].is_none() {
                vox[k] = px[k].map(|nm| nm * 10.0);
            }
        }
    }
    let origin_set = h.origin.iter().any(|&o| o != 0.0 && o.is_finite());
    std::array::from_fn(|a| {
        let (scale, units) = match vox[a] {
            Some(v) => (v / 10.0, "nm"),
            None => (1.0, ""),
        };
        // MRC2014 origin when set; otherwise CCP4's start index times the voxel size
        // (the convention of EMDB maps and UCSF Chimera).
        let offset = if origin_set {
            f64::from(h.origin[a]) / 10.0
        } else {
            f64::from(h.nstart[perm[a]]) * scale
        };
        (scale, if offset.is_finite() { offset } else { 0.0 }, units)
    })
}

fn disabled(value: &str) -> bool {
    value.is_empty() || value.eq_ignore_ascii_case("none")
}

/// A companion text file, read whole unless it holds more than `limit` bytes (the data
/// file's metadata budget): then an error naming it.
fn read_text(path: &Path, limit: u64) -> Result<String> {
    let mut text = String::new();
    let n = emio_core::inputs::open(path)?
        .take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    if n as u64 > limit {
        return Err(Error::malformed_at_unknown(
            "mrc",
            format!(
                "a companion file within the metadata budget of {} (8 × the data file's size, \
                 at least 1 MiB, at most 64 MiB); it holds more",
                human_bytes(limit)
            ),
        )
        .with_path(path));
    }
    Ok(text)
}

/// The Direct Electron companions of a movie.
struct Companions {
    /// The `*_info.txt` file.
    info: PathBuf,
    /// The `*_scan_coordinates.csv` file, if any.
    scan: Option<PathBuf>,
    /// Most bytes read from each: the movie's metadata budget.
    limit: u64,
}

/// Direct Electron companions: the info file and scan coordinates, if any apply, read within
/// the metadata budget of the `file_size`-byte movie.
fn de_companions(path: &Path, options: &ReadOptions, file_size: u64) -> Result<Option<Companions>> {
    let info = match options.metadata_file.to_str() {
        Some(v) if disabled(v) => return Ok(None),
        Some("auto") => de::find_companion(path, "info.txt"),
        _ => Some(options.metadata_file.clone()),
    };
    let Some(info) = info else { return Ok(None) };
    let scan = match &options.scan_file {
        Some(v) if v.to_str().is_some_and(disabled) => None,
        Some(v) => Some(v.clone()),
        None => de::find_companion(path, "scan_coordinates.csv"),
    };
    Ok(Some(Companions {
        info,
        scan,
        limit: metadata_limit(file_size),
    }))
}

impl Mrc {
    fn open_impl(&self, path: &Path, options: &Options) -> Result<Dataset> {
        let options = ReadOptions::from_options(options)?;
        let forced = match options.endianness {
            ReadEndianness::Little => Some(ByteOrder::Little),
            ReadEndianness::Big => Some(ByteOrder::Big),
            ReadEndianness::Auto => None,
        };
        let mut magic = [0u8; 4];
        let mut file = emio_core::inputs::open(path)?;
        let file_size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let n = file.read(&mut magic).map_err(|e| Error::io(path, e))?;
        let bytes = match Codec::detect(&magic[..n]) {
            Some(codec) => {
                let head = sources::decompress_head(path, codec, HEADER_LEN as u64)?;
                Bytes::Compressed { codec, head }
            }
            None => Bytes::Mapped(Storage::map(path)?),
        };
        let head: &[u8] = match &bytes {
            Bytes::Mapped(s) => s,
            Bytes::Compressed { head, .. } => head,
        };
        let h = Header::parse(head, forced)?;
        let ext_len = (h.nsymbt as u64).min(MAX_EXT_INTERPRETED);
        let ext: Vec<u8> = match &bytes {
            Bytes::Mapped(s) => {
                if h.data_offset() > s.len() as u64 {
                    return Err(Error::malformed(
                        "mrc",
                        92,
                        format!(
                            "an extended header of {} bytes inside the {}-byte file",
                            h.nsymbt,
                            s.len()
                        ),
                    ));
                }
                s[HEADER_LEN..HEADER_LEN + ext_len as usize].to_vec()
            }
            Bytes::Compressed { codec, .. } => {
                let all = sources::decompress_head(path, *codec, HEADER_LEN as u64 + ext_len)?;
                all.get(HEADER_LEN..).unwrap_or(&[]).to_vec()
            }
        };
        let sections = h.nz as usize;
        let extended = exthdr::interpret(&h, &ext, sections);
        let companions = de_companions(path, &options, file_size)?;
        // A shape emio recorded in a label (data of more dimensions than MRC describes)
        // applies like navigation_shape, unless the user gives one.
        let recorded = match &companions {
            None if !h.is_volume_stack() => recorded_navigation(&h),
            _ => None,
        };
        let nav_option = options.navigation_shape.map(|s| s.0).or(recorded);

        let file_name = emio_core::metadata::file_name(path);
        // MRC files carry no title: HyperSpy leaves it empty (labels are not titles).
        let mut metadata = base_metadata("", &file_name, "");
        let mut original = Tree::new();
        original.insert("mrc_header".into(), Value::Object(h.to_tree()));
        if !extended.tree.is_empty() {
            original.insert(
                "extended_header".into(),
                Value::Object(extended.tree.clone()),
            );
        }
        if let Some(fei) = &extended.fei {
            exthdr::fei_metadata(fei, &mut metadata);
            original.insert("fei_header".into(), Value::Object(fei.clone()));
        }

        let (geometry, axes) = self.plan(
            &h,
            extended.fei.as_ref(),
            nav_option.as_deref(),
            companions.as_ref(),
            &mut metadata,
            &mut original,
        )?;
        let missing = geometry.missing_frames(file_size)?;
        let dtype = h.mode.dtype();
        let source: Arc<dyn ArraySource> = match bytes {
            Bytes::Mapped(storage) => geometry.build(storage)?,
            Bytes::Compressed { codec, .. } => {
                let shape = geometry.final_shape();
                let mut chunk = vec![1u64; shape.len()];
                let keep = shape.len().min(2);
                chunk[shape.len() - keep..].copy_from_slice(&shape[shape.len() - keep..]);
                let needed = geometry.needed();
                let g = geometry.clone();
                let build: Build = Arc::new(move |s| g.build(s));
                Arc::new(Decompressed::new(
                    path.to_path_buf(),
                    codec,
                    needed,
                    (dtype, shape, chunk),
                    build,
                ))
            }
        };
        let mut dataset = Dataset::new(source, axes, metadata, original)?;
        if let Some(warning) = missing {
            dataset.warn(warning);
        }
        Ok(dataset)
    }

    /// Lay out the logical array: shape, strides, placement and axes.
    fn plan(
        &self,
        h: &Header,
        fei: Option<&Tree>,
        nav_option: Option<&[u64]>,
        companions: Option<&Companions>,
        metadata: &mut Tree,
        original: &mut Tree,
    ) -> Result<(Geometry, Vec<Axis>)> {
        let (nx, ny, nz) = (h.nx as u64, h.ny as u64, h.nz as u64);
        let packed = h.mode == Mode::Packed4;
        // Apply mapc/mapr/maps only when it is a valid permutation (and never to packed data).
        let perm = h
            .axis_permutation()
            .filter(|_| !packed)
            .unwrap_or([0, 1, 2]);
        let cal = calibrations(h, perm, fei);
        let es = h.mode.stored_size().unwrap_or(1) as i64;
        let stored_size = [nx, ny, nz];
        let stored_stride = [es, es * nx as i64, es * (nx * ny) as i64];
        let names = ["x", "y", "z"];
        let mut dims: Vec<Dim> = (0..3)
            .rev()
            .map(|a| {
                let (scale, offset, units) = cal[a];
                Dim {
                    size: stored_size[perm[a]],
                    stride: stored_stride[perm[a]],
                    axis: Axis::uniform(names[a], units, scale, offset, a == 2),
                }
            })
            .collect();
        if h.is_volume_stack() && !packed {
            let mz = h.mxyz[2] as u64;
            dims[0].size = mz;
            dims.insert(
                0,
                Dim {
                    size: nz / mz,
                    stride: stored_stride[2].saturating_mul(mz as i64),
                    axis: Axis::uniform("volume", "", 1.0, 0.0, true),
                },
            );
        }
        let geometry = |dims: &[Dim], placed| Geometry {
            offset: h.data_offset(),
            mode: h.mode,
            order: h.order,
            packed: packed.then_some([nz, ny, nx]),
            shape: dims.iter().map(|d| d.size).collect(),
            strides: dims.iter().map(|d| d.stride).collect(),
            placed,
        };
        if let (Some(c), 3) = (companions, dims.len()) {
            let (info_path, scan_path) = (&c.info, &c.scan);
            let info = de::parse_info(&read_text(info_path, c.limit)?);
            let scan = match scan_path {
                Some(p) => Some(de::parse_scan(&read_text(p, c.limit)?).with_path(p)?),
                None => None,
            };
            let frames = dims[0].size;
            let layout = de::layout(&info, scan.as_deref(), frames, nav_option)?;
            merge(metadata, layout.metadata);
            original.insert("de_metadata".into(), Value::Object(info));
            set_path(
                original,
                "de_files.metadata_file",
                info_path.display().to_string(),
            );
            if let Some(p) = scan_path {
                set_path(original, "de_files.scan_file", p.display().to_string());
            }
            let (virtual_images, external_images) = de::related_images(info_path);
            set_path(original, "de_files.virtual_images", virtual_images);
            set_path(original, "de_files.external_images", external_images);
            let n_nav = layout.nav_shape.len();
            for (d, axis) in dims[1..].iter_mut().zip(&layout.axes[n_nav..]) {
                d.axis = axis.clone();
            }
            let nav_count: u64 = layout.nav_shape.iter().product();
            if layout.map.is_some() || nav_count != frames || packed {
                // Frames placed on the scan grid by the source; the stack stays 3-D here.
                let map = layout.map.unwrap_or_else(|| {
                    (0..nav_count)
                        .map(|i| {
                            if i < frames {
                                i as u32
                            } else {
                                sources::NO_FRAME
                            }
                        })
                        .collect()
                });
                let placed = Some((layout.nav_shape, Arc::from(map)));
                return Ok((geometry(&dims, placed), layout.axes));
            }
            let signal = dims.split_off(1);
            dims = split(&layout.nav_shape, dims[0].stride, &layout.axes[..n_nav]);
            dims.extend(signal);
        } else if let Some(nav) = nav_option {
            let frames_dim = dims.len() - 3;
            let count = element_count(nav);
            if count != Some(dims[frames_dim].size) || packed {
                return Err(emio_core::options::shape_misfit(
                    "navigation_shape",
                    nav,
                    dims[frames_dim].size,
                    "",
                ));
            }
            let c_order: Vec<u64> = nav.iter().rev().copied().collect();
            let mut axes: Vec<Axis> = (1..c_order.len())
                .map(|_| Axis::default_for(true))
                .collect();
            axes.push(dims[frames_dim].axis.clone());
            let split_dims = split(&c_order, dims[frames_dim].stride, &axes);
            dims.splice(frames_dim..=frames_dim, split_dims);
        }
        // Singleton dimensions are dropped, as rsciio does; at least one stays.
        if !packed && dims.iter().filter(|d| d.size != 1).count() > 0 {
            dims.retain(|d| d.size != 1);
        } else if !packed && dims.len() > 1 {
            dims.drain(..dims.len() - 1);
        }
        let axes = dims.iter().map(|d| d.axis.clone()).collect();
        Ok((geometry(&dims, None), axes))
    }
}

/// The navigation shape (fastest first, as `navigation_shape`) of the label emio writes for
/// data of more dimensions than the header describes, when it fits this file: its frame
/// is the header's ny × nx, unpermuted, and its navigation positions are the nz sections.
fn recorded_navigation(h: &Header) -> Option<Vec<u64>> {
    let used = usize::try_from(h.nlabl).unwrap_or(0).min(h.labels.len());
    let shape = h.labels[..used]
        .iter()
        .find_map(|l| header::shape_label(l))?;
    let (nav, frame) = shape.split_at(shape.len().checked_sub(2)?);
    let positions = element_count(nav)?;
    let fits = frame == [h.ny as u64, h.nx as u64]
        && positions == h.nz as u64
        && nav.len() >= 2
        && h.axis_permutation() == Some([0, 1, 2])
        && h.mode != Mode::Packed4;
    fits.then(|| nav.iter().rev().copied().collect())
}

/// Split one dimension of byte stride `stride` into C-order `shape` with `axes`.
fn split(shape: &[u64], stride: i64, axes: &[Axis]) -> Vec<Dim> {
    let mut step = stride;
    let mut dims: Vec<Dim> = shape
        .iter()
        .zip(axes)
        .rev()
        .map(|(&size, axis)| {
            let d = Dim {
                size,
                stride: step,
                axis: axis.clone(),
            };
            step = step.saturating_mul(size as i64);
            d
        })
        .collect();
    dims.reverse();
    dims
}

impl Format for Mrc {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: "mrc",
            description:
                "MRC2014 / CCP4 maps and image stacks, Direct Electron movies (also .gz/.bz2)",
            extensions: &[
                "mrc", "mrcs", "map", "ccp4", "rec", "st", "ali", "mrc.gz", "mrc.bz2", "mrcs.gz",
                "mrcs.bz2", "map.gz", "map.bz2", "ccp4.gz", "ccp4.bz2", "rec.gz", "rec.bz2",
            ],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::file(write::WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        if header::looks_like_mrc(head) {
            return true;
        }
        // A gzip stream whose first decompressed kilobyte is an MRC header.
        if Codec::detect(head) == Some(Codec::Gzip) {
            let mut out = Vec::new();
            let ok = Codec::Gzip
                .reader(head)
                .take(HEADER_LEN as u64)
                .read_to_end(&mut out)
                .is_ok();
            return ok && header::looks_like_mrc(&out);
        }
        false
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        Ok(vec![self.open_impl(path, options)?])
    }

    fn validate(&self, path: &Path) -> Vec<Problem> {
        validate::validate(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request)
    }
}
