//! [`Select`]: a view of a source with some dimensions held at one index (NumPy's `a[0]` or
//! `a[:, 0]`), e.g. the first frame of a stack or a column vector seen as 1-D. Re-exported
//! from [`crate::source`].

use std::sync::Arc;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::Progress;
use crate::source::{ArraySource, Threads};

/// The dimensions of a source not held at one index, in order.
pub struct Select {
    inner: Arc<dyn ArraySource>,
    /// Per dimension of `inner`: the index it is held at, or `None` where it is kept.
    at: Vec<Option<u64>>,
    shape: Vec<u64>,
}

impl Select {
    /// A view of `inner` with dimension `d` held at index `at[d]` where that is `Some`
    /// (one entry per dimension of `inner`, each index inside it).
    pub fn new(inner: Arc<dyn ArraySource>, at: Vec<Option<u64>>) -> Result<Self> {
        let full = inner.shape();
        if at.len() != full.len() || at.iter().zip(full).any(|(i, &n)| i.is_some_and(|i| i >= n)) {
            return Err(Error::Layout(format!(
                "indices {at:?} do not select inside an array of shape {full:?}"
            )));
        }
        let shape = at
            .iter()
            .zip(full)
            .filter(|(i, _)| i.is_none())
            .map(|(_, &n)| n)
            .collect();
        Ok(Select { inner, at, shape })
    }

    /// The region of `inner` behind the region `start .. start + shape` of this view.
    fn inner_region(&self, start: &[u64], shape: &[u64]) -> (Vec<u64>, Vec<u64>) {
        let mut kept = start.iter().zip(shape);
        self.at
            .iter()
            .map(|i| match i {
                Some(i) => (*i, 1),
                None => kept
                    .next()
                    .map(|(&s, &n)| (s, n))
                    .expect("one per kept dim"),
            })
            .unzip()
    }
}

impl ArraySource for Select {
    fn dtype(&self) -> DType {
        self.inner.dtype()
    }

    fn shape(&self) -> &[u64] {
        &self.shape
    }

    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        let (start, shape) = self.inner_region(start, shape);
        self.inner
            .read_region_with(&start, &shape, out, progress, threads)
    }

    fn chunk_shape(&self) -> Vec<u64> {
        self.inner
            .chunk_shape()
            .into_iter()
            .zip(&self.at)
            .filter(|(_, i)| i.is_none())
            .map(|(c, _)| c)
            .collect()
    }

    fn decodes_whole_chunks(&self) -> bool {
        self.inner.decodes_whole_chunks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StridedSource;

    #[test]
    fn held_dimensions_drop_out() {
        // (2, 3, 2) holding 0..12.
        let inner = Arc::new(
            StridedSource::from_bytes((0..12).collect(), DType::U8, vec![2, 3, 2]).unwrap(),
        );
        let second = Select::new(inner.clone(), vec![Some(1), None, None]).unwrap();
        assert_eq!(second.shape(), &[3, 2]);
        let mut out = [0u8; 4];
        second.read_region(&[1, 0], &[2, 2], &mut out).unwrap();
        assert_eq!(out, [8, 9, 10, 11]);
        let column = Select::new(inner.clone(), vec![None, None, Some(1)]).unwrap();
        assert_eq!(column.shape(), &[2, 3]);
        assert_eq!(column.chunk_shape().len(), 2);
        let mut out = [0u8; 3];
        column.read_region(&[1, 0], &[1, 3], &mut out).unwrap();
        assert_eq!(out, [7, 9, 11]);
        assert!(matches!(
            Select::new(inner.clone(), vec![Some(2), None, None]),
            Err(Error::Layout(_))
        ));
        assert!(Select::new(inner, vec![None]).is_err());
    }
}
