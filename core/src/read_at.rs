//! Positioned reads for parsing structures scattered through a large file.
//!
//! A parser that reads a few bytes at each of thousands of places (the element headers of a
//! TIA series, 2 MiB apart) through a memory map takes a page fault and builds a page-table
//! entry at every place, and pays again when the map is dropped; one positioned read
//! (`pread`) per place costs less. [`WindowReader`] serves the small reads of such a parser
//! from a window of the file read at once, so neighbouring fields (a tag and the next
//! element's header) cost one system call.

use std::cell::RefCell;
use std::fs::File;
use std::io;

/// Bytes that can be read at any offset without a shared cursor.
pub trait ReadAt {
    /// Total bytes available.
    fn size(&self) -> u64;
    /// Fill `buf` with the bytes at `offset`; fails unless all of them exist.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

fn past_the_end(offset: u64, n: usize, size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("{n} bytes at {offset} are past the end of {size} bytes"),
    )
}

impl ReadAt for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).ok();
        let range = start.and_then(|s| Some(s..s.checked_add(buf.len())?));
        match range.and_then(|r| self.get(r)) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(past_the_end(offset, buf.len(), self.size())),
        }
    }
}

/// The first `size` bytes of an open file.
#[derive(Debug)]
pub struct FileAt<'a> {
    file: &'a File,
    size: u64,
}

impl<'a> FileAt<'a> {
    /// Positioned reads of the first `size` bytes of `file` (the length the caller has
    /// mapped or measured: a parser checks every offset against it, and a file truncated
    /// since then fails the read instead of returning short data).
    pub fn new(file: &'a File, size: u64) -> Self {
        FileAt { file, size }
    }
}

impl ReadAt for FileAt<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.size) {
            return Err(past_the_end(offset, buf.len(), self.size));
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_read(
                    self.file,
                    &mut buf[done..],
                    offset + done as u64,
                )?;
                if n == 0 {
                    return Err(past_the_end(offset, buf.len(), self.size));
                }
                done += n;
            }
            Ok(())
        }
        #[cfg(not(any(unix, windows)))]
        {
            use std::io::{Read, Seek, SeekFrom};
            let mut file = self.file;
            file.seek(SeekFrom::Start(offset))?;
            file.read_exact(buf)
        }
    }
}

/// The bytes of the last window read.
struct Window {
    start: u64,
    bytes: Vec<u8>,
}

/// Small reads served from a window of `window` bytes read at once from a [`ReadAt`].
///
/// A read inside the current window is a copy; any other read refills the window from its
/// own offset (reads at least as large as the window go straight to the source).
pub struct WindowReader<'a> {
    source: &'a dyn ReadAt,
    window_bytes: usize,
    window: RefCell<Window>,
}

impl<'a> WindowReader<'a> {
    /// A reader of `source` with windows of `window_bytes` (at least 1).
    pub fn new(source: &'a dyn ReadAt, window_bytes: usize) -> Self {
        WindowReader {
            source,
            window_bytes: window_bytes.max(1),
            window: RefCell::new(Window {
                start: 0,
                bytes: Vec::new(),
            }),
        }
    }

    /// Total bytes of the source.
    pub fn size(&self) -> u64 {
        self.source.size()
    }

    /// Fill `out` with the bytes at `offset`; fails unless all of them exist.
    pub fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let size = self.source.size();
        let end = offset
            .checked_add(out.len() as u64)
            .filter(|&end| end <= size)
            .ok_or_else(|| past_the_end(offset, out.len(), size))?;
        if out.len() >= self.window_bytes {
            return self.source.read_exact_at(out, offset);
        }
        let mut window = self.window.borrow_mut();
        let inside = offset >= window.start && end <= window.start + window.bytes.len() as u64;
        if !inside {
            let n = (size - offset).min(self.window_bytes as u64) as usize;
            window.bytes.resize(n, 0);
            window.start = offset;
            if let Err(e) = self.source.read_exact_at(&mut window.bytes, offset) {
                window.bytes.clear();
                return Err(e);
            }
        }
        let from = (offset - window.start) as usize;
        out.copy_from_slice(&window.bytes[from..from + out.len()]);
        Ok(())
    }

    /// The `n` bytes at `offset` in a new buffer (`n` is checked against the source's
    /// size before anything is allocated).
    pub fn vec(&self, offset: u64, n: u64) -> io::Result<Vec<u8>> {
        let size = self.source.size();
        if offset.checked_add(n).is_none_or(|end| end > size) {
            return Err(past_the_end(offset, n as usize, size));
        }
        let mut out = vec![0; n as usize];
        self.read(offset, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn bytes() -> Vec<u8> {
        (0..10_000u32).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn windowed_reads_give_the_bytes_at_every_offset_of_slices_and_files() {
        let data = bytes();
        let mut file = anonymous_file();
        file.write_all(&data).unwrap();
        let file_at = FileAt::new(&file, data.len() as u64);
        let slice = data.as_slice();
        let sources: [&dyn ReadAt; 2] = [&slice, &file_at];
        for source in sources {
            let reader = WindowReader::new(source, 64);
            assert_eq!(reader.size(), data.len() as u64);
            for (offset, n) in [(0, 8), (4, 8), (60, 8), (1000, 3), (9990, 10), (50, 200)] {
                let got = reader.vec(offset, n).unwrap();
                assert_eq!(got, &data[offset as usize..(offset + n) as usize]);
            }
            for (offset, n) in [(9995, 10), (u64::MAX - 2, 8), (10_001, 0)] {
                let err = reader.vec(offset, n).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
            }
        }
    }

    /// An anonymous temporary file (removed when closed).
    fn anonymous_file() -> File {
        let path = std::env::temp_dir().join(format!(
            "emio-read-at-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }
}
