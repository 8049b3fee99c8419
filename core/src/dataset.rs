//! The dataset model every format maps onto: a lazy pixel source with calibrated axes,
//! HyperSpy-style normalized metadata and the file's original metadata.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::array_data::ArrayData;
use crate::axis::{Axis, AxisKind};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::hyperspy::{LearningResults, Model};
use crate::inputs::InputStamp;
use crate::metadata::{get_str, Tree};
use crate::ragged::{RaggedPixels, RaggedSource};
use crate::source::{element_count, ArraySource, Threads};

/// One N-D array read from (or to be written to) a file.
#[derive(Clone)]
pub struct Dataset {
    /// One axis per dimension of the C-order shape.
    pub axes: Vec<Axis>,
    /// HyperSpy's normalized tree (`General.title`, `Signal.signal_type`, ...).
    pub metadata: Tree,
    /// The file's own metadata, untranslated.
    pub original_metadata: Tree,
    source: Arc<dyn ArraySource>,
    /// What the reader skipped or repaired (see [`Dataset::warn`]).
    warnings: Vec<String>,
    /// Whether this dataset is derived from another one of its file (see
    /// [`Dataset::is_derived`]).
    derived: bool,
    /// Datasets derived from this one (see [`Dataset::derived`]).
    related: Vec<Dataset>,
    /// The files the dataset was read from, as they were when it was opened.
    inputs: Arc<[InputStamp]>,
    /// The items of a ragged dataset (see [`crate::ragged`]).
    ragged: Option<Arc<dyn RaggedSource>>,
    /// The Python package whose signal class holds the data in HyperSpy, where the file
    /// records it (HyperSpy's formats do; rsciio hands it to HyperSpy as `package` and
    /// `package_version`). Writers of those formats store it back.
    pub signal_package: Option<SignalPackage>,
    /// The results of a decomposition or blind source separation HyperSpy stored with the
    /// signal (its formats do); writers of those formats store them back.
    pub learning_results: Option<LearningResults>,
    /// The same of the signal's peaks (HyperSpy 1.x's `peak_learning_results`), kept and
    /// written back like [`Dataset::learning_results`].
    pub peak_learning_results: Option<LearningResults>,
    /// The models HyperSpy stored for the signal (`s.models`; its formats do), kept as
    /// stored and written back by writers of those formats.
    pub models: Vec<Model>,
}

/// The package of a signal's class in HyperSpy (`hyperspy`, `exspy`, `pyxem`, ...) and its
/// version, as HyperSpy files record them (empty strings where a file stores them empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalPackage {
    /// The package's name.
    pub name: String,
    /// The package's version.
    pub version: String,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("dtype", &self.dtype())
            .field("shape", &self.shape())
            .field("axes", &self.axes)
            .field("title", &self.title())
            .finish()
    }
}

/// A hyper-rectangular region: start index and extent per dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// First index per dimension.
    pub start: Vec<u64>,
    /// Number of indices per dimension.
    pub shape: Vec<u64>,
}

impl Region {
    /// Number of elements in the region.
    pub fn len(&self) -> u64 {
        element_count(&self.shape).unwrap_or(u64::MAX)
    }

    /// Whether the region holds no element.
    pub fn is_empty(&self) -> bool {
        self.shape.contains(&0)
    }

    /// The C-order index of the region's first element in an array of `shape` (for
    /// regions of a stream: how many elements come before it).
    pub fn first_element(&self, shape: &[u64]) -> u64 {
        self.start.iter().zip(shape).fold(0u64, |acc, (&i, &n)| {
            acc.saturating_mul(n).saturating_add(i)
        })
    }
}

impl Dataset {
    /// A dataset over `source`. `axes` must have one entry per dimension (non-uniform axes
    /// one value per index); `General.title`, `General.original_filename` and
    /// `Signal.signal_type` are added empty when missing.
    pub fn new(
        source: Arc<dyn ArraySource>,
        axes: Vec<Axis>,
        mut metadata: Tree,
        original_metadata: Tree,
    ) -> Result<Self> {
        let shape = source.shape();
        if axes.len() != shape.len() {
            return Err(Error::Layout(format!(
                "{} axes given for a {}-dimensional array",
                axes.len(),
                shape.len()
            )));
        }
        // Every size derived from the shape (element counts, byte lengths, strides) is
        // then computable without overflow.
        let element_size = source.dtype().size() as u64;
        if crate::strides::element_count(shape)
            .and_then(|n| n.checked_mul(element_size))
            .is_none()
        {
            return Err(Error::Layout(format!(
                "a {shape:?} array of {element_size}-byte elements holds more bytes than \
                 64 bits count"
            )));
        }
        for (axis, &n) in axes.iter().zip(shape) {
            if let AxisKind::Values(v) = &axis.kind {
                if v.len() as u64 != n {
                    return Err(Error::Layout(format!(
                        "axis {:?} has {} values for {n} indices",
                        axis.name,
                        v.len()
                    )));
                }
            }
        }
        for path in [
            "General.title",
            "General.original_filename",
            "Signal.signal_type",
        ] {
            if crate::metadata::get_path(&metadata, path).is_none() {
                crate::metadata::set_path(&mut metadata, path, "");
            }
        }
        Ok(Dataset {
            axes,
            metadata,
            original_metadata,
            source,
            warnings: Vec::new(),
            derived: false,
            related: Vec::new(),
            inputs: Arc::from([]),
            ragged: None,
            signal_package: None,
            learning_results: None,
            peak_learning_results: None,
            models: Vec::new(),
        })
    }

    /// A ragged dataset: one array of its own length at each position of `ragged`'s
    /// shape (see [`crate::ragged`]), with one axis per position dimension.
    pub fn new_ragged(
        ragged: Arc<dyn RaggedSource>,
        axes: Vec<Axis>,
        metadata: Tree,
        original_metadata: Tree,
    ) -> Result<Self> {
        let pixels = Arc::new(RaggedPixels::of(&ragged));
        let mut dataset = Dataset::new(pixels, axes, metadata, original_metadata)?;
        dataset.ragged = Some(ragged);
        Ok(dataset)
    }

    /// The items of a ragged dataset (None for arrays of fixed-size elements): a ragged
    /// dataset's pixel source refuses every read ([`crate::ragged`]).
    pub fn ragged(&self) -> Option<&Arc<dyn RaggedSource>> {
        self.ragged.as_ref()
    }

    /// NumPy's `dtype.str` of the array (`|O` for ragged datasets, object arrays in
    /// NumPy).
    pub fn numpy_str(&self) -> &'static str {
        match self.ragged {
            Some(_) => crate::ragged::NUMPY_STR,
            None => self.dtype().numpy_str(),
        }
    }

    /// Whether this dataset is derived from another dataset of the same file (a virtual
    /// image, a thumbnail, a preview) rather than data of its own. A file of one main
    /// dataset and derived ones converts its main dataset when no dataset is chosen.
    pub fn is_derived(&self) -> bool {
        self.derived
    }

    /// Mark this dataset as derived (see [`Dataset::is_derived`]).
    pub fn mark_derived(&mut self) {
        self.derived = true;
    }

    /// Datasets the file derived from this one (e.g. a blockfile's virtual bright-field
    /// image), which a writer whose format stores such a dataset beside the data keeps.
    pub fn derived(&self) -> &[Dataset] {
        &self.related
    }

    /// Attach a dataset derived from this one (see [`Dataset::derived`]).
    pub fn attach_derived(&mut self, derived: Dataset) {
        self.related.push(derived);
    }

    /// An in-memory dataset with default axes (all signal axes), e.g. for tests.
    pub fn from_bytes(bytes: Vec<u8>, dtype: DType, shape: Vec<u64>) -> Result<Self> {
        let axes = shape.iter().map(|_| Axis::default_for(false)).collect();
        let source = crate::source::StridedSource::from_bytes(bytes, dtype, shape)?;
        Dataset::new(Arc::new(source), axes, Tree::new(), Tree::new())
    }

    /// Record that the reader skipped or repaired something while reading this dataset (a
    /// dataset lost to truncation, a broken directory chain, an ignored field). Warnings
    /// reach the user: emconvert prints them on stderr, `info --json` lists them under
    /// `"warnings"`, and the Python package raises them as Python warnings. Messages are
    /// bounded, repeated ones kept once, and at most [`crate::budget::MAX_WARNINGS`] kept.
    pub fn warn(&mut self, message: impl Into<String>) {
        let message = crate::budget::bounded_message(message);
        if self.warnings.contains(&message) {
            return;
        }
        let cap = crate::budget::MAX_WARNINGS;
        match self.warnings.len() {
            n if n + 1 < cap => self.warnings.push(message),
            n if n + 1 == cap => self.warnings.push("further warnings were left out".into()),
            _ => {}
        }
    }

    /// The same warning on every dataset of a file (for what concerns the whole file, such
    /// as datasets that could not be read at all).
    pub fn warn_all(datasets: &mut [Dataset], message: &str) {
        for ds in datasets {
            ds.warn(message);
        }
    }

    /// The files this dataset was read from, stamped when it was opened (empty for
    /// datasets built in memory). Writes check them before committing
    /// ([`crate::inputs::check_unchanged`]).
    pub fn inputs(&self) -> &[InputStamp] {
        &self.inputs
    }

    /// Set the files this dataset, and those derived from it, were read from (the
    /// registry does this on open).
    pub fn set_inputs(&mut self, inputs: Arc<[InputStamp]>) {
        for derived in &mut self.related {
            derived.set_inputs(inputs.clone());
        }
        for results in [&mut self.learning_results, &mut self.peak_learning_results] {
            for array in results.iter_mut().flat_map(|r| r.arrays.values_mut()) {
                array.set_inputs(inputs.clone());
            }
        }
        self.inputs = inputs;
    }

    /// The learning results stored with the dataset, each with the name of the group
    /// HyperSpy keeps it in ([`crate::hyperspy::learning::GROUPS`]).
    pub fn learning_groups(&self) -> [(&'static str, Option<&LearningResults>); 2] {
        let [(signal, _), (peaks, _)] = crate::hyperspy::learning::GROUPS;
        [
            (signal, self.learning_results.as_ref()),
            (peaks, self.peak_learning_results.as_ref()),
        ]
    }

    /// The learning results held in HyperSpy's group `name` (one of
    /// [`crate::hyperspy::learning::GROUPS`]), to set them; `None` for another name.
    pub fn learning_group_mut(&mut self, name: &str) -> Option<&mut Option<LearningResults>> {
        let [(signal, _), (peaks, _)] = crate::hyperspy::learning::GROUPS;
        match name {
            n if n == signal => Some(&mut self.learning_results),
            n if n == peaks => Some(&mut self.peak_learning_results),
            _ => None,
        }
    }

    /// What the reader skipped or repaired, in the order it happened.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Logical element type.
    pub fn dtype(&self) -> DType {
        self.source.dtype()
    }

    /// C-order shape.
    pub fn shape(&self) -> &[u64] {
        self.source.shape()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn len(&self) -> u64 {
        element_count(self.shape()).unwrap_or(u64::MAX)
    }

    /// Whether the dataset holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the logical array in bytes.
    pub fn nbytes(&self) -> u64 {
        self.len().saturating_mul(self.dtype().size() as u64)
    }

    /// `General.title`.
    pub fn title(&self) -> &str {
        get_str(&self.metadata, "General.title").unwrap_or("")
    }

    /// The lazy pixel source.
    pub fn source(&self) -> &Arc<dyn ArraySource> {
        &self.source
    }

    /// The natural chunk shape of the source.
    pub fn chunk_shape(&self) -> Vec<u64> {
        self.source.chunk_shape()
    }

    /// The whole array as native C-order bytes without copying, when the source's
    /// [`ArraySource::stored_view`] is exactly that ([`crate::StridedView::contiguous`]).
    pub fn mapped(&self) -> Option<&[u8]> {
        self.stored_view()?.contiguous(self.shape(), self.dtype())
    }

    /// The stored bytes seen in place, with per-dimension byte strides and the byte order
    /// of the values, which may differ from the machine's: zero-copy access (see
    /// [`ArraySource::stored_view`]).
    pub fn stored_view(&self) -> Option<crate::source::StridedView<'_>> {
        self.source.stored_view()
    }

    /// The region's C-order, native-order bytes where the source holds them, when they
    /// are one run there (see [`ArraySource::region_in_place`]). The caller guarantees
    /// the region lies inside the array.
    pub fn region_in_place(&self, start: &[u64], shape: &[u64]) -> Option<&[u8]> {
        self.source.region_in_place(start, shape)
    }

    /// Every value exactly once as runs of stored bytes `min_mean_run` bytes long on
    /// average, in no particular order, for order-free passes (see
    /// [`ArraySource::stored_runs`]).
    pub fn stored_runs(&self, min_mean_run: usize) -> Option<crate::source::StoredRuns<'_>> {
        self.source.stored_runs(min_mean_run)
    }

    /// The file whose bytes, from its first byte, are the `bytes` of
    /// [`Dataset::stored_view`], when they are a memory map (see
    /// [`ArraySource::view_file`]).
    pub fn view_file(&self) -> Option<&std::path::Path> {
        self.source.view_file()
    }

    fn check_region(&self, start: &[u64], shape: &[u64]) -> Result<usize> {
        let full = self.shape();
        if start.len() != full.len() || shape.len() != full.len() {
            return Err(Error::OutOfBounds(format!(
                "region of rank {} in an array of rank {}",
                start.len().max(shape.len()),
                full.len()
            )));
        }
        for ((s, n), f) in start.iter().zip(shape).zip(full) {
            if s.checked_add(*n).is_none_or(|end| end > *f) {
                return Err(Error::OutOfBounds(format!(
                    "start {start:?} + shape {shape:?} exceeds {full:?}"
                )));
            }
        }
        element_count(shape)
            .and_then(|n| n.checked_mul(self.dtype().size() as u64))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Error::OutOfBounds(format!("region {shape:?} is too large")))
    }

    /// Read a region into `out` (C order, native-endian). `out` must be exactly the region's
    /// size in bytes.
    pub fn read_region_into(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        self.read_region_into_with(start, shape, out, &crate::format::NoProgress, Threads::All)
    }

    /// [`Dataset::read_region_into`], stopping with [`Error::Cancelled`] once `progress` is
    /// cancelled while the source reads many chunks ([`ArraySource::read_region_with`]).
    pub fn read_region_into_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn crate::format::Progress,
        threads: Threads,
    ) -> Result<()> {
        let n = self.check_region(start, shape)?;
        if out.len() != n {
            return Err(Error::OutOfBounds(format!(
                "buffer of {} bytes for a region of {n} bytes",
                out.len()
            )));
        }
        if n == 0 {
            return Ok(());
        }
        self.source
            .read_region_with(start, shape, out, progress, threads)
            .map_err(|e| self.naming_its_file(e))
    }

    /// `error` naming the file this dataset was read from, unless it names a file already
    /// (sources decode lazily and do not all know their file's path).
    pub fn naming_its_file(&self, error: Error) -> Error {
        match self.inputs.first() {
            Some(input) => error.with_path(input.path()),
            None => error,
        }
    }

    /// Read a region as bytes (C order, native-endian).
    pub fn read_region_bytes(&self, start: &[u64], shape: &[u64]) -> Result<Vec<u8>> {
        let n = self.check_region(start, shape)?;
        let mut out = vec![0u8; n];
        if n > 0 {
            self.source
                .read_region(start, shape, &mut out)
                .map_err(|e| self.naming_its_file(e))?;
        }
        Ok(out)
    }

    /// Read a region as an owned N-D array.
    pub fn read_region(&self, start: &[u64], shape: &[u64]) -> Result<ArrayData> {
        let n = self.check_region(start, shape)?;
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        ArrayData::fill(self.dtype(), &dims, n, |bytes| {
            if bytes.is_empty() {
                Ok(())
            } else {
                self.source
                    .read_region(start, shape, bytes)
                    .map_err(|e| self.naming_its_file(e))
            }
        })
    }

    /// Read the whole dataset as an owned N-D array.
    ///
    /// When the values are stored in a permuted order (Fortran order, a spectrum image
    /// stored energy-first; see [`ArraySource::stored_order`]) they are copied as stored,
    /// at memory speed, and returned as a permuted view with the logical shape, as NumPy's
    /// `transpose` does: indexing and iteration see the logical array, while
    /// `ndarray::ArrayBase::as_slice` is `None` (use `as_standard_layout` for C order).
    pub fn read(&self) -> Result<ArrayData> {
        let start = vec![0; self.ndim()];
        let shape = self.shape().to_vec();
        let Some((perm, stored)) = self.source.stored_order() else {
            return self.read_region(&start, &shape);
        };
        let n = self.check_region(&start, &shape)?;
        let stored_shape = stored.shape().to_vec();
        let dims: Vec<usize> = stored_shape.iter().map(|&d| d as usize).collect();
        let data = ArrayData::fill(self.dtype(), &dims, n, |bytes| {
            if bytes.is_empty() {
                Ok(())
            } else {
                stored
                    .read_region(&start, &stored_shape, bytes)
                    .map_err(|e| self.naming_its_file(e))
            }
        })?;
        // Logical axis i is the stored axis holding logical dimension i.
        let mut axes = vec![0; perm.len()];
        for (position, &logical) in perm.iter().enumerate() {
            axes[logical] = position;
        }
        Ok(data.permuted_axes(&axes))
    }

    /// The same values with the dimensions in the order the source stores them (see
    /// [`ArraySource::stored_order`]), the axes reordered with them; an unchanged clone
    /// when they are stored in the logical order. For passes whose result does not depend
    /// on the order of the values (sums, statistics, reading everything to check it):
    /// their regions then follow the storage instead of transposing it (NCEM's transposed
    /// HDF5, spectrum images stored energy-first).
    pub fn in_stored_order(&self) -> Dataset {
        self.in_stored_order_with_permutation().0
    }

    /// The same values walked as they are stored, for passes whose result depends on no
    /// index at all (totals, reading everything to check it): the dimensions stored
    /// backwards turned around ([`ArraySource::forwards`]: TIA's and MIB's bottom-up
    /// frames), their axes reversed with them, then the dimensions in their stored order
    /// ([`Dataset::in_stored_order`]). Regions of a memory-mapped file are then runs of
    /// it, which [`crate::engine::Engine::for_each_region_in_place`] sees in place where
    /// the values are in the machine's byte order.
    pub fn in_any_order(&self) -> Dataset {
        let mut forwards = self.clone();
        if let Some((reversed, source)) = self.source.forwards() {
            for d in reversed {
                forwards.axes[d] = self.axes[d].reversed(self.shape()[d]);
            }
            forwards.source = source;
        }
        forwards.in_stored_order()
    }

    /// [`Dataset::in_stored_order`] and the permutation it applied: the stored-order
    /// dataset's dimension `i` is this dataset's dimension `perm[i]` (the identity for
    /// data stored in C order). For passes whose result is indexed (a sum over some axes),
    /// which map it back to the logical order.
    pub fn in_stored_order_with_permutation(&self) -> (Dataset, Vec<usize>) {
        let mut stored = self.clone();
        match self.source.stored_order() {
            Some((perm, source)) => {
                stored.axes = perm.iter().map(|&d| self.axes[d].clone()).collect();
                stored.source = source;
                (stored, perm)
            }
            None => (stored, (0..self.ndim()).collect()),
        }
    }

    /// A chunk shape for streaming: whole trailing (signal) dimensions as long as one chunk
    /// stays within `target_bytes`, then as many leading indices as fit.
    pub fn streaming_chunk_shape(&self, target_bytes: u64) -> Vec<u64> {
        streaming_chunk(self.shape(), self.dtype().size() as u64, target_bytes)
    }

    /// A chunk shape for reading fast in any order (reductions, chunked stores): whole
    /// natural chunks of the source ([`Dataset::chunk_shape`]: a stored frame, an HDF5 or
    /// TIFF chunk), grown, innermost dimension first, by whole chunks while a region stays
    /// within `target_bytes`. Regions then follow the storage layout: for a spectrum image
    /// stored energy-major, whole navigation planes for a block of channels rather than
    /// whole spectra gathered from every plane. Unlike [`Dataset::streaming_chunk_shape`],
    /// the regions are not in the array's C order.
    pub fn read_chunk_shape(&self, target_bytes: u64) -> Vec<u64> {
        whole_chunks(
            self.shape(),
            &self.chunk_shape(),
            self.dtype().size() as u64,
            target_bytes,
        )
    }

    /// Regions tiling the dataset on a grid of `chunk` (clipped at the edges), in C order
    /// of the grid.
    pub fn chunks(&self, chunk: &[u64]) -> Chunks {
        Chunks::new(self.shape(), chunk)
    }

    /// SHA-256 of the logical array: C order, every value (or channel) little-endian, read
    /// chunk by chunk in bounded memory. The corpus and `emconvert info --checksum` use it.
    pub fn sha256(&self) -> Result<String> {
        self.sha256_with(&crate::format::NoProgress)
    }

    /// [`Dataset::sha256`] reporting bytes hashed to `progress` and stopping with
    /// [`Error::Cancelled`] once it is cancelled (between regions, and inside a region
    /// between chunks): a sparse HDF5 or Zarr array may be far larger than its file.
    /// A ragged dataset's digest is that of the compact JSON text of its items
    /// ([`crate::ragged`]).
    pub fn sha256_with(&self, progress: &dyn crate::format::Progress) -> Result<String> {
        let mut hasher = Sha256::new();
        if let Some(ragged) = &self.ragged {
            hasher.update(ragged.to_json()?.to_string().as_bytes());
            let digest = hasher.finalize();
            return Ok(digest.iter().map(|b| format!("{b:02x}")).collect());
        }
        let chunk = self.streaming_chunk_shape(16 << 20);
        let unit = self.dtype().swap_unit();
        progress.set_total(self.nbytes());
        for region in self.chunks(&chunk) {
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let mut bytes = vec![0u8; self.check_region(&region.start, &region.shape)?];
            self.read_region_into_with(
                &region.start,
                &region.shape,
                &mut bytes,
                progress,
                Threads::All,
            )?;
            progress.advance(bytes.len() as u64);
            if cfg!(target_endian = "big") {
                crate::dtype::swap_bytes_in_place(&mut bytes, unit);
            }
            hasher.update(&bytes);
        }
        let digest = hasher.finalize();
        Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Whole `chunk`s of an array of `shape` (each clipped to it), grown, innermost dimension
/// first, by whole chunks while the result of `element_bytes` values stays within
/// `target_bytes` ([`Dataset::read_chunk_shape`]).
pub(crate) fn whole_chunks(
    shape: &[u64],
    chunk: &[u64],
    element_bytes: u64,
    target_bytes: u64,
) -> Vec<u64> {
    let mut grown: Vec<u64> = chunk
        .iter()
        .zip(shape)
        .map(|(&c, &n)| c.clamp(1, n.max(1)))
        .collect();
    let mut bytes = grown
        .iter()
        .fold(element_bytes, |b, &c| b.saturating_mul(c));
    for d in (0..shape.len()).rev() {
        if grown[d] >= shape[d] {
            continue;
        }
        let wanted = grown[d].saturating_mul((target_bytes / bytes.max(1)).max(1));
        let whole = wanted >= shape[d];
        let wanted = wanted.min(shape[d]);
        bytes = bytes / grown[d] * wanted;
        grown[d] = wanted;
        if !whole {
            break;
        }
    }
    grown
}

/// The chunk shape of [`Dataset::streaming_chunk_shape`] for an array of `shape` with
/// elements of `element_bytes`: whole trailing dimensions while a chunk stays within
/// `target_bytes`, then as many indices of the next dimension as fit (at least one).
pub(crate) fn streaming_chunk(shape: &[u64], element_bytes: u64, target_bytes: u64) -> Vec<u64> {
    let mut chunk = vec![1u64; shape.len()];
    let mut bytes = element_bytes;
    for d in (0..shape.len()).rev() {
        let n = shape[d].max(1);
        if bytes.saturating_mul(n) <= target_bytes {
            chunk[d] = n;
            bytes *= n;
        } else {
            chunk[d] = (target_bytes / bytes).clamp(1, n);
            break;
        }
    }
    chunk
}

/// Iterator over the regions of a chunk grid; see [`Dataset::chunks`].
#[derive(Debug, Clone)]
pub struct Chunks {
    shape: Vec<u64>,
    chunk: Vec<u64>,
    /// Dimensions from the slowest-varying grid index to the fastest.
    order: Vec<usize>,
    next: Option<Vec<u64>>,
}

impl Chunks {
    /// Regions of `chunk` tiling `shape`. Zero chunk sizes are treated as 1.
    pub fn new(shape: &[u64], chunk: &[u64]) -> Self {
        let chunk: Vec<u64> = shape
            .iter()
            .enumerate()
            .map(|(d, &n)| chunk.get(d).copied().unwrap_or(n).clamp(1, n.max(1)))
            .collect();
        let empty = shape.contains(&0);
        Chunks {
            shape: shape.to_vec(),
            chunk,
            order: (0..shape.len()).collect(),
            next: (!empty).then(|| vec![0; shape.len()]),
        }
    }

    /// The same regions visited with the grid index of `order[0]` varying slowest and of
    /// `order[last]` fastest (C order of an array stored with its axes permuted, such as
    /// an HDF5 dataset stored with reversed axes). `order` must be a permutation of the
    /// dimensions; otherwise the C order is kept.
    pub fn in_order(mut self, order: &[usize]) -> Self {
        let mut seen = vec![false; self.shape.len()];
        let permutation = order.len() == seen.len()
            && order
                .iter()
                .all(|&d| d < seen.len() && !std::mem::replace(&mut seen[d], true));
        if permutation {
            self.order = order.to_vec();
        }
        self
    }

    /// The region shape (clipped to the array).
    pub(crate) fn chunk(&self) -> &[u64] {
        &self.chunk
    }

    /// The dimensions from the slowest-varying grid index to the fastest.
    pub(crate) fn order(&self) -> &[usize] {
        &self.order
    }

    /// The number of `region`, one of this grid's regions: its place in the grid's C order
    /// (0 for the region at the origin, then one more per region along the last dimension
    /// first), whatever order the regions are visited in.
    pub fn number(&self, region: &Region) -> u64 {
        self.shape
            .iter()
            .zip(&self.chunk)
            .zip(&region.start)
            .fold(0, |before, ((&n, &c), &start)| {
                before * n.div_ceil(c) + start / c
            })
    }

    /// Number of regions in the grid.
    pub fn count_total(&self) -> u64 {
        if self.shape.contains(&0) {
            return 0;
        }
        self.shape
            .iter()
            .zip(&self.chunk)
            .map(|(n, c)| n.div_ceil(*c))
            .product()
    }
}

impl Iterator for Chunks {
    type Item = Region;

    fn next(&mut self) -> Option<Region> {
        let start = self.next.take()?;
        let shape = start
            .iter()
            .zip(&self.chunk)
            .zip(&self.shape)
            .map(|((s, c), n)| (*c).min(n - s))
            .collect();
        let mut following = start.clone();
        let mut i = following.len();
        self.next = loop {
            if i == 0 {
                break None;
            }
            i -= 1;
            let k = self.order[i];
            following[k] += self.chunk[k];
            if following[k] < self.shape[k] {
                break Some(following);
            }
            following[k] = 0;
        };
        Some(Region { start, shape })
    }
}
