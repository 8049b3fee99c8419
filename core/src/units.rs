//! Units of length, time, energy, angle and current: one table of the symbols formats read
//! and write (with their usual spellings) and each one's size in the SI unit of its quantity,
//! conversions between them, and the SI-prefix compaction rsciio applies to calibrations
//! (pint's `to_compact`). Format crates convert units through here instead of keeping
//! tables of their own.

use std::f64::consts::PI;

/// What a unit measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Length (SI unit: metre).
    Length,
    /// Time (second).
    Time,
    /// Energy (electronvolt).
    Energy,
    /// Plane angle (radian).
    Angle,
    /// Electric current (ampere).
    Current,
}

use Quantity::{Angle, Current, Energy, Length, Time};

/// The units that take SI prefixes: base symbol, quantity, and the prefixes files write it
/// with (`µ` also as Greek `μ` and `u`). Each is `10^exponent` of the base unit
/// ([`prefix_exponent`]).
const PREFIXED: &[(&str, Quantity, &[&str])] = &[
    (
        "m",
        Length,
        &["", "c", "m", "\u{b5}", "\u{3bc}", "u", "n", "p"],
    ),
    ("s", Time, &["", "m", "\u{b5}", "\u{3bc}", "u", "n", "p"]),
    ("eV", Energy, &["M", "k", "", "m"]),
    ("rad", Angle, &["", "m", "\u{b5}", "u"]),
    ("A", Current, &["", "m", "\u{b5}", "u", "n", "p"]),
];

/// The other units: symbol, quantity, and its size in the quantity's SI unit as
/// `factor × 10^exponent` (so conversions between decimal units are exact powers of ten).
/// Looked up before [`PREFIXED`], so `A` alone is the ångström.
const OTHER: &[(&str, Quantity, f64, i32)] = &[
    ("micron", Length, 1.0, -6),
    ("\u{c5}", Length, 1.0, -10),
    ("\u{212b}", Length, 1.0, -10),
    ("A", Length, 1.0, -10),
    ("angstrom", Length, 1.0, -10),
    ("Angstrom", Length, 1.0, -10),
    ("min", Time, 60.0, 0),
    ("deg", Angle, PI / 180.0, 0),
    ("\u{b0}", Angle, PI / 180.0, 0),
];

/// The decimal exponent of an SI prefix as files write it (`c`, and `u`/`μ` for `µ`).
fn prefix_exponent(prefix: &str) -> Option<i32> {
    match prefix {
        "c" => Some(-2),
        "u" | "\u{3bc}" => prefix_exponent("\u{b5}"),
        p => PREFIXES
            .iter()
            .position(|x| *x == p)
            .map(|i| (i as i32 - 8) * 3),
    }
}

/// `unit` as one of [`PREFIXED`]: its quantity and exponent.
fn prefixed(unit: &str) -> impl Iterator<Item = (Quantity, i32)> + '_ {
    PREFIXED
        .iter()
        .filter_map(move |&(base, quantity, prefixes)| {
            let prefix = unit.strip_suffix(base)?;
            if !prefixes.contains(&prefix) {
                return None;
            }
            Some((quantity, prefix_exponent(prefix)?))
        })
}

/// `10^e` as the nearest double (the literal `1e<e>`), for `|e| <= 24`.
fn pow10(e: i32) -> Option<f64> {
    const P: [f64; 49] = [
        1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12,
        1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3,
        1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22, 1e23, 1e24,
    ];
    usize::try_from(e + 24).ok().and_then(|i| P.get(i)).copied()
}

/// The table entry of `unit` as a unit of `quantity`.
fn entry(unit: &str, quantity: Quantity) -> Option<(f64, i32)> {
    let other = OTHER
        .iter()
        .find(|(s, q, _, _)| *s == unit && *q == quantity)
        .map(|&(_, _, f, e)| (f, e));
    other.or_else(|| {
        prefixed(unit)
            .find(|&(q, _)| q == quantity)
            .map(|(_, e)| (1.0, e))
    })
}

/// The quantity `unit` measures (a length for `A`, which is also the ampere).
pub fn quantity(unit: &str) -> Option<Quantity> {
    let other = OTHER.iter().find(|(s, ..)| *s == unit).map(|&(_, q, ..)| q);
    other.or_else(|| prefixed(unit).next().map(|(q, _)| q))
}

/// The size of `unit` in the SI unit of `quantity` (`size("nm", Length)` is `1e-9`).
pub fn size(unit: &str, quantity: Quantity) -> Option<f64> {
    let (f, e) = entry(unit, quantity)?;
    Some(f * pow10(e)?)
}

/// Metres per `unit`, when it is a length.
pub fn metres(unit: &str) -> Option<f64> {
    size(unit, Length)
}

/// How many `to` make one `from` (both units of `quantity`); exact between decimal units.
pub fn ratio(from: &str, to: &str, quantity: Quantity) -> Option<f64> {
    let (f1, e1) = entry(from, quantity)?;
    let (f2, e2) = entry(to, quantity)?;
    let p = pow10(e1 - e2)?;
    Some(if f1 == f2 { p } else { f1 / f2 * p })
}

/// The unit whose reciprocal `unit` is, written `1/x`, `1 / x` or `x^-1`.
pub fn reciprocal(unit: &str) -> Option<&str> {
    let u = unit.trim();
    u.strip_prefix("1/")
        .or_else(|| u.strip_prefix("1 / "))
        .or_else(|| u.strip_suffix("^-1"))
        .map(str::trim)
}

/// SI prefixes from 1e-24 to 1e24 in steps of 1e3.
const PREFIXES: [&str; 17] = [
    "y", "z", "a", "f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y",
];

/// A unit that takes SI prefixes: the base symbol, its power (1 or -1) and the prefix's
/// exponent.
fn parse_prefixed(units: &str) -> Option<(&'static str, i32, i32)> {
    let u = units.trim();
    let (inverse, body) = if let Some(b) = u.strip_prefix("1/") {
        (true, b.trim())
    } else if let Some(b) = u.strip_prefix("1 / ") {
        (true, b.trim())
    } else {
        (false, u)
    };
    for base in ["m", "s", "rad", "eV", "Hz"] {
        if let Some(prefix) = body.strip_suffix(base) {
            let p = if prefix == "u" { "µ" } else { prefix };
            if let Some(i) = PREFIXES.iter().position(|x| *x == p) {
                let exp = (i as i32 - 8) * 3;
                return Some((base, if inverse { -1 } else { 1 }, exp));
            }
        }
    }
    None
}

/// The symbol of `base` with the prefix of exponent `exp`, inverted for power -1.
fn format_prefixed(base: &str, power: i32, exp: i32) -> String {
    let prefix = PREFIXES[((exp / 3) + 8).clamp(0, 16) as usize];
    if power < 0 {
        format!("1 / {prefix}{base}")
    } else {
        format!("{prefix}{base}")
    }
}

/// Convert `value` from `from` to `to` when both are SI prefixes of one base unit (m, s,
/// rad, eV, Hz, or their reciprocals); otherwise return it unchanged.
pub fn convert_prefixed(value: f64, from: &str, to: &str) -> f64 {
    match (parse_prefixed(from), parse_prefixed(to)) {
        (Some((b1, p1, e1)), Some((b2, p2, e2))) if b1 == b2 && p1 == p2 => {
            value * 10f64.powi((e1 - e2) * p1)
        }
        _ => value,
    }
}

/// rsciio's `_convert_scale_units`: pick the SI prefix that makes `value * factor / 2`
/// compact (magnitude in [1, 1000)) and return the value in that unit.
pub fn compact(value: f64, units: &str, factor: f64) -> (f64, String) {
    let Some((base, power, exp)) = parse_prefixed(units) else {
        return (value, units.to_string());
    };
    let total = value * factor / 2.0;
    if total == 0.0 || !total.is_finite() {
        return (value, units.to_string());
    }
    // Magnitude in the base unit (no prefix).
    let base_mag = total * 10f64.powi(exp * power);
    let log = base_mag.abs().log10() / f64::from(power) / 3.0;
    let steps = if power > 0 { log.floor() } else { log.ceil() };
    let new_exp = (steps as i32 * 3).clamp(-24, 24);
    let new_units = format_prefixed(base, power, new_exp);
    (convert_prefixed(value, units, &new_units), new_units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_the_decimal_literals() {
        assert_eq!(metres("nm"), Some(1e-9));
        assert_eq!(metres("\u{c5}"), Some(1e-10));
        assert_eq!(metres("micron"), Some(1e-6));
        assert_eq!(size("A", Current), Some(1.0));
        assert_eq!(size("min", Time), Some(60.0));
        assert_eq!(size("deg", Angle), Some(PI / 180.0));
        assert_eq!(metres("parsec"), None);
        assert_eq!(quantity("A"), Some(Length));
        assert_eq!(quantity("keV"), Some(Energy));
        assert_eq!(quantity("mA"), Some(Current));
        assert_eq!(quantity("mrad"), Some(Angle));
        // Only the prefixes files write: no kilometres, no gigaseconds.
        assert_eq!(metres("km"), None);
        assert_eq!(size("Gs", Time), None);
        assert_eq!(size("\u{3bc}s", Time), Some(1e-6));
        assert_eq!(metres("cm"), Some(1e-2));
    }

    #[test]
    fn ratios_between_decimal_units_are_exact() {
        assert_eq!(ratio("nm", "\u{c5}", Length), Some(10.0));
        assert_eq!(ratio("pm", "\u{c5}", Length), Some(0.01));
        assert_eq!(ratio("nm", "pm", Length), Some(1e3));
        assert_eq!(ratio("us", "ms", Time), Some(1e-3));
        assert_eq!(ratio("min", "ms", Time), Some(6e4));
        assert_eq!(ratio("keV", "eV", Energy), Some(1e3));
        assert_eq!(ratio("nm", "ms", Length), None);
    }

    #[test]
    fn reciprocal_spellings() {
        assert_eq!(reciprocal("1/nm"), Some("nm"));
        assert_eq!(reciprocal("1 / \u{c5}"), Some("\u{c5}"));
        assert_eq!(reciprocal("nm^-1"), Some("nm"));
        assert_eq!(reciprocal("nm"), None);
    }

    #[test]
    fn compaction_matches_pint() {
        let (v, u) = compact(3.1388370544495516e-9, "m", 512.0);
        assert_eq!(u, "nm");
        assert!((v - 3.1388370544495516).abs() < 1e-9);
        let (v, u) = compact(526850.7664536564, "1/m", 70.0);
        assert_eq!(u, "1 / µm");
        assert!((v - 0.5268507664536564).abs() < 1e-9);
        let (v, u) = compact(0.003274, "s", 2.0);
        assert_eq!(u, "ms");
        assert!((v - 3.274).abs() < 1e-9);
        assert_eq!(convert_prefixed(2.0, "mm", "µm"), 2000.0);
        assert_eq!(convert_prefixed(2.0, "mm", "s"), 2.0);
    }
}
