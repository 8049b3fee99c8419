//! Thermo Fisher (FEI) Velox EMD: images and image stacks per detector (complex FFT/DPC
//! images included), single spectra, and EDS spectrum images decoded lazily from the
//! `SpectrumStream` event stream (one `u16` channel index per X-ray count, 65535 = next
//! pixel). This module reads the data groups into datasets; `metadata` maps the JSON
//! metadata to HyperSpy's tree and `stream` decodes the spectrum stream.
//!
//! Options follow rsciio: `select_type`, `first_frame`, `last_frame`, `sum_frames`,
//! `sum_EDS_detectors`, `rebin_energy`, `SI_dtype`, `load_SI_image_stack`.

mod metadata;
mod stream;

use std::sync::Arc;

use emio_core::metadata::{set_path, Tree};
use emio_core::options::NumericDType;
use emio_core::serde_json::Value;
use emio_core::source::Select;
use emio_core::units::{compact, convert_prefixed};
use emio_core::{
    ArraySource, Axis, ChunkedSource, DType, Dataset, Error, OptionSet, Options, Result,
};

use emio_h5::H5File;

use metadata::{get, json_dataset, num, text};
use stream::{SpectrumDecoder, Stream};

emio_core::options! {
    /// Options of the reader for Thermo Fisher Velox EMD files.
    pub struct VeloxReadOptions {
        /// read only images, single spectra or the spectrum image
        select_type: Option<SelectType> = None,
        /// first frame of the EDS spectrum image
        first_frame: i64 = Some("0"),
        /// end (exclusive) of the frame range of the EDS spectrum image
        last_frame: Option<i64> = None,
        /// sum the EDS frames (false: a time axis of frames)
        sum_frames: bool = Some("true"),
        /// sum the EDS detectors (false: one spectrum image per detector)
        sum_EDS_detectors: bool = Some("true"),
        /// rebin the EDS energy axis by this factor
        rebin_energy: i64 = Some("1"),
        /// dtype of the EDS spectrum image (default: the stream encoding)
        SI_dtype: Option<NumericDType> = None,
        /// read every frame of the images acquired with the spectrum image
        load_SI_image_stack: bool = Some("false"),
    }
}

emio_core::option_choice! {
    /// What a Velox reader keeps (its `select_type` option).
    pub enum SelectType {
        Image = "image": "images only",
        Images = "images": "images only (rsciio's other spelling)",
        SingleSpectrum = "single_spectrum": "single spectra only",
        SpectrumImage = "spectrum_image": "the spectrum image only",
    }
}

/// Bytes of decoded spectrum image per chunk (a band of scan rows of one frame or of the
/// frame sum).
const SI_CHUNK_BYTES: u64 = 8 << 20;

/// Whether the file is a Velox EMD (`Version` JSON and a `Data` group).
pub fn is_velox(f: &H5File) -> bool {
    f.is_dataset("Version") && f.is_group("Data")
}

fn bad(what: impl Into<String>) -> Error {
    Error::malformed_at_unknown("emd", what.into())
}

/// What to read, from `select_type`.
#[derive(Debug, Clone, Copy)]
struct Selection {
    images: bool,
    spectra: bool,
    spectrum_image: bool,
}

struct Reader<'a> {
    f: &'a H5File,
    file_name: String,
    version: i64,
    base_om: Tree,
    labels: Vec<(String, String)>,
    detector_name: Option<String>,
    rebin: u64,
}

/// Read the datasets of a Velox file.
pub fn read(f: &H5File, file_name: &str, options: &Options) -> Result<Vec<Dataset>> {
    let options = VeloxReadOptions::from_options(options)?;
    let version_json = json_dataset(f, "Version")?;
    let version = num(version_json.get("version")).unwrap_or(0.0) as i64;
    let sel = match options.select_type {
        Some(SelectType::SingleSpectrum) => Selection {
            images: false,
            spectra: true,
            spectrum_image: false,
        },
        Some(SelectType::Image | SelectType::Images) => Selection {
            images: true,
            spectra: false,
            spectrum_image: false,
        },
        Some(SelectType::SpectrumImage) => Selection {
            images: false,
            spectra: false,
            spectrum_image: true,
        },
        None => Selection {
            images: true,
            spectra: true,
            spectrum_image: true,
        },
    };
    let rebin = options.rebin_energy;
    if rebin < 1 {
        return Err(Error::invalid_option("rebin_energy", "must be at least 1"));
    }
    let mut r = Reader {
        f,
        file_name: file_name.to_string(),
        version,
        base_om: Tree::new(),
        labels: Vec::new(),
        detector_name: None,
        rebin: rebin as u64,
    };
    for key in ["Displays", "Operations", "SharedProperties", "Features"] {
        if f.is_group(key) {
            let group = r.metadata_group(key)?;
            r.base_om.insert(key.into(), Value::Object(group));
        }
    }
    let has_image = f.is_group("Data/Image");
    let stream_type = has_image && f.is_group("Data/SpectrumImage");
    if stream_type {
        r.parse_image_display()?;
    }
    let mut out = Vec::new();
    if (!has_image || stream_type) && sel.spectra {
        r.read_spectra(&mut out)?;
    }
    let read_stack = options.load_SI_image_stack || !stream_type;
    let spatial = r.read_images(&mut out, sel, read_stack)?;
    if stream_type && sel.spectrum_image {
        if let Some(spatial) = spatial {
            r.read_spectrum_streams(&mut out, &options, spatial)?;
        }
    }
    Ok(out)
}

impl Reader<'_> {
    fn read_spectra(&mut self, out: &mut Vec<Dataset>) -> Result<()> {
        let g = "Data/Spectrum";
        if !self.f.is_group(g) {
            return Ok(());
        }
        self.detector_name = Some("EDS".into());
        for key in self.f.groups(g)? {
            let group = format!("{g}/{key}");
            let ds = self.f.dataset(&format!("{group}/Data"))?;
            let om = self.group_om(&group)?;
            let (disp, off, unit) = self.dispersion(&om);
            // Stored (channels, n); HyperSpy order is the transpose.
            let source = ds.source(Some(&(0..ds.shape.len()).rev().collect::<Vec<_>>()))?;
            let shape = source.shape().to_vec();
            let mut axes = Vec::new();
            let source: Arc<dyn ArraySource> = if shape.len() == 2 && shape[0] == 1 {
                Arc::new(Select::new(source, vec![Some(0), None])?)
            } else {
                if shape.len() == 2 {
                    axes.push(Axis::uniform("Stack", "", 1.0, 0.0, true));
                }
                source
            };
            axes.push(Axis::uniform("Energy", unit, disp, off, false));
            if axes.len() != source.shape().len() {
                return Err(bad(format!("a 1-D or 2-D spectrum at {group}")));
            }
            let mut md = self.metadata(&om, "EDS_TEM");
            self.map_eds(&om, &mut md);
            out.push(Dataset::new(source, axes, md, om)?);
        }
        Ok(())
    }

    /// Read the images; returns the spatial shape the spectrum stream uses.
    fn read_images(
        &mut self,
        out: &mut Vec<Dataset>,
        sel: Selection,
        read_stack: bool,
    ) -> Result<Option<(u64, u64)>> {
        let g = "Data/Image";
        if !self.f.is_group(g) || (!sel.images && !sel.spectrum_image) {
            return Ok(None);
        }
        let mut spatial = None;
        for key in self.f.groups(g)? {
            let group = format!("{g}/{key}");
            let mut om = self.group_om(&group)?;
            let info = self.detector_info(&om).cloned();
            self.detector_name = if self.base_om.contains_key("Operations") {
                self.detector_name_for(&key)
            } else {
                info.as_ref()
                    .and_then(|i| text(i.get("DetectorName")))
                    .or(self.detector_name.take())
            };
            let ds = self.f.dataset(&format!("{group}/Data"))?;
            let [h, w, frames] = ds.shape[..] else {
                return Err(bad(format!("a (y, x, frame) image at {group}")));
            };
            spatial = Some((h, w));
            if !sel.images {
                return Ok(spatial);
            }
            let source = ds.source(Some(&[2, 0, 1]))?;
            let stacked = read_stack && frames > 1;
            let source: Arc<dyn ArraySource> = if stacked {
                source
            } else {
                // Frame 0 of the (frames, y, x) stack.
                Arc::new(Select::new(source, vec![Some(0), None, None])?)
            };
            let mut axes = Vec::new();
            if stacked {
                let frame_time = num(get(&om, &["Scan", "FrameTime"])).or_else(|| {
                    let idx =
                        text(get(&om, &["BinaryResult", "DetectorIndex"])).unwrap_or_default();
                    num(get(
                        &om,
                        &["Detectors", &format!("Detector-{idx}"), "ExposureTime"],
                    ))
                });
                let (t, tu) = compact(frame_time.unwrap_or(1.0), "s", 2.0 * frames as f64);
                axes.push(Axis::uniform("Time", tu, t, 0.0, true));
            }
            axes.extend(spatial_axes(&om, w, false));
            let mut md = self.metadata(&om, "");
            if let Some((_, label)) = self.labels.iter().find(|(k, _)| *k == key) {
                set_path(&mut md, "General.title", label.as_str());
            }
            if let Some(name) = &self.detector_name {
                let dets = om.get("Detectors").and_then(Value::as_object);
                let det = dets
                    .and_then(|d| {
                        d.values()
                            .find(|v| v.get("DetectorName").and_then(Value::as_str) == Some(name))
                    })
                    .cloned()
                    .unwrap_or(Value::Null);
                om.insert("DetectorMetadata".into(), det);
            }
            out.push(Dataset::new(source, axes, md, om)?);
        }
        Ok(spatial)
    }

    fn read_spectrum_streams(
        &mut self,
        out: &mut Vec<Dataset>,
        options: &VeloxReadOptions,
        (h, w): (u64, u64),
    ) -> Result<()> {
        self.detector_name = Some("EDS".into());
        let f = self.f;
        let number_of_frames = f
            .groups("Data/SpectrumImage")?
            .first()
            .and_then(|k| {
                json_dataset(f, &format!("Data/SpectrumImage/{k}/SpectrumImageSettings")).ok()
            })
            .and_then(|j| num(j.get("endFramePosition")))
            .map(|v| v as u64);
        let g = "Data/SpectrumStream";
        let keys = if f.is_group(g) {
            f.groups(g)?
        } else {
            Vec::new()
        };
        if keys.is_empty() {
            // Pruned file (or bcf converted): no stream to decode, like rsciio.
            return Ok(());
        }
        let mut streams = Vec::new();
        for key in &keys {
            streams.push(Stream::open(f, &format!("{g}/{key}"), (h, w))?);
        }
        let total_frames = match number_of_frames {
            Some(n) => n,
            None => streams[0].frames()?,
        };
        let first = options.first_frame.max(0) as u64;
        let last = match options.last_frame {
            Some(l) if l < 0 => return Err(Error::invalid_option("last_frame", "negative")),
            Some(l) if (l as u64) > total_frames => {
                return Err(Error::invalid_option(
                    "last_frame",
                    format!("cannot exceed the number of frames, {total_frames}"),
                ))
            }
            Some(l) => l as u64,
            None => total_frames,
        };
        if last < first {
            return Err(Error::invalid_option(
                "first_frame",
                format!("{first} is after last_frame {last}"),
            ));
        }
        let bins = streams[0].bins;
        if bins % self.rebin != 0 {
            return Err(Error::invalid_option(
                "rebin_energy",
                format!("must divide the {bins} channels"),
            ));
        }
        let channels = bins / self.rebin;
        let dtype = match options.SI_dtype {
            Some(dtype) => dtype.0,
            None => NumericDType::from_name(&streams[0].encoding).unwrap_or(DType::U16),
        };
        let sum_frames = options.sum_frames;
        let groups: Vec<Vec<Arc<Stream>>> = if options.sum_EDS_detectors {
            vec![streams.into_iter().map(Arc::new).collect()]
        } else {
            streams.into_iter().map(|s| vec![Arc::new(s)]).collect()
        };
        for group in groups {
            let mut om = group[0].om.clone();
            let mut imported = Tree::new();
            imported.insert("First_frame".into(), first.into());
            imported.insert("Last_frame".into(), last.into());
            imported.insert("Number_of_frames".into(), total_frames.into());
            imported.insert("Rebin_energy".into(), self.rebin.into());
            imported.insert("Number_of_channels".into(), bins.into());
            om.insert("ImportedDataParameter".into(), Value::Object(imported));
            for (k, v) in &self.base_om {
                om.insert(k.clone(), v.clone());
            }
            let (disp, eoff, eunit) = self.dispersion(&om);
            let mut axes = Vec::new();
            let frames = last - first;
            if !sum_frames {
                let (t, tu) = match num(get(&om, &["Scan", "FrameTime"])) {
                    Some(ft) => compact(ft, "s", frames as f64),
                    None => (1.0, String::new()),
                };
                axes.push(Axis::uniform("Time", tu, t, 0.0, true));
            }
            axes.extend(spatial_axes(&om, w, true));
            axes.push(Axis::uniform("X-ray energy", eunit, disp, eoff, false));
            let mut shape = vec![h, w, channels];
            // Bands of scan rows: decoded in parallel, each from its rows' stretch of every
            // frame of the stream (located by the row index).
            let row = w * channels * dtype.size() as u64;
            let band = (SI_CHUNK_BYTES / row.max(1)).clamp(1, h.max(1));
            let chunk = if sum_frames {
                vec![band, w, channels]
            } else {
                shape.insert(0, frames);
                vec![1, band, w, channels]
            };
            let decoder = SpectrumDecoder {
                streams: group,
                first,
                last,
                sum_frames,
                rebin: self.rebin,
                dtype,
                shape: shape.clone(),
                chunk: chunk.clone(),
            };
            let source = ChunkedSource::new(dtype, shape, chunk, Box::new(decoder))?;
            let mut md = self.metadata(&om, "EDS_TEM");
            self.map_eds(&om, &mut md);
            out.push(Dataset::new(Arc::new(source), axes, md, om)?);
        }
        Ok(())
    }
}

/// The y and x axes of an image or scan `w` pixels wide, from `BinaryResult`'s pixel size,
/// offset and unit, in the SI prefix rsciio picks for the width.
fn spatial_axes(om: &Tree, w: u64, navigate: bool) -> [Axis; 2] {
    let br = om.get("BinaryResult").cloned().unwrap_or(Value::Null);
    let width = num(br.pointer("/PixelSize/width")).unwrap_or(1.0);
    let height = num(br.pointer("/PixelSize/height")).unwrap_or(1.0);
    let ox = num(br.pointer("/Offset/x")).unwrap_or(0.0);
    let oy = num(br.pointer("/Offset/y")).unwrap_or(0.0);
    let units = text(br.get("PixelUnitX")).unwrap_or_default();
    let (sx, xu) = compact(width, &units, w as f64);
    let sy = convert_prefixed(height, &units, &xu);
    [
        Axis::uniform(
            "y",
            xu.as_str(),
            sy,
            convert_prefixed(oy, &units, &xu),
            navigate,
        ),
        Axis::uniform(
            "x",
            xu.as_str(),
            sx,
            convert_prefixed(ox, &units, &xu),
            navigate,
        ),
    ]
}
