//! Zarr stores for emio: `.zarr` (Zarr v3) and HyperSpy's `.zspy` (Zarr v2), both read
//! and written through the [`zarrs`] crate, region by region with core's write pipeline
//! ([`emio_core::plan::WritePlan`]: chunks are read, padded, encoded and stored in
//! parallel; memory stays bounded by a few chunks).
//!
//! # `.zarr` (Zarr v3) schema
//!
//! ```text
//! x.zarr/zarr.json          group; attributes {"emio": {"schema": 1, "datasets": ["data"]}}
//! x.zarr/data/zarr.json     array; attributes below
//! x.zarr/data/c/0/0/...     chunks (default chunk key encoding, "/" separator)
//! ```
//!
//! The array holds the dataset in C order. Chunks span whole signal frames and split the
//! navigation axes (about 8 MiB per chunk by default; `-w chunks=a,b,...` overrides).
//! Codecs: `bytes` (little-endian) then `blosc-lz4` (default: Blosc LZ4 level 5, bit shuffle
//! for integer data, byte shuffle for floats — measured fastest for its ratio on detector
//! data, docs/performance.md), `blosc` (Blosc zstd level 1, byte shuffle), `zstd` (level 1),
//! `gzip` or none (`-w compressor=`, `-w level=`, `-w shuffle=byte|bit|none`). With
//! `-w shard=...` the array is sharded (`sharding_indexed`): chunks become inner chunks of
//! shards of that shape. `dimension_names` are the axis names (or null). RGB(A) datasets get
//! one trailing channel dimension of `uint8`/`uint16`.
//!
//! Array attributes:
//! - `emio`: `{"schema": 1, "dtype": <emio dtype name>, "rgb": <bool>}`; `rgb` marks a
//!   trailing channel dimension that emio reads back as RGB(A) pixels.
//! - `axes`: one object per dataset dimension, as `emconvert info --json` prints them:
//!   `name`, `units`, `navigate`, `size`, and `scale` + `offset` (uniform) or `values`.
//! - `metadata`: the normalized HyperSpy-style tree (`General`, `Signal`,
//!   `Acquisition_instrument`, ...).
//! - `original_metadata`: the source file's own metadata tree.
//!
//! Non-finite floats in the trees are the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
//!
//! # `.zspy` (HyperSpy's Zarr v2 layout)
//!
//! Exactly the structure rsciio/HyperSpy write and read: root attributes
//! `file_format: "ZSpy"`, `file_format_version: "3.3"`; group `Experiments/<title>`
//! (`__unnamed__` when the title is empty) holding `data` (chunks `"/"`-separated, Blosc zstd
//! level 1 with byte shuffle by default), `axis-<i>` groups whose attributes describe each
//! axis, and `metadata`, `original_metadata`, `learning_results`, `attributes` groups in
//! HyperSpy's dict-to-group encoding (nested dicts as groups, scalars as attributes,
//! `None` as `"_None_"`, lists as `_list_<key>` arrays or `_list_<n>_<key>` groups, empty
//! lists as `_list_empty_<key>` attributes). A consolidated `.zmetadata` is written too.

#![forbid(unsafe_code)]

pub mod blosc;
mod guard;
mod json;
mod listing;
mod v3;
mod zspy;

pub use v3::ZarrWriteOptions;
pub use zspy::ZspyWriteOptions;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use emio_core::budget::{summarize, MAX_ENTRIES};
use emio_core::plan::WritePlan;
use emio_core::{
    ArraySource, ChunkDecoder, ChunkedSource, DType, Dataset, Error, Progress, Region, Result,
    StoredChunks,
};
use serde_json::Value;
use zarrs::array::{Array, ArrayBytes, ArrayError, ArrayMetadata};
use zarrs::array::{ArraySubset, ArrayToBytesCodecTraits, CodecOptions};
use zarrs::filesystem::FilesystemStore;

pub use v3::Zarr;
pub use zspy::Zspy;

/// Default size of one chunk when `-w chunks` is not given.
pub const DEFAULT_CHUNK_BYTES: u64 = 8 << 20;

/// Frames larger than this are split even though chunks normally span whole frames.
const MAX_FRAME_CHUNK_BYTES: u64 = 64 << 20;

emio_core::option_choice! {
    /// Chunk compression of the Zarr writers (their `compressor` option).
    pub enum Compressor {
        Zstd = "zstd": "Zstandard",
        Blosc = "blosc": "Blosc with zstd (HyperSpy's default, with byte shuffle)",
        BloscLz4 = "blosc-lz4": "Blosc with LZ4",
        Gzip = "gzip": "gzip",
        None = "none": "chunks stored as they are",
    }
}

emio_core::option_choice! {
    /// How Blosc rearranges the bytes of a chunk before compressing it (the writers'
    /// `shuffle` option).
    pub enum Shuffle {
        Byte = "byte": "byte shuffle: the first bytes of every element, then the second bytes, and so on",
        Bit = "bit": "bit shuffle: the first bits of every element, then the second bits, and so on",
        None = "none": "bytes as they are",
    }
}

/// Blosc's settings for a compressor (`None` for compressors other than Blosc) and
/// elements of type `dtype`, from the writer's `level` and `shuffle` options or the
/// defaults: `blosc` (HyperSpy's) zstd level 1 with byte shuffle; `blosc-lz4` LZ4 level 5
/// with bit shuffle for integer data and byte shuffle for floats, the pairs measured to
/// compress detector data fastest for their ratio (docs/performance.md, issue 23).
fn blosc_settings(
    name: Compressor,
    level: Option<i64>,
    shuffle: Option<Shuffle>,
    dtype: DType,
) -> Result<Option<blosc::Settings>> {
    let (compressor, default_level, default_shuffle) = match name {
        Compressor::Blosc => (blosc::Compressor::Zstd, 1, Shuffle::Byte),
        Compressor::BloscLz4 => (
            blosc::Compressor::Lz4,
            5,
            if dtype.is_integer() {
                Shuffle::Bit
            } else {
                Shuffle::Byte
            },
        ),
        _ => return Ok(None),
    };
    let level = u8::try_from(level.unwrap_or(default_level))
        .ok()
        .filter(|l| *l <= 9)
        .ok_or_else(|| Error::invalid_option("level", "blosc levels are 0..=9"))?;
    Ok(Some(blosc::Settings {
        compressor,
        level,
        shuffle: shuffle.unwrap_or(default_shuffle),
        type_size: dtype.size(),
    }))
}

/// A read error from the zarrs crate: the store does not hold what its metadata says.
fn zerr(format: &'static str, e: impl std::fmt::Display) -> Error {
    Error::malformed_at_unknown(format, format!("a valid Zarr store ({e})"))
}

/// A read error from the zarrs crate while decoding `what`: a codec's failure (a damaged
/// compressed chunk) is an [`Error::Codec`] carrying zarrs' error, anything else a
/// malformed store.
fn read_err(format: &'static str, what: impl Into<String>, e: ArrayError) -> Error {
    match e {
        ArrayError::CodecError(codec) => Error::codec(format, None, what, codec),
        other => zerr(format, other),
    }
}

/// A write error from the zarrs crate on the store at `path`.
fn werr(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// The element layout of a dataset in a Zarr array: RGB(A) records become a trailing
/// channel dimension of their component type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Element {
    /// Component numpy dtype (`<u2`, `|u1`, `<f4`, ...).
    component: DType,
    /// Channels per pixel for RGB(A) (a trailing dimension), or `None`.
    channels: Option<u64>,
}

impl Element {
    fn of(dtype: DType) -> Self {
        let (component, channels) = match dtype {
            DType::Rgb8 => (DType::U8, Some(3)),
            DType::Rgba8 => (DType::U8, Some(4)),
            DType::Rgb16 => (DType::U16, Some(3)),
            DType::Rgba16 => (DType::U16, Some(4)),
            other => (other, None),
        };
        Element {
            component,
            channels,
        }
    }

    /// The record dtype for a component type and channel count (`None` when not RGB).
    fn record(component: DType, channels: u64) -> Option<DType> {
        match (component, channels) {
            (DType::U8, 3) => Some(DType::Rgb8),
            (DType::U8, 4) => Some(DType::Rgba8),
            (DType::U16, 3) => Some(DType::Rgb16),
            (DType::U16, 4) => Some(DType::Rgba16),
            _ => None,
        }
    }

    /// The store's shape for a dataset shape.
    fn store_shape(&self, shape: &[u64]) -> Vec<u64> {
        let mut s = shape.to_vec();
        s.extend(self.channels);
        s
    }
}

/// The Zarr v3 `data_type` name of a scalar dtype (NumPy's name; records have none).
fn v3_data_type(dtype: DType) -> Option<&'static str> {
    (!dtype.is_rgb()).then(|| dtype.name())
}

/// The scalar dtype of a Zarr v3 `data_type` name.
fn dtype_from_v3(name: &str) -> Option<DType> {
    DType::ALL
        .into_iter()
        .find(|d| v3_data_type(*d) == Some(name))
}

/// The fill value 0 in a dtype's Zarr JSON spelling.
fn zero_fill(dtype: DType) -> Value {
    match dtype {
        DType::Bool => Value::Bool(false),
        DType::F16 | DType::F32 | DType::F64 => serde_json::json!(0.0),
        DType::C64 | DType::C128 => serde_json::json!([0.0, 0.0]),
        _ => serde_json::json!(0),
    }
}

/// The chunk shape to write with: `-w chunks` if given (validated), else whole signal
/// frames with navigation axes split so a chunk holds about `target` bytes.
fn choose_chunks(dataset: &Dataset, requested: Option<&[i64]>, target: u64) -> Result<Vec<u64>> {
    let shape = dataset.shape();
    if let Some(req) = requested {
        if req.len() != shape.len() || req.iter().any(|&c| c < 1) {
            return Err(Error::invalid_option(
                "chunks",
                format!(
                    "{req:?}: give {} positive sizes (the dataset's shape is {shape:?})",
                    shape.len()
                ),
            ));
        }
        return Ok(req
            .iter()
            .zip(shape)
            .map(|(&c, &n)| (c as u64).min(n.max(1)))
            .collect());
    }
    let es = dataset.dtype().size() as u64;
    let signal: Vec<bool> = dataset.axes.iter().map(|a| !a.navigate).collect();
    let frame: u64 = shape
        .iter()
        .zip(&signal)
        .filter(|(_, s)| **s)
        .map(|(n, _)| (*n).max(1))
        .product::<u64>()
        .saturating_mul(es);
    let has_navigation = signal.iter().any(|s| !s);
    if !has_navigation || frame > MAX_FRAME_CHUNK_BYTES {
        // No navigation axes to split along (or giant frames): plain C-order tiling.
        return Ok(dataset.streaming_chunk_shape(target));
    }
    let mut chunk: Vec<u64> = shape.iter().map(|&n| n.max(1)).collect();
    let mut frames = (target / frame.max(1)).max(1);
    for d in (0..shape.len()).rev() {
        if signal[d] {
            continue;
        }
        let n = shape[d].max(1);
        if frames >= n {
            frames /= n;
        } else {
            chunk[d] = frames.max(1);
            frames = 1;
        }
    }
    Ok(chunk)
}

/// Write `dataset` into the zarrs `array` at `node` of the store at `path` (the array
/// already holds its metadata), one engine region per stored chunk: regions are read,
/// padded to the chunk shape at the array edges and encoded in parallel, and each encoded
/// chunk is written to its file, whose flush to the disk starts at once in the background.
/// `blosc`: the settings of the array's codecs when they are `bytes` (little-endian) then
/// `blosc` alone, whose frames emio writes itself ([`blosc::encode`]); other codec chains
/// are encoded by zarrs.
/// (zarrs' filesystem store would sync every chunk file as it is written, which leaves both
/// cores idle while the disk flushes; the atomic output syncs the finished tree once before
/// renaming it into place, by when most of it is on the disk.)
fn write_chunks(
    path: &Path,
    node: &str,
    dataset: &Dataset,
    array: &Array<FilesystemStore>,
    chunk: &[u64],
    blosc: Option<blosc::Settings>,
    progress: &dyn Progress,
) -> Result<()> {
    let element = Element::of(dataset.dtype());
    let blosc = blosc.filter(|_| cfg!(target_endian = "little"));
    let (store_root, _) = leaf_store(path, node);
    let codec_options = CodecOptions::default().with_store_empty_chunks(true);
    let codecs = array.codecs();
    WritePlan::new(chunk).padded().write_by_key(
        dataset,
        progress,
        |region, bytes| {
            if let Some(settings) = &blosc {
                // Read block by block as the encoder goes, when the region comes unread.
                let frame = blosc::encode(&*bytes, settings).map_err(|e| match e {
                    blosc::EncodeError::Frame(why) => werr(path, why),
                    blosc::EncodeError::Read(e) => e,
                })?;
                return Ok(std::borrow::Cow::Owned(frame));
            }
            let indices = chunk_indices(region, chunk, element);
            let shape = array.chunk_shape(&indices).map_err(|e| werr(path, e))?;
            let raw = bytes.whole()?;
            codecs
                .encode(
                    ArrayBytes::new_flen(raw),
                    &shape,
                    array.data_type(),
                    array.fill_value(),
                    &codec_options,
                )
                .map_err(|e| werr(path, e))
        },
        |region, encoded| {
            let indices = chunk_indices(region, chunk, element);
            let file = store_root.join(array.chunk_key(&indices).as_str());
            if let Some(folder) = file.parent() {
                std::fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
            }
            emio_core::output::write_chunk_file(&file, encoded)
        },
    )?;
    Ok(())
}

/// The store's chunk grid indices of `region` (a region of the grid `chunk`).
fn chunk_indices(region: &Region, chunk: &[u64], element: Element) -> Vec<u64> {
    region
        .start
        .iter()
        .zip(chunk)
        .map(|(s, c)| s / c)
        .chain(element.channels.map(|_| 0))
        .collect()
}

/// Create the array at `node` of `store` from its metadata document (v2 `.zarray` or v3
/// `zarr.json` contents, attributes included) and store the metadata.
fn create_array(path: &Path, node: &str, metadata: Value) -> Result<Array<FilesystemStore>> {
    let (parent, leaf) = leaf_store(path, node);
    let store = Arc::new(FilesystemStore::new(&parent).map_err(|e| werr(path, e))?);
    let parsed: ArrayMetadata =
        serde_json::from_value(metadata.clone()).map_err(|e| werr(path, e))?;
    let v3 = matches!(parsed, ArrayMetadata::V3(_));
    let array = Array::new_with_metadata(store, &leaf, parsed).map_err(|e| werr(path, e))?;
    if v3 {
        // zarrs serialises a codec without configuration as a bare name (`"bytes"`), which
        // zarr-python 3.1 rejects; the document as built has every codec as an object.
        let dir = parent.join(leaf.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        json::write(&dir.join("zarr.json"), &metadata)?;
    } else {
        array.store_metadata().map_err(|e| werr(path, e))?;
    }
    Ok(array)
}

/// A store rooted at the folder holding `node`, and the node's path in it (`/<leaf>`).
///
/// zarrs validates whole node paths against Zarr v3 naming rules, which reserve names
/// starting with `__`; HyperSpy's `__unnamed__` group (and any metadata key) must still
/// work, so arrays are addressed from their parent folder.
fn leaf_store(root: &Path, node: &str) -> (std::path::PathBuf, String) {
    let node = node.trim_matches('/');
    match node.rsplit_once('/') {
        Some((parent, leaf)) => (root.join(parent), format!("/{leaf}")),
        None if node.is_empty() => (root.to_path_buf(), "/".to_string()),
        None => (root.to_path_buf(), format!("/{node}")),
    }
}

/// Open the array at `node` of the store at `root` for reading.
fn open_array_node(
    format: &'static str,
    root: &Path,
    node: &str,
) -> Result<Array<FilesystemStore>> {
    let (parent, leaf) = leaf_store(root, node);
    let store = Arc::new(FilesystemStore::new(&parent).map_err(|e| zerr(format, e))?);
    Array::open(store, &leaf).map_err(|e| zerr(format, e).with_path(&parent))
}

/// The entries of the folder `dir` of a store, refusing a folder of more than
/// [`MAX_ENTRIES`] (a group or store cannot make a reader walk millions of members).
fn read_dir_bounded(format: &'static str, dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entries.len() == MAX_ENTRIES {
            return Err(Error::malformed_at_unknown(
                format,
                format!("a group of at most {MAX_ENTRIES} members"),
            )
            .with_path(dir));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// The datasets a group lists, each once: a name listed again is read once (the repeats
/// are returned as a warning), and a list of more than [`MAX_ENTRIES`] names is refused
/// with a summary of them.
fn distinct_datasets(
    format: &'static str,
    group: &Path,
    names: Vec<String>,
) -> Result<(Vec<String>, Option<String>)> {
    let listed = names.len();
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    let mut distinct = Vec::new();
    for name in names {
        if seen.insert(name.clone()) {
            distinct.push(name);
        } else if !repeated.contains(&name) {
            repeated.push(name);
        }
    }
    if distinct.len() > MAX_ENTRIES {
        return Err(Error::malformed_at_unknown(
            format,
            format!(
                "a group of at most {MAX_ENTRIES} datasets, found {}: {}",
                distinct.len(),
                summarize(&distinct)
            ),
        )
        .with_path(group));
    }
    let warning = (!repeated.is_empty()).then(|| {
        format!(
            "the group lists {listed} datasets, {} of them again ({}); each is read once",
            listed - distinct.len(),
            summarize(&repeated)
        )
    });
    Ok((distinct, warning))
}

/// Decodes chunks of a zarrs array for a [`ChunkedSource`].
struct ZarrChunks {
    format: &'static str,
    array: Array<FilesystemStore>,
    /// The array's compressor when chunks can be checked before decoding (`guard`).
    compressor: Option<String>,
    chunk: Vec<u64>,
    shape: Vec<u64>,
    channels: Option<u64>,
    /// The array's folder, named by decoding errors.
    dir: PathBuf,
    /// The compressor when the stored chunks are plain Blosc or Zstd streams emio decodes
    /// itself, straight into the region ([`guard::plain_codec`]).
    plain: Option<guard::Plain>,
    /// The store's root folder and the array's folder, when emio's chunks are the stored
    /// ones (a channel dimension, if any, one chunk): the chunk files can then be listed,
    /// and chunks are read and decoded whole.
    folders: Option<(PathBuf, PathBuf)>,
    /// The stored chunks, listed on first read (`listing`).
    stored: OnceLock<Option<StoredChunks>>,
}

impl ZarrChunks {
    /// Decode chunk `index` from its stored bytes, read once (checked, then decoded by the
    /// array's codecs), when it is stored and lies wholly inside the array (`out` is the
    /// whole chunk): whether it was. Edge and absent chunks, and chunks of another grid
    /// than the stored one (inner chunks of shards), are left to zarrs' subset read.
    fn decode_whole_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<bool> {
        let inside = self.folders.is_some()
            && index
                .iter()
                .zip(&self.chunk)
                .zip(&self.shape)
                .all(|((i, c), n)| (i + 1) * c <= *n);
        if !inside {
            return Ok(false);
        }
        let mut stored_index = index.to_vec();
        if self.channels.is_some() {
            stored_index.push(0);
        }
        let encoded = self
            .array
            .retrieve_encoded_chunk(&stored_index)
            .map_err(|e| zerr(self.format, e).with_path(&self.dir))?;
        let Some(encoded) = encoded else {
            return Ok(false);
        };
        let compressor = self.compressor.as_deref();
        guard::check_encoded(
            self.format,
            &self.array,
            compressor,
            &stored_index,
            &encoded,
        )?;
        let damaged = |what: String| {
            Error::malformed_at_unknown(self.format, format!("chunk {index:?}: {what}"))
                .with_path(&self.dir)
        };
        match self.plain {
            Some(guard::Plain::Blosc) => match blosc::decode_into(&encoded, out) {
                Ok(blosc::Outcome::Decoded) => return Ok(true),
                Ok(blosc::Outcome::Unsupported) => {}
                Err(what) => return Err(damaged(what)),
            },
            Some(guard::Plain::Zstd) => {
                return match emio_core::zstd::decompress_into(&encoded, out) {
                    Ok(n) if n == out.len() => Ok(true),
                    Ok(n) => Err(damaged(format!(
                        "a Zstd stream of {} bytes, it holds {n}",
                        out.len()
                    ))),
                    Err(e) => Err(Error::codec(
                        self.format,
                        None,
                        format!("chunk {index:?}: a Zstd stream of {} bytes", out.len()),
                        e,
                    )
                    .with_path(&self.dir)),
                };
            }
            None => {}
        }
        let shape = self
            .array
            .chunk_shape(&stored_index)
            .map_err(|e| zerr(self.format, e))?;
        let bytes = self
            .array
            .codecs()
            .decode(
                std::borrow::Cow::Borrowed(&encoded[..]),
                &shape,
                self.array.data_type(),
                self.array.fill_value(),
                &CodecOptions::default(),
            )
            .map_err(|e| {
                read_err(
                    self.format,
                    format!("a decodable chunk {index:?}"),
                    e.into(),
                )
                .with_path(&self.dir)
            })?;
        self.copy_decoded(bytes, out)?;
        Ok(true)
    }

    /// Copy a decoded chunk into `out`, which it must fill exactly.
    fn copy_decoded(&self, bytes: ArrayBytes<'_>, out: &mut [u8]) -> Result<()> {
        let raw = bytes.into_fixed().map_err(|e| zerr(self.format, e))?;
        if raw.len() != out.len() {
            return Err(Error::malformed_at_unknown(
                self.format,
                format!("a chunk of {} bytes, got {}", out.len(), raw.len()),
            ));
        }
        out.copy_from_slice(&raw);
        Ok(())
    }
}

impl ChunkDecoder for ZarrChunks {
    fn stored_chunks(&self) -> Option<&StoredChunks> {
        let (store_root, array_dir) = self.folders.as_ref()?;
        self.stored
            .get_or_init(|| {
                let at = listing::Listed {
                    store_root,
                    array_dir,
                    channels: self.channels,
                };
                listing::stored_chunks(&self.array, &at)
            })
            .as_ref()
    }

    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        if self.decode_whole_chunk(index, out)? {
            return Ok(());
        }
        guard::check_chunk(self.format, &self.array, self.compressor.as_deref(), index)?;
        let mut start = Vec::with_capacity(index.len() + 1);
        let mut extent = Vec::with_capacity(index.len() + 1);
        for ((i, c), n) in index.iter().zip(&self.chunk).zip(&self.shape) {
            let s = i * c;
            start.push(s);
            extent.push((*c).min(n - s));
        }
        if let Some(ch) = self.channels {
            start.push(0);
            extent.push(ch);
        }
        let subset =
            ArraySubset::new_with_start_shape(start, extent).map_err(|e| zerr(self.format, e))?;
        let bytes: ArrayBytes<'static> =
            self.array.retrieve_array_subset(&subset).map_err(|e| {
                read_err(self.format, format!("a decodable chunk {index:?}"), e)
                    .with_path(&self.dir)
            })?;
        self.copy_decoded(bytes, out)
    }

    /// A chunk decodes to exactly its bytes or fails (a missing one reads as the fill
    /// value, written by the caller).
    fn writes_every_byte(&self) -> bool {
        true
    }
}

/// Open the array at `node` of the store at `root` as a lazy source. `component` is the
/// stored scalar dtype and `rgb` the dataset's record dtype when the last stored dimension
/// holds colour channels.
fn open_source(
    format: &'static str,
    root: &Path,
    node: &str,
    component: DType,
    rgb: Option<DType>,
    chunk: &[u64],
) -> Result<Arc<dyn ArraySource>> {
    let array = open_array_node(format, root, node)?;
    let mut shape = array.shape().to_vec();
    let mut chunk = chunk.to_vec();
    let channels = match rgb {
        Some(record) => {
            let channels = shape.pop().unwrap_or(0);
            chunk.pop();
            if Element::record(component, channels) != Some(record) {
                return Err(Error::malformed_at_unknown(
                    format,
                    format!("a trailing channel dimension matching {record}"),
                ));
            }
            Some(channels)
        }
        None => None,
    };
    if chunk.len() != shape.len() || chunk.contains(&0) {
        return Err(Error::malformed_at_unknown(
            format,
            format!("a chunk shape of {} positive sizes", shape.len()),
        ));
    }
    let dtype = rgb.unwrap_or(component);
    let natural = array.chunk_shape(&vec![0; shape.len() + usize::from(channels.is_some())]);
    // Chunks are checked before decoding only when emio's chunks are the stored ones, and
    // listed only when, besides, a channel dimension (if any) is one chunk.
    let (same_grid, stored_grid) = match &natural {
        Ok(n) => (
            n.iter().zip(&chunk).all(|(a, b)| a.get() == *b),
            n.iter()
                .map(|c| c.get())
                .eq(chunk.iter().copied().chain(channels)),
        ),
        Err(_) => (false, false),
    };
    let compressor = same_grid.then(|| guard::compressor(&array)).flatten();
    let (store_root, leaf) = leaf_store(root, node);
    let array_dir = store_root.join(leaf.trim_start_matches('/'));
    let plain = guard::plain_codec(&array).filter(|_| stored_grid);
    let decoder = ZarrChunks {
        format,
        compressor,
        array,
        chunk: chunk.clone(),
        shape: shape.clone(),
        channels,
        dir: array_dir.clone(),
        plain,
        folders: stored_grid.then_some((store_root, array_dir)),
        stored: OnceLock::new(),
    };
    Ok(Arc::new(ChunkedSource::new(
        dtype,
        shape,
        chunk,
        Box::new(decoder),
    )?))
}
