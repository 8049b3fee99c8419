//! Atomic outputs and region streaming shared by every writer.
//!
//! An output is written under a temporary name beside its target (see [`leftovers`]) and
//! moved onto the target in one step at the end; without `overwrite` that step never
//! replaces a target another process created meanwhile (no-replace rename).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::dataset::{Dataset, Region};
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::leftovers;
use crate::plan::WritePlan;

/// What a writer produces, which decides how [`AtomicOutput`] stages and commits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// One file.
    File,
    /// A directory store (Zarr).
    Directory,
    /// A main file plus companion files beside it, named by the writer after the main
    /// file (`x.raw` next to `x.rpl`, split parts `x_001.tvips`, ...).
    FileWithCompanions,
}

/// A temporary file or directory beside the destination, renamed onto it by
/// [`AtomicOutput::commit`] and removed if dropped uncommitted (errors, panics).
///
/// Outputs with companions are staged in a hidden folder beside the destination: the
/// writer gets `staging/<target name>` and writes its companions next to it under their
/// final names (so names written inside files, like the `.raw` an EMPAD `.xml` points to,
/// are right). The commit renames the companions first and the main file last, so a
/// reader never finds the main file without its companions.
#[derive(Debug)]
pub struct AtomicOutput {
    temp: PathBuf,
    target: PathBuf,
    kind: OutputKind,
    /// The staging folder of an output with companions.
    staging: Option<PathBuf>,
    /// Companions of an earlier output at the target, removed at commit unless the new
    /// output replaces them.
    stale: Vec<PathBuf>,
    overwrite: bool,
    committed: bool,
    /// The temporary file, published for a fatal-signal handler while it is written.
    _published: Option<crate::fatal::Published>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl AtomicOutput {
    /// Prepare an output of `kind` for `target`. Fails if `target` exists and `overwrite`
    /// is false (companions are checked the same way when committed, once their names are
    /// known). Temporaries that killed processes left in the target's folder are removed
    /// first ([`leftovers::remove_stale`]).
    pub fn new(target: &Path, overwrite: bool, kind: OutputKind) -> Result<Self> {
        if target.symlink_metadata().is_ok() && !overwrite {
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
        leftovers::remove_stale(&dir);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let unique =
            leftovers::temp_name(std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let (temp, staging) = if kind == OutputKind::FileWithCompanions {
            let staging = dir.join(unique);
            std::fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
            (staging.join(&name), Some(staging))
        } else {
            // Hidden, unique, and ending in the target's name so writers that depend on the
            // extension (`.dm3` versus `.dm4`) see it.
            (dir.join(format!("{unique}.{name}")), None)
        };
        let published = (kind == OutputKind::File).then(|| crate::fatal::publish(&temp));
        Ok(AtomicOutput {
            _published: published,
            temp,
            target: target.to_path_buf(),
            kind,
            staging,
            stale: Vec::new(),
            overwrite,
            committed: false,
        })
    }

    /// Companion files of an earlier output at the target (see
    /// [`crate::Format::existing_companions`]): those the new output does not replace are
    /// removed when it is committed, before the main file is moved into place, so a reader
    /// never combines the new main file with an old part.
    pub fn replacing(mut self, stale: Vec<PathBuf>) -> Self {
        self.stale = stale;
        self
    }

    /// Where the writer should write.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// `error` with every mention of the temporary output (its path, or a file inside it or
    /// beside it in the staging folder) replaced by the path the user asked for: errors
    /// never name an internal temporary file.
    pub fn in_user_terms(&self, error: Error) -> Error {
        match &self.staging {
            Some(staging) => {
                let dir = self.target.parent().unwrap_or(Path::new(""));
                error.replace_path(staging, dir)
            }
            None => error.replace_path(&self.temp, &self.target),
        }
    }

    /// Move the finished output onto the target. A directory output is first flushed to
    /// disk, every file and folder in it (writers of directory stores write their many
    /// small files without syncing each one; file writers sync their one file). Outputs
    /// with companions are flushed the same way, then moved companions first.
    pub fn commit(mut self) -> Result<()> {
        match (self.kind, self.staging.clone()) {
            (OutputKind::FileWithCompanions, Some(staging)) => self.commit_staged(&staging)?,
            _ => {
                let directory = self.kind == OutputKind::Directory;
                if directory {
                    sync_tree(&self.temp)?;
                }
                move_into_place(&self.temp, &self.target, directory, self.overwrite)?;
            }
        }
        self.committed = true;
        Ok(())
    }

    /// Move every companion from `staging` beside the target, then the main file.
    fn commit_staged(&self, staging: &Path) -> Result<()> {
        if !self.temp.is_file() {
            return Err(Error::io(
                &self.target,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the writer produced no main file",
                ),
            ));
        }
        sync_tree(staging)?;
        let dir = self.target.parent().unwrap_or(Path::new("."));
        let mut moves = Vec::new();
        for entry in std::fs::read_dir(staging).map_err(|e| Error::io(staging, e))? {
            let from = entry.map_err(|e| Error::io(staging, e))?.path();
            if from == self.temp {
                continue;
            }
            let to = dir.join(from.file_name().unwrap_or_default());
            if to.exists() && !self.overwrite {
                return Err(Error::OutputExists(to));
            }
            moves.push((from, to));
        }
        for (from, to) in &moves {
            move_into_place(from, to, false, self.overwrite)?;
        }
        for old in &self.stale {
            if !moves.iter().any(|(_, to)| to == old) && old.is_file() {
                std::fs::remove_file(old).map_err(|e| Error::io(old, e))?;
            }
        }
        move_into_place(&self.temp, &self.target, false, self.overwrite)
    }
}

/// Rename a finished file or folder onto `target`. With `overwrite`, an existing target
/// of the same kind is replaced; without it, a target that appeared since the output was
/// prepared is left alone and the move fails with [`Error::OutputExists`].
fn move_into_place(from: &Path, target: &Path, directory: bool, overwrite: bool) -> Result<()> {
    if !overwrite {
        return rename_no_replace(from, target).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::OutputExists(target.to_path_buf())
            } else {
                Error::io(target, e)
            }
        });
    }
    match target.symlink_metadata() {
        Ok(m) if m.is_dir() && directory => replace_folder(from, target),
        Ok(m) if m.is_dir() => Err(std::io::Error::other(
            "it is a folder; remove it or choose another output name",
        )),
        Ok(_) if directory => {
            std::fs::remove_file(target).and_then(|()| std::fs::rename(from, target))
        }
        // A file replaces a file in one step.
        _ => std::fs::rename(from, target),
    }
    .map_err(|e| Error::io(target, e))
}

/// Put the finished folder `from` where the folder `target` is, so that at every moment
/// `target` names either the old folder or the new one, then remove the old one. On
/// Linux the two are swapped in one step (`renameat2(RENAME_EXCHANGE)`); elsewhere the
/// old folder is first renamed aside (under a temporary name that a later run clears if
/// this one is killed) and put back if the new one cannot take its place.
fn replace_folder(from: &Path, target: &Path) -> std::io::Result<()> {
    let old = if renameat2(from, target, RenameFlag::Exchange)? {
        // `from` now names the old folder.
        from.to_path_buf()
    } else {
        swap_aside(from, target)?
    };
    // The new folder is in place: an old one that cannot be removed now stays under its
    // temporary name, which the next output written to this folder clears
    // (`leftovers::remove_stale`), and is no reason to report the output as failed.
    let _ = std::fs::remove_dir_all(old);
    Ok(())
}

/// [`replace_folder`] in two renames where the system cannot swap: `target` renamed aside
/// (its new name returned), `from` renamed onto it, and the old folder put back if that
/// fails.
fn swap_aside(from: &Path, target: &Path) -> std::io::Result<PathBuf> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let unique = leftovers::temp_name(std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let aside = dir.join(format!("{unique}.replaced"));
    std::fs::rename(target, &aside)?;
    if let Err(e) = std::fs::rename(from, target) {
        let _ = std::fs::rename(&aside, target);
        return Err(e);
    }
    Ok(aside)
}

/// The two uses of Linux's `renameat2`.
#[derive(Clone, Copy)]
enum RenameFlag {
    /// Fail with `AlreadyExists` rather than replace the destination.
    NoReplace,
    /// Swap the two paths, both of which must exist.
    Exchange,
}

/// `renameat2(from, to, flag)`: `Ok(true)` when done, `Ok(false)` when this system or file
/// system cannot (not Linux, `EINVAL`, `ENOSYS`), an error otherwise.
fn renameat2(from: &Path, to: &Path, flag: RenameFlag) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| std::io::Error::other("path holds a NUL byte"))
        };
        let (cfrom, cto) = (c(from)?, c(to)?);
        let flags = match flag {
            RenameFlag::NoReplace => libc::RENAME_NOREPLACE,
            RenameFlag::Exchange => libc::RENAME_EXCHANGE,
        };
        // SAFETY: both paths are NUL-terminated strings that outlive the call; the syscall
        // only reads them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                cfrom.as_ptr(),
                libc::AT_FDCWD,
                cto.as_ptr(),
                flags,
            )
        };
        if r == 0 {
            return Ok(true);
        }
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(e);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (from, to, flag);
    Ok(false)
}

/// Rename `from` to `to` unless `to` exists, atomically where the system can:
/// `renameat2(RENAME_NOREPLACE)` on Linux; elsewhere (or on file systems without it) a hard
/// link then unlink for files, and for folders a rename onto a path checked not to exist.
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    if renameat2(from, to, RenameFlag::NoReplace)? {
        return Ok(());
    }
    if from.is_dir() {
        if to.symlink_metadata().is_ok() {
            return Err(std::io::ErrorKind::AlreadyExists.into());
        }
        std::fs::rename(from, to)
    } else {
        std::fs::hard_link(from, to)?;
        std::fs::remove_file(from)
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

/// Write `bytes` as the new file `path` (a chunk of a folder output) and start flushing it
/// to the disk in the background (Linux: `sync_file_range(SYNC_FILE_RANGE_WRITE)`), so the
/// flush of the whole output before it is renamed into place finds little left to write:
/// the disk works while the cores encode the next chunks (issue 23: a 2 GiB MIB to Zarr on
/// disk spent two fifths of its time in that final flush).
pub fn write_chunk_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    start_writeback(&file);
    Ok(())
}

/// Ask the system to start writing `file`'s dirty pages to the disk, without waiting. Only
/// a hint: where the system has no such call, or the call fails, the final flush does it.
fn start_writeback(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor belongs to `file`, open for the whole call; the call only
        // schedules writeback of the file's pages and touches no memory of ours.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if let Some(staging) = &self.staging {
            // Anything left (all of it unless committed) is an unfinished output.
            let _ = std::fs::remove_dir_all(staging);
        } else if !self.committed {
            if self.temp.is_dir() {
                let _ = std::fs::remove_dir_all(&self.temp);
            } else {
                let _ = std::fs::remove_file(&self.temp);
            }
        }
    }
}

/// The files beside `target` with its stem and one of `extensions` that exist: the
/// companions an earlier output left there (for [`crate::Format::existing_companions`] of
/// formats whose companion is named after the main file, such as a `.raw` beside a `.rpl`).
pub fn existing_siblings(target: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    extensions
        .iter()
        .map(|ext| target.with_extension(ext))
        .filter(|p| p.is_file())
        .collect()
}

/// Bytes per region when streaming a dataset in C order.
pub const STREAM_REGION_BYTES: u64 = 16 << 20;

/// Read `dataset` region by region in C order (each region contiguous in the C-order
/// byte stream) and hand each one's native-endian bytes to `sink`, in order, reporting
/// progress and honouring cancellation. Regions are read ahead in parallel by the
/// engine ([`WritePlan::streaming`]); memory stays bounded by its
/// `(threads + queue) × STREAM_REGION_BYTES`.
pub fn stream_c_order(
    dataset: &Dataset,
    progress: &dyn Progress,
    sink: impl FnMut(&Region, &[u8]) -> Result<()>,
) -> Result<()> {
    WritePlan::streaming(dataset)
        .write_in_order(dataset, progress, |_, _| Ok(()), sink)
        .map(|_| ())
}

/// A piece of one frame in a C-order byte stream, handed out by [`stream_frames`].
#[derive(Debug)]
pub struct FramePiece<'a> {
    /// Index of the frame (C order over the leading dimensions).
    pub frame: u64,
    /// Whether this piece starts the frame.
    pub first: bool,
    /// Whether this piece ends the frame.
    pub last: bool,
    /// The bytes (native-endian values), never crossing a frame boundary.
    pub bytes: &'a [u8],
}

/// Stream `dataset` in C order like [`stream_c_order`], cut at the boundaries of its frames
/// (the trailing `frame_dims` dimensions): for writers that put something between frames
/// (per-frame headers, padding rows, a new file every N frames). Frames larger than a
/// streaming region arrive in several pieces.
pub fn stream_frames(
    dataset: &Dataset,
    frame_dims: usize,
    progress: &dyn Progress,
    mut sink: impl FnMut(FramePiece<'_>) -> Result<()>,
) -> Result<()> {
    let shape = dataset.shape();
    let frame_elems: u64 = shape[shape.len().saturating_sub(frame_dims)..]
        .iter()
        .product();
    let frame_bytes = frame_elems * dataset.dtype().size() as u64;
    if frame_bytes == 0 {
        return Ok(());
    }
    let mut position = 0u64;
    stream_c_order(dataset, progress, |_, mut bytes| {
        while !bytes.is_empty() {
            let in_frame = position % frame_bytes;
            let n = (frame_bytes - in_frame).min(bytes.len() as u64) as usize;
            sink(FramePiece {
                frame: position / frame_bytes,
                first: in_frame == 0,
                last: in_frame + n as u64 == frame_bytes,
                bytes: &bytes[..n],
            })?;
            position += n as u64;
            bytes = &bytes[n..];
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_their_boundaries() {
        let bytes: Vec<u8> = (0..24).collect();
        let ds = Dataset::from_bytes(bytes.clone(), crate::DType::U8, vec![3, 2, 4]).unwrap();
        let mut seen = Vec::new();
        stream_frames(&ds, 2, &crate::NoProgress, |p| {
            seen.push((p.frame, p.first, p.last, p.bytes.to_vec()));
            Ok(())
        })
        .unwrap();
        let frames: Vec<_> = (0..3u8)
            .map(|f| {
                (
                    f as u64,
                    true,
                    true,
                    (f * 8..f * 8 + 8).collect::<Vec<u8>>(),
                )
            })
            .collect();
        assert_eq!(seen, frames);
    }

    #[test]
    fn companions_are_committed_with_the_main_file_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("emio-out-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("a.rpl");
        let write = |overwrite: bool| -> Result<()> {
            let out = AtomicOutput::new(&target, overwrite, OutputKind::FileWithCompanions)?;
            std::fs::write(out.temp_path(), b"main").unwrap();
            std::fs::write(out.temp_path().with_extension("raw"), b"raw").unwrap();
            out.commit()
        };
        write(false).unwrap();
        assert_eq!(std::fs::read(dir.join("a.raw")).unwrap(), b"raw");
        assert_eq!(std::fs::read(&target).unwrap(), b"main");
        // The companion exists: refused unless overwriting, and nothing is left behind.
        std::fs::remove_file(&target).unwrap();
        assert!(matches!(write(false), Err(Error::OutputExists(p)) if p.ends_with("a.raw")));
        assert!(!target.exists());
        write(true).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2, "only the output and its companion remain");
        // A companion of the earlier output that the new one does not write is removed.
        let old_part = dir.join("a_001.raw");
        std::fs::write(&old_part, b"old").unwrap();
        let out = AtomicOutput::new(&target, true, OutputKind::FileWithCompanions)
            .unwrap()
            .replacing(vec![old_part.clone(), dir.join("a.raw")]);
        std::fs::write(out.temp_path(), b"main").unwrap();
        std::fs::write(out.temp_path().with_extension("raw"), b"new").unwrap();
        out.commit().unwrap();
        assert!(!old_part.exists());
        assert_eq!(std::fs::read(dir.join("a.raw")).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A target created by someone else after the output was prepared is never replaced.
    #[test]
    fn commit_never_replaces_a_target_that_appeared_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [OutputKind::File, OutputKind::Directory] {
            let target = dir.path().join(format!("out{kind:?}"));
            let output = AtomicOutput::new(&target, false, kind).unwrap();
            if kind == OutputKind::Directory {
                std::fs::create_dir(output.temp_path()).unwrap();
                std::fs::write(output.temp_path().join("zarr.json"), b"ours").unwrap();
            } else {
                std::fs::write(output.temp_path(), b"ours").unwrap();
            }
            let temp = output.temp_path().to_path_buf();
            std::fs::create_dir(&target).unwrap();
            std::fs::write(target.join("theirs"), b"theirs").unwrap();
            let err = output.commit().unwrap_err();
            assert!(matches!(err, Error::OutputExists(_)), "{err}");
            assert!(target.join("theirs").exists());
            assert!(!temp.exists(), "the temporary output is removed");
        }
        let target = dir.path().join("plain");
        let output = AtomicOutput::new(&target, false, OutputKind::File).unwrap();
        std::fs::write(output.temp_path(), b"ours").unwrap();
        std::fs::write(&target, b"theirs").unwrap();
        assert!(output.commit().is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
    }

    #[test]
    fn commit_renames_onto_a_free_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.npy");
        let output = AtomicOutput::new(&target, false, OutputKind::File).unwrap();
        std::fs::write(output.temp_path(), b"ours").unwrap();
        output.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"ours");
        let output = AtomicOutput::new(&target, true, OutputKind::File).unwrap();
        std::fs::write(output.temp_path(), b"new").unwrap();
        output.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    /// With `overwrite`, a folder output takes the place of an old folder at the target,
    /// swapped in one step or renamed aside, and nothing of the old one is left beside it.
    #[test]
    fn a_folder_replaces_an_old_folder_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.zarr");
        let folder = |name: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.join("c/0")).unwrap();
            std::fs::write(path.join("c/0/0"), name).unwrap();
            path
        };
        let listing = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        folder("out.zarr");
        let output = AtomicOutput::new(&target, true, OutputKind::Directory).unwrap();
        std::fs::rename(folder("new"), output.temp_path()).unwrap();
        output.commit().unwrap();
        assert_eq!(std::fs::read(target.join("c/0/0")).unwrap(), b"new");
        assert_eq!(listing(), ["out.zarr"]);

        let aside = swap_aside(&folder("newer"), &target).unwrap();
        assert_eq!(std::fs::read(target.join("c/0/0")).unwrap(), b"newer");
        assert_eq!(std::fs::read(aside.join("c/0/0")).unwrap(), b"new");
        assert!(leftovers::temp_pid(&aside.file_name().unwrap().to_string_lossy()).is_some());
        // A failed second rename puts the old folder back.
        assert!(swap_aside(&dir.path().join("missing"), &target).is_err());
        assert_eq!(std::fs::read(target.join("c/0/0")).unwrap(), b"newer");
        std::fs::remove_dir_all(aside).unwrap();
        assert_eq!(listing(), ["out.zarr"]);
    }
}
