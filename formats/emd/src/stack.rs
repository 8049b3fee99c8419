//! A source stacking equally shaped sources along a new first axis (prismatic's
//! `..._depth0000`, `..._depth0001`, ... groups read as one array).

use std::sync::Arc;

use emio_core::source::Threads;
use emio_core::{ArraySource, DType, Error, Progress, Result};

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
            .ok_or_else(|| Error::Layout("nothing to stack".into()))?;
        if sources
            .iter()
            .any(|s| s.shape() != first.shape() || s.dtype() != first.dtype())
        {
            return Err(Error::Layout(
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
    /// Reads the wrapped source with the caller's progress and [`Threads`].
    fn read_region_with(
        &self,
        start: &[u64],
        shape: &[u64],
        out: &mut [u8],
        progress: &dyn Progress,
        threads: Threads,
    ) -> Result<()> {
        if shape[0] == 0 {
            return Ok(());
        }
        let per = out.len() / shape[0] as usize;
        for (k, dst) in out.chunks_mut(per.max(1)).enumerate() {
            let i = (start[0] + k as u64) as usize;
            self.sources[i].read_region_with(&start[1..], &shape[1..], dst, progress, threads)?;
        }
        Ok(())
    }
    fn chunk_shape(&self) -> Vec<u64> {
        let mut c = vec![1];
        c.extend(self.sources[0].chunk_shape());
        c
    }
    fn decodes_whole_chunks(&self) -> bool {
        self.sources.iter().any(|s| s.decodes_whole_chunks())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use emio_core::NoProgress;

    /// A source of zeros that records the `Threads` of every read.
    #[derive(Default)]
    struct Recording(Mutex<Vec<Threads>>);

    impl ArraySource for Recording {
        fn dtype(&self) -> DType {
            DType::U8
        }
        fn shape(&self) -> &[u64] {
            &[2]
        }
        fn read_region_with(
            &self,
            _start: &[u64],
            _shape: &[u64],
            out: &mut [u8],
            _progress: &dyn Progress,
            threads: Threads,
        ) -> Result<()> {
            self.0.lock().unwrap().push(threads);
            out.fill(0);
            Ok(())
        }
        fn chunk_shape(&self) -> Vec<u64> {
            vec![2]
        }
    }

    #[test]
    fn the_callers_threads_reach_every_stacked_source() {
        let parts: Vec<Arc<Recording>> = (0..2).map(|_| Arc::default()).collect();
        let sources = parts
            .iter()
            .map(|p| p.clone() as Arc<dyn ArraySource>)
            .collect();
        let stacked = Stacked::new(sources).unwrap();
        let mut out = [1u8; 4];
        stacked
            .read_region_with(&[0, 0], &[2, 2], &mut out, &NoProgress, Threads::One)
            .unwrap();
        stacked
            .read_region(&[1, 0], &[1, 2], &mut out[..2])
            .unwrap();
        assert_eq!(*parts[0].0.lock().unwrap(), [Threads::One]);
        assert_eq!(*parts[1].0.lock().unwrap(), [Threads::One, Threads::All]);
        assert!(matches!(Stacked::new(Vec::new()), Err(Error::Layout(_))));
    }
}
