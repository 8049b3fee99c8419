//! Drawing previews with `plotters` on its bitmap backend (no C library, no system font:
//! text uses the DejaVu Sans Mono font bundled beside this file, through plotters'
//! pure-Rust `ab_glyph` renderer) and encoding them with the `png` crate.
//!
//! A picture is a grid of cells, each a header line (the panel's title) over a square
//! panel of `size` pixels (an image with robust contrast and a scale bar, or a line plot
//! with calibrated axes), then a caption of a few lines across the bottom.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use emio_core::{Error, Result};

use super::plane::Plane;

/// Height of a cell's title line, in pixels.
pub const HEADER: u32 = 20;
/// Height of the caption under the grid, in pixels.
pub const CAPTION: u32 = 60;
/// Caption lines shown.
pub const CAPTION_LINES: usize = 3;

/// The font every text is drawn with (DejaVu Sans Mono, see `DejaVu-LICENSE`).
const FONT: &[u8] = include_bytes!("DejaVuSansMono.ttf");
const FAMILY: &str = "sans-serif";

/// What one panel shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    /// A picture of a plane, contrast clipped at percentiles (of the log when `log`).
    Image {
        /// The values.
        plane: Plane,
        /// Show `ln(1 + v - min)` (diffraction patterns).
        log: bool,
    },
    /// A line plot.
    Plot {
        /// Coordinates.
        x: Vec<f64>,
        /// Values.
        y: Vec<f64>,
        /// Axis label with units.
        x_label: String,
        /// What the values are.
        y_label: String,
    },
}

/// A panel and its title.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Shown above the panel.
    pub title: String,
    /// The panel.
    pub panel: Panel,
}

/// An RGB picture (8 bits per channel, row-major) with its caption text.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 3` bytes.
    pub rgb: Vec<u8>,
    /// The caption lines, also stored as PNG text.
    pub caption: Vec<String>,
}

fn drawing_error(e: impl std::fmt::Display) -> Error {
    Error::unsupported("preview", format!("drawing failed: {e}"))
}

/// Lay `cells` out on a grid of `columns` and draw them with `caption` underneath.
pub fn render(cells: &[Cell], columns: usize, size: u32, caption: &[String]) -> Result<Picture> {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        // The bundled font is a valid TrueType file; should it ever fail to load, text
        // drawing reports the error below.
        let _ = register_font(FAMILY, FontStyle::Normal, FONT);
    });
    let columns = columns.clamp(1, cells.len().max(1));
    let rows = cells.len().div_ceil(columns).max(1);
    let width = size * columns as u32;
    let height = (size + HEADER) * rows as u32 + CAPTION;
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let (grid, bottom) = root.split_vertically(height - CAPTION);
        for (area, cell) in grid.split_evenly((rows, columns)).iter().zip(cells) {
            let (head, body) = area.split_vertically(HEADER);
            head.draw_text(&fit(&cell.title, size), &text(13, &BLACK), (4, 3))
                .map_err(drawing_error)?;
            match &cell.panel {
                Panel::Image { plane, log } => draw_image(&body, plane, *log, size)?,
                Panel::Plot {
                    x,
                    y,
                    x_label,
                    y_label,
                } => draw_plot(&body, x, y, x_label, y_label)?,
            }
        }
        for (i, line) in caption.iter().take(CAPTION_LINES).enumerate() {
            bottom
                .draw_text(&fit(line, width), &text(13, &BLACK), (6, 4 + 18 * i as i32))
                .map_err(drawing_error)?;
        }
        root.present().map_err(drawing_error)?;
    }
    Ok(Picture {
        width,
        height,
        rgb,
        caption: caption.to_vec(),
    })
}

fn text(size: u32, colour: &RGBColor) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(colour)
}

/// `line` cut to what fits in `width` pixels of 13-pixel monospace text.
fn fit(line: &str, width: u32) -> String {
    let max = (width as usize / 8).max(4);
    if line.chars().count() <= max {
        line.to_string()
    } else {
        let mut cut: String = line.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// The values at fractions `lo` and `hi` of the finite values, sorted.
fn percentiles(values: &[f64], lo: f64, hi: f64) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Some((at(lo), at(hi)))
}

/// Grey levels of a plane: percentile-clipped (0.5 % and 99.5 %), of the log when `log`.
pub fn grey_levels(values: &[f64], log: bool) -> Vec<u8> {
    let min = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min);
    let shown: Vec<f64> = if log {
        values.iter().map(|v| (v - min).max(0.0).ln_1p()).collect()
    } else {
        values.to_vec()
    };
    let Some((lo, hi)) = percentiles(&shown, 0.005, 0.995) else {
        return vec![0; values.len()];
    };
    let span = if hi > lo { hi - lo } else { 1.0 };
    shown
        .iter()
        .map(|v| {
            if v.is_finite() {
                ((v - lo) / span * 255.0).round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        })
        .collect()
}

fn draw_image(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    plane: &Plane,
    log: bool,
    size: u32,
) -> Result<()> {
    if plane.width == 0 || plane.height == 0 {
        return Ok(());
    }
    let zoom = (f64::from(size) / plane.width as f64).min(f64::from(size) / plane.height as f64);
    let (dw, dh) = (
        (plane.width as f64 * zoom).round() as i32,
        (plane.height as f64 * zoom).round() as i32,
    );
    let (ox, oy) = ((size as i32 - dw) / 2, (size as i32 - dh) / 2);
    let grey = grey_levels(&plane.values, log);
    for y in 0..dh {
        let py = ((f64::from(y) / zoom) as usize).min(plane.height - 1);
        for x in 0..dw {
            let px = ((f64::from(x) / zoom) as usize).min(plane.width - 1);
            let i = py * plane.width + px;
            let colour = match &plane.rgb {
                Some(rgb) => RGBColor(rgb[i][0], rgb[i][1], rgb[i][2]),
                None => RGBColor(grey[i], grey[i], grey[i]),
            };
            area.draw_pixel((ox + x, oy + y), &colour)
                .map_err(drawing_error)?;
        }
    }
    scale_bar(area, plane, zoom, (ox, oy, dw, dh))
}

/// A bar of a round physical length at the bottom left of the image, when its columns are
/// calibrated.
fn scale_bar(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    plane: &Plane,
    zoom: f64,
    (ox, oy, dw, dh): (i32, i32, i32, i32),
) -> Result<()> {
    let units = plane.x_axis.units.trim();
    let Some((scale, _)) = plane.x_axis.scale_offset() else {
        return Ok(());
    };
    if units.is_empty() || !scale.is_finite() || scale == 0.0 || dw < 60 {
        return Ok(());
    }
    let per_pixel = scale.abs() * plane.bin as f64 / zoom;
    let target = per_pixel * f64::from(dw) / 5.0;
    let magnitude = 10f64.powf(target.log10().floor());
    let length = [5.0, 2.0, 1.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&l| l <= target)
        .unwrap_or(magnitude);
    let bar = (length / per_pixel).round() as i32;
    let (x0, y0) = (ox + 8, oy + dh - 12);
    area.draw(&Rectangle::new(
        [(x0 - 1, y0 - 1), (x0 + bar + 1, y0 + 5)],
        BLACK.filled(),
    ))
    .map_err(drawing_error)?;
    area.draw(&Rectangle::new(
        [(x0, y0), (x0 + bar, y0 + 4)],
        WHITE.filled(),
    ))
    .map_err(drawing_error)?;
    let label = format!("{} {units}", crate::listing::significant(length));
    area.draw_text(&label, &text(13, &BLACK), (x0 + 1, y0 - 17))
        .map_err(drawing_error)?;
    area.draw_text(&label, &text(13, &WHITE), (x0, y0 - 18))
        .map_err(drawing_error)
}

fn draw_plot(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    x: &[f64],
    y: &[f64],
    x_label: &str,
    y_label: &str,
) -> Result<()> {
    let range = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        match (lo.is_finite(), hi > lo) {
            (true, true) => lo..hi,
            (true, false) => lo - 0.5..lo + 0.5,
            _ => 0.0..1.0,
        }
    };
    let (xr, yr) = (range(x), range(y));
    let pad = (yr.end - yr.start) * 0.05;
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(xr, yr.start - pad..yr.end + pad)
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .y_labels(5)
        .disable_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(text(11, &BLACK))
        .axis_desc_style(text(12, &BLACK))
        .x_label_formatter(&|v| crate::listing::significant(*v))
        .y_label_formatter(&|v| crate::listing::significant(*v))
        .draw()
        .map_err(drawing_error)?;
    let points = x
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(&a, &b)| (a, b));
    chart
        .draw_series(LineSeries::new(points, &RGBColor(31, 90, 180)))
        .map_err(drawing_error)?;
    Ok(())
}

/// The picture as PNG bytes, its caption lines as `tEXt` chunks (`Title`, `Comment`).
pub fn encode_png(picture: &Picture) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let fail = |e: png::EncodingError| Error::unsupported("preview", format!("PNG encoding: {e}"));
    {
        let mut encoder = png::Encoder::new(&mut out, picture.width, picture.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        if let Some(title) = picture.caption.first() {
            encoder
                .add_text_chunk("Title".into(), title.clone())
                .map_err(fail)?;
        }
        encoder
            .add_text_chunk("Comment".into(), picture.caption.join("\n"))
            .map_err(fail)?;
        let mut writer = encoder.write_header().map_err(fail)?;
        writer.write_image_data(&picture.rgb).map_err(fail)?;
        writer.finish().map_err(fail)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_is_clipped_at_percentiles() {
        let mut v: Vec<f64> = (0..1000).map(f64::from).collect();
        v[0] = -1e9;
        v[999] = 1e9;
        let g = grey_levels(&v, false);
        assert_eq!((g[0], g[999]), (0, 255));
        assert!(g[500] > 100 && g[500] < 155, "{}", g[500]);
        assert_eq!(grey_levels(&[f64::NAN], false), [0]);
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(fit("abcdefgh", 40), "abcd…");
        assert_eq!(fit("abc", 40), "abc");
    }
}
