//! Groups: the tree of groups and their members built while datasets are written, and
//! each group written at the end as a local heap, symbol-table nodes, a version-1 group
//! B-tree and an object header.

use std::collections::BTreeMap;

use emio_core::{Error, Result};

use super::messages::{attribute_message, object_header, pad8, Attr};
use super::{H5Writer, UNDEF};

/// Group B-tree "K" (internal and leaf nodes hold up to 2K children).
pub(super) const GROUP_INTERNAL_K: usize = 16;
/// Symbol-table-node "K" (a node holds up to 2K entries).
pub(super) const GROUP_LEAF_K: usize = 4;

/// A group being built: its attributes and members.
#[derive(Debug, Default)]
pub(super) struct GroupNode {
    attrs: Vec<(String, Attr)>,
    /// Member name -> object header address (datasets) or `None` (subgroups, written later).
    members: BTreeMap<String, Option<u64>>,
}
/// A path as (parent group, name).
fn split(path: &str) -> (String, String) {
    let p = path.trim_matches('/');
    match p.rfind('/') {
        Some(i) => (p[..i].to_string(), p[i + 1..].to_string()),
        None => (String::new(), p.to_string()),
    }
}
impl H5Writer {
    /// Create group `path` (and its parents) with `attrs`; attributes of an existing group
    /// are extended.
    pub fn create_group(&mut self, path: &str, attrs: Vec<(String, Attr)>) -> Result<()> {
        for (name, value) in &attrs {
            attribute_message(name, value)?;
        }
        let p = path.trim_matches('/').to_string();
        if !p.is_empty() {
            let (parent, name) = split(&p);
            self.create_group(&parent, Vec::new())?;
            match self.groups[&parent].members.get(&name) {
                Some(Some(_)) => {
                    return Err(Error::unsupported(
                        "hdf5",
                        format!("group {p}: a dataset has that name"),
                    ))
                }
                Some(None) => {}
                None => {
                    self.groups
                        .get_mut(&parent)
                        .expect("parent created")
                        .members
                        .insert(name, None);
                }
            }
        }
        self.groups.entry(p).or_default().attrs.extend(attrs);
        Ok(())
    }

    /// Link the dataset whose header is at `header` as `path` (its groups created).
    pub(super) fn link_dataset(&mut self, path: &str, header: u64) -> Result<()> {
        let (parent, name) = split(path);
        self.create_group(&parent, Vec::new())?;
        let g = self.groups.get_mut(&parent).expect("parent created");
        if g.members.contains_key(&name) {
            return Err(Error::unsupported(
                "hdf5",
                format!("two objects named {path}"),
            ));
        }
        g.members.insert(name, Some(header));
        Ok(())
    }
    /// Write every group, deepest first (so every subgroup's address is known before its
    /// parent is written); returns the root group's header, B-tree and heap addresses.
    pub(super) fn write_groups(&mut self) -> Result<(u64, u64, u64)> {
        let mut paths: Vec<String> = self.groups.keys().cloned().collect();
        // Deepest first, so every subgroup's address is known before its parent is written.
        paths.sort_by_key(|p| {
            std::cmp::Reverse(p.matches('/').count() + usize::from(!p.is_empty()))
        });
        let mut root = (0u64, 0u64, 0u64);
        for path in paths {
            let node = self.groups.remove(&path).expect("listed");
            let mut members: Vec<(String, u64)> = Vec::new();
            for (name, addr) in node.members {
                let addr = match addr {
                    Some(a) => a,
                    None => {
                        let child = if path.is_empty() {
                            name.clone()
                        } else {
                            format!("{path}/{name}")
                        };
                        *self.written.get(&child).ok_or_else(|| {
                            Error::Layout(format!("group {child} was not written"))
                        })?
                    }
                };
                members.push((name, addr));
            }
            let (header, btree, heap) = self.write_group(&members, &node.attrs)?;
            if path.is_empty() {
                root = (header, btree, heap);
            } else {
                self.written.insert(path, header);
            }
        }
        Ok(root)
    }

    /// Write one group (local heap, symbol nodes, B-tree, header); returns the header, B-tree
    /// and heap addresses.
    fn write_group(
        &mut self,
        members: &[(String, u64)],
        attrs: &[(String, Attr)],
    ) -> Result<(u64, u64, u64)> {
        // Names sorted by byte value (strcmp), as the B-tree requires.
        let mut members = members.to_vec();
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let per_node = 2 * GROUP_LEAF_K;
        // Local heap: offset 0 is the empty name.
        let mut heap_data = vec![0u8; 8];
        let mut offsets = Vec::new();
        for (name, _) in &members {
            offsets.push(heap_data.len() as u64);
            heap_data.extend_from_slice(name.as_bytes());
            heap_data.push(0);
            pad8(&mut heap_data);
        }
        let data_addr = self.put(&heap_data)?;
        let mut heap = Vec::new();
        heap.extend_from_slice(b"HEAP");
        heap.extend_from_slice(&[0, 0, 0, 0]);
        heap.extend_from_slice(&(heap_data.len() as u64).to_le_bytes());
        heap.extend_from_slice(&1u64.to_le_bytes()); // H5HL_FREE_NULL: no free block
        heap.extend_from_slice(&data_addr.to_le_bytes());
        let heap_addr = self.put(&heap)?;
        // Symbol table nodes.
        let mut snods = Vec::new();
        let indices: Vec<usize> = (0..members.len()).collect();
        for group in indices.chunks(per_node) {
            let mut node = Vec::new();
            node.extend_from_slice(b"SNOD");
            node.extend_from_slice(&[1, 0]);
            node.extend_from_slice(&(group.len() as u16).to_le_bytes());
            for &i in group {
                node.extend_from_slice(&offsets[i].to_le_bytes());
                node.extend_from_slice(&members[i].1.to_le_bytes());
                node.extend_from_slice(&[0; 24]);
            }
            node.resize(8 + per_node * 40, 0);
            let addr = self.put(&node)?;
            snods.push((addr, offsets[*group.last().expect("non-empty")]));
        }
        // B-tree (type 0) over the symbol nodes, bottom-up with at most 2K children per
        // node; a key is the heap offset of the last name in the subtree before it.
        let mut level: Vec<(u64, u64)> = snods;
        let mut depth = 0u8;
        let tree_addr = loop {
            let groups: Vec<&[(u64, u64)]> = if level.is_empty() {
                vec![&[]]
            } else {
                level.chunks(2 * GROUP_INTERNAL_K).collect()
            };
            let mut next = Vec::with_capacity(groups.len());
            let mut left_key = 0u64;
            for group in groups {
                let mut tree = Vec::new();
                tree.extend_from_slice(b"TREE");
                tree.extend_from_slice(&[0, depth]);
                tree.extend_from_slice(&(group.len() as u16).to_le_bytes());
                tree.extend_from_slice(&UNDEF.to_le_bytes());
                tree.extend_from_slice(&UNDEF.to_le_bytes());
                tree.extend_from_slice(&left_key.to_le_bytes());
                for (addr, last_name) in group {
                    tree.extend_from_slice(&addr.to_le_bytes());
                    tree.extend_from_slice(&last_name.to_le_bytes());
                }
                tree.resize(
                    24 + (2 * GROUP_INTERNAL_K + 1) * 8 + 2 * GROUP_INTERNAL_K * 8,
                    0,
                );
                let addr = self.put(&tree)?;
                let last = group.last().map_or(left_key, |(_, name)| *name);
                next.push((addr, last));
                left_key = last;
            }
            if next.len() == 1 {
                break next[0].0;
            }
            level = next;
            depth += 1;
        };
        let mut msgs = Vec::new();
        let mut stab = tree_addr.to_le_bytes().to_vec();
        stab.extend_from_slice(&heap_addr.to_le_bytes());
        msgs.push((0x0011u16, stab));
        msgs.extend(self.attribute_messages(attrs)?);
        let header = self.put(&object_header(&msgs))?;
        Ok((header, tree_addr, heap_addr))
    }
}
