//! The links of a group: soft and external links (HDF5 link messages of types 1 and 64,
//! and soft links in old-style symbol-table groups), which `hdf5-pure` skips, and the
//! names of its hard links (for groups `hdf5-pure` cannot list).
//!
//! A DECTRIS master file names its data files through external links in `/entry/data`
//! (`data_000001 -> <stem>_data_000001.h5:/entry/data/data`); `emconvert check` reports
//! soft links whose target does not exist. This module walks the object headers itself:
//! superblock (versions 0-3) to the root group, then hard links down the path, and returns
//! the soft and external links of the last group. It reads object headers of version 1 and
//! 2 (with continuation blocks), groups whose links are stored compactly in link messages
//! (how HDF5 stores groups holding external links unless they have many members) and
//! old-style groups (a version 1 B-tree of symbol nodes with a local heap of names, as
//! h5py writes by default); groups in dense (fractal-heap) storage on the path are
//! reported as unsupported. Every offset and length is checked against the file; the walk
//! is bounded.

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

/// A soft link: its name in the group and the path it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftLink {
    /// The link's name in its group.
    pub name: String,
    /// The object path it points to (absolute, or relative to the group).
    pub target: String,
}

/// The links of one group, in the order the file stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupLinks {
    /// Names of the members linked by hard links (the group's own groups and datasets).
    pub hard: Vec<String>,
    /// Links to objects in other files.
    pub external: Vec<ExternalLink>,
    /// Links to object paths in this file.
    pub soft: Vec<SoftLink>,
}

/// Largest number of object-header blocks (header plus continuations) followed per group.
const MAX_BLOCKS: usize = 64;

/// Largest number of distinct B-tree and symbol nodes read per old-style group.
const MAX_NODES: usize = 100_000;

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

/// What one group's object header says about its links.
#[derive(Default)]
struct Links {
    hard: Vec<(String, usize)>,
    other: GroupLinks,
    dense: bool,
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
                MSG_SYMBOL_TABLE => self.symbol_table(pos, &mut links)?,
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
            1 => {
                let n = self.uint(p, 2, "a soft link's length")? as usize;
                if p + 2 + n > end {
                    return Err(self.bad(p, "a soft link value inside its message"));
                }
                let target = self.bytes(p + 2, n, "a soft link's value")?;
                links.other.soft.push(SoftLink {
                    name,
                    target: String::from_utf8_lossy(target).into_owned(),
                });
            }
            64 => {
                let n = self.uint(p, 2, "an external link's length")? as usize;
                let value = self.bytes(p + 2, n, "an external link's value")?;
                if p + 2 + n > end || value.is_empty() {
                    return Err(self.bad(p, "an external link value inside its message"));
                }
                let mut parts = value[1..].split(|&b| b == 0);
                let file = parts.next().unwrap_or_default();
                let object = parts.next().unwrap_or_default();
                links.other.external.push(ExternalLink {
                    name,
                    file: String::from_utf8_lossy(file).into_owned(),
                    object: String::from_utf8_lossy(object).into_owned(),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The members of an old-style group, from its symbol table message at `pos`: a
    /// version 1 B-tree whose leaves are symbol nodes, names in a local heap. Hard links
    /// and soft links (symbol entries of cache type 2) are collected.
    fn symbol_table(&self, pos: usize, links: &mut Links) -> Result<()> {
        let tree = self.address(pos, "a symbol table's B-tree address")?;
        let heap = self.address(pos + self.offsets, "a symbol table's local heap address")?;
        if self.bytes(heap, 4, "a local heap")? != b"HEAP" {
            return Err(self.bad(heap, "the HEAP signature of a local heap"));
        }
        let size = self.uint(heap + 8, self.lengths, "the local heap's data size")? as usize;
        let start = self.address(heap + 8 + 2 * self.lengths, "the local heap's data address")?;
        let names = self.bytes(start, size, "the local heap's data")?;
        let mut pending = vec![tree];
        // Each node once: a damaged tree may point at a node twice or in a loop.
        let mut visited = std::collections::HashSet::new();
        while let Some(node) = pending.pop() {
            if !visited.insert(node) {
                continue;
            }
            if visited.len() > MAX_NODES {
                return Err(self.bad(
                    node,
                    format!("at most {MAX_NODES} nodes in a group's B-tree"),
                ));
            }
            match self.bytes(node, 4, "a group B-tree node")? {
                b"TREE" => {
                    if self.uint(node + 4, 1, "a B-tree node's type")? != 0 {
                        return Err(self.bad(node + 4, "a group B-tree node (type 0)"));
                    }
                    let level = self.uint(node + 5, 1, "a B-tree node's level")?;
                    let used = self.uint(node + 6, 2, "a B-tree node's entry count")? as usize;
                    // Keys (heap offsets, `lengths` bytes) and children alternate after the
                    // two sibling addresses; the first key comes before the first child.
                    let first = node + 8 + 2 * self.offsets + self.lengths;
                    for k in 0..used {
                        let child = first + k * (self.offsets + self.lengths);
                        pending.push(self.address(child, "a B-tree child address")?);
                    }
                    if level > 0 && used == 0 {
                        return Err(self.bad(node, "an inner B-tree node with children"));
                    }
                }
                b"SNOD" => self.symbol_node(node, names, links)?,
                _ => return Err(self.bad(node, "the TREE or SNOD signature of a group node")),
            }
        }
        Ok(())
    }

    /// The entries of the symbol node at `node`, named from the local heap `names`.
    fn symbol_node(&self, node: usize, names: &[u8], links: &mut Links) -> Result<()> {
        let count = self.uint(node + 6, 2, "a symbol node's entry count")? as usize;
        let entry = 2 * self.offsets + 24;
        for k in 0..count {
            let at = node + 8 + k * entry;
            let name_at = self.uint(at, self.offsets, "a symbol's name offset")? as usize;
            let name = self.heap_text(names, name_at, at)?;
            match self.uint(at + 2 * self.offsets, 4, "a symbol's cache type")? {
                2 => {
                    let value_at =
                        self.uint(at + 2 * self.offsets + 8, 4, "a soft link's offset")?;
                    let target = self.heap_text(names, value_at as usize, at)?;
                    links.other.soft.push(SoftLink { name, target });
                }
                _ => {
                    let header = self.address(at + self.offsets, "a symbol's object header")?;
                    links.hard.push((name, header));
                }
            }
        }
        Ok(())
    }

    /// The NUL-terminated string at `offset` of a local heap's data (`at` names the entry
    /// that points there, for errors).
    fn heap_text(&self, names: &[u8], offset: usize, at: usize) -> Result<String> {
        let text = names
            .get(offset..)
            .and_then(|rest| rest.iter().position(|&b| b == 0).map(|n| &rest[..n]))
            .ok_or_else(|| self.bad(at, format!("a name at offset {offset} of the local heap")))?;
        Ok(String::from_utf8_lossy(text).into_owned())
    }

    fn text(&self, pos: usize, n: usize, end: usize) -> Result<String> {
        if pos.checked_add(n).is_none_or(|stop| stop > end) {
            return Err(self.bad(pos, "a link name inside its message"));
        }
        Ok(String::from_utf8_lossy(self.bytes(pos, n, "a link name")?).into_owned())
    }
}

/// The soft and external links of group `group` (e.g. `/entry/data`) of the HDF5 file
/// `data` (its bytes; `path` names it in errors), in the order the file stores them.
pub fn group_links(data: &[u8], path: &Path, group: &str) -> Result<GroupLinks> {
    let (r, at) = find(data, path, group)?;
    let links = r.links(at)?;
    if links.dense {
        return Err(Error::Unsupported {
            format: "hdf5",
            path: Some(path.to_path_buf()),
            what: format!("links of {group} in dense link storage"),
        });
    }
    let mut other = links.other;
    other.hard = links.hard.into_iter().map(|(name, _)| name).collect();
    Ok(other)
}

/// The file address of the object header of the group or dataset at `object` (followed
/// through hard links from the root group): the object's identity, the same whatever path
/// leads to it.
pub fn object_address(data: &[u8], path: &Path, object: &str) -> Result<u64> {
    find(data, path, object).map(|(_, at)| at as u64)
}

/// A reader of the file `data` and the position of its root group's object header.
fn root<'a>(data: &'a [u8], path: &'a Path) -> Result<(Reader<'a>, usize)> {
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
    Reader::open(data, path, sb)
}

/// The file address of the root group's object header.
pub fn root_address(data: &[u8], path: &Path) -> Result<u64> {
    root(data, path).map(|(_, at)| at as u64)
}

/// The hard links of the group whose object header is at `group` (a file address from
/// [`root_address`] or from this function): each member's name and object header address.
/// Empty for a group whose links are in dense storage, which this reader does not walk.
pub fn hard_links(data: &[u8], path: &Path, group: u64) -> Result<Vec<(String, u64)>> {
    Ok(addressed(links_at(data, path, group)?.hard))
}

/// The links of the group whose object header is at the file address `group`.
fn links_at(data: &[u8], path: &Path, group: u64) -> Result<Links> {
    let (r, _) = root(data, path)?;
    let at = usize::try_from(group)
        .ok()
        .filter(|&a| a < data.len())
        .ok_or_else(|| r.bad(0, format!("an object header inside the file, got {group}")))?;
    r.links(at)
}

/// Hard links with their targets as file addresses.
fn addressed(hard: Vec<(String, usize)>) -> Vec<(String, u64)> {
    hard.into_iter().map(|(name, a)| (name, a as u64)).collect()
}

/// The names and object header addresses of the members of the group whose object header
/// is at `group`, when every link of the group is a hard link this reader sees; `None`
/// when it also has soft or external links, or keeps its links in dense storage.
pub fn only_hard_links(data: &[u8], path: &Path, group: u64) -> Result<Option<Vec<(String, u64)>>> {
    let links = links_at(data, path, group)?;
    if links.dense || !links.other.soft.is_empty() || !links.other.external.is_empty() {
        return Ok(None);
    }
    Ok(Some(addressed(links.hard)))
}

/// A reader of the file `data` and the object header position of `object`.
fn find<'a>(data: &'a [u8], path: &'a Path, object: &str) -> Result<(Reader<'a>, usize)> {
    let (r, mut at) = root(data, path)?;
    let mut walked = String::new();
    for part in object.split('/').filter(|p| !p.is_empty()) {
        let links = r.links(at)?;
        let found = links.hard.iter().find(|(n, _)| n == part).map(|&(_, a)| a);
        at = match found {
            Some(a) => a,
            None => {
                let why = if links.dense {
                    "its parent stores links in dense storage, which this reader does not walk"
                } else {
                    "no such member"
                };
                return Err(Error::Unsupported {
                    format: "hdf5",
                    path: Some(path.to_path_buf()),
                    what: format!("finding {walked}/{part}: {why}"),
                });
            }
        };
        walked.push('/');
        walked.push_str(part);
    }
    Ok((r, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link message whose name length (8 bytes wide) is near 2^64 is an error: the
    /// check of the name against the message's end overflowed (found by `open_arina`).
    #[test]
    fn a_link_name_longer_than_the_address_space_is_an_error() {
        let mut message = vec![1u8, 0x03];
        message.extend_from_slice(&(u64::MAX - 2).to_le_bytes());
        message.extend_from_slice(b"name");
        let r = Reader {
            data: &message,
            path: Path::new("x.h5"),
            offsets: 8,
            lengths: 8,
            base: 0,
        };
        let mut links = Links::default();
        let e = r.link(0, message.len(), &mut links).expect_err("an error");
        assert!(
            e.to_string().contains("a link name inside its message"),
            "{e}"
        );
    }
}
