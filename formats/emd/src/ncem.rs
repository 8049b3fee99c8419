//! NCEM/Berkeley EMD (v0.2 and later, including prismatic's `4DSTEM_simulation` outputs and
//! py4DSTEM/emdfile v1 files): data groups (`emd_group_type`), `dimN` axis vectors, the
//! `microscope`/`sample`/`user`/`comments` groups, stacking of `..._depthNNNN` groups.
//!
//! NCEM stores arrays with `dim1` describing the first HDF5 dimension; HyperSpy (and rsciio)
//! present them transposed, which emio does lazily (a permuted view, zero-copy for
//! contiguous storage). Files with a `dim0` (emdfile v1) and `datacube`s are not transposed.
//!
//! Axes: a `dimN` vector with one value per index becomes a uniform axis when evenly spaced
//! (within float32 noise) and a non-uniform axis (explicit values) otherwise; rsciio
//! collapses every vector to its first value and mean step, which misplaces all points of
//! a non-uniform axis. Two-element vectors (`[start, start + step]`, rsciio's writer) and
//! other lengths give uniform axes.

use std::sync::Arc;

use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use emio_core::serde_json::Value;
use emio_core::{ArraySource, Axis, AxisKind, DType, Dataset, Error, OptionSet, Options, Result};
use emio_h5::{Element, GroupWalk, H5File, MemberKind};

use crate::units::ncem_units;

emio_core::options! {
    /// Options of the reader for NCEM/Berkeley EMD files (and emdfile, prismatic).
    pub struct NcemReadOptions {
        /// read only this dataset (comma-separated paths for several)
        dataset_path: Option<String> = None,
        /// stack datasets of groups named group0000, group0001, ... (without dataset_path)
        stack_group: bool = Some("true"),
    }
}

/// Dataset names rsciio recognises inside EMD data groups.
const DATA_PREFIXES: [&str; 7] = [
    "data",
    "counted_datacube",
    "datacube",
    "diffractionslice",
    "realslice",
    "pointlistarray",
    "pointlist",
];

/// prismatic's short parameter names and their long forms (as rsciio maps them).
const PRISMATIC_NAMES: [(&str, &str); 34] = [
    ("i", "filenameAtoms"),
    ("a", "algorithm"),
    ("fx", "interpolationFactorX"),
    ("fy", "interpolationFactorY"),
    ("F", "numFP"),
    ("ns", "numSlices"),
    ("te", "includeThermalEffects"),
    ("oc", "includeOccupancy"),
    ("3D", "save3DOutput"),
    ("4D", "save3DOutput"),
    ("DPC", "saveDPC_CoM"),
    ("ps", "savePotentialSlices"),
    ("nqs", "nyquistSampling"),
    ("px", "realspacePixelSizeX"),
    ("py", "realspacePixelSizeY"),
    ("P", "potBound"),
    ("s", "sliceThickness"),
    ("zs", "zStart"),
    ("E", "E0"),
    ("A", "alphaBeamMax"),
    ("rx", "probeStepX"),
    ("ry", "probeStepY"),
    ("df", "probeDefocus"),
    ("sa", "probeSemiangle"),
    ("d", "detectorAngleStep"),
    ("tx", "probeXtilt"),
    ("ty", "probeYtilt"),
    ("c", "cellDimension"),
    ("t", "tile"),
    ("wx", "scanWindowX"),
    ("wy", "scanWindowY"),
    ("wxr", "scanWindowX_r"),
    ("wyr", "scanWindowY_r"),
    ("2D", "integrationAngle"),
];

/// Whether the file looks like an NCEM/emdfile EMD: a version on the root, or any group with
/// `emd_group_type` among the first two levels.
pub fn is_ncem(f: &H5File) -> bool {
    let root = f.attrs("/").unwrap_or_default();
    if root.contains_key("version_major") {
        return true;
    }
    let Ok(groups) = f.groups("/") else {
        return false;
    };
    groups.iter().any(|g| {
        f.attrs(g)
            .map(|a| a.contains_key("emd_group_type"))
            .unwrap_or(false)
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Walk the file like h5py's `visititems` (sorted, depth first, each group once however
/// many links lead to it: [`GroupWalk`]) collecting data datasets.
fn find_dataset_paths(
    f: &H5File,
    group: &str,
    out: &mut Vec<String>,
    depth: usize,
    walk: &mut GroupWalk,
) -> Result<()> {
    if depth > 32 || !walk.enter(f, group)? {
        return Ok(());
    }
    let names: Vec<(String, bool)> = f
        .members(group)?
        .into_iter()
        .map(|(name, kind)| (name, kind == MemberKind::Dataset))
        .collect();
    let group_is_data = f
        .attrs(group)
        .ok()
        .and_then(|a| a.get("emd_group_type").map(truthy))
        .unwrap_or(false);
    for (name, is_dataset) in names {
        let path = if group.is_empty() {
            name.clone()
        } else {
            format!("{group}/{name}")
        };
        if is_dataset {
            if group_is_data && DATA_PREFIXES.iter().any(|p| name.starts_with(p)) {
                out.push(path);
            }
        } else {
            find_dataset_paths(f, &path, out, depth + 1, walk)?;
        }
    }
    Ok(())
}

fn dirname(p: &str) -> &str {
    p.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

fn basename(p: &str) -> &str {
    p.rsplit_once('/').map(|(_, b)| b).unwrap_or(p)
}

fn version(attrs: &Tree) -> Value {
    match (attrs.get("version_major"), attrs.get("version_minor")) {
        (Some(a), Some(b)) => {
            let s = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Value::from(format!("{}.{}", s(a), s(b)))
        }
        _ => Value::Null,
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    let v = v?;
    value_f64(v).or_else(|| v.as_str()?.trim().parse().ok())
}

/// Read the NCEM datasets of `f`.
///
/// Options (rsciio's): `dataset_path` (comma-separated) reads only those datasets,
/// unstacked; otherwise `stack_group` (default true) stacks `..._depthNNNN`-style groups.
pub fn read(f: &H5File, file_name: &str, options: &Options) -> Result<Vec<Dataset>> {
    let options = NcemReadOptions::from_options(options)?;
    let prismatic = f.is_group("4DSTEM_simulation");
    let om = original_metadata(f, prismatic)?;
    let mut paths = Vec::new();
    let stack_group = match options.dataset_path.as_deref() {
        Some(p) => {
            paths = p
                .split(',')
                .map(|s| s.trim().trim_start_matches('/').to_string())
                .filter(|s| !s.is_empty())
                .collect();
            for p in &paths {
                if !f.is_dataset(p) {
                    return Err(Error::invalid_option(
                        "dataset_path",
                        format!("no dataset {p}"),
                    ));
                }
            }
            false
        }
        None => {
            find_dataset_paths(f, "", &mut paths, 0, &mut GroupWalk::new("emd"))?;
            options.stack_group
        }
    };
    let mut out = Vec::new();
    while !paths.is_empty() {
        let path = paths.remove(0);
        let name = basename(&path).to_string();
        let mut groups = vec![dirname(&path).to_string()];
        let mut base = groups[0].clone();
        if prismatic && !path.contains("ppotential") && base.len() >= 4 {
            base.truncate(base.len() - 4);
        }
        let shape0 = f.dataset(&path)?.shape;
        paths.retain(|p| {
            if !stack_group {
                return true;
            }
            let stack = p.contains(&base)
                && basename(p) == name
                && f.dataset(p).map(|d| d.shape == shape0).unwrap_or(false);
            if stack {
                groups.push(dirname(p).to_string());
            }
            !stack
        });
        let title = basename(&base).to_string();
        match read_group_stack(f, &groups, &name, &title, &om, prismatic) {
            Ok((source, axes)) => {
                let mut md = Tree::new();
                set_path(&mut md, "General.title", title.replace("_depth", ""));
                set_path(&mut md, "General.original_filename", file_name);
                let signal_type = if groups[0].contains("CBED") {
                    "electron_diffraction"
                } else {
                    ""
                };
                set_path(&mut md, "Signal.signal_type", signal_type);
                out.push(Dataset::new(source, axes, md, om.clone())?);
            }
            // Object (string) arrays and compound point lists have no pixel representation.
            Err(Error::Unsupported { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn original_metadata(f: &H5File, prismatic: bool) -> Result<Tree> {
    let mut om = Tree::new();
    om.insert("EMD_version".into(), version(&f.attrs("/")?));
    for g in ["microscope", "sample", "user", "comments"] {
        if f.is_group(g) {
            om.insert(g.into(), Value::Object(f.attrs(g)?));
        }
    }
    for root in f.groups("/")? {
        let cal = format!("{root}/metadatabundle/calibration");
        if f.is_group(&cal) {
            let mut c = Tree::new();
            for name in f.datasets(&cal)? {
                let ds = f.dataset(&format!("{cal}/{name}"))?;
                let v = match &ds.element {
                    Element::Str => ds
                        .read_strings()
                        .ok()
                        .and_then(|s| s.into_iter().next())
                        .map(Value::from),
                    Element::Numeric(d, _) if ds.len() == 1 => {
                        let b = ds.read_bytes()?;
                        if *d == DType::Bool {
                            Some(Value::from(b[0] != 0))
                        } else {
                            emio_h5::to_f64(*d, &b).map(|v| json_f64(v[0]))
                        }
                    }
                    _ => None,
                };
                if let Some(v) = v {
                    c.insert(name, v);
                }
            }
            om.insert("calibration".into(), Value::Object(c));
            break;
        }
    }
    if prismatic {
        let p = "4DSTEM_simulation/metadata/metadata_0/original/simulation_parameters";
        if f.is_group(p) {
            let params: Tree = f
                .attrs(p)?
                .into_iter()
                .map(|(k, v)| {
                    let long = PRISMATIC_NAMES
                        .iter()
                        .find(|(s, _)| *s == k)
                        .map(|(_, l)| l.to_string())
                        .unwrap_or(k);
                    (long, v)
                })
                .collect();
            om.insert("simulation_parameters".into(), Value::Object(params));
        }
    }
    Ok(om)
}

/// The calibration of one NCEM `dimN` vector for an axis of `size` points.
fn dim_axis(f: &H5File, path: &str, size: u64, navigate: bool) -> Result<Axis> {
    let mut axis = Axis::default_for(navigate);
    if !f.is_dataset(path) {
        return Ok(axis);
    }
    let attrs = f.attrs(path)?;
    axis.name = attrs
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    axis.units = attrs
        .get("units")
        .and_then(Value::as_str)
        .map(ncem_units)
        .unwrap_or_default();
    if let Some(nav) = attrs.get("emio_navigate").and_then(Value::as_i64) {
        axis.navigate = nav != 0;
    }
    let ds = f.dataset(path)?;
    if ds.shape.is_empty() || !matches!(ds.element, Element::Numeric(..)) || ds.len() > 1 << 24 {
        return Ok(axis);
    }
    let Ok(v) = ds.read_f64() else {
        return Ok(axis);
    };
    axis.kind = axis_kind(&v, size);
    Ok(axis)
}

/// Coordinates from a dim vector: explicit per-point values when it has one per index
/// (uniform when evenly spaced), `[start, start + step]` pairs, or rsciio's mean step.
pub fn axis_kind(v: &[f64], size: u64) -> AxisKind {
    match v.len() {
        0 => AxisKind::Uniform {
            scale: 1.0,
            offset: 0.0,
        },
        1 => AxisKind::Uniform {
            scale: 1.0,
            offset: v[0],
        },
        n if n as u64 == size => {
            let step = (v[n - 1] - v[0]) / (n - 1) as f64;
            // Float32 vectors carry ~1e-7 relative noise: tolerate 0.1 % of a step.
            let largest = v.iter().fold(0f64, |m, x| m.max(x.abs()));
            let tol = (1e-3 * step.abs())
                .max(1e-6 * largest)
                .max(f64::MIN_POSITIVE);
            let even = v
                .iter()
                .enumerate()
                .all(|(i, x)| (x - (v[0] + step * i as f64)).abs() <= tol);
            if even || !v.iter().all(|x| x.is_finite()) {
                AxisKind::Uniform {
                    scale: step,
                    offset: v[0],
                }
            } else {
                AxisKind::Values(v.to_vec())
            }
        }
        n => AxisKind::Uniform {
            scale: (v[n - 1] - v[0]) / (n - 1) as f64,
            offset: v[0],
        },
    }
}

type SourceAxes = (Arc<dyn ArraySource>, Vec<Axis>);

fn read_group_stack(
    f: &H5File,
    groups: &[String],
    name: &str,
    title: &str,
    om: &Tree,
    prismatic: bool,
) -> Result<SourceAxes> {
    let has_dim0 = f.is_dataset(&format!("{}/dim0", groups[0]));
    let transpose = name != "datacube" && !has_dim0;
    let mut sources = Vec::new();
    let mut stored_shape = Vec::new();
    for g in groups {
        let ds = f.dataset(&format!("{g}/{name}"))?;
        ds.numeric()?;
        let n = ds.shape.len();
        let perm: Vec<usize> = if transpose {
            (0..n).rev().collect()
        } else {
            (0..n).collect()
        };
        stored_shape = ds.shape.clone();
        sources.push(ds.source(Some(&perm))?);
    }
    let mut shape: Vec<u64> = sources[0].shape().to_vec();
    let mut axes = Vec::new();
    let source: Arc<dyn ArraySource> = if sources.len() > 1 {
        let (offset, scale, units) =
            depth_axis(om, sources.len(), prismatic && title.contains("depth"));
        let mut a = Axis::uniform(title, units, scale, offset, true);
        a.name = title.to_string();
        axes.push(a);
        let stacked = crate::stack::Stacked::new(sources)?;
        shape = stacked.shape().to_vec();
        Arc::new(stacked)
    } else {
        sources.pop().expect("one source")
    };
    let first = usize::from(axes.len() == 1);
    let rank = stored_shape.len();
    for k in 0..rank {
        let arr_index = first + k;
        let dim_index = match (transpose, has_dim0) {
            (true, _) => rank - k,
            (false, true) => k,
            (false, false) => k + 1,
        };
        let dim_name = format!("dim{dim_index}");
        let navigate = if prismatic {
            let sig: [&str; 2] = if name == "datacube" {
                ["dim3", "dim4"]
            } else {
                ["dim1", "dim2"]
            };
            !sig.contains(&dim_name.as_str())
        } else {
            false
        };
        axes.push(dim_axis(
            f,
            &format!("{}/{dim_name}", groups[0]),
            shape[arr_index],
            navigate,
        )?);
    }
    // rsciio squeezes stacked arrays; emio keeps every dimension (a stack of one-pixel
    // images stays 4-D), which only matters for degenerate stacks.
    Ok((source, axes))
}

/// The depth axis of stacked prismatic slices (offset, scale, units), as rsciio derives it
/// from the simulation parameters; uncalibrated when they are inconsistent.
fn depth_axis(om: &Tree, n: usize, depth: bool) -> (f64, f64, &'static str) {
    if !depth {
        return (0.0, 1.0, "");
    }
    let p = om
        .get("simulation_parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut scale = 1.0;
    let mut offset = 0.0;
    if let Some(ns) = num(p.get("numSlices")) {
        scale = ns * num(p.get("sliceThickness")).unwrap_or(1.0);
    }
    if let Some(z) = num(p.get("zStart")) {
        offset = if z == 0.0 { scale } else { z };
    }
    let list = |k: &str, i: usize| -> f64 {
        match p.get(k) {
            Some(Value::Array(a)) => num(a.get(i)).unwrap_or(0.0),
            Some(Value::String(s)) => s
                .trim_matches(['[', ']'])
                .split([' ', ','])
                .filter(|t| !t.is_empty())
                .nth(i)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0),
            _ => 0.0,
        }
    };
    let total = list("tile", 2) * list("cellDimension", 0);
    let expected = n as f64 * scale;
    if (total - expected).abs() > 1e-4 * total.abs().max(expected.abs()) {
        return (0.0, 1.0, "");
    }
    (offset, scale, "Å")
}
