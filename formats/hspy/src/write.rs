//! Writing a dataset as a HyperSpy HDF5 file (file format 3.3, what rsciio 0.15 writes):
//!
//! ```text
//! /                          file_format = "HyperSpy", file_format_version = "3.3"
//! /Experiments/<title>       package, package_version
//!     data                   chunked (rsciio's signal-aligned chunks), gzip/lzf + shuffle
//!     axis-<i>               _type, name, units, navigate, is_binned, size, scale, offset
//!                            (non-uniform axes: an `axis` dataset instead of scale/offset)
//!     metadata, original_metadata, learning_results, attributes   (dict-to-group trees)
//! ```
//!
//! A ragged dataset ([`emio_core::ragged`]) is written as HyperSpy writes a ragged signal
//! ([`crate::ragged::write`]): `data` and `_ragged_shapes_data` as variable-length datasets
//! and `attributes/ragged = True`.
//!
//! Chunks are read, padded and compressed in parallel by core's write pipeline
//! ([`emio_core::plan::WritePlan`]) and appended to the file in order; memory stays bounded
//! by its buffers.

use emio_core::hyperspy::tree::join;
use emio_core::hyperspy::{
    axis_dict, dict2group, learning, models, package_attrs, ListArray, TreeSink,
};
use emio_core::metadata::Tree;
use emio_core::options::IntList;
use emio_core::positioned::COrderFile;
use emio_core::signals::{Combined, Signals};
use emio_core::source::element_count;
use emio_core::{ByteOrder, Dataset, Error, Progress, Result, WriteRequest};
use emio_h5::writer::{Attr, Compression, H5Writer};

use crate::tree::H5Sink;

/// The HyperSpy file format version written.
pub const FILE_FORMAT_VERSION: &str = "3.3";
/// rsciio's target chunk size for `.hspy` (`HyperspyWriter.target_size`).
const TARGET_CHUNK_BYTES: u64 = 1_000_000;
/// Largest chunk written (bigger signals are split along their slowest axes).
const MAX_CHUNK_BYTES: u64 = 64 << 20;

emio_core::option_choice! {
    /// Chunk compression of the HyperSpy HDF5 writer, after h5py's byte shuffle.
    pub enum Codec {
        Gzip = "gzip": "deflate at `compression_opts`",
        Lzf = "lzf": "LZF",
        None = "none": "chunks stored as they are",
    }
}

emio_core::options! {
    /// Options of the HyperSpy HDF5 writer, named as rsciio's `file_writer` keywords.
    pub struct WriteOptions {
        /// chunk compression, after h5py's byte shuffle (rsciio's default: gzip)
        compression: Codec = Some("gzip"),
        /// gzip level 0-9 (h5py's default 4)
        compression_opts: i64 = Some("4"),
        /// chunk shape, one size per dimension (default: rsciio's, whole signals of ~1 MB)
        chunks: Option<IntList> = None,
        /// false writes the signal's structure (axes, metadata, original_metadata,
        /// attributes, learning_results) without its `data` dataset, as rsciio does
        /// (HyperSpy then writes the data into the file it keeps open; rsciio's
        /// `close_file` has no counterpart: emio returns no open file, every file it writes
        /// is complete and closed)
        write_dataset: bool = Some("true"),
    }
}

/// rsciio's `get_signal_chunks`: whole signals, navigation axes split so a chunk holds
/// about `target` bytes, evenly over the navigation axes (axes too short for an even
/// share are taken whole); capped at `MAX_CHUNK_BYTES` by halving the slowest axes.
pub fn signal_chunks(shape: &[u64], signal: &[bool], elem_size: u64, target: u64) -> Vec<u64> {
    let bytes_per_signal: u64 = shape
        .iter()
        .zip(signal)
        .filter(|(_, s)| **s)
        .map(|(n, _)| *n)
        .product::<u64>()
        .saturating_mul(elem_size);
    let per_chunk = target.checked_div(bytes_per_signal).unwrap_or(u64::MAX);
    let nav: Vec<usize> = (0..shape.len()).filter(|&i| !signal[i]).collect();
    let num_signals: u64 = nav.iter().map(|&i| shape[i]).product();
    let mut chunk: Vec<u64> = if per_chunk < 2 || nav.is_empty() {
        shape
            .iter()
            .zip(signal)
            .map(|(&n, &s)| if s { n } else { 1 })
            .collect()
    } else if per_chunk > num_signals {
        shape.to_vec()
    } else {
        let mut small: Vec<usize> = Vec::new();
        let mut each;
        loop {
            let small_product: u64 = small.iter().map(|&i| shape[i]).product();
            let free = (nav.len() - small.len()) as f64;
            each = ((per_chunk as f64 / small_product as f64).powf(1.0 / free)).floor() as u64;
            let before = small.len();
            for &i in &nav {
                if !small.contains(&i) && shape[i] < each {
                    small.push(i);
                }
            }
            if small.len() == before || small.len() == nav.len() {
                break;
            }
        }
        (0..shape.len())
            .map(|i| {
                if signal[i] || small.contains(&i) {
                    shape[i]
                } else {
                    each
                }
            })
            .collect()
    };
    for c in &mut chunk {
        *c = (*c).max(1);
    }
    let bytes = |c: &[u64]| {
        element_count(c)
            .unwrap_or(u64::MAX)
            .saturating_mul(elem_size)
    };
    while bytes(&chunk) > MAX_CHUNK_BYTES {
        let Some(k) = chunk.iter().position(|&c| c > 1) else {
            break;
        };
        chunk[k] = chunk[k].div_ceil(2);
    }
    chunk
}

/// The chunk shape to write: `requested` (the `chunks` option) if given (validated), else
/// rsciio's.
fn chunk_shape(ds: &Dataset, requested: Option<&[i64]>) -> Result<Vec<u64>> {
    let shape = ds.shape();
    match requested {
        Some(req) => {
            if req.len() != shape.len() || req.iter().any(|&c| c < 1) {
                return Err(Error::invalid_option(
                    "chunks",
                    format!(
                        "{req:?}: give {} positive sizes (the dataset's shape is {shape:?})",
                        shape.len()
                    ),
                ));
            }
            Ok(req
                .iter()
                .zip(shape)
                .map(|(&c, &n)| (c as u64).min(n.max(1)))
                .collect())
        }
        // A ragged signal's elements are variable-length references.
        None if ds.ragged().is_some() => Ok(signal_chunks(
            shape,
            &vec![false; shape.len()],
            crate::ragged::REF_BYTES,
            TARGET_CHUNK_BYTES,
        )),
        None => {
            let signal: Vec<bool> = ds.axes.iter().map(|a| !a.navigate).collect();
            Ok(signal_chunks(
                shape,
                &signal,
                ds.dtype().size() as u64,
                TARGET_CHUNK_BYTES,
            ))
        }
    }
}

/// The compression chosen by the options.
fn compression(options: &WriteOptions) -> Compression {
    match options.compression {
        Codec::None => Compression::None,
        Codec::Lzf => Compression::Lzf,
        Codec::Gzip => Compression::Gzip(options.compression_opts.clamp(0, 9) as u32),
    }
}

/// The group name of a signal: its title (`/` replaced, as rsciio does) or `__unnamed__`.
fn group_name(title: &str) -> String {
    if title.is_empty() {
        "__unnamed__".into()
    } else {
        title.replace('/', "-")
    }
}

/// Write `ds` as a HyperSpy HDF5 file at `path`: one `Experiments/<title>` group for it and
/// one for each dataset derived from it (HyperSpy loads them as a list).
pub fn write(request: &WriteRequest) -> Result<()> {
    let (ds, path, progress) = (request.dataset, request.path, request.progress);
    let options = request.typed::<WriteOptions>()?;
    let signals = Signals::of(ds, group_name);
    for (signal, _) in signals.iter() {
        if signal.ndim() == 0 {
            return Err(Error::unsupported(
                "hspy",
                "writing a 0-dimensional dataset",
            ));
        }
    }
    let progress = Combined::new(progress, signals.nbytes());
    let mut w = H5Writer::create(path)?;
    let mut root = Tree::new();
    root.insert("file_format".into(), "HyperSpy".into());
    root.insert("file_format_version".into(), FILE_FORMAT_VERSION.into());
    H5Sink(&mut w).group("/", &root)?;
    // Derived datasets get rsciio's chunks.
    let requested = options.chunks.as_ref().map(|c| &c.0[..]);
    for (signal, name, requested) in signals.with_chunks(requested) {
        let chunk = chunk_shape(signal, requested)?;
        let group = format!("/Experiments/{name}");
        write_signal(&mut w, signal, &group, &chunk, &options, &progress)?;
    }
    w.finish()
}

/// Write `ds` as the signal group `group`: its data (unless `write_dataset` is false), axes,
/// metadata and the empty groups HyperSpy expects.
fn write_signal(
    w: &mut H5Writer,
    ds: &Dataset,
    group: &str,
    chunk: &[u64],
    options: &WriteOptions,
    progress: &dyn Progress,
) -> Result<()> {
    // Variable-length strings, as h5py writes them: rsciio hands these two to HyperSpy
    // undecoded, and HyperSpy imports the package by that name (a fixed-length string
    // reads as bytes).
    let package = package_attrs(ds.signal_package.as_ref())
        .into_iter()
        .map(|(key, value)| (key, Attr::VarStr(value.as_str().unwrap_or("").to_string())))
        .collect();
    w.create_group(group, package)?;
    let mut attributes = Tree::new();
    match ds.ragged() {
        Some(items) => {
            if options.write_dataset {
                crate::ragged::write(w, group, items.as_ref(), chunk, compression(options))?;
            }
            attributes.insert("ragged".into(), true.into());
        }
        None if !options.write_dataset => {}
        None => write_data(
            w,
            ds,
            &join(group, "data"),
            chunk,
            compression(options),
            progress,
        )?,
    }
    for (i, (axis, &n)) in ds.axes.iter().zip(ds.shape()).enumerate() {
        let node = join(group, &format!("axis-{i}"));
        let (attrs, values) = axis_dict(axis, n);
        let mut sink = H5Sink(w);
        sink.group(&node, &attrs)?;
        if let Some(values) = values {
            sink.list(&join(&node, "axis"), &ListArray::Floats(values.to_vec()))?;
        }
    }
    let mut sink = H5Sink(w);
    dict2group(&mut sink, &join(group, "metadata"), &ds.metadata)?;
    dict2group(
        &mut sink,
        &join(group, "original_metadata"),
        &ds.original_metadata,
    )?;
    let mut arrays = Vec::new();
    learning::write(&mut sink, group, ds, |node, array| {
        arrays.push((node.to_string(), array));
        Ok(())
    })?;
    sink.group(&join(group, "attributes"), &attributes)?;
    models::write(&mut sink, group, ds)?;
    for (node, array) in arrays {
        write_learning_array(w, &node, array, progress)?;
    }
    Ok(())
}

/// Write one array of the learning results as the contiguous dataset `node`, region by
/// region at their places (h5py reads it as HyperSpy wrote it).
fn write_learning_array(
    w: &mut H5Writer,
    node: &str,
    array: &Dataset,
    progress: &dyn Progress,
) -> Result<()> {
    w.write_placed(node, array.dtype(), array.shape(), &[], |file, path, at| {
        COrderFile::new(file, path, at, array.shape()).write(array, ByteOrder::NATIVE, progress)
    })
}

/// Write the signal's array as the chunked dataset `node` (axes stored as they are):
/// chunks are read, padded and encoded in parallel by core's write pipeline, and appended
/// in the grid's order.
fn write_data(
    w: &mut H5Writer,
    ds: &Dataset,
    node: &str,
    chunk: &[u64],
    compression: Compression,
    progress: &dyn Progress,
) -> Result<()> {
    let order: Vec<usize> = (0..ds.ndim()).collect();
    w.write_chunked(node, ds, chunk, &order, compression, &[], progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_rsciio() {
        // Values from rsciio.\_hierarchical.get_signal_chunks.
        assert_eq!(
            signal_chunks(&[10, 20, 100], &[false, false, true], 8, 1_000_000),
            vec![10, 20, 100]
        );
        assert_eq!(
            signal_chunks(&[100, 200, 1000], &[false, false, true], 8, 1_000_000),
            vec![11, 11, 1000]
        );
        assert_eq!(
            signal_chunks(&[3, 200, 1000], &[false, false, true], 8, 1_000_000),
            vec![3, 41, 1000]
        );
        assert_eq!(
            signal_chunks(&[4, 512, 512], &[false, true, true], 8, 1_000_000),
            vec![1, 512, 512]
        );
        assert_eq!(
            signal_chunks(&[64, 64], &[true, true], 2, 1_000_000),
            vec![64, 64]
        );
    }
}
