//! Copies that bypass the cache: the stores behind a large gather of short runs.
//!
//! A plain store to a line that is not in cache first reads that line from memory (a read
//! for ownership), so copying into a destination far larger than the cache moves three
//! bytes through memory for every byte copied. `memcpy` avoids this itself for one large
//! copy, but a gather of short runs (a TIA image stored bottom-up: 2 KiB rows in reverse
//! order) calls it once per run and gets the slow path: ~6 GB/s instead of ~11-17 GB/s on
//! two cores here. [`copy`] writes every whole 64-byte line of the destination with
//! non-temporal stores (AVX-512 when the CPU has it, else SSE2, which every x86_64 CPU has)
//! and the rest with plain stores; [`fence`] must follow a batch of such copies before the
//! destination is handed to another thread. Elsewhere both are a plain copy and nothing.

/// Bytes of one cache line: the unit a non-temporal store writes whole.
const LINE: usize = 64;

/// Copy `src` into `dst` (same length) with non-temporal stores for the whole cache lines
/// of `dst`. Call [`fence`] after the last copy of a batch.
pub fn copy(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "stream_copy::copy of unequal lengths");
    let head = dst.as_ptr().align_offset(LINE).min(dst.len());
    let lines = (dst.len() - head) / LINE * LINE;
    let (dst_head, rest) = dst.split_at_mut(head);
    let (dst_lines, dst_tail) = rest.split_at_mut(lines);
    let (src_head, rest) = src.split_at(head);
    let (src_lines, src_tail) = rest.split_at(lines);
    dst_head.copy_from_slice(src_head);
    arch::copy_lines(dst_lines, src_lines);
    dst_tail.copy_from_slice(src_tail);
}

/// Make the non-temporal stores of this thread visible before anything stored after it.
pub fn fence() {
    arch::fence();
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    use std::sync::OnceLock;

    use super::LINE;

    /// Whether this CPU has AVX-512F (checked once).
    pub(super) fn has_avx512() -> bool {
        static AVX512: OnceLock<bool> = OnceLock::new();
        *AVX512.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }

    /// Copy whole lines; `dst` starts on a line and both have the same length, a multiple
    /// of [`LINE`].
    pub fn copy_lines(dst: &mut [u8], src: &[u8]) {
        debug_assert!(dst.len() == src.len() && dst.len().is_multiple_of(LINE));
        debug_assert!(dst.as_ptr().align_offset(LINE) == 0 || dst.is_empty());
        if has_avx512() {
            // SAFETY: AVX-512F was detected at run time, the only requirement of the
            // function's target feature.
            unsafe { copy_lines_avx512(dst, src) }
        } else {
            copy_lines_sse2(dst, src);
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) fn copy_lines_avx512(dst: &mut [u8], src: &[u8]) {
        use std::arch::x86_64::{__m512i, _mm512_loadu_si512, _mm512_stream_si512};
        for (d, s) in dst.chunks_exact_mut(LINE).zip(src.chunks_exact(LINE)) {
            // SAFETY: `s` and `d` are 64 bytes long (chunks_exact), the unaligned load
            // reads exactly `s`, and the store writes exactly `d`, which is 64-byte
            // aligned because `dst` starts on a line and every chunk is a whole line.
            unsafe {
                let v = _mm512_loadu_si512(s.as_ptr().cast::<__m512i>());
                _mm512_stream_si512(d.as_mut_ptr().cast::<__m512i>(), v);
            }
        }
    }

    pub(super) fn copy_lines_sse2(dst: &mut [u8], src: &[u8]) {
        for (d, s) in dst.chunks_exact_mut(16).zip(src.chunks_exact(16)) {
            // SAFETY: SSE2 is part of the x86_64 baseline; `s` and `d` are 16 bytes long
            // (chunks_exact), and `d` is 16-byte aligned because `dst` starts on a line.
            unsafe {
                let v = _mm_loadu_si128(s.as_ptr().cast::<__m128i>());
                _mm_stream_si128(d.as_mut_ptr().cast::<__m128i>(), v);
            }
        }
    }

    pub fn fence() {
        // SAFETY: SSE is part of the x86_64 baseline; a store fence has no other
        // requirement.
        unsafe { _mm_sfence() }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod arch {
    /// Plain copy (no non-temporal stores on this target).
    pub fn copy_lines(dst: &mut [u8], src: &[u8]) {
        dst.copy_from_slice(src);
    }

    /// Nothing to order.
    pub fn fence() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every length and alignment of both sides gives the bytes a plain copy gives
        /// (head, whole lines and tail), and nothing outside the destination changes.
        #[test]
        fn streaming_copy_matches_a_plain_copy(
            len in 0usize..600,
            src_at in 0usize..64,
            dst_at in 0usize..64,
        ) {
            let src: Vec<u8> = (0..src_at + len).map(|i| (i * 31 + 7) as u8).collect();
            let mut dst = vec![0xAAu8; dst_at + len + 64];
            copy(&mut dst[dst_at..dst_at + len], &src[src_at..]);
            fence();
            prop_assert!(dst[..dst_at].iter().all(|&b| b == 0xAA));
            prop_assert_eq!(&dst[dst_at..dst_at + len], &src[src_at..]);
            prop_assert!(dst[dst_at + len..].iter().all(|&b| b == 0xAA));
        }
    }

    /// Both x86_64 kernels (whichever [`copy`] picks on this CPU, and the other where the
    /// CPU has it) copy whole lines from an unaligned source exactly.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_line_kernels_copy_exactly() {
        let src: Vec<u8> = (0..4096 + 3).map(|i| (i * 13 + 1) as u8).collect();
        let mut buf = vec![0u8; 4096 + LINE];
        let at = buf.as_ptr().align_offset(LINE);
        let dst = &mut buf[at..at + 4096];
        arch::copy_lines_sse2(dst, &src[3..]);
        fence();
        assert_eq!(dst, &src[3..]);
        if arch::has_avx512() {
            dst.fill(0);
            // SAFETY: AVX-512F was detected on this CPU.
            unsafe { arch::copy_lines_avx512(dst, &src[3..]) };
            fence();
            assert_eq!(dst, &src[3..]);
        }
    }
}
