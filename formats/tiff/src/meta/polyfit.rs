//! Least-squares polynomial fit and evaluation (numpy's `polyfit`/`polyval` order), for
//! the Hamamatsu streak axes.

/// Least-squares polynomial of `degree` through (i, y_i), highest power first (numpy's
/// `polyfit` order).
pub fn polyfit(y: &[f64], degree: usize) -> Vec<f64> {
    let n = degree + 1;
    // Fit in a scaled variable t = i / len for conditioning, then expand back.
    let len = y.len().max(1) as f64;
    let mut ata = vec![vec![0.0; n]; n];
    let mut aty = vec![0.0; n];
    for (i, &v) in y.iter().enumerate() {
        let t = i as f64 / len;
        let pw: Vec<f64> = (0..n).map(|k| t.powi(k as i32)).collect();
        for a in 0..n {
            aty[a] += pw[a] * v;
            for b in 0..n {
                ata[a][b] += pw[a] * pw[b];
            }
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&a, &b| ata[a][col].abs().total_cmp(&ata[b][col].abs()))
            .unwrap_or(col);
        ata.swap(col, pivot);
        aty.swap(col, pivot);
        let d = ata[col][col];
        if d == 0.0 {
            continue;
        }
        let pivot_row = ata[col].clone();
        for row in 0..n {
            if row != col {
                let f = ata[row][col] / d;
                for (a, p) in ata[row].iter_mut().zip(&pivot_row).skip(col) {
                    *a -= f * p;
                }
                aty[row] -= f * aty[col];
            }
        }
    }
    let c_t: Vec<f64> = (0..n)
        .map(|k| {
            if ata[k][k] == 0.0 {
                0.0
            } else {
                aty[k] / ata[k][k]
            }
        })
        .collect();
    // c_t are coefficients in t = i/len: coefficient of i^k is c_t[k] / len^k.
    (0..n).rev().map(|k| c_t[k] / len.powi(k as i32)).collect()
}

/// The polynomial `p` (highest power first) at `x`.
pub fn polyval(p: &[f64], x: f64) -> f64 {
    p.iter().fold(0.0, |acc, c| acc * x + c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polyfit_recovers_a_cubic() {
        let y: Vec<f64> = (0..50)
            .map(|i| {
                let x = i as f64;
                0.5 * x * x * x - 2.0 * x * x + 3.0 * x + 7.0
            })
            .collect();
        let p = polyfit(&y, 3);
        for (a, b) in p.iter().zip([0.5, -2.0, 3.0, 7.0]) {
            assert!((a - b).abs() < 1e-6 * b.abs().max(1.0), "{p:?}");
        }
    }
}
