//! Fuzz the path every user takes: `Registry::probe` (signature and extension) picks the
//! reader, which opens the file; every dataset is described and its first and last
//! regions read. Must never panic, hang or allocate more than the input justifies.
#![no_main]

/// As `emconvert info` does: probe `data` (named with an extension picked by its last
/// byte among every registered one) through the registry, open it, read every dataset.
fn exercise_any(data: &[u8]) {
    emio_fuzz::single_threaded();
    let registry = emio::registry();
    let extensions: Vec<&str> = registry
        .formats()
        .iter()
        .flat_map(|f| f.extensions().iter().copied())
        .collect();
    let pick = usize::from(data.last().copied().unwrap_or(0)) % (extensions.len() + 1);
    let name = match extensions.get(pick) {
        Some(ext) => format!("input.{ext}"),
        None => "input".to_string(),
    };
    let path = emio_fuzz::scratch_dir().join(name);
    emio_fuzz::put(&path, data);
    if let Ok((_, datasets)) = registry.open(&path, &[] as &[(&str, &str)]) {
        datasets.iter().for_each(emio_fuzz::read_bounded);
    }
    let _ = std::fs::remove_file(&path);
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| exercise_any(data));
