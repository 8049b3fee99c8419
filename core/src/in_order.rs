//! Results of numbered units (pieces of a map, regions of a grid) merged in the order of
//! their numbers whatever order they arrive in, so that a parallel pass that merges in
//! floating point (moments, sums) gives the same result, to the last bit, on every run and
//! with any number of threads.

use std::collections::HashMap;
use std::sync::Mutex;

/// A result [`InOrder`] merges: two results of neighbouring runs of units as one.
pub trait Merge: Sized {
    /// This result and `right`'s (the units after this one's) as one.
    fn merge(self, right: Self) -> Self;
}

/// Results of units `0, 1, 2, …` (each given once, from any thread, in any order) merged
/// along a fixed binary tree over the numbers: unit `2k` with unit `2k + 1`, those pairs
/// pair by pair, and so on, the left one always first; what the tree's ragged end leaves
/// (fewer than a power of two units) is merged left to right at the end. The tree holds
/// only the merged results whose neighbour has not arrived yet: one per level of the
/// tree (at most the number of binary digits of the unit count) for each run of
/// consecutive units the threads are working through.
#[derive(Debug)]
pub struct InOrder<T> {
    /// Complete subtrees waiting for their neighbour: (level, index) covers units
    /// `index << level .. (index + 1) << level`.
    waiting: Mutex<HashMap<(u32, u64), T>>,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder {
            waiting: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Merge> InOrder<T> {
    /// No result yet.
    pub fn new() -> Self {
        InOrder::default()
    }

    /// The result of unit `unit`.
    pub fn add(&self, unit: u64, result: T) {
        let (mut level, mut index, mut merged) = (0u32, unit, result);
        loop {
            // Looked for and, if absent, waited for under one lock; merged outside it (the
            // merge of large results takes a while).
            let neighbour = {
                let mut waiting = self.lock();
                match waiting.remove(&(level, index ^ 1)) {
                    Some(neighbour) => neighbour,
                    None => {
                        waiting.insert((level, index), merged);
                        return;
                    }
                }
            };
            merged = if index % 2 == 0 {
                merged.merge(neighbour)
            } else {
                neighbour.merge(merged)
            };
            level += 1;
            index /= 2;
        }
    }

    /// Every result added, merged; `None` when none was.
    pub fn finish(self) -> Option<T> {
        let waiting = self.waiting.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut subtrees: Vec<((u32, u64), T)> = waiting.into_iter().collect();
        // By their first unit.
        subtrees.sort_by_key(|&((level, index), _)| index << level);
        subtrees
            .into_iter()
            .map(|(_, t)| t)
            .reduce(|total, t| total.merge(t))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, u64), T>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{summary_of_values, Summary};
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
                tree.finish().unwrap_or_default()
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
        assert!(InOrder::<Summary>::new().finish().is_none());
    }
}
