//! Helpers shared by the source tests.

use std::sync::Arc;

use emio_core::{ArraySource, Axis, Dataset, Tree};

/// Every index of `shape`, in C order.
pub fn indices(shape: &[u64]) -> Vec<Vec<u64>> {
    let mut out = vec![vec![]];
    for &n in shape {
        out = out
            .into_iter()
            .flat_map(|p| {
                (0..n).map(move |i| {
                    let mut q = p.clone();
                    q.push(i);
                    q
                })
            })
            .collect();
    }
    out
}

/// `source` as a dataset with default axes and no metadata.
pub fn dataset(source: impl ArraySource + 'static) -> Dataset {
    let n = source.shape().len();
    Dataset::new(
        Arc::new(source),
        vec![Axis::default_for(false); n],
        Tree::new(),
        Tree::new(),
    )
    .unwrap()
}
