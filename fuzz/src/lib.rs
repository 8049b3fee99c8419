//! Shared body of the fuzz targets: write the input to a temporary file, open it with one
//! format, and read every dataset (bounded), so parser, mapping and pixel sources are all
//! exercised. Errors are fine; panics, hangs and huge allocations are bugs.

use std::io::Write;
use std::path::PathBuf;

use emio::Registry;

/// Datasets up to this size are read whole; larger ones (a header may claim a lot, if the
/// file really holds it) are sampled at their first chunk.
const FULL_READ_BYTES: u64 = 64 << 20;

fn scratch_file(extension: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("emio-fuzz-{}.{extension}", std::process::id()))
}

/// Open `data` as a file of format `name` (named `*.extension`) and read what it holds.
pub fn exercise(name: &str, extension: &str, data: &[u8]) {
    let path = scratch_file(extension);
    {
        let mut f = std::fs::File::create(&path).expect("scratch file");
        f.write_all(data).expect("write scratch file");
    }
    let registry = emio::registry();
    let format = registry.by_name(name).expect("format registered");
    if let Ok(datasets) = Registry::open_with(format.as_ref(), &path, &[] as &[(&str, &str)]) {
        for ds in &datasets {
            let _ = ds.info_json(0, false, true);
            if ds.nbytes() <= FULL_READ_BYTES {
                let _ = ds.read();
            } else {
                let chunk = ds.streaming_chunk_shape(1 << 20);
                if let Some(region) = ds.chunks(&chunk).next() {
                    let _ = ds.read_region_bytes(&region.start, &region.shape);
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}
