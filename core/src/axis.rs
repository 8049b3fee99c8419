//! Calibrated axes: one per array dimension, uniform (scale/offset) or given by values.

use serde_json::{json, Value};

/// How coordinates along an axis are defined.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisKind {
    /// `coordinate(i) = offset + i * scale`.
    Uniform {
        /// Step between neighbouring indices.
        scale: f64,
        /// Coordinate of index 0.
        offset: f64,
    },
    /// Explicit coordinate of every index (non-uniform axes); length equals the axis size.
    Values(Vec<f64>),
}

/// One calibrated axis of a dataset, aligned with one dimension of its C-order shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Axis name (`x`, `y`, `Energy loss`, ...); may be empty.
    pub name: String,
    /// Physical units (`nm`, `1/nm`, `eV`, ...); empty when uncalibrated.
    pub units: String,
    /// Whether this axis is a navigation axis (scan position, frame) rather than signal.
    pub navigate: bool,
    /// Coordinates along the axis.
    pub kind: AxisKind,
}

impl Axis {
    /// An uncalibrated axis: scale 1, offset 0, no name or units.
    pub fn default_for(navigate: bool) -> Self {
        Axis {
            name: String::new(),
            units: String::new(),
            navigate,
            kind: AxisKind::Uniform {
                scale: 1.0,
                offset: 0.0,
            },
        }
    }

    /// A uniform axis.
    pub fn uniform(
        name: impl Into<String>,
        units: impl Into<String>,
        scale: f64,
        offset: f64,
        navigate: bool,
    ) -> Self {
        Axis {
            name: name.into(),
            units: units.into(),
            navigate,
            kind: AxisKind::Uniform { scale, offset },
        }
    }

    /// A non-uniform axis given by its coordinates.
    pub fn values(
        name: impl Into<String>,
        units: impl Into<String>,
        values: Vec<f64>,
        navigate: bool,
    ) -> Self {
        Axis {
            name: name.into(),
            units: units.into(),
            navigate,
            kind: AxisKind::Values(values),
        }
    }

    /// Scale and offset when the axis is uniform.
    pub fn scale_offset(&self) -> Option<(f64, f64)> {
        match self.kind {
            AxisKind::Uniform { scale, offset } => Some((scale, offset)),
            AxisKind::Values(_) => None,
        }
    }

    /// Coordinate of index `i`.
    pub fn coordinate(&self, i: usize) -> f64 {
        match &self.kind {
            AxisKind::Uniform { scale, offset } => offset + scale * i as f64,
            AxisKind::Values(v) => v.get(i).copied().unwrap_or(f64::NAN),
        }
    }

    /// The same axis with its `size` indices in reverse order: index `i` of the result has
    /// the coordinate of index `size - 1 - i` of this one.
    pub fn reversed(&self, size: u64) -> Self {
        let kind = match &self.kind {
            AxisKind::Uniform { scale, offset } => AxisKind::Uniform {
                scale: -scale,
                offset: offset + scale * size.saturating_sub(1) as f64,
            },
            AxisKind::Values(v) => AxisKind::Values(v.iter().rev().copied().collect()),
        };
        Axis {
            kind,
            ..self.clone()
        }
    }

    /// Turn explicit values into a uniform axis when they are evenly spaced (relative
    /// tolerance `rtol` of the step); otherwise keep them.
    pub fn uniform_if_evenly_spaced(self, rtol: f64) -> Self {
        let AxisKind::Values(v) = &self.kind else {
            return self;
        };
        if v.len() < 2 {
            let offset = v.first().copied().unwrap_or(0.0);
            return Axis {
                kind: AxisKind::Uniform { scale: 1.0, offset },
                ..self
            };
        }
        let step = (v[v.len() - 1] - v[0]) / (v.len() - 1) as f64;
        let tol = rtol * step.abs().max(f64::MIN_POSITIVE);
        let even = step != 0.0
            && v.iter()
                .enumerate()
                .all(|(i, x)| (x - (v[0] + step * i as f64)).abs() <= tol);
        if !even {
            return self;
        }
        let scale = v[1] - v[0];
        let offset = v[0];
        Axis {
            kind: AxisKind::Uniform { scale, offset },
            ..self
        }
    }

    /// The axis as the JSON object of `emconvert info --json`.
    pub fn to_json(&self, size: u64) -> Value {
        match &self.kind {
            AxisKind::Uniform { scale, offset } => json!({
                "name": self.name,
                "units": self.units,
                "scale": crate::metadata::json_f64(*scale),
                "offset": crate::metadata::json_f64(*offset),
                "size": size,
                "navigate": self.navigate,
            }),
            AxisKind::Values(values) => json!({
                "name": self.name,
                "units": self.units,
                "values": values.iter().map(|v| crate::metadata::json_f64(*v)).collect::<Vec<_>>(),
                "size": size,
                "navigate": self.navigate,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_values_become_uniform() {
        let a =
            Axis::values("t", "s", vec![1.0, 1.5, 2.0, 2.5], false).uniform_if_evenly_spaced(1e-6);
        assert_eq!(a.scale_offset(), Some((0.5, 1.0)));
        let b = Axis::values("t", "s", vec![1.0, 1.5, 2.5], false).uniform_if_evenly_spaced(1e-6);
        assert!(b.scale_offset().is_none());
        assert_eq!(b.coordinate(2), 2.5);
    }
}
