//! `tests/known_differences.json`: the documented differences between emio and rsciio's
//! readings of the corpus, loaded and checked for form (see its `about` for the schema).
//!
//! Every entry names a data file, the readings (reference files) it applies to, and either
//! exact difference keys (`fields`), a layout transformation (`permute_axes`,
//! `place_frames`) or a pixel tolerance (`pixel_tolerance`) for one signal, with a reason.
//! No key may be a wildcard, and shape or pixel differences cannot be waived by key: they
//! must be stated as a transformation or tolerance the conformance test applies.

use std::path::Path;

use serde_json::Value;

/// A layout difference of one signal, applied by the test before comparing.
#[derive(Debug)]
pub enum Transform {
    /// emio's axis `i` is the reference's axis `axes[i]` (numpy's `transpose(axes)`).
    Permute { axes: Vec<usize> },
    /// The reference holds the frames as a stack in acquisition order; emio places them on
    /// a scan grid (each once, empty positions zero) the way reading `same_as` of the same
    /// file does, and is compared with that reading too.
    PlaceFrames { frame_ndim: usize, same_as: String },
}

/// A lossy decode whose claim is checked instead of the hash.
#[derive(Debug)]
pub struct PixelTolerance {
    /// Largest difference of any value (checked on min and max here, on every value
    /// against rsciio's pixels in `python/tests/test_corpus.py`).
    pub max_abs_diff: f64,
    /// Largest difference of each channel's mean from the recorded mean.
    pub mean_within: f64,
}

/// One documented difference.
#[derive(Debug)]
pub struct Entry {
    /// Corpus path of the data file.
    pub file: String,
    /// Reference file names (beside the data file) the entry applies to.
    pub readings: Vec<String>,
    /// Exact difference keys printed by the conformance test.
    pub fields: Vec<String>,
    /// Signal the transformation or tolerance applies to.
    signal: Option<usize>,
    pub transform: Option<Transform>,
    pub tolerance: Option<PixelTolerance>,
}

impl Entry {
    /// The signal a transformation or tolerance applies to.
    pub fn signal(&self) -> Option<usize> {
        self.signal
    }

    /// The corpus format folder of the entry's file.
    pub fn format(&self) -> &str {
        self.file.split('/').next().unwrap_or_default()
    }
}

/// All entries of `tests/known_differences.json`.
pub struct Known {
    pub entries: Vec<Entry>,
}

fn parse_entry(d: &Value, corpus: &Path) -> Result<Entry, String> {
    let allowed = [
        "file",
        "readings",
        "fields",
        "signal",
        "permute_axes",
        "place_frames",
        "pixel_tolerance",
        "reason",
    ];
    let object = d.as_object().ok_or("not an object")?;
    if let Some(k) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown key {k:?}"));
    }
    let reason = d["reason"].as_str().ok_or("no reason")?;
    if reason.len() < 20 {
        return Err("the reason must explain the difference".into());
    }
    let file = d["file"].as_str().ok_or("no file")?.to_string();
    let folder = Path::new(&file).parent().ok_or("file has no folder")?;
    let readings: Vec<String> = d["readings"]
        .as_array()
        .ok_or("no readings list")?
        .iter()
        .map(|r| {
            r.as_str()
                .map(str::to_string)
                .ok_or("reading is not a string")
        })
        .collect::<Result<_, _>>()?;
    if readings.is_empty() {
        return Err("readings is empty".into());
    }
    for r in &readings {
        if !corpus.join(folder).join(r).is_file() {
            return Err(format!("reading {r} does not exist beside {file}"));
        }
    }
    let fields: Vec<String> = match d.get("fields") {
        None => Vec::new(),
        Some(f) => f
            .as_array()
            .ok_or("fields is not a list")?
            .iter()
            .map(|r| {
                r.as_str()
                    .map(str::to_string)
                    .ok_or("field is not a string")
            })
            .collect::<Result<_, _>>()?,
    };
    for f in &fields {
        if f.contains('*') {
            return Err(format!("{f}: wildcards are not allowed, list exact fields"));
        }
        if f.ends_with(".shape") || f.ends_with(".sha256") || f.ends_with(".pixels") {
            return Err(format!(
                "{f}: a shape or pixel difference must be stated as a transformation \
                 (permute_axes, place_frames) or a pixel_tolerance, not waived"
            ));
        }
    }
    let signal = d
        .get("signal")
        .map(|s| s.as_u64().ok_or("signal is not an index"));
    let signal = signal.transpose()?.map(|s| s as usize);
    let transform = if let Some(axes) = d.get("permute_axes") {
        let axes: Vec<usize> = axes
            .as_array()
            .ok_or("permute_axes is not a list")?
            .iter()
            .map(|a| a.as_u64().map(|a| a as usize).ok_or("axis is not an index"))
            .collect::<Result<_, _>>()?;
        let mut sorted = axes.clone();
        sorted.sort_unstable();
        if sorted != (0..axes.len()).collect::<Vec<_>>() || sorted == axes {
            return Err(format!(
                "permute_axes {axes:?} is not a non-trivial permutation"
            ));
        }
        Some(Transform::Permute { axes })
    } else if let Some(p) = d.get("place_frames") {
        let same_as = p["same_as"].as_str().ok_or("place_frames needs same_as")?;
        if !corpus.join(folder).join(same_as).is_file() {
            return Err(format!("same_as reading {same_as} does not exist"));
        }
        Some(Transform::PlaceFrames {
            frame_ndim: p["frame_ndim"]
                .as_u64()
                .ok_or("place_frames needs frame_ndim")? as usize,
            same_as: same_as.to_string(),
        })
    } else {
        None
    };
    let tolerance = match d.get("pixel_tolerance") {
        None => None,
        Some(t) => {
            let number = |k: &str| t[k].as_f64().ok_or(format!("pixel_tolerance needs {k}"));
            // The share of differing values needs rsciio's pixels: only the Python corpus
            // test can check it, but every tolerance must state it.
            number("max_share_differing")?;
            Some(PixelTolerance {
                max_abs_diff: number("max_abs_diff")?,
                mean_within: number("mean_within")?,
            })
        }
    };
    if (transform.is_some() || tolerance.is_some()) != signal.is_some() {
        return Err("signal is given exactly when a transformation or tolerance is".into());
    }
    if transform.is_some() && tolerance.is_some() {
        return Err("one entry states a transformation or a tolerance, not both".into());
    }
    if fields.is_empty() && transform.is_none() && tolerance.is_none() {
        return Err("the entry documents nothing".into());
    }
    Ok(Entry {
        file,
        readings,
        fields,
        signal,
        transform,
        tolerance,
    })
}

impl Known {
    /// Load and check `tests/known_differences.json`.
    pub fn load(corpus: &Path) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known_differences.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let entries: Vec<Entry> = doc["differences"]
            .as_array()
            .expect("a differences list")
            .iter()
            .map(|d| {
                parse_entry(d, corpus)
                    .unwrap_or_else(|e| panic!("known_differences.json: {e}: {d}"))
            })
            .collect();
        for (i, a) in entries.iter().enumerate() {
            for b in &entries[i + 1..] {
                let shared = a.file == b.file
                    && a.readings.iter().any(|r| b.readings.contains(r))
                    && (a.fields.iter().any(|f| b.fields.contains(f))
                        || a.signal.is_some() && a.signal == b.signal);
                assert!(
                    !shared,
                    "known_differences.json: two entries for the same difference of {}",
                    a.file
                );
            }
        }
        Known { entries }
    }

    /// The entries (with their index) that apply to reading `name` of `file`.
    pub fn for_reading(&self, file: &str, name: &str) -> Vec<(usize, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.file == file && e.readings.iter().any(|r| r == name))
            .collect()
    }

    /// The entry that documents difference `key` of reading `name` of `file`.
    pub fn covering(&self, file: &str, name: &str, key: &str) -> Option<usize> {
        self.for_reading(file, name)
            .into_iter()
            .find(|(_, e)| e.fields.iter().any(|f| f == key))
            .map(|(k, _)| k)
    }
}
