//! Velox EDS spectrum-image benchmark (issue 8): generates a Velox-like EMD whose
//! `Data/SpectrumStream` holds a realistic X-ray event stream (one `u16` channel index per
//! count, 65535 = next pixel; counts clustered on characteristic lines over a flat
//! background, a Poisson-like number per pixel and frame), then reports, against `cat` of
//! the file in the same run:
//!
//! - open time (headers only), mean of 20 fresh opens;
//! - full decode of the spectrum image (frames summed, rsciio's default) with
//!   `Dataset::read()`, median of three fresh opens after a warm-up (spread printed):
//!   decoded cube GB/s, the GB/s of its non-zero values alone (most of a sparse cube is
//!   zeros), events/s, and stream bytes/s as a ratio to `cat` (median of three runs after a
//!   warm-up, no shell); the decoded counts must equal the generator's event count;
//! - the frame-resolved spectrum image (`sum_frames=false`, one cube per frame, far larger
//!   than memory at real sizes) summed through the chunk API on all cores.
//!
//! ```sh
//! cargo bench --profile profiling --bench emd_spectrum_stream -- --scan 256 --channels 4096 --frames 16 \
//!     --events 4 --dir /tmp/emio-bench
//! ```
//!
//! The file is generated with emio's own HDF5 writer (chunked stream, 8192 events per
//! chunk like Velox) and reused by later runs with the same parameters.

use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;

use emio::metadata::get_str;
use emio::{ArrayData, DType, Dataset, NoProgress, Registry};
use emio_core::engine::Engine;
use emio_h5::writer::{Compression, H5Writer};

/// The marker that ends a pixel in the stream.
const NEXT_PIXEL: u16 = 65535;
/// Events per stored chunk of the stream (Velox's chunking).
const STREAM_CHUNK: u64 = 8192;

/// Parameters of the generated acquisition.
struct Acquisition {
    scan: u64,
    channels: u64,
    frames: u64,
    events_per_pixel: u64,
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The event stream and the start of every frame in it.
fn event_stream(a: &Acquisition) -> (Vec<u16>, Vec<u64>, u64) {
    // Characteristic lines (10 eV channels from -480 eV): C, O, Al, Si, Cr, Fe, Cu K.
    let lines: Vec<u64> = [0.277f64, 0.525, 1.486, 1.740, 5.415, 6.404, 8.048]
        .iter()
        .map(|kev| ((kev * 1000.0 + 480.0) / 10.0) as u64)
        .filter(|&c| c < a.channels)
        .collect();
    let mut rng = Rng(0x5eed);
    let mut stream = Vec::new();
    let mut starts = Vec::new();
    let mut events = 0u64;
    for _ in 0..a.frames {
        starts.push(stream.len() as u64);
        for _ in 0..a.scan * a.scan {
            // Mean `events_per_pixel`, spread like a Poisson count.
            let n = (0..2 * a.events_per_pixel)
                .filter(|_| rng.below(2) == 0)
                .count();
            for _ in 0..n {
                let channel = if rng.below(10) < 7 && !lines.is_empty() {
                    let line = lines[rng.below(lines.len() as u64) as usize];
                    (line + rng.below(9) + rng.below(9)).saturating_sub(8)
                } else {
                    rng.below(a.channels)
                };
                stream.push(channel.min(a.channels - 1) as u16);
            }
            events += n as u64;
            stream.push(NEXT_PIXEL);
        }
    }
    (stream, starts, events)
}

fn json_bytes(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

/// Write a Velox-like EMD with a HAADF image and one EDS spectrum stream.
fn generate(path: &Path, a: &Acquisition) -> emio::Result<u64> {
    let (stream, starts, events) = event_stream(a);
    let mut w = H5Writer::create(path)?;
    let text = |w: &mut H5Writer, p: &str, json: &str| {
        let b = json_bytes(json);
        w.write_dataset(p, DType::U8, &[b.len() as u64, 1], &b, &[])
    };
    text(&mut w, "Version", r#"{"format":"Velox","version":"2"}"#)?;
    let pixel = r#""PixelSize":{"width":"1e-09","height":"1e-09"},"PixelUnitX":"m","PixelUnitY":"m","Offset":{"x":"0","y":"0"}"#;
    let common = r#""Optics":{"AccelerationVoltage":"300000"},"Scan":{"DwellTime":"1e-05","FrameTime":"0.65536"},"Acquisition":{"AcquisitionStartDatetime":{"DateTime":"1700000000"}},"Instrument":{"InstrumentClass":"Titan"}"#;
    let image = "Data/Image/6fdbde41eecc4e1a";
    let (h, wd) = (a.scan, a.scan);
    let haadf: Vec<u8> = (0..h * wd)
        .flat_map(|i| ((i * 37 % 4096) as u16).to_ne_bytes())
        .collect();
    w.write_dataset(
        &format!("{image}/Data"),
        DType::U16,
        &[h, wd, 1],
        &haadf,
        &[],
    )?;
    text(
        &mut w,
        &format!("{image}/Metadata"),
        &format!(
            r#"{{"BinaryResult":{{{pixel},"DetectorIndex":"0"}},"Detectors":{{"Detector-0":{{"DetectorName":"HAADF"}}}},{common}}}"#
        ),
    )?;
    text(
        &mut w,
        "Data/SpectrumImage/2012eb1ad8a94cc9/SpectrumImageSettings",
        &format!(r#"{{"endFramePosition":"{}"}}"#, a.frames),
    )?;
    let group = "Data/SpectrumStream/8a7f21c3b05e4d2f";
    text(
        &mut w,
        &format!("{group}/AcquisitionSettings"),
        &format!(
            r#"{{"bincount":"{}","StreamEncoding":"uint16","DwellTime":"1e-05"}}"#,
            a.channels
        ),
    )?;
    text(
        &mut w,
        &format!("{group}/Metadata"),
        &format!(
            r#"{{"BinaryResult":{{{pixel},"Detector":"SuperXG2"}},"Detectors":{{"Detector-0":{{"DetectorName":"SuperXG21","DetectorType":"AnalyticalDetector","Dispersion":"10","OffsetEnergy":"-480"}}}},{common}}}"#
        ),
    )?;
    let table: Vec<u8> = starts.iter().flat_map(|s| s.to_ne_bytes()).collect();
    w.write_dataset(
        &format!("{group}/FrameLocationTable"),
        DType::U64,
        &[starts.len() as u64, 1],
        &table,
        &[],
    )?;
    let len = stream.len() as u64;
    let data: Vec<u8> = stream.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let data = Dataset::from_bytes(data, DType::U16, vec![len, 1])?;
    w.write_chunked(
        &format!("{group}/Data"),
        &data,
        &[STREAM_CHUNK, 1],
        &[0, 1],
        Compression::None,
        &[],
        &NoProgress,
    )?;
    w.finish()?;
    Ok(events)
}

/// The EDS spectrum image among the datasets of a Velox file.
fn spectrum_image(datasets: Vec<Dataset>) -> Dataset {
    datasets
        .into_iter()
        .find(|d| get_str(&d.metadata, "Signal.signal_type") == Some("EDS_TEM") && d.ndim() >= 3)
        .expect("a spectrum image")
}

fn total_counts(dtype: DType, bytes: &[u8]) -> u64 {
    match dtype {
        DType::U16 => bytes
            .chunks_exact(2)
            .map(|b| u64::from(u16::from_ne_bytes([b[0], b[1]])))
            .sum(),
        DType::U32 => bytes
            .chunks_exact(4)
            .map(|b| u64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])))
            .sum(),
        other => panic!("unexpected SI dtype {other}"),
    }
}

fn main() {
    let value = |flag: &str, default: u64| {
        common::flag_value(flag).map_or(default, |v| v.parse().expect("a number"))
    };
    let a = Acquisition {
        scan: value("--scan", 256),
        channels: value("--channels", 4096),
        frames: value("--frames", 16),
        events_per_pixel: value("--events", 4),
    };
    let dir = common::flag_value("--dir")
        .map_or_else(|| std::env::temp_dir().join("emio-bench"), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("create the benchmark folder");
    let path = dir.join(format!(
        "velox-si-{}x{}x{}-{}f-{}e.emd",
        a.scan, a.scan, a.channels, a.frames, a.events_per_pixel
    ));
    let (stream, _, events) = event_stream(&a);
    let stream_bytes = stream.len() as u64 * 2;
    drop(stream);
    if !path.exists() {
        eprintln!("generating {} ...", path.display());
        generate(&path, &a).expect("write the Velox-like file");
    }
    let file_bytes = std::fs::metadata(&path).expect("the file").len();
    let registry = emio::registry();
    let emd = registry.by_name("emd").expect("the emd format");
    let open = |opts: &[(&str, &str)]| {
        Registry::open_with(emd.as_ref(), &path, opts).expect("open the Velox file")
    };
    let cat = common::cat_timing(&path);
    let cat_rate = file_bytes as f64 / cat.median().as_secs_f64() / 1e9;

    let reps = 20;
    let t = Instant::now();
    for _ in 0..reps {
        let _ = open(&[]);
    }
    let open_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;

    // Full decode, frames summed: fresh open each time (no decoded chunk or row index
    // left from the previous run), one warm-up run, then the median of three.
    let mut counts = 0;
    let mut cube = 0;
    let mut nonzero = 0u64;
    let mut decode = || {
        let si = spectrum_image(open(&[]));
        cube = si.nbytes();
        let t = Instant::now();
        let data = si.read().expect("decode the spectrum image");
        let elapsed = t.elapsed();
        (counts, nonzero) = match &data {
            ArrayData::U16(v) => (
                v.iter().map(|&c| u64::from(c)).sum(),
                v.iter().filter(|&&c| c != 0).count() as u64 * 2,
            ),
            ArrayData::U32(v) => (
                v.iter().map(|&c| u64::from(c)).sum(),
                v.iter().filter(|&&c| c != 0).count() as u64 * 4,
            ),
            _ => panic!("unexpected SI dtype {}", si.dtype()),
        };
        elapsed
    };
    decode();
    let decode_t = common::Timing::of(&mut decode);
    assert_eq!(
        counts, events,
        "every event decoded once (the generator's count)"
    );

    // Frame-resolved: summed through the chunk API, one frame per region.
    let t = Instant::now();
    let si = spectrum_image(open(&[("sum_frames", "false")]));
    let frames_cube = si.nbytes();
    let region = si.read_chunk_shape(8 << 20);
    let total = std::sync::Mutex::new(0u64);
    Engine::default()
        .for_each_region(&si, &region, &NoProgress, |_, bytes| {
            *total.lock().expect("sum lock") += total_counts(si.dtype(), bytes);
            Ok(())
        })
        .expect("sum the frames");
    let frames_t = t.elapsed();
    assert_eq!(total.into_inner().expect("sum lock"), events);

    let secs = decode_t.median().as_secs_f64();
    println!(
        "Velox-like SpectrumStream: {}x{} scan, {} channels, {} frames, {:.1} events/pixel/frame",
        a.scan,
        a.scan,
        a.channels,
        a.frames,
        events as f64 / (a.scan * a.scan * a.frames) as f64
    );
    println!(
        "file {:.1} MiB (stream {:.1} MiB, {} events), cat {:.2} GB/s, {} threads",
        file_bytes as f64 / (1 << 20) as f64,
        stream_bytes as f64 / (1 << 20) as f64,
        events,
        cat_rate,
        rayon::current_num_threads()
    );
    println!("open: {open_ms:.3} ms");
    println!(
        "cat: median {:.3} s of {} runs after a warm-up (spread {})",
        cat.median().as_secs_f64(),
        common::runs(),
        cat.spread()
    );
    println!(
        "decode, frames summed (read): median {:.3} s of {} fresh opens (spread {}), cube {:.2} GB/s ({:.0} MiB, of which non-zero {:.0} MiB = {:.2} GB/s), {:.1} M events/s, stream {:.2} GB/s = {:.2}x cat",
        secs,
        common::runs(),
        decode_t.spread(),
        cube as f64 / secs / 1e9,
        cube as f64 / (1 << 20) as f64,
        nonzero as f64 / (1 << 20) as f64,
        nonzero as f64 / secs / 1e9,
        events as f64 / secs / 1e6,
        stream_bytes as f64 / secs / 1e9,
        stream_bytes as f64 / secs / 1e9 / cat_rate
    );
    let fs = frames_t.as_secs_f64();
    println!(
        "decode, per frame (chunk API sum, incl. open): {:.3} s, cubes {:.2} GB/s ({:.0} MiB), {:.1} M events/s, stream {:.2}x cat",
        fs,
        frames_cube as f64 / fs / 1e9,
        frames_cube as f64 / (1 << 20) as f64,
        events as f64 / fs / 1e6,
        stream_bytes as f64 / fs / 1e9 / cat_rate
    );
}
