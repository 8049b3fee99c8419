//! Atomic outputs and region streaming shared by every writer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::dataset::{Dataset, Region};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::Progress;

/// A temporary file or directory beside the destination, renamed onto it by
/// [`AtomicOutput::commit`] and removed if dropped uncommitted (errors, panics).
#[derive(Debug)]
pub struct AtomicOutput {
    temp: PathBuf,
    target: PathBuf,
    directory: bool,
    committed: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl AtomicOutput {
    /// Prepare an output for `target`. Fails if `target` exists and `overwrite` is false.
    pub fn new(target: &Path, overwrite: bool, directory: bool) -> Result<Self> {
        if target.exists() && !overwrite {
            return Err(Error::OutputExists(target.to_path_buf()));
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::io(
                target,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("folder {} does not exist", dir.display()),
                ),
            ));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        // Hidden, unique, and ending in the target's name so writers that depend on the
        // extension (`.dm3` versus `.dm4`) see it.
        let temp = dir.join(format!(
            ".emio-tmp-{}-{}.{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        Ok(AtomicOutput {
            temp,
            target: target.to_path_buf(),
            directory,
            committed: false,
        })
    }

    /// Where the writer should write.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Move the finished output onto the target. A directory output is first flushed to
    /// disk, every file and folder in it (writers of directory stores write their many
    /// small files without syncing each one; file writers sync their one file).
    pub fn commit(mut self) -> Result<()> {
        if self.directory {
            sync_tree(&self.temp)?;
        }
        if self.directory && self.target.is_dir() {
            std::fs::remove_dir_all(&self.target).map_err(|e| Error::io(&self.target, e))?;
        }
        std::fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.committed = true;
        Ok(())
    }
}

/// Flush every file below `dir`, then every folder (so new entries are durable), files
/// in parallel so their flushes share the disk's journal commits.
fn sync_tree(dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    let mut i = 0;
    while let Some(folder) = folders.get(i).cloned() {
        i += 1;
        for entry in std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    let sync = |path: &PathBuf| -> Result<()> {
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(path, e))
    };
    files.par_iter().try_for_each(sync)?;
    // Some systems cannot open or flush folders; the files above are what matters most.
    folders.iter().rev().for_each(|f| {
        let _ = sync(f);
    });
    Ok(())
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if !self.committed {
            if self.temp.is_dir() {
                let _ = std::fs::remove_dir_all(&self.temp);
            } else {
                let _ = std::fs::remove_file(&self.temp);
            }
        }
    }
}

/// Bytes per region when streaming a dataset in C order.
pub const STREAM_REGION_BYTES: u64 = 16 << 20;

/// Read `dataset` region by region in C order (each region contiguous in the C-order
/// byte stream) and hand each one's native-endian bytes to `sink`, in order, reporting
/// progress and honouring cancellation. Regions are read ahead in parallel by the
/// [`Engine`]; memory stays bounded by its `(threads + queue) × STREAM_REGION_BYTES`.
pub fn stream_c_order(
    dataset: &Dataset,
    progress: &dyn Progress,
    sink: impl FnMut(&Region, &[u8]) -> Result<()>,
) -> Result<()> {
    let chunk = dataset.streaming_chunk_shape(STREAM_REGION_BYTES);
    Engine::default()
        .for_each_region_ordered(dataset, &chunk, progress, |_, _| Ok(()), sink)
        .map(|_| ())
}
