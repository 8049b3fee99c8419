//! Unit strings: NCEM's `[n_m]` notation, and the SI-prefix compaction rsciio (pint's
//! `to_compact`) applies to Velox calibrations.

/// SI prefixes from 1e-24 to 1e24 in steps of 1e3.
const PREFIXES: [&str; 17] = [
    "y", "z", "a", "f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y",
];

/// Normalise an NCEM unit string: `A` is Ångström, `[n_m]` groups are joined with ` * `,
/// reciprocals are written `1 / x` (pint's short format, as rsciio gives them).
pub fn ncem_units(raw: &str) -> String {
    let mut s = raw.to_string();
    if s == "A" || s == "A^-1" {
        s = s.replace('A', "Å");
    }
    let groups: Vec<String> = {
        let mut v = Vec::new();
        let mut rest = s.as_str();
        while let Some(open) = rest.find('[') {
            let Some(close) = rest[open + 1..].find(']') else {
                break;
            };
            if close > 0 {
                v.push(rest[open + 1..open + 1 + close].replace('_', ""));
            }
            rest = &rest[open + 1 + close + 1..];
        }
        v
    };
    if !groups.is_empty() {
        s = groups.join(" * ");
    }
    if let Some(base) = s.strip_suffix("^-1") {
        if !base.is_empty() && !base.contains(' ') {
            return format!("1 / {base}");
        }
    }
    if let Some(base) = s.strip_prefix("1/") {
        return format!("1 / {}", base.trim());
    }
    s
}

/// A unit that takes SI prefixes: the base symbol and its power (1 or -1).
fn parse_unit(units: &str) -> Option<(&'static str, i32, i32)> {
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

fn format_unit(base: &str, power: i32, exp: i32) -> String {
    let prefix = PREFIXES[((exp / 3) + 8).clamp(0, 16) as usize];
    if power < 0 {
        format!("1 / {prefix}{base}")
    } else {
        format!("{prefix}{base}")
    }
}

/// Convert `value` from `from` to `to` when both take SI prefixes of one base unit;
/// otherwise return it unchanged.
pub fn convert(value: f64, from: &str, to: &str) -> f64 {
    match (parse_unit(from), parse_unit(to)) {
        (Some((b1, p1, e1)), Some((b2, p2, e2))) if b1 == b2 && p1 == p2 => {
            value * 10f64.powi((e1 - e2) * p1)
        }
        _ => value,
    }
}

/// rsciio's `_convert_scale_units`: pick the SI prefix that makes `value * factor / 2`
/// compact (magnitude in [1, 1000)) and return the value in that unit.
pub fn compact(value: f64, units: &str, factor: f64) -> (f64, String) {
    let Some((base, power, exp)) = parse_unit(units) else {
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
    let new_units = format_unit(base, power, new_exp);
    (convert(value, units, &new_units), new_units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ncem_unit_strings() {
        assert_eq!(ncem_units("[n_m]"), "nm");
        assert_eq!(ncem_units("A^-1"), "1 / Å");
        assert_eq!(ncem_units("[]"), "[]");
        assert_eq!(ncem_units("mrad"), "mrad");
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
    }
}
