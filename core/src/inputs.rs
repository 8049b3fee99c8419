//! The files a dataset was read from, stamped with their size and modification time when
//! it was opened. A write checks the stamps before its output is moved into place
//! ([`crate::Registry::write`]), so a file rewritten or truncated while it was being read
//! never yields an output silently holding a mix of old and new bytes.
//!
//! Readers do not pass their files around: [`Storage::map`](crate::Storage::map) and
//! [`open`] record every file they touch while [`Registry::open_with`](crate::Registry::open_with)
//! is recording on the current thread, and the registry gives the stamps to each dataset.

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};

/// A file's identity at the time it was opened: path, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputStamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

impl InputStamp {
    /// The stamp of `path` now (a folder's own entry for folder stores), or `None` when it
    /// cannot be read.
    pub fn of(path: &Path) -> Option<Self> {
        Some(InputStamp::from_metadata(
            path,
            &std::fs::metadata(path).ok()?,
        ))
    }

    /// The stamp of `path` whose metadata (of the open file) is `meta`.
    fn from_metadata(path: &Path, meta: &std::fs::Metadata) -> Self {
        InputStamp {
            path: path.to_path_buf(),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// The stamped file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the file differs from its stamp now, if it does (removed, size or time changed).
    pub fn change(&self) -> Option<String> {
        match InputStamp::of(&self.path) {
            None => Some("it was removed or became unreadable".into()),
            Some(now) if now.len != self.len => Some(format!(
                "its size went from {} to {} bytes",
                self.len, now.len
            )),
            Some(now) if now.modified != self.modified => {
                Some("its modification time changed".into())
            }
            Some(_) => None,
        }
    }
}

thread_local! {
    /// The stamps collected by the innermost [`recording`] on this thread, if any.
    static RECORDING: RefCell<Option<Vec<InputStamp>>> = const { RefCell::new(None) };
}

/// Run `f`, collecting the stamp of every file [`record`]ed on this thread meanwhile (each
/// path once, in the order first seen). Recordings nest: an inner one's files are also
/// given to the outer one.
pub fn recording<T>(f: impl FnOnce() -> T) -> (T, Vec<InputStamp>) {
    /// Puts the outer recording back when dropped, also when `f` panics (a caller that
    /// catches the panic, like the Python package, keeps using the thread).
    struct Restore(Option<Vec<InputStamp>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            RECORDING.with(|r| *r.borrow_mut() = outer);
        }
    }
    let restore = Restore(RECORDING.with(|r| r.borrow_mut().replace(Vec::new())));
    let value = f();
    let stamps = RECORDING
        .with(|r| r.borrow_mut().take())
        .unwrap_or_default();
    drop(restore);
    for stamp in &stamps {
        add(stamp.clone());
    }
    (value, stamps)
}

/// Note that `path` is read, for the [`recording`] active on this thread (no effect
/// outside one).
pub fn record(path: &Path) {
    if recording_active() {
        if let Some(stamp) = InputStamp::of(path) {
            add(stamp);
        }
    }
}

/// Whether a [`recording`] is active on this thread.
fn recording_active() -> bool {
    RECORDING.with(|r| r.borrow().is_some())
}

fn add(stamp: InputStamp) {
    RECORDING.with(|r| {
        if let Some(stamps) = r.borrow_mut().as_mut() {
            if !stamps.iter().any(|s| s.path == stamp.path) {
                stamps.push(stamp);
            }
        }
    });
}

/// Open `path` for reading and [`record`] it: what readers use instead of `File::open`.
pub fn open(path: &Path) -> Result<File> {
    Ok(open_with_metadata(path)?.0)
}

/// [`open`], also giving the open file's metadata (which the stamp is taken from: one
/// `fstat`, no second walk of the path).
pub fn open_with_metadata(path: &Path) -> Result<(File, std::fs::Metadata)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if recording_active() {
        add(InputStamp::from_metadata(path, &meta));
    }
    Ok((file, meta))
}

/// Read all of `path` and [`record`] it: what readers use instead of `std::fs::read` for
/// headers and companion files.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    record(path);
    Ok(bytes)
}

/// [`read`] a description file of `format` (an `.xml`, a `.rpl`), refusing one larger than
/// [`crate::budget::METADATA_MAX_BYTES`] before reading it: malformed, `what` (e.g. "an .xml
/// description") naming what was expected.
pub fn read_description(path: &Path, format: &'static str, what: &str) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let max = crate::budget::METADATA_MAX_BYTES;
    if len > max {
        return Err(Error::malformed(
            format,
            0,
            format!("{what} of at most {max} bytes, found {len}"),
        )
        .with_path(path));
    }
    read(path)
}

/// Fail with [`Error::InputChanged`] on the first stamped file that differs from its stamp.
pub fn check_unchanged(stamps: &[InputStamp]) -> Result<()> {
    match stamps.iter().find_map(|s| s.change().map(|c| (s, c))) {
        Some((stamp, change)) => Err(Error::InputChanged {
            path: stamp.path.clone(),
            change,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_larger_than_the_metadata_limit_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.xml");
        let file = File::create(&path).unwrap();
        // Sparse: no bytes written.
        file.set_len(crate::budget::METADATA_MAX_BYTES + 1).unwrap();
        let e = read_description(&path, "empad", "an .xml description").unwrap_err();
        assert!(
            matches!(
                e,
                Error::Malformed {
                    offset: Some(0),
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.contains("huge.xml") && text.contains("an .xml description of at most"));
        file.set_len(3).unwrap();
        assert_eq!(read_description(&path, "empad", "x").unwrap(), [0, 0, 0]);
    }

    #[test]
    fn recording_collects_each_file_once_and_nests() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"1").unwrap();
        std::fs::write(&b, b"22").unwrap();
        record(&a); // outside a recording: ignored
        let (((), inner), outer) = recording(|| {
            record(&a);
            recording(|| {
                record(&b);
                record(&a);
            })
        });
        assert_eq!(
            inner.iter().map(InputStamp::path).collect::<Vec<_>>(),
            [b.as_path(), a.as_path()]
        );
        assert_eq!(
            outer.iter().map(InputStamp::path).collect::<Vec<_>>(),
            [a.as_path(), b.as_path()]
        );
        assert_eq!(outer[1].len, 2);
    }

    #[test]
    fn a_panic_inside_a_recording_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"1").unwrap();
        let caught = std::panic::catch_unwind(|| recording(|| panic!("reader bug")));
        assert!(caught.is_err());
        record(&a);
        assert!(
            RECORDING.with(|r| r.borrow().is_none()),
            "no recording left active"
        );
    }

    #[test]
    fn changes_in_size_time_or_existence_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"1234").unwrap();
        let stamp = InputStamp::of(&path).unwrap();
        assert_eq!(stamp.change(), None);
        check_unchanged(std::slice::from_ref(&stamp)).unwrap();

        std::fs::write(&path, b"123").unwrap();
        assert_eq!(
            stamp.change().as_deref(),
            Some("its size went from 4 to 3 bytes")
        );

        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(4).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH).unwrap();
        assert!(stamp.change().unwrap().contains("modification time"));

        std::fs::remove_file(&path).unwrap();
        let err = check_unchanged(&[stamp]).unwrap_err().to_string();
        assert!(
            err.contains("removed") && err.contains(&*path.to_string_lossy()),
            "{err}"
        );
    }
}
