//! Zstd decompression with one decompression context per thread, kept for the thread's
//! life. Creating a context costs as much as decoding a small block (libzstd asks the
//! processor for its features, which on a virtual machine is an exit to the hypervisor):
//! a Blosc chunk of Zstd blocks, decoded with a new context per block, spent a third of
//! its read time creating them (docs/performance.md, session 33).

use std::cell::RefCell;

use zstd::bulk::Decompressor;

thread_local! {
    /// This thread's context, created on its first use.
    static CONTEXT: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Decompress the Zstd frames of `src` into `dst` with this thread's context: the bytes
/// written. Fails when the data is damaged or decodes to more bytes than `dst` holds.
pub fn decompress_into(src: &[u8], dst: &mut [u8]) -> std::io::Result<usize> {
    CONTEXT.with(|cell| {
        let mut slot = cell.borrow_mut();
        let mut context = match slot.take() {
            Some(context) => context,
            None => Decompressor::new()?,
        };
        // Every call starts its frames afresh: an error leaves nothing behind for the next.
        let written = context.decompress_to_buffer(src, dst);
        *slot = Some(context);
        written
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One thread's context decodes frame after frame, and after a damaged or too-large
    /// frame still decodes the next one.
    #[test]
    fn the_context_is_reused_across_frames_and_errors() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let b: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 13) as u8).collect();
        let (za, zb) = (
            zstd::bulk::compress(&a, 1).unwrap(),
            zstd::bulk::compress(&b, 3).unwrap(),
        );
        let mut out = vec![0u8; a.len()];
        assert_eq!(decompress_into(&za, &mut out).unwrap(), a.len());
        assert_eq!(out, a);
        let mut small = vec![0u8; a.len() - 1];
        assert!(decompress_into(&za, &mut small).is_err());
        let mut damaged = za.clone();
        let middle = damaged.len() / 2;
        damaged.truncate(middle);
        assert!(decompress_into(&damaged, &mut out).is_err());
        assert_eq!(decompress_into(&zb, &mut out).unwrap(), b.len());
        assert_eq!(&out[..b.len()], &b[..]);
        // Two frames one after the other decode as their concatenation.
        let both = [za.as_slice(), zb.as_slice()].concat();
        let mut out = vec![0u8; a.len() + b.len()];
        assert_eq!(decompress_into(&both, &mut out).unwrap(), a.len() + b.len());
        assert_eq!(out, [a, b].concat());
    }
}
