//! Writing: the `.rpl` description (rsciio's keys, sorted, one `key<TAB>value` per line)
//! and the `.raw` values in the chosen byte order, each region written at its place
//! through core's pipeline.

use std::fs::File;

use emio_core::metadata::{get_path, get_str, value_f64};
use emio_core::positioned::COrderFile;
use emio_core::{AxisKind, ByteOrder, DType, Dataset, Error, Result, WriteRequest};

use crate::{RawByteOrder, FORMAT};

emio_core::options! {
    /// Options of the Ripple writer.
    pub struct WriteOptions {
        /// byte order of multi-byte values in the .raw
        byte_order: RawByteOrder = Some("little-endian"),
    }
}

/// A value as Python's `str()` would print it for a float (`100.0`, `0.5`).
fn float_text(v: f64) -> String {
    format!("{v:?}")
}

/// Text safe in a `.rpl` value: no tab, line break or `;` (which starts a comment).
fn clean(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ").replace(';', ",")
}

/// `.rpl` keys (data-type, data-length) of a dtype.
fn type_keys(dtype: DType) -> Option<(&'static str, usize)> {
    Some(match dtype {
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => ("signed", dtype.size()),
        DType::U8 | DType::U16 | DType::U32 | DType::U64 => ("unsigned", dtype.size()),
        DType::F32 | DType::F64 => ("float", dtype.size()),
        _ => return None,
    })
}

/// The record-by mode and, for each of `depth`, `height`, `width`, the array dimension
/// holding it (`None`: size 1). Chosen on the dimensions longer than one (a `vector` or
/// `image` needs a depth above one; unit dimensions do not change the stored bytes).
fn layout(dataset: &Dataset) -> Result<(&'static str, [Option<usize>; 3])> {
    let kept: Vec<usize> = (0..dataset.ndim())
        .filter(|&d| dataset.shape()[d] > 1)
        .collect();
    let nav: Vec<bool> = kept.iter().map(|&d| dataset.axes[d].navigate).collect();
    let at = |i: usize| Some(kept[i]);
    Ok(match nav.as_slice() {
        [] => ("dont-care", [None, None, None]),
        [_] => ("vector", [at(0), None, None]),
        [true, false] => ("vector", [at(1), None, at(0)]),
        [_, _] => ("dont-care", [None, at(0), at(1)]),
        [true, true, false] => ("vector", [at(2), at(0), at(1)]),
        [_, _, _] => ("image", [at(0), at(1), at(2)]),
        _ => {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "Ripple holds up to 3 dimensions longer than one; got shape {:?}",
                    dataset.shape()
                ),
            ))
        }
    })
}

/// rsciio's instrument keys for EELS and EDS signals.
fn instrument_keys(dataset: &Dataset, signal: &str, keys: &mut Vec<(String, String)>) {
    let md = &dataset.metadata;
    let mut add = |key: &str, path: &str| {
        if let Some(v) = get_path(md, path).and_then(value_f64) {
            keys.push((key.into(), float_text(v)));
        }
    };
    if signal == "EELS" {
        let tem = "Acquisition_instrument.TEM";
        add("beam-energy", &format!("{tem}.beam_energy"));
        add("convergence-angle", &format!("{tem}.convergence_angle"));
        add(
            "collection-angle",
            &format!("{tem}.Detector.EELS.collection_angle"),
        );
    } else if signal.contains("EDS") {
        let mic = if signal == "EDS_SEM" {
            "Acquisition_instrument.SEM"
        } else {
            "Acquisition_instrument.TEM"
        };
        add("beam-energy", &format!("{mic}.beam_energy"));
        add(
            "elevation-angle",
            &format!("{mic}.Detector.EDS.elevation_angle"),
        );
        add("tilt-stage", &format!("{mic}.Stage.tilt_alpha"));
        add(
            "azimuth-angle",
            &format!("{mic}.Detector.EDS.azimuth_angle"),
        );
        add("live-time", &format!("{mic}.Detector.EDS.live_time"));
        add(
            "detector-peak-width-ev",
            &format!("{mic}.Detector.EDS.energy_resolution_MnKa"),
        );
    }
}

/// The `.rpl` text for `dataset` stored as `record_by` in `order`.
fn description(
    dataset: &Dataset,
    record_by: &str,
    dims: [Option<usize>; 3],
    order: ByteOrder,
) -> Result<String> {
    let dtype = dataset.dtype();
    let (data_type, length) = type_keys(dtype).ok_or_else(|| {
        Error::unsupported(
            FORMAT,
            format!("{dtype} data (Ripple holds integers of 1-8 bytes and float32/64)"),
        )
    })?;
    let byte_order = match (length, order) {
        (1, _) => "dont-care",
        (_, ByteOrder::Big) => "big-endian",
        _ => "little-endian",
    };
    let shape = dataset.shape();
    let size = |d: Option<usize>| d.map_or(1, |d| shape[d]);
    let text_of = |path: &str| clean(get_str(&dataset.metadata, path).unwrap_or_default());
    let signal = text_of("Signal.signal_type");
    let mut keys: Vec<(String, String)> = vec![
        ("depth".into(), size(dims[0]).to_string()),
        ("height".into(), size(dims[1]).to_string()),
        ("width".into(), size(dims[2]).to_string()),
        ("offset".into(), "0".into()),
        ("data-type".into(), data_type.into()),
        ("data-length".into(), length.to_string()),
        ("byte-order".into(), byte_order.into()),
        ("record-by".into(), record_by.into()),
        ("signal".into(), signal.clone()),
        ("date".into(), text_of("General.date")),
        ("time".into(), text_of("General.time")),
        ("title".into(), text_of("General.title")),
    ];
    for (name, dim) in ["depth", "height", "width"].iter().zip(dims) {
        let Some(d) = dim.filter(|&d| shape[d] > 1) else {
            continue;
        };
        let axis = &dataset.axes[d];
        let AxisKind::Uniform { scale, offset } = axis.kind else {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "the non-uniform axis {:?} (Ripple holds scale and origin)",
                    axis.name
                ),
            ));
        };
        if *name == "depth" && record_by == "vector" {
            keys.push(("ev-per-chan".into(), (scale.round() as i64).to_string()));
        }
        keys.push((format!("{name}-scale"), float_text(scale)));
        keys.push((format!("{name}-origin"), float_text(offset)));
        keys.push((format!("{name}-units"), clean(&axis.units)));
        keys.push((format!("{name}-name"), clean(&axis.name)));
    }
    instrument_keys(dataset, &signal, &mut keys);
    keys.sort();
    let mut text = format!(
        ";File created by emio version {}\nkey\tvalue\n",
        env!("CARGO_PKG_VERSION")
    );
    for (key, value) in keys {
        text += &format!("{key}\t{value}\n");
    }
    Ok(text)
}

/// Write `dataset` as `path` (`.rpl`) and the `.raw` beside it.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (dataset, path, progress) = (request.dataset, request.path, request.progress);
    let order = match request.typed::<WriteOptions>()?.byte_order {
        RawByteOrder::BigEndian => ByteOrder::Big,
        RawByteOrder::LittleEndian => ByteOrder::Little,
    };
    let (record_by, dims) = layout(dataset)?;
    let rpl = description(dataset, record_by, dims, order)?;
    // Latin-1, as rsciio writes (characters beyond it are dropped, as its errors="ignore").
    let bytes: Vec<u8> = rpl
        .chars()
        .filter_map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))?;

    let raw = path.with_extension("raw");
    let io = |e| Error::io(&raw, e);
    let file = File::create(&raw).map_err(io)?;
    COrderFile::new(&file, &raw, 0, dataset.shape()).write(dataset, order, progress)?;
    file.sync_all().map_err(io)
}
