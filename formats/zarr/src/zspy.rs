//! HyperSpy's `.zspy`: a Zarr v2 directory store in the layout rsciio's
//! `HierarchicalWriter` produces (see the crate doc), written and read with HyperSpy's
//! dict-to-group conventions so that `hyperspy.api.load` and `rsciio.zspy.file_reader`
//! return identical data, axes and metadata.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emio_core::hyperspy::tree::{join, nest};
use emio_core::hyperspy::{
    axis_dict, axis_from_dict, dict2group, group2dict, learning, models, package_attrs,
    signal_package, ListArray, Member, StoredArray, StoredElement, StoredRead, TreeSink,
    TreeSource,
};
use emio_core::options::IntList;
use emio_core::signals::{Combined, Signals};
use emio_core::{
    ArraySource, Axis, ByteOrder, DType, Dataset, Error, Format, FormatInfo, OptionSet, Options,
    Progress, Result, Tree, WriteRequest, Writes,
};
use serde_json::{json, Map, Value};
use zarrs::array::{ArrayBytes, ArraySubset};

use crate::{
    blosc, blosc_settings, choose_chunks, create_array, json, open_source, read_dir_bounded, werr,
    write_chunks, zerr, Compressor, Element, Shuffle,
};

emio_core::options! {
    /// Options of the `.zspy` (HyperSpy's Zarr v2) writer.
    pub struct ZspyWriteOptions {
        /// chunk shape, one size per dimension (default: whole signal frames, ~8 MiB per chunk)
        chunks: Option<IntList> = None,
        /// chunk compression (HyperSpy's default: Blosc zstd level 1, byte shuffle)
        compressor: Compressor = Some("blosc"),
        /// compression level (default: zstd 1, blosc 1, blosc-lz4 5, gzip 5)
        level: Option<i64> = None,
        /// Blosc's shuffle (default: blosc byte; blosc-lz4 bit for integers, byte for floats)
        shuffle: Option<Shuffle> = None,
    }
}

const FORMAT: &str = "zspy";
/// The HyperSpy hierarchical format version rsciio 0.15 writes.
const FILE_FORMAT_VERSION: &str = "3.3";
/// HyperSpy's target chunk size for zspy (`ZspyWriter.target_size`).
const ZSPY_CHUNK_BYTES: u64 = 100_000_000;
/// Metadata arrays larger than this are not expanded into the metadata tree.
const MAX_METADATA_ELEMENTS: u64 = 1 << 20;

/// HyperSpy's Zarr format (`.zspy` directory).
#[derive(Debug, Default, Clone, Copy)]
pub struct Zspy;

/// The numcodecs compressor configuration of a `.zarray`: Blosc's `blosc` settings
/// ([`blosc_settings`]) or the compressor `name` at `level`.
fn compressor(name: Compressor, level: Option<i64>, blosc: Option<blosc::Settings>) -> Value {
    if let Some(settings) = blosc {
        // numcodecs' Blosc.NOSHUFFLE, SHUFFLE, BITSHUFFLE.
        let shuffle = match settings.shuffle {
            Shuffle::None => 0,
            Shuffle::Byte => 1,
            Shuffle::Bit => 2,
        };
        return json!({
            "id": "blosc", "cname": settings.compressor.name(), "clevel": settings.level,
            "shuffle": shuffle, "blocksize": 0
        });
    }
    match name {
        Compressor::Zstd => json!({"id": "zstd", "level": level.unwrap_or(1)}),
        Compressor::Gzip => json!({"id": "gzip", "level": level.unwrap_or(5)}),
        _ => Value::Null,
    }
}

/// `.zarray` contents for an array.
fn zarray(shape: &[u64], chunks: &[u64], dtype: Value, fill: Value, compressor: Value) -> Value {
    json!({
        "zarr_format": 2,
        "shape": shape,
        "chunks": chunks,
        "dtype": dtype,
        "fill_value": fill,
        "order": "C",
        "filters": null,
        "dimension_separator": "/",
        "compressor": compressor,
    })
}

/// Create a group folder with its `.zgroup` and `.zattrs` (an existing group's attributes
/// are extended).
fn write_group(dir: &Path, attrs: &Map<String, Value>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut all = match json::read(FORMAT, &dir.join(".zattrs"))? {
        Some(Value::Object(existing)) => existing,
        _ => Map::new(),
    };
    all.extend(attrs.clone());
    json::write(&dir.join(".zgroup"), &json!({"zarr_format": 2}))?;
    json::write(&dir.join(".zattrs"), &Value::Object(all))
}

/// Writes one small, uncompressed, single-chunk array (a metadata list).
struct SmallArray<'a> {
    root: &'a Path,
}

impl SmallArray<'_> {
    fn write(&self, node: &str, dtype: &str, fill: Value, n: u64, bytes: Vec<u8>) -> Result<()> {
        let meta = zarray(&[n], &[n.max(1)], dtype.into(), fill, Value::Null);
        let array = create_array(self.root, node, meta)?;
        if n > 0 {
            array
                .store_chunk(&[0], ArrayBytes::new_flen(bytes))
                .map_err(|e| werr(self.root, e))?;
        }
        Ok(())
    }
}

/// A `.zspy` directory written as a HyperSpy tree.
struct ZspySink<'a> {
    root: &'a Path,
}

impl TreeSink for ZspySink<'_> {
    fn group(&mut self, node: &str, attrs: &Tree) -> Result<()> {
        write_group(&self.root.join(node.trim_start_matches('/')), attrs)
    }

    fn list(&mut self, node: &str, values: &ListArray<'_>) -> Result<()> {
        let small = SmallArray { root: self.root };
        match values {
            ListArray::Ints(v) => {
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                small.write(node, "<i8", json!(0), v.len() as u64, bytes)
            }
            ListArray::Floats(v) => {
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                small.write(node, "<f8", json!(0.0), v.len() as u64, bytes)
            }
            ListArray::Bools(v) => {
                let bytes = v.iter().map(|&b| u8::from(b)).collect();
                small.write(node, "|b1", json!(false), v.len() as u64, bytes)
            }
            ListArray::Strings(v) => {
                let strings: Vec<Vec<char>> = v.iter().map(|s| s.chars().collect()).collect();
                let width = strings.iter().map(Vec::len).max().unwrap_or(0).max(1);
                let mut bytes = Vec::with_capacity(strings.len() * width * 4);
                for s in &strings {
                    for i in 0..width {
                        let c = s.get(i).map_or(0, |&c| c as u32);
                        bytes.extend_from_slice(&c.to_le_bytes());
                    }
                }
                small.write(
                    node,
                    &format!("<U{width}"),
                    json!(""),
                    v.len() as u64,
                    bytes,
                )
            }
        }
    }

    fn stored_array(&mut self, node: &str, array: &StoredArray) -> Result<()> {
        write_stored_array(self.root, node, array)
    }
}

/// A `.zspy` directory read as a HyperSpy tree.
struct ZspySource<'a> {
    root: &'a Path,
}

impl TreeSource for ZspySource<'_> {
    fn format(&self) -> &'static str {
        FORMAT
    }

    fn attrs(&self, node: &str) -> Result<Tree> {
        let dir = self.root.join(node.trim_start_matches('/'));
        Ok(match json::read(FORMAT, &dir.join(".zattrs"))? {
            Some(Value::Object(attrs)) => attrs,
            _ => Tree::new(),
        })
    }

    fn members(&self, node: &str) -> Result<Vec<(String, Member)>> {
        let dir = self.root.join(node.trim_start_matches('/'));
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in read_dir_bounded(FORMAT, &dir)? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !path.is_dir() {
                continue;
            }
            if path.join(".zgroup").is_file() {
                out.push((name, Member::Group));
            } else if let Some(doc) = json::read(FORMAT, &path.join(".zarray"))? {
                let ndim = doc
                    .get("shape")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                out.push((name, Member::Array { ndim }));
            }
        }
        Ok(out)
    }

    fn array_value(&self, node: &str) -> Result<Value> {
        read_small_array(self.root, node)
    }

    fn stored_array(&self, node: &str, max_bytes: u64) -> Result<StoredRead> {
        read_stored_array(self.root, node, max_bytes)
    }
}

/// A model's array ([`models`]) read whole: any dtype NumPy describes with a plain type or
/// a record of them (HyperSpy's parameter maps), in any chunking and compression. Records
/// are read through zarrs as raw bytes of their size (`|V<n>`), which it decodes like any
/// other type, and each member is then put in native byte order.
fn read_stored_array(root: &Path, node: &str, max_bytes: u64) -> Result<StoredRead> {
    let dir = root.join(node.trim_start_matches('/'));
    let mut doc = json::read(FORMAT, &dir.join(".zarray"))?.unwrap_or(Value::Null);
    let descr = doc.get("dtype").cloned().unwrap_or(Value::Null);
    let Some((element, orders)) = StoredElement::from_numpy_descr(&descr) else {
        return Ok(StoredRead::Unsupported(format!(
            "its array {node} holds {descr}, which emio does not keep in a model"
        )));
    };
    let shape: Vec<u64> = doc
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect())
        .ok_or_else(|| {
            Error::malformed_at_unknown(FORMAT, "a shape in the .zarray").with_path(&dir)
        })?;
    let nbytes = emio_core::source::element_count(&shape)
        .and_then(|n| n.checked_mul(element.size() as u64))
        .unwrap_or(u64::MAX);
    if nbytes > max_bytes {
        return Ok(StoredRead::TooLarge(nbytes));
    }
    if let StoredElement::Record(_) = element {
        // Zarr v2 gives raw bytes' fill value in base64: zeros (the whole array is read, so
        // it fills only chunks the store lacks, as zarr-python's null does).
        let size = element.size();
        let zeros = "A".repeat(size / 3 * 4) + ["", "AA==", "AAA="][size % 3];
        doc["dtype"] = Value::from(format!("|V{size}"));
        doc["fill_value"] = Value::from(zeros);
    }
    let metadata: zarrs::array::ArrayMetadata =
        serde_json::from_value(doc).map_err(|e| zerr(FORMAT, e).with_path(&dir))?;
    let (parent, leaf) = crate::leaf_store(root, node);
    let store =
        Arc::new(zarrs::filesystem::FilesystemStore::new(&parent).map_err(|e| zerr(FORMAT, e))?);
    let array = zarrs::array::Array::new_with_metadata(store, &leaf, metadata)
        .map_err(|e| zerr(FORMAT, e).with_path(&dir))?;
    // Chunks may be declared larger than the array: each is decoded whole.
    let chunk = chunk_shape(&array, shape.len())?;
    let chunk_bytes = emio_core::source::element_count(&chunk)
        .and_then(|n| n.checked_mul(element.size() as u64))
        .unwrap_or(u64::MAX);
    if chunk_bytes > max_bytes {
        return Ok(StoredRead::TooLarge(chunk_bytes));
    }
    let mut bytes = retrieve_checked(&array, &shape, &chunk)
        .and_then(|b| b.into_fixed().map_err(|e| zerr(FORMAT, e)))
        .map_err(|e| e.with_path(&dir))?
        .into_owned();
    let swap: Vec<bool> = orders.iter().map(|o| !o.is_native()).collect();
    element.swap_members(&mut bytes, &swap);
    StoredArray::new(element, shape, bytes).map(StoredRead::Array)
}

/// Write a model's array as an uncompressed Zarr v2 array of one chunk (NumPy's
/// description as its dtype: zarr-python reads a record as a structured array).
fn write_stored_array(root: &Path, node: &str, array: &StoredArray) -> Result<()> {
    let dir = root.join(node.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let chunks: Vec<u64> = array.shape.iter().map(|&n| n.max(1)).collect();
    let doc = zarray(
        &array.shape,
        &chunks,
        array.element.numpy_descr(),
        Value::Null,
        Value::Null,
    );
    json::write(&dir.join(".zarray"), &doc)?;
    if array.bytes.is_empty() {
        return Ok(());
    }
    let key = vec!["0"; array.shape.len().max(1)].join("/");
    let chunk = dir.join(key);
    if let Some(parent) = chunk.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    // NumPy's description says little-endian: swap every member on a big-endian host.
    let mut bytes = array.bytes.clone();
    let swap = vec![!ByteOrder::Little.is_native(); array.element.members().len()];
    array.element.swap_members(&mut bytes, &swap);
    std::fs::write(&chunk, bytes).map_err(|e| Error::io(&chunk, e))
}

/// Bundle every `.zgroup`, `.zattrs` and `.zarray` into `.zmetadata`, as
/// `zarr.consolidate_metadata` (called by rsciio's writer) does.
fn consolidate(root: &Path) -> Result<()> {
    fn walk(root: &Path, dir: &Path, out: &mut Map<String, Value>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if path.is_dir() {
                walk(root, &path, out)?;
            } else if matches!(name.as_deref(), Some(".zgroup" | ".zattrs" | ".zarray")) {
                let key = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                if let Some(doc) = json::read(FORMAT, &path)? {
                    out.insert(key, doc);
                }
            }
        }
        Ok(())
    }
    let mut metadata = Map::new();
    walk(root, root, &mut metadata)?;
    json::write(
        &root.join(".zmetadata"),
        &json!({"metadata": metadata, "zarr_consolidated_format": 1}),
    )
}

impl Format for Zspy {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "HyperSpy Zarr (.zspy directory, Zarr v2)",
            extensions: &["zspy"],
            read_options: &[],
            writes: Some(Writes::directory(ZspyWriteOptions::SPECS)),
        }
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        let experiments = path.join("Experiments");
        if !experiments.is_dir() {
            return Err(Error::malformed_at_unknown(
                FORMAT,
                "an Experiments group (HyperSpy's zspy layout)",
            )
            .with_path(path));
        }
        let mut names: Vec<String> = read_dir_bounded(FORMAT, &experiments)?
            .into_iter()
            .filter(|e| e.path().join("data").join(".zarray").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut datasets = names
            .iter()
            .map(|name| open_experiment(path, name))
            .collect::<Result<Vec<_>>>()?;
        let groups: Vec<String> = names.iter().map(|n| format!("/Experiments/{n}")).collect();
        // A directory store has no one size: its chunks are each checked against their
        // declared size before decoding, and the models' arrays in all against this.
        models::read(
            &ZspySource { root: path },
            &groups,
            &mut datasets,
            models::MAX_MODEL_BYTES,
        );
        Ok(datasets)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        let (dataset, path, progress) = (request.dataset, request.path, request.progress);
        let signals = Signals::of(dataset, |title| {
            if title.is_empty() {
                "__unnamed__".to_string()
            } else {
                title.replace('/', "-")
            }
        });
        for (signal, _) in signals.iter() {
            let element = Element::of(signal.dtype());
            if element.channels.is_some() {
                return Err(Error::unsupported(
                    FORMAT,
                    format!(
                        "{} data (HyperSpy stores RGB as structured dtypes)",
                        signal.dtype()
                    ),
                ));
            }
        }
        let options = request.typed::<ZspyWriteOptions>()?;
        let progress = Combined::new(progress, signals.nbytes());
        let mut root_attrs = Map::new();
        root_attrs.insert("file_format".into(), "ZSpy".into());
        root_attrs.insert("file_format_version".into(), FILE_FORMAT_VERSION.into());
        write_group(path, &root_attrs)?;
        write_group(&path.join("Experiments"), &Map::new())?;
        let requested = options.chunks.as_ref().map(|c| &c.0[..]);
        for (signal, name, requested) in signals.with_chunks(requested) {
            write_signal(path, signal, name, requested, &options, &progress)?;
        }
        consolidate(path)
    }
}

/// Write `dataset` as the signal group `Experiments/<group_name>` of the store at `path`:
/// axes, metadata, the empty groups HyperSpy expects, and its chunked data.
fn write_signal(
    path: &Path,
    dataset: &Dataset,
    group_name: &str,
    requested_chunks: Option<&[i64]>,
    options: &ZspyWriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let chunk = choose_chunks(
        dataset,
        requested_chunks,
        ZSPY_CHUNK_BYTES.min(crate::DEFAULT_CHUNK_BYTES),
    )?;
    let node = format!("/Experiments/{group_name}");
    let group_dir = path.join("Experiments").join(group_name);
    let package = package_attrs(dataset.signal_package.as_ref());
    write_group(&group_dir, &package)?;
    let mut sink = ZspySink { root: path };
    for (i, (axis, &n)) in dataset.axes.iter().zip(dataset.shape()).enumerate() {
        let axis_node = format!("{node}/axis-{i}");
        let (attrs, values) = axis_dict(axis, n);
        sink.group(&axis_node, &attrs)?;
        if let Some(values) = values {
            sink.list(
                &join(&axis_node, "axis"),
                &ListArray::Floats(values.to_vec()),
            )?;
        }
    }
    let mut metadata = dataset.metadata.clone();
    if dataset.title().is_empty() {
        emio_core::metadata::set_path(&mut metadata, "General.title", "__unnamed__");
    }
    dict2group(&mut sink, &format!("{node}/metadata"), &metadata)?;
    dict2group(
        &mut sink,
        &format!("{node}/original_metadata"),
        &dataset.original_metadata,
    )?;
    let mut arrays = Vec::new();
    learning::write(&mut sink, &node, dataset, |node, array| {
        arrays.push((node.to_string(), array));
        Ok(())
    })?;
    write_group(&group_dir.join("attributes"), &Map::new())?;
    models::write(&mut sink, &node, dataset)?;
    for (array_node, array) in arrays {
        let chunk = choose_chunks(
            array,
            None,
            ZSPY_CHUNK_BYTES.min(crate::DEFAULT_CHUNK_BYTES),
        )?;
        write_array(path, &array_node, array, &chunk, options, progress)?;
    }
    write_array(
        path,
        &format!("{node}/data"),
        dataset,
        &chunk,
        options,
        progress,
    )
}

/// Write `dataset` as the chunked array `node` of the store at `path` (with the codec the
/// options choose) and its empty `.zattrs`.
fn write_array(
    path: &Path,
    node: &str,
    dataset: &Dataset,
    chunk: &[u64],
    options: &ZspyWriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let dtype = dataset.dtype();
    let blosc = blosc_settings(options.compressor, options.level, options.shuffle, dtype)?;
    let fill = match dtype {
        DType::Bool => json!(false),
        DType::C64 | DType::C128 => json!([0.0, 0.0]),
        DType::F16 | DType::F32 | DType::F64 => json!(0.0),
        _ => json!(0),
    };
    let meta = zarray(
        dataset.shape(),
        chunk,
        dtype.numpy_str().into(),
        fill,
        compressor(options.compressor, options.level, blosc),
    );
    let array = create_array(path, node, meta)?;
    let dir = path.join(node.trim_start_matches('/'));
    json::write(&dir.join(".zattrs"), &json!({}))?;
    write_chunks(path, node, dataset, &array, chunk, blosc, progress)
}

/// Open `Experiments/<name>` as a dataset.
fn open_experiment(root: &Path, name: &str) -> Result<Dataset> {
    let group = root.join("Experiments").join(name);
    let node = format!("/Experiments/{name}");
    let source = open_array(root, &format!("{node}/data"))?.ok_or_else(|| {
        Error::unsupported(FORMAT, "structured (e.g. RGB) data arrays").with_path(&group)
    })?;
    let shape = source.shape().to_vec();
    let tree = ZspySource { root };
    let mut axes = Vec::with_capacity(shape.len());
    for (i, &n) in shape.iter().enumerate() {
        let where_ = format!("{node}/axis-{i}");
        let attrs = group2dict(&tree, &where_)?;
        axes.push(
            axis_from_dict(&attrs, n, false, FORMAT, &where_).map_err(|e| e.with_path(&group))?,
        );
    }
    let mut metadata = group2dict(&tree, &format!("{node}/metadata"))?;
    if emio_core::metadata::get_str(&metadata, "General.title") == Some("__unnamed__") {
        emio_core::metadata::set_path(&mut metadata, "General.title", "");
    }
    let original = group2dict(&tree, &format!("{node}/original_metadata"))?;
    let mut ds = Dataset::new(source, axes, metadata, original)?;
    ds.signal_package = signal_package(&tree, &node)?;
    learning::read(&mut ds, &tree, &node, false, |array_node| {
        let Some(source) = open_array(root, array_node)? else {
            return Ok(None);
        };
        let axes = source
            .shape()
            .iter()
            .map(|_| Axis::default_for(false))
            .collect();
        Dataset::new(source, axes, Default::default(), Default::default()).map(Some)
    })?;
    Ok(ds)
}

/// The array `node` of the store at `root` as a lazy source (`None` for structured
/// element types, which emio reads only as metadata values).
fn open_array(root: &Path, node: &str) -> Result<Option<Arc<dyn ArraySource>>> {
    let dir = root.join(node.trim_start_matches('/'));
    let bad = |what: String| Error::malformed_at_unknown(FORMAT, what).with_path(&dir);
    let zarray =
        json::read(FORMAT, &dir.join(".zarray"))?.ok_or_else(|| bad(format!("{node}/.zarray")))?;
    let Some(dtype_text) = zarray.get("dtype").and_then(Value::as_str) else {
        return Ok(None);
    };
    let (dtype, _) = DType::from_numpy_str(dtype_text).map_err(|e| e.with_path(&dir))?;
    let chunks: Vec<u64> = zarray
        .get("chunks")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect())
        .ok_or_else(|| bad(format!("a chunk shape in {node}/.zarray")))?;
    open_source(FORMAT, root, node, dtype, None, &chunks).map(Some)
}

/// The values of a (small) metadata array as JSON: numbers, bools or strings, nested by
/// shape.
fn read_small_array(root: &Path, node: &str) -> Result<Value> {
    let dir = root.join(node.trim_start_matches('/'));
    let doc = json::read(FORMAT, &dir.join(".zarray"))?.unwrap_or(Value::Null);
    let dtype = doc.get("dtype").and_then(Value::as_str).unwrap_or("");
    let shape: Vec<u64> = doc
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect())
        .unwrap_or_default();
    let n = emio_core::source::element_count(&shape).unwrap_or(u64::MAX);
    if n > MAX_METADATA_ELEMENTS {
        return Ok(Value::String(format!(
            "<array of shape {shape:?} not expanded>"
        )));
    }
    let array = crate::open_array_node(FORMAT, root, node)?;
    // Chunks may be declared larger than the array: each is decoded whole.
    let chunk = chunk_shape(&array, shape.len())?;
    if emio_core::source::element_count(&chunk).is_none_or(|c| c > MAX_METADATA_ELEMENTS) {
        return Ok(Value::String(format!(
            "<array of shape {shape:?} in chunks of {chunk:?} not expanded>"
        )));
    }
    let bytes = retrieve_checked(&array, &shape, &chunk).map_err(|e| e.with_path(&dir))?;
    let flat: Vec<Value> = if dtype == "|O" {
        let (data, offsets) = bytes
            .into_variable()
            .map_err(|e| zerr(FORMAT, e))?
            .into_parts();
        offsets
            .windows(2)
            .map(|w| Value::String(String::from_utf8_lossy(&data[w[0]..w[1]]).into_owned()))
            .collect()
    } else {
        let raw = bytes.into_fixed().map_err(|e| zerr(FORMAT, e))?;
        decode_values(dtype, &raw).ok_or_else(|| {
            Error::unsupported(FORMAT, format!("metadata array of dtype {dtype:?}")).with_path(&dir)
        })?
    };
    Ok(nest(&flat, &shape))
}

/// The shape of the first chunk of the `ndim`-dimensional `array` (Zarr v2: every chunk's).
fn chunk_shape(
    array: &zarrs::array::Array<zarrs::filesystem::FilesystemStore>,
    ndim: usize,
) -> Result<Vec<u64>> {
    Ok(array
        .chunk_shape(&vec![0; ndim])
        .map_err(|e| zerr(FORMAT, e))?
        .iter()
        .map(|c| c.get())
        .collect())
}

/// The whole of `array` (of `shape`, in chunks of `chunk`), each chunk checked against its
/// declared size before it is decoded ([`crate::guard`]).
fn retrieve_checked(
    array: &zarrs::array::Array<zarrs::filesystem::FilesystemStore>,
    shape: &[u64],
    chunk: &[u64],
) -> Result<ArrayBytes<'static>> {
    let grid: Vec<u64> = shape
        .iter()
        .zip(chunk)
        .map(|(n, c)| n.div_ceil(*c))
        .collect();
    let compressor = crate::guard::compressor(array);
    let mut checked = Ok(());
    emio_core::copy::for_each_index(&grid, |index| {
        if checked.is_ok() {
            checked = crate::guard::check_chunk(FORMAT, array, compressor.as_deref(), index);
        }
    });
    checked?;
    let subset = ArraySubset::new_with_start_shape(vec![0; shape.len()], shape.to_vec())
        .map_err(|e| zerr(FORMAT, e))?;
    array
        .retrieve_array_subset(&subset)
        .map_err(|e| crate::read_err(FORMAT, "decodable chunks of a metadata array", e))
}

/// Decode native-endian elements of a numpy dtype into JSON values.
fn decode_values(dtype: &str, raw: &[u8]) -> Option<Vec<Value>> {
    let kind = dtype.get(1..2)?;
    let size: usize = dtype.get(2..)?.parse().ok()?;
    if size == 0 {
        return None;
    }
    let f = |v: f64| emio_core::metadata::json_f64(v);
    let values = match (kind, size) {
        ("U", n) => raw
            .chunks_exact(4 * n)
            .map(|s| {
                let text: String = s
                    .chunks_exact(4)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .take_while(|&c| c != 0)
                    .filter_map(char::from_u32)
                    .collect();
                Value::String(text)
            })
            .collect(),
        ("S", n) => raw
            .chunks_exact(n)
            .map(|s| {
                let end = s.iter().position(|&b| b == 0).unwrap_or(n);
                Value::String(String::from_utf8_lossy(&s[..end]).into_owned())
            })
            .collect(),
        ("b", 1) => raw.iter().map(|&b| Value::Bool(b != 0)).collect(),
        ("u", _) | ("i", _) | ("f", 4) | ("f", 8) => raw
            .chunks_exact(size)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..size].copy_from_slice(c);
                match (kind, size) {
                    ("u", 1) => json!(c[0]),
                    ("u", 2) => json!(u16::from_ne_bytes([c[0], c[1]])),
                    ("u", 4) => json!(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])),
                    ("u", _) => json!(u64::from_ne_bytes(b)),
                    ("i", 1) => json!(c[0] as i8),
                    ("i", 2) => json!(i16::from_ne_bytes([c[0], c[1]])),
                    ("i", 4) => json!(i32::from_ne_bytes([c[0], c[1], c[2], c[3]])),
                    ("i", _) => json!(i64::from_ne_bytes(b)),
                    ("f", 4) => f(f32::from_ne_bytes([c[0], c[1], c[2], c[3]]) as f64),
                    _ => f(f64::from_ne_bytes(b)),
                }
            })
            .collect(),
        _ => return None,
    };
    Some(values)
}
