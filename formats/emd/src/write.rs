//! NCEM EMD v0.2 writer: the layout rsciio and ncempy read.
//!
//! ```text
//! /                      version_major=0, version_minor=2
//! /microscope, /sample, /user, /comments   metadata groups (attributes)
//! /signals               emd_group_type=1
//! /signals/<title>       emd_group_type=1, signal_type, ... (one group for the dataset and
//!                        one for each dataset derived from it)
//!     data               the array, stored transposed (NCEM's dim1 is HyperSpy's last axis)
//!     dim1 .. dimN       coordinate vectors with `name` and `units` ("[n_m]") attributes
//! ```
//!
//! The data goes through core's write pipeline chunk by chunk (chunks span whole signals
//! and grow along the navigation axes), optionally shuffle+gzip compressed on its workers;
//! memory stays bounded by its pool of chunks.

use emio_core::metadata::{get_path, Tree};
use emio_core::options::IntList;
use emio_core::serde_json::{self, Value};
use emio_core::signals::{Combined, Signals};
use emio_core::source::element_count;
use emio_core::{AxisKind, DType, Dataset, Error, Progress, Result, WriteRequest};

use emio_h5::writer::{Attr, Compression, H5Writer};

emio_core::options! {
    /// Options of the NCEM EMD writer.
    pub struct WriteOptions {
        /// chunk compression (gzip = shuffle + deflate, as h5py's)
        compression: Codec = Some("none"),
        /// gzip level 0-9
        compression_opts: i64 = Some("4"),
        /// chunk shape in the dataset's axis order (default: one signal per chunk, ~1 MiB)
        chunks: Option<IntList> = None,
    }
}

emio_core::option_choice! {
    /// Chunk compression of the NCEM EMD writer.
    pub enum Codec {
        None = "none": "chunks stored as they are",
        Gzip = "gzip": "byte shuffle and deflate, as h5py's",
    }
}

/// Target size of one chunk.
const CHUNK_BYTES: u64 = 1 << 20;
/// Largest chunk (when one signal is bigger, it is split too).
const MAX_CHUNK_BYTES: u64 = 16 << 20;

/// Default chunk shape in the dataset's axis order: whole signals, navigation axes grown
/// from the fastest until about `CHUNK_BYTES` (1 MiB).
pub fn default_chunks(ds: &Dataset) -> Vec<u64> {
    let shape = ds.shape();
    let es = ds.dtype().size() as u64;
    let mut chunk: Vec<u64> = shape
        .iter()
        .zip(&ds.axes)
        .map(|(&n, a)| if a.navigate { 1 } else { n.max(1) })
        .collect();
    let bytes = |c: &[u64]| element_count(c).unwrap_or(u64::MAX).saturating_mul(es);
    // Split oversized signals along their slowest axis.
    while bytes(&chunk) > MAX_CHUNK_BYTES {
        let Some(k) = (0..chunk.len()).find(|&k| chunk[k] > 1) else {
            break;
        };
        chunk[k] = chunk[k].div_ceil(2);
    }
    for k in (0..chunk.len()).rev() {
        if !ds.axes[k].navigate {
            continue;
        }
        while chunk[k] < shape[k] && bytes(&chunk) * 2 <= CHUNK_BYTES {
            chunk[k] = (chunk[k] * 2).min(shape[k]);
        }
    }
    chunk
}

fn units_attr(units: &str) -> String {
    if units.is_empty() {
        String::new()
    } else {
        let chars: Vec<String> = units.chars().map(String::from).collect();
        format!("[{}]", chars.join("_"))
    }
}

fn json_attr(v: &Value) -> Option<Attr> {
    match v {
        Value::String(s) => Some(Attr::Str(s.clone())),
        Value::Bool(b) => Some(Attr::Bool(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Attr::Int(i),
            None => Attr::Float(n.as_f64()?),
        }),
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_number) => {
            Some(if a.iter().all(|x| x.as_i64().is_some()) {
                Attr::Ints(a.iter().filter_map(Value::as_i64).collect())
            } else {
                Attr::Floats(a.iter().filter_map(Value::as_f64).collect())
            })
        }
        _ => None,
    }
}

fn group_attrs(tree: Option<&Value>) -> Vec<(String, Attr)> {
    tree.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| json_attr(v).map(|a| (k.clone(), a)))
                .collect()
        })
        .unwrap_or_default()
}

/// The metadata groups: the file's own NCEM groups when it came from one, plus emio's
/// normalized values in `microscope` and the whole normalized tree as JSON in `comments`.
fn metadata_groups(ds: &Dataset) -> Vec<(&'static str, Vec<(String, Attr)>)> {
    let om = &ds.original_metadata;
    let md: &Tree = &ds.metadata;
    let mut microscope = group_attrs(om.get("microscope"));
    for (key, path) in [
        ("beam_energy", "Acquisition_instrument.TEM.beam_energy"),
        ("magnification", "Acquisition_instrument.TEM.magnification"),
        ("camera_length", "Acquisition_instrument.TEM.camera_length"),
        ("microscope", "Acquisition_instrument.TEM.microscope"),
    ] {
        if let Some(a) = get_path(md, path).and_then(json_attr) {
            if !microscope.iter().any(|(k, _)| k == key) {
                microscope.push((key.into(), a));
            }
        }
    }
    let mut comments = group_attrs(om.get("comments"));
    let json = serde_json::to_string(md).unwrap_or_default();
    if json.len() < 60_000 {
        comments.push(("emio_metadata".into(), Attr::Str(json)));
    }
    vec![
        ("microscope", microscope),
        ("sample", group_attrs(om.get("sample"))),
        ("user", group_attrs(om.get("user"))),
        ("comments", comments),
    ]
}

/// The chunk shape of `ds`: `requested` (the `chunks` option) if given (validated), else
/// the default.
fn chunk_shape(ds: &Dataset, requested: Option<&[i64]>) -> Result<Vec<u64>> {
    let rank = ds.ndim();
    Ok(match requested {
        Some(c) => {
            if c.len() != rank || c.iter().any(|&v| v < 1) {
                return Err(Error::invalid_option(
                    "chunks",
                    format!("needs {rank} positive sizes"),
                ));
            }
            c.iter()
                .zip(ds.shape())
                .map(|(&v, &n)| (v as u64).min(n.max(1)))
                .collect()
        }
        None => default_chunks(ds),
    })
}

/// Write `ds` as an NCEM EMD v0.2 file: one `signals/<title>` group for it and one for
/// each dataset derived from it.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (ds, path, progress) = (request.dataset, request.path, request.progress);
    let signals = Signals::of(ds, |title| match title {
        "" => "__unnamed__".to_string(),
        t => t.replace(['/', '.'], "_"),
    });
    if signals.iter().any(|(d, _)| d.ndim() == 0) {
        return Err(Error::unsupported("emd", "writing a 0-dimensional dataset"));
    }
    let options = request.typed::<WriteOptions>()?;
    let compression = match options.compression {
        Codec::Gzip => Compression::Gzip(options.compression_opts.clamp(0, 9) as u32),
        Codec::None => Compression::None,
    };
    let mut w = H5Writer::create(path)?;
    w.create_group(
        "",
        vec![
            ("version_major".into(), Attr::Int(0)),
            ("version_minor".into(), Attr::Int(2)),
        ],
    )?;
    for (name, attrs) in metadata_groups(ds) {
        w.create_group(name, attrs)?;
    }
    w.create_group("signals", vec![("emd_group_type".into(), Attr::Int(1))])?;
    let progress = Combined::new(progress, signals.nbytes());
    let requested = options.chunks.as_ref().map(|c| &c.0[..]);
    for (signal, name, requested) in signals.with_chunks(requested) {
        let chunk = chunk_shape(signal, requested)?;
        write_signal(
            &mut w,
            signal,
            &format!("signals/{name}"),
            &chunk,
            compression,
            &progress,
        )?;
    }
    w.finish()
}

/// Write `ds` as the signal group `group`: its attributes, its data (stored transposed)
/// and one `dim<k>` dataset per axis.
fn write_signal(
    w: &mut H5Writer,
    ds: &Dataset,
    group: &str,
    chunk: &[u64],
    compression: Compression,
    progress: &dyn Progress,
) -> Result<()> {
    let rank = ds.ndim();
    let mut gattrs = vec![("emd_group_type".to_string(), Attr::Int(1))];
    if let Some(Value::Object(signal)) = ds.metadata.get("Signal") {
        gattrs.extend(
            signal
                .iter()
                .filter_map(|(k, v)| json_attr(v).map(|a| (k.clone(), a))),
        );
    }
    w.create_group(group, gattrs)?;

    // Stored transposed: HDF5 dim j is the dataset's axis rank-1-j.
    let reversed: Vec<usize> = (0..rank).rev().collect();
    w.write_chunked(
        &format!("{group}/data"),
        ds,
        chunk,
        &reversed,
        compression,
        &[],
        progress,
    )?;
    let shape = ds.shape();
    for (i, (axis, &n)) in ds.axes.iter().zip(shape).enumerate() {
        let values: Vec<f64> = match &axis.kind {
            AxisKind::Values(v) => v.clone(),
            AxisKind::Uniform { scale, offset } => {
                let count = n.max(2);
                (0..count).map(|k| offset + scale * k as f64).collect()
            }
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        w.write_dataset(
            &format!("{group}/dim{}", rank - i),
            DType::F64,
            &[values.len() as u64],
            &bytes,
            &[
                ("name".into(), Attr::Str(axis.name.clone())),
                ("units".into(), Attr::Str(units_attr(&axis.units))),
                ("emio_navigate".into(), Attr::Int(i64::from(axis.navigate))),
            ],
        )?;
    }
    Ok(())
}
