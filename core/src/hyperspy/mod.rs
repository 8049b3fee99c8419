//! HyperSpy's hierarchical signal layout, shared by its HDF5 (`.hspy`) and Zarr (`.zspy`)
//! files, which rsciio reads and writes with one code path (`rsciio._hierarchical`):
//! the dict-to-group encoding of metadata trees ([`tree`]), the axis dictionaries
//! ([`axes`]), the expressions of functional axes ([`expr`]), learning results
//! ([`learning`]) and the models fitted to signals ([`models`]).
//!
//! The container side stays in the format crates: they implement [`tree::TreeSource`]
//! (reading) and [`tree::TreeSink`] (writing) over their store.

pub mod axes;
pub mod expr;
pub mod learning;
pub mod models;
pub mod tree;

pub use axes::{axis_dict, axis_from_dict};
pub use learning::LearningResults;
pub use models::{Model, StoredArray, StoredElement, StoredGroup, StoredRead};
pub use tree::{
    dict2group, group2dict, package_attrs, signal_package, ListArray, Member, TreeSink, TreeSource,
};
