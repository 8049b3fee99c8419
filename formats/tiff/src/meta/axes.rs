//! Calibrated axes of a series: the calibration a dialect gathers per axis role, and
//! rsciio's axis names for tifffile's axis codes.

use emio_core::Axis;

use crate::series::Series;

/// Calibration per axis role in rsciio's vocabulary: `x` feeds `height`, `y` feeds
/// `width`, `z` the stack axis.
#[derive(Debug, Clone, Default)]
pub(super) struct Cal {
    pub(super) scale: [Option<f64>; 3],
    pub(super) offset: [Option<f64>; 3],
    pub(super) units: [Option<String>; 3],
    /// ImageJ frame interval (seconds), for a time axis.
    pub(super) frame_interval: Option<f64>,
}

/// rsciio's axis names for tifffile's axis codes.
pub(super) fn code_name(c: char) -> &'static str {
    match c {
        'X' => "width",
        'Y' => "height",
        'S' => "sample",
        'P' => "plane",
        'I' => "image series",
        'Z' => "depth",
        'C' => "color|em-wavelength|channel",
        'E' => "ex-wavelength|lambda",
        'T' => "time",
        'R' => "region|tile",
        'A' => "angle",
        'F' => "phase",
        'H' => "lifetime",
        'L' => "exposure",
        'V' => "event",
        _ => "None",
    }
}

/// The axes of `series` with the calibration `cal`.
pub(super) fn build_axes(series: &Series, cal: &Cal) -> Vec<Axis> {
    let shape = series.shape();
    let n = shape.len();
    series
        .codes
        .iter()
        .enumerate()
        .map(|(i, &code)| {
            let name = code_name(code);
            let role = match name {
                "height" => Some(0),
                "width" => Some(1),
                "depth" | "image series" | "time" => Some(2),
                _ => None,
            };
            if name == "time" {
                if let Some(dt) = cal.frame_interval {
                    return Axis::uniform(name, "s", dt, 0.0, i + 2 < n);
                }
            }
            let (scale, offset, units) = match role {
                Some(r) => (
                    cal.scale[r].unwrap_or(1.0),
                    cal.offset[r].unwrap_or(0.0),
                    cal.units[r].clone().unwrap_or_default(),
                ),
                None => (1.0, 0.0, String::new()),
            };
            Axis::uniform(name, units, scale, offset, i + 2 < n)
        })
        .collect()
}

impl Cal {
    /// The scales of the first two roles (rsciio's `x` and `y`), both in `units`.
    pub(super) fn set_plane(&mut self, x: f64, y: f64, units: &str) {
        self.scale[0] = Some(x);
        self.scale[1] = Some(y);
        self.units[0] = Some(units.into());
        self.units[1] = Some(units.into());
    }
}
