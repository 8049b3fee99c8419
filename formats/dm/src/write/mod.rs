//! The DM3/DM4 writer: one image with its dtype, dimensions, calibrations, title and tags,
//! laid out the way GMS and Nion Swift write minimal files (`ImageList`,
//! `DocumentObjectList`, `ImageSourceList`). DM4 (64-bit sizes) is the default; a `.dm3`
//! path gets DM3 (32-bit sizes, no per-tag size field), which holds files below 4 GiB.
//!
//! The tag tree is built first with the pixel array as a placeholder of known size, so
//! every group's byte size (DM4 stores them, and both store the root's) is computed before
//! writing; the pixels then go into the placeholder's place region by region, each at its
//! position in the file (`place_pixels`). Spectrum images (one signal axis, last, after two
//! or more navigation axes) are streamed energy-slowest as DM stores them, regions of whole
//! energy planes transposed by core's write pipeline.
//!
//! Tags come from the dataset's original metadata when it was read from a DM file (its
//! `ImageTags` and top-level tags), otherwise from its normalized metadata translated to the
//! DM tags the reader maps back (`Microscope Info.Voltage`, `DataBar.Acquisition Date`, ...).

mod layout;
mod mapping;
mod tags;

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use emio_core::output::STREAM_REGION_BYTES;
use emio_core::plan::WritePlan;
use emio_core::positioned::COrderFile;
use emio_core::{DType, Dataset, Error, Progress, Result};

pub(crate) use layout::{Geometry, PixelFormat};
pub(crate) use tags::Tags;
pub use tags::{Version, WData, WTag};

use layout::{build_tree, geometry, pixel_format};
use tags::{body_size, TagWriter};

const FORMAT: &str = "dm";

/// Convert native C-order region bytes of `dtype` to the DM on-disk bytes (little-endian,
/// colour as `0xAARRGGBB` values, half floats widened) in place: a new buffer only where
/// DM's values are wider.
fn to_disk(dtype: DType, buffer: &mut Vec<u8>) {
    match dtype {
        DType::Rgba8 => {
            for px in buffer.chunks_exact_mut(4) {
                px.swap(0, 2);
            }
        }
        DType::Rgb8 => {
            *buffer = buffer
                .chunks_exact(3)
                .flat_map(|px| [px[2], px[1], px[0], 0])
                .collect();
        }
        DType::F16 => {
            *buffer = buffer
                .chunks_exact(2)
                .flat_map(|h| {
                    emio_core::half::f16::from_ne_bytes([h[0], h[1]])
                        .to_f32()
                        .to_le_bytes()
                })
                .collect();
        }
        other if cfg!(target_endian = "big") => {
            emio_core::dtype::swap_bytes_in_place(buffer, other.swap_unit())
        }
        _ => {}
    }
}

/// Stream the pixels of a spectrum image energy-slowest, as DM stores them: regions of
/// whole energy planes (about [`STREAM_REGION_BYTES`] each), which core's write pipeline
/// reads and converts ([`to_disk`]) in parallel and hands over in the stored axis order
/// (energy first), transposed by its tiled kernels.
pub(crate) fn stream_spectrum_image(
    ds: &Dataset,
    progress: &dyn Progress,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let shape = ds.shape();
    let n = shape.len();
    let es = ds.dtype().size() as u64;
    let plane: u64 = shape[..n - 1].iter().product::<u64>().max(1);
    let mut chunk = shape.to_vec();
    chunk[n - 1] = (STREAM_REGION_BYTES / (plane * es).max(1)).clamp(1, shape[n - 1].max(1));
    let energy_first: Vec<usize> = std::iter::once(n - 1).chain(0..n - 1).collect();
    WritePlan::new(&chunk)
        .stored_order(&energy_first)
        .write_in_order(
            ds,
            progress,
            |_, buffer| {
                to_disk(ds.dtype(), buffer);
                Ok(())
            },
            |_, bytes| sink(bytes),
        )
        .map(|_| ())
}

/// The checks and the tag tree every DM writer starts from: the pixel format, where the
/// axes go, and the whole tag tree with the pixels as a placeholder.
pub(crate) fn prepare(ds: &Dataset) -> Result<(PixelFormat, Geometry, Tags)> {
    let pf = pixel_format(ds.dtype())?;
    if ds.ndim() == 0 || ds.ndim() > 4 {
        return Err(Error::unsupported(
            FORMAT,
            format!(
                "{}-dimensional data (DM images have 1 to 4 dimensions)",
                ds.ndim()
            ),
        ));
    }
    let geo = geometry(ds);
    let tree = build_tree(ds, pf, &geo);
    Ok((pf, geo, tree))
}

/// Write the pixels of `ds` (C order, not a spectrum image) into `file` (named `path`)
/// from byte `at` on, each region at its place ([`COrderFile`]: the regions follow the
/// source's chunks where the C-order stream would cut them, [`WritePlan::positioned`]),
/// converted to DM's bytes ([`to_disk`]) and then by `finish` on the workers.
pub(crate) fn place_pixels(
    ds: &Dataset,
    file: &File,
    path: &Path,
    at: u64,
    progress: &dyn Progress,
    finish: impl Fn(&mut Vec<u8>) + Sync,
) -> Result<()> {
    let target = COrderFile::new(file, path, at, ds.shape());
    WritePlan::positioned(ds)
        .write_in_order(
            ds,
            progress,
            |_, buffer| {
                to_disk(ds.dtype(), buffer);
                finish(buffer);
                Ok(())
            },
            |region, bytes| target.place(region, bytes),
        )
        .map(|_| ())
}

/// Write `ds` as a DM3 or DM4 file at `path`.
pub fn write_dm(
    ds: &Dataset,
    path: &Path,
    version: Version,
    progress: &dyn Progress,
) -> Result<()> {
    let (pf, geo, tree) = prepare(ds)?;
    let pixels = (pf, ds.len());
    let root_size = body_size(&WTag::Group(tree.clone()), pixels, version);
    if version == Version::Dm3
        && (root_size > u64::from(u32::MAX) || ds.len() > u64::from(u32::MAX))
    {
        return Err(Error::unsupported(
            FORMAT,
            format!("{root_size} bytes in a DM3 file (its 32-bit sizes stop at 4 GiB); write .dm4"),
        ));
    }
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = TagWriter {
        out: BufWriter::with_capacity(1 << 20, file),
        path,
        pixels,
        version,
    };
    w.put(&(if version == Version::Dm3 { 3u32 } else { 4 }).to_be_bytes())?;
    w.put_word(root_size)?;
    w.put(&1u32.to_be_bytes())?;
    let mut stream = |out: &mut BufWriter<File>| -> Result<()> {
        if geo.spectrum_image {
            stream_spectrum_image(ds, progress, &mut |bytes| {
                out.write_all(bytes).map_err(|e| Error::io(path, e))
            })
        } else {
            // Seeking flushes what the writer holds, so the file is whole up to `at`.
            let io = |e| Error::io(path, e);
            let at = out.stream_position().map_err(io)?;
            place_pixels(ds, out.get_ref(), path, at, progress, |_| {})?;
            out.seek(SeekFrom::Start(at + ds.len() * pf.size))
                .map_err(io)
                .map(|_| ())
        }
    };
    w.group_body(&tree, &mut stream)?;
    // DigitalMicrograph ends DM3 and DM4 files alike with 8 zero bytes.
    w.put(&[0u8; 8])?;
    w.out.flush().map_err(|e| Error::io(path, e))?;
    Ok(())
}
