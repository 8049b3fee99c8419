//! The temporary output files being written right now, published so that the handler of
//! a fatal signal can remove them with async-signal-safe calls only: SIGBUS, which a
//! memory-mapped input raises when another process truncates it under a read, cannot be
//! recovered from, but must not leave a half-written temporary behind.
//!
//! A temporary folder (Zarr, staged companions) cannot be removed that way; the next
//! write into its folder removes it ([`crate::leftovers`]).

use std::path::Path;

#[cfg(unix)]
use std::sync::atomic::{AtomicPtr, Ordering};

/// How many temporaries can be published at once; further ones are left to
/// [`crate::leftovers`].
#[cfg(unix)]
const SLOTS: usize = 64;

/// Published paths as NUL-terminated strings, null for a free slot. The strings are never
/// freed (a few hundred bytes per output), so a handler can never read freed memory.
#[cfg(unix)]
static PUBLISHED: [AtomicPtr<libc::c_char>; SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

/// A published temporary file; dropping it withdraws the path (the file itself is
/// removed or renamed by its owner).
#[derive(Debug)]
pub struct Published {
    #[cfg(unix)]
    slot: Option<usize>,
}

/// Publish `path`, a temporary file being written, for
/// [`remove_published_in_signal_handler`].
#[cfg(unix)]
pub fn publish(path: &Path) -> Published {
    use std::os::unix::ffi::OsStrExt;
    let Ok(text) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Published { slot: None };
    };
    let raw = text.into_raw();
    let slot = PUBLISHED.iter().position(|slot| {
        slot.compare_exchange(
            std::ptr::null_mut(),
            raw,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_ok()
    });
    if slot.is_none() {
        // SAFETY: `raw` came from `CString::into_raw` above and was published nowhere.
        drop(unsafe { std::ffi::CString::from_raw(raw) });
    }
    Published { slot }
}

/// Publishing is a no-op where fatal signals are not handled.
#[cfg(not(unix))]
pub fn publish(_path: &Path) -> Published {
    Published {}
}

impl Drop for Published {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(slot) = self.slot {
            // The string stays allocated: a handler may hold it (see `PUBLISHED`).
            PUBLISHED[slot].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }
}

/// Remove every published temporary file. Async-signal-safe: atomic loads and unlink(2)
/// on strings that are never freed.
#[cfg(unix)]
pub fn remove_published_in_signal_handler() {
    for slot in &PUBLISHED {
        let path = slot.load(Ordering::SeqCst);
        if !path.is_null() {
            // SAFETY: `path` is a NUL-terminated string from `CString::into_raw` that is
            // never freed; unlink only reads it.
            unsafe { libc::unlink(path) };
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn published_files_are_removed_and_withdrawn_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let kept = publish(&a);
        drop(kept);
        let _removed = publish(&b);
        remove_published_in_signal_handler();
        assert!(a.exists());
        assert!(!b.exists());
    }
}
