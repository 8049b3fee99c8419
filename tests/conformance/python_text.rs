//! Python's JSON text, byte for byte: the corpus hashes object (ragged) arrays as
//! `json.dumps(value.tolist(), sort_keys=True)`, so the test writes emio's items the same
//! way before hashing them.

use serde_json::Value;

/// `value` as Python's `json.dumps(value, sort_keys=True)` writes it (the corpus' hash of
/// object arrays, `json_of_tolist`): `, ` and `: ` separators, sorted keys, ASCII escapes,
/// floats in Python's `repr`.
pub(crate) fn python_json(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => python_float(n.as_f64().unwrap_or(f64::NAN)),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_string(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}: {}", python_string(k), python_json(&map[k])))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A finite float as Python's `repr` writes it: the shortest round-trip digits, fixed
/// notation for exponents -4 to 15 (with at least one decimal), else `d.ddde+XX`.
fn python_float(x: f64) -> String {
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let whole = exp as usize + 1;
            if digits.len() <= whole {
                format!("{sign}{digits}{}.0", "0".repeat(whole - digits.len()))
            } else {
                format!("{sign}{}.{}", &digits[..whole], &digits[whole..])
            }
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let m = if digits.len() == 1 {
            digits
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let e_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{e_sign}{:02}", exp.abs())
    }
}

/// A string as Python's `json.dumps` writes it (`ensure_ascii`).
fn python_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (' '..='~').contains(&c) => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[test]
fn python_json_is_what_json_dumps_writes() {
    for (x, text) in [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (123.0, "123.0"),
        (0.1, "0.1"),
        (1e-4, "0.0001"),
        (1e-5, "1e-05"),
        (1.5e300, "1.5e+300"),
        (1e16, "1e+16"),
        (123456789012345.6, "123456789012345.6"),
        (26.97867137638703, "26.97867137638703"),
    ] {
        assert_eq!(python_float(x), text);
    }
    let v: Value = serde_json::from_str(r#"{"b": [1, 2.5, "µ\n\""], "a": null}"#).unwrap();
    assert_eq!(
        python_json(&v),
        r#"{"a": null, "b": [1, 2.5, "\u00b5\n\""]}"#
    );
}
