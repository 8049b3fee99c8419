//! FEI / Thermo Fisher TIA (`.emi` + `.ser`) for emio: images, image series, spectra, line
//! scans and spectrum images from Tecnai, Titan and Talos microscopes.
//!
//! A `.ser` file holds one series of 1-D (spectrum) or 2-D (image) elements; the `.emi`
//! beside it (`<stem>.emi` with `<stem>_1.ser`, `<stem>_2.ser`, ...) holds the acquisition's
//! XML metadata, one `<ObjectInfo>` per series. Opening an `.emi` returns one dataset per
//! `.ser` (e.g. BF and DF); a `.ser` opened alone has no `.emi` metadata, as in rsciio.
//!
//! Layout: `ser` parses the series structure, [`emi`] the XML, [`mapping`] builds
//! HyperSpy's tree, `positions` the scan grid of a series without dimensions, `read`
//! the dataset, `source` the pixels (memory-mapped and strided when elements are evenly
//! spaced). Reader option: `only_valid_data` (rsciio's).

#![forbid(unsafe_code)]

pub mod emi;
pub mod mapping;
mod positions;
mod read;
mod ser;
mod source;
#[cfg(feature = "test-util")]
pub mod synthetic;

use std::path::{Path, PathBuf};

use emio_core::metadata::Tree;
use emio_core::read_at::{FileAt, ReadAt};
use emio_core::{
    Dataset, Error, Format, FormatInfo, OptionSet, Options, Result, ResultExt, Storage,
};
use serde_json::Value;

use read::EmiContext;

const FORMAT: &str = "tia";

/// Largest `.emi` file read into memory (the XML is small; the rest are thumbnails).
const MAX_EMI_BYTES: u64 = 256 << 20;

/// First bytes of a `.ser` file: byte order `II`, series id 0x0197.
const SER_MAGIC: &[u8] = b"\x49\x49\x97\x01";
/// First bytes of every `.emi` file TIA writes.
const EMI_MAGIC: &[u8] = b"JK\x00\x02";

/// FEI TIA series and acquisitions.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tia;

impl Format for Tia {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "FEI/Thermo Fisher TIA acquisition (.emi + .ser series)",
            extensions: &["emi", "ser"],
            read_options: ReadOptions::SPECS,
            writes: None,
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(SER_MAGIC) || head.starts_with(EMI_MAGIC)
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let only_valid = ReadOptions::from_options(options)?.only_valid_data;
        // A series is read through the map and the open file, whose first bytes say
        // which kind of file this is.
        let mapped = Storage::map_open(path)?;
        let mut head = [0u8; 4];
        let head = &mut head[..mapped.0.len().min(4)];
        FileAt::new(&mapped.1, mapped.0.len() as u64)
            .read_exact_at(head, 0)
            .map_err(|e| Error::io(path, e))?;
        if head.starts_with(SER_MAGIC) {
            let ds = read::series_dataset(path, mapped, EmiContext::default(), only_valid)
                .with_path(path)?;
            return Ok(vec![ds]);
        }
        drop(mapped);
        open_emi(path, only_valid)
    }
}

/// The series files of `<stem>.emi`: `<stem>_<n>.ser` beside it, by `n`.
pub fn series_files(emi: &Path) -> Result<Vec<(u32, PathBuf)>> {
    let dir = match emi.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = emi
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!("{stem}_");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let number = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".ser").or(rest.strip_suffix(".SER")))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(n) = number {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

fn open_emi(path: &Path, only_valid: bool) -> Result<Vec<Dataset>> {
    // The series files first: without them there is nothing to open, and their listing
    // costs one directory read where the XML costs a parse of every block.
    let files = series_files(path)?;
    if files.is_empty() {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(Error::malformed_at_unknown(
            FORMAT,
            format!(
                "its series file {stem}_1.ser beside it (TIA keeps the data of an .emi in \
                 <stem>_<n>.ser files; none was found)"
            ),
        )
        .with_path(path));
    }
    let io = |e| Error::io(path, e);
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_EMI_BYTES {
        return Err(Error::malformed(
            FORMAT,
            0,
            format!("an .emi file of at most {MAX_EMI_BYTES} bytes, found {size}"),
        )
        .with_path(path));
    }
    let bytes = emio_core::inputs::read(path)?;
    let objects: Vec<Tree> = emi::object_blocks(&bytes)
        .iter()
        .enumerate()
        .map(|(i, block)| {
            let tree = emi::object_tree(block).map_err(|e| {
                Error::malformed_at_unknown(
                    FORMAT,
                    format!("well-formed XML in <ObjectInfo> block {i} ({e})"),
                )
                .with_path(path)
            })?;
            match tree.get("ObjectInfo") {
                Some(Value::Object(info)) => Ok(info.clone()),
                _ => Ok(Tree::new()),
            }
        })
        .collect::<Result<_>>()?;
    let mut datasets = Vec::new();
    let mut skipped = Vec::new();
    for (n, ser_path) in files {
        let mapped = Storage::map_open(&ser_path)?;
        // A series without valid elements (a single spectrum TIA keeps in the .emi) is
        // skipped, as rsciio does.
        let name = emio_core::metadata::file_name(&ser_path);
        if mapped.0.get(18..22) == Some(&[0, 0, 0, 0][..]) {
            skipped.push(format!(
                "{name} holds no valid element (a single spectrum TIA keeps in the .emi, \
                 not read) and was skipped"
            ));
            continue;
        }
        let object = (n as usize).checked_sub(1).and_then(|i| objects.get(i));
        let context = EmiContext {
            object,
            first: objects.first(),
        };
        let mut dataset =
            read::series_dataset(&ser_path, mapped, context, only_valid).with_path(&ser_path)?;
        if object.is_none() {
            dataset.warn(format!(
                "{} has no <ObjectInfo> for {name}: only the .ser header was read",
                emio_core::metadata::file_name(path)
            ));
        }
        datasets.push(dataset);
    }
    for warning in skipped {
        Dataset::warn_all(&mut datasets, &warning);
    }
    Ok(datasets)
}

#[cfg(test)]
mod tests;

pub use read::ReadOptions;
