//! The datasets a container writer stores for the one dataset it is given: the dataset
//! itself, then those derived from it (a blockfile's virtual bright-field image), each
//! under a group name of its own; and progress over all of them as one operation.
//!
//! HyperSpy's HDF5 and Zarr files (`Experiments/<name>`) and NCEM EMD (`signals/<name>`)
//! hold several signals; their writers use this so that converting a file keeps its
//! derived datasets wherever the output can hold them.

use crate::dataset::Dataset;
use crate::format::Progress;

/// `dataset` and the datasets derived from it, in that order, with group names.
#[derive(Debug)]
pub struct Signals<'a> {
    datasets: Vec<&'a Dataset>,
    names: Vec<String>,
}

impl<'a> Signals<'a> {
    /// `dataset` and its derived datasets, each named `name(title)`; a name taken by an
    /// earlier one gets `-2`, `-3`, … added, so every group is distinct.
    pub fn of(dataset: &'a Dataset, name: impl Fn(&str) -> String) -> Self {
        let datasets: Vec<&Dataset> = std::iter::once(dataset).chain(dataset.derived()).collect();
        let mut names: Vec<String> = Vec::with_capacity(datasets.len());
        for d in &datasets {
            let base = name(d.title());
            let mut candidate = base.clone();
            let mut n = 1;
            while names.contains(&candidate) {
                n += 1;
                candidate = format!("{base}-{n}");
            }
            names.push(candidate);
        }
        Signals { datasets, names }
    }

    /// The datasets with their group names, the given dataset first.
    pub fn iter(&self) -> impl Iterator<Item = (&'a Dataset, &str)> + '_ {
        self.datasets
            .iter()
            .copied()
            .zip(self.names.iter().map(String::as_str))
    }

    /// [`Signals::iter`] with the chunk shape each dataset is written with: `requested` (a
    /// writer's `chunks` option) is for the dataset converted, the first; derived ones get
    /// `None`, the writer's default.
    pub fn with_chunks<'r, T>(
        &self,
        requested: Option<&'r [T]>,
    ) -> impl Iterator<Item = (&'a Dataset, &str, Option<&'r [T]>)> + '_
    where
        'r: 'a,
    {
        self.iter()
            .enumerate()
            .map(move |(i, (d, name))| (d, name, requested.filter(|_| i == 0)))
    }

    /// Total bytes of all the datasets (what a writer processes).
    pub fn nbytes(&self) -> u64 {
        self.datasets.iter().map(|d| d.nbytes()).sum()
    }
}

/// Progress of writing several datasets as one operation: the total is set once (for all
/// of them) and the per-dataset totals the writing steps set are ignored.
pub struct Combined<'p> {
    inner: &'p dyn Progress,
}

impl<'p> Combined<'p> {
    /// Report to `inner`, whose total becomes `total` bytes.
    pub fn new(inner: &'p dyn Progress, total: u64) -> Self {
        inner.set_total(total);
        Combined { inner }
    }
}

impl Progress for Combined<'_> {
    fn set_total(&self, _bytes: u64) {}

    fn advance(&self, bytes: u64) {
        self.inner.advance(bytes);
    }

    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    fn note(&self, message: &str) {
        self.inner.note(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::metadata::set_path;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn titled(title: &str, n: u64) -> Dataset {
        let mut d = Dataset::from_bytes(vec![0; n as usize], DType::U8, vec![n]).unwrap();
        set_path(&mut d.metadata, "General.title", title);
        d
    }

    #[test]
    fn derived_datasets_follow_with_distinct_names() {
        let mut main = titled("a/b", 4);
        let mut vbf = titled("a/b", 2);
        vbf.mark_derived();
        main.attach_derived(vbf);
        main.attach_derived(titled("", 1));
        let signals = Signals::of(&main, |t| {
            if t.is_empty() {
                "__unnamed__".into()
            } else {
                t.replace('/', "-")
            }
        });
        let names: Vec<&str> = signals.iter().map(|(_, n)| n).collect();
        assert_eq!(names, ["a-b", "a-b-2", "__unnamed__"]);
        let sizes: Vec<u64> = signals.iter().map(|(d, _)| d.nbytes()).collect();
        assert_eq!(sizes, [4, 2, 1]);
        assert_eq!(signals.nbytes(), 7);
        // A requested chunk shape is for the dataset converted only.
        let chunks: Vec<Option<&[i64]>> = signals
            .with_chunks(Some(&[2i64][..]))
            .map(|(_, _, c)| c)
            .collect();
        assert_eq!(chunks, [Some(&[2i64][..]), None, None]);
        assert!(signals
            .with_chunks::<i64>(None)
            .all(|(_, _, c)| c.is_none()));
    }

    #[derive(Default)]
    struct Counting {
        total: AtomicU64,
        done: AtomicU64,
    }
    impl Progress for Counting {
        fn set_total(&self, bytes: u64) {
            self.total.store(bytes, Ordering::SeqCst);
        }
        fn advance(&self, bytes: u64) {
            self.done.fetch_add(bytes, Ordering::SeqCst);
        }
    }

    #[test]
    fn combined_progress_keeps_the_total_of_all() {
        let inner = Counting::default();
        let combined = Combined::new(&inner, 10);
        combined.set_total(4);
        combined.advance(4);
        combined.set_total(6);
        combined.advance(6);
        assert_eq!(inner.total.load(Ordering::SeqCst), 10);
        assert_eq!(inner.done.load(Ordering::SeqCst), 10);
    }
}
