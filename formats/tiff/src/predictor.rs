//! Undoing TIFF's predictors on decoded rows: horizontal differencing (predictor 2: each
//! sample stored as its difference from the same sample of the pixel before) and the
//! floating-point predictor (3: byte planes, differenced).
//!
//! Horizontal differencing is a running sum along the row per sample of a pixel
//! ([`emio_core::running_sums`]: 16 bytes at a time for grey images, the usual case).

use emio_core::DType;

/// Undo horizontal differencing: each sample is the wrapped sum with the same sample of the
/// previous pixel in its row (`per_row` samples a row, `spp` samples a pixel); samples of
/// other sizes than 1, 2, 4 or 8 bytes are left.
pub fn undo_horizontal(data: &mut [u8], per_row: usize, spp: usize, dtype: DType) {
    let es = dtype.size();
    if !matches!(es, 1 | 2 | 4 | 8) || spp == 0 {
        return;
    }
    for row in data.chunks_exact_mut(per_row * es) {
        emio_core::running_sums::in_place(row, es, spp);
    }
}

/// Undo the floating-point predictor on one row: byte-wise differencing across the row, then
/// the byte planes (most significant first) are interleaved back into native values.
pub fn undo_float_predictor(row: &mut [u8], spp: usize, es: usize) {
    for i in spp..row.len() {
        row[i] = row[i].wrapping_add(row[i - spp]);
    }
    let n = row.len() / es;
    let planes = row.to_vec();
    for v in 0..n {
        for b in 0..es {
            let byte = planes[b * n + v];
            let dst = if cfg!(target_endian = "big") {
                b
            } else {
                es - 1 - b
            };
            row[v * es + dst] = byte;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The horizontal predictor undone with running sums matches the definition
        /// (each sample plus the same sample of the pixel before it), for every sample
        /// size and samples per pixel.
        #[test]
        fn the_horizontal_predictor_is_undone_sample_by_sample(
            es in proptest::sample::select(vec![1usize, 2, 4, 8]),
            spp in 1usize..5,
            width in 1usize..80,
            rows in 1usize..4,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let per_row = width * spp;
            let bytes: Vec<u8> = (0..rows * per_row * es)
                .map(|i| (seed.wrapping_mul(i as u64 + 1) >> 13) as u8)
                .collect();
            let dtype = match es { 1 => DType::U8, 2 => DType::U16, 4 => DType::U32, _ => DType::U64 };
            let mut want = bytes.clone();
            for row in want.chunks_exact_mut(per_row * es) {
                for i in spp..per_row {
                    let mut carry = 0u16;
                    for b in 0..es {
                        // Little- or big-endian native order: add byte by byte from the
                        // least significant.
                        let k = if cfg!(target_endian = "little") { b } else { es - 1 - b };
                        let sum = row[i * es + k] as u16 + row[(i - spp) * es + k] as u16 + carry;
                        row[i * es + k] = sum as u8;
                        carry = sum >> 8;
                    }
                }
            }
            let mut got = bytes;
            undo_horizontal(&mut got, per_row, spp, dtype);
            proptest::prop_assert_eq!(got, want);
        }
    }
}
