//! Budgets for everything an input declares, and bounded reporting.
//!
//! A parser never trusts a size it reads: before allocating or looping it checks the
//! declared amount against what the file can hold, using the limits below. Every format
//! uses the same limits, so they are documented once (also in `docs/limits.md`):
//!
//! | what | limit |
//! | --- | --- |
//! | pixel data that must be stored in the file (uncompressed strips, frames, raw arrays) | the bytes present after its offset ([`check_stored`]) |
//! | the filled part of a truncated file (missing frames read as zeros) | the whole within 8 × the file size ([`check_padded`]), and a warning |
//! | one decompressed chunk, strip or tile | its expected decoded size ([`read_bounded`]) |
//! | metadata kept per file (trees, tag values, companion tables) | [`metadata_limit`]: 8 × the file size, at least 1 MiB, at most 64 MiB ([`MetadataBudget`]) |
//! | entries in one table, group or tag list | [`MAX_ENTRIES`] |
//! | an error message | [`MESSAGE_MAX_CHARS`] characters ([`bounded_message`]); lists in it at most [`LIST_MAX_ITEMS`] items ([`summarize`]) |
//! | warnings kept per dataset | [`MAX_WARNINGS`] |
//!
//! Logical data that is not stored (HDF5 and Zarr chunks absent from the file read as the
//! fill value) may be far larger than the file. It is allowed, but a conversion checks the
//! free space at the destination first ([`check_free_space`]) and long reads report
//! progress and honour cancellation.

use std::fmt::Display;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Metadata kept per file is at most this many bytes (as JSON), whatever the file size.
pub const METADATA_MAX_BYTES: u64 = 64 << 20;
/// Metadata kept per file is at most this many times the file size...
pub const METADATA_FILE_FACTOR: u64 = 8;
/// ...but at least this many bytes, so small files with rich headers still open.
pub const METADATA_MIN_BYTES: u64 = 1 << 20;
/// Most entries a parser accepts in one table, group, directory or tag list.
pub const MAX_ENTRIES: usize = 1 << 16;
/// Longest error message, in characters; longer ones are cut with a note.
pub const MESSAGE_MAX_CHARS: usize = 2000;
/// Most items of a list quoted in a message; the rest are counted.
pub const LIST_MAX_ITEMS: usize = 8;
/// Most warnings kept per dataset; further ones are counted in the last.
pub const MAX_WARNINGS: usize = 64;

/// The metadata budget for a file of `file_size` bytes: 8 × its size, at least 1 MiB and
/// at most 64 MiB.
pub fn metadata_limit(file_size: u64) -> u64 {
    file_size
        .saturating_mul(METADATA_FILE_FACTOR)
        .clamp(METADATA_MIN_BYTES, METADATA_MAX_BYTES)
}

/// A running count of metadata bytes kept for one file, failing once the file's
/// [`metadata_limit`] is exceeded. Shared by reference among the parser's helpers.
#[derive(Debug)]
pub struct MetadataBudget {
    format: &'static str,
    limit: u64,
    used: AtomicU64,
}

impl MetadataBudget {
    /// A budget for a file of `file_size` bytes read by `format`.
    pub fn for_file(format: &'static str, file_size: u64) -> Self {
        Self::with_limit(format, metadata_limit(file_size))
    }

    /// A budget of exactly `limit` bytes.
    pub fn with_limit(format: &'static str, limit: u64) -> Self {
        MetadataBudget {
            format,
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Count `bytes` more of metadata; an error naming `what` when they do not fit in what
    /// is left of the limit. Nothing is counted on failure, so a parser may skip the item
    /// (and say so) and go on with smaller ones.
    pub fn charge(&self, bytes: u64, what: &str) -> Result<()> {
        let fits = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            });
        if fits.is_err() {
            return Err(Error::malformed_at_unknown(
                self.format,
                format!(
                    "metadata within the budget of {} (reached at {what})",
                    human_bytes(self.limit)
                ),
            ));
        }
        Ok(())
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes counted so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// Check that `declared` bytes of data that must be stored in the file fit in the
/// `file_size`-byte file from `offset` on. The error names `field`, the amount and the file
/// size.
pub fn check_stored(
    format: &'static str,
    field: &str,
    offset: u64,
    declared: u64,
    file_size: u64,
) -> Result<()> {
    let available = file_size.saturating_sub(offset);
    if declared > available {
        return Err(Error::malformed(
            format,
            offset,
            format!(
                "{field} to fit in the file: it declares {declared} bytes from byte {offset}, \
                 but the file has {file_size} bytes ({available} after that offset)"
            ),
        ));
    }
    Ok(())
}

/// A truncated file may be read with its missing part filled (as rsciio pads a blockfile
/// with zero frames), but only while the whole stays within this many times the file size
/// (plus [`METADATA_MIN_BYTES`]): a damaged header cannot make a small file claim terabytes.
pub const PADDED_FILE_FACTOR: u64 = 8;

/// Check that data of `declared` bytes, of which the file stores `stored`, may be read with
/// its missing part filled; the error names `what` and the sizes. The caller also reports
/// the filling as a warning ([`crate::Dataset::warn`]).
pub fn check_padded(
    format: &'static str,
    what: &str,
    declared: u64,
    stored: u64,
    file_size: u64,
) -> Result<()> {
    let limit = file_size
        .saturating_mul(PADDED_FILE_FACTOR)
        .saturating_add(METADATA_MIN_BYTES);
    if declared > limit {
        return Err(Error::malformed_at_unknown(
            format,
            format!(
                "{what} to be mostly stored: it declares {} but the {}-byte file holds {} of it",
                human_bytes(declared),
                file_size,
                human_bytes(stored)
            ),
        ));
    }
    Ok(())
}

/// Check a declared entry count against [`MAX_ENTRIES`] (and against what the remaining
/// `available` bytes can hold at `min_entry_bytes` each).
pub fn check_entries(
    format: &'static str,
    what: &str,
    offset: u64,
    count: u64,
    min_entry_bytes: u64,
    available: u64,
) -> Result<usize> {
    let fits = available / min_entry_bytes.max(1);
    if count > MAX_ENTRIES as u64 || count > fits {
        return Err(Error::malformed(
            format,
            offset,
            format!(
                "at most {} {what} (the limit is {MAX_ENTRIES}, and {available} bytes hold {fits}); found {count}",
                MAX_ENTRIES.min(fits as usize)
            ),
        ));
    }
    Ok(count as usize)
}

/// Read a decoder's output, expecting exactly `expected` bytes and never holding more:
/// a stream that decodes to more (a decompression bomb) or less is an error naming `what`.
pub fn read_bounded(
    format: &'static str,
    what: &str,
    reader: impl Read,
    expected: usize,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(expected.min(64 << 20));
    let mut limited = reader.take(expected as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| Error::malformed_at_unknown(format, format!("{what} to decode: {e}")))?;
    if out.len() != expected {
        return Err(Error::malformed_at_unknown(
            format,
            format!(
                "{what} to decode to {expected} bytes, got {}",
                if out.len() > expected {
                    "more".to_string()
                } else {
                    out.len().to_string()
                }
            ),
        ));
    }
    Ok(out)
}

/// `text` cut to [`MESSAGE_MAX_CHARS`] characters, with a note of how much was left out.
pub fn bounded_message(text: impl Into<String>) -> String {
    let text = text.into();
    let Some((cut, _)) = text.char_indices().nth(MESSAGE_MAX_CHARS) else {
        return text;
    };
    let rest = text[cut..].chars().count();
    format!("{}… ({rest} more characters)", &text[..cut])
}

/// At most [`LIST_MAX_ITEMS`] items joined with `, `, then `… and N more`.
pub fn summarize<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut shown = Vec::new();
    let mut more = 0usize;
    for item in items {
        if shown.len() < LIST_MAX_ITEMS {
            shown.push(item.to_string());
        } else {
            more += 1;
        }
    }
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(", … and {more} more"));
    }
    text
}

/// A byte count for people: `316 TB`, `80 GB`, `512 B` (powers of 1000, as `df -H`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    if value < 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.0} {unit}")
    }
}

/// Free bytes available to this user on the file system holding `dir`, when known.
pub fn free_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
        // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory of
        // the size statvfs fills; the result is read only after a successful call.
        let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: statvfs returned 0, so it initialised the whole struct.
        let st = unsafe { st.assume_init() };
        #[allow(clippy::unnecessary_cast)]
        Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Fail before writing when an output of about `needed` bytes cannot fit in the free space
/// of the folder that will hold `target` ("needs 316 TB, 80 GB free").
pub fn check_free_space(target: &Path, needed: u64) -> Result<()> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(free) = free_space(dir) else {
        return Ok(());
    };
    if needed > free {
        return Err(Error::io(
            target,
            std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!(
                    "the output needs {}, {} free in {}",
                    human_bytes(needed),
                    human_bytes(free),
                    dir.display()
                ),
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_limit_scales_with_the_file_within_bounds() {
        assert_eq!(metadata_limit(0), METADATA_MIN_BYTES);
        assert_eq!(metadata_limit(1 << 20), 8 << 20);
        assert_eq!(metadata_limit(1 << 40), METADATA_MAX_BYTES);
        let budget = MetadataBudget::with_limit("test", 10);
        assert!(budget.charge(6, "a").is_ok());
        let err = budget.charge(6, "tag X").unwrap_err().to_string();
        assert!(err.contains("tag X") && err.contains("10 B"), "{err}");
        // A refused item is not counted: a smaller one still fits.
        assert_eq!(budget.used(), 6);
        assert!(budget.charge(4, "b").is_ok());
        assert!(budget.charge(1, "c").is_err());
    }

    #[test]
    fn stored_data_must_fit_after_its_offset() {
        assert!(check_stored("npy", "the array", 128, 100, 228).is_ok());
        let err = check_stored("npy", "the array", 128, 101, 228)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("101 bytes") && err.contains("228 bytes"),
            "{err}"
        );
    }

    #[test]
    fn padding_is_bounded_by_the_file_size() {
        assert!(check_padded("blo", "frames", 7 << 20, 1 << 20, 1 << 20).is_ok());
        let err = check_padded("blo", "frames", 4 << 30, 1 << 17, 1 << 17).unwrap_err();
        assert!(err.to_string().contains("4.3 GB"), "{err}");
    }

    #[test]
    fn entry_counts_are_bounded_by_limit_and_bytes() {
        assert_eq!(check_entries("t", "tags", 0, 10, 12, 120).unwrap(), 10);
        assert!(check_entries("t", "tags", 0, 11, 12, 120).is_err());
        assert!(check_entries("t", "tags", 0, 1 << 20, 1, u64::MAX).is_err());
    }

    #[test]
    fn bounded_reads_reject_bombs_and_short_streams() {
        let data = [7u8; 100];
        assert_eq!(
            read_bounded("t", "chunk", &data[..], 100).unwrap().len(),
            100
        );
        let long = read_bounded("t", "chunk", &data[..], 99).unwrap_err();
        assert!(long.to_string().contains("got more"), "{long}");
        let short = read_bounded("t", "chunk", &data[..], 101).unwrap_err();
        assert!(short.to_string().contains("got 100"), "{short}");
    }

    #[test]
    fn messages_and_lists_are_bounded() {
        let long = "x".repeat(MESSAGE_MAX_CHARS + 500);
        let cut = bounded_message(long);
        assert!(cut.ends_with("(500 more characters)"), "{cut}");
        assert_eq!(bounded_message("short"), "short");
        let list = summarize(0..100_000);
        assert!(list.ends_with("… and 99992 more"), "{list}");
        assert_eq!(summarize(["a", "b"]), "a, b");
    }

    #[test]
    fn byte_counts_read_like_df() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(316_000_000_000_000), "316 TB");
        assert_eq!(human_bytes(80_000_000_000), "80 GB");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }

    #[test]
    fn free_space_check_passes_small_and_fails_huge_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.npy");
        assert!(check_free_space(&target, 1).is_ok());
        if free_space(dir.path()).is_some() {
            let err = check_free_space(&target, u64::MAX / 2)
                .unwrap_err()
                .to_string();
            assert!(err.contains("needs") && err.contains("free"), "{err}");
        }
    }
}
