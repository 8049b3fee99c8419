//! NCEM unit strings (`[n_m]` notation) in pint's short format, as rsciio gives them. (The
//! SI-prefix compaction of Velox calibrations is core's [`emio_core::units::compact`].)

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
}
