//! Reversing the bytes of every 2-, 4- or 8-byte group in place (values stored in the other
//! byte order, such as Medipix MIB counts), or while exchanging two rows (frames stored
//! upside down), at the speed of the cache the bytes were just copied into.
//!
//! (A copy fused with the swap was tried and not kept: loads of the mapped file's pages
//! wait on memory longer than `memcpy`'s, so copying a piece and swapping it while it is
//! cached runs faster.)
//!
//! On x86_64 the groups are reversed by byte shuffles of whole vectors, AVX-512BW or AVX2
//! (the widest the processor runs, [`Kernel::best`]); SSE2 has no byte shuffle, so there and
//! on other targets (and for the last bytes short of a vector) a typed loop the compiler
//! vectorises with shifts does the work.

use crate::transpose::Kernel;

/// Reverse the byte order of every `unit`-byte group of `bytes` (`unit` 1 leaves them).
pub fn in_place(bytes: &mut [u8], unit: usize) {
    if unit <= 1 {
        return;
    }
    let done = arch::swap(bytes, unit, Kernel::best());
    portable(&mut bytes[done..], unit);
}

/// Exchange `a` and `b` (of equal length), reversing the byte order of every `unit`-byte
/// group of both on the way (`unit` 1 only exchanges them): the rows of a frame stored
/// upside down, in the other byte order, put back in order and in the machine's byte
/// order in one pass instead of two.
pub fn exchange_swapped(a: &mut [u8], b: &mut [u8], unit: usize) {
    exchange_with(a, b, unit, Kernel::best());
}

/// [`exchange_swapped`] with `kernel`'s vectors, the portable loops after them.
fn exchange_with(a: &mut [u8], b: &mut [u8], unit: usize, kernel: Kernel) {
    assert_eq!(a.len(), b.len(), "exchanged slices of one length");
    let done = if unit > 1 {
        arch::exchange(a, b, unit, kernel)
    } else {
        0
    };
    let (a, b) = (&mut a[done..], &mut b[done..]);
    a.swap_with_slice(b);
    portable(a, unit);
    portable(b, unit);
}

/// The portable loop: aligned buffers (the usual case: `Vec` allocations and element-
/// aligned slices of them) as typed integers, which the compiler vectorises; others group
/// by group.
fn portable(bytes: &mut [u8], unit: usize) {
    fn typed<T: bytemuck::Pod>(bytes: &mut [u8], swap: fn(T) -> T) -> bool {
        match bytemuck::try_cast_slice_mut::<u8, T>(bytes) {
            Ok(values) => {
                values.iter_mut().for_each(|v| *v = swap(*v));
                true
            }
            Err(_) => false,
        }
    }
    let done = match unit {
        1 => true,
        2 => typed::<u16>(bytes, u16::swap_bytes),
        4 => typed::<u32>(bytes, u32::swap_bytes),
        8 => typed::<u64>(bytes, u64::swap_bytes),
        _ => false,
    };
    if !done {
        bytes.chunks_exact_mut(unit).for_each(|c| c.reverse());
    }
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use std::arch::x86_64::*;

    use super::Kernel;

    /// Bytes per step of the vector loops: four vectors in flight.
    const STEP_VECTORS: usize = 4;

    /// Reverse every `unit`-byte group of `bytes` with `kernel`'s vectors, as far as whole
    /// vectors reach; returns the bytes done (0 for units or kernels without a vector
    /// loop).
    pub(super) fn swap(bytes: &mut [u8], unit: usize, kernel: Kernel) -> usize {
        let Some(pattern) = pattern(unit) else {
            return 0;
        };
        match kernel {
            // SAFETY: AVX-512F/BW were detected at run time (the kernel is one the
            // processor runs); the function stays inside `bytes`.
            Kernel::Avx512 => unsafe { swap_avx512(bytes, pattern) },
            // SAFETY: as above, with AVX2.
            Kernel::Avx2 => unsafe { swap_avx2(bytes, pattern) },
            Kernel::Sse2 | Kernel::Scalar => 0,
        }
    }

    /// Exchange `a` and `b` (of one length), reversing every `unit`-byte group, with
    /// `kernel`'s vectors as far as whole vectors reach; returns the bytes done.
    pub(super) fn exchange(a: &mut [u8], b: &mut [u8], unit: usize, kernel: Kernel) -> usize {
        let Some(pattern) = pattern(unit) else {
            return 0;
        };
        match kernel {
            // SAFETY: AVX-512F/BW were detected at run time (the kernel is one the
            // processor runs); the function stays inside `a` and `b`, of one length.
            Kernel::Avx512 => unsafe { exchange_avx512(a, b, pattern) },
            // SAFETY: as above, with AVX2.
            Kernel::Avx2 => unsafe { exchange_avx2(a, b, pattern) },
            Kernel::Sse2 | Kernel::Scalar => 0,
        }
    }

    /// The byte order one 16-byte lane is shuffled into: every group reversed.
    fn pattern(unit: usize) -> Option<[u8; 16]> {
        const fn reversed(unit: usize) -> [u8; 16] {
            let mut p = [0u8; 16];
            let mut i = 0;
            while i < 16 {
                p[i] = (i - i % unit + unit - 1 - i % unit) as u8;
                i += 1;
            }
            p
        }
        const PATTERNS: [[u8; 16]; 3] = [reversed(2), reversed(4), reversed(8)];
        match unit {
            2 => Some(PATTERNS[0]),
            4 => Some(PATTERNS[1]),
            8 => Some(PATTERNS[2]),
            _ => None,
        }
    }

    /// A swap loop over one vector width: four vectors in flight, then single vectors, as
    /// far as whole vectors reach; returns the bytes done.
    macro_rules! kernel {
        ($name:ident, $exchange:ident, $feature:literal, $vector:ty, $bytes:literal,
         $broadcast:ident, $load:ident, $store:ident, $shuffle:ident) => {
            #[doc = concat!("Reverse groups with ", $feature, " byte shuffles of ")]
            #[doc = concat!(stringify!($bytes), "-byte vectors.")]
            ///
            /// # Safety
            /// The processor has the features enabled here.
            #[target_feature(enable = $feature)]
            unsafe fn $name(bytes: &mut [u8], pattern: [u8; 16]) -> usize {
                const V: usize = $bytes;
                let (len, at) = (bytes.len(), bytes.as_mut_ptr());
                let mask = $broadcast(_mm_loadu_si128(pattern.as_ptr().cast()));
                let mut i = 0;
                while i + STEP_VECTORS * V <= len {
                    let v: [$vector; STEP_VECTORS] =
                        std::array::from_fn(|k| $load(at.add(i + k * V).cast()));
                    for (k, x) in v.into_iter().enumerate() {
                        $store(at.add(i + k * V).cast(), $shuffle(x, mask));
                    }
                    i += STEP_VECTORS * V;
                }
                while i + V <= len {
                    let x = $load(at.add(i).cast());
                    $store(at.add(i).cast(), $shuffle(x, mask));
                    i += V;
                }
                i
            }

            #[doc = concat!("Exchange two slices of one length, reversing groups with ")]
            #[doc = concat!($feature, " byte shuffles of ", stringify!($bytes), "-byte vectors.")]
            ///
            /// # Safety
            /// The processor has the features enabled here; `a` and `b` have one length.
            #[target_feature(enable = $feature)]
            unsafe fn $exchange(a: &mut [u8], b: &mut [u8], pattern: [u8; 16]) -> usize {
                const V: usize = $bytes;
                const HALF: usize = STEP_VECTORS / 2;
                let (len, pa, pb) = (a.len(), a.as_mut_ptr(), b.as_mut_ptr());
                let mask = $broadcast(_mm_loadu_si128(pattern.as_ptr().cast()));
                let mut i = 0;
                while i + HALF * V <= len {
                    let x: [$vector; HALF] =
                        std::array::from_fn(|k| $load(pa.add(i + k * V).cast()));
                    let y: [$vector; HALF] =
                        std::array::from_fn(|k| $load(pb.add(i + k * V).cast()));
                    for k in 0..HALF {
                        $store(pa.add(i + k * V).cast(), $shuffle(y[k], mask));
                        $store(pb.add(i + k * V).cast(), $shuffle(x[k], mask));
                    }
                    i += HALF * V;
                }
                while i + V <= len {
                    let (x, y) = ($load(pa.add(i).cast()), $load(pb.add(i).cast()));
                    $store(pa.add(i).cast(), $shuffle(y, mask));
                    $store(pb.add(i).cast(), $shuffle(x, mask));
                    i += V;
                }
                i
            }
        };
    }

    kernel!(
        swap_avx512,
        exchange_avx512,
        "avx512f,avx512bw",
        __m512i,
        64,
        _mm512_broadcast_i32x4,
        _mm512_loadu_si512,
        _mm512_storeu_si512,
        _mm512_shuffle_epi8
    );
    kernel!(
        swap_avx2,
        exchange_avx2,
        "avx2",
        __m256i,
        32,
        _mm256_broadcastsi128_si256,
        _mm256_loadu_si256,
        _mm256_storeu_si256,
        _mm256_shuffle_epi8
    );
}

#[cfg(not(target_arch = "x86_64"))]
mod arch {
    use super::Kernel;

    /// No vector loop on this target: nothing done, the portable loop does it all.
    pub(super) fn swap(_: &mut [u8], _: usize, _: Kernel) -> usize {
        0
    }

    /// No vector loop on this target: nothing done, the portable loops do it all.
    pub(super) fn exchange(_: &mut [u8], _: &mut [u8], _: usize, _: Kernel) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(bytes: &[u8], unit: usize) -> Vec<u8> {
        let mut out = bytes.to_vec();
        out.chunks_exact_mut(unit).for_each(|c| c.reverse());
        out
    }

    proptest! {
        /// Every kernel this processor runs, at any alignment and length, against
        /// group-by-group reversal.
        #[test]
        fn every_kernel_reverses_every_group(
            unit in prop::sample::select(vec![2usize, 4, 8]),
            groups in 0usize..700,
            skew in 0usize..8,
            seed in any::<u64>(),
        ) {
            let len = groups * unit;
            let stored: Vec<u8> = (0..len + skew)
                .map(|i| (i as u64).wrapping_mul(seed | 1).rotate_left(17) as u8)
                .collect();
            let src = &stored[skew..];
            let expected = reference(src, unit);
            for k in Kernel::available() {
                let mut inplace = stored.clone();
                let bytes = &mut inplace[skew..];
                let done = arch::swap(bytes, unit, k);
                portable(&mut bytes[done..], unit);
                prop_assert_eq!(&bytes[..], &expected[..], "{:?}", k);
            }
            let mut inplace = src.to_vec();
            in_place(&mut inplace, unit);
            prop_assert_eq!(&inplace, &expected);
        }
    }

    proptest! {
        /// Every kernel exchanges two slices and reverses every group of both, at any
        /// alignment and length, against an exchange then group-by-group reversal.
        #[test]
        fn every_kernel_exchanges_and_reverses(
            unit in prop::sample::select(vec![1usize, 2, 3, 4, 8]),
            groups in 0usize..300,
            skews in (0usize..8, 0usize..8),
            seed in any::<u64>(),
        ) {
            let len = groups * unit;
            let fill = |salt: u64, n: usize| -> Vec<u8> {
                (0..n)
                    .map(|i| (i as u64 ^ salt).wrapping_mul(seed | 1).rotate_left(17) as u8)
                    .collect()
            };
            let (a0, b0) = (fill(1, len + skews.0), fill(2, len + skews.1));
            let expected_a = reference(&b0[skews.1..], unit);
            let expected_b = reference(&a0[skews.0..], unit);
            for k in Kernel::available() {
                let (mut a, mut b) = (a0.clone(), b0.clone());
                let (a, b) = (&mut a[skews.0..], &mut b[skews.1..]);
                exchange_with(a, b, unit, k);
                prop_assert_eq!(&a[..], &expected_a[..], "{:?}", k);
                prop_assert_eq!(&b[..], &expected_b[..], "{:?}", k);
            }
        }
    }

    #[test]
    fn odd_units_reverse_group_by_group() {
        let bytes: Vec<u8> = (0..30).collect();
        let mut out = bytes.clone();
        in_place(&mut out, 3);
        assert_eq!(out, reference(&bytes, 3));
    }
}
