//! The moments pass of `stats` for data not counted in tables: each piece summarised by
//! core's kernels while it is in cache ([`emio_core::summary`]), the pieces of a unit
//! merged in the order they come, and the units' summaries merged in the order of their
//! numbers ([`InOrder`]), so the mean and the deviation are the same to the last bit on
//! every run and with any number of threads.

use std::collections::HashMap;
use std::sync::Mutex;

use emio_core::in_order::InOrder;
use emio_core::summary::{summary_of, Summary};
use emio_core::{scan, ByteOrder, DType, Result};

/// Summaries of a dataset's values, unit by unit ([`scan::Visitor`]).
pub(super) struct Summaries {
    dtype: DType,
    /// Units some of whose pieces have been summarised, by number.
    open: Mutex<HashMap<u64, Summary>>,
    /// Closed units.
    closed: InOrder<Summary>,
}

impl Summaries {
    /// None yet, for values of `dtype` (in the machine's byte order).
    pub(super) fn new(dtype: DType) -> Self {
        Summaries {
            dtype,
            open: Mutex::new(HashMap::new()),
            closed: InOrder::new(),
        }
    }

    /// The summary of every value handed over.
    pub(super) fn finish(self) -> Summary {
        self.closed.finish().unwrap_or_default()
    }
}

impl scan::Visitor for Summaries {
    fn piece(&self, unit: u64, bytes: &[u8], _: ByteOrder) -> Result<()> {
        let mut part = Summary::default();
        scan::in_blocks(bytes, self.dtype.size(), |block| {
            part.merge(&summary_of(self.dtype, block));
        });
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.entry(unit).or_default().merge(&part);
        Ok(())
    }

    fn close(&self, unit: u64) -> Result<()> {
        let done = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&unit);
        self.closed.add(unit, done.unwrap_or_default());
        Ok(())
    }
}
