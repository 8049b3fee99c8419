//! External links of a group (HDF5 link messages of type 64), which `hdf5-pure` skips.
//!
//! A DECTRIS master file names its data files through external links in `/entry/data`
//! (`data_000001 -> <stem>_data_000001.h5:/entry/data/data`). This module walks the object
//! headers itself: superblock (versions 0-3) to the root group, then hard links (link
//! messages) down the path, and returns the external links of the last group. It reads
//! object headers of version 1 and 2 (with continuation blocks) and groups whose links are
//! stored compactly in link messages, which is how HDF5 stores groups holding external
//! links unless they have many members; groups in dense (fractal-heap) storage and
//! old-style symbol-table groups on the path are reported as unsupported. Every offset and
//! length is checked against the file; the walk is bounded.

use std::path::Path;

use emio_core::{Error, Result};

/// An external link: its name in the group, the file and the object path it points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalLink {
    /// The link's name in its group.
    pub name: String,
    /// The target file as stored (relative to the linking file's folder when relative).
    pub file: String,
    /// The object path inside the target file.
    pub object: String,
}

/// Largest number of object-header blocks (header plus continuations) followed per group.
const MAX_BLOCKS: usize = 64;

/// Message types used here.
const MSG_LINK_INFO: u16 = 0x02;
const MSG_LINK: u16 = 0x06;
const MSG_CONTINUATION: u16 = 0x10;
const MSG_SYMBOL_TABLE: u16 = 0x11;

struct Reader<'a> {
    data: &'a [u8],
    path: &'a Path,
    offsets: usize,
    lengths: usize,
    base: u64,
}

/// What one object header says about links.
#[derive(Default)]
struct Links {
    hard: Vec<(String, usize)>,
    external: Vec<ExternalLink>,
    dense: bool,
    symbol_table: bool,
}

impl<'a> Reader<'a> {
    fn bad(&self, offset: usize, what: impl std::fmt::Display) -> Error {
        Error::Malformed {
            format: "hdf5",
            path: Some(self.path.to_path_buf()),
            offset: Some(offset as u64),
            expected: format!("{what} (while looking for external links)"),
        }
    }

    fn bytes(&self, pos: usize, n: usize, what: &str) -> Result<&'a [u8]> {
        pos.checked_add(n)
            .and_then(|end| self.data.get(pos..end))
            .ok_or_else(|| self.bad(pos, format!("{what}: {n} bytes inside the file")))
    }

    fn uint(&self, pos: usize, n: usize, what: &str) -> Result<u64> {
        let b = self.bytes(pos, n, what)?;
        Ok(b.iter().rev().fold(0u64, |a, &v| (a << 8) | u64::from(v)))
    }

    /// A file address (relative to the base) at `pos`, made absolute.
    fn address(&self, pos: usize, what: &str) -> Result<usize> {
        let a = self.uint(pos, self.offsets, what)?;
        let abs = a
            .checked_add(self.base)
            .filter(|&v| v < self.data.len() as u64);
        abs.map(|v| v as usize)
            .ok_or_else(|| self.bad(pos, format!("{what} inside the file, got {a}")))
    }

    fn undefined(&self, pos: usize) -> Result<bool> {
        Ok(self
            .bytes(pos, self.offsets, "an address")?
            .iter()
            .all(|&b| b == 0xff))
    }

    /// Superblock at `sb`: sizes, base address and the root group's object header.
    fn open(data: &'a [u8], path: &'a Path, sb: usize) -> Result<(Self, usize)> {
        let mut r = Reader {
            data,
            path,
            offsets: 8,
            lengths: 8,
            base: sb as u64,
        };
        let version = r.uint(sb + 8, 1, "the superblock version")?;
        let (root_pos, base_pos) = match version {
            0 | 1 => {
                r.offsets = r.uint(sb + 13, 1, "the size of offsets")? as usize;
                r.lengths = r.uint(sb + 14, 1, "the size of lengths")? as usize;
                let fixed = sb + 24 + if version == 1 { 4 } else { 0 };
                // base, free space, end of file, driver; then the root symbol table entry
                // (link name offset, object header address, ...).
                (fixed + 4 * r.offsets + r.offsets, fixed)
            }
            2 | 3 => {
                r.offsets = r.uint(sb + 9, 1, "the size of offsets")? as usize;
                r.lengths = r.uint(sb + 10, 1, "the size of lengths")? as usize;
                (sb + 12 + 3 * r.offsets, sb + 12)
            }
            v => return Err(r.bad(sb + 8, format!("a superblock version 0-3, got {v}"))),
        };
        if !matches!(r.offsets, 2 | 4 | 8) || !matches!(r.lengths, 2 | 4 | 8) {
            return Err(r.bad(sb + 9, "sizes of offsets and lengths of 2, 4 or 8 bytes"));
        }
        r.base = r.uint(base_pos, r.offsets, "the base address")?;
        let root = r.address(root_pos, "the root group's object header address")?;
        Ok((r, root))
    }

    /// The messages of the object header at `at`: `(type, data position, data length)`.
    fn messages(&self, at: usize) -> Result<Vec<(u16, usize, usize)>> {
        let mut out = Vec::new();
        let mut blocks = vec![];
        if self.bytes(at, 4, "an object header")? == b"OHDR" {
            let flags = self.uint(at + 5, 1, "object header flags")?;
            let mut pos = at + 6;
            if flags & 0x20 != 0 {
                pos += 16;
            }
            if flags & 0x10 != 0 {
                pos += 4;
            }
            let width = 1usize << (flags & 3);
            let size = self.uint(pos, width, "the object header size")? as usize;
            pos += width;
            blocks.push((pos, size, 2u8, flags));
        } else {
            let version = self.uint(at, 1, "an object header version")?;
            if version != 1 {
                return Err(self.bad(
                    at,
                    format!("an object header of version 1 or 2, got {version}"),
                ));
            }
            let size = self.uint(at + 8, 4, "the object header size")? as usize;
            blocks.push((at + 16, size, 1, 0));
        }
        let mut i = 0;
        while i < blocks.len() {
            if blocks.len() > MAX_BLOCKS {
                return Err(self.bad(at, format!("at most {MAX_BLOCKS} object header blocks")));
            }
            let (start, size, version, flags) = blocks[i];
            i += 1;
            let body = self.bytes(start, size, "an object header block")?;
            let (mut pos, end) = (start, start + body.len());
            let head = if version == 2 {
                4 + if flags & 0x04 != 0 { 2 } else { 0 }
            } else {
                8
            };
            while pos + head <= end {
                let (ty, len) = if version == 2 {
                    (
                        self.uint(pos, 1, "a message type")? as u16,
                        self.uint(pos + 1, 2, "a message size")? as usize,
                    )
                } else {
                    (
                        self.uint(pos, 2, "a message type")? as u16,
                        self.uint(pos + 2, 2, "a message size")? as usize,
                    )
                };
                let data = pos + head;
                if data + len > end {
                    return Err(self.bad(
                        pos,
                        format!("a message of {len} bytes inside its header block"),
                    ));
                }
                if ty == MSG_CONTINUATION {
                    let next = self.address(data, "a continuation block address")?;
                    let n = self.uint(data + self.offsets, self.lengths, "a continuation length")?
                        as usize;
                    if version == 2 {
                        if self.bytes(next, 4, "a continuation block")? != b"OCHK" {
                            return Err(
                                self.bad(next, "the OCHK signature of a continuation block")
                            );
                        }
                        blocks.push((next + 4, n.saturating_sub(8), 2, flags));
                    } else {
                        blocks.push((next, n, 1, 0));
                    }
                } else {
                    out.push((ty, data, len));
                }
                pos = data + len;
            }
        }
        Ok(out)
    }

    /// The links of the group whose object header is at `at`.
    fn links(&self, at: usize) -> Result<Links> {
        let mut links = Links::default();
        for (ty, pos, len) in self.messages(at)? {
            match ty {
                MSG_LINK => self.link(pos, len, &mut links)?,
                MSG_LINK_INFO => {
                    let flags = self.uint(pos + 1, 1, "link info flags")?;
                    let heap = pos + 2 + if flags & 1 != 0 { 8 } else { 0 };
                    links.dense |= !self.undefined(heap)?;
                }
                MSG_SYMBOL_TABLE => links.symbol_table = true,
                _ => {}
            }
        }
        Ok(links)
    }

    /// Parse one link message at `pos` (`len` bytes).
    fn link(&self, pos: usize, len: usize, links: &mut Links) -> Result<()> {
        let end = pos + len;
        let flags = self.uint(pos + 1, 1, "link flags")?;
        let mut p = pos + 2;
        let kind = if flags & 0x08 != 0 {
            p += 1;
            self.uint(p - 1, 1, "the link type")?
        } else {
            0
        };
        if flags & 0x04 != 0 {
            p += 8;
        }
        if flags & 0x10 != 0 {
            p += 1;
        }
        let width = 1usize << (flags & 3);
        let name_len = self.uint(p, width, "the link name length")? as usize;
        p += width;
        let name = self.text(p, name_len, end)?;
        p += name_len;
        match kind {
            0 => links
                .hard
                .push((name, self.address(p, "a hard link's address")?)),
            64 => {
                let n = self.uint(p, 2, "an external link's length")? as usize;
                let value = self.bytes(p + 2, n, "an external link's value")?;
                if p + 2 + n > end || value.is_empty() {
                    return Err(self.bad(p, "an external link value inside its message"));
                }
                let mut parts = value[1..].split(|&b| b == 0);
                let file = parts.next().unwrap_or_default();
                let object = parts.next().unwrap_or_default();
                links.external.push(ExternalLink {
                    name,
                    file: String::from_utf8_lossy(file).into_owned(),
                    object: String::from_utf8_lossy(object).into_owned(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn text(&self, pos: usize, n: usize, end: usize) -> Result<String> {
        if pos + n > end {
            return Err(self.bad(pos, "a link name inside its message"));
        }
        Ok(String::from_utf8_lossy(self.bytes(pos, n, "a link name")?).into_owned())
    }
}

/// The external links of group `group` (e.g. `/entry/data`) of the HDF5 file `data` (its
/// bytes; `path` names it in errors), in the order the file stores them.
pub fn external_links(data: &[u8], path: &Path, group: &str) -> Result<Vec<ExternalLink>> {
    let sb = (0..)
        .map(|k| if k == 0 { 0 } else { 512usize << (k - 1) })
        .take_while(|&o| o + 8 <= data.len())
        .find(|&o| &data[o..o + 8] == crate::SIGNATURE)
        .ok_or_else(|| Error::Malformed {
            format: "hdf5",
            path: Some(path.to_path_buf()),
            offset: Some(0),
            expected: "the HDF5 signature".into(),
        })?;
    let (r, mut at) = Reader::open(data, path, sb)?;
    let mut walked = String::new();
    for part in group.split('/').filter(|p| !p.is_empty()) {
        let links = r.links(at)?;
        let found = links.hard.iter().find(|(n, _)| n == part).map(|&(_, a)| a);
        at = match found {
            Some(a) => a,
            None => {
                let why = if links.symbol_table || links.dense {
                    "its parent stores links in a form this reader does not walk (symbol table or dense storage)"
                } else {
                    "no such member"
                };
                return Err(Error::Unsupported {
                    format: "hdf5",
                    path: Some(path.to_path_buf()),
                    what: format!("finding group {walked}/{part}: {why}"),
                });
            }
        };
        walked.push('/');
        walked.push_str(part);
    }
    let links = r.links(at)?;
    if links.dense {
        return Err(Error::Unsupported {
            format: "hdf5",
            path: Some(path.to_path_buf()),
            what: format!("external links of {group} in dense link storage"),
        });
    }
    Ok(links.external)
}
