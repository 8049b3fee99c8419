//! SIGINT, SIGTERM and SIGHUP during a conversion: the first one is recorded, the write
//! stops between regions, the temporary output is removed and emconvert exits with
//! 128 + the signal number (130, 143, 129), as shells expect. A second signal of the same
//! kind kills at once (the handler resets itself); the next write into the folder then
//! removes what was left.

use std::sync::atomic::{AtomicI32, Ordering};

/// The first termination signal received, 0 for none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

#[cfg(unix)]
extern "C" fn record(signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    let _ = RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// Trap SIGINT, SIGTERM and SIGHUP for the rest of the process.
#[cfg(unix)]
pub fn trap() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the action is zero-initialised then filled in: a handler that only does
        // an atomic store, an empty mask, and SA_RESETHAND so a second signal acts as if
        // untrapped. sigaction has no other preconditions.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Signals cannot be trapped here: a killed run leaves a temporary file, which the next
/// write into the folder removes.
#[cfg(not(unix))]
pub fn trap() {}

/// The first termination signal received, if any: its number and name.
pub fn received() -> Option<(i32, &'static str)> {
    let signal = RECEIVED.load(Ordering::SeqCst);
    (signal != 0).then(|| (signal, name(signal)))
}

fn name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}
