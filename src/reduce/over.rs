//! Which axes a sum runs over ([`Over`]): the navigation or the signal axes, or axes the
//! user names (axis names or dimension indices, as `emconvert stats --sum x,y` and
//! Python's `emio.sum_over(path, over=(0, 1))` give them), resolved against a dataset.

use std::fmt;
use std::str::FromStr;

use emio_core::{Dataset, Error, Result};

/// Which axes a sum runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Over {
    /// Sum over the navigation axes: one summed signal (pattern, spectrum, image).
    Navigation,
    /// Sum over the signal axes: one total per navigation position (an intensity map).
    Signal,
    /// Sum over the axes named, each an axis name or a dimension index (negative ones
    /// counted from the last dimension, as NumPy's `axis` does), as written.
    Axes(Vec<String>),
}

impl Over {
    /// The dimensions of `dataset` a sum over these axes runs over, ascending. Fails for a
    /// name no axis has or several have, an index past the dimensions, an axis named
    /// twice or no axis at all.
    pub fn summed(&self, dataset: &Dataset) -> Result<Vec<usize>> {
        let axes = &dataset.axes;
        let names = match self {
            Over::Navigation | Over::Signal => {
                let navigation = *self == Over::Navigation;
                return Ok((0..axes.len())
                    .filter(|&d| axes[d].navigate == navigation)
                    .collect());
            }
            Over::Axes(names) => names,
        };
        let problem = |why: String| Error::invalid_option("sum", why);
        let rank = axes.len() as i64;
        let mut summed = Vec::with_capacity(names.len());
        for name in names {
            let d = match name.parse::<i64>() {
                Ok(i) if (-rank..rank).contains(&i) => i.rem_euclid(rank) as usize,
                Ok(i) => {
                    return Err(problem(format!(
                        "dimension {i} of a dataset of {rank} dimensions"
                    )))
                }
                Err(_) => {
                    let found: Vec<usize> =
                        (0..axes.len()).filter(|&d| axes[d].name == *name).collect();
                    match found[..] {
                        [d] => d,
                        [] => {
                            let known: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
                            return Err(problem(format!(
                                "no axis is named {name:?} (the axes: {known:?})"
                            )));
                        }
                        _ => {
                            return Err(problem(format!(
                                "axes {found:?} are all named {name:?}: give their indices"
                            )))
                        }
                    }
                }
            };
            if summed.contains(&d) {
                return Err(problem(format!("dimension {d} named twice ({name:?})")));
            }
            summed.push(d);
        }
        if summed.is_empty() {
            return Err(problem("no axis named to sum over".into()));
        }
        summed.sort_unstable();
        Ok(summed)
    }

    /// The dimensions of `dataset` a sum over these axes keeps, ascending.
    pub(super) fn kept(&self, dataset: &Dataset) -> Result<Vec<usize>> {
        let summed = self.summed(dataset)?;
        Ok((0..dataset.ndim())
            .filter(|d| !summed.contains(d))
            .collect())
    }
}

/// `navigation`, `signal`, or the axes named, joined by commas (what [`Over::from_str`]
/// reads back).
impl fmt::Display for Over {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Over::Navigation => f.write_str("navigation"),
            Over::Signal => f.write_str("signal"),
            Over::Axes(names) => f.write_str(&names.join(",")),
        }
    }
}

/// `navigation`, `signal`, or a comma-separated list of axis names and dimension indices
/// (blanks around each trimmed); fails only on an empty list or an empty item.
impl FromStr for Over {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "navigation" => Ok(Over::Navigation),
            "signal" => Ok(Over::Signal),
            list => {
                let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).collect();
                if names.iter().any(String::is_empty) {
                    return Err(format!(
                        "{text:?}: `navigation`, `signal`, or axis names or dimension indices \
                         separated by commas"
                    ));
                }
                Ok(Over::Axes(names))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emio_core::DType;

    /// A 4-D dataset with axes named y, x, ky, kx, the first two navigation.
    fn scan() -> Dataset {
        let mut ds =
            Dataset::from_bytes(vec![0; 2 * 3 * 4 * 5], DType::U8, vec![2, 3, 4, 5]).unwrap();
        for (axis, name) in ds.axes.iter_mut().zip(["y", "x", "ky", "kx"]) {
            axis.name = name.into();
        }
        ds.axes[0].navigate = true;
        ds.axes[1].navigate = true;
        ds
    }

    #[test]
    fn axes_by_kind_name_or_index() {
        let ds = scan();
        let summed = |text: &str| text.parse::<Over>().unwrap().summed(&ds);
        assert_eq!(summed("navigation").unwrap(), [0, 1]);
        assert_eq!(summed("signal").unwrap(), [2, 3]);
        assert_eq!(summed("kx, ky").unwrap(), [2, 3]);
        assert_eq!(summed("0,-1").unwrap(), [0, 3]);
        assert_eq!(summed("x").unwrap(), [1]);
        assert_eq!("kx,-4".parse::<Over>().unwrap().kept(&ds).unwrap(), [1, 2]);
        assert_eq!("y,kx".parse::<Over>().unwrap().to_string(), "y,kx");
    }

    #[test]
    fn wrong_axes_are_refused_with_the_reason() {
        let mut ds = scan();
        let refused = |ds: &Dataset, text: &str| {
            let over = text.parse::<Over>().unwrap();
            over.summed(ds).unwrap_err().to_string()
        };
        assert!(refused(&ds, "4").contains("dimension 4 of a dataset of 4"));
        assert!(refused(&ds, "-5").contains("dimension -5"));
        assert!(refused(&ds, "z").contains("no axis is named \"z\""));
        assert!(refused(&ds, "x,1").contains("dimension 1 named twice"));
        ds.axes[3].name = "ky".into();
        assert!(refused(&ds, "ky").contains("axes [2, 3] are all named \"ky\""));
        assert!("".parse::<Over>().is_err());
        assert!("x,,y".parse::<Over>().is_err());
    }
}
