//! Pixel comparisons: the whole array hashed as the corpus defines it (C-order
//! little-endian bytes, sha256), and the documented ways a reading may differ from rsciio's
//! pixels (axes permuted, frames placed on a scan grid, a lossy decode's tolerance).

use emio::metadata::value_f64;
use emio::{DType, Dataset};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::known_differences::{Entry, PixelTolerance, Transform};
use crate::python_text::python_json;
use crate::Outcome;

/// The whole array as C-order little-endian bytes (the corpus' sha256 definition; the
/// in-memory bytes are native, so big-endian hosts swap each scalar).
fn le_bytes(ds: &Dataset) -> emio::Result<Vec<u8>> {
    let mut bytes = ds.read_region_bytes(&vec![0; ds.ndim()], ds.shape())?;
    if cfg!(target_endian = "big") {
        emio_core::dtype::swap_bytes_in_place(&mut bytes, ds.dtype().swap_unit());
    }
    Ok(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `bytes` (C order, `shape`, elements of `elem` bytes) with its axes reordered: axis `i`
/// of the result is axis `axes[i]` of the input.
fn permute_bytes(bytes: &[u8], shape: &[u64], elem: usize, axes: &[usize]) -> Vec<u8> {
    let n = shape.len();
    let mut strides = vec![elem; n];
    for i in (0..n.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1] as usize;
    }
    let out_shape: Vec<usize> = axes.iter().map(|&a| shape[a] as usize).collect();
    let out_strides: Vec<usize> = axes.iter().map(|&a| strides[a]).collect();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = vec![0usize; n];
    let total: usize = out_shape.iter().product();
    for _ in 0..total {
        let at: usize = index.iter().zip(&out_strides).map(|(i, s)| i * s).sum();
        out.extend_from_slice(&bytes[at..at + elem]);
        for d in (0..n).rev() {
            index[d] += 1;
            if index[d] < out_shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// Compare the pixels of `ds` with the recorded `data` summary, after the documented
/// transformation or within the documented tolerance of this signal, if any.
pub(crate) fn compare_pixels(
    p: &str,
    data: &Value,
    ds: &Dataset,
    transform: Option<(usize, &Entry)>,
    out: &mut Outcome,
) {
    let Some(expected) = data["sha256"].as_str() else {
        return;
    };
    if let Some(ragged) = ds.ragged() {
        out.counts.pixels += 1;
        if data["sha256_of"].as_str() != Some("json_of_tolist") {
            out.push(
                format!("{p}.sha256_of"),
                "a ragged (object) array hashed as json_of_tolist".into(),
            );
            return;
        }
        match ragged.to_json() {
            Ok(v) => {
                let ours = sha256_hex(python_json(&v).as_bytes());
                if ours != expected {
                    out.push(
                        format!("{p}.sha256"),
                        format!("expected {expected}, read {ours} (JSON of the items)"),
                    );
                }
            }
            Err(e) => out.push(format!("{p}.sha256"), format!("reading items failed: {e}")),
        }
        return;
    }
    let ref_shape: Vec<u64> = data["shape"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let bytes = match le_bytes(ds) {
        Ok(b) => b,
        Err(e) => {
            out.push(format!("{p}.sha256"), format!("reading pixels failed: {e}"));
            return;
        }
    };
    out.counts.pixels += 1;
    match transform.map(|(k, e)| (k, &e.transform)) {
        Some((k, Some(Transform::Permute { axes, .. }))) => {
            if ds.shape() != ref_shape.as_slice() {
                out.used_transforms.insert(k);
            }
            // Undo the permutation: reference axis j is emio's axis inverse[j].
            let mut inverse = vec![0; axes.len()];
            for (i, &a) in axes.iter().enumerate() {
                inverse[a] = i;
            }
            let theirs = permute_bytes(&bytes, ds.shape(), ds.dtype().size(), &inverse);
            let ours = sha256_hex(&theirs);
            if ours != expected {
                out.push(
                    format!("{p}.sha256"),
                    format!("after the documented permutation: expected {expected}, read {ours}"),
                );
            }
        }
        Some((k, Some(Transform::PlaceFrames { frame_ndim, .. }))) => {
            out.used_transforms.insert(k);
            if let Err(e) = check_frame_placement(data, &ref_shape, ds, *frame_ndim) {
                out.push(format!("{p}.pixels"), format!("frame placement: {e}"));
            }
        }
        _ => {
            if ds.shape() != ref_shape.as_slice() {
                return; // the shape difference is reported; no transformation documented
            }
            let ours = sha256_hex(&bytes);
            if ours == expected {
                return;
            }
            match transform.and_then(|(k, e)| e.tolerance.as_ref().map(|t| (k, t))) {
                Some((k, tolerance)) => {
                    out.used_transforms.insert(k);
                    if let Err(e) = check_tolerance(data, ds, &bytes, tolerance) {
                        out.push(
                            format!("{p}.sha256"),
                            format!("beyond the documented tolerance: {e}"),
                        );
                    }
                }
                None => out.push(
                    format!("{p}.sha256"),
                    format!("expected {expected}, read {ours}"),
                ),
            }
        }
    }
}

/// emio places the reference's stack of frames (shape `(n, *frame)`, acquisition order) on
/// a scan grid, every frame once and empty positions zero: same frame shape, as many
/// non-empty frames as the stack holds, and the stack's recorded min, max and mean over
/// the placed frames.
fn check_frame_placement(
    data: &Value,
    ref_shape: &[u64],
    ds: &Dataset,
    frame_ndim: usize,
) -> Result<(), String> {
    let frame = &ref_shape[ref_shape.len() - frame_ndim..];
    if ds.shape().len() < frame_ndim || &ds.shape()[ds.ndim() - frame_ndim..] != frame {
        return Err(format!(
            "frame shape {frame:?}, read shape {:?}",
            ds.shape()
        ));
    }
    let n_frames: u64 = ref_shape[..ref_shape.len() - frame_ndim].iter().product();
    let values = ds
        .read()
        .map_err(|e| e.to_string())?
        .to_f64()
        .ok_or("not real data")?;
    let frame_len = frame.iter().product::<u64>() as usize;
    let values = values.as_slice().ok_or("not contiguous")?;
    let placed: Vec<&[f64]> = values
        .chunks(frame_len)
        .filter(|f| f.iter().any(|v| *v != 0.0))
        .collect();
    if placed.len() as u64 != n_frames {
        return Err(format!(
            "{n_frames} frames expected, {} placed",
            placed.len()
        ));
    }
    let all = placed.iter().flat_map(|f| f.iter().copied());
    let (min, max, sum) = all.fold((f64::INFINITY, f64::NEG_INFINITY, 0.0), |(a, b, s), v| {
        (a.min(v), b.max(v), s + v)
    });
    let mean = sum / (n_frames as f64 * frame_len as f64);
    for (name, ours) in [("min", min), ("max", max), ("mean", mean)] {
        let expected = value_f64(&data[name]).ok_or(format!("no recorded {name}"))?;
        if (expected - ours).abs() > 1e-9 * expected.abs().max(1.0) {
            return Err(format!(
                "{name} {expected} expected, {ours} over the placed frames"
            ));
        }
    }
    Ok(())
}

/// The documented claim of a lossy decode: per channel, min and max within
/// `max_abs_diff` and the mean within `mean_within` of the recorded values. (The share of
/// differing values needs rsciio's pixels: `python/tests/test_corpus.py` checks it.)
fn check_tolerance(
    data: &Value,
    ds: &Dataset,
    bytes: &[u8],
    tolerance: &PixelTolerance,
) -> Result<(), String> {
    let channels: Vec<(String, Vec<f64>)> = match ds.dtype() {
        DType::Rgb8 | DType::Rgba8 => {
            let fields = ds.dtype().numpy_fields().unwrap_or_default();
            let n = fields.len();
            fields
                .iter()
                .enumerate()
                .map(|(c, (name, _))| {
                    let v = bytes
                        .iter()
                        .skip(c)
                        .step_by(n)
                        .map(|&b| f64::from(b))
                        .collect();
                    (name.to_string(), v)
                })
                .collect()
        }
        _ => {
            let values = ds
                .read()
                .map_err(|e| e.to_string())?
                .to_f64()
                .ok_or("not real data")?;
            vec![(String::new(), values.iter().copied().collect())]
        }
    };
    for (name, values) in channels {
        let stats = if name.is_empty() {
            data
        } else {
            &data["fields"][&name]
        };
        let n = values.len() as f64;
        let (min, max, sum) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY, 0.0), |(a, b, s), &v| {
                (a.min(v), b.max(v), s + v)
            });
        for (stat, ours, limit) in [
            ("min", min, tolerance.max_abs_diff),
            ("max", max, tolerance.max_abs_diff),
            ("mean", sum / n, tolerance.mean_within),
        ] {
            let expected = value_f64(&stats[stat]).ok_or(format!("no recorded {name} {stat}"))?;
            if (expected - ours).abs() > limit {
                return Err(format!("{name} {stat}: {expected} recorded, {ours} read"));
            }
        }
    }
    Ok(())
}
