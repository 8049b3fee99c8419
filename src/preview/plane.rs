//! Reading what a preview shows, in bounded memory: a 2-D plane of a dataset averaged
//! down to at most a given size (read in bands of rows), or a 1-D line averaged down to a
//! given number of points. Every other dimension is held at index 0.

use emio_core::{Axis, DType, Dataset, Result};

/// Which number a complex element gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The value ([`crate::values`]: magnitude for complex data).
    Value,
    /// The phase of complex data, in radians.
    Phase,
}

/// A plane of values, row-major, `height` rows of `width`, each the mean of a `bin` × `bin`
/// block of the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// One number per pixel.
    pub values: Vec<f64>,
    /// Colours per pixel, for RGB data.
    pub rgb: Option<Vec<[u8; 3]>>,
    /// Source pixels per plane pixel along each side.
    pub bin: u64,
    /// The axis along the columns (for the scale bar).
    pub x_axis: Axis,
}

/// Region start and shape selecting `band` along `dim`s at index 0 elsewhere.
fn band_region(ndim: usize, picks: &[(usize, u64, u64)]) -> (Vec<u64>, Vec<u64>) {
    let mut start = vec![0; ndim];
    let mut shape = vec![1; ndim];
    for &(d, s, n) in picks {
        start[d] = s;
        shape[d] = n;
    }
    (start, shape)
}

/// The plane spanned by dimensions `rows` < `cols` of `ds`, averaged in blocks so that
/// neither side exceeds `size` pixels.
pub fn read_plane(
    ds: &Dataset,
    rows: usize,
    cols: usize,
    size: usize,
    component: Component,
) -> Result<Plane> {
    let (h, w) = (ds.shape()[rows], ds.shape()[cols]);
    let bin = h.max(w).div_ceil(size.max(1) as u64).max(1);
    let (ph, pw) = (h.div_ceil(bin) as usize, w.div_ceil(bin) as usize);
    let mut sums = vec![0f64; ph * pw];
    let mut counts = vec![0u32; ph * pw];
    let dtype = ds.dtype();
    let mut colours = dtype.is_rgb().then(|| vec![[0f64; 3]; ph * pw]);
    for band in 0..ph as u64 {
        let r0 = band * bin;
        let n = bin.min(h - r0);
        let (start, shape) = band_region(ds.ndim(), &[(rows, r0, n), (cols, 0, w)]);
        let bytes = ds.read_region_bytes(&start, &shape)?;
        let row_of = |i: usize| band as usize * pw + (i % w as usize) / bin as usize;
        let mut i = 0usize;
        let add = |v: f64| {
            let at = row_of(i);
            if v.is_finite() {
                sums[at] += v;
                counts[at] += 1;
            }
            i += 1;
        };
        match (component, crate::values::phases(dtype, &bytes)) {
            (Component::Phase, Some(phases)) => phases.into_iter().for_each(add),
            _ => crate::values::for_each(dtype, &bytes, add),
        }
        if let Some(colours) = &mut colours {
            for (i, px) in bytes.chunks_exact(dtype.size()).enumerate() {
                let c = &mut colours[row_of(i)];
                for (k, channel) in c.iter_mut().enumerate() {
                    *channel += match dtype {
                        DType::Rgb8 | DType::Rgba8 => f64::from(px[k]),
                        _ => f64::from(u16::from_ne_bytes([px[2 * k], px[2 * k + 1]])) / 257.0,
                    };
                }
            }
        }
    }
    let values = sums
        .iter()
        .zip(&counts)
        .map(|(&s, &c)| if c > 0 { s / f64::from(c) } else { f64::NAN })
        .collect();
    let block = |i: usize| {
        let (y, x) = ((i / pw) as u64 * bin, (i % pw) as u64 * bin);
        (bin.min(h - y) * bin.min(w - x)) as f64
    };
    let rgb = colours.map(|c| {
        c.iter()
            .enumerate()
            .map(|(i, s)| s.map(|v| (v / block(i)).round().clamp(0.0, 255.0) as u8))
            .collect()
    });
    Ok(Plane {
        width: pw,
        height: ph,
        values,
        rgb,
        bin,
        x_axis: ds.axes[cols].clone(),
    })
}

/// The values along dimension `dim` of `ds` with their coordinates, averaged in groups so
/// that at most `points` remain.
pub fn read_line(ds: &Dataset, dim: usize, points: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let n = ds.shape()[dim];
    let (start, shape) = band_region(ds.ndim(), &[(dim, 0, n)]);
    let group = n.div_ceil(points.max(1) as u64).max(1) as usize;
    let bytes = ds.read_region_bytes(&start, &shape)?;
    let mut y = Vec::with_capacity(n as usize);
    crate::values::for_each(ds.dtype(), &bytes, |v| y.push(v));
    let axis = &ds.axes[dim];
    let x: Vec<f64> = (0..n as usize).map(|i| axis.coordinate(i)).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Ok((
        x.chunks(group).map(mean).collect(),
        y.chunks(group).map(mean).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_are_averaged_in_blocks() {
        let bytes: Vec<u8> = (0..2 * 5 * 6u16).flat_map(|v| v.to_ne_bytes()).collect();
        let ds = Dataset::from_bytes(bytes, DType::U16, vec![2, 5, 6]).unwrap();
        let full = read_plane(&ds, 1, 2, 100, Component::Value).unwrap();
        assert_eq!((full.width, full.height, full.bin), (6, 5, 1));
        assert_eq!(full.values[7], 7.0);
        let small = read_plane(&ds, 1, 2, 3, Component::Value).unwrap();
        assert_eq!((small.width, small.height, small.bin), (3, 3, 2));
        assert_eq!(small.values[0], (0.0 + 1.0 + 6.0 + 7.0) / 4.0);
        assert_eq!(small.values[8], (28.0 + 29.0) / 2.0);
        let (x, y) = read_line(&ds, 2, 3).unwrap();
        assert_eq!(x, [0.5, 2.5, 4.5]);
        assert_eq!(y, [0.5, 2.5, 4.5]);
    }

    #[test]
    fn rgb_planes_keep_their_colours() {
        let ds =
            Dataset::from_bytes(vec![10, 20, 30, 30, 40, 50], DType::Rgb8, vec![1, 2]).unwrap();
        let p = read_plane(&ds, 0, 1, 1, Component::Value).unwrap();
        assert_eq!(p.rgb.unwrap(), vec![[20, 30, 40]]);
    }
}
