//! The scan grid of a series whose header has no dimension array (`NumberDimensions` 0),
//! from the scan positions its elements' tags hold (`TagTypeID` 0x4142), as RosettaSciIO's
//! `get_axes_from_position` means to find it. (rsciio 0.15 cannot read such a series: it
//! indexes the tags with byte-string field names, which NumPy refuses, and its vertical
//! line names the axis `x` with the calibration of the constant coordinate.)
//!
//! Recognised: a raster (one coordinate stepping fastest, the other after each full row),
//! a horizontal or vertical line, and an oblique line (both coordinates stepping together:
//! one axis along the line, offset 0, as rsciio has it). Every position must lie on the
//! grid within a thousandth of a step; anything else (repeated or scattered positions) is
//! not a grid and gets no axes here.

/// One navigation axis found from the positions (metres).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanAxis {
    /// `x` or `y`.
    pub name: &'static str,
    /// Number of positions along it.
    pub size: u64,
    /// Step between positions.
    pub scale: f64,
    /// First position.
    pub offset: f64,
}

/// Whether `value` is `expected` within a thousandth of `step`.
fn near(value: f64, expected: f64, step: f64) -> bool {
    (value - expected).abs() <= 1e-3 * step.abs()
}

/// The navigation axes, slowest first, of elements stored at `positions` (`(x, y)` in
/// metres, in storage order); `Some(vec![])` for a single position; `None` when the
/// positions form no regular grid.
pub fn scan_axes(positions: &[(f64, f64)]) -> Option<Vec<ScanAxis>> {
    let n = positions.len();
    let [(x0, y0), (x1, y1), ..] = *positions else {
        return Some(Vec::new());
    };
    let (dx, dy) = (x1 - x0, y1 - y0);
    if !(dx.is_finite() && dy.is_finite()) {
        return None;
    }
    let coord = |k: usize, axis: usize| {
        let (x, y) = positions[k];
        if axis == 0 {
            x
        } else {
            y
        }
    };
    if dx != 0.0 && dy != 0.0 {
        // Oblique line: both coordinates step together.
        let on_line = (0..n).all(|k| {
            near(coord(k, 0), x0 + k as f64 * dx, dx) && near(coord(k, 1), y0 + k as f64 * dy, dy)
        });
        return on_line.then(|| {
            vec![ScanAxis {
                name: "x",
                size: n as u64,
                scale: dx.hypot(dy),
                offset: 0.0,
            }]
        });
    }
    // The coordinate that changes between the first two positions steps fastest.
    let (fast, step) = match (dx != 0.0, dy != 0.0) {
        (true, false) => (0, dx),
        (false, true) => (1, dy),
        _ => return None,
    };
    let slow = 1 - fast;
    let names = ["x", "y"];
    let (fast0, slow0) = (coord(0, fast), coord(0, slow));
    let row = (0..n).take_while(|&k| coord(k, slow) == slow0).count();
    let rows = n / row;
    if !n.is_multiple_of(row) {
        return None;
    }
    let slow_step = if rows > 1 {
        coord(row, slow) - slow0
    } else {
        0.0
    };
    let on_grid = (0..n).all(|k| {
        let (i, j) = ((k / row) as f64, (k % row) as f64);
        near(coord(k, fast), fast0 + j * step, step)
            && (rows == 1 || near(coord(k, slow), slow0 + i * slow_step, slow_step))
    });
    if !on_grid || (rows > 1 && slow_step == 0.0) {
        return None;
    }
    let fast_axis = ScanAxis {
        name: names[fast],
        size: row as u64,
        scale: step,
        offset: fast0,
    };
    if rows == 1 {
        return Some(vec![fast_axis]);
    }
    Some(vec![
        ScanAxis {
            name: names[slow],
            size: rows as u64,
            scale: slow_step,
            offset: slow0,
        },
        fast_axis,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raster(nx: usize, ny: usize, x_fast: bool) -> Vec<(f64, f64)> {
        let (fast, slow) = if x_fast { (nx, ny) } else { (ny, nx) };
        (0..slow)
            .flat_map(|i| (0..fast).map(move |j| (i, j)))
            .map(|(i, j)| {
                let (ix, iy) = if x_fast { (j, i) } else { (i, j) };
                (1e-9 + ix as f64 * 2e-9, -3e-9 + iy as f64 * 5e-9)
            })
            .collect()
    }

    #[test]
    fn rasters_lines_and_points() {
        let axes = scan_axes(&raster(4, 3, true)).unwrap();
        assert_eq!(
            axes.iter().map(|a| (a.name, a.size)).collect::<Vec<_>>(),
            [("y", 3), ("x", 4)]
        );
        assert!((axes[1].scale - 2e-9).abs() < 1e-20 && (axes[0].offset + 3e-9).abs() < 1e-20);
        let axes = scan_axes(&raster(4, 3, false)).unwrap();
        assert_eq!(
            axes.iter().map(|a| (a.name, a.size)).collect::<Vec<_>>(),
            [("x", 4), ("y", 3)]
        );
        let horizontal = scan_axes(&raster(5, 1, true)).unwrap();
        assert_eq!((horizontal[0].name, horizontal[0].size), ("x", 5));
        let vertical = scan_axes(&raster(1, 5, true)).unwrap();
        assert_eq!((vertical[0].name, vertical[0].size), ("y", 5));
        let oblique: Vec<_> = (0..4).map(|k| (k as f64 * 3.0, k as f64 * 4.0)).collect();
        let line = scan_axes(&oblique).unwrap();
        assert_eq!((line[0].size, line[0].scale, line[0].offset), (4, 5.0, 0.0));
        assert_eq!(scan_axes(&[(1.0, 2.0)]), Some(vec![]));
    }

    #[test]
    fn irregular_positions_are_no_grid() {
        assert_eq!(scan_axes(&[(0.0, 0.0), (0.0, 0.0), (1.0, 0.0)]), None);
        let mut jittered = raster(4, 3, true);
        jittered[6].0 += 1e-9;
        assert_eq!(scan_axes(&jittered), None);
        let mut short = raster(4, 3, true);
        short.pop();
        assert_eq!(scan_axes(&short), None);
        assert_eq!(scan_axes(&[(0.0, 0.0), (f64::NAN, 1.0)]), None);
    }
}
