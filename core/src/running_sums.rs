//! Running (prefix) sums of the values of a byte slice, in place, wrapping: what undoes
//! horizontal differencing (TIFF's predictor 2).
//!
//! A single sequence (grey images) runs on x86_64 16 bytes at a time (SSE2, part of every
//! x86_64 processor): the sums inside a vector in log steps of shifted adds, plus the last
//! sum of the vector before, so a row costs a few operations per 16 bytes rather than a
//! dependent add per value; elsewhere, for interleaved sequences and for the bytes short
//! of a vector, a typed loop.

/// Replace each `es`-byte native-order value of `bytes` (1, 2, 4 or 8 bytes; trailing
/// bytes short of a value are left) with the wrapped sum of it and every value before it
/// in its sequence: the values are `spp` sequences interleaved (the samples of a pixel,
/// one sequence each).
pub fn in_place(bytes: &mut [u8], es: usize, spp: usize) {
    assert!(
        matches!(es, 1 | 2 | 4 | 8) && spp > 0,
        "values of 1, 2, 4 or 8 bytes in at least one sequence, not {es} bytes in {spp}"
    );
    let done = if spp == 1 {
        arch::running_sums(bytes, es)
    } else {
        0
    };
    running_sums_from(bytes, es, spp, done);
}

/// [`in_place`] from byte `done` on (a whole number of values of a single sequence, already
/// summed), one value at a time: a running sum per sequence kept in a register, each
/// value read once and written once (a sum kept in memory, or reading back the value just
/// written, made a store-to-load chain of several cycles per value).
fn running_sums_from(bytes: &mut [u8], es: usize, spp: usize, done: usize) {
    debug_assert!(
        done == 0 || spp == 1,
        "only a single sequence starts part-summed"
    );
    let (before, rest) = bytes.split_at_mut(done);
    macro_rules! integrate {
        ($t:ty) => {{
            for sequence in 0..spp {
                let mut sum: $t = match before.len().checked_sub(es) {
                    Some(last) => {
                        <$t>::from_ne_bytes(before[last..].try_into().expect("one value"))
                    }
                    None => 0,
                };
                for cell in rest.chunks_exact_mut(es).skip(sequence).step_by(spp) {
                    sum =
                        sum.wrapping_add(<$t>::from_ne_bytes((&*cell).try_into().expect("sized")));
                    cell.copy_from_slice(&sum.to_ne_bytes());
                }
            }
        }};
    }
    match es {
        1 => integrate!(u8),
        2 => integrate!(u16),
        4 => integrate!(u32),
        _ => integrate!(u64),
    }
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use std::arch::x86_64::*;

    /// Running sums of the `es`-byte values of `row` (1, 2, 4 or 8), 16 bytes at a time, as
    /// far as whole vectors reach: the bytes done.
    pub(super) fn running_sums(row: &mut [u8], es: usize) -> usize {
        // SAFETY: SSE2 is part of every x86_64 processor; each function stays inside `row`.
        unsafe {
            match es {
                1 => sums_u8(row),
                2 => sums_u16(row),
                4 => sums_u32(row),
                _ => sums_u64(row),
            }
        }
    }

    /// Every lane set to the last 16-bit lane of `x`.
    #[inline(always)]
    unsafe fn last_u16(x: __m128i) -> __m128i {
        let high = _mm_shufflehi_epi16::<0xFF>(x);
        _mm_unpackhi_epi64(high, high)
    }

    /// Every lane set to the last byte of `x`.
    #[inline(always)]
    unsafe fn last_u8(x: __m128i) -> __m128i {
        last_u16(_mm_unpackhi_epi8(x, x))
    }

    /// Every lane set to the last 32-bit lane of `x`.
    #[inline(always)]
    unsafe fn last_u32(x: __m128i) -> __m128i {
        _mm_shuffle_epi32::<0xFF>(x)
    }

    /// Every lane set to the last 64-bit lane of `x`.
    #[inline(always)]
    unsafe fn last_u64(x: __m128i) -> __m128i {
        _mm_unpackhi_epi64(x, x)
    }

    /// One running-sum loop over lanes of one width: within each vector the sums of the
    /// lanes before each lane, added in steps of 1, 2, 4, ... lanes (byte shifts of the
    /// vector), then the running total of the vectors before it.
    macro_rules! sums {
        ($name:ident, $add:ident, $last:ident, [$($shift:literal),+]) => {
            /// # Safety
            /// The processor runs SSE2 (every x86_64 does).
            unsafe fn $name(row: &mut [u8]) -> usize {
                let mut total = _mm_setzero_si128();
                let mut i = 0;
                while i + 16 <= row.len() {
                    let at = row.as_mut_ptr().add(i).cast::<__m128i>();
                    let mut x = _mm_loadu_si128(at);
                    $(x = $add(x, _mm_slli_si128::<$shift>(x));)+
                    x = $add(x, total);
                    _mm_storeu_si128(at, x);
                    total = $last(x);
                    i += 16;
                }
                i
            }
        };
    }

    sums!(sums_u8, _mm_add_epi8, last_u8, [1, 2, 4, 8]);
    sums!(sums_u16, _mm_add_epi16, last_u16, [2, 4, 8]);
    sums!(sums_u32, _mm_add_epi32, last_u32, [4, 8]);
    sums!(sums_u64, _mm_add_epi64, last_u64, [8]);
}

#[cfg(not(target_arch = "x86_64"))]
mod arch {
    /// No vector loop on this target: nothing done.
    pub(super) fn running_sums(_: &mut [u8], _: usize) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vector loop and the typed loop after it give the sums of the definition,
        /// for every value size, length and alignment.
        #[test]
        fn running_sums_add_every_value_before(
            es in prop::sample::select(vec![1usize, 2, 4, 8]),
            len in 0usize..300,
            skew in 0usize..16,
            seed in any::<u64>(),
        ) {
            let stored: Vec<u8> = (0..len + skew)
                .map(|i| (seed.wrapping_mul(i as u64 + 1) >> 13) as u8)
                .collect();
            let mut want = stored[skew..].to_vec();
            let values = want.len() / es;
            let mut sum = 0u128;
            for v in 0..values {
                let cell = &mut want[v * es..(v + 1) * es];
                let mut x = [0u8; 16];
                x[..es].copy_from_slice(cell);
                let value = if cfg!(target_endian = "little") {
                    u128::from_le_bytes(x)
                } else {
                    u128::from_be_bytes(x) >> (128 - 8 * es)
                };
                sum = (sum + value) & (u128::MAX >> (128 - 8 * es));
                let bytes = if cfg!(target_endian = "little") {
                    sum.to_le_bytes()[..es].to_vec()
                } else {
                    sum.to_be_bytes()[16 - es..].to_vec()
                };
                cell.copy_from_slice(&bytes);
            }
            let mut got = stored;
            in_place(&mut got[skew..], es, 1);
            prop_assert_eq!(&got[skew..], &want[..]);
        }
    }
}
