//! HyperSpy's axis dictionaries (`AxesManager._get_axes_dicts` / `create_axis`) and emio's
//! [`Axis`]: uniform axes (`scale`, `offset`), non-uniform ones (an `axis` array) and
//! functional ones (an `expression` of `x` and named parameters, evaluated here: emio's
//! model holds their coordinates, so they are written back as non-uniform axes).

use serde_json::Value;

use crate::hyperspy::expr;
use crate::metadata::{json_f64, value_f64, Tree};
use crate::{Axis, AxisKind, Error, Result};

/// HyperSpy's spelling of an unset axis name or unit.
pub const UNDEFINED: &str = "<undefined>";

/// The attributes of the `axis-<i>` group HyperSpy writes for `axis` of `size` indices,
/// and the coordinates of a non-uniform axis (its `axis` array).
pub fn axis_dict(axis: &Axis, size: u64) -> (Tree, Option<&[f64]>) {
    let text = |s: &str| {
        if s.is_empty() {
            UNDEFINED.to_string()
        } else {
            s.to_string()
        }
    };
    let mut m = Tree::new();
    let kind = match axis.kind {
        AxisKind::Uniform { .. } => "UniformDataAxis",
        AxisKind::Values(_) => "DataAxis",
    };
    m.insert("_type".into(), kind.into());
    m.insert("name".into(), text(&axis.name).into());
    m.insert("units".into(), text(&axis.units).into());
    m.insert("navigate".into(), axis.navigate.into());
    m.insert("is_binned".into(), false.into());
    m.insert("size".into(), size.into());
    match &axis.kind {
        AxisKind::Uniform { scale, offset } => {
            m.insert("scale".into(), json_f64(*scale));
            m.insert("offset".into(), json_f64(*offset));
            (m, None)
        }
        AxisKind::Values(values) => (m, Some(values)),
    }
}

/// The coordinates of a functional axis: its `expression` evaluated at the coordinates of
/// its `x` axis (an index axis of `size` when absent) with the dictionary's numbers as
/// parameters.
fn functional(dict: &Tree, size: u64, format: &'static str, where_: &str) -> Result<Vec<f64>> {
    let bad = |what: String| Error::malformed_at_unknown(format, format!("{what} in {where_}"));
    let text = dict
        .get("expression")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a functional axis expression".into()))?;
    let parsed = expr::parse(text).map_err(|e| bad(format!("an expression ({e})")))?;
    let x: Vec<f64> = match dict.get("x").and_then(Value::as_object) {
        Some(x) => {
            let axis = axis_from_dict(x, size, false, format, &format!("{where_}/x"))?;
            (0..size as usize).map(|i| axis.coordinate(i)).collect()
        }
        None => (0..size).map(|i| i as f64).collect(),
    };
    x.into_iter()
        .map(|xv| {
            parsed
                .eval(&|name| match name {
                    "x" => Some(xv),
                    other => dict.get(other).and_then(value_f64),
                })
                .map_err(|e| bad(format!("an expression of known parameters ({e})")))
        })
        .collect()
}

/// An axis from its HyperSpy dictionary; `navigate` is `nav_default` when the dictionary
/// has none. `where_` names the dictionary in errors.
pub fn axis_from_dict(
    dict: &Tree,
    size: u64,
    nav_default: bool,
    format: &'static str,
    where_: &str,
) -> Result<Axis> {
    let text = |k: &str| match dict.get(k) {
        Some(Value::String(s)) if s != UNDEFINED => s.clone(),
        _ => String::new(),
    };
    let num = |k: &str| dict.get(k).and_then(value_f64);
    let navigate = dict
        .get("navigate")
        .and_then(Value::as_bool)
        .unwrap_or(nav_default);
    if dict.get("_type").and_then(Value::as_str) == Some("FunctionalDataAxis") {
        let values = functional(dict, size, format, where_)?;
        return Ok(Axis::values(text("name"), text("units"), values, navigate));
    }
    if let Some(values) = dict.get("axis").and_then(Value::as_array) {
        let values: Option<Vec<f64>> = values.iter().map(value_f64).collect();
        return match values {
            Some(v) if v.len() as u64 == size => {
                Ok(Axis::values(text("name"), text("units"), v, navigate))
            }
            _ => Err(Error::malformed_at_unknown(
                format,
                format!("{size} numeric axis values in {where_}/axis"),
            )),
        };
    }
    Ok(Axis::uniform(
        text("name"),
        text("units"),
        num("scale").unwrap_or(1.0),
        num("offset").unwrap_or(0.0),
        navigate,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(s: &str) -> Tree {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn functional_axes_are_evaluated() {
        let d = dict(
            r#"{"_type": "FunctionalDataAxis", "expression": "a / (x + 1) + b", "a": 100,
                "b": 10, "size": 3, "name": "E", "units": "eV", "navigate": false,
                "x": {"_type": "UniformDataAxis", "scale": 1, "offset": 0, "size": 3}}"#,
        );
        let axis = axis_from_dict(&d, 3, true, "t", "axis-0").unwrap();
        assert_eq!(
            axis.kind,
            AxisKind::Values(vec![110.0, 60.0, 100.0 / 3.0 + 10.0])
        );
        assert_eq!((axis.name.as_str(), axis.navigate), ("E", false));
        let missing = dict(r#"{"_type": "FunctionalDataAxis", "expression": "a * x"}"#);
        assert!(axis_from_dict(&missing, 2, true, "t", "axis-0").is_err());
    }

    #[test]
    fn uniform_and_non_uniform_dicts_round_trip() {
        for axis in [
            Axis::uniform("x", "nm", 0.5, -1.0, true),
            Axis::values("", "", vec![1.0, 2.0, 4.0], false),
        ] {
            let (mut d, values) = axis_dict(&axis, 3);
            if let Some(v) = values {
                d.insert("axis".into(), v.iter().map(|x| json_f64(*x)).collect());
            }
            assert_eq!(axis_from_dict(&d, 3, false, "t", "a").unwrap(), axis);
        }
    }
}
