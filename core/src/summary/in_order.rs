//! Summaries of numbered units (pieces of a map, regions of a grid) merged in the order of
//! their numbers whatever order they arrive in, so that a parallel pass gives the same
//! mean and deviation, to the last bit, on every run and with any number of threads.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Summary;

/// Summaries of units `0, 1, 2, …` (each given once, from any thread, in any order) merged
/// along a fixed binary tree over the numbers: unit `2k` with unit `2k + 1`, those pairs
/// pair by pair, and so on, the left one always first; what the tree's ragged end leaves
/// (fewer than a power of two units) is merged left to right at the end. The tree holds
/// only the merged summaries whose neighbour has not arrived yet: a few per thread when
/// the threads take the units in runs of consecutive numbers.
#[derive(Debug, Default)]
pub struct InOrder {
    /// Complete subtrees waiting for their neighbour: (level, index) covers units
    /// `index << level .. (index + 1) << level`.
    waiting: Mutex<HashMap<(u32, u64), Summary>>,
}

impl InOrder {
    /// No summary yet.
    pub fn new() -> Self {
        InOrder::default()
    }

    /// The summary of unit `unit`.
    pub fn add(&self, unit: u64, summary: Summary) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let (mut level, mut index, mut merged) = (0u32, unit, summary);
        while let Some(neighbour) = waiting.remove(&(level, index ^ 1)) {
            merged = if index % 2 == 0 {
                merged.merged(&neighbour)
            } else {
                neighbour.merged(&merged)
            };
            level += 1;
            index /= 2;
        }
        waiting.insert((level, index), merged);
    }

    /// Every summary added, merged.
    pub fn finish(self) -> Summary {
        let waiting = self.waiting.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut subtrees: Vec<((u32, u64), Summary)> = waiting.into_iter().collect();
        // By their first unit.
        subtrees.sort_by_key(|&((level, index), _)| index << level);
        subtrees
            .into_iter()
            .fold(Summary::default(), |total, (_, s)| total.merged(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::summary_of_values;
    use crate::DType;

    /// Units added in any order merge to the same bits as in order, and to the summary of
    /// all the values at once (to rounding), for every count of units up to 40.
    #[test]
    fn any_arrival_order_gives_the_same_bits() {
        let values: Vec<f64> = (0..4000u64)
            .map(|i| 1e6 + ((i * 7919) % 1009) as f64 * 0.1 + (i as f64).sqrt())
            .collect();
        for units in 1..=40usize {
            let parts: Vec<Summary> = values
                .chunks(values.len().div_ceil(units))
                .map(summary_of_values)
                .collect();
            let merged = |order: &[usize]| {
                let tree = InOrder::new();
                for &u in order {
                    tree.add(u as u64, parts[u]);
                }
                tree.finish()
            };
            let forward: Vec<usize> = (0..parts.len()).collect();
            let want = merged(&forward);
            let backward: Vec<usize> = forward.iter().rev().copied().collect();
            // Two threads' spread order: the two halves interleaved.
            let half = parts.len().div_ceil(2);
            let spread: Vec<usize> = (0..half)
                .flat_map(|i| [i, i + half])
                .filter(|&u| u < parts.len())
                .collect();
            for order in [&backward, &spread] {
                let got = merged(order);
                assert_eq!(got.mean.to_bits(), want.mean.to_bits(), "{units} units");
                assert_eq!(got.m2.to_bits(), want.m2.to_bits(), "{units} units");
                assert_eq!(got.sum.to_bits(), want.sum.to_bits(), "{units} units");
            }
            let whole = crate::summary::summary_of(DType::F64, bytemuck::cast_slice(&values));
            assert_eq!(
                (want.count, want.min, want.max),
                (whole.count, whole.min, whole.max)
            );
            assert!((want.mean - whole.mean).abs() < 1e-9 * whole.mean);
            assert!((want.m2 - whole.m2).abs() < 1e-9 * whole.m2);
        }
        assert_eq!(InOrder::new().finish().count, 0);
    }
}
