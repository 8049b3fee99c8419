//! DM3/DM4/DM5 write → read round trips for random dtypes, shapes, calibrations, titles and
//! tag trees (nested groups, arrays, arrays of structs, unicode strings).

use std::sync::Arc;

use emio_core::metadata::set_path;
use emio_core::serde_json::{json, Map, Value};
use emio_core::{
    Axis, AxisKind, DType, Dataset, Format, Options, StridedSource, Tree, WriteRequest,
};
use proptest::prelude::*;

const DTYPES: [DType; 13] = [
    DType::Bool,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::F32,
    DType::F64,
    DType::C64,
    DType::C128,
    DType::Rgba8,
    DType::U8,
];

fn key() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9 _µÅé()/-]{0,10}"
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(|v| json!(v)),
        (i64::MIN..i64::MAX).prop_map(|v| json!(v)),
        (-1e300f64..1e300).prop_map(|v| json!(v)),
        "[a-zA-Z0-9 µÅ°αβγ✓ -]{1,20}".prop_map(Value::String),
        prop::collection::vec(any::<i32>(), 1..6).prop_map(|v| json!(v)),
        prop::collection::vec(-1e6f64..1e6, 1..6).prop_map(|v| json!(v)),
        (1usize..4)
            .prop_flat_map(|n| prop::collection::vec(prop::collection::vec(any::<i16>(), n), 1..4))
            .prop_map(|rows| json!(rows)),
    ]
}

fn tree() -> impl Strategy<Value = Map<String, Value>> {
    let leaf_map = prop::collection::vec((key(), leaf()), 0..6)
        .prop_map(|kv| kv.into_iter().collect::<Map<String, Value>>());
    leaf_map.prop_recursive(3, 40, 6, |inner| {
        prop::collection::vec(
            (key(), prop_oneof![leaf(), inner.prop_map(Value::Object)]),
            0..6,
        )
        .prop_map(|kv| kv.into_iter().collect())
    })
}

#[derive(Debug, Clone)]
struct Case {
    dtype: DType,
    shape: Vec<u64>,
    navigate: Vec<bool>,
    calibrations: Vec<(f64, f64, String)>,
    title: String,
    tags: Map<String, Value>,
    seed: u8,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(DTYPES.to_vec()),
        prop::collection::vec(1u64..5, 1..5),
        any::<bool>(),
        "[a-zA-Z0-9 µÅ_-]{0,16}",
        tree(),
        any::<u8>(),
    )
        .prop_flat_map(|(dtype, shape, spectrum, title, tags, seed)| {
            let n = shape.len();
            let cals = prop::collection::vec(
                (
                    prop_oneof![0.001f64..100.0, -10.0f64..-0.001],
                    -1e3f64..1e3,
                    prop::sample::select(vec!["", "nm", "µm", "Å", "eV", "1/nm", "keV"])
                        .prop_map(String::from),
                ),
                n,
            );
            (Just((dtype, shape, spectrum, title, tags, seed)), cals)
        })
        .prop_map(
            |((dtype, shape, spectrum, title, tags, seed), calibrations)| {
                let n = shape.len();
                // rsciio's conventions: 1-D is a signal; otherwise the last two axes are the
                // signal (images), or only the last one (spectra, spectrum images).
                let navigate = (0..n)
                    .map(|i| {
                        if n == 1 {
                            false
                        } else if spectrum {
                            i < n - 1
                        } else {
                            i < n - 2
                        }
                    })
                    .collect();
                Case {
                    dtype,
                    shape,
                    navigate,
                    calibrations,
                    title,
                    tags,
                    seed,
                }
            },
        )
}

fn pixels(dtype: DType, count: usize, seed: u8) -> Vec<u8> {
    let n = count * dtype.size();
    let mut bytes: Vec<u8> = (0..n)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
        .collect();
    match dtype {
        DType::Bool => bytes.iter_mut().for_each(|b| *b &= 1),
        DType::F32 | DType::C64 => {
            for (i, c) in bytes.chunks_exact_mut(4).enumerate() {
                c.copy_from_slice(&(i as f32 * 0.5 - f32::from(seed)).to_ne_bytes());
            }
        }
        DType::F64 | DType::C128 => {
            for (i, c) in bytes.chunks_exact_mut(8).enumerate() {
                c.copy_from_slice(&(i as f64 * 0.25 - f64::from(seed)).to_ne_bytes());
            }
        }
        _ => {}
    }
    bytes
}

/// Floats compare with a relative tolerance (DM stores origin = -offset/scale).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-9)
}

fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, v), (l, w))| k == l && same_json(v, w))
        }
        _ => a == b,
    }
}

/// The tag tree DM5 gives back for `tags`: HDF5 names cannot hold `/`, members come back
/// sorted by name, and arrays of structs (lists of number lists) are stored as a group of
/// row arrays. `None` when two names collide once `/` is replaced.
fn as_dm5(tags: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mut entries: Vec<(String, Value)> = Vec::new();
    for (k, v) in tags {
        let v = match v {
            Value::Object(m) => Value::Object(as_dm5(m)?),
            Value::Array(rows) if rows.iter().all(Value::is_array) => Value::Object(
                rows.iter()
                    .enumerate()
                    .map(|(i, r)| (format!("Data{i}"), r.clone()))
                    .collect(),
            ),
            other => other.clone(),
        };
        entries.push((k.replace('/', "_"), v));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let n = entries.len();
    entries.dedup_by(|a, b| a.0 == b.0);
    (entries.len() == n).then(|| entries.into_iter().collect())
}

/// Output version of a round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Version {
    Dm3,
    Dm4,
    Dm5,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn dm3_dm4_and_dm5_round_trip(
        c in case(),
        version in prop::sample::select(vec![Version::Dm3, Version::Dm4, Version::Dm5]),
    ) {
        let expected_tags = match version {
            Version::Dm5 => as_dm5(&c.tags),
            _ => Some(c.tags.clone()),
        };
        prop_assume!(expected_tags.is_some());
        let count: u64 = c.shape.iter().product();
        let bytes = pixels(c.dtype, count as usize, c.seed);
        let source = StridedSource::from_bytes(bytes.clone(), c.dtype, c.shape.clone()).unwrap();
        let axes: Vec<Axis> = c
            .calibrations
            .iter()
            .zip(&c.navigate)
            .map(|((scale, offset, units), &nav)| Axis::uniform("", units.clone(), *scale, *offset, nav))
            .collect();
        let mut md = Tree::new();
        set_path(&mut md, "General.title", c.title.clone());
        let mut om = Tree::new();
        set_path(&mut om, "ImageList.TagGroup0.ImageTags", Value::Object(c.tags.clone()));
        let ds = Dataset::new(Arc::new(source), axes, md, om).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let (name, format): (&str, &dyn Format) = match version {
            Version::Dm3 => ("out.dm3", &emio_dm::Dm),
            Version::Dm4 => ("out.dm4", &emio_dm::Dm),
            Version::Dm5 => ("out.dm5", &emio_dm::dm5::Dm5),
        };
        let path = dir.path().join(name);
        format.write(&WriteRequest::new(&ds, &path, &Options::new())).unwrap();
        let head = std::fs::read(&path).unwrap()[..8].to_vec();
        match version {
            Version::Dm3 => prop_assert_eq!(&head[..4], &[0, 0, 0, 3]),
            Version::Dm4 => prop_assert_eq!(&head[..4], &[0, 0, 0, 4]),
            Version::Dm5 => prop_assert_eq!(&head[..], b"\x89HDF\r\n\x1a\n"),
        }
        let back = format.open(&path, &Options::new()).unwrap();
        prop_assert_eq!(back.len(), 1);
        let r = &back[0];
        prop_assert_eq!(r.dtype(), c.dtype);
        prop_assert_eq!(r.shape(), &c.shape[..]);
        prop_assert_eq!(r.title(), c.title.as_str());
        prop_assert_eq!(r.read_region_bytes(&vec![0; c.shape.len()], &c.shape).unwrap(), bytes);
        for (axis, (want, nav)) in r.axes.iter().zip(c.calibrations.iter().zip(&c.navigate)) {
            let AxisKind::Uniform { scale, offset } = axis.kind else { panic!("uniform") };
            prop_assert!(close(scale, want.0), "scale {} vs {}", scale, want.0);
            prop_assert!(close(offset, want.1), "offset {} vs {}", offset, want.1);
            prop_assert_eq!(&axis.units, &want.2);
            prop_assert_eq!(axis.navigate, *nav);
        }
        let tags = emio_core::metadata::get_path(&r.original_metadata, "ImageList.TagGroup0.ImageTags")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // The writer adds the spectrum flags; the rest must come back unchanged.
        let mut written = tags.clone();
        if let Some(Value::Object(meta)) = written.get_mut("Meta Data") {
            if !c.tags.contains_key("Meta Data") {
                meta.shift_remove("Format");
                if meta.is_empty() {
                    written.shift_remove("Meta Data");
                }
            }
        }
        let expected = Value::Object(expected_tags.unwrap());
        prop_assert!(
            same_json(&Value::Object(written.clone()), &expected),
            "tags differ:\n{}\nvs\n{}",
            Value::Object(written),
            expected
        );
    }
}

#[test]
fn rgb_and_half_floats_are_converted() {
    let rgb = Dataset::from_bytes(vec![1, 2, 3, 4, 5, 6], DType::Rgb8, vec![2]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb.dm4");
    emio_dm::Dm
        .write(&WriteRequest::new(&rgb, &path, &Options::new()))
        .unwrap();
    let back = emio_dm::Dm.open(&path, &Options::new()).unwrap();
    assert_eq!(back[0].dtype(), DType::Rgba8);
    assert_eq!(
        back[0].read_region_bytes(&[0], &[2]).unwrap(),
        vec![1, 2, 3, 0, 4, 5, 6, 0]
    );
    let halves: Vec<u8> = [1.5f32, -2.25]
        .iter()
        .flat_map(|v| emio_core::half::f16::from_f32(*v).to_ne_bytes())
        .collect();
    let h = Dataset::from_bytes(halves, DType::F16, vec![2]).unwrap();
    let path = dir.path().join("half.dm4");
    emio_dm::Dm
        .write(&WriteRequest::new(&h, &path, &Options::new()))
        .unwrap();
    let back = emio_dm::Dm.open(&path, &Options::new()).unwrap();
    assert_eq!(back[0].dtype(), DType::F32);
    let v = back[0].read_region_bytes(&[0], &[2]).unwrap();
    assert_eq!(f32::from_ne_bytes(v[..4].try_into().unwrap()), 1.5);
    assert!(emio_dm::Dm
        .write(&WriteRequest::new(
            &Dataset::from_bytes(vec![0; 8], DType::I64, vec![1]).unwrap(),
            &dir.path().join("i64.dm4"),
            &Options::new()
        ))
        .is_err());
}

#[test]
fn normalized_metadata_becomes_dm_tags() {
    let mut ds = Dataset::from_bytes(vec![0; 8], DType::F32, vec![2]).unwrap();
    set_path(&mut ds.metadata, "General.title", "EELS");
    set_path(&mut ds.metadata, "General.date", "2020-03-04");
    set_path(&mut ds.metadata, "General.time", "10:11:12");
    set_path(&mut ds.metadata, "Signal.signal_type", "EELS");
    set_path(
        &mut ds.metadata,
        "Acquisition_instrument.TEM.beam_energy",
        200.0,
    );
    set_path(
        &mut ds.metadata,
        "Acquisition_instrument.TEM.Detector.EELS.collection_angle",
        10.0,
    );
    ds.axes[0] = Axis::uniform("Energy loss", "eV", 0.5, -10.0, false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eels.dm4");
    emio_dm::Dm
        .write(&WriteRequest::new(&ds, &path, &Options::new()))
        .unwrap();
    let back = &emio_dm::Dm.open(&path, &Options::new()).unwrap()[0];
    let md = &back.metadata;
    use emio_core::metadata::{get_f64, get_str};
    assert_eq!(get_str(md, "Signal.signal_type"), Some("EELS"));
    assert_eq!(get_str(md, "General.date"), Some("2020-03-04"));
    assert_eq!(get_str(md, "General.time"), Some("10:11:12"));
    assert_eq!(
        get_f64(md, "Acquisition_instrument.TEM.beam_energy"),
        Some(200.0)
    );
    assert_eq!(
        get_f64(
            md,
            "Acquisition_instrument.TEM.Detector.EELS.collection_angle"
        ),
        Some(10.0)
    );
    assert_eq!(back.axes[0].name, "Energy loss");
}
