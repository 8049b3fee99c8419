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

fn main() -> emio::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let npy = root.join("npy");
    std::fs::create_dir_all(&npy).map_err(|e| emio::Error::io(&npy, e))?;
    let image = Dataset::from_bytes(disc_image(64, 48), DType::U16, vec![64, 48])?;
    write(&image, &npy.join("disc_u16.npy"))?;
    let stack: Vec<u8> = (0..4 * 16 * 16)
        .flat_map(|i| (i as f32 * 0.5).to_ne_bytes())
        .collect();
    write(
        &Dataset::from_bytes(stack, DType::F32, vec![4, 16, 16])?,
        &npy.join("stack_f32.npy"),
    )?;
    Ok(())
}
