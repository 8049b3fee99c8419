//! The `.zarr` format: a Zarr v3 group with one array per dataset (schema in the crate doc).
//! Reading also accepts plain Zarr v2 arrays and groups (`.zarray`, `.zgroup`).

use std::path::Path;

use emio_core::metadata::base_metadata;
use emio_core::options::IntList;
use emio_core::{
    Axis, DType, Dataset, Error, Format, FormatInfo, OptionSet, Options, Result, Tree,
    WriteRequest, Writes,
};
use serde_json::{json, Map, Value};

use crate::{
    blosc, blosc_settings, choose_chunks, create_array, distinct_datasets, json, open_source,
    read_dir_bounded, v3_data_type, write_chunks, zero_fill, Compressor, Element, Shuffle,
    DEFAULT_CHUNK_BYTES,
};

emio_core::options! {
    /// Options of the `.zarr` (Zarr v3) writer.
    pub struct ZarrWriteOptions {
        /// chunk shape, one size per dimension (default: whole signal frames, ~8 MiB per chunk)
        chunks: Option<IntList> = None,
        /// shard shape (multiples of the chunk shape): store chunks inside shards
        shard: Option<IntList> = None,
        /// chunk compression (default: Blosc LZ4, measured fastest for its ratio on detector data)
        compressor: Compressor = Some("blosc-lz4"),
        /// compression level (default: zstd 1, blosc 1, blosc-lz4 5, gzip 5)
        level: Option<i64> = None,
        /// Blosc's shuffle (default: blosc byte; blosc-lz4 bit for integers, byte for floats)
        shuffle: Option<Shuffle> = None,
    }
}

const FORMAT: &str = "zarr";

/// Zarr v3 array store (`.zarr` directory).
#[derive(Debug, Default, Clone, Copy)]
pub struct Zarr;

/// The bytes-to-bytes codec: Blosc's `blosc` settings ([`blosc_settings`]) or the
/// compressor `name` at `level`.
fn compressor_codec(
    name: Compressor,
    level: Option<i64>,
    blosc: Option<blosc::Settings>,
) -> Result<Option<Value>> {
    if let Some(settings) = blosc {
        let shuffle = match settings.shuffle {
            Shuffle::Byte => "shuffle",
            Shuffle::Bit => "bitshuffle",
            Shuffle::None => "noshuffle",
        };
        return Ok(Some(json!({
            "name": "blosc",
            "configuration": {
                "cname": settings.compressor.name(), "clevel": settings.level,
                "shuffle": shuffle, "typesize": settings.type_size, "blocksize": 0
            }
        })));
    }
    Ok(match name {
        Compressor::Zstd => Some(json!({
            "name": "zstd",
            "configuration": {"level": level.unwrap_or(1), "checksum": false}
        })),
        Compressor::Gzip => {
            let level = level.unwrap_or(5);
            if !(0..=9).contains(&level) {
                return Err(Error::invalid_option("level", "gzip levels are 0..=9"));
            }
            Some(json!({"name": "gzip", "configuration": {"level": level}}))
        }
        _ => None,
    })
}

/// The `bytes` codec (little-endian for multi-byte elements).
fn bytes_codec(size: usize) -> Value {
    if size > 1 {
        json!({"name": "bytes", "configuration": {"endian": "little"}})
    } else {
        json!({"name": "bytes"})
    }
}

/// The `axes` attribute: one object per dimension.
pub(crate) fn axes_json(dataset: &Dataset) -> Value {
    Value::Array(
        dataset
            .axes
            .iter()
            .zip(dataset.shape())
            .map(|(a, &n)| a.to_json(n))
            .collect(),
    )
}

/// An axis from its JSON object (as written by [`axes_json`] or HyperSpy's axis groups).
pub(crate) fn axis_from_json(v: &Value, size: u64) -> Option<Axis> {
    let obj = v.as_object()?;
    let text = |k: &str| match obj.get(k) {
        Some(Value::String(s)) if s != "_None_" => s.clone(),
        _ => String::new(),
    };
    let num = |k: &str| obj.get(k).and_then(emio_core::metadata::value_f64);
    let navigate = obj
        .get("navigate")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(values) = obj
        .get("values")
        .or(obj.get("axis"))
        .and_then(Value::as_array)
    {
        let values: Vec<f64> = values
            .iter()
            .map(emio_core::metadata::value_f64)
            .collect::<Option<_>>()?;
        if values.len() as u64 == size {
            return Some(Axis::values(text("name"), text("units"), values, navigate));
        }
        return None;
    }
    Some(Axis::uniform(
        text("name"),
        text("units"),
        num("scale").unwrap_or(1.0),
        num("offset").unwrap_or(0.0),
        navigate,
    ))
}

impl Format for Zarr {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "Zarr v3 array store (.zarr directory; also reads Zarr v2)",
            extensions: &["zarr"],
            read_options: &[],
            writes: Some(Writes::directory(ZarrWriteOptions::SPECS)),
        }
    }

    fn open(&self, path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        let file_name = emio_core::metadata::file_name(path);
        let (kind, doc) = node_document(path)?.ok_or_else(|| {
            Error::malformed_at_unknown(FORMAT, "zarr.json, .zgroup or .zarray at the root")
                .with_path(path)
        })?;
        let nodes: Vec<String> = if kind == NodeKind::Array {
            vec![String::new()]
        } else {
            let listed = doc
                .pointer("/attributes/emio/datasets")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                });
            match listed {
                Some(list) => list,
                None => child_arrays(path)?,
            }
        };
        let (nodes, repeats) = distinct_datasets(FORMAT, path, nodes)?;
        let mut datasets = nodes
            .iter()
            .map(|node| open_array(path, node, &file_name))
            .collect::<Result<Vec<_>>>()?;
        if let Some(warning) = repeats {
            Dataset::warn_all(&mut datasets, &warning);
        }
        Ok(datasets)
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        let (dataset, path, progress) = (request.dataset, request.path, request.progress);
        let element = Element::of(dataset.dtype());
        let data_type = v3_data_type(element.component)
            .ok_or_else(|| Error::unsupported(FORMAT, format!("{} data", dataset.dtype())))?;
        let options = request.typed::<ZarrWriteOptions>()?;
        let requested = options.chunks.as_ref().map(|c| &c.0[..]);
        let chunk = choose_chunks(dataset, requested, DEFAULT_CHUNK_BYTES)?;
        let grid = match options.shard.as_ref().map(|s| &s.0) {
            None => chunk.clone(),
            Some(shard) => {
                let ok = shard.len() == chunk.len()
                    && shard
                        .iter()
                        .zip(&chunk)
                        .all(|(&s, &c)| s >= 1 && (s as u64).is_multiple_of(c));
                if !ok {
                    return Err(Error::invalid_option(
                        "shard",
                        format!("{shard:?}: give one multiple of the chunk shape {chunk:?} per dimension"),
                    ));
                }
                shard.iter().map(|&s| s as u64).collect()
            }
        };
        let es = element.component.size();
        let blosc = blosc_settings(
            options.compressor,
            options.level,
            options.shuffle,
            element.component,
        )?;
        let mut inner = vec![bytes_codec(es)];
        inner.extend(compressor_codec(options.compressor, options.level, blosc)?);
        let codecs = if grid == chunk {
            inner
        } else {
            vec![json!({
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": element.store_shape(&chunk),
                    "codecs": inner,
                    "index_codecs": [bytes_codec(8), {"name": "crc32c"}],
                    "index_location": "end"
                }
            })]
        };
        let mut names: Vec<Value> = dataset
            .axes
            .iter()
            .map(|a| {
                if a.name.is_empty() {
                    Value::Null
                } else {
                    Value::String(a.name.clone())
                }
            })
            .collect();
        if element.channels.is_some() {
            names.push("channel".into());
        }
        let attributes = json!({
            "emio": {
                "schema": 1,
                "dtype": dataset.dtype().to_string(),
                "rgb": element.channels.is_some()
            },
            "axes": axes_json(dataset),
            "metadata": Value::Object(dataset.metadata.clone()),
            "original_metadata": Value::Object(dataset.original_metadata.clone()),
        });
        let metadata = json!({
            "zarr_format": 3,
            "node_type": "array",
            "shape": element.store_shape(dataset.shape()),
            "data_type": data_type,
            "chunk_grid": {
                "name": "regular",
                "configuration": {"chunk_shape": element.store_shape(&grid)}
            },
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": zero_fill(element.component),
            "codecs": codecs,
            "attributes": attributes,
            "dimension_names": names,
        });
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        json::write(
            &path.join("zarr.json"),
            &json!({
                "zarr_format": 3,
                "node_type": "group",
                "attributes": {"emio": {"schema": 1, "datasets": ["data"]}}
            }),
        )?;
        let array = create_array(path, "/data", metadata)?;
        // Chunks inside shards are encoded by zarrs' sharding codec.
        let blosc = blosc.filter(|_| grid == chunk);
        write_chunks(path, "/data", dataset, &array, &grid, blosc, progress)
    }
}

/// Whether a store node is a group or an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Group,
    Array,
}

/// The metadata document of the node in `dir`: v3 `zarr.json`, or v2 `.zarray`/`.zgroup`
/// (with its `.zattrs` under `attributes`).
fn node_document(dir: &Path) -> Result<Option<(NodeKind, Value)>> {
    if let Some(doc) = json::read(FORMAT, &dir.join("zarr.json"))? {
        let kind = match doc.get("node_type").and_then(Value::as_str) {
            Some("array") => NodeKind::Array,
            Some("group") => NodeKind::Group,
            _ => {
                return Err(Error::malformed_at_unknown(
                    FORMAT,
                    "node_type \"array\" or \"group\" in zarr.json",
                )
                .with_path(dir))
            }
        };
        return Ok(Some((kind, doc)));
    }
    let attrs = json::read(FORMAT, &dir.join(".zattrs"))?.unwrap_or_else(|| json!({}));
    for (name, kind) in [(".zarray", NodeKind::Array), (".zgroup", NodeKind::Group)] {
        if let Some(mut doc) = json::read(FORMAT, &dir.join(name))? {
            if let Some(obj) = doc.as_object_mut() {
                obj.insert("attributes".into(), attrs);
            }
            return Ok(Some((kind, doc)));
        }
    }
    Ok(None)
}

/// Relative paths of the arrays directly below a group, sorted by name.
fn child_arrays(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in read_dir_bounded(FORMAT, dir)? {
        if entry.path().is_dir() {
            if let Some((NodeKind::Array, _)) = node_document(&entry.path())? {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

fn as_shape(v: Option<&Value>) -> Option<Vec<u64>> {
    v?.as_array()?.iter().map(Value::as_u64).collect()
}

/// Open one array node (`""` is the root) as a dataset.
fn open_array(root: &Path, node: &str, file_name: &str) -> Result<Dataset> {
    let dir = if node.is_empty() {
        root.to_path_buf()
    } else {
        if node.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(Error::malformed_at_unknown(
                FORMAT,
                format!("a dataset path, not {node:?}"),
            ));
        }
        root.join(node)
    };
    let bad = |what: &str| Error::malformed_at_unknown(FORMAT, what.to_string()).with_path(&dir);
    let (kind, doc) = node_document(&dir)?.ok_or_else(|| bad("array metadata"))?;
    if kind != NodeKind::Array {
        return Err(bad("an array node"));
    }
    let shape = as_shape(doc.get("shape")).ok_or_else(|| bad("an array shape"))?;
    let (component, chunk) = if doc.get("zarr_format").and_then(Value::as_u64) == Some(3) {
        let name = doc
            .get("data_type")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a data_type"))?;
        let dtype = crate::dtype_from_v3(name)
            .ok_or_else(|| Error::unsupported(FORMAT, format!("data type {name}")))?;
        let grid = as_shape(doc.pointer("/chunk_grid/configuration/chunk_shape"))
            .ok_or_else(|| bad("a regular chunk grid"))?;
        // Read sharded arrays by inner chunk: zarrs decodes only the inner chunks needed.
        let inner = doc
            .pointer("/codecs/0")
            .filter(|c| c.get("name").and_then(Value::as_str) == Some("sharding_indexed"))
            .and_then(|c| as_shape(c.pointer("/configuration/chunk_shape")));
        (dtype, inner.unwrap_or(grid))
    } else {
        let text = doc
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a scalar dtype"))?;
        let (dtype, _) = DType::from_numpy_str(text).map_err(|e| e.with_path(&dir))?;
        let chunks = as_shape(doc.get("chunks")).ok_or_else(|| bad("a chunk shape"))?;
        (dtype, chunks)
    };
    let attrs = doc
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let rgb = attrs
        .get("emio")
        .and_then(|e| e.get("rgb"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let rgb = match rgb {
        true => Some(
            shape
                .last()
                .and_then(|&c| Element::record(component, c))
                .ok_or_else(|| bad("a trailing RGB(A) channel dimension of u8 or u16"))?,
        ),
        false => None,
    };
    let source = open_source(FORMAT, root, &format!("/{node}"), component, rgb, &chunk)?;
    let dims = source.shape().to_vec();
    let stored_axes = attrs.get("axes").and_then(Value::as_array);
    let names = doc.get("dimension_names").and_then(Value::as_array);
    let axes: Vec<Axis> = dims
        .iter()
        .enumerate()
        .map(|(d, &n)| {
            stored_axes
                .and_then(|a| a.get(d))
                .filter(|_| stored_axes.is_some_and(|a| a.len() == dims.len()))
                .and_then(|a| axis_from_json(a, n))
                .unwrap_or_else(|| {
                    let mut axis = Axis::default_for(false);
                    if let Some(Value::String(name)) = names.and_then(|n| n.get(d)) {
                        axis.name = name.clone();
                    }
                    axis
                })
        })
        .collect();
    let title = if node.is_empty() {
        file_name.rsplit_once('.').map_or(file_name, |(s, _)| s)
    } else {
        node
    };
    let metadata = match attrs.get("metadata") {
        Some(Value::Object(m)) => m.clone(),
        _ => base_metadata(title, file_name, ""),
    };
    let original: Tree = match attrs.get("original_metadata") {
        Some(Value::Object(m)) => m.clone(),
        _ => strip_emio(attrs),
    };
    Dataset::new(source, axes, metadata, original)
}

/// Foreign arrays keep all their attributes as original metadata.
fn strip_emio(mut attrs: Map<String, Value>) -> Tree {
    attrs.remove("emio");
    attrs
}
