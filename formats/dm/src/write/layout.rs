//! The layout of a written DM file: the pixel format of a dtype, where the dataset's axes
//! go (spectrum images energy-slowest), and the whole tag tree GMS and Nion Swift write
//! for one image (`ImageList`, `DocumentObjectList`, `ImageSourceList`), with the pixels
//! as a placeholder.

use emio_core::metadata::{get_f64, get_path, get_str};
use emio_core::serde_json::Value;
use emio_core::{AxisKind, DType, Dataset, Error, Result, Tree};

use super::mapping::{quantity_units, tags_from_json, tags_from_metadata};
use super::tags::{float, group, int, text, WData, WTag};
use super::FORMAT;
use crate::tags::{ElemType, Scalar};

/// How the pixels are stored: DM `DataType`, array element type and size per value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelFormat {
    pub(super) data_type: i64,
    /// Simple element type, or the float type of complex (struct) elements.
    pub(super) elem: ElemType,
    /// Whether each element is a (re, im) struct.
    pub(super) complex: bool,
    /// Bytes per element on disk.
    pub(super) size: u64,
}

/// The pixel format DM stores `dtype` in (an error for a dtype DM has not).
pub(super) fn pixel_format(dtype: DType) -> Result<PixelFormat> {
    let f = |data_type, elem: ElemType| PixelFormat {
        data_type,
        elem,
        complex: false,
        size: elem.size(),
    };
    Ok(match dtype {
        DType::I16 => f(1, ElemType::I16),
        DType::F32 | DType::F16 => f(2, ElemType::F32),
        DType::U8 => f(6, ElemType::Octet),
        DType::I32 => f(7, ElemType::I32),
        DType::I8 => f(9, ElemType::Char),
        DType::U16 => f(10, ElemType::U16),
        DType::U32 => f(11, ElemType::U32),
        DType::F64 => f(12, ElemType::F64),
        DType::Bool => f(14, ElemType::Bool),
        DType::Rgb8 | DType::Rgba8 => f(23, ElemType::I32),
        DType::C64 => PixelFormat {
            data_type: 3,
            elem: ElemType::F32,
            complex: true,
            size: 8,
        },
        DType::C128 => PixelFormat {
            data_type: 13,
            elem: ElemType::F64,
            complex: true,
            size: 16,
        },
        other => {
            return Err(Error::unsupported(
                FORMAT,
                format!("{other} pixels (DM images have no such data type)"),
            ))
        }
    })
}
/// Where the dataset's axes go in the DM file.
pub(crate) struct Geometry {
    /// Whether this is a spectrum image written energy-slowest.
    pub(crate) spectrum_image: bool,
    /// `Meta Data.Format` to write, if any.
    format: Option<&'static str>,
    /// Axis indices (into `dataset.axes`) in DM order: fastest first.
    pub(crate) dm_axes: Vec<usize>,
}

/// Where the axes of `ds` go.
pub(super) fn geometry(ds: &Dataset) -> Geometry {
    let n = ds.ndim();
    let nav: Vec<bool> = ds.axes.iter().map(|a| a.navigate).collect();
    let one_signal_last = n >= 2 && !nav[n - 1] && nav[..n - 1].iter().all(|&b| b);
    let spectrum_image = one_signal_last && n >= 3;
    let format = if spectrum_image {
        Some("Spectrum image")
    } else if one_signal_last {
        Some("Spectrum")
    } else {
        None
    };
    let dm_axes = if spectrum_image {
        // Stored (E, nav...) in C order: DM order is the nav axes fastest first, then E.
        let mut v: Vec<usize> = (0..n - 1).rev().collect();
        v.push(n - 1);
        v
    } else {
        (0..n).rev().collect()
    };
    Geometry {
        spectrum_image,
        format,
        dm_axes,
    }
}

fn calibration(ds: &Dataset, i: usize) -> WTag {
    let axis = &ds.axes[i];
    let size = ds.shape()[i];
    let (scale, offset) = match &axis.kind {
        AxisKind::Uniform { scale, offset } => (*scale, *offset),
        AxisKind::Values(v) => {
            // DM calibrations are linear: keep the end points.
            let first = v.first().copied().unwrap_or(0.0);
            let last = v.last().copied().unwrap_or(first);
            let step = if size > 1 {
                (last - first) / (size - 1) as f64
            } else {
                1.0
            };
            (step, first)
        }
    };
    let origin = if scale != 0.0 { -offset / scale } else { 0.0 };
    group(vec![
        ("Origin", float(origin)),
        ("Scale", float(scale)),
        ("Units", text(axis.units.clone())),
    ])
}
/// Whether a dataset's original metadata came from a DM file (rsciio/emio layout).
fn dm_image_tags(om: &Tree) -> Option<&Tree> {
    get_path(om, "ImageList.TagGroup0.ImageTags").and_then(Value::as_object)
}

/// Top-level tags the writer creates itself (never copied from original metadata).
const STRUCTURAL: [&str; 5] = [
    "root",
    "ImageList",
    "DocumentObjectList",
    "ImageSourceList",
    "Thumbnails",
];

/// The whole tag tree for `ds` (pixels as a placeholder).
pub(super) fn build_tree(ds: &Dataset, pf: PixelFormat, geo: &Geometry) -> Vec<(String, WTag)> {
    let md = &ds.metadata;
    let om = &ds.original_metadata;
    let mut image_tags = match dm_image_tags(om) {
        Some(t) => tags_from_json(t),
        None => tags_from_metadata(md, geo.format),
    };
    if dm_image_tags(om).is_some() {
        // Keep the spectrum flags consistent with the axes being written.
        if let Some(f) = geo.format {
            let mut extra = Tree::new();
            emio_core::metadata::set_path(&mut extra, "Meta Data.Format", f);
            for (name, tag) in tags_from_json(&extra) {
                merge_tag(&mut image_tags, name, tag);
            }
        }
    }
    let dims: Vec<(String, WTag)> = geo
        .dm_axes
        .iter()
        .map(|&i| (String::new(), int(ds.shape()[i] as i64)))
        .collect();
    let cal_dims: Vec<(String, WTag)> = geo
        .dm_axes
        .iter()
        .map(|&i| (String::new(), calibration(ds, i)))
        .collect();
    let gain = get_f64(
        md,
        "Signal.Noise_properties.Variance_linear_model.gain_factor",
    )
    .unwrap_or(1.0);
    let gain_offset = get_f64(
        md,
        "Signal.Noise_properties.Variance_linear_model.gain_offset",
    )
    .unwrap_or(0.0);
    let brightness_units = get_str(md, "Signal.quantity")
        .map(quantity_units)
        .unwrap_or("");
    let image_data = group(vec![
        (
            "Calibrations",
            group(vec![
                (
                    "Brightness",
                    group(vec![
                        ("Origin", float(gain_offset)),
                        ("Scale", float(gain)),
                        ("Units", text(brightness_units)),
                    ]),
                ),
                ("Dimension", WTag::Group(cal_dims)),
                (
                    "DisplayCalibratedUnits",
                    WTag::Data(WData::Scalar(ElemType::Bool, Scalar::Int(1))),
                ),
            ]),
        ),
        ("Data", WTag::Data(WData::Pixels)),
        ("DataType", int(pf.data_type)),
        ("Dimensions", WTag::Group(dims)),
        ("PixelDepth", int(pf.size as i64)),
    ]);
    let image = group(vec![
        ("ImageData", image_data),
        ("ImageTags", WTag::Group(image_tags)),
        ("Name", text(ds.title())),
        (
            "UniqueID",
            group(vec![("", int(1)), ("", int(0)), ("", int(0)), ("", int(0))]),
        ),
    ]);
    let display_type = if ds.ndim() == 1 || geo.format == Some("Spectrum") {
        3
    } else {
        1
    };
    let mut root: Vec<(String, WTag)> = vec![
        (
            "DocumentObjectList".into(),
            group(vec![(
                "",
                group(vec![
                    ("AnnotationType", int(20)),
                    ("ImageDisplayType", int(display_type)),
                    ("ImageSource", int(0)),
                ]),
            )]),
        ),
        (
            "ImageList".into(),
            WTag::Group(vec![(String::new(), image)]),
        ),
        (
            "ImageSourceList".into(),
            group(vec![(
                "",
                group(vec![
                    ("ClassName", text("ImageSource:Simple")),
                    ("Id", group(vec![("", int(0))])),
                    ("ImageRef", int(0)),
                ]),
            )]),
        ),
        (
            "InImageMode".into(),
            WTag::Data(WData::Scalar(ElemType::Bool, Scalar::Int(1))),
        ),
    ];
    if dm_image_tags(om).is_some() {
        let mut rest = Tree::new();
        for (k, v) in om {
            if !STRUCTURAL.contains(&k.as_str()) && k != "InImageMode" {
                rest.insert(k.clone(), v.clone());
            }
        }
        root.extend(tags_from_json(&rest));
    }
    root
}

/// Replace or append a named tag in a list of tags (groups merge recursively).
fn merge_tag(list: &mut Vec<(String, WTag)>, name: String, tag: WTag) {
    if let Some((_, existing)) = list.iter_mut().find(|(n, _)| !n.is_empty() && *n == name) {
        match (existing, tag) {
            (WTag::Group(mine), WTag::Group(theirs)) => {
                for (n, t) in theirs {
                    merge_tag(mine, n, t);
                }
            }
            (slot, tag) => *slot = tag,
        }
    } else {
        list.push((name, tag));
    }
}
