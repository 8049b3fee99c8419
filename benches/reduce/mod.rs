//! The benchmark's reduction: the sum of every value through the chunk API, one typed loop
//! per region, in the order the values are stored.

use emio::{DType, Dataset, NoProgress, Result};
use emio_core::engine::Engine;

/// Bytes per region of the sum: regions follow the storage layout
/// ([`Dataset::read_chunk_shape`]) and are small enough to stay in the L2 cache between
/// being read and being summed.
const SUM_REGION_BYTES: u64 = 2 << 20;

/// Sum of every value through the chunk API on the current rayon pool's threads, walking
/// the values in the order they are stored ([`Dataset::in_any_order`]: a sum does not
/// depend on the order, so transposed storage is never transposed nor frames stored
/// bottom-up turned over), in place in the memory map where a region is stored as long
/// runs, else read in cache-sized pieces ([`Engine::for_each_region_in_place`]).
pub fn sum_all(ds: &Dataset) -> Result<f64> {
    let ds = &ds.in_any_order();
    let chunk = ds.read_chunk_shape(SUM_REGION_BYTES);
    let total = std::sync::Mutex::new(0f64);
    let dtype = ds.dtype();
    Engine::default().for_each_region_in_place(ds, &chunk, &NoProgress, |_, bytes| {
        let s = sum_bytes(dtype, bytes);
        *total.lock().expect("sum lock") += s;
        Ok(())
    })?;
    Ok(total.into_inner().expect("sum lock"))
}

fn sum_bytes(dtype: DType, bytes: &[u8]) -> f64 {
    fn typed<T: Copy + Pod>(bytes: &[u8], f: impl Fn(T) -> f64) -> f64 {
        let n = std::mem::size_of::<T>();
        // Eight independent accumulators let the compiler vectorize.
        let mut acc = [0f64; 8];
        let chunks = bytes.chunks_exact(n * 8);
        let rest = chunks.remainder();
        for block in chunks {
            for (k, a) in acc.iter_mut().enumerate() {
                *a += f(T::read(&block[k * n..]));
            }
        }
        let mut s: f64 = acc.iter().sum();
        for v in rest.chunks_exact(n) {
            s += f(T::read(v));
        }
        s
    }
    match dtype {
        DType::U8 => sum_u8(bytes) as f64,
        // Small integers add up in 32-bit lanes over blocks short enough not to overflow.
        DType::U16 => bytes
            .chunks(1 << 16)
            .map(|block| {
                block
                    .chunks_exact(2)
                    .map(|b| u32::from(u16::from_ne_bytes([b[0], b[1]])))
                    .sum::<u32>() as u64
            })
            .sum::<u64>() as f64,
        DType::F32 => typed::<f32>(bytes, |v| v as f64),
        DType::F64 => typed::<f64>(bytes, |v| v),
        DType::I16 => typed::<i16>(bytes, |v| v as f64),
        DType::U32 => typed::<u32>(bytes, |v| v as f64),
        DType::I32 => typed::<i32>(bytes, |v| v as f64),
        _ => 0.0,
    }
}

/// The sum of `bytes`, eight at a time: a 64-bit word's even and odd bytes are added as
/// four 16-bit lanes (at most 2 × 255 per word), which are summed into a `u64` every 128
/// words, before a lane could overflow. Each byte widened to a lane of its own, as the
/// typed loops do, costs four times the instructions and made `u8` sums slower than
/// reading the data.
fn sum_u8(bytes: &[u8]) -> u64 {
    const LOW_BYTES: u64 = 0x00FF_00FF_00FF_00FF;
    const LOW_WORDS: u64 = 0x0000_FFFF_0000_FFFF;
    let block_sum = |block: &[u8]| {
        let lanes: u64 = block
            .chunks_exact(8)
            .map(|w| {
                let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                (w & LOW_BYTES) + ((w >> 8) & LOW_BYTES)
            })
            .sum();
        let pairs = (lanes & LOW_WORDS) + ((lanes >> 16) & LOW_WORDS);
        (pairs & 0xFFFF_FFFF) + (pairs >> 32)
    };
    let (whole, rest) = bytes.split_at(bytes.len() / 8 * 8);
    let rest: u64 = rest.iter().map(|&b| u64::from(b)).sum();
    whole.chunks(128 * 8).map(block_sum).sum::<u64>() + rest
}

/// A fixed-size number readable from native-endian bytes (without `unsafe`).
trait Pod: Sized {
    fn read(b: &[u8]) -> Self;
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        impl Pod for $t {
            fn read(b: &[u8]) -> Self {
                <$t>::from_ne_bytes(b[..std::mem::size_of::<$t>()].try_into().expect("size"))
            }
        }
    )*};
}
pod!(f32, f64, i16, u32, i32);
