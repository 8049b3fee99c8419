//! Sums taken in a fixed order: each unit of the pass (a region) is added up into a box of
//! the result of its own, the box its values reach ([`Share`]), and the units' boxes
//! ([`Part`]) are merged along core's fixed tree of unit numbers
//! ([`emio_core::in_order::InOrder`]), so that a sum of floating-point values is the same
//! to the last bit on every run and with any number of threads.

use std::convert::Infallible;

use emio_core::copy::for_each_run;
use emio_core::in_order::Merge;
use emio_core::Region;

use super::layout::{written_zeros, Accumulator, Layout, Target};

/// A box of a sum's result: the indices from `start` on (over every stored dimension of
/// the data, 0 along the summed ones), `shape` of them (1 along the summed ones), and
/// their values in C order.
pub(super) struct Part {
    start: Vec<u64>,
    shape: Vec<u64>,
    values: Vec<f64>,
}

/// One unit's share of a sum, being added up: the box of the result its region reaches.
pub(super) struct Share {
    start: Vec<u64>,
    shape: Vec<u64>,
    /// C-order strides of the box, 0 along the summed dimensions.
    strides: Vec<u64>,
    acc: Accumulator,
}

impl Share {
    /// Zeros for the box of the result `region` reaches, with integer partial sums when
    /// `integers` ([`Accumulator`]).
    pub(super) fn covering(layout: &Layout, region: &Region, integers: bool) -> Share {
        let kept = |d: usize| layout.kept[d];
        let rank = layout.shape.len();
        let start: Vec<u64> = (0..rank)
            .map(|d| if kept(d) { region.start[d] } else { 0 })
            .collect();
        let shape: Vec<u64> = (0..rank)
            .map(|d| if kept(d) { region.shape[d] } else { 1 })
            .collect();
        // C order over the box, none along the summed dimensions.
        let strides = emio_core::source::c_strides(&shape, 1)
            .into_iter()
            .enumerate()
            .map(|(d, stride)| if kept(d) { stride as u64 } else { 0 })
            .collect();
        let len = shape.iter().product::<u64>() as usize;
        Share {
            start,
            shape,
            strides,
            acc: Accumulator::new(len, integers),
        }
    }

    /// Where [`Layout::reduce`] adds the unit's values.
    pub(super) fn target(&mut self) -> Target<'_> {
        Target {
            acc: &mut self.acc,
            origin: &self.start,
            strides: &self.strides,
        }
    }

    /// The unit's share, added up.
    pub(super) fn close(self) -> Part {
        Part {
            start: self.start,
            shape: self.shape,
            values: self.acc.into_values(),
        }
    }
}

impl Part {
    /// The whole result of a sum laid out by `layout` (C order over the kept dimensions),
    /// from the merge of every unit's part (`None`: there was no unit, the data is empty).
    pub(super) fn into_result(merged: Option<Part>, layout: &Layout) -> Vec<f64> {
        let shape: Vec<u64> = (0..layout.shape.len())
            .map(|d| if layout.kept[d] { layout.shape[d] } else { 1 })
            .collect();
        let start = vec![0; shape.len()];
        match merged {
            Some(part) if part.start == start && part.shape == shape => part.values,
            merged => {
                let mut whole = Part::zeros(start, shape);
                if let Some(part) = merged {
                    whole.add(&part);
                }
                whole.values
            }
        }
    }

    fn zeros(start: Vec<u64>, shape: Vec<u64>) -> Part {
        let len = shape.iter().product::<u64>() as usize;
        Part {
            start,
            shape,
            values: written_zeros(len),
        }
    }

    /// Add `other`'s values to this part's at their places (its box lies inside this one's).
    fn add(&mut self, other: &Part) {
        let inside = Region {
            start: (0..self.start.len())
                .map(|d| other.start[d] - self.start[d])
                .collect(),
            shape: other.shape.clone(),
        };
        let Ok(()) = for_each_run::<Infallible>(&self.shape, 1, &inside, |at, from, len| {
            let to = &mut self.values[at as usize..][..len];
            for (t, f) in to.iter_mut().zip(&other.values[from..from + len]) {
                *t += f;
            }
            Ok(())
        });
    }
}

impl Merge for Part {
    /// Both parts as one: added value by value when they are the same box, else into the
    /// smallest box holding both.
    fn merge(mut self, right: Part) -> Part {
        if self.start == right.start && self.shape == right.shape {
            for (l, r) in self.values.iter_mut().zip(&right.values) {
                *l += r;
            }
            return self;
        }
        let start: Vec<u64> = self
            .start
            .iter()
            .zip(&right.start)
            .map(|(a, b)| *a.min(b))
            .collect();
        let shape: Vec<u64> = (0..start.len())
            .map(|d| {
                (self.start[d] + self.shape[d]).max(right.start[d] + right.shape[d]) - start[d]
            })
            .collect();
        let mut union = Part::zeros(start, shape);
        union.add(&self);
        union.add(&right);
        union
    }
}
