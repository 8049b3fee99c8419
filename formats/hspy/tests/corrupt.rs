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
