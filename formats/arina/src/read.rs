//! Opening an ARINA / EIGER master file: the data files its `/entry/data` group links to,
//! the frame geometry and the options.
//!
//! The master's `/entry/data` holds external links (`data_000001`, ...) to datasets of
//! shape `(frames, height, width)` in `<stem>_data_NNNNNN.h5`, chunked one frame per chunk
//! and compressed with bitshuffle-LZ4 (decoded by `emio-h5`). They are read in name order
//! (h5py's, as rsciio does) and concatenated along frames, then seen as
//! `navigation_shape + (height, width) / rebin` (the source is in `frames.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio_core::options::NumericDType;
use emio_core::{ArraySource, DType, Error, Result};
use emio_h5::{links::group_links, H5File};

use crate::convert;
use crate::FORMAT;

emio_core::options! {
    /// Options of the ARINA reader.
    pub struct ReadOptions {
        /// scan shape X,Y (one may be auto; one number is X); default from the scan metadata
        /// file, else square
        navigation_shape: Option<String> = None,
        /// bin each pattern by this factor (mean of blocks, stored in the output dtype)
        rebin_diffraction: i64 = Some("1"),
        /// output dtype; default: as stored, uint32 read as uint16 (rsciio)
        dtype: Option<NumericDType> = None,
        /// flat-field correction (median/flatfield, float32 output): master (the master's
        /// detectorSpecific/flatfield) or FILE.h5:/dataset
        flatfield: Option<String> = None,
        /// set pixels flagged in the detector's pixel_mask to 0
        apply_pixel_mask: bool = Some("false"),
    }
}

/// One data dataset: its source `(frames, height, width)` and where it lives.
pub(crate) struct Part {
    /// Lazy source over the stored frames.
    pub source: Arc<dyn ArraySource>,
    /// Number of frames.
    pub frames: u64,
    /// `file:dataset`, for messages.
    pub origin: String,
}

/// The data datasets of a master file, in name order.
pub(crate) fn parts(master: &H5File) -> Result<Vec<Part>> {
    let path = master.path();
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut named: Vec<(String, Option<(PathBuf, String)>)> =
        group_links(&master.storage()[..], path, "/entry/data")?
            .external
            .into_iter()
            .map(|l| (l.name, Some((dir.join(&l.file), l.object))))
            .collect();
    for name in master.datasets("/entry/data")? {
        named.push((name, None));
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    if named.is_empty() {
        return Err(Error::Malformed {
            format: FORMAT,
            path: Some(path.to_path_buf()),
            offset: None,
            expected: "data sets or links to data files in /entry/data".into(),
        });
    }
    let mut parts = Vec::with_capacity(named.len());
    for (name, target) in named {
        let (file, object) = match target {
            Some((file, object)) => {
                if !file.is_file() {
                    return Err(Error::Malformed {
                        format: FORMAT,
                        path: Some(path.to_path_buf()),
                        offset: None,
                        expected: format!(
                            "the data file {} that /entry/data/{name} links to (it is missing)",
                            file.display()
                        ),
                    });
                }
                let h5 = H5File::open(&file)?;
                let ds = h5.dataset(&object)?;
                (file.clone(), (ds.source(None)?, ds.shape.clone(), object))
            }
            None => {
                let object = format!("/entry/data/{name}");
                let ds = master.dataset(&object)?;
                (
                    path.to_path_buf(),
                    (ds.source(None)?, ds.shape.clone(), object),
                )
            }
        };
        let (source, shape, object) = object;
        let origin = format!("{}:{object}", file.display());
        if shape.len() != 3 {
            return Err(Error::Malformed {
                format: FORMAT,
                path: Some(file),
                offset: None,
                expected: format!("a 3-D stack of frames at {object}, got shape {shape:?}"),
            });
        }
        parts.push(Part {
            source,
            frames: shape[0],
            origin,
        });
    }
    let first = parts[0].source.shape()[1..].to_vec();
    let dtype = parts[0].source.dtype();
    if let Some(p) = parts
        .iter()
        .find(|p| p.source.shape()[1..] != first[..] || p.source.dtype() != dtype)
    {
        return Err(Error::Malformed {
            format: FORMAT,
            path: Some(path.to_path_buf()),
            offset: None,
            expected: format!(
                "frames of {first:?} {dtype} in every data file, {} has {:?} {}",
                p.origin,
                &p.source.shape()[1..],
                p.source.dtype()
            ),
        });
    }
    Ok(parts)
}

/// Parse rsciio's `navigation_shape` (`X,Y`, `X`, `auto,Y`, `X,auto`) for `n` frames,
/// or take `default`.
pub(crate) fn navigation_shape(text: Option<&str>, n: u64, default: [u64; 2]) -> Result<[u64; 2]> {
    let bad = |why: String| Error::invalid_option("navigation_shape", why);
    let shape = match text {
        None => default,
        Some(t) => {
            let items: Vec<&str> = t
                .trim_matches(|c| matches!(c, '(' | ')' | '[' | ']'))
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let num = |s: &str| -> Result<Option<u64>> {
                if s == "auto" || s == "'auto'" || s == "\"auto\"" {
                    return Ok(None);
                }
                s.parse::<u64>()
                    .map(Some)
                    .map_err(|_| bad(format!("{s:?} is not a size or auto")))
            };
            let (a, b) = match items.as_slice() {
                [x] => (num(x)?, None),
                [x, y] => (num(x)?, num(y)?),
                _ => return Err(bad(format!("{t:?} is not one or two sizes"))),
            };
            match (a, b) {
                (Some(0), _) | (_, Some(0)) => {
                    let signed = [a, b].map(|v| v.map_or(0, |v| v as i64));
                    return Err(emio_core::options::parse_shape("navigation_shape", &signed)
                        .err()
                        .unwrap_or_else(|| bad("sizes must be at least 1".into())));
                }
                (Some(x), Some(y)) => [x, y],
                (Some(x), None) => [x, n / x],
                (None, Some(y)) => [n / y, y],
                (None, None) => return Err(bad("at most one size may be auto".into())),
            }
        }
    };
    if shape[0].checked_mul(shape[1]) != Some(n) {
        return Err(emio_core::options::shape_misfit(
            "navigation_shape",
            &shape,
            n,
            "",
        ));
    }
    Ok(shape)
}

/// The output dtype: the `dtype` option's (`requested`), float32 with a flat field, else
/// the stored one (uint32 read as uint16, as rsciio does).
pub(crate) fn out_dtype(requested: Option<DType>, stored: DType, flatfield: bool) -> DType {
    if flatfield {
        return DType::F32;
    }
    requested.unwrap_or(if stored == DType::U32 {
        DType::U16
    } else {
        stored
    })
}

/// Check the stored and output dtypes.
pub(crate) fn check_dtypes(path: &Path, stored: DType, out: DType) -> Result<()> {
    if !convert::stored_supported(stored) || !convert::out_supported(out) {
        return Err(Error::Unsupported {
            format: FORMAT,
            path: Some(path.to_path_buf()),
            what: format!("frames of {stored} read as {out}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_shapes() {
        assert_eq!(navigation_shape(None, 16, [4, 4]).unwrap(), [4, 4]);
        assert_eq!(navigation_shape(Some("2,8"), 16, [4, 4]).unwrap(), [2, 8]);
        assert_eq!(
            navigation_shape(Some("(2, 'auto')"), 16, [4, 4]).unwrap(),
            [2, 8]
        );
        assert_eq!(
            navigation_shape(Some("auto,2"), 16, [4, 4]).unwrap(),
            [8, 2]
        );
        assert_eq!(navigation_shape(Some("8"), 16, [4, 4]).unwrap(), [8, 2]);
        let e = navigation_shape(Some("3,5"), 16, [4, 4])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("(3, 5) does not fit the file: 15 positions for its 16 frames"),
            "{e}"
        );
        let e = navigation_shape(Some("0,16"), 16, [4, 4])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a shape"), "{e}");
        assert!(navigation_shape(Some("auto,auto"), 16, [4, 4]).is_err());
    }
}
