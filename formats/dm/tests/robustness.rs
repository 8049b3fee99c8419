//! Every corpus DM file, truncated at many offsets and with bytes flipped at many others,
//! must give an error or valid datasets whose pixels can be read: never a panic, a hang or
//! an allocation the file does not justify.

use std::path::PathBuf;

use emio_core::Storage;

fn corpus_files() -> Vec<PathBuf> {
    emio_core::corpus::corpus_files("dm", &[".dm3", ".dm4"])
}

/// Open `bytes` and read every dataset it yields (errors are fine).
fn exercise(bytes: Vec<u8>) {
    let Ok(datasets) = emio_dm::read_storage(Storage::owned(bytes), "fuzz.dm4") else {
        return;
    };
    for ds in datasets {
        if ds.nbytes() <= 64 << 20 {
            let _ = ds.read();
        }
        for (axis, &n) in ds.axes.iter().zip(ds.shape()) {
            let _ = axis.to_json(n);
        }
        let _ = emio_core::serde_json::to_string(&ds.original_metadata);
    }
}

/// Deterministic pseudo-random offsets below `n` (xorshift).
fn offsets(seed: u64, n: usize, count: usize) -> Vec<usize> {
    let mut x = seed | 1;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        })
        .collect()
}

#[test]
fn corrupted_corpus_files_never_panic() {
    let files = corpus_files();
    for (k, path) in files.iter().enumerate() {
        let original = std::fs::read(path).unwrap();
        let n = original.len();
        // The tag structure sits mostly before and around the pixel arrays; spread the
        // cuts evenly and add pseudo-random ones.
        let mut cuts: Vec<usize> = (0..8).map(|i| i * n / 8).collect();
        cuts.extend(offsets(k as u64 + 1, n, 7));
        for cut in cuts {
            exercise(original[..cut].to_vec());
        }
        // Corrupt bytes mostly inside the first 4 KiB (headers, names, type descriptions).
        let mut flips = offsets(k as u64 + 101, n.min(4096), 10);
        flips.extend(offsets(k as u64 + 7, n, 5));
        for (i, at) in flips.into_iter().enumerate() {
            let mut bytes = original.clone();
            bytes[at] = if i % 2 == 0 {
                bytes[at] ^ 0xff
            } else {
                bytes[at].wrapping_add(1)
            };
            exercise(bytes);
        }
    }
}

#[test]
fn hostile_headers_are_rejected() {
    // DM4 root declaring 2^60 tags.
    let mut b = vec![0, 0, 0, 4];
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&(1u64 << 60).to_be_bytes());
    assert!(emio_dm::read_storage(Storage::owned(b), "x.dm4").is_err());
    // A data tag with a huge array length.
    let mut b = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1];
    b.push(21);
    b.extend_from_slice(&1u16.to_be_bytes());
    b.push(b'A');
    b.extend_from_slice(b"%%%%");
    for w in [3u32, 20, 7, 0x7fff_ffff] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    let e = emio_dm::read_storage(Storage::owned(b), "x.dm3").unwrap_err();
    assert!(e.to_string().contains("array"), "{e}");
}
