//! Typed reader/writer options declared by each format and parsed from `key=value` strings
//! (the CLI's `-o`/`-w`, Python keyword arguments).
//!
//! A format declares its options once, as a struct with the [`options!`](crate::options!)
//! macro: each field's name is the option's name, its type gives the value type
//! ([`OptionType`]: `bool`, `i64`, `f64`, `String`, [`PathBuf`], [`IntList`], [`Shape`],
//! a choice enum declared with [`option_choice!`](crate::option_choice!), or `Option` of
//! one of them when the option may be unset), and its doc comment is the option's help.
//! The macro makes the [`OptionSpec`] list (validation, `emconvert formats --options`,
//! Python's docstrings) and the typed struct the format reads its settings from, filled
//! once from the parsed [`Options`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::dtype::DType;
use crate::error::{Error, Result};

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
fn parse_as(name: &str, kind: OptionKind, text: &str) -> Result<OptionValue> {
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

/// A typed set of options declared with [`options!`](crate::options!): its declarations
/// and its values read from options parsed against them.
pub trait OptionSet: Sized {
    /// The declarations: names, value types, defaults and help.
    const SPECS: &'static [OptionSpec];
    /// The typed values of `options` (parsed against [`OptionSet::SPECS`], so defaults are
    /// filled in and every value has its declared type).
    fn from_options(options: &Options) -> Result<Self>;
}

/// A Rust type an option's value is read as: its [`OptionKind`] and the conversion from the
/// parsed value (`None` when the option is unset).
pub trait OptionType: Sized {
    /// The value type declared for options of this type.
    const KIND: OptionKind;
    /// Whether an unset option of this type takes its declared default (`false` for
    /// `Option`, where unset is `None`).
    const UNSET_IS_DEFAULT: bool = true;
    /// The typed value of option `name`, parsed as [`OptionType::KIND`]; `value` is `None`
    /// when it is unset (no default, or set to `none`).
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self>;
}

/// The typed value of option `name` of `options` (declared with `default`): what
/// [`options!`](crate::options!) fills each field with. An option set to `none` takes its
/// default unless its type is an `Option`.
pub fn typed<T: OptionType>(options: &Options, name: &str, default: Option<&str>) -> Result<T> {
    let fallback = match (options.get(name), default) {
        (None, Some(text)) if T::UNSET_IS_DEFAULT => Some(parse_as(name, T::KIND, text)?),
        _ => None,
    };
    T::from_value(name, options.get(name).or(fallback.as_ref()))
}

/// The error for an option that must have a value but was unset.
pub fn unset_option(name: &str) -> Error {
    Error::invalid_option(name, "needs a value")
}

impl OptionType for bool {
    const KIND: OptionKind = OptionKind::Bool;
    /// Unset is `false`.
    fn from_value(_: &str, value: Option<&OptionValue>) -> Result<Self> {
        Ok(matches!(value, Some(OptionValue::Bool(true))))
    }
}

impl OptionType for i64 {
    const KIND: OptionKind = OptionKind::Int;
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self> {
        match value {
            Some(OptionValue::Int(v)) => Ok(*v),
            _ => Err(unset_option(name)),
        }
    }
}

impl OptionType for f64 {
    const KIND: OptionKind = OptionKind::Float;
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self> {
        match value {
            Some(OptionValue::Float(v)) => Ok(*v),
            Some(OptionValue::Int(v)) => Ok(*v as f64),
            _ => Err(unset_option(name)),
        }
    }
}

impl OptionType for String {
    const KIND: OptionKind = OptionKind::Str;
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self> {
        match value {
            Some(OptionValue::Str(v)) => Ok(v.clone()),
            _ => Err(unset_option(name)),
        }
    }
}

impl OptionType for PathBuf {
    const KIND: OptionKind = OptionKind::Path;
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self> {
        String::from_value(name, value).map(PathBuf::from)
    }
}

/// Integers given as a list (`4,5` or `(4, 5)`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IntList(pub Vec<i64>);

impl OptionType for IntList {
    const KIND: OptionKind = OptionKind::IntList;
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self> {
        match value {
            Some(OptionValue::IntList(v)) => Ok(IntList(v.clone())),
            _ => Err(unset_option(name)),
        }
    }
}

/// A shape (`navigation_shape`, `scan_shape`, ...): one or more sizes of at least 1,
/// checked with the same wording in every format ([`parse_shape`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape(pub Vec<u64>);

impl OptionType for Shape {
    const KIND: OptionKind = OptionKind::IntList;
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self> {
        match value {
            Some(OptionValue::IntList(v)) => parse_shape(name, v).map(Shape),
            _ => Err(unset_option(name)),
        }
    }
}

/// The NumPy names of the integer and float dtypes, then their type codes.
const NUMERIC_DTYPE_WORDS: [ChoiceWord; 20] = {
    const fn name(word: &'static str) -> ChoiceWord {
        ChoiceWord { word, help: "" }
    }
    const fn code(word: &'static str, help: &'static str) -> ChoiceWord {
        ChoiceWord { word, help }
    }
    [
        name("uint8"),
        name("uint16"),
        name("uint32"),
        name("uint64"),
        name("int8"),
        name("int16"),
        name("int32"),
        name("int64"),
        name("float32"),
        name("float64"),
        code("u1", "uint8"),
        code("u2", "uint16"),
        code("u4", "uint32"),
        code("u8", "uint64"),
        code("i1", "int8"),
        code("i2", "int16"),
        code("i4", "int32"),
        code("i8", "int64"),
        code("f4", "float32"),
        code("f8", "float64"),
    ]
};

/// An integer or float dtype named as NumPy names it (`uint8` ... `float64`) or by its type
/// code (`u1` ... `f8`): the dtype options of readers that convert what they read (Velox's
/// `SI_dtype`, ARINA's `dtype`), declared once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumericDType(pub DType);

impl NumericDType {
    /// The dtype a NumPy name or type code stands for (`None` for anything else).
    pub fn from_name(name: &str) -> Option<DType> {
        if !NUMERIC_DTYPE_WORDS.iter().any(|w| w.word == name) {
            return None;
        }
        let by_name = DType::ALL.into_iter().find(|d| d.name() == name);
        by_name.or_else(|| DType::from_numpy_str(name).ok().map(|(d, _)| d))
    }
}

impl OptionType for NumericDType {
    const KIND: OptionKind = OptionKind::Choice(&NUMERIC_DTYPE_WORDS);
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self> {
        match value {
            Some(OptionValue::Str(s)) => NumericDType::from_name(s)
                .map(NumericDType)
                .ok_or_else(|| Error::invalid_option(name, format!("{s:?} is not a dtype"))),
            _ => Err(unset_option(name)),
        }
    }
}

impl<T: OptionType> OptionType for Option<T> {
    const KIND: OptionKind = T::KIND;
    const UNSET_IS_DEFAULT: bool = false;
    /// Unset is `None`.
    fn from_value(name: &str, value: Option<&OptionValue>) -> Result<Self> {
        value.map(|v| T::from_value(name, Some(v))).transpose()
    }
}

/// Declare a format's options as a typed struct (see the [module](mod@crate::options) doc):
///
/// ```
/// emio_core::option_choice! {
///     /// How pixels are compressed.
///     pub enum Codec {
///         None = "none": "stored as they are",
///         Zstd = "zstd": "Zstandard",
///     }
/// }
/// emio_core::options! {
///     /// Options of an example writer.
///     pub struct ExampleWrite {
///         /// pixel compression
///         compression: Codec = Some("zstd"),
///         /// compression level
///         level: Option<i64> = None,
///     }
/// }
/// use emio_core::options::OptionSet;
/// let pairs = [("level", "5")];
/// let parsed = emio_core::Options::parse(ExampleWrite::SPECS, &pairs).unwrap();
/// let o = ExampleWrite::from_options(&parsed).unwrap();
/// assert_eq!((o.compression, o.level), (Codec::Zstd, Some(5)));
/// ```
///
/// Each field's `= default` is the default in its text form (`None`: unset by default).
/// The struct implements [`OptionSet`]: `SPECS` (the declarations) and `from_options` (the
/// typed values of options parsed against `SPECS`).
#[macro_export]
macro_rules! options {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $help:literal])+
                $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        // Fields are named as the options, which follow rsciio's keywords (`SI_dtype`).
        #[allow(non_snake_case)]
        $vis struct $name {
            $(
                $(#[doc = $help])+
                pub $field: $ty,
            )*
        }

        impl $crate::options::OptionSet for $name {
            const SPECS: &'static [$crate::OptionSpec] = &[
                $(
                    $crate::OptionSpec {
                        name: stringify!($field),
                        kind: <$ty as $crate::options::OptionType>::KIND,
                        default: $default,
                        help: concat!($($help),+).trim_ascii(),
                    },
                )*
            ];

            fn from_options(options: &$crate::Options) -> $crate::Result<Self> {
                Ok($name {
                    $(
                        $field: $crate::options::typed::<$ty>(
                            options,
                            stringify!($field),
                            $default,
                        )?,
                    )*
                })
            }
        }
    };
}

/// Declare the words of a choice option as an enum, one line a word:
/// `Variant = "word": "what it means"` (the meaning documents the variant and is listed
/// beside the word by `emconvert formats --options`); it is an [`OptionType`] of kind
/// [`OptionKind::Choice`] for [`options!`](crate::options!).
#[macro_export]
macro_rules! option_choice {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $variant:ident = $word:literal : $help:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $( #[doc = $help] $variant, )+
        }

        impl $name {
            /// The option's word for this value.
            pub fn word(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            /// The option's word.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.word())
            }
        }

        impl $crate::options::OptionType for $name {
            const KIND: $crate::OptionKind = $crate::OptionKind::Choice(&[
                $( $crate::options::ChoiceWord { word: $word, help: $help }, )+
            ]);
            fn from_value(
                name: &str,
                value: Option<&$crate::OptionValue>,
            ) -> $crate::Result<Self> {
                match value {
                    $( Some($crate::OptionValue::Str(s)) if s == $word => Ok($name::$variant), )+
                    _ => Err($crate::options::unset_option(name)),
                }
            }
        }
    };
}

/// Sizes of a shape option given as integers: each must be at least 1.
pub fn parse_shape(name: &str, list: &[i64]) -> Result<Vec<u64>> {
    list.iter()
        .map(|&v| u64::try_from(v).ok().filter(|&v| v > 0))
        .collect::<Option<Vec<u64>>>()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            let shown: Vec<String> = list.iter().map(i64::to_string).collect();
            Error::invalid_option(
                name,
                format!(
                    "({}) is not a shape: give one or more sizes of at least 1, e.g. 4,5",
                    shown.join(", ")
                ),
            )
        })
}

/// The error for a shape option that does not fit the file, worded the same in every
/// format: how many positions the shape has and how many frames the file holds for it.
/// `frames_note` says which frames count (empty, or e.g. " from scan_start_frame 2").
pub fn shape_misfit(name: &str, shape: &[u64], frames: u64, frames_note: &str) -> Error {
    let shown: Vec<String> = shape.iter().map(u64::to_string).collect();
    let positions = shape
        .iter()
        .try_fold(1u64, |a, &b| a.checked_mul(b))
        .map(|p| p.to_string())
        .unwrap_or_else(|| "too many".into());
    Error::invalid_option(
        name,
        format!(
            "({}) does not fit the file: {positions} positions for its {frames} frames{frames_note}",
            shown.join(", ")
        ),
    )
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
            kind: OptionKind::Choice(&[
                ChoiceWord {
                    word: "a",
                    help: "",
                },
                ChoiceWord {
                    word: "b",
                    help: "",
                },
            ]),
            default: None,
            help: "mode",
        },
        OptionSpec {
            name: "compressor",
            kind: OptionKind::Choice(&[
                ChoiceWord {
                    word: "zstd",
                    help: "",
                },
                ChoiceWord {
                    word: "none",
                    help: "",
                },
            ]),
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

    crate::option_choice! {
        /// Test choice.
        enum Compressor {
            Zstd = "zstd": "Zstandard",
            Off = "none": "stored as they are",
        }
    }

    crate::options! {
        /// Test options.
        struct Typed {
            /// sum
            /// the frames
            sum_frames: bool = Some("true"),
            /// shape
            navigation_shape: Option<Shape> = None,
            /// compressor
            compressor: Compressor = Some("zstd"),
            /// level
            level: Option<i64> = None,
            /// scale
            scale: f64 = Some("1.5"),
        }
    }

    #[test]
    fn typed_options_come_from_one_declaration() {
        let names: Vec<_> = Typed::SPECS.iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "sum_frames",
                "navigation_shape",
                "compressor",
                "level",
                "scale"
            ]
        );
        assert_eq!(Typed::SPECS[0].help, "sum the frames");
        let OptionKind::Choice(words) = Typed::SPECS[2].kind else {
            panic!("compressor is a choice");
        };
        let words: Vec<_> = words.iter().map(|w| (w.word, w.help)).collect();
        assert_eq!(
            words,
            [("zstd", "Zstandard"), ("none", "stored as they are")]
        );
        assert_eq!(
            Typed::SPECS[2].describe(),
            "compressor (one of zstd|none; default zstd)"
        );
        let parse = |pairs: &[(&str, &str)]| {
            Options::parse(Typed::SPECS, pairs).and_then(|o| Typed::from_options(&o))
        };
        let t = parse(&[]).unwrap();
        assert_eq!(
            t,
            Typed {
                sum_frames: true,
                navigation_shape: None,
                compressor: Compressor::Zstd,
                level: None,
                scale: 1.5,
            }
        );
        let t = parse(&[
            ("navigation_shape", "4,5"),
            ("compressor", "none"),
            ("level", "3"),
            ("scale", "2"),
        ])
        .unwrap();
        assert_eq!(t.navigation_shape, Some(Shape(vec![4, 5])));
        assert_eq!(
            (t.compressor, t.level, t.scale),
            (Compressor::Off, Some(3), 2.0)
        );
        assert_eq!(Compressor::Off.word(), "none");
        assert!(parse(&[("navigation_shape", "0,5")]).is_err());
        // `none` gives an option its default, or `None` when it may be unset.
        let t = parse(&[("scale", "none"), ("sum_frames", "none"), ("level", "none")]).unwrap();
        assert_eq!((t.scale, t.sum_frames, t.level), (1.5, true, None));
        let e = parse(&[("scale", "x")]).unwrap_err().to_string();
        assert!(e.contains("scale"), "{e}");
    }

    #[test]
    fn numeric_dtypes_by_name_and_type_code() {
        crate::options! {
            /// Test options.
            struct Convert {
                /// output dtype
                dtype: Option<NumericDType> = None,
            }
        }
        let parse = |pairs: &[(&str, &str)]| {
            Options::parse(Convert::SPECS, pairs).and_then(|o| Convert::from_options(&o))
        };
        assert_eq!(parse(&[]).unwrap().dtype, None);
        for (word, dtype) in [
            ("uint16", DType::U16),
            ("u8", DType::U64),
            ("f4", DType::F32),
        ] {
            let got = parse(&[("dtype", word)]).unwrap().dtype;
            assert_eq!(got, Some(NumericDType(dtype)), "{word}");
        }
        assert!(parse(&[("dtype", "complex64")]).is_err());
        assert_eq!(NumericDType::from_name("int8"), Some(DType::I8));
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
