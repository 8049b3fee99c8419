//! Damaged HyperSpy files: truncated or bit-flipped copies of the corpus files give errors
//! that name the file, never a panic.

use emio_core::corpus::corpus_files;
use emio_core::Format;
use emio_hspy::Hspy;

#[test]
fn truncated_and_flipped_files_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = corpus_files("hspy", &[".hspy", ".hdf5"]);
    for src in files {
        let bytes = std::fs::read(&src).expect("read corpus file");
        for (i, cut) in [bytes.len() / 2, 2048, 100].into_iter().enumerate() {
            let path = dir.path().join(format!("cut{i}.hspy"));
            std::fs::write(&path, &bytes[..cut.min(bytes.len())]).expect("write");
            match Hspy.open(&path, &Default::default()) {
                Err(e) => assert!(
                    e.to_string().contains(&path.display().to_string()),
                    "{}: error without the file name: {e}",
                    src.display()
                ),
                // A cut that keeps every structure the reader needs: pixels must then fail
                // or agree, never panic.
                Ok(datasets) => {
                    for ds in datasets {
                        let _ = ds.sha256();
                    }
                }
            }
        }
        let mut flipped = bytes.clone();
        for i in (512..flipped.len()).step_by(97) {
            flipped[i] ^= 0x5a;
        }
        let path = dir.path().join("flipped.hspy");
        std::fs::write(&path, &flipped).expect("write");
        if let Ok(datasets) = Hspy.open(&path, &Default::default()) {
            for ds in datasets {
                let _ = ds.sha256();
            }
        }
    }
}

/// A metadata group linked into a cycle or shared by two parents (HDF5 hard links; HyperSpy
/// never writes them) is an error naming both places, found where the walk meets the group
/// again: read as a tree, such links repeat the walk without end (exponentially in the
/// depth limit with two links).
#[test]
fn metadata_groups_linked_in_a_cycle_or_shared_are_an_error_found_at_once() {
    use emio_core::serde_json::json;
    use emio_core::{DType, Dataset, NoProgress, Registry};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ds = Dataset::from_bytes(vec![0u8; 6], DType::U8, vec![2, 3]).expect("dataset");
    ds.original_metadata = json!({"A": {"Loop": {"x": 1}}, "B": {"y": 2}})
        .as_object()
        .cloned()
        .expect("a tree");
    let om = "Experiments/__unnamed__/original_metadata";
    for (name, target) in [
        ("cycle.hspy", om.to_string()),
        ("shared.hspy", format!("{om}/B")),
    ] {
        let path = dir.path().join(name);
        Registry::write(
            &Hspy,
            &ds,
            &path,
            &[] as &[(&str, &str)],
            false,
            &NoProgress,
        )
        .expect("write");
        emio_h5::testing::relink(&path, &format!("{om}/A/Loop"), &target);
        let started = std::time::Instant::now();
        let e = Hspy
            .open(&path, &Default::default())
            .expect_err("a damaged tree")
            .to_string();
        let (first, again) = if name == "cycle.hspy" {
            (om.to_string(), format!("{om}/A/Loop"))
        } else {
            (format!("{om}/A/Loop"), format!("{om}/B"))
        };
        assert!(
            e.contains(&format!("found the group /{first} (identity "))
                && e.contains(&format!(" again at /{again}:")),
            "{name}: {e}"
        );
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(started.elapsed().as_secs() < 5, "{name}");
    }
}
