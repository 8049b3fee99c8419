//! Lookup in a DM tag tree (as JSON) by dotted path, each key matching exactly or after
//! HyperSpy's slugification; shared by the image reader and the metadata mapping.

use std::sync::OnceLock;

use emio_core::serde_json::Value;
use emio_core::Tree;

/// The value at `path` of `tree`, where each key matches exactly or after HyperSpy's
/// slugification (`"Integration_time_s"` finds `"Integration time (s)"`).
pub fn lookup<'a>(tree: &'a Tree, path: &str) -> Option<&'a Value> {
    let mut node: Option<&Value> = None;
    let mut map = tree;
    for key in path.split('.') {
        let v = map.get(key).or_else(|| {
            let want = slug(key);
            map.iter().find(|(k, _)| slug(k) == want).map(|(_, v)| v)
        })?;
        node = Some(v);
        if let Value::Object(m) = v {
            map = m;
        } else {
            map = EMPTY.get_or_init(Tree::new);
        }
    }
    node
}

/// The empty tree a path continues in below a leaf (so the next key finds nothing).
static EMPTY: OnceLock<Tree> = OnceLock::new();

/// HyperSpy's key slug: ASCII only, punctuation removed, spaces and dashes as `_`.
pub fn slug(key: &str) -> String {
    let kept: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ' ' || *c == '-')
        .collect();
    let mut out = String::new();
    let mut gap = false;
    for c in kept.trim().chars() {
        if c == ' ' || c == '-' {
            gap = true;
        } else {
            if gap {
                out.push('_');
                gap = false;
            }
            out.push(c);
        }
    }
    out
}
