//! Damaged Zarr groups generated here (issue 15): a group listing one member 100,000 times
//! reads it once with a warning (it used 3 GB), and a group listing more members than the
//! limit is refused with a message that quotes a few of them; a damaged compressed chunk
//! fails with the codec's own error (issue 16), and a Zstd chunk of another size than its
//! region is refused.

use std::path::Path;

use emio_core::{DType, Dataset, Format, Options, WriteRequest};
use emio_zarr::Zarr;
use serde_json::Value;

/// Write a small dataset as `.zarr` at `path` and replace the group's dataset list.
fn store_listing(path: &Path, datasets: Vec<String>) {
    let ds = Dataset::from_bytes(vec![3u8; 16], DType::U8, vec![4, 4]).unwrap();
    Zarr.write(&WriteRequest::new(&ds, path, &Options::default()))
        .unwrap();
    let group = path.join("zarr.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&group).unwrap()).unwrap();
    doc["attributes"]["emio"]["datasets"] = Value::from(datasets);
    std::fs::write(&group, doc.to_string()).unwrap();
}

#[test]
fn a_member_listed_100000_times_is_read_once_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repeated.zarr");
    store_listing(&path, vec!["data".to_string(); 100_000]);
    let datasets = Zarr.open(&path, &Options::default()).unwrap();
    assert_eq!(datasets.len(), 1);
    assert_eq!(
        datasets[0].read_region_bytes(&[0, 0], &[4, 4]).unwrap(),
        [3; 16]
    );
    let warning = datasets[0].warnings().join("\n");
    assert!(
        warning.contains("lists 100000 datasets, 99999 of them again (data)"),
        "{warning}"
    );
}

#[test]
fn a_group_listing_too_many_members_is_refused_with_a_short_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.zarr");
    store_listing(&path, (0..100_000).map(|i| format!("array{i}")).collect());
    let err = Zarr
        .open(&path, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at most 65536 datasets, found 100000") && err.contains("… and 99992 more"),
        "{err}"
    );
    assert!(err.len() < 1000, "{} characters", err.len());
}

/// Every file below `dir` (the store's chunk and metadata files).
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// An 8 x 8 uint16 store written to `dir/name` with writer `options`, every chunk file
/// passed through `damage`, opened again.
fn damaged_store(
    dir: &Path,
    name: &str,
    options: &[(&str, &str)],
    damage: impl Fn(&mut Vec<u8>),
) -> Dataset {
    let path = dir.join(name);
    let values: Vec<u8> = (0..64u16).flat_map(|v| v.to_ne_bytes()).collect();
    let ds = Dataset::from_bytes(values, DType::U16, vec![8, 8]).unwrap();
    let options = Options::parse(Zarr.write_options(), options).unwrap();
    Zarr.write(&WriteRequest::new(&ds, &path, &options))
        .unwrap();
    let chunks: Vec<_> = files(&path)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "zarr.json"))
        .collect();
    assert!(!chunks.is_empty());
    for chunk in &chunks {
        let mut bytes = std::fs::read(chunk).unwrap();
        damage(&mut bytes);
        std::fs::write(chunk, bytes).unwrap();
    }
    Zarr.open(&path, &Options::default()).unwrap().remove(0)
}

#[test]
fn a_damaged_gzip_chunk_fails_with_the_codecs_error() {
    let dir = tempfile::tempdir().unwrap();
    // The first deflate block after the 10-byte gzip header gets the reserved type.
    let back = damaged_store(dir.path(), "gz.zarr", &[("compressor", "gzip")], |bytes| {
        bytes[10] |= 0b110
    });
    let e = back.read_region_bytes(&[0, 0], &[8, 8]).unwrap_err();
    assert!(matches!(e, emio_core::Error::Codec { .. }), "{e:?}");
    let source = std::error::Error::source(&e).expect("the codec's error");
    assert!(
        source.is::<zarrs::array::CodecError>(),
        "{source:?} is not zarrs' codec error"
    );
    assert!(e.to_string().contains("gz.zarr"), "{e}");
}

#[test]
fn a_blosc_chunk_declaring_another_size_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    // Blosc's header: the decoded size at bytes 4..8 (1 GiB instead of 128 bytes).
    let back = damaged_store(dir.path(), "blosc.zarr", &[], |bytes| {
        bytes[4..8].copy_from_slice(&(1u32 << 30).to_le_bytes())
    });
    let e = back.read_region_bytes(&[0, 0], &[8, 8]).unwrap_err();
    assert!(
        e.to_string()
            .contains("to decode to 128 bytes (blosc declares 1073741824)"),
        "{e}"
    );
}

#[test]
fn zstd_chunks_decode_straight_into_the_region_or_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let zstd = [("compressor", "zstd")];
    let values: Vec<u8> = (0..64u16).flat_map(|v| v.to_ne_bytes()).collect();
    let whole = damaged_store(dir.path(), "ok.zarr", &zstd, |_| {});
    assert_eq!(whole.read_region_bytes(&[0, 0], &[8, 8]).unwrap(), values);
    // A truncated stream: the codec's error, naming the store.
    let back = damaged_store(dir.path(), "bad.zarr", &zstd, |bytes| {
        bytes.truncate(bytes.len() - 3)
    });
    let e = back.read_region_bytes(&[0, 0], &[8, 8]).unwrap_err();
    assert!(matches!(e, emio_core::Error::Codec { .. }), "{e:?}");
    assert!(e.to_string().contains("bad.zarr"), "{e}");
    // A valid stream of fewer bytes than the chunk holds, without a declared size.
    let short = damaged_store(dir.path(), "short.zarr", &zstd, |bytes| {
        *bytes = zstd::stream::encode_all(&[7u8; 100][..], 1).unwrap();
    });
    let e = short.read_region_bytes(&[0, 0], &[8, 8]).unwrap_err();
    assert!(
        e.to_string()
            .contains("a Zstd stream of 128 bytes, it holds 100"),
        "{e}"
    );
    // One that holds more: refused without writing past the region.
    let long = damaged_store(dir.path(), "long.zarr", &zstd, |bytes| {
        *bytes = zstd::stream::encode_all(&[7u8; 1000][..], 1).unwrap();
    });
    let e = long.read_region_bytes(&[0, 0], &[8, 8]).unwrap_err();
    assert!(matches!(e, emio_core::Error::Codec { .. }), "{e:?}");
}
