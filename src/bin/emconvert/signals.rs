//! SIGINT, SIGTERM and SIGHUP during a conversion: the first one is recorded, the write
//! stops between regions, the temporary output is removed and emconvert exits with
//! 128 + the signal number (130, 143, 129), as shells expect. A second signal of the same
//! kind kills at once (the handler resets itself); the next write into the folder then
//! removes what was left.
//!
//! SIGBUS, raised when a memory-mapped input is truncated by another process while it is
//! read, cannot be returned from: its handler removes the temporary output file, says
//! which input changed, and exits with 128 + 7 (135).

use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

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

/// The input of the conversion, NUL-terminated and never freed, for the SIGBUS message.
static INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// Say what happened and exit; only async-signal-safe calls (write, unlink, _exit).
#[cfg(unix)]
extern "C" fn bus_error(signal: libc::c_int) {
    emio_core::fatal::remove_published_in_signal_handler();
    let input = INPUT.load(Ordering::SeqCst);
    let parts: [&[u8]; 3] = [
        b"emconvert: error: ",
        if input.is_null() {
            b"an input"
        } else {
            // SAFETY: a NUL-terminated string from `CString::into_raw`, never freed.
            unsafe { std::ffi::CStr::from_ptr(input.cast()) }.to_bytes()
        },
        b": changed size while being read (its memory-mapped bytes vanished: SIGBUS); \
          the output was discarded\n",
    ];
    for part in parts {
        // SAFETY: writing initialised bytes to stderr; async-signal-safe.
        unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
    }
    // SAFETY: _exit ends the process without running anything that is not signal-safe.
    unsafe { libc::_exit(128 + signal) };
}

/// Handle SIGBUS for a conversion reading `input` (see the module comment); `None` when
/// several files are converted at once (the message then says "an input").
#[cfg(unix)]
pub fn trap_bus_error(input: Option<&Path>) {
    use std::os::unix::ffi::OsStrExt;
    if let Some(Ok(text)) = input.map(|i| std::ffi::CString::new(i.as_os_str().as_bytes())) {
        // The previous input's string (if any) is leaked, never freed: a handler may be
        // reading it.
        INPUT.store(text.into_raw().cast(), Ordering::SeqCst);
    }
    // SAFETY: as in `trap`: a zero-initialised action with a handler, an empty mask and
    // no flags.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = bus_error as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

/// SIGBUS is not raised for changed inputs here.
#[cfg(not(unix))]
pub fn trap_bus_error(_input: Option<&Path>) {}

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
