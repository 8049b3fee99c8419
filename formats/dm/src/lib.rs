//! Gatan DigitalMicrograph DM3/DM4 for emio: a complete lazy reader and a DM4 writer.
//!
//! - [`tags`]: the tag-file structure (header, groups, typed data), parsed from bytes with
//!   every size checked against the file.
//! - [`original`]: the tag tree as ordered JSON `original_metadata` (rsciio's naming).
//! - [`image`]: one `ImageList` entry as a dataset (dtype, shape, axes, lazy source).
//! - [`mapping`]: normalized HyperSpy metadata from the tags.
//! - [`source`]: BGRA and packed-complex pixel sources.
//! - [`write`]: the DM4 writer.
//!
//! Every image of `ImageList` except the thumbnails becomes one dataset, in file order. Its
//! `original_metadata` is the file's tag tree as rsciio returns it: a `root` marker, the
//! top-level tags in file order, then `ImageList` holding only this image as `TagGroup0`.

pub mod image;
pub mod mapping;
pub mod original;
pub mod source;
pub mod tags;
pub mod write;

use std::path::Path;
use std::sync::Arc;

use emio_core::serde_json::Value;
use emio_core::{Dataset, Format, Options, Progress, Result, ResultExt, Storage, Tree};

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Dm)]
}

/// Gatan DigitalMicrograph DM3 and DM4 files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dm;

/// Read every non-thumbnail image of a DM3/DM4 file held in `storage`.
pub fn read_storage(storage: Storage, filename: &str) -> Result<Vec<Dataset>> {
    let file = tags::parse(&storage)?;
    let converter = original::Converter {
        bytes: &storage,
        little: file.little_endian,
    };
    let tree = converter.group(&file.root, "root");
    let thumbnails: Vec<u64> = match tree.get("Thumbnails") {
        Some(Value::Object(t)) => t
            .values()
            .filter_map(|v| v.get("ImageIndex").and_then(Value::as_u64))
            .collect(),
        _ => Vec::new(),
    };
    let images: Vec<&Tree> = match tree.get("ImageList") {
        Some(Value::Object(list)) => list
            .values()
            .enumerate()
            .filter(|(i, _)| !thumbnails.contains(&(*i as u64)))
            .filter_map(|(_, v)| v.as_object())
            .collect(),
        _ => return Ok(Vec::new()),
    };
    let mut common = Tree::new();
    common.insert("root".into(), Value::Object(Tree::new()));
    for (k, v) in &tree {
        if k != "ImageList" {
            common.insert(k.clone(), v.clone());
        }
    }
    images
        .into_iter()
        .map(|img| {
            let (source, axes, metadata) =
                image::dataset_parts(img, &storage, file.little_endian, filename)?;
            let mut om = common.clone();
            let mut list = Tree::new();
            list.insert("TagGroup0".into(), Value::Object(img.clone()));
            om.insert("ImageList".into(), Value::Object(list));
            Dataset::new(source, axes, metadata, om)
        })
        .collect()
}

impl Format for Dm {
    fn name(&self) -> &'static str {
        "dm"
    }

    fn description(&self) -> &'static str {
        "Gatan DigitalMicrograph DM3/DM4"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["dm3", "dm4"]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        tags::sniff(head)
    }

    fn can_write(&self) -> bool {
        true
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        read_storage(storage, &filename).with_path(path)
    }

    fn write(
        &self,
        dataset: &Dataset,
        path: &Path,
        _options: &Options,
        progress: &dyn Progress,
    ) -> Result<()> {
        write::write_dm4(dataset, path, progress)
    }
}
