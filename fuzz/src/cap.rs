//! The allocation cap of every fuzz target: a single allocation over [`MAX_ALLOCATION`]
//! aborts the run (a crash libFuzzer reports and saves). The targets fuzz without
//! AddressSanitizer, whose `-malloc_limit_mb` did this before (`.ci/run`); an input of at
//! most 512 KiB that asks for gigabytes at once is a bug in a size check, even where the
//! memory would never be touched.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

/// Largest single allocation (ASan's limit under `-rss_limit_mb=4096` was the same).
pub const MAX_ALLOCATION: usize = 4 << 30;

/// The system allocator, refusing single allocations over [`MAX_ALLOCATION`].
pub struct Capped;

/// Abort if `size` is over the cap.
fn check(size: usize) {
    if size > MAX_ALLOCATION {
        // A fixed message: formatting could allocate inside the allocator.
        let _ = std::io::stderr()
            .write_all(b"emio-fuzz: a single allocation over 4 GiB (out-of-memory bug)\n");
        std::process::abort();
    }
}

// SAFETY: every method passes its arguments unchanged to the system allocator, which
// upholds `GlobalAlloc`'s contract; `check` only reads the size and may abort.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: the caller's guarantees for `layout` are the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: `ptr` was allocated by this allocator (the system's) with `layout`, as
        // the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;
