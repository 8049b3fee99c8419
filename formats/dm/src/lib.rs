//! Gatan DigitalMicrograph DM3/DM4/DM5 for emio: a complete lazy reader and a DM4 writer.
//!
//! - [`tags`]: the tag-file structure (header, groups, typed data), parsed from bytes with
//!   every size checked against the file.
//! - [`original`]: the tag tree as ordered JSON `original_metadata` (rsciio's naming).
//! - `image`: one `ImageList` entry as a dataset (dtype, shape, axes, lazy source).
//! - `lookup`: tag-tree lookup by HyperSpy-slugified paths.
//! - `mapping`: normalized HyperSpy metadata from the tags.
//! - `source`: BGRA and packed-complex pixel sources.
//! - `write`: the DM4 writer.
//! - [`dm5`]: DM5, the same tag tree in HDF5, read through the same mapping.
//! - `validate`: what `emconvert check` reports about a DM3/DM4 file's structure.
//!
//! Every image of `ImageList` except the thumbnails becomes one dataset, in file order. Its
//! `original_metadata` is the file's tag tree as rsciio returns it: a `root` marker, the
//! top-level tags in file order, then `ImageList` holding only this image as `TagGroup0`.

#![forbid(unsafe_code)]

pub mod dm5;
mod image;
mod lookup;
mod mapping;
pub mod original;
mod read;
mod source;
pub mod tags;
mod validate;
mod write;

pub use dm5::Dm5;
pub use read::{datasets_from_tree, read_storage};

use std::path::Path;

use emio_core::{
    Dataset, Format, FormatInfo, Options, Result, ResultExt, Storage, WriteRequest, Writes,
};

/// Gatan DigitalMicrograph DM3 and DM4 files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dm;

impl Format for Dm {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: "dm",
            description: "Gatan DigitalMicrograph DM3/DM4",
            extensions: &["dm3", "dm4"],
            read_options: &[],
            writes: Some(Writes::file(&[])),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        tags::sniff(head)
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        let storage = Storage::map(path)?;
        let filename = emio_core::metadata::file_name(path);
        read_storage(storage, &filename).with_path(path)
    }

    fn validate(&self, path: &Path) -> Vec<emio_core::Problem> {
        validate::validate(path)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write_dm(
            request.dataset,
            request.path,
            write::Version::for_path(request.path),
            request.progress,
        )
    }
}

#[cfg(test)]
mod tests {
    //! A hand-built big-endian DM3 file: exercises the 32-bit structure words, big-endian
    //! tag data and pixels, struct and string tags, and the thumbnail rule.

    use super::*;
    use emio_core::{AxisKind, DType};

    /// DM3 builder: tags are (name, body) where body is a group or data bytes.
    enum T {
        G(Vec<(&'static str, T)>),
        /// Type description words and big-endian data.
        D(Vec<u32>, Vec<u8>),
    }

    fn emit(tag: &T, out: &mut Vec<u8>) {
        match tag {
            T::G(entries) => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                for (name, t) in entries {
                    out.push(if matches!(t, T::G(_)) { 20 } else { 21 });
                    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
                    out.extend_from_slice(name.as_bytes());
                    emit(t, out);
                }
            }
            T::D(info, data) => {
                out.extend_from_slice(b"%%%%");
                out.extend_from_slice(&(info.len() as u32).to_be_bytes());
                for w in info {
                    out.extend_from_slice(&w.to_be_bytes());
                }
                out.extend_from_slice(data);
            }
        }
    }

    fn long(v: i32) -> T {
        T::D(vec![3], v.to_be_bytes().to_vec())
    }

    fn double(v: f64) -> T {
        T::D(vec![7], v.to_be_bytes().to_vec())
    }

    fn text(s: &str) -> T {
        let units: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        T::D(vec![20, 4, s.encode_utf16().count() as u32], units)
    }

    fn image(name: &str, dims: &[i32], data_type: i32, pixels: Vec<u8>, elem: u32) -> T {
        let n = pixels.len() as u32 / tags::ElemType::from_code(elem.into()).unwrap().size() as u32;
        let cal = |scale: f64, origin: f64, units: &str| {
            T::G(vec![
                ("Origin", double(origin)),
                ("Scale", double(scale)),
                ("Units", text(units)),
            ])
        };
        T::G(vec![
            (
                "ImageData",
                T::G(vec![
                    (
                        "Calibrations",
                        T::G(vec![(
                            "Dimension",
                            T::G(vec![("", cal(0.5, 2.0, "nm")), ("", cal(2.0, -1.0, "µm"))]),
                        )]),
                    ),
                    ("Data", T::D(vec![20, elem, n], pixels)),
                    ("DataType", long(data_type)),
                    (
                        "Dimensions",
                        T::G(dims.iter().map(|&d| ("", long(d))).collect()),
                    ),
                ]),
            ),
            (
                "ImageTags",
                T::G(vec![
                    (
                        "Position",
                        T::D(vec![15, 0, 2, 0, 3, 0, 6], {
                            let mut b = 7i32.to_be_bytes().to_vec();
                            b.extend_from_slice(&1.5f32.to_be_bytes());
                            b
                        }),
                    ),
                    ("Label", T::D(vec![18, 3], b"abc".to_vec())),
                ]),
            ),
            ("Name", text(name)),
        ])
    }

    fn file(root: T) -> Vec<u8> {
        let mut out = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        emit(&root, &mut out);
        out.extend_from_slice(&[0; 8]);
        out
    }

    #[test]
    fn reads_big_endian_dm3() {
        let pixels: Vec<u8> = (0..6i16).flat_map(|v| (v - 3).to_be_bytes()).collect();
        let root = T::G(vec![
            (
                "ImageList",
                T::G(vec![
                    ("", image("thumb", &[1], 6, vec![9], 10)),
                    ("", image("Stack é", &[3, 2], 1, pixels, 2)),
                    // Colour pixels as big-endian 0xAARRGGBB longs.
                    ("", image("rgb", &[2], 23, vec![4, 1, 2, 3, 8, 5, 6, 7], 3)),
                ]),
            ),
            (
                "Thumbnails",
                T::G(vec![("", T::G(vec![("ImageIndex", long(0))]))]),
            ),
        ]);
        let datasets = read_storage(Storage::owned(file(root)), "x.dm3").unwrap();
        assert_eq!(datasets.len(), 2);
        assert_eq!(datasets[1].dtype(), DType::Rgba8);
        assert_eq!(
            datasets[1].read_region_bytes(&[0], &[2]).unwrap(),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        let ds = &datasets[0];
        assert_eq!(ds.title(), "Stack é");
        assert_eq!(ds.dtype(), DType::I16);
        assert_eq!(ds.shape(), &[2, 3]);
        let values: Vec<i16> = ds
            .read_region_bytes(&[0, 0], &[2, 3])
            .unwrap()
            .chunks_exact(2)
            .map(|b| i16::from_ne_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(values, [-3, -2, -1, 0, 1, 2]);
        // C order: the second DM dimension first; offset = -origin * scale.
        assert_eq!(ds.axes[0].units, "µm");
        assert_eq!(
            ds.axes[0].kind,
            AxisKind::Uniform {
                scale: 2.0,
                offset: 2.0
            }
        );
        assert_eq!(
            ds.axes[1].kind,
            AxisKind::Uniform {
                scale: 0.5,
                offset: -1.0
            }
        );
        assert_eq!(
            (ds.axes[0].name.as_str(), ds.axes[1].name.as_str()),
            ("y", "x")
        );
        let om = &ds.original_metadata;
        let tags = emio_core::metadata::get_path(om, "ImageList.TagGroup0.ImageTags").unwrap();
        assert_eq!(tags["Position"], emio_core::serde_json::json!([7, 1.5]));
        assert_eq!(tags["Label"], "abc");
        assert_eq!(om.keys().next().map(String::as_str), Some("root"));
        assert_eq!(om.keys().next_back().map(String::as_str), Some("ImageList"));
    }
}
