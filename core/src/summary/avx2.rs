//! The summary kernels compiled for AVX2, and whether this processor runs it (detected
//! once, at run time; also asked by the facade's histogram and sum kernels).

use std::sync::OnceLock;

use super::kernels::portable_summary;
use super::Summary;
use crate::DType;

/// Whether this processor runs AVX2 (checked once).
pub fn available() -> bool {
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| std::arch::is_x86_feature_detected!("avx2"))
}

/// [`super::summary_of`] compiled for AVX2.
///
/// # Safety
/// The processor must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn summary(dtype: DType, bytes: &[u8]) -> Summary {
    portable_summary(dtype, bytes)
}
