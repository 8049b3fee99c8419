//! emio-core: the dataset model every emio format maps onto.
//!
//! - [`DType`], [`ByteOrder`]: logical element types and stored byte order.
//! - [`Axis`]: calibrated axes (uniform or non-uniform).
//! - [`metadata`]: ordered JSON trees for normalized and original metadata.
//! - [`ArraySource`] with [`StridedSource`] and [`ChunkedSource`]: lazy pixel access.
//! - [`Dataset`]: source + axes + metadata, region reads, chunk iteration, checksums.
//! - [`ragged`]: datasets whose positions each hold an array of its own length.
//! - [`Format`], [`Registry`], [`Options`]: the plugin system.
//! - [`fatal`]: temporaries a fatal-signal handler removes.
//! - [`inputs`]: the files each dataset was read from, checked for changes before a write
//!   commits.
//! - [`output`]: atomic writes and region streaming for writers; [`leftovers`]: temporary
//!   outputs of killed processes.
//! - [`corpus`]: where the shared conformance corpus is, for every crate's tests.
//! - [`budget`]: limits on what an input may declare, bounded messages, free-space checks.
//! - [`engine`]: the parallel, bounded-memory streaming engine behind every conversion.
//! - [`plan`]: the write pipeline every writer describes its output with (region grid,
//!   order, edge padding, stored axis order) and runs on the engine.
//! - [`xml`]: a small strict XML reader for metadata documents.
//! - [`read_at`]: positioned reads for parsers of structures scattered through a file.
//! - [`bitplanes`]: bitshuffle's bit-plane and the byte-plane transposes, both ways (SSE2
//!   and GFNI on x86_64).
//! - [`transpose`]: tiled transposes of 1-8 byte elements (SSE2, AVX2 or AVX-512 on x86_64,
//!   chosen at run time).

mod array_data;
pub mod axis;
mod bands;
pub mod bitplanes;
pub mod budget;
mod chunked;
pub mod copy;
pub mod corpus;
pub mod dataset;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod descent;
pub mod dtype;
pub mod engine;
pub mod error;
pub mod fatal;
pub mod format;
pub mod hyperspy;
pub mod in_order;
#[cfg(feature = "deflate")]
pub mod inflate;
pub mod inputs;
pub mod latin1;
pub mod leftovers;
pub mod lz4;
pub mod metadata;
pub mod moments;
pub mod options;
pub mod output;
pub mod plan;
pub mod positioned;
pub mod ragged;
pub mod read_at;
pub mod region_bytes;
pub mod registry;
pub mod running_sums;
pub mod scan;
mod select;
pub mod signals;
pub mod source;
mod staging;
pub mod stream_copy;
mod strides;
pub mod summary;
pub mod swap;
pub mod transpose;
pub mod units;
pub mod values;
pub mod xml;
#[cfg(feature = "zstd")]
pub mod zstd;

pub use array_data::{advise_huge_pages, ArrayData};
pub use axis::{Axis, AxisKind};
pub use dataset::{Chunks, Dataset, Region, SignalPackage};
pub use dtype::{ByteOrder, DType};
pub use error::{Error, Result, ResultExt};
pub use format::{
    CancelFlag, ContentMatch, Format, FormatInfo, NoProgress, Problem, Progress, WriteRequest,
    Writes,
};
pub use metadata::Tree;
pub use options::{ChoiceWord, OptionKind, OptionSet, OptionSpec, OptionValue, Options};
pub use registry::Registry;
pub use source::{
    ArraySource, ChunkDecoder, ChunkedSource, Select, Storage, StoredChunks, StridedSource,
    StridedView,
};

pub use half;
pub use ndarray;
pub use num_complex;
pub use serde_json;
