//! What a new user meets in the first hour (issue 14): option paths relative to the current
//! directory, the main dataset of a file converted by default, errors in the user's terms,
//! shape options that do not fit, and N-D data through MRC.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emio::{DType, Dataset, NoProgress, Registry};
use serde_json::Value;

fn emconvert_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emconvert"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run emconvert")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A u16 dataset of `shape` holding 0, 1, 2, ... (wrapping).
fn ramp(shape: &[u64]) -> Dataset {
    let n: u64 = shape.iter().product();
    let bytes: Vec<u8> = (0..n).flat_map(|v| (v as u16).to_ne_bytes()).collect();
    Dataset::from_bytes(bytes, DType::U16, shape.to_vec()).unwrap()
}

/// Write `ds` to `path` in the format its extension names.
fn write(ds: &Dataset, path: &Path) {
    let registry = emio::registry();
    let format = registry.writer_for(path, None).unwrap();
    Registry::write(
        format.as_ref(),
        ds,
        path,
        &[] as &[(&str, &str)],
        true,
        &NoProgress,
    )
    .unwrap();
}

/// A blockfile of a 2 × 3 scan of 4 × 4 u8 patterns (with its virtual bright-field image).
fn blockfile(dir: &Path) -> PathBuf {
    let bytes: Vec<u8> = (0..2 * 3 * 16).map(|v| (v * 7 % 251) as u8).collect();
    let ds = Dataset::from_bytes(bytes, DType::U8, vec![2, 3, 4, 4]).unwrap();
    let path = dir.join("scan.blo");
    write(&ds, &path);
    path
}

fn info_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["info", "--json", "--original"];
    all.extend_from_slice(args);
    let out = emconvert_in(dir, &all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn option_paths_are_relative_to_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write(&ramp(&[4, 3, 5]), &data.join("movie.mrc"));
    // Named so that it is not found by name: only the option points to it.
    std::fs::write(
        data.join("acquisition.txt"),
        "Scan - Enable = Enable\nScan - Size X = 2\nScan - Size Y = 2\n",
    )
    .unwrap();
    let doc = info_json(
        dir.path(),
        &["data/movie.mrc", "-o", "metadata_file=data/acquisition.txt"],
    );
    let ds = &doc["datasets"][0];
    assert_eq!(ds["shape"], serde_json::json!([2, 2, 3, 5]));
    assert_eq!(
        ds["original_metadata"]["de_files"]["metadata_file"],
        "data/acquisition.txt"
    );
    // An absolute path works as well.
    let absolute = data.join("acquisition.txt");
    let datasets =
        emio::open_with(data.join("movie.mrc"), &[("metadata_file", s(&absolute))]).unwrap();
    assert_eq!(datasets[0].shape(), [2, 2, 3, 5]);
}

#[test]
fn the_main_dataset_converts_by_default_and_every_dataset_has_a_title() {
    let dir = tempfile::tempdir().unwrap();
    let blo = blockfile(dir.path());
    let datasets = emio::open(&blo).unwrap();
    assert_eq!(datasets.len(), 2);
    for d in &datasets {
        assert!(!d.title().is_empty(), "untitled dataset {d:?}");
    }
    assert!(!datasets[0].is_derived() && datasets[1].is_derived());
    let out = emconvert_in(dir.path(), &["convert", "scan.blo", "scan.npy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let note = stderr(&out);
    assert!(
        note.contains("main dataset \"Diffraction patterns\"")
            && note.contains("Virtual bright field"),
        "{note}"
    );
    let npy = emio::open(dir.path().join("scan.npy")).unwrap();
    assert_eq!(npy[0].shape(), [2, 3, 4, 4]);
    // BLO to BLO keeps the stored virtual bright-field image, not a recomputed one: make
    // it differ from the mean of each pattern first.
    let mut bytes = std::fs::read(&blo).unwrap();
    bytes[0x1000..0x1000 + 6].copy_from_slice(&[9, 8, 7, 6, 5, 4]);
    std::fs::write(&blo, &bytes).unwrap();
    let out = emconvert_in(dir.path(), &["convert", "scan.blo", "copy.blo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let copy = emio::open(dir.path().join("copy.blo")).unwrap();
    let vbf = copy[1].read_region_bytes(&[0, 0], &[2, 3]).unwrap();
    assert_eq!(vbf, [9, 8, 7, 6, 5, 4]);
}

#[test]
fn container_outputs_keep_the_derived_datasets() {
    let dir = tempfile::tempdir().unwrap();
    let blo = blockfile(dir.path());
    let mut bytes = std::fs::read(&blo).unwrap();
    bytes[0x1000..0x1000 + 6].copy_from_slice(&[9, 8, 7, 6, 5, 4]);
    std::fs::write(&blo, &bytes).unwrap();
    let source = emio::open(&blo).unwrap();
    let patterns = source[0]
        .read_region_bytes(&[0, 0, 0, 0], &[2, 3, 4, 4])
        .unwrap();
    for out in ["scan.hspy", "scan.zspy", "scan.emd"] {
        let cmd = emconvert_in(dir.path(), &["convert", "scan.blo", out]);
        assert!(cmd.status.success(), "{out}: {}", stderr(&cmd));
        let back = emio::open(dir.path().join(out)).unwrap();
        assert_eq!(back.len(), 2, "{out}: {back:?}");
        let by_title = |t: &str| {
            back.iter()
                .find(|d| d.title() == t)
                .unwrap_or_else(|| panic!("{out}: no dataset {t:?} in {back:?}"))
        };
        let main = by_title("Diffraction patterns");
        assert_eq!(main.shape(), [2, 3, 4, 4], "{out}");
        assert_eq!(
            main.read_region_bytes(&[0, 0, 0, 0], &[2, 3, 4, 4])
                .unwrap(),
            patterns,
            "{out}"
        );
        let vbf = by_title("Virtual bright field");
        assert_eq!(vbf.shape(), [2, 3], "{out}");
        assert_eq!(
            vbf.read_region_bytes(&[0, 0], &[2, 3]).unwrap(),
            [9, 8, 7, 6, 5, 4],
            "{out}"
        );
    }
}

/// A writer that fails with an I/O error naming the path it was given (and, with
/// companions, a companion beside it).
struct FailingWriter(bool);

impl emio::Format for FailingWriter {
    fn info(&self) -> emio::FormatInfo {
        let writes = if self.0 {
            emio::Writes::with_companions(&[])
        } else {
            emio::Writes::file(&[])
        };
        emio::FormatInfo {
            name: "failing",
            description: "fails",
            extensions: &["out"],
            read_options: &[],
            writes: Some(writes),
        }
    }
    fn open(&self, _path: &Path, _options: &emio::Options) -> emio::Result<Vec<Dataset>> {
        Ok(Vec::new())
    }
    fn write(&self, request: &emio::WriteRequest) -> emio::Result<()> {
        let path = request.path;
        let failed = std::io::Error::other(format!("cannot finish {}", path.display()));
        Err(emio::Error::io(path, failed))
    }
}

#[test]
fn errors_name_the_users_paths_the_format_and_the_valid_options() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("in.npy");
    write(&ramp(&[3, 4]), &npy);
    // An option the reader does not know: format, file, and every valid option with its
    // type and default.
    let out = emconvert_in(dir.path(), &["info", "in.npy", "-o", "bogus=1"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("in.npy") && err.contains("npy"), "{err}");
    let mrc = dir.path().join("in.mrc");
    write(&ramp(&[2, 3, 4]), &mrc);
    let out = emconvert_in(dir.path(), &["info", "in.mrc", "-o", "bogus=1"]);
    let err = stderr(&out);
    assert!(err.contains("in.mrc: mrc invalid option `bogus`"), "{err}");
    assert!(
        err.contains("navigation_shape (integers like 4,5; unset by default)")
            && err.contains("endianness (one of auto|<|>; default auto)"),
        "{err}"
    );
    // A writer option with a bad value names the writer and the output.
    let out = emconvert_in(dir.path(), &["in.npy", "out.mrc", "-w", "mode=7"]);
    let err = stderr(&out);
    assert!(err.contains("out.mrc: mrc invalid option `mode`"), "{err}");
    // An output that is a folder says so.
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let out = emconvert_in(dir.path(), &["in.npy", "folder"]);
    let err = stderr(&out);
    assert!(err.contains("folder: is a folder"), "{err}");
    assert!(!err.contains("no format"), "{err}");
    // So does a folder named like an output file, with or without --force.
    std::fs::create_dir(dir.path().join("named.npy")).unwrap();
    for force in [&[][..], &["--force"][..]] {
        let mut args = vec!["in.npy", "named.npy"];
        args.extend_from_slice(force);
        let err = stderr(&emconvert_in(dir.path(), &args));
        assert!(err.contains("named.npy: is a folder"), "{err}");
        assert!(!err.contains("exists"), "{err}");
    }
    // A write that fails names the output, never the temporary file it was writing.
    for companions in [false, true] {
        let target = dir.path().join("failed.out");
        let e = Registry::write(
            &FailingWriter(companions),
            &ramp(&[2, 2]),
            &target,
            &[] as &[(&str, &str)],
            false,
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with(s(&target)), "{e}");
        assert!(!e.contains("emio-tmp"), "{e}");
    }
    // An MRC header with nx = 2^31 - 1 is too large, not negative.
    let mut bytes = std::fs::read(&mrc).unwrap();
    bytes[0..4].copy_from_slice(&i32::MAX.to_le_bytes());
    std::fs::write(&mrc, &bytes).unwrap();
    let out = emconvert_in(dir.path(), &["info", "in.mrc"]);
    let err = stderr(&out);
    assert!(
        err.contains("nx = 2147483647 is too large for the file") && !err.contains("negative"),
        "{err}"
    );
}

#[test]
fn shape_options_that_do_not_fit_are_errors_worded_alike() {
    let dir = tempfile::tempdir().unwrap();
    let stack = ramp(&[6, 4, 4]);
    let mut files = Vec::new();
    // navigation_shape is fastest axis first (rsciio's order), TVIPS's scan_shape slowest
    // first (rsciio's too).
    for (name, option, fitted) in [
        ("stack.mrc", "navigation_shape", [2, 3]),
        ("stack.mib", "navigation_shape", [2, 3]),
        ("stack.tvips", "scan_shape", [3, 2]),
    ] {
        let path = dir.path().join(name);
        write(&stack, &path);
        files.push((path, option, fitted));
    }
    for (path, option, fitted) in &files {
        let e = emio::open_with(path, &[(*option, "4,2")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "invalid option `{option}`: (4, 2) does not fit the file: 8 positions for its 6 frames"
            )),
            "{}: {e}",
            path.display()
        );
        let e = emio::open_with(path, &[(*option, "0,6")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a shape"), "{}: {e}", path.display());
        let ok = emio::open_with(path, &[(*option, "3,2")]).unwrap();
        assert_eq!(&ok[0].shape()[..2], fitted, "{}", path.display());
    }
}

#[test]
fn mrc_keeps_the_shape_of_n_dimensional_data_and_reads_zero_cells_as_uncalibrated() {
    let dir = tempfile::tempdir().unwrap();
    for shape in [
        vec![2u64, 3, 4, 5],
        vec![2, 1, 3, 4, 5],
        vec![2, 2, 3, 4, 5],
    ] {
        let npy = dir.path().join("nd.npy");
        write(&ramp(&shape), &npy);
        let out = emconvert_in(dir.path(), &["nd.npy", "nd.mrc", "--force"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stderr(&out)
                .lines()
                .filter(|l| l.contains("note: mrc"))
                .count(),
            1,
            "one note on the flattened dimensions: {}",
            stderr(&out)
        );
        let back = emio::open(dir.path().join("nd.mrc")).unwrap();
        let expected: Vec<u64> = shape.iter().copied().filter(|&n| n != 1).collect();
        assert_eq!(back[0].shape(), expected, "{shape:?}");
        let original = ramp(&shape);
        let all = vec![0; shape.len()];
        assert_eq!(
            back[0]
                .read_region_bytes(&vec![0; expected.len()], &expected)
                .unwrap(),
            original.read_region_bytes(&all, &shape).unwrap()
        );
        // Uncalibrated axes are written with a zero cell and read back uncalibrated.
        for axis in &back[0].axes {
            assert_eq!(axis.scale_offset().map(|(s, _)| s), Some(1.0), "{axis:?}");
            assert_eq!(axis.units, "", "{axis:?}");
        }
    }
}

#[test]
fn errors_found_while_reading_pixels_name_the_file() {
    // A deflate TIFF whose compressed strip is overwritten: it opens (headers are fine),
    // and the read that decodes the strip fails naming the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.tif");
    let values: Vec<u8> = (0..64 * 64u32)
        .flat_map(|i| ((i * 7919 % 60_000) as u16).to_ne_bytes())
        .collect();
    let ds = Dataset::from_bytes(values, DType::U16, vec![64, 64]).unwrap();
    let tiff = emio::registry().by_name("tiff").unwrap();
    Registry::write(
        tiff.as_ref(),
        &ds,
        &path,
        &[("compression", "deflate")],
        false,
        &NoProgress,
    )
    .unwrap();
    let mut raw = std::fs::read(&path).unwrap();
    // The strip lies between the 8-byte header and the directory: damage its middle.
    let middle = raw.len() / 3;
    raw[middle..middle + 64].fill(0xff);
    std::fs::write(&path, &raw).unwrap();
    let (_, datasets) = emio::registry()
        .open(&path, &[] as &[(&str, &str)])
        .unwrap();
    let err = datasets[0].read().unwrap_err().to_string();
    assert!(err.contains("damaged.tif"), "{err}");
}
