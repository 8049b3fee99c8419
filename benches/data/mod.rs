//! The values the benchmark writes into its inputs, made to look like what detectors record
//! (issue 23), deterministic and generated on read: any region of any dataset can be made
//! alone, on any thread, from the flat indices of its values.
//!
//! - [`Pattern::Diffraction`] (4D-STEM, PED): a bright disc of ~200 counts per pixel on a
//!   Poisson background of 0.05 counts per pixel, the disc drifting by 1/16 of the frame
//!   across the scan. Its radius, a quarter of the frame (a fifth of the pixels), makes
//!   zstd level 1 compress 12-bit frames about 6.5:1, as issue 23 measured on such scans.
//! - [`Pattern::Eels`] (EELS spectrum images, float): a power-law background with two
//!   ionisation edges, varying thickness across the scan, shot and read-out noise.
//! - [`Pattern::Eds`] (EDS spectrum images, counts): a low bremsstrahlung background and
//!   characteristic peaks, a few hundred counts per spectrum, Poisson counts.
//! - [`Pattern::Image`] (image stacks): a smooth image of ~500 counts drifting from frame to
//!   frame, with shot noise (Poisson counts, or real-valued for float data).
//! - [`Pattern::Sparse`]: the benchmark's synthetic frames before issue 23, kept for one
//!   row that is deliberately sparse (mostly zeros).
//!
//! Values are stored as the dataset's type can hold them: `u8` clipped at 255, `u16` at
//! 4095 (12-bit counters), `f32` as they are.

mod random;

use std::f64::consts::TAU;

use emio::{ArraySource, DType, Progress, Result, Threads};
use rayon::prelude::*;

use random::{hash, normal, Poisson};

/// What the values of a dataset look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// 4D-STEM diffraction frames (the last two dimensions) over a scan.
    Diffraction,
    /// An EELS spectrum image (spectra along the last dimension), real-valued.
    Eels,
    /// An EDS spectrum image (spectra along the last dimension), low counts.
    Eds,
    /// A stack of images (the last two dimensions).
    Image,
    /// Sparse frames: a few counts of 1-2 and a noisy disc, mostly zeros.
    Sparse,
}

impl Pattern {
    /// A short name for the benchmark's file names and rows.
    pub fn label(self) -> &'static str {
        match self {
            Pattern::Diffraction => "disc",
            Pattern::Eels => "eels",
            Pattern::Eds => "eds",
            Pattern::Image => "image",
            Pattern::Sparse => "sparse",
        }
    }
}

/// Mean counts per pixel inside the diffraction disc.
const DISC_COUNTS: f64 = 200.0;
/// Mean counts per pixel of the diffraction background.
const BACKGROUND_COUNTS: f64 = 0.05;
/// Mean counts per pixel of the images.
const IMAGE_COUNTS: f64 = 500.0;
/// Thickness levels of the EDS spectrum image (each with its own table of channel means).
const EDS_LEVELS: usize = 8;

/// Per-dataset tables computed once, so a value costs a hash and a few operations.
enum Tables {
    None,
    /// EELS: the mean of every channel at unit thickness.
    Spectrum(Vec<f64>),
    /// EDS: the count distribution of every channel at each of [`EDS_LEVELS`] thicknesses.
    Counts(Vec<Poisson>),
    /// Images: two column profiles of the smooth image.
    Columns(Vec<[f64; 2]>),
}

/// A dataset of generated values ([`ArraySource`]): `shape` in C order, values of
/// `pattern` stored as `dtype` (`u8`, `u16` or `f32`).
pub struct Generated {
    dtype: DType,
    shape: Vec<u64>,
    pattern: Pattern,
    seed: u64,
    tables: Tables,
    /// Navigation positions and frame rows/columns (or channels) of one value's index.
    strides: Strides,
}

/// The sizes a value's coordinates are found from.
struct Strides {
    /// Values per row of the last dimension.
    inner: u64,
    /// Rows of the frame (second to last dimension).
    rows: u64,
    /// Navigation positions per scan row (the third to last dimension of 4D data; 1 else).
    scan_x: u64,
    /// Scan rows.
    scan_y: u64,
}

impl Generated {
    /// Values of `pattern` for a dataset of `shape` and `dtype`; `seed` makes datasets of
    /// the same shape differ.
    pub fn new(pattern: Pattern, dtype: DType, shape: Vec<u64>, seed: u64) -> Self {
        assert!(
            matches!(dtype, DType::U8 | DType::U16 | DType::F32),
            "the benchmark generates u8, u16 and f32 data, not {dtype}"
        );
        let dim = |k: usize| -> u64 { shape.len().checked_sub(k).map_or(1, |d| shape[d].max(1)) };
        let strides = Strides {
            inner: dim(1),
            rows: dim(2),
            scan_x: if shape.len() >= 4 { dim(3) } else { 1 },
            scan_y: if shape.len() >= 4 {
                shape[..shape.len() - 3].iter().product::<u64>().max(1)
            } else {
                dim(3)
            },
        };
        let channels = strides.inner as usize;
        let tables = match pattern {
            Pattern::Eels => {
                Tables::Spectrum((0..channels).map(|e| eels_mean(e, channels)).collect())
            }
            Pattern::Eds => Tables::Counts(
                (0..EDS_LEVELS)
                    .flat_map(|level| {
                        let thickness = 0.6 + 0.8 * level as f64 / (EDS_LEVELS - 1) as f64;
                        (0..channels).map(move |e| Poisson::new(thickness * eds_mean(e, channels)))
                    })
                    .collect(),
            ),
            Pattern::Image => Tables::Columns(
                (0..channels)
                    .map(|c| {
                        let x = c as f64 / channels as f64;
                        [(TAU * 2.0 * x).cos(), (TAU * 7.0 * x).cos()]
                    })
                    .collect(),
            ),
            Pattern::Diffraction | Pattern::Sparse => Tables::None,
        };
        Generated {
            dtype,
            shape,
            pattern,
            seed,
            tables,
            strides,
        }
    }

    /// The values at the `n` consecutive flat indices from `first`, which lie in one row of
    /// the last dimension: `emit(i, value)` for each, `value` as stored (clipped, rounded).
    pub fn row(&self, first: u64, n: usize, mut emit: impl FnMut(usize, f64)) {
        let s = &self.strides;
        let (row_index, col0) = (first / s.inner, first % s.inner);
        let noise = |i: usize| hash(self.seed, first + i as u64);
        let float = self.dtype == DType::F32;
        match (&self.tables, self.pattern) {
            (_, Pattern::Diffraction) => {
                let (frame, r) = (row_index / s.rows, row_index % s.rows);
                let (sy, sx) = (frame / s.scan_x, frame % s.scan_x);
                let drift = |pos: u64, of: u64| (pos as f64 + 0.5) / of as f64 - 0.5;
                let (h, w) = (s.rows as f64, s.inner as f64);
                let radius = h.min(w) / 4.0;
                let cy = h / 2.0 + h / 16.0 * drift(sy, s.scan_y);
                let cx = w / 2.0 + w / 16.0 * drift(sx, s.scan_x);
                let dy = r as f64 + 0.5 - cy;
                let half = (radius * radius - dy * dy).max(0.0).sqrt();
                let (disc, background) =
                    (Poisson::new(DISC_COUNTS), Poisson::new(BACKGROUND_COUNTS));
                for i in 0..n {
                    let x = (col0 + i as u64) as f64 + 0.5;
                    let counts = if (x - cx).abs() < half {
                        &disc
                    } else {
                        &background
                    };
                    emit(i, self.store(counts.sample(noise(i))));
                }
            }
            (Tables::Spectrum(means), _) => {
                let pixel = row_index;
                let thickness = self.thickness(pixel);
                for i in 0..n {
                    let mean = thickness * means[col0 as usize + i];
                    // Shot noise and 2 counts of read-out noise, real-valued.
                    let v = mean + (mean + 4.0).sqrt() * normal(noise(i));
                    emit(i, self.store(v));
                }
            }
            (Tables::Counts(levels), _) => {
                let level = ((self.thickness(row_index) - 0.6) / 0.8 * (EDS_LEVELS - 1) as f64)
                    .round()
                    .clamp(0.0, (EDS_LEVELS - 1) as f64) as usize;
                let channels = &levels[level * s.inner as usize..][..s.inner as usize];
                for i in 0..n {
                    emit(i, self.store(channels[col0 as usize + i].sample(noise(i))));
                }
            }
            (Tables::Columns(columns), _) => {
                let (frame, r) = (row_index / s.rows, row_index % s.rows);
                let y = r as f64 / s.rows as f64;
                let wave = (TAU * 3.0 * y + 0.05 * frame as f64).sin();
                let shift = frame % s.inner;
                for i in 0..n {
                    let c = ((col0 + i as u64 + shift) % s.inner) as usize;
                    let [slow, fast] = columns[c];
                    let mean = IMAGE_COUNTS * (0.7 + 0.2 * wave * slow + 0.1 * fast);
                    let v = if float {
                        mean + mean.sqrt() * normal(noise(i))
                    } else {
                        Poisson::new(mean).sample(noise(i))
                    };
                    emit(i, self.store(v));
                }
            }
            (_, _) => {
                for i in 0..n {
                    emit(i, self.store(sparse_count(first + i as u64, s.inner)));
                }
            }
        }
    }

    /// The relative thickness (0.6-1.4) at navigation position `pixel` of a spectrum
    /// image: smooth across the scan.
    fn thickness(&self, pixel: u64) -> f64 {
        let s = &self.strides;
        let (ny, nx) = (s.scan_y, s.rows);
        let (y, x) = (
            (pixel / nx) as f64 / ny as f64,
            (pixel % nx) as f64 / nx as f64,
        );
        1.0 + 0.4 * (TAU * y).sin() * (TAU * x).cos()
    }

    /// `v` as the dataset's type stores it, as a number.
    fn store(&self, v: f64) -> f64 {
        match self.dtype {
            DType::U8 => v.round().clamp(0.0, 255.0),
            DType::U16 => v.round().clamp(0.0, 4095.0),
            _ => v as f32 as f64,
        }
    }

    /// The sum of every value, computed from the generator alone (no file, no reader):
    /// the independent check of the benchmark's sums.
    pub fn sum(&self) -> f64 {
        let inner = self.strides.inner;
        let rows = self.shape.iter().product::<u64>() / inner;
        (0..rows)
            .into_par_iter()
            .map(|r| {
                let mut s = 0.0;
                self.row(r * inner, inner as usize, |_, v| s += v);
                s
            })
            .sum()
    }
}

/// The EELS background and edges at channel `e` of `channels` (200-2200 eV): a power law
/// `E^-3` (5000 counts at 200 eV) and edges at 284 eV (carbon K) and 532 eV (oxygen K),
/// each a jump of a fraction of the background decaying as `E^-2` above it.
fn eels_mean(e: usize, channels: usize) -> f64 {
    let energy = 200.0 + 2000.0 * e as f64 / channels as f64;
    let background = 5000.0 * (energy / 200.0).powf(-3.0);
    let edge = |onset: f64, jump: f64| {
        if energy < onset {
            0.0
        } else {
            jump * 5000.0 * (onset / 200.0).powf(-3.0) * (energy / onset).powf(-2.0)
        }
    };
    background + edge(284.0, 0.6) + edge(532.0, 0.3)
}

/// The EDS mean counts at channel `e` of `channels` (0-20 keV) for a spectrum of ~400
/// counts: a bremsstrahlung hump and Gaussian peaks at a few characteristic lines.
fn eds_mean(e: usize, channels: usize) -> f64 {
    let energy = 20.0 * e as f64 / channels as f64;
    let bremsstrahlung = 0.08 * energy * (20.0 - energy).max(0.0) / 100.0;
    let width = 0.06;
    let peak = |line: f64, height: f64| height * (-0.5 * ((energy - line) / width).powi(2)).exp();
    bremsstrahlung
        + peak(0.277, 2.0)
        + peak(0.525, 3.0)
        + peak(1.74, 6.0)
        + peak(6.40, 4.0)
        + peak(8.05, 2.0)
}

/// The count of the deliberately sparse row at flat index `idx` (rows of `inner` values):
/// counts of 1-2 at 1/4 of the pixels and a disc of 200-1223 counts (the benchmark's data
/// before issue 23).
fn sparse_count(idx: u64, inner: u64) -> f64 {
    let (row, col) = ((idx / inner) % inner.max(1), idx % inner);
    let (dr, dc) = (row as i64 - inner as i64 / 2, col as i64 - inner as i64 / 2);
    let disc = dr * dr + dc * dc < (inner as i64 / 8).pow(2);
    // The weak hash the benchmark used then, so the row holds the same values.
    let mut h = idx;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (if disc {
        200 + (h & 0x3ff)
    } else {
        (h & 0x7).saturating_sub(5)
    }) as f64
}

impl ArraySource for Generated {
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn shape(&self) -> &[u64] {
        &self.shape
    }
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        _progress: &dyn Progress,
        _threads: Threads,
    ) -> Result<()> {
        // Any region (writers with their own chunks ask for blocks that cut the trailing
        // dimensions): one run of consecutive flat indices per row of the last dimension.
        let strides: Vec<u64> = (0..self.shape.len())
            .map(|d| self.shape[d + 1..].iter().product())
            .collect();
        let es = self.dtype.size();
        let row = shape.last().map_or(1, |&n| n as usize);
        let mut rows = out.chunks_exact_mut(row * es);
        let lead = &shape[..shape.len().saturating_sub(1)];
        emio_core::source::for_each_index(lead, |index| {
            let first: u64 = start
                .iter()
                .zip(index.iter().chain([&0]))
                .zip(&strides)
                .map(|((s, i), t)| (s + i) * t)
                .sum();
            let Some(cells) = rows.next() else { return };
            match self.dtype {
                DType::U8 => self.row(first, row, |i, v| cells[i] = v as u8),
                DType::U16 => self.row(first, row, |i, v| {
                    cells[2 * i..2 * i + 2].copy_from_slice(&(v as u16).to_ne_bytes())
                }),
                _ => self.row(first, row, |i, v| {
                    cells[4 * i..4 * i + 4].copy_from_slice(&(v as f32).to_ne_bytes())
                }),
            }
        });
        Ok(())
    }
    fn chunk_shape(&self) -> Vec<u64> {
        let mut c = self.shape.clone();
        c[0] = 1;
        c
    }
}
