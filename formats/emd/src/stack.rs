//! A source stacking equally shaped sources along a new first axis (prismatic's
//! `..._depth0000`, `..._depth0001`, ... groups read as one array).

use std::sync::Arc;

use emio_core::{ArraySource, DType, Error, Result};

/// Equally shaped sources stacked along a new axis 0.
pub struct Stacked {
    sources: Vec<Arc<dyn ArraySource>>,
    shape: Vec<u64>,
}

impl Stacked {
    /// Stack `sources` (at least one; all of one dtype and shape).
    pub fn new(sources: Vec<Arc<dyn ArraySource>>) -> Result<Self> {
        let first = sources
            .first()
            .ok_or_else(|| Error::OutOfBounds("nothing to stack".into()))?;
        if sources
            .iter()
            .any(|s| s.shape() != first.shape() || s.dtype() != first.dtype())
        {
            return Err(Error::OutOfBounds(
                "stacked arrays must share shape and dtype".into(),
            ));
        }
        let mut shape = vec![sources.len() as u64];
        shape.extend_from_slice(first.shape());
        Ok(Stacked { sources, shape })
    }
}

impl ArraySource for Stacked {
    fn dtype(&self) -> DType {
        self.sources[0].dtype()
    }
    fn shape(&self) -> &[u64] {
        &self.shape
    }
    fn read_region(&self, start: &[u64], shape: &[u64], out: &mut [u8]) -> Result<()> {
        if shape[0] == 0 {
            return Ok(());
        }
        let per = out.len() / shape[0] as usize;
        for (k, dst) in out.chunks_mut(per.max(1)).enumerate() {
            let i = (start[0] + k as u64) as usize;
            self.sources[i].read_region(&start[1..], &shape[1..], dst)?;
        }
        Ok(())
    }
    fn chunk_shape(&self) -> Vec<u64> {
        let mut c = vec![1];
        c.extend(self.sources[0].chunk_shape());
        c
    }
}
