//! Reading DM3/DM4: the tag file parsed into its tag tree (as JSON, rsciio's naming), and
//! the datasets of a tag tree, shared with DM5.

use emio_core::serde_json::Value;
use emio_core::{Dataset, Result, Storage, Tree};

use crate::{image, original, tags};

/// Read every non-thumbnail image of a DM3/DM4 file held in `storage`.
pub fn read_storage(storage: Storage, filename: &str) -> Result<Vec<Dataset>> {
    let file = tags::parse(&storage)?;
    let converter = original::Converter {
        bytes: &storage,
        little: file.little_endian,
    };
    let tree = converter.group(&file.root, "root");
    datasets_from_tree(&tree, |_, image| {
        let pixels = image::TagPixels::new(image, &storage, file.little_endian)?;
        image::dataset_parts(image, &pixels, filename)
    })
}

/// The datasets of a DM tag tree (DM3/DM4/DM5, as JSON named the way rsciio names it):
/// every entry of `ImageList` except the thumbnails, in file order. `dataset` builds the
/// parts of the image at an index of `ImageList` from its tag tree (with its container's
/// `image::PixelStore` and `image::dataset_parts`). Each dataset's
/// `original_metadata` is `root`, the top-level tags, then `ImageList` holding only this
/// image as `TagGroup0`.
pub fn datasets_from_tree(
    tree: &Tree,
    dataset: impl Fn(usize, &Tree) -> Result<image::DatasetParts>,
) -> Result<Vec<Dataset>> {
    let thumbnails: Vec<u64> = match tree.get("Thumbnails") {
        Some(Value::Object(t)) => t
            .values()
            .filter_map(|v| v.get("ImageIndex").and_then(Value::as_u64))
            .collect(),
        _ => Vec::new(),
    };
    let images: Vec<(usize, &Tree)> = match tree.get("ImageList") {
        Some(Value::Object(list)) => list
            .values()
            .enumerate()
            .filter(|(i, _)| !thumbnails.contains(&(*i as u64)))
            .filter_map(|(i, v)| v.as_object().map(|img| (i, img)))
            .collect(),
        _ => return Ok(Vec::new()),
    };
    let mut common = Tree::new();
    common.insert("root".into(), Value::Object(Tree::new()));
    for (k, v) in tree {
        if k != "ImageList" {
            common.insert(k.clone(), v.clone());
        }
    }
    images
        .into_iter()
        .map(|(i, img)| {
            let (source, axes, metadata) = dataset(i, img)?;
            let mut om = common.clone();
            let mut list = Tree::new();
            list.insert("TagGroup0".into(), Value::Object(img.clone()));
            om.insert("ImageList".into(), Value::Object(list));
            Dataset::new(source, axes, metadata, om)
        })
        .collect()
}
