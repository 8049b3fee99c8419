//! Generates the small files in `testdata/` (run: `cargo run --example make_testdata`).
//! Each is written through emio's own writers from arrays computed here, so the files and
//! their expected contents are reproducible on any machine.

use std::path::Path;

use emio::{DType, Dataset, NoProgress, Registry};

/// A 2-D u16 image (a ramp plus a bright disc) of `rows` x `cols`.
fn disc_image(rows: u64, cols: u64) -> Vec<u8> {
    let (cy, cx, r2) = (
        rows as f64 / 2.0,
        cols as f64 / 2.0,
        (rows.min(cols) as f64 / 4.0).powi(2),
    );
    (0..rows * cols)
        .flat_map(|i| {
            let (y, x) = ((i / cols) as f64, (i % cols) as f64);
            let inside = (y - cy).powi(2) + (x - cx).powi(2) < r2;
            let v = (i % 1000) as u16 + if inside { 20000 } else { 0 };
            v.to_ne_bytes()
        })
        .collect()
}

fn write(dataset: &Dataset, path: &Path) -> emio::Result<()> {
    let registry = emio::registry();
    let format = registry.writer_for(path, None)?;
    Registry::write(
        format.as_ref(),
        dataset,
        path,
        &[] as &[(&str, &str)],
        true,
        &NoProgress,
    )?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `n` bytes of a deterministic pattern with structure (a ramp) and noise (xorshift), so
/// compressors and fuzzers see realistic data.
fn pattern(n: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (i / 7) as u8 ^ ((state >> 60) as u8)
        })
        .collect()
}

fn main() -> emio::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let dir = |format: &str| -> emio::Result<std::path::PathBuf> {
        let d = root.join(format);
        std::fs::create_dir_all(&d).map_err(|e| emio::Error::io(&d, e))?;
        Ok(d)
    };
    let npy = dir("npy")?;
    let image = Dataset::from_bytes(disc_image(64, 48), DType::U16, vec![64, 48])?;
    write(&image, &npy.join("disc_u16.npy"))?;
    let stack: Vec<u8> = (0..4 * 16 * 16)
        .flat_map(|i| (i as f32 * 0.5).to_ne_bytes())
        .collect();
    write(
        &Dataset::from_bytes(stack, DType::F32, vec![4, 16, 16])?,
        &npy.join("stack_f32.npy"),
    )?;
    // One small file per writable format: the damage sweep (tests/damage.rs) and the
    // fuzzers start from these.
    let small = Dataset::from_bytes(disc_image(24, 20), DType::U16, vec![24, 20])?;
    let stack = Dataset::from_bytes(pattern(3 * 16 * 16 * 2), DType::U16, vec![3, 16, 16])?;
    let scan = Dataset::from_bytes(pattern(2 * 3 * 8 * 8), DType::U8, vec![2, 3, 8, 8])?;
    write(&small, &dir("dm")?.join("image_u16.dm4"))?;
    write(&stack, &dir("dm")?.join("stack_u16.dm3"))?;
    write(&stack, &dir("dm5")?.join("stack_u16.dm5"))?;
    write(&stack, &dir("mrc")?.join("stack_u16.mrc"))?;
    write(&scan, &dir("mib")?.join("scan_u8.mib"))?;
    write(&scan, &dir("blo")?.join("scan_u8.blo"))?;
    write(&small, &dir("tiff")?.join("image_u16.tif"))?;
    write(&stack, &dir("tiff")?.join("stack_u16.tif"))?;
    write(&stack, &dir("emd")?.join("stack_u16.emd"))?;
    write(&scan, &dir("zarr")?.join("scan_u8.zarr"))?;
    write(&stack, &dir("zarr")?.join("stack_u16.zspy"))?;
    write(&stack, &dir("hspy")?.join("stack_u16.hspy"))?;
    // A decomposed stack: learning results beside the signal (values and arrays).
    let mut decomposed = stack.clone();
    let ramp = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (i as f32 * 0.5).to_ne_bytes())
            .collect()
    };
    let mut arrays = std::collections::BTreeMap::new();
    arrays.insert(
        "factors".to_string(),
        Dataset::from_bytes(ramp(256 * 2), DType::F32, vec![256, 2])?,
    );
    arrays.insert(
        "loadings".to_string(),
        Dataset::from_bytes(ramp(3 * 2), DType::F32, vec![3, 2])?,
    );
    arrays.insert(
        "explained_variance".to_string(),
        Dataset::from_bytes(ramp(2), DType::F32, vec![2])?,
    );
    let values = emio::serde_json::json!({
        "decomposition_algorithm": "SVD",
        "output_dimension": 2,
        "centre": null,
        "poissonian_noise_normalized": false,
        "original_shape": [3, 16, 16],
    });
    decomposed.learning_results = Some(emio::LearningResults {
        values: values.as_object().cloned().unwrap_or_default(),
        arrays,
    });
    // And a model fitted to it (a Gaussian's parameter maps, records of values, std and
    // is_set per navigation position; channel switches), as HyperSpy stores it.
    let record = emio::models::StoredElement::Record(vec![
        ("values".into(), DType::F64),
        ("std".into(), DType::F64),
        ("is_set".into(), DType::Bool),
    ]);
    let map = |k: f64| -> emio::Result<emio::models::StoredArray> {
        let bytes = (0..3)
            .flat_map(|i| {
                let mut r = (k * f64::from(i)).to_ne_bytes().to_vec();
                r.extend(0.25f64.to_ne_bytes());
                r.push(1);
                r
            })
            .collect();
        emio::models::StoredArray::new(record.clone(), vec![3], bytes)
    };
    let switches = emio::models::StoredArray::new(
        emio::models::StoredElement::Plain(DType::Bool),
        vec![16],
        vec![1; 16],
    )?;
    let at = |i: usize| emio::serde_json::json!({ emio::models::ARRAY_PLACEHOLDER: i });
    let model = emio::serde_json::json!({
        "_dict": {
            "_channel_switches": at(0),
            "components": [{
                "_id_name": "Gaussian", "name": "Gaussian", "active": true,
                "parameters": [
                    {"_id_name": "A", "value": 2.0, "free": true, "_bounds": [0.0, null], "map": at(1)},
                    {"_id_name": "centre", "value": 8.0, "free": true, "_twins": [], "map": at(2)},
                ],
            }],
        },
        "date": "2026-12-03 10:56:04",
        "dimensions": "(3|16, 16)",
    });
    decomposed.models = vec![emio::models::from_decoded(
        "fit",
        model.as_object().expect("an object"),
        vec![switches, map(2.0)?, map(8.0)?],
    )?];
    write(&decomposed, &dir("hspy")?.join("learning_u16.hspy"))?;
    write(&decomposed, &dir("zarr")?.join("learning_u16.zspy"))?;
    write(&stack, &dir("ripple")?.join("stack_u16.rpl"))?;
    write(&scan, &dir("tvips")?.join("scan_u8_000.tvips"))?;
    // EMPAD frames are 128×128 float32: one frame (a 1×1 scan).
    let values: Vec<u8> = pattern(128 * 128)
        .into_iter()
        .flat_map(|b| f32::from(b).to_ne_bytes())
        .collect();
    let frame = Dataset::from_bytes(values, DType::F32, vec![1, 1, 128, 128])?;
    write(&frame, &dir("empad")?.join("frame_f32.xml"))?;
    // EER stores electron events: a movie of 0/1 counts (about one pixel in five hit).
    let events: Vec<u8> = pattern(3 * 16 * 16)
        .into_iter()
        .map(|b| u8::from(b % 5 == 0))
        .collect();
    let movie = Dataset::from_bytes(events, DType::U8, vec![3, 16, 16])?;
    write(&movie, &dir("eer")?.join("events_u8.eer"))?;
    Ok(())
}
