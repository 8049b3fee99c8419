//! The benchmark's inputs: one row per format (and per layout worth measuring apart), the
//! shape, type and kind of values of each, and how its file is written.

use std::sync::Arc;

use emio::{ArraySource, Axis, DType, Dataset, Tree};

use crate::data::{Generated, Pattern};

/// One generated input.
pub struct Spec {
    /// The row's name (`--only` takes it); the extension for a format's main row.
    pub name: &'static str,
    pub format: &'static str,
    pub extension: &'static str,
    pub what: &'static str,
    pub dtype: DType,
    /// Shape at scale 1; the first dimension is scaled.
    pub shape: [u64; 4],
    /// Leading navigation dimensions.
    pub nav: usize,
    /// Rank actually used (trailing dims of `shape`).
    pub rank: usize,
    /// What the values look like.
    pub pattern: Pattern,
    /// Writer options (`compression`, ...).
    pub options: &'static [(&'static str, &'static str)],
    /// The `chunks` writer option for the (scaled) shape, navigation rank and element
    /// size, when the writer's default is not wanted.
    pub chunks: Option<ChunksFor>,
    /// Written by HyperSpy itself (rsciio over h5py, `benches/rsciio_h5.py`: the kind,
    /// `emd` or `hspy`, and gzip or not) instead of emio's writer: needs `--python`.
    pub rsciio: Option<(&'static str, bool)>,
}

/// Chunk shape for a (scaled) shape, navigation rank and element size.
pub type ChunksFor = fn(&[u64], usize, u64) -> Vec<u64>;

impl Spec {
    /// A row of `format` written by emio's writer with its default options; `nav` leading
    /// navigation dimensions of the last `rank` of `shape`.
    #[allow(clippy::too_many_arguments)]
    const fn new(
        name: &'static str,
        format: &'static str,
        extension: &'static str,
        what: &'static str,
        dtype: DType,
        shape: [u64; 4],
        nav: usize,
        rank: usize,
        pattern: Pattern,
    ) -> Spec {
        Spec {
            name,
            format,
            extension,
            what,
            dtype,
            shape,
            nav,
            rank,
            pattern,
            options: &[],
            chunks: None,
            rsciio: None,
        }
    }

    /// The same row with writer options.
    const fn options(mut self, options: &'static [(&'static str, &'static str)]) -> Spec {
        self.options = options;
        self
    }

    /// The same row with the writer's `chunks` option given by `chunks`.
    const fn chunks(mut self, chunks: ChunksFor) -> Spec {
        self.chunks = Some(chunks);
        self
    }

    /// The same row written by HyperSpy (`kind` `emd` or `hspy`, gzip or not).
    const fn rsciio(mut self, kind: &'static str, gzip: bool) -> Spec {
        self.rsciio = Some((kind, gzip));
        self
    }

    /// Whether the format's main row (selected by the format's name or extension too).
    pub fn main_row(&self) -> bool {
        self.name == self.extension
    }

    /// Whether the stored values are compressed (the scaling table leaves these out).
    pub fn compressed(&self) -> bool {
        self.options
            .iter()
            .any(|(k, v)| *k == "compression" && *v != "none")
            || self.rsciio.is_some_and(|(_, gzip)| gzip)
            || self.format == "hspy" && self.rsciio.is_some()
    }

    /// The values at `scale` (the first dimension scaled).
    fn generated(&self, scale: f64) -> Generated {
        let mut shape: Vec<u64> = self.shape[4 - self.rank..].to_vec();
        shape[0] = ((shape[0] as f64 * scale).round() as u64).max(1);
        // FNV-1a of the row's name: rows of the same shape hold different values.
        let seed = self.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Generated::new(self.pattern, self.dtype, shape, seed)
    }

    /// The dataset of generated values at `scale` (the first dimension scaled).
    pub fn dataset(&self, scale: f64) -> Dataset {
        let source = Arc::new(self.generated(scale));
        let axes = (0..source.shape().len())
            .map(|d| {
                let nav = d < self.nav;
                Axis::uniform(
                    if nav { "scan" } else { "detector" },
                    if nav { "nm" } else { "1/nm" },
                    0.25,
                    0.0,
                    nav,
                )
            })
            .collect();
        let mut meta = Tree::new();
        emio::metadata::set_path(&mut meta, "General.title", self.what);
        Dataset::new(source, axes, meta, Tree::new()).expect("valid generated dataset")
    }

    /// The generator's own sum of every value at `scale` (no file, no reader).
    pub fn generator_sum(&self, scale: f64) -> f64 {
        self.generated(scale).sum()
    }
}

use DType::{F32, U16, U8};
use Pattern::{Diffraction, Eds, Eels, Image, Sparse};

/// 4D-STEM u16 rows in rsciio's chunks (issue 17).
const NCEM_4D: [u64; 4] = [64, 64, 256, 256];
const HSPY_4D: [u64; 4] = [256, 256, 64, 64];
const STACK: [u64; 4] = [1, 512, 1024, 1024];

/// Every row, in the order printed.
pub const SPECS: &[Spec] = &[
    Spec::new(
        "mib",
        "mib",
        "mib",
        "4D-STEM 12-bit",
        U16,
        [128, 128, 256, 256],
        2,
        4,
        Diffraction,
    ),
    Spec::new(
        "mib-sparse",
        "mib",
        "mib",
        "4D-STEM 12-bit, deliberately sparse",
        U16,
        [128, 128, 256, 256],
        2,
        4,
        Sparse,
    ),
    Spec::new(
        "dm4",
        "dm",
        "dm4",
        "EELS SI f32",
        F32,
        [1, 256, 256, 8192],
        2,
        3,
        Eels,
    ),
    Spec::new("dm3", "dm", "dm3", "stack u16", U16, STACK, 1, 3, Image),
    Spec::new("mrc", "mrc", "mrc", "stack f32", F32, STACK, 1, 3, Image),
    Spec::new(
        "blo",
        "blo",
        "blo",
        "PED u8",
        U8,
        [128, 128, 256, 256],
        2,
        4,
        Diffraction,
    ),
    Spec::new("emd", "emd", "emd", "stack u16", U16, STACK, 1, 3, Image),
    // Files as HyperSpy/rsciio (h5py) write them, issue 17: chunks that do not follow the
    // frames. rsciio's NCEM writer stores the array transposed and picks the chunks on the
    // transposed shape: a 64×64 scan of 256×256 frames is stored (256, 256, 64, 64) in
    // chunks of (11, 11, 64, 64). Its `.hspy` writer chunks a 256×256 scan of 64×64 frames
    // (11, 11, 64, 64), gzip with shuffle by default.
    Spec::new(
        "emd-h5py",
        "emd",
        "emd",
        "4D-STEM u16, rsciio's chunks",
        U16,
        NCEM_4D,
        2,
        4,
        Diffraction,
    )
    .chunks(rsciio_ncem_chunks),
    Spec::new(
        "emd-h5py-gzip",
        "emd",
        "emd",
        "4D-STEM u16, rsciio's chunks, gzip",
        U16,
        NCEM_4D,
        2,
        4,
        Diffraction,
    )
    .chunks(rsciio_ncem_chunks)
    .options(&[("compression", "gzip")]),
    Spec::new(
        "hspy",
        "hspy",
        "hspy",
        "4D-STEM u16, rsciio's chunks",
        U16,
        HSPY_4D,
        2,
        4,
        Diffraction,
    )
    .options(&[("compression", "none")]),
    Spec::new(
        "hspy-gzip",
        "hspy",
        "hspy",
        "4D-STEM u16, rsciio's chunks, gzip+shuffle",
        U16,
        HSPY_4D,
        2,
        4,
        Diffraction,
    )
    .options(&[("compression", "gzip")]),
    // The same data written by HyperSpy itself (rsciio, h5py, its default chunks; `.hspy`
    // shuffled as rsciio always does), with `--python`: h5py's read is timed too.
    Spec::new(
        "rsciio-emd",
        "emd",
        "emd",
        "4D-STEM u16, written by rsciio",
        U16,
        NCEM_4D,
        2,
        4,
        Diffraction,
    )
    .rsciio("emd", false),
    Spec::new(
        "rsciio-emd-gzip",
        "emd",
        "emd",
        "4D-STEM u16, written by rsciio, gzip",
        U16,
        NCEM_4D,
        2,
        4,
        Diffraction,
    )
    .rsciio("emd", true),
    Spec::new(
        "rsciio-hspy",
        "hspy",
        "hspy",
        "4D-STEM u16, written by rsciio",
        U16,
        HSPY_4D,
        2,
        4,
        Diffraction,
    )
    .rsciio("hspy", false),
    Spec::new(
        "rsciio-hspy-gzip",
        "hspy",
        "hspy",
        "4D-STEM u16, written by rsciio, gzip",
        U16,
        HSPY_4D,
        2,
        4,
        Diffraction,
    )
    .rsciio("hspy", true),
    Spec::new("tif", "tiff", "tif", "stack u16", U16, STACK, 1, 3, Image),
    Spec::new(
        "xml",
        "empad",
        "xml",
        "4D-STEM f32",
        F32,
        [128, 128, 128, 128],
        2,
        4,
        Diffraction,
    ),
    Spec::new(
        "rpl",
        "ripple",
        "rpl",
        "EDS SI u16",
        U16,
        [1, 256, 512, 4096],
        2,
        3,
        Eds,
    ),
    Spec::new(
        "tvips",
        "tvips",
        "tvips",
        "4D-STEM u16",
        U16,
        [64, 64, 512, 256],
        2,
        4,
        Diffraction,
    ),
    Spec::new(
        "ser",
        "tia",
        "ser",
        "TIA image series u16",
        U16,
        STACK,
        1,
        3,
        Image,
    ),
    Spec::new("npy", "npy", "npy", "stack u16", U16, STACK, 1, 3, Image),
];

/// The chunks rsciio's NCEM writer gives a dataset of logical `shape` (navigation axes
/// first), in the logical order emio's writer takes: it transposes the array and then
/// applies HyperSpy's signal-axis positions to the transposed shape
/// (`get_signal_chunks(data.T.shape, dtype, signal_axes)`), so the chunks are whole along
/// the stored navigation axes and cut the frames into tiles.
fn rsciio_ncem_chunks(shape: &[u64], nav: usize, elem_size: u64) -> Vec<u64> {
    let stored: Vec<u64> = shape.iter().rev().copied().collect();
    let signal: Vec<bool> = (0..shape.len()).map(|k| k >= nav).collect();
    let chunks = emio::hspy::write::signal_chunks(&stored, &signal, elem_size, 1_000_000);
    chunks.into_iter().rev().collect()
}
