//! Preview pictures (`emconvert preview`): a PNG a person can look at, chosen by what the
//! data is.
//!
//! - an image: the image with robust contrast and a scale bar;
//! - a stack, movie or volume: the first frame beside the mean of all frames;
//! - 4D-STEM (two or more navigation axes, two signal axes): a virtual bright-field image
//!   (each pattern summed over the bright disc found in the mean pattern) beside the mean
//!   diffraction pattern on a log scale;
//! - a spectrum: a line plot with calibrated axes and units;
//! - a spectrum image: the summed spectrum beside the total-intensity map (a profile for a
//!   line scan);
//! - RGB as is; complex data by magnitude, and phase too when asked;
//! - ragged data (an array of its own length at each position): the number of values at
//!   each position.
//!
//! Sums stream through [`crate::reduce`] (bounded memory, all cores); planes are read in
//! bands and averaged down to the picture size ([`plane`]). A file with several datasets
//! gives a contact sheet of each one's main panel, unless one dataset is chosen. Every
//! picture has a caption: file, title, format, dtype, shape, date, microscope, beam
//! energy and field of view.

mod draw;
pub mod plane;

use std::path::Path;

use emio_core::{Dataset, Error, NoProgress, Result};

pub use draw::{encode_png, grey_levels, Cell, Panel, Picture, CAPTION, HEADER};
use plane::{read_line, read_plane, Component};

use crate::reduce::{self, sum_keeping, sum_over, Over, Summation};

/// Cells of a contact sheet at most (the caption says how many were left out).
pub const MAX_SHEET: usize = 16;
/// Columns of a contact sheet.
const SHEET_COLUMNS: usize = 4;

/// What to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Preview only this dataset; `None`: the only one, or a contact sheet of all.
    pub dataset: Option<usize>,
    /// Side of each panel in pixels.
    pub size: u32,
    /// For complex data, also show the phase.
    pub phase: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dataset: None,
            size: 512,
            phase: false,
        }
    }
}

/// The preview of the file at `path` (read with default reader options).
pub fn preview_file(path: &Path, options: &Options) -> Result<Picture> {
    let (format, datasets) = crate::registry().open(path, &[] as &[(&str, &str)])?;
    preview(
        &crate::metadata::file_name(path),
        format.name(),
        &datasets,
        options,
    )
}

/// The preview of `datasets` read from the file `name` by the reader `format`.
pub fn preview(
    name: &str,
    format: &str,
    datasets: &[Dataset],
    options: &Options,
) -> Result<Picture> {
    let size = options.size.clamp(64, 4096);
    if options.dataset.is_some() || datasets.len() == 1 {
        let index = options.dataset.unwrap_or(0);
        let d = crate::pick(datasets, Some(index))?;
        let cells = cells(d, size as usize, options.phase)?;
        let caption = caption(name, format, index, d);
        return draw::render(&cells, cells.len(), size, &caption);
    }
    if datasets.is_empty() {
        return Err(Error::invalid_option(
            "dataset",
            format!("{name} holds no dataset"),
        ));
    }
    let mut sheet = Vec::new();
    for (i, d) in datasets.iter().enumerate().take(MAX_SHEET) {
        let mut first = cells(d, size as usize, false)?.swap_remove(0);
        first.title = format!("[{i}] {} {}", d.title(), first.title);
        sheet.push(first);
    }
    let mut caption = vec![
        format!("{name} ({format}): {} datasets", datasets.len()),
        "preview one with --dataset N".to_string(),
    ];
    if datasets.len() > MAX_SHEET {
        caption.push(format!("{} more not shown", datasets.len() - MAX_SHEET));
    }
    draw::render(&sheet, SHEET_COLUMNS, size, &caption)
}

/// The caption: file and title; format, dtype and shape; acquisition details.
fn caption(name: &str, format: &str, index: usize, d: &Dataset) -> Vec<String> {
    let s = crate::listing::summarise(format, index, d);
    let shape: Vec<String> = d
        .shape()
        .iter()
        .zip(&d.axes)
        .map(|(n, a)| {
            if a.navigate {
                format!("{n}|")
            } else {
                n.to_string()
            }
        })
        .collect();
    let mut details: Vec<String> = Vec::new();
    for (label, value) in [
        ("", s.date.clone()),
        ("", s.microscope.clone()),
        (
            "",
            s.beam_energy_kv
                .map(|e| format!("{e} kV"))
                .unwrap_or_default(),
        ),
        ("field of view ", s.field_of_view.clone()),
    ] {
        if !value.is_empty() {
            details.push(format!("{label}{value}"));
        }
    }
    let dtype = match d.ragged() {
        Some(items) => format!("ragged {}", items.element().numpy_str()),
        None => d.dtype().to_string(),
    };
    vec![
        format!("{name}  [{index}] {}", d.title()),
        format!("{format}  {dtype}  {} (navigation|signal)", shape.join("×")),
        details.join("  "),
    ]
}

/// Label of an axis: `name (units)`, or `fallback`.
fn axis_label(d: &Dataset, dim: usize, fallback: &str) -> String {
    let a = &d.axes[dim];
    let name = if a.name.is_empty() { fallback } else { &a.name };
    match a.units.trim() {
        "" => name.to_string(),
        units => format!("{name} ({units})"),
    }
}

/// A ragged dataset's number of values at each position, as a dataset of the positions'
/// shape and axes (drawn as a map or a profile).
fn ragged_counts(d: &Dataset) -> Result<Option<Dataset>> {
    let Some(items) = d.ragged() else {
        return Ok(None);
    };
    let mut counts = Vec::new();
    for i in 0..items.len() {
        counts.extend_from_slice(&items.item(i)?.len().to_ne_bytes());
    }
    let mut map = Dataset::from_bytes(counts, emio_core::DType::U64, d.shape().to_vec())?;
    map.axes = d
        .axes
        .iter()
        .map(|a| emio_core::Axis {
            navigate: false,
            ..a.clone()
        })
        .collect();
    Ok(Some(map))
}

/// The panels of one dataset, main panel first (for a ragged dataset, the number of
/// values at each position).
fn cells(d: &Dataset, size: usize, phase: bool) -> Result<Vec<Cell>> {
    let ndim = d.ndim();
    let signal: Vec<usize> = (0..ndim).filter(|&k| !d.axes[k].navigate).collect();
    let navigation: Vec<usize> = (0..ndim).filter(|&k| d.axes[k].navigate).collect();
    let image = |ds: &Dataset, title: &str, log: bool, component| -> Result<Cell> {
        let n = ds.ndim();
        Ok(Cell {
            title: title.to_string(),
            panel: Panel::Image {
                plane: read_plane(ds, n - 2, n - 1, size, component)?,
                log,
            },
        })
    };
    let plot = |ds: &Dataset, title: &str, y_label: &str| -> Result<Cell> {
        let dim = ds.ndim() - 1;
        let (x, y) = read_line(ds, dim, 2 * size)?;
        Ok(Cell {
            title: title.to_string(),
            panel: Panel::Plot {
                x,
                y,
                x_label: axis_label(ds, dim, "index"),
                y_label: y_label.to_string(),
            },
        })
    };
    let what = |what: &str| {
        if d.dtype().is_complex() {
            format!("{what} (magnitude)")
        } else {
            what.to_string()
        }
    };
    if let Some(counts) = ragged_counts(d)? {
        let title = "values per position";
        let plot = |ds: &Dataset, title: &str, _: &str| plot(ds, title, "values");
        return Ok(vec![last_plane_or_line(&counts, title, plot, image)?]);
    }
    let mut cells = Vec::new();
    match (navigation.len(), signal.len(), ndim) {
        (_, _, 0) => {
            return Err(Error::invalid_option(
                "dataset",
                "a dataset of no dimension has nothing to preview",
            ))
        }
        (_, _, 1) => cells.push(plot(d, &what("spectrum"), "intensity")?),
        _ if d.dtype().is_rgb() => cells.push(image(d, "image", false, Component::Value)?),
        (nav, 2, _) if nav >= 2 => {
            let pattern = sum_over(d, &Over::Navigation, None, &NoProgress)?;
            let mask = bright_disc(&pattern)?;
            let vbf = sum_over(d, &Over::Signal, Some(&mask), &NoProgress)?;
            let vbf = last_plane_or_line(&vbf, "virtual bright field", plot, image)?;
            cells.push(vbf);
            cells.push(image(
                &pattern,
                &what("mean diffraction pattern (log)"),
                true,
                Component::Value,
            )?);
        }
        (nav, 1, _) if nav >= 1 => {
            // Both sums in one pass over the data.
            let spectrum = Summation::over(d, &Over::Navigation, None)?;
            let map = Summation::over(d, &Over::Signal, None)?;
            reduce::run(d, &[&spectrum, &map], None, &NoProgress)?;
            let (spectrum, map) = (spectrum.finish()?, map.finish()?);
            cells.push(plot(&spectrum, &what("summed spectrum"), "counts")?);
            cells.push(last_plane_or_line(&map, "total intensity", plot, image)?);
        }
        (_, _, 2) => cells.push(image(d, &what("image"), false, Component::Value)?),
        _ => {
            // A stack, movie or volume (or an unusual axis layout): the first frame of the
            // last two dimensions beside their mean over every other dimension.
            cells.push(image(d, &what("first frame"), false, Component::Value)?);
            let mean = sum_keeping(d, &[ndim - 2, ndim - 1], None, "mean", &NoProgress)?;
            cells.push(image(
                &mean,
                &what("mean of all frames"),
                false,
                Component::Value,
            )?);
        }
    }
    if phase && d.dtype().is_complex() && ndim >= 2 {
        cells.push(image(d, "phase (rad)", false, Component::Phase)?);
    }
    Ok(cells)
}

/// A map as an image when it has two or more dimensions, as a profile when it has one.
fn last_plane_or_line(
    map: &Dataset,
    title: &str,
    plot: impl Fn(&Dataset, &str, &str) -> Result<Cell>,
    image: impl Fn(&Dataset, &str, bool, Component) -> Result<Cell>,
) -> Result<Cell> {
    if map.ndim() >= 2 {
        image(map, title, false, Component::Value)
    } else {
        plot(map, title, "intensity")
    }
}

/// A detector mask over the signal of a 4D-STEM dataset: the disc of the mean pattern
/// brighter than half its range (the bright-field disc), as a disc of the same area around
/// its centroid; the central eighth when no such disc stands out.
fn bright_disc(pattern: &Dataset) -> Result<Vec<f64>> {
    let (h, w) = (pattern.shape()[0] as usize, pattern.shape()[1] as usize);
    let values: Vec<f64> = {
        let bytes = pattern.read_region_bytes(&[0, 0], pattern.shape())?;
        let mut v = Vec::with_capacity(h * w);
        crate::values::for_each(pattern.dtype(), &bytes, |x| v.push(x));
        v
    };
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let threshold = lo + 0.5 * (hi - lo);
    let (mut n, mut cy, mut cx) = (0f64, 0f64, 0f64);
    for (i, &v) in values.iter().enumerate() {
        if v > threshold {
            n += 1.0;
            cy += (i / w) as f64;
            cx += (i % w) as f64;
        }
    }
    let (cy, cx, r) = if n > 0.0 && hi > lo && n < (h * w) as f64 * 0.5 {
        (cy / n, cx / n, (n / std::f64::consts::PI).sqrt().max(1.0))
    } else {
        (
            (h as f64 - 1.0) / 2.0,
            (w as f64 - 1.0) / 2.0,
            (h.min(w) as f64 / 8.0).max(1.0),
        )
    };
    Ok((0..h * w)
        .map(|i| {
            let (y, x) = ((i / w) as f64 - cy, (i % w) as f64 - cx);
            f64::from(u8::from(y * y + x * x <= r * r))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::DType;

    fn dataset(shape: &[u64], nav: usize, value: impl Fn(&[u64]) -> f32) -> Dataset {
        let mut bytes = Vec::new();
        emio_core::copy::for_each_index(shape, |i| bytes.extend(value(i).to_ne_bytes()));
        let mut d = Dataset::from_bytes(bytes, DType::F32, shape.to_vec()).unwrap();
        for a in &mut d.axes[..nav] {
            a.navigate = true;
        }
        d
    }

    #[test]
    fn the_bright_disc_is_found() {
        let disc = |i: &[u64]| {
            let (y, x) = (i[i.len() - 2] as f32 - 10.0, i[i.len() - 1] as f32 - 12.0);
            if y * y + x * x <= 16.0 {
                100.0
            } else {
                1.0
            }
        };
        let pattern = dataset(&[24, 24], 0, disc);
        let mask = bright_disc(&pattern).unwrap();
        assert_eq!(mask[10 * 24 + 12], 1.0);
        assert_eq!(mask[0], 0.0);
        let inside: f64 = mask.iter().sum();
        assert!((40.0..=60.0).contains(&inside), "{inside}");
    }

    #[test]
    fn panels_follow_the_kind_of_data() {
        let kinds = [
            (vec![16, 16], 0, 1),
            (vec![3, 16, 16], 1, 2),
            (vec![2, 3, 8, 8], 2, 2),
            (vec![40], 0, 1),
            (vec![4, 5, 40], 2, 2),
            (vec![5, 40], 1, 2),
        ];
        for (shape, nav, panels) in kinds {
            let d = dataset(&shape, nav, |i| i.iter().sum::<u64>() as f32);
            let cells = cells(&d, 64, false).unwrap();
            assert_eq!(cells.len(), panels, "{shape:?}");
            let picture = preview(
                "x.npy",
                "npy",
                &[d],
                &Options {
                    size: 64,
                    ..Options::default()
                },
            )
            .unwrap();
            assert_eq!(picture.width, 64 * panels as u32);
            assert_eq!(picture.height, 64 + HEADER + CAPTION);
            assert_eq!(
                picture.rgb.len(),
                (picture.width * picture.height * 3) as usize
            );
        }
    }

    #[test]
    fn several_datasets_make_a_contact_sheet() {
        let d = dataset(&[8, 8], 0, |i| i[0] as f32);
        let sheet = vec![d; 5];
        let p = preview(
            "x",
            "npy",
            &sheet,
            &Options {
                size: 64,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!((p.width, p.height), (4 * 64, 2 * (64 + HEADER) + CAPTION));
        let png = encode_png(&p).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
