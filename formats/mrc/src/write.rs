//! The MRC2014 writer: writes the dataset region by region at each region's place
//! (`WritePlan::positioned`), converting to the chosen mode and byte order while
//! accumulating the header statistics (min, max, mean, RMS deviation), then writes the
//! header again with them. Voxel size and origin come from the axes, labels from options
//! and the source file, and an FEI2 extended header from per-frame FEI metadata when
//! present.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Mutex;

use emio_core::metadata::{get_f64, get_path};
use emio_core::plan::WritePlan;
use emio_core::positioned::{write_all_at, COrderFile};
use emio_core::{Axis, ByteOrder, DType, Dataset, Error, Result, WriteRequest};
use half::f16;
use serde_json::{Map, Value};

use crate::exthdr;
use crate::header::{Header, Mode};
use crate::stats::{real_values, Stats};

emio_core::option_choice! {
    /// The MRC mode written (the writer's `mode` option).
    pub enum WriteMode {
        Auto = "auto": "from the dtype",
        M0 = "0": "int8",
        M1 = "1": "int16",
        M2 = "2": "float32",
        M3 = "3": "complex int16",
        M4 = "4": "complex64",
        M6 = "6": "uint16",
        M12 = "12": "float16",
    }
}

emio_core::option_choice! {
    /// The byte order the MRC writer writes (its `endianness` option).
    pub enum WriteEndianness {
        Little = "<": "little-endian",
        Big = ">": "big-endian",
    }
}

emio_core::option_choice! {
    /// Whether the MRC writer writes an FEI2 extended header (its `extended_header` option).
    pub enum ExtendedHeader {
        Auto = "auto": "when per-frame FEI metadata exists",
        None = "none": "never",
        Fei2 = "fei2": "always, also from normalized metadata",
    }
}

emio_core::options! {
    /// Options of the MRC writer.
    pub struct WriteOptions {
        /// MRC mode (data type of the file)
        mode: WriteMode = Some("auto"),
        /// byte order of the file
        endianness: WriteEndianness = Some("<"),
        /// space group: 0 image stack, 1 volume, 401 volume stack (default: from the axes)
        ispg: Option<i64> = None,
        /// header labels to add, separated by |
        labels: Option<String> = None,
        /// FEI2 extended header (per-frame metadata)
        extended_header: ExtendedHeader = Some("auto"),
    }
}

/// The mode `dtype` is written as by default: only modes that hold every value exactly
/// (u8 widens to uint16). Types no mode holds exactly are refused, naming the explicit
/// `mode` that converts them with precision loss, so no output is silently wrong.
fn default_mode(dtype: DType) -> Result<Mode> {
    Ok(match dtype {
        DType::Bool | DType::I8 => Mode::Byte { signed: true },
        DType::I16 => Mode::Int16,
        DType::U8 | DType::U16 => Mode::Uint16,
        DType::F16 => Mode::Float16,
        DType::F32 => Mode::Float32,
        DType::C64 => Mode::Complex64,
        DType::F64 | DType::I32 | DType::U32 | DType::I64 | DType::U64 => {
            return Err(Error::unsupported(
                "mrc",
                format!("no MRC mode holds {dtype} values exactly; set the writer option mode=2 to store them as float32 (rounding)"),
            ))
        }
        DType::C128 => {
            return Err(Error::unsupported(
                "mrc",
                "no MRC mode holds complex128 values exactly; set the writer option mode=4 to store them as complex64 (rounding)",
            ))
        }
        other => {
            return Err(Error::unsupported(
                "mrc",
                format!("writing {other} data (MRC holds scalar or complex values)"),
            ))
        }
    })
}

/// Length units to Ångström.
fn angstrom_per_unit(units: &str) -> Option<f64> {
    emio_core::units::ratio(units.trim(), "\u{c5}", emio_core::units::Quantity::Length)
}

/// Scale and offset of an axis in Å, when it is a uniform length axis.
fn axis_angstrom(axis: &Axis) -> Option<(f64, f64)> {
    let (scale, offset) = axis.scale_offset()?;
    let k = angstrom_per_unit(&axis.units)?;
    Some((scale * k, offset * k))
}

/// Whether two axes share a length unit (a third spatial dimension).
fn same_length_units(a: &Axis, b: &Axis) -> bool {
    !a.units.is_empty() && a.units == b.units && angstrom_per_unit(&a.units).is_some()
}

/// How the dataset's dimensions map onto the MRC header.
struct Shape {
    nx: u64,
    ny: u64,
    nz: u64,
    mz: u64,
    ispg: i32,
}

/// 1-D and 2-D data are one image; 3-D data a volume when its first axis is a length axis
/// like the image axes (and a signal axis or named `z`), else an image stack; 4-D data a
/// volume stack; higher dimensions an image stack of all leading indices. A file read by
/// emio keeps its space group; the `ispg` option overrides.
fn mrc_shape(ds: &Dataset, ispg_option: Option<i64>) -> Result<Shape> {
    let s = ds.shape();
    let a = &ds.axes;
    let n = s.len();
    let (nx, ny) = match n {
        0 => (1, 1),
        1 => (s[0], 1),
        _ => (s[n - 1], s[n - 2]),
    };
    let lead: u64 = s[..n.saturating_sub(2)].iter().product();
    let mut shape = Shape {
        nx,
        ny,
        nz: lead,
        mz: 1,
        ispg: 0,
    };
    match n {
        3 if same_length_units(&a[0], &a[1]) && !a[0].navigate => {
            shape.ispg = 1;
            shape.mz = s[0];
        }
        3 if same_length_units(&a[0], &a[1]) && a[0].name == "z" => {
            shape.ispg = 1;
            shape.mz = s[0];
        }
        // 4-D data keeps its shape as a volume stack (also 4D-STEM: navigation y, x).
        4 => {
            shape.ispg = 401;
            shape.mz = s[1];
        }
        _ => {}
    }
    // A file read by emio keeps its space group when it still fits.
    let original = get_path(&ds.original_metadata, "mrc_header.ispg")
        .and_then(Value::as_i64)
        .filter(|&g| matches!((g, n), (0, _) | (1, 3) | (401..=630, 4)));
    if let Some(ispg) = ispg_option.or(original) {
        let ispg = i32::try_from(ispg)
            .map_err(|_| Error::invalid_option("ispg", format!("{ispg} is out of range")))?;
        match ispg {
            0 => shape.mz = 1,
            1 if n == 3 => shape.mz = s[0],
            401..=630 if n == 4 => shape.mz = s[1],
            _ => {
                return Err(Error::invalid_option(
                    "ispg",
                    format!("{ispg} does not fit {n}-dimensional data (0 stack, 1 volume, 401-630 volume stack)"),
                ))
            }
        }
        shape.ispg = ispg;
    }
    for (name, v) in [("nx", shape.nx), ("ny", shape.ny), ("nz", shape.nz)] {
        if v > i32::MAX as u64 {
            return Err(Error::unsupported(
                "mrc",
                format!("{name} = {v} exceeds the MRC header's 32-bit range"),
            ));
        }
    }
    Ok(shape)
}

fn clamp_round(v: f64, lo: f64, hi: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.round().clamp(lo, hi)
    }
}

/// Encode real (or interleaved complex) values as `mode` in `order`, appending to `out`;
/// returns the stored values as f64 (for statistics) for real modes.
fn encode(values: &[f64], mode: Mode, order: ByteOrder, out: &mut Vec<u8>) -> Vec<f64> {
    let big = order == ByteOrder::Big;
    macro_rules! put {
        ($v:expr) => {{
            let v = $v;
            out.extend_from_slice(&if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }};
    }
    let mut stored = Vec::with_capacity(values.len());
    for &v in values {
        let s = match mode {
            Mode::Byte { .. } | Mode::Packed4 | Mode::Rgb8 => {
                let q = clamp_round(v, -128.0, 127.0);
                out.push(q as i8 as u8);
                q
            }
            Mode::Int16 | Mode::ComplexInt16 => {
                let q = clamp_round(v, -32768.0, 32767.0);
                put!(q as i16);
                q
            }
            Mode::Uint16 => {
                let q = clamp_round(v, 0.0, 65535.0);
                put!(q as u16);
                q
            }
            Mode::Float32 | Mode::Complex64 => {
                let q = v as f32;
                put!(q);
                f64::from(q)
            }
            Mode::Float16 => {
                let q = f16::from_f64(v);
                put!(q);
                q.to_f64()
            }
        };
        stored.push(s);
    }
    stored
}

/// The FEI table to write, if any: per-frame FEI metadata from a file read by emio, or
/// (when asked for) records built from the normalized metadata.
fn fei_table(ds: &Dataset, choice: &str) -> Option<Map<String, Value>> {
    if choice == "none" {
        return None;
    }
    if let Some(Value::Object(t)) = ds.original_metadata.get("fei_header") {
        return Some(t.clone());
    }
    if choice != "fei2" {
        return None;
    }
    let md = &ds.metadata;
    let tem = "Acquisition_instrument.TEM";
    let mut t = Map::new();
    let mut put = |field: &str, v: Option<f64>| {
        if let Some(v) = v {
            t.insert(field.to_string(), v.into());
        }
    };
    put(
        "HT",
        get_f64(md, &format!("{tem}.beam_energy")).map(|kv| kv * 1000.0),
    );
    put(
        "Magnification",
        get_f64(md, &format!("{tem}.magnification")),
    );
    put(
        "Camera length",
        get_f64(md, &format!("{tem}.camera_length")).map(|mm| mm / 1000.0),
    );
    put(
        "Integration time",
        get_f64(md, &format!("{tem}.Detector.Camera.exposure")),
    );
    put(
        "Alpha tilt",
        get_f64(md, &format!("{tem}.Stage.tilt_alpha")),
    );
    put("Beta tilt", get_f64(md, &format!("{tem}.Stage.tilt_beta")));
    for (key, field) in [("x", "X-Stage"), ("y", "Y-Stage"), ("z", "Z-Stage")] {
        put(
            field,
            get_f64(md, &format!("{tem}.Stage.{key}")).map(|mm| mm / 1000.0),
        );
    }
    if let Some(Value::String(m)) = get_path(md, &format!("{tem}.microscope")) {
        t.insert("Microscope type".into(), m.clone().into());
    }
    t.insert("Application".into(), "emio".into());
    Some(t)
}

/// Header labels: the caller's, then the source file's (less an earlier shape label), then
/// emio's own, and the shape label when the header cannot hold the dataset's shape.
fn labels(ds: &Dataset, option: Option<&str>, shape_label: Option<String>) -> Vec<String> {
    let mut out: Vec<String> = option
        .map(|s| s.split('|').map(|l| l.trim().to_string()).collect())
        .unwrap_or_default();
    if let Some(Value::Array(old)) = get_path(&ds.original_metadata, "mrc_header.labels") {
        out.extend(
            old.iter()
                .filter_map(Value::as_str)
                .filter(|l| crate::header::shape_label(l).is_none())
                .map(str::to_string),
        );
    }
    out.push(format!(
        "emio {}: written {}",
        env!("CARGO_PKG_VERSION"),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
    ));
    // The shape label is kept whatever else is cut: emio reads the shape back from it.
    let shape_label_kept = shape_label.is_some();
    out.extend(shape_label);
    let mut out: Vec<String> = out
        .into_iter()
        .map(|l| {
            l.chars()
                .filter(|c| c.is_ascii() && !c.is_ascii_control())
                .take(80)
                .collect::<String>()
        })
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    // Keep the most recent labels (emio's, and the shape label) when there are too many.
    let keep = 1 + usize::from(shape_label_kept);
    if out.len() > 10 {
        let last = out.split_off(out.len() - keep);
        out.truncate(10 - keep);
        out.extend(last);
    }
    out
}

/// Write `dataset` as an MRC2014 file at `path`.
pub fn write(request: &WriteRequest) -> Result<()> {
    let (dataset, path, progress) = (request.dataset, request.path, request.progress);
    let options = request.typed::<WriteOptions>()?;
    let dtype = dataset.dtype();
    let mode = match options.mode {
        WriteMode::Auto => default_mode(dtype)?,
        m => Mode::from_number(m.word().parse().unwrap_or(-1))
            .ok_or_else(|| Error::invalid_option("mode", format!("{m} is not a writable mode")))?,
    };
    if dtype.is_rgb() {
        return Err(Error::unsupported("mrc", format!("writing {dtype} data")));
    }
    let complex_out = matches!(mode, Mode::Complex64 | Mode::ComplexInt16);
    if dtype.is_complex() && !complex_out {
        return Err(Error::invalid_option(
            "mode",
            format!("{dtype} data needs a complex mode (3 or 4)"),
        ));
    }
    let order = match options.endianness {
        WriteEndianness::Big => ByteOrder::Big,
        WriteEndianness::Little => ByteOrder::Little,
    };
    let shape = mrc_shape(dataset, options.ispg)?;
    let mut h = Header::new(
        mode,
        shape.nx as i32,
        shape.ny as i32,
        shape.nz as i32,
        order,
    );
    h.ispg = shape.ispg;
    h.mxyz = [shape.nx as i32, shape.ny as i32, shape.mz as i32];
    // Calibration from the axes: X last, Y second last, Z the section axis.
    let n = dataset.ndim();
    let axes = &dataset.axes;
    let xyz: [Option<&Axis>; 3] = [
        n.checked_sub(1).map(|i| &axes[i]),
        n.checked_sub(2).map(|i| &axes[i]),
        match shape.ispg {
            401..=630 => axes.get(1),
            _ if n >= 3 => axes.get(n - 3),
            _ => None,
        },
    ];
    for (k, axis) in xyz.iter().enumerate() {
        if let Some((scale, offset)) = axis.and_then(axis_angstrom) {
            let m = f64::from(h.mxyz[k]);
            if scale.is_finite() && scale > 0.0 {
                h.cella[k] = (scale * m) as f32;
            }
            if offset.is_finite() {
                h.origin[k] = offset as f32;
            }
        }
    }
    // Dimensions beyond what the header describes (more than one navigation dimension in
    // an image stack, or any 4-D data, which only emio and mrcfile read as a volume stack)
    // are recorded in a label that emio reads the shape back from.
    let shape_label = (n >= 4).then(|| {
        let dims = dataset.shape();
        progress.note(&format!(
            "mrc: the {n}-D shape {dims:?} is stored as {} MRC sections of {}x{} (a label \
             records the shape: emio reads it back, other readers see a stack)",
            shape.nz, shape.ny, shape.nx
        ));
        crate::header::format_shape_label(dims)
    });
    let labels = labels(dataset, options.labels.as_deref(), shape_label);
    h.nlabl = labels.len() as i32;
    for (slot, l) in h.labels.iter_mut().zip(labels) {
        *slot = l;
    }
    let ext = fei_table(dataset, options.extended_header.word())
        .map(|t| exthdr::encode_fei2(&t, shape.nz as usize, order))
        .unwrap_or_default();
    if !ext.is_empty() {
        h.exttyp = exthdr::fei2_exttyp();
        h.nsymbt = i32::try_from(ext.len())
            .map_err(|_| Error::unsupported("mrc", "an FEI2 extended header over 2 GiB"))?;
    }

    let io = |e| Error::io(path, e);
    let file = File::create(path).map_err(io)?;
    // The header without the statistics for now (written again at the end), then the
    // extended header, then the values, each region at its place.
    let head = h.encode();
    write_all_at(&file, &head, 0).map_err(io)?;
    write_all_at(&file, &ext, head.len() as u64).map_err(io)?;
    let target = COrderFile::new(
        &file,
        path,
        (head.len() + ext.len()) as u64,
        dataset.shape(),
    );
    let identity = mode.dtype() == dtype && !matches!(mode, Mode::ComplexInt16);
    // Each region is converted and summarised on the worker that read it; the summaries
    // are merged in the plan's order, so the statistics add up the same way on every run.
    let summaries = Mutex::new(HashMap::new());
    let mut stats = Stats::new();
    let plan = WritePlan::positioned(dataset);
    plan.write_in_order(
        dataset,
        progress,
        |region, buffer| {
            let mut part = Stats::new();
            if identity && dtype != DType::Bool {
                // Same type: bytes pass through (swapped for the file's order), bit for bit
                // (no float conversion, which would quiet signalling NaNs).
                if !complex_out {
                    part.add_native(dtype, buffer);
                }
                if !order.is_native() {
                    emio_core::dtype::swap_bytes_in_place(buffer, dtype.swap_unit());
                }
            } else if complex_out {
                let mut values = real_values(dtype, buffer);
                if !dtype.is_complex() {
                    values = values.iter().flat_map(|&v| [v, 0.0]).collect();
                }
                let component = if mode == Mode::ComplexInt16 {
                    Mode::Int16
                } else {
                    Mode::Float32
                };
                let mut stored = Vec::new();
                encode(&values, component, order, &mut stored);
                *buffer = stored;
            } else {
                let mut bytes = Vec::new();
                part.add_region(&encode(
                    &real_values(dtype, buffer),
                    mode,
                    order,
                    &mut bytes,
                ));
                *buffer = bytes;
            }
            summaries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(region.start.clone(), part);
            Ok(())
        },
        |region, bytes| {
            let done = summaries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&region.start);
            if let Some(part) = done {
                stats.merge(&part);
            }
            target.place(region, bytes)
        },
    )?;
    if !complex_out {
        let (dmin, dmax, dmean, rms) = stats.header_values();
        h.dmin = dmin;
        h.dmax = dmax;
        h.dmean = dmean;
        h.rms = rms;
    }
    write_all_at(&file, &h.encode(), 0).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_clamps_and_rounds() {
        let mut out = Vec::new();
        let s = encode(
            &[-1.6, 70000.0, 2.5],
            Mode::Uint16,
            ByteOrder::Big,
            &mut out,
        );
        assert_eq!(s, [0.0, 65535.0, 3.0]);
        assert_eq!(&out[2..4], &[0xff, 0xff]);
    }
}
