//! Direct Electron movies (`*_movie.mrc`): the `*_info.txt` companion (`key = value`
//! lines), the `*_scan_coordinates.csv` of custom and random scans (`x,y` per frame), and
//! how they turn a stack of frames into a navigation grid with calibrated axes.
//!
//! Differences from rsciio, on purpose: calibrations are the info file's values (rsciio
//! overwrites every scale with 1), repeated scans put the repeat (time) axis first, and
//! missing frames of an incomplete raster scan read as zeros instead of failing.

use std::path::{Path, PathBuf};

use emio_core::metadata::{json_f64, set_path};
use emio_core::{Axis, Error, Result, Tree};
use serde_json::Value;

use crate::sources::NO_FRAME;

/// Largest navigation grid a scan file may describe.
const MAX_POSITIONS: u64 = 1 << 24;

/// Parse an info file: one `key = value` per line; other lines are skipped.
pub fn parse_info(text: &str) -> Tree {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), Value::from(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Parse a scan coordinates file: `x,y` integers per line (blank lines skipped).
pub fn parse_scan(text: &str) -> Result<Vec<[u32; 2]>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let mut parts = line.split(',').map(|p| p.trim().parse::<u32>());
            match (parts.next(), parts.next(), parts.next()) {
                (Some(Ok(x)), Some(Ok(y)), None) if x < 1 << 20 && y < 1 << 20 => Ok([x, y]),
                _ => Err(Error::malformed_at_unknown(
                    "mrc",
                    format!(
                        "`x,y` scan coordinates on line {} of the scan file, found {line:?}",
                        n + 1
                    ),
                )),
            }
        })
        .collect()
}

/// The companion `<prefix>_<suffix>` of a Direct Electron movie `<prefix>[_more]_movie.mrc`,
/// trying the longest prefix first (DE names are `date_acquisition[_suffix][_n]_movie.mrc`
/// and companions `date_acquisition[_suffix]_info.txt`).
pub fn find_companion(movie: &Path, suffix: &str) -> Option<PathBuf> {
    let name = movie.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let cut = lower.find("_movie.mrc")?;
    let dir = movie.parent().unwrap_or(Path::new(""));
    let mut prefix = &name[..cut];
    loop {
        let candidate = dir.join(format!("{prefix}_{suffix}"));
        if candidate.is_file() {
            return Some(candidate);
        }
        prefix = &prefix[..prefix.rfind('_')?];
    }
}

/// Other images of the acquisition an info file `<prefix>_info.txt` belongs to:
/// `(virtual, external)` file names (`<prefix>_..._ext<N>[_name].mrc` are external
/// detector images; other `<prefix>_*.mrc` except movies are virtual images), sorted.
pub fn related_images(info: &Path) -> (Vec<String>, Vec<String>) {
    let (mut virtual_images, mut external) = (Vec::new(), Vec::new());
    let name = info.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some(prefix) = name.strip_suffix("_info.txt") else {
        return (virtual_images, external);
    };
    let dir = info
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (virtual_images, external);
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('_'))
            .and_then(|r| r.strip_suffix(".mrc"))
        else {
            continue;
        };
        if rest.ends_with("_movie") || rest == "movie" {
            continue;
        }
        let is_external = rest.split('_').any(|seg| {
            seg.strip_prefix("ext")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if is_external {
            external.push(file);
        } else {
            virtual_images.push(file);
        }
    }
    virtual_images.sort();
    external.sort();
    (virtual_images, external)
}

fn number(info: &Tree, key: &str) -> Option<f64> {
    info.get(key)?.as_str()?.trim().parse().ok()
}

fn text<'a>(info: &'a Tree, key: &str) -> Option<&'a str> {
    info.get(key)?.as_str()
}

/// A calibration from the info file: DE writes -1 (or nothing) when unknown.
fn calibration(info: &Tree, key: &str) -> f64 {
    number(info, key)
        .filter(|v| v.is_finite() && *v > 0.0)
        .unwrap_or(1.0)
}

/// How the frames of a DE movie map onto navigation and signal axes.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Navigation shape (C order), without singleton dimensions.
    pub nav_shape: Vec<u64>,
    /// Frame shown at each navigation index, when frames are not simply in order.
    pub map: Option<Vec<u32>>,
    /// Navigation axes then the two signal axes.
    pub axes: Vec<Axis>,
    /// Normalized metadata from the info file.
    pub metadata: Tree,
}

/// Arrange `frames` frames using the info file and optional scan coordinates.
/// `nav_override` is a navigation shape in HyperSpy order (fastest first).
pub fn layout(
    info: &Tree,
    scan: Option<&[[u32; 2]]>,
    frames: u64,
    nav_override: Option<&[u64]>,
) -> Result<Layout> {
    let scanning = text(info, "Scan - Enable") == Some("Enable");
    let raster = text(info, "Scan - Type").is_none_or(|t| t == "Raster");
    let stem = match number(info, "Instrument Project TEMorSTEM Mode").unwrap_or(-1.0) {
        m if m < 0.0 => scanning,
        m => m != 0.0,
    };
    let camera_length = number(info, "Instrument Project Camera Length (centimeters)");
    let diffracting = camera_length.is_some_and(|c| c != -1.0) || stem;
    let time_scale = number(info, "Scan - Time (seconds)").unwrap_or(0.0)
        + number(info, "Scan - Repeat Delay (seconds)").unwrap_or(0.0);
    let (py, px) = (
        calibration(info, "Specimen Pixel Size Y (nanometers)"),
        calibration(info, "Specimen Pixel Size X (nanometers)"),
    );
    let (ky, kx) = (
        calibration(info, "Diffraction Pixel Size Y"),
        calibration(info, "Diffraction Pixel Size X"),
    );
    let signal_axes = |diffracting: bool| {
        if diffracting {
            [
                Axis::uniform("ky", "nm^-1", ky, 0.0, false),
                Axis::uniform("kx", "nm^-1", kx, 0.0, false),
            ]
        } else {
            [
                Axis::uniform("y", "nm", py, 0.0, false),
                Axis::uniform("x", "nm", px, 0.0, false),
            ]
        }
    };
    let time_axis = |scale: f64| {
        Axis::uniform(
            "time",
            "s",
            if scale > 0.0 { scale } else { 1.0 },
            0.0,
            true,
        )
    };
    let mut nav: Vec<(u64, Axis)> = Vec::new();
    let mut map = None;
    let mut sig_diffracting = diffracting;
    match (scanning && !raster, scan) {
        (true, Some(points)) => {
            let ny = points
                .iter()
                .map(|p| u64::from(p[1]) + 1)
                .max()
                .unwrap_or(1);
            let nx = points
                .iter()
                .map(|p| u64::from(p[0]) + 1)
                .max()
                .unwrap_or(1);
            if ny * nx > MAX_POSITIONS {
                return Err(Error::malformed_at_unknown(
                    "mrc",
                    format!(
                        "scan coordinates within {MAX_POSITIONS} positions, found a {nx}x{ny} grid"
                    ),
                ));
            }
            let mut seen = vec![0u32; (ny * nx) as usize];
            let places: Vec<(u32, u64)> = points
                .iter()
                .map(|p| {
                    let at = u64::from(p[1]) * nx + u64::from(p[0]);
                    let rep = seen[at as usize];
                    seen[at as usize] += 1;
                    (rep, at)
                })
                .collect();
            let repeats = u64::from(seen.iter().copied().max().unwrap_or(1).max(1));
            if repeats.saturating_mul(ny * nx) > MAX_POSITIONS {
                return Err(Error::malformed_at_unknown(
                    "mrc",
                    format!("scan coordinates within {MAX_POSITIONS} positions, found {repeats} repeats of {nx}x{ny}"),
                ));
            }
            let mut m = vec![NO_FRAME; (repeats * ny * nx) as usize];
            for (frame, &(rep, at)) in places.iter().enumerate().take(frames as usize) {
                m[(u64::from(rep) * ny * nx + at) as usize] = frame as u32;
            }
            nav.push((repeats, time_axis(time_scale)));
            nav.push((ny, Axis::uniform("y", "nm", py, 0.0, true)));
            nav.push((nx, Axis::uniform("x", "nm", px, 0.0, true)));
            sig_diffracting = true;
            map = Some(m);
        }
        _ if nav_override.is_some() || (stem && scanning && raster) => {
            let roi = text(info, "Scan - ROI Enable") == Some("Enable");
            let key = |axis: &str| {
                if roi {
                    format!("Scan - ROI Size {axis}")
                } else {
                    format!("Scan - Size {axis}")
                }
            };
            let size = |axis: &str| {
                number(info, &key(axis))
                    .filter(|v| *v >= 1.0)
                    .map(|v| v as u64)
            };
            let (sy, sx) = match nav_override {
                Some([x]) => (1, *x),
                Some([x, y]) => (*y, *x),
                Some([x, y, _]) => (*y, *x),
                Some(other) => {
                    return Err(Error::invalid_option(
                        "navigation_shape",
                        format!("{other:?}: a DE scan has 1 to 3 navigation dimensions"),
                    ))
                }
                None => (size("Y").unwrap_or(1), size("X").unwrap_or(frames)),
            };
            let per_scan = sy.saturating_mul(sx).max(1);
            let repeats = match nav_override {
                Some([_, _, t]) => *t,
                _ => frames.div_ceil(per_scan).max(1),
            };
            if repeats
                .checked_mul(per_scan)
                .is_none_or(|n| n > MAX_POSITIONS)
            {
                return Err(Error::malformed_at_unknown(
                    "mrc",
                    format!(
                        "a scan within {MAX_POSITIONS} positions, found {repeats} x {sy} x {sx}"
                    ),
                ));
            }
            nav.push((repeats, time_axis(time_scale)));
            nav.push((sy, Axis::uniform("y", "nm", py, 0.0, true)));
            nav.push((sx, Axis::uniform("x", "nm", px, 0.0, true)));
            sig_diffracting = true;
        }
        _ => {
            let fps = number(info, "Frames Per Second").filter(|v| *v > 0.0);
            let sum = number(info, "Autosave Movie Sum Count")
                .filter(|v| *v > 0.0)
                .unwrap_or(1.0);
            let frame_time = fps.map(|f| 1.0 / (f * sum)).unwrap_or(1.0);
            nav.push((frames, Axis::uniform("time", "s", frame_time, 0.0, true)));
        }
    }
    let keep_all = map.is_some();
    if !keep_all {
        nav.retain(|(n, _)| *n != 1);
    } else {
        // Placed frames keep their grid; only a single repeat is dropped.
        if nav.first().is_some_and(|(n, _)| *n == 1) {
            nav.remove(0);
        }
    }
    let mut axes: Vec<Axis> = nav.iter().map(|(_, a)| a.clone()).collect();
    axes.extend(signal_axes(sig_diffracting));
    Ok(Layout {
        nav_shape: nav.iter().map(|(n, _)| *n).collect(),
        map,
        axes,
        metadata: metadata(info),
    })
}

/// Normalized metadata from the info file (rsciio's keys, plus date and time).
fn metadata(info: &Tree) -> Tree {
    let mut md = Tree::new();
    let copy = |md: &mut Tree, key: &str, path: &str| {
        if let Some(v) = text(info, key) {
            set_path(md, path, v);
        }
    };
    copy(
        &mut md,
        "Instrument Project Magnification",
        "Acquisition_instrument.TEM.magnification",
    );
    copy(
        &mut md,
        "Camera Model",
        "Acquisition_instrument.TEM.detector",
    );
    copy(
        &mut md,
        "Frames Per Second",
        "Acquisition_instrument.TEM.frames_per_second",
    );
    let gain = number(info, "ADUs Per Electron Bin1x")
        .filter(|g| *g > 0.0)
        .unwrap_or(1.0);
    set_path(
        &mut md,
        "Signal.Noise_properties.gain_factor",
        json_f64(1.0 / gain),
    );
    set_path(&mut md, "Signal.quantity", "$e^-$");
    copy(
        &mut md,
        "Timestamp (seconds since Epoch)",
        "General.timestamp",
    );
    if let Some(when) = number(info, "Timestamp (seconds since Epoch)")
        .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
    {
        set_path(&mut md, "General.date", when.format("%Y-%m-%d").to_string());
        set_path(&mut md, "General.time", when.format("%H:%M:%S").to_string());
        set_path(&mut md, "General.time_zone", "UTC");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(lines: &[(&str, &str)]) -> Tree {
        let text: String = lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        parse_info(&text)
    }

    #[test]
    fn custom_scan_with_repeats_places_frames() {
        let i = info(&[
            ("Scan - Enable", "Enable"),
            ("Scan - Type", "XY File"),
            ("Scan - Time (seconds)", "1.5"),
            ("Scan - Repeat Delay (seconds)", "0.5"),
        ]);
        let pts = parse_scan("0,0\n2,1\n0,0\n").unwrap();
        let l = layout(&i, Some(&pts), 3, None).unwrap();
        assert_eq!(l.nav_shape, [2, 2, 3]);
        let m = l.map.unwrap();
        assert_eq!(m[0], 0);
        assert_eq!(m[3 + 2], 1);
        assert_eq!(m[6], 2);
        assert_eq!(l.axes[0].scale_offset(), Some((2.0, 0.0)));
        assert_eq!(l.axes.len(), 5);
    }

    #[test]
    fn raster_scan_uses_calibrations() {
        let i = info(&[
            ("Scan - Enable", "Enable"),
            ("Instrument Project TEMorSTEM Mode", "1"),
            ("Scan - Size X", "4"),
            ("Scan - Size Y", "3"),
            ("Specimen Pixel Size X (nanometers)", "0.25"),
            ("Specimen Pixel Size Y (nanometers)", "-1"),
        ]);
        let l = layout(&i, None, 12, None).unwrap();
        assert_eq!(l.nav_shape, [3, 4]);
        assert!(l.map.is_none());
        assert_eq!(l.axes[1].scale_offset(), Some((0.25, 0.0)));
        assert_eq!(l.axes[0].scale_offset(), Some((1.0, 0.0)));
        assert_eq!(l.axes[2].name, "ky");
    }

    #[test]
    fn movie_has_frame_time() {
        let i = info(&[
            ("Frames Per Second", "100"),
            ("Timestamp (seconds since Epoch)", "0"),
        ]);
        let l = layout(&i, None, 7, None).unwrap();
        assert_eq!(l.nav_shape, [7]);
        assert_eq!(l.axes[0].scale_offset(), Some((0.01, 0.0)));
        assert_eq!(l.metadata["General"]["date"], "1970-01-01");
    }

    #[test]
    fn related_images_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "20250101_7_info.txt",
            "20250101_7_0_movie.mrc",
            "20250101_7_1_Virt #1_sum.mrc",
            "20250101_7_ext2_HAADF.mrc",
            "20250101_8_1_x_sum.mrc",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let (v, e) = related_images(&dir.path().join("20250101_7_info.txt"));
        assert_eq!(v, ["20250101_7_1_Virt #1_sum.mrc"]);
        assert_eq!(e, ["20250101_7_ext2_HAADF.mrc"]);
        assert_eq!(
            find_companion(&dir.path().join("20250101_7_0_movie.mrc"), "info.txt"),
            Some(dir.path().join("20250101_7_info.txt"))
        );
    }

    #[test]
    fn scan_file_errors() {
        assert!(parse_scan("1,2\nx,3\n").is_err());
        assert!(parse_scan("1,2,3\n").is_err());
        assert_eq!(parse_scan("\n4, 5\n").unwrap(), [[4, 5]]);
    }
}
