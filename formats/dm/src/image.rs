//! One DM image (an entry of `ImageList`) as an emio dataset: dtype, shape, axes, lazy
//! pixel source, normalized metadata.
//!
//! The mapping follows rsciio's reading (which HyperSpy completes with rsciio's metadata
//! mapping; emio applies that mapping itself): shape is `ImageData.Dimensions` reversed
//! (DM lists the fastest axis first); calibrations come from
//! `ImageData.Calibrations.Dimension` with `offset = -origin * scale`; spectrum images
//! (`Meta Data.Format` = "Spectrum image" or an Orsay `spim` group) with more than two
//! dimensions get their energy axis (stored slowest) moved last, as HyperSpy's
//! `to_signal1D` does.
//!
//! The container is behind [`PixelStore`]: the same mapping serves DM3/DM4 (pixels in the
//! tag file, [`TagPixels`]) and DM5 (pixels in an HDF5 dataset).

use std::sync::Arc;

use emio_core::metadata::value_f64;
use emio_core::serde_json::Value;
use emio_core::{ArraySource, Axis, ByteOrder, DType, Error, Result, Storage, StridedSource, Tree};

use crate::lookup::lookup;
use crate::mapping::image_metadata;
use crate::source::{BgraSource, OldPackedComplexSource, PackedComplexSource};

const FORMAT: &str = "dm";

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(value_f64)
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// What kind of signal an image holds, from its tags: rsciio's rules, refined where the
/// tags say more (X-rays acquired in an SEM are `EDS_SEM`; a TEM-mode image taken with the
/// projector in diffraction and no scanning is `electron_diffraction`).
pub fn signal_type(image: &Tree, ndim: usize) -> &'static str {
    let md_signal = text(lookup(image, "ImageTags.Meta Data.Signal"));
    let illumination = text(lookup(image, "ImageTags.Microscope Info.Illumination Mode"));
    if md_signal == "X-ray" {
        if illumination.contains("SEM") && !illumination.contains("STEM") {
            "EDS_SEM"
        } else {
            "EDS_TEM"
        }
    } else if md_signal == "CL"
        || lookup(image, "ImageTags.Acquisition.Monarc Spectrometer").is_some()
    {
        "CL"
    } else if md_signal == "EELS" || lookup(image, "ImageTags.spim.eels").is_some() {
        "EELS"
    } else if ndim >= 2
        && illumination == "TEM"
        && text(lookup(image, "ImageTags.Microscope Info.Imaging Mode")) == "DIFFRACTION"
        && lookup(image, "ImageTags.DigiScan").is_none()
    {
        "electron_diffraction"
    } else {
        ""
    }
}

fn is_spectrum(image: &Tree, formats: &[&str]) -> bool {
    let format = text(lookup(image, "ImageTags.Meta Data.Format"));
    formats.contains(&format.as_str()) || lookup(image, "ImageTags.spim").is_some()
}

/// Element layout of a DM `DataType`.
enum Layout {
    /// Stored as the logical dtype.
    Plain(DType),
    /// B, G, R, A bytes.
    Bgra,
    /// Half-plane complex FFT data (DataType 27/28) of the given complex type.
    Packed(DType),
    /// DM 2's packed complex layout (DataType 5): float32 values.
    OldPacked,
}

fn layout(data_type: i64, bytes_per_element: Option<u64>) -> Result<Layout> {
    Ok(match data_type {
        1 => Layout::Plain(DType::I16),
        2 => Layout::Plain(DType::F32),
        3 => Layout::Plain(DType::C64),
        // DataType 4 is the obsolete unsigned 16-bit type of DM 2 files.
        4 if bytes_per_element == Some(2) => Layout::Plain(DType::U16),
        5 => Layout::OldPacked,
        6 => Layout::Plain(DType::U8),
        7 => Layout::Plain(DType::I32),
        8 | 23 => Layout::Bgra,
        9 => Layout::Plain(DType::I8),
        10 => Layout::Plain(DType::U16),
        11 => Layout::Plain(DType::U32),
        12 => Layout::Plain(DType::F64),
        13 => Layout::Plain(DType::C128),
        14 => Layout::Plain(DType::Bool),
        27 => Layout::Packed(DType::C64),
        28 => Layout::Packed(DType::C128),
        other => {
            return Err(Error::unsupported(
                FORMAT,
                format!("image DataType {other}"),
            ))
        }
    })
}

/// Where an image's pixel values are stored: in the tag file's bytes (DM3/DM4,
/// [`TagPixels`]) or in an HDF5 dataset (DM5, `crate::dm5`). [`dataset_parts`] asks it for
/// the stored values and builds everything else (dtype, layout, axes, metadata) itself,
/// so every DM version goes through one mapping.
pub trait PixelStore {
    /// Bytes per stored element of an image of `count` elements, when the container says
    /// (DataType 4 is 16-bit only when this is 2).
    fn element_bytes(&self, count: u64) -> Option<u64>;
    /// A lazy source over the stored values as `dtype` elements of the C-order
    /// `stored_shape`, seen with dimension `i` being stored dimension `perm[i]`. An error
    /// when the container holds other or fewer values. For [`DType::Rgba8`], the source
    /// gives the raw 4-byte colour values (see [`PixelStore::colour_big_endian`]).
    fn source(
        &self,
        dtype: DType,
        stored_shape: &[u64],
        perm: &[usize],
    ) -> Result<Arc<dyn ArraySource>>;
    /// Whether the raw colour values arrive as A, R, G, B bytes (big-endian `0xAARRGGBB`)
    /// rather than B, G, R, A.
    fn colour_big_endian(&self) -> bool;
}

/// The pixels of a DM3/DM4 image: an array of the tag file, memory-mapped.
pub struct TagPixels<'a> {
    storage: &'a Storage,
    offset: u64,
    nbytes: u64,
    order: ByteOrder,
}

impl<'a> TagPixels<'a> {
    /// The pixel array of `image` (its JSON tag tree, whose `ImageData.Data` is the summary
    /// `{offset, size_bytes, ...}` of the array) in the mapped tag file `storage`.
    pub fn new(image: &Tree, storage: &'a Storage, little: bool) -> Result<Self> {
        let d = image
            .get("ImageData")
            .and_then(|d| d.get("Data"))
            .and_then(Value::as_object)
            .ok_or_else(|| Error::malformed_at_unknown(FORMAT, "an ImageData.Data array"))?;
        let field = |k: &str| d.get(k).and_then(Value::as_u64);
        match (field("offset"), field("size_bytes")) {
            (Some(offset), Some(nbytes)) => Ok(TagPixels {
                storage,
                offset,
                nbytes,
                order: if little {
                    ByteOrder::Little
                } else {
                    ByteOrder::Big
                },
            }),
            _ => Err(Error::malformed_at_unknown(
                FORMAT,
                "ImageData.Data to be an array of pixels",
            )),
        }
    }
}

impl PixelStore for TagPixels<'_> {
    fn element_bytes(&self, count: u64) -> Option<u64> {
        (count > 0).then(|| self.nbytes / count)
    }

    fn source(
        &self,
        dtype: DType,
        stored_shape: &[u64],
        perm: &[usize],
    ) -> Result<Arc<dyn ArraySource>> {
        let needed = emio_core::source::element_count(stored_shape)
            .and_then(|n| n.checked_mul(dtype.size() as u64));
        if needed.is_none_or(|n| n > self.nbytes) {
            return Err(Error::malformed(
                FORMAT,
                self.offset,
                format!(
                    "{} bytes of {dtype} pixels for shape {stored_shape:?}, found {}",
                    needed.map_or("more than 2^64".into(), |n| n.to_string()),
                    self.nbytes
                ),
            ));
        }
        let s = StridedSource::contiguous(
            FORMAT,
            self.storage.clone(),
            self.offset,
            dtype,
            stored_shape.to_vec(),
            self.order,
        )?;
        Ok(Arc::new(s.permuted(perm)?))
    }

    fn colour_big_endian(&self) -> bool {
        self.order == ByteOrder::Big
    }
}

/// What a dataset is built from: its pixel source, axes and normalized metadata.
pub type DatasetParts = (Arc<dyn ArraySource>, Vec<Axis>, Tree);

/// Build the dataset of one image. `image` is the image's JSON tag tree (as in
/// `original_metadata`), `pixels` where its values are stored.
pub fn dataset_parts(
    image: &Tree,
    pixels: &dyn PixelStore,
    filename: &str,
) -> Result<DatasetParts> {
    let image_data = image
        .get("ImageData")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::malformed_at_unknown(FORMAT, "an ImageData group in the image"))?;
    let dims: Vec<u64> = match image_data.get("Dimensions") {
        Some(Value::Object(m)) => m
            .values()
            .map(|v| {
                v.as_u64().ok_or_else(|| {
                    Error::malformed_at_unknown(FORMAT, "non-negative integer image dimensions")
                })
            })
            .collect::<Result<_>>()?,
        _ => {
            return Err(Error::malformed_at_unknown(
                FORMAT,
                "an ImageData.Dimensions group",
            ))
        }
    };
    let shape: Vec<u64> = dims.iter().rev().copied().collect();
    let count = emio_core::source::element_count(&shape).ok_or_else(|| {
        Error::malformed_at_unknown(FORMAT, "image dimensions that do not overflow")
    })?;
    let data_type = image_data
        .get("DataType")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::malformed_at_unknown(FORMAT, "an ImageData.DataType number"))?;
    let per_element = pixels.element_bytes(count);
    let identity: Vec<usize> = (0..shape.len()).collect();
    let plain = |dtype: DType, stored_shape: &[u64]| pixels.source(dtype, stored_shape, &identity);
    let spectrum_image = is_spectrum(image, &["Spectrum image"]) && shape.len() > 2;
    // Spectrum images store energy slowest (`shape` is (E, nav...)); HyperSpy's
    // to_signal1D moves it last: the stored array is seen as (nav..., E). The core copy kernel transposes in
    // cache tiles, and regions from `Dataset::read_chunk_shape` follow the storage.
    let arranged = |dtype: DType| -> Result<Arc<dyn ArraySource>> {
        if spectrum_image {
            let mut perm: Vec<usize> = (1..shape.len()).collect();
            perm.push(0);
            pixels.source(dtype, &shape, &perm)
        } else {
            plain(dtype, &shape)
        }
    };
    let source: Arc<dyn ArraySource> = match layout(data_type, per_element)? {
        Layout::Plain(dtype) => arranged(dtype)?,
        Layout::Bgra => Arc::new(BgraSource::new(
            arranged(DType::Rgba8)?,
            pixels.colour_big_endian(),
        )),
        _ if spectrum_image => {
            return Err(Error::unsupported(
                FORMAT,
                "spectrum images of packed complex data",
            ))
        }
        Layout::Packed(dtype) => {
            let mut stored = shape.clone();
            match stored.last_mut() {
                Some(w) if *w >= 2 => *w = *w / 2 + 1,
                _ => {
                    return Err(Error::unsupported(
                        FORMAT,
                        "packed complex data with a last dimension shorter than 2",
                    ))
                }
            }
            Arc::new(PackedComplexSource::new(
                plain(dtype, &stored)?,
                shape.clone(),
            ))
        }
        Layout::OldPacked => {
            if shape.len() != 2
                || shape[0] != shape[1]
                || !shape[0].is_multiple_of(2)
                || shape[0] < 2
            {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("DataType 5 packed complex data of shape {shape:?} (needs 2N x 2N)"),
                ));
            }
            Arc::new(OldPackedComplexSource::new(plain(DType::F32, &shape)?))
        }
    };
    let signal_type = signal_type(image, shape.len());
    let axes = axes(image_data, image, &shape, signal_type, spectrum_image);
    let metadata = image_metadata(image, filename, signal_type);
    Ok((source, axes, metadata))
}

/// Calibrated axes in C order (rsciio's names and navigate flags).
fn axes(
    image_data: &Tree,
    image: &Tree,
    shape: &[u64],
    signal_type: &str,
    spectrum_image: bool,
) -> Vec<Axis> {
    let n = shape.len();
    let cal: Vec<&Tree> = match lookup(image_data, "Calibrations.Dimension") {
        Some(Value::Object(m)) => m.values().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    // DM order (fastest first), padded with uncalibrated entries, then reversed to C order.
    let mut scales = Vec::with_capacity(n);
    let mut offsets = Vec::with_capacity(n);
    let mut units = Vec::with_capacity(n);
    for i in 0..n {
        let c = cal.get(i);
        let scale = c.and_then(|c| num(c.get("Scale"))).unwrap_or(1.0);
        let origin = c.and_then(|c| num(c.get("Origin"))).unwrap_or(0.0);
        scales.push(scale);
        offsets.push(-origin * scale);
        units.push(c.map(|c| text(c.get("Units"))).unwrap_or_default());
    }
    scales.reverse();
    offsets.reverse();
    units.reverse();
    // Names: the spectral axis by its units, then x, y, z from the fastest axis.
    let mut names: Vec<Option<&str>> = vec![None; n];
    let mut free: Vec<usize> = (0..n).collect();
    let spectral = match signal_type {
        "EELS" => Some(("eV", "Energy loss")),
        "EDS" | "EDX" => Some(("keV", "Energy")),
        "CL" => Some(("nm", "Wavelength")),
        _ => None,
    };
    if let Some((unit, name)) = spectral {
        if let Some(i) = units.iter().position(|u| u == unit) {
            names[free.remove(i)] = Some(name);
        }
    }
    for (&i, name) in free.iter().rev().zip(["x", "y", "z"]) {
        names[i] = Some(name);
    }
    // Navigate flags.
    let mut navigate = vec![true; n];
    if n == 1 {
        navigate[0] = false;
    } else if n == 2 && is_spectrum(image, &["Spectrum image", "Spectrum"]) {
        navigate[1] = false;
    } else if n >= 2 {
        navigate[n - 2] = false;
        navigate[n - 1] = false;
    }
    let mut axes: Vec<Axis> = (0..n)
        .map(|i| Axis {
            name: names[i].unwrap_or("").to_string(),
            units: units[i].clone(),
            navigate: navigate[i],
            kind: emio_core::AxisKind::Uniform {
                scale: scales[i],
                offset: offsets[i],
            },
        })
        .collect();
    if spectrum_image {
        let energy = axes.remove(0);
        for a in &mut axes {
            a.navigate = true;
        }
        axes.push(Axis {
            navigate: false,
            ..energy
        });
    }
    axes
}
