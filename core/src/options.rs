//! Typed reader/writer options declared by each format and parsed from `key=value` strings
//! (the CLI's `-o`/`-w`, Python keyword arguments).
//!
//! A format declares its options once, as a struct with the [`options!`](crate::options!)
//! macro: each field's name is the option's name, its type gives the value type
//! ([`OptionType`]: `bool`, `i64`, `f64`, `String`, [`PathBuf`](std::path::PathBuf),
//! [`IntList`], [`Shape`], a choice enum declared with
//! [`option_choice!`](crate::option_choice!), or `Option` of one of them when the option
//! may be unset), and its doc comment is the option's help. The macro makes the
//! [`OptionSpec`] list (validation, `emconvert formats --options`, Python's `formats()`)
//! and the typed struct the format reads its settings from, filled once from the parsed
//! [`Options`].
//!
//! This file holds the declarations' data and the parsing of `key=value` text; `declare`
//! the typed side (the macros, [`OptionType`] and its types).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

mod declare;

pub use declare::{
    parse_shape, shape_misfit, typed, unset_option, IntList, NumericDType, OptionSet, OptionType,
    Shape,
};

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// A signed integer.
    Int,
    /// A float.
    Float,
    /// Free text (names, lists, JSON).
    Str,
    /// A file path. A relative path is relative to the current directory of the caller (as
    /// in rsciio and every command-line tool), never to the data file's folder; readers open
    /// it as given. Text values a format gives a meaning (`auto`, `none`) are passed on.
    Path,
    /// One of a fixed set of words, each with what it means.
    Choice(&'static [ChoiceWord]),
    /// Integers separated by commas, optionally in `()` or `[]`: `4,5` or `(4, 5)`.
    IntList,
}

/// One word a choice option accepts and what it means (empty when the word says it all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChoiceWord {
    /// The word as written.
    pub word: &'static str,
    /// What choosing it does, e.g. `little-endian` for `<`.
    pub help: &'static str,
}

impl ChoiceWord {
    /// The word `word`, meaning `help`.
    pub const fn new(word: &'static str, help: &'static str) -> Self {
        ChoiceWord { word, help }
    }
}

impl OptionKind {
    /// Whether `text` is one of the words of a choice (`false` for other kinds).
    pub fn is_choice(&self, text: &str) -> bool {
        matches!(self, OptionKind::Choice(words) if words.iter().any(|w| w.word == text))
    }

    /// The value type for a list of options: `true or false`, `one of gzip|lzf|none`, ...
    pub fn describe(&self) -> String {
        match self {
            OptionKind::Bool => "true or false".to_string(),
            OptionKind::Int => "an integer".to_string(),
            OptionKind::Float => "a number".to_string(),
            OptionKind::Str => "text".to_string(),
            OptionKind::Path => "a path".to_string(),
            OptionKind::Choice(words) => format!("one of {}", choice_list(words, "|")),
            OptionKind::IntList => "integers like 4,5".to_string(),
        }
    }
}

/// The words of a choice joined by `separator`.
fn choice_list(words: &[ChoiceWord], separator: &str) -> String {
    let words: Vec<&str> = words.iter().map(|w| w.word).collect();
    words.join(separator)
}

/// Declaration of one option.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// Name as written on the command line (rsciio's keyword name where one exists).
    pub name: &'static str,
    /// Value type.
    pub kind: OptionKind,
    /// Default value in its text form; `None` when the option is unset by default.
    pub default: Option<&'static str>,
    /// One line of help.
    pub help: &'static str,
}

impl OptionSpec {
    /// The option for a list of valid ones: name, value type and default,
    /// e.g. `navigation_shape (integers like 4,5; unset by default)`.
    pub fn describe(&self) -> String {
        let kind = self.kind.describe();
        let default = match self.default {
            Some(d) => format!("default {d}"),
            None => "unset by default".to_string(),
        };
        format!("{} ({kind}; {default})", self.name)
    }
}

/// A parsed option value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// Bool option.
    Bool(bool),
    /// Int option.
    Int(i64),
    /// Float option.
    Float(f64),
    /// Str or Choice option.
    Str(String),
    /// IntList option.
    IntList(Vec<i64>),
}

/// Parsed options, validated against a format's specs, with defaults filled in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    values: BTreeMap<String, OptionValue>,
}

fn parse_value(spec: &OptionSpec, text: &str) -> Result<OptionValue> {
    parse_as(spec.name, spec.kind, text)
}

/// `text` parsed as a value of `kind` for option `name`.
pub(super) fn parse_as(name: &str, kind: OptionKind, text: &str) -> Result<OptionValue> {
    let bad = |what: &str| Error::invalid_option(name, format!("{text:?} is not {what}"));
    let t = text.trim();
    Ok(match kind {
        OptionKind::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => OptionValue::Bool(true),
            "false" | "0" | "no" | "off" => OptionValue::Bool(false),
            _ => return Err(bad("a boolean (true/false)")),
        },
        OptionKind::Int => OptionValue::Int(t.parse().map_err(|_| bad("an integer"))?),
        OptionKind::Float => OptionValue::Float(t.parse().map_err(|_| bad("a number"))?),
        OptionKind::Str | OptionKind::Path => OptionValue::Str(text.to_string()),
        OptionKind::Choice(words) => {
            if !kind.is_choice(t) {
                return Err(bad(&format!("one of {}", choice_list(words, ", "))));
            }
            OptionValue::Str(t.to_string())
        }
        OptionKind::IntList => {
            let inner = t
                .trim_start_matches(['(', '['])
                .trim_end_matches([')', ']']);
            let list = inner
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<i64>())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| bad("a list of integers like 4,5"))?;
            OptionValue::IntList(list)
        }
    })
}

impl Options {
    /// No options set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validate `pairs` against `specs` and fill defaults. Unknown names are an error that
    /// lists the valid ones; the value `None` (any case) leaves an option unset.
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        specs: &[OptionSpec],
        pairs: &[(K, V)],
    ) -> Result<Self> {
        let mut values = BTreeMap::new();
        for spec in specs {
            if let Some(default) = spec.default {
                values.insert(spec.name.to_string(), parse_value(spec, default)?);
            }
        }
        for (key, value) in pairs {
            let (key, value) = (key.as_ref(), value.as_ref());
            let spec = specs.iter().find(|s| s.name == key).ok_or_else(|| {
                let valid: Vec<String> = specs.iter().map(OptionSpec::describe).collect();
                Error::invalid_option(
                    key,
                    if valid.is_empty() {
                        "this format takes no options".to_string()
                    } else {
                        format!("unknown; valid options: {}", valid.join(", "))
                    },
                )
            })?;
            // `none` unsets an option (rsciio's `None`), unless it is one of the choices.
            let unset = match spec.kind {
                OptionKind::Str | OptionKind::Path => false,
                OptionKind::Choice(_) => !spec.kind.is_choice(value.trim()),
                _ => true,
            };
            if unset && value.trim().eq_ignore_ascii_case("none") {
                values.remove(key);
            } else {
                values.insert(key.to_string(), parse_value(spec, value)?);
            }
        }
        Ok(Options { values })
    }

    /// Parse `key=value` strings (as given on the command line) into pairs.
    pub fn split_pairs(items: &[String]) -> Result<Vec<(String, String)>> {
        items
            .iter()
            .map(|item| {
                item.split_once('=')
                    .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                    .ok_or_else(|| Error::invalid_option(item, "expected KEY=VALUE"))
            })
            .collect()
    }

    /// The raw value of an option, if set.
    pub fn get(&self, name: &str) -> Option<&OptionValue> {
        self.values.get(name)
    }

    /// A boolean option (false when unset).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(OptionValue::Bool(true)))
    }

    /// An integer option.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.values.get(name) {
            Some(OptionValue::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// A float option (integers are accepted too).
    pub fn float(&self, name: &str) -> Option<f64> {
        match self.values.get(name) {
            Some(OptionValue::Float(v)) => Some(*v),
            Some(OptionValue::Int(v)) => Some(*v as f64),
            _ => None,
        }
    }

    /// A text or choice option.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(OptionValue::Str(v)) => Some(v),
            _ => None,
        }
    }

    /// An integer-list option.
    pub fn int_list(&self, name: &str) -> Option<&[i64]> {
        match self.values.get(name) {
            Some(OptionValue::IntList(v)) => Some(v),
            _ => None,
        }
    }

    /// A shape option (`navigation_shape`, `scan_shape`, ...) as sizes, `None` when unset.
    /// An empty list or a size below 1 is an error worded the same in every format.
    pub fn shape(&self, name: &str) -> Result<Option<Vec<u64>>> {
        let Some(list) = self.int_list(name) else {
            return Ok(None);
        };
        parse_shape(name, list).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec {
            name: "sum_frames",
            kind: OptionKind::Bool,
            default: Some("true"),
            help: "sum",
        },
        OptionSpec {
            name: "navigation_shape",
            kind: OptionKind::IntList,
            default: None,
            help: "shape",
        },
        OptionSpec {
            name: "mode",
            kind: OptionKind::Choice(&[ChoiceWord::new("a", ""), ChoiceWord::new("b", "")]),
            default: None,
            help: "mode",
        },
        OptionSpec {
            name: "compressor",
            kind: OptionKind::Choice(&[ChoiceWord::new("zstd", ""), ChoiceWord::new("none", "")]),
            default: Some("zstd"),
            help: "compressor",
        },
    ];

    #[test]
    fn none_unsets_unless_it_is_a_choice() {
        let o = Options::parse(
            SPECS,
            &[("compressor", "none"), ("navigation_shape", "None")],
        )
        .unwrap();
        assert_eq!(o.str("compressor"), Some("none"));
        assert_eq!(o.int_list("navigation_shape"), None);
        let o = Options::parse(SPECS, &[("sum_frames", "none"), ("mode", "None")]).unwrap();
        assert!(o.get("sum_frames").is_none());
        assert_eq!(o.str("mode"), None);
    }

    #[test]
    fn parses_defaults_and_values() {
        let o = Options::parse(SPECS, &[("navigation_shape", "(4, 5)"), ("mode", "b")]).unwrap();
        assert!(o.flag("sum_frames"));
        assert_eq!(o.int_list("navigation_shape"), Some(&[4, 5][..]));
        assert_eq!(o.str("mode"), Some("b"));
        let o = Options::parse(SPECS, &[("sum_frames", "False")]).unwrap();
        assert!(!o.flag("sum_frames"));
    }

    #[test]
    fn rejects_unknown_and_bad_values() {
        let e = Options::parse(SPECS, &[("nope", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sum_frames") && e.contains("navigation_shape"),
            "{e}"
        );
        assert!(Options::parse(SPECS, &[("mode", "c")]).is_err());
        assert!(Options::parse(SPECS, &[("sum_frames", "maybe")]).is_err());
        assert!(Options::split_pairs(&["novalue".to_string()]).is_err());
    }
}
