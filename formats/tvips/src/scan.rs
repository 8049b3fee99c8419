//! Scan reconstruction for 4D-STEM recordings: which stored frame sits at each scan
//! position, from a given `scan_shape` and `scan_start_frame` or (`"auto"`) from the frame
//! headers' rotator indices, with winding ("snake") scans and hysteresis, as rsciio does.
//! Pure functions over small index arrays.

use emio_core::{Error, Result};

use crate::FORMAT;

/// Which stored frame is shown at each scan position: a C-order grid of frame indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanGrid {
    /// Scan shape (slowest first).
    pub shape: Vec<u64>,
    /// Frame index per position, C order.
    pub frames: Vec<u64>,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::invalid_option("scan_shape", reason)
}

/// `n` consecutive frames from `start`, shaped `shape`.
pub fn regular(shape: &[u64], start: u64, available: u64) -> Result<ScanGrid> {
    let signed: Vec<i64> = shape
        .iter()
        .map(|&n| i64::try_from(n).unwrap_or(-1))
        .collect();
    emio_core::options::parse_shape("scan_shape", &signed)?;
    let total = emio_core::source::element_count(shape).unwrap_or(u64::MAX);
    let end = start.saturating_add(total);
    if end > available {
        return Err(emio_core::options::shape_misfit(
            "scan_shape",
            shape,
            available.saturating_sub(start),
            &format!(" from scan_start_frame {start}"),
        ));
    }
    Ok(ScanGrid {
        shape: shape.to_vec(),
        frames: (start..end).collect(),
    })
}

/// rsciio's `_find_auto_scan_start_stop`: the first and last change of the rotator index
/// (compared as u32 differences, so any change counts).
fn auto_start_stop(rotidx: &[u32]) -> Option<(usize, usize)> {
    let changes: Vec<usize> = rotidx
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1].wrapping_sub(w[0]) > 0)
        .map(|(i, _)| i)
        .collect();
    let (&first, &last) = (changes.first()?, changes.last()?);
    let start = if rotidx[first] == 0 { first + 1 } else { first };
    Some((start, last + 1))
}

/// rsciio's `_guess_scan_index_grid`: the frame shown at each of `rotidx[stop]` positions:
/// between two rotator changes, consecutive frames fill consecutive positions (extra frames
/// at one position are dropped, skipped positions repeat the last frame).
fn guess_grid(rotidx: &[u32], start: usize, stop: usize) -> Result<Vec<u64>> {
    let total = rotidx[stop] as usize;
    let mut grid = vec![0u64; total];
    let rot = &rotidx[start..=stop];
    let mut inv = 0usize;
    let bad = || Error::malformed_at_unknown(FORMAT, "rotator indices that map onto the scan");
    for i in 0..rot.len() {
        if rot[inv] != rot[i] {
            let pos_start = rot[inv].wrapping_sub(1) as usize;
            let pos_end = rot[i].wrapping_sub(1) as usize;
            let count = (i - inv).min(pos_end.wrapping_sub(pos_start) as u32 as usize);
            if count == 0 {
                return Err(bad());
            }
            // Positions pos_start..pos_end: frames inv.. (one each), then the last of them.
            let last = (inv + count - 1) as u64;
            let (from, to) = (pos_start.min(total), pos_end.min(total));
            if from < to {
                grid[from..to].fill(last);
            }
            for (k, p) in (pos_start..pos_start.saturating_add(count)).enumerate() {
                if p < total {
                    grid[p] = (inv + k) as u64;
                }
            }
            inv = i;
        }
    }
    let from = rot[inv].wrapping_sub(1) as usize;
    for g in grid.iter_mut().skip(from) {
        *g = inv as u64;
    }
    Ok(grid.into_iter().map(|g| g + start as u64).collect())
}

/// The square scan recorded in the rotator indices of every frame (`scan_shape="auto"`).
pub fn auto(rotidx: &[u32]) -> Result<ScanGrid> {
    let (start, stop) = auto_start_stop(rotidx).ok_or_else(|| {
        invalid(
            "the scan start and stop could not be found from the frame headers' rotator \
             indices; give scan_shape and scan_start_frame",
        )
    })?;
    let total = u64::from(rotidx[stop]);
    // Positions skipped by the rotator repeat frames, but a scan far larger than the
    // recording is a damaged header, not a reason to allocate its grid.
    if total > 16 * rotidx.len() as u64 {
        return Err(invalid(format!(
            "the rotator indices describe {total} positions for {} frames; give scan_shape \
             and scan_start_frame",
            rotidx.len()
        )));
    }
    let side = (total as f64).sqrt().round() as u64;
    if side * side != total || total == 0 {
        return Err(invalid(format!(
            "the rotator indices describe {total} positions, not a square scan; give \
             scan_shape and scan_start_frame"
        )));
    }
    Ok(ScanGrid {
        shape: vec![side, side],
        frames: guess_grid(rotidx, start, stop)?,
    })
}

impl ScanGrid {
    /// Reverse every second scan row (`x`) or column (`y`), starting with the first, then
    /// roll those rows or columns by `hysteresis` positions.
    pub fn wind(&mut self, axis: &str, hysteresis: i64) -> Result<()> {
        let nd = self.shape.len();
        if nd < 2 {
            return Err(Error::invalid_option(
                "winding_scan_axis",
                "needs a scan_shape of at least two dimensions",
            ));
        }
        let (ny, nx) = (self.shape[nd - 2] as usize, self.shape[nd - 1] as usize);
        let plane = ny * nx;
        let along_x = match axis {
            "x" | "0" => true,
            "y" | "1" => false,
            other => {
                return Err(Error::invalid_option(
                    "winding_scan_axis",
                    format!("{other:?} is not x or y"),
                ))
            }
        };
        for block in self.frames.chunks_exact_mut(plane.max(1)) {
            // Lines: rows (x) or columns (y) with even index.
            let (lines, len) = if along_x { (ny, nx) } else { (nx, ny) };
            for line in (0..lines).step_by(2) {
                let at = |k: usize| {
                    if along_x {
                        line * nx + k
                    } else {
                        k * nx + line
                    }
                };
                let mut values: Vec<u64> = (0..len).map(|k| block[at(k)]).rev().collect();
                if len > 0 {
                    let shift = hysteresis.rem_euclid(len as i64) as usize;
                    values.rotate_right(shift);
                }
                for (k, v) in values.into_iter().enumerate() {
                    block[at(k)] = v;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_grids_are_bounded() {
        let g = regular(&[2, 3], 1, 7).unwrap();
        assert_eq!(g.frames, vec![1, 2, 3, 4, 5, 6]);
        assert!(regular(&[2, 3], 2, 7).is_err());
        assert!(regular(&[0, 3], 0, 7).is_err());
    }

    #[test]
    fn winding_reverses_and_rolls_even_rows() {
        let mut g = regular(&[2, 3], 0, 6).unwrap();
        g.wind("x", 0).unwrap();
        assert_eq!(g.frames, vec![2, 1, 0, 3, 4, 5]);
        let mut g = regular(&[2, 3], 0, 6).unwrap();
        g.wind("x", 1).unwrap();
        assert_eq!(g.frames, vec![0, 2, 1, 3, 4, 5]);
        let mut g = regular(&[2, 2], 0, 4).unwrap();
        g.wind("y", 0).unwrap();
        assert_eq!(g.frames, vec![2, 1, 0, 3]);
        assert!(g.wind("z", 0).is_err());
    }

    #[test]
    fn auto_scans_follow_the_rotator() {
        // Two frames before the scan, then positions 1..4 with position 2 recorded twice.
        let rot = [0, 0, 1, 2, 2, 3, 4, 4];
        let g = auto(&rot).unwrap();
        assert_eq!(g.shape, vec![2, 2]);
        assert_eq!(g.frames, vec![2, 3, 5, 6]);
        assert!(auto(&[0, 0, 0]).is_err());
        assert!(auto(&[0, 1, 2, 3]).is_err());
        assert!(auto(&[0, 1, 4_000_000_000]).is_err());
    }
}
