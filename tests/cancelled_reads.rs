//! Cancelling a read reaches the source that does the reading, through every kind of
//! wrapping source (issue 16): DigitalMicrograph colour images (`BgraSource`), EMPAD with
//! `remove_nans` (`NanToNum`), gzipped MRC (`Decompressed`) and TVIPS frames read out of
//! stored order (`FrameTable`), each from a file written here. A wrapper that read its
//! inner source without the caller's `Progress` would finish the read instead.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use emio::{DType, Dataset, Error, NoProgress, Progress, Registry, Threads};

/// A caller that lets `allowed` cancellation checks pass, then cancels.
struct CancelAfter {
    allowed: usize,
    checks: AtomicUsize,
}

impl CancelAfter {
    fn new(allowed: usize) -> Self {
        CancelAfter {
            allowed,
            checks: AtomicUsize::new(0),
        }
    }
}

impl Progress for CancelAfter {
    fn is_cancelled(&self) -> bool {
        self.checks.fetch_add(1, Ordering::SeqCst) >= self.allowed
    }
}

/// Value the output buffer holds before a read: bytes a read did not reach keep it.
const UNREAD: u8 = 0xA5;

fn write(ds: &Dataset, path: &Path, options: &[(&str, &str)]) {
    let registry = emio::registry();
    let format = registry.writer_for(path, None).unwrap();
    Registry::write(format.as_ref(), ds, path, options, true, &NoProgress).unwrap();
}

fn open(path: &Path, options: &[(&str, &str)]) -> Dataset {
    emio::open_with(path, options).unwrap().remove(0)
}

/// `n` bytes counting up from 1 (so no byte of the data is `UNREAD` in small arrays).
fn counting(n: u64) -> Vec<u8> {
    (0..n).map(|i| (i % 200 + 1) as u8).collect()
}

/// Read the whole of `ds` with `progress` on one thread, into a buffer of `UNREAD`.
fn read_all(ds: &Dataset, progress: &dyn Progress) -> (emio::Result<()>, Vec<u8>) {
    let mut out = vec![UNREAD; ds.nbytes() as usize];
    let start = vec![0; ds.ndim()];
    let result = ds.read_region_into_with(&start, ds.shape(), &mut out, progress, Threads::One);
    (result, out)
}

/// A read cancelled before it starts writes nothing and says so; the same read not
/// cancelled gives the dataset's values.
fn refuses_a_cancelled_read(name: &str, ds: &Dataset) {
    // A wrapper, not a plain memory map (which has no inner source to reach).
    assert!(ds.source().stored_view().is_none(), "{name}: not a wrapper");
    let (result, out) = read_all(ds, &CancelAfter::new(0));
    assert!(
        matches!(result, Err(Error::Cancelled)),
        "{name}: cancelled read gave {result:?}"
    );
    assert!(out.iter().all(|&b| b == UNREAD), "{name}: bytes written");
    let (result, out) = read_all(ds, &CancelAfter::new(usize::MAX));
    result.unwrap();
    assert_eq!(
        out,
        ds.read_region_bytes(&vec![0; ds.ndim()], ds.shape())
            .unwrap()
    );
}

#[test]
fn dm_colour_images_pass_cancellation_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("colour.dm4");
    let ds = Dataset::from_bytes(counting(3 * 5 * 4), DType::Rgba8, vec![3, 5]).unwrap();
    write(&ds, &path, &[]);
    let back = open(&path, &[]);
    assert_eq!(back.dtype(), DType::Rgba8);
    refuses_a_cancelled_read("dm rgba", &back);
}

#[test]
fn empad_without_nans_passes_cancellation_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.xml");
    let values: Vec<u8> = (0..2 * 128 * 128u32)
        .flat_map(|i| (i as f32).to_ne_bytes())
        .collect();
    let ds = Dataset::from_bytes(values, DType::F32, vec![2, 128, 128]).unwrap();
    write(&ds, &path, &[]);
    let back = open(&path, &[("remove_nans", "true")]);
    refuses_a_cancelled_read("empad remove_nans", &back);
}

#[test]
fn gzipped_mrc_passes_cancellation_on() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("volume.mrc");
    let ds = Dataset::from_bytes(counting(4 * 6 * 8), DType::U8, vec![4, 6, 8]).unwrap();
    write(&ds, &plain, &[]);
    let gz = dir.path().join("volume.mrc.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    encoder.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    encoder.finish().unwrap();
    let back = open(&gz, &[]);
    refuses_a_cancelled_read("mrc.gz", &back);
}

#[test]
fn tvips_frames_out_of_order_stop_after_the_frame_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan_000.tvips");
    let (frames, side) = (8u64, 4u64);
    let ds = Dataset::from_bytes(
        counting(frames * side * side),
        DType::U8,
        vec![frames, side, side],
    )
    .unwrap();
    write(&ds, &path, &[]);
    // A serpentine scan: frames are read one by one, out of stored order.
    let back = open(&path, &[("scan_shape", "2,4"), ("winding_scan_axis", "x")]);
    assert_eq!(back.shape(), &[2, 4, side, side]);
    refuses_a_cancelled_read("tvips winding", &back);
    // Cancelled once the first frame is read: the read stops there.
    let (result, out) = read_all(&back, &CancelAfter::new(1));
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    let frame = (side * side) as usize;
    assert!(out[..frame].iter().all(|&b| b != UNREAD));
    assert!(out[frame..].iter().all(|&b| b == UNREAD));
}
