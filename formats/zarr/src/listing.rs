//! The stored chunks of a Zarr array, listed once from its folder.
//!
//! A Zarr array may declare a huge shape (2^31 elements in chunks of one) while storing
//! only a few chunk files; every absent chunk reads as the fill value. Asking the store for
//! each chunk costs a failed file open per chunk (a 16 MB region of chunk-1 data would be
//! 16 million opens), so the array's folder is walked once, on first read, and the chunk
//! files found become a [`StoredChunks`] set: absent chunks are then known without a
//! system call and filled in bulk by core's `ChunkedSource`. The walk is bounded by
//! [`MAX_LISTED_CHUNKS`]: a folder holding more files is read chunk by chunk as before.

use std::collections::HashSet;
use std::path::Path;

use emio_core::StoredChunks;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

/// Most files (and folders) walked when listing one array's chunks.
pub const MAX_LISTED_CHUNKS: usize = 1 << 20;

/// What a listing needs to know about the array beyond its zarrs handle.
pub struct Listed<'a> {
    /// The folder the store is rooted at (chunk keys are relative to it).
    pub store_root: &'a Path,
    /// The array's own folder inside it.
    pub array_dir: &'a Path,
    /// Channels of a trailing RGB(A) dimension emio folds into its elements.
    pub channels: Option<u64>,
}

/// The stored chunks of `array` in emio's chunk grid (the trailing channel dimension, if
/// any, dropped), with its fill value; `None` when the folder holds more than
/// [`MAX_LISTED_CHUNKS`] entries or cannot be walked.
pub fn stored_chunks(array: &Array<FilesystemStore>, at: &Listed<'_>) -> Option<StoredChunks> {
    let grid = array.chunk_grid_shape();
    if grid.is_empty() {
        return None;
    }
    let mut keys = Vec::new();
    let mut walked = 0usize;
    walk(at.array_dir, grid.len() + 1, &mut walked, &mut keys)?;
    let mut chunks = HashSet::with_capacity(keys.len());
    for file in keys {
        let Some(index) = chunk_index(array, at.store_root, &file) else {
            continue;
        };
        let mut index = index;
        if at.channels.is_some() {
            // The channel dimension is one chunk wide (checked by the caller).
            index.pop();
        }
        chunks.insert(index);
    }
    let element = array.fill_value().as_ne_bytes();
    let channels = at.channels.unwrap_or(1) as usize;
    Some(StoredChunks::new(chunks, element.repeat(channels)))
}

/// Collect the files below `dir` (at most `depth` folders deep) into `files`, counting
/// every entry in `walked`; `None` once more than [`MAX_LISTED_CHUNKS`] were seen.
fn walk(
    dir: &Path,
    depth: usize,
    walked: &mut usize,
    files: &mut Vec<std::path::PathBuf>,
) -> Option<()> {
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        *walked += 1;
        if *walked > MAX_LISTED_CHUNKS {
            return None;
        }
        let kind = entry.file_type().ok()?;
        if kind.is_dir() {
            if depth > 0 {
                walk(&entry.path(), depth - 1, walked, files)?;
            }
        } else {
            files.push(entry.path());
        }
    }
    Some(())
}

/// The chunk index whose key is the file `file` of the store rooted at `root`, when it is
/// a chunk of `array` inside its grid. The key is parsed loosely (numbers separated by `/`
/// or `.`, after an optional `c` of Zarr v3's default encoding) and accepted only when the
/// array's own key encoding gives the same key back.
fn chunk_index(array: &Array<FilesystemStore>, root: &Path, file: &Path) -> Option<Vec<u64>> {
    let key = file
        .strip_prefix(root)
        .ok()?
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<Vec<&str>>>()?
        .join("/");
    let grid = array.chunk_grid_shape();
    let array_path = array.path().as_str().trim_matches('/');
    let rest = key
        .strip_prefix(array_path)
        .map_or(key.as_str(), |r| r.trim_start_matches('/'));
    let mut parts: Vec<&str> = rest.split(['/', '.']).collect();
    if parts.len() == grid.len() + 1 && parts[0] == "c" {
        parts.remove(0);
    }
    if parts.len() != grid.len() {
        return None;
    }
    let index = parts
        .iter()
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    let inside = index.iter().zip(grid).all(|(i, n)| i < n);
    (inside && array.chunk_key(&index).as_str() == key).then_some(index)
}
