//! Typed option sets: the [`options!`](crate::options!) and
//! [`option_choice!`](crate::option_choice!) declarations, the Rust types an option's value
//! is read as ([`OptionType`]) and the shape options' checks, worded once for every format.

use std::path::PathBuf;

use super::{parse_as, ChoiceWord, OptionKind, OptionSpec, OptionValue, Options};
use crate::dtype::DType;
use crate::error::{Error, Result};

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
const NUMERIC_DTYPE_WORDS: [ChoiceWord; 20] = [
    ChoiceWord::new("uint8", ""),
    ChoiceWord::new("uint16", ""),
    ChoiceWord::new("uint32", ""),
    ChoiceWord::new("uint64", ""),
    ChoiceWord::new("int8", ""),
    ChoiceWord::new("int16", ""),
    ChoiceWord::new("int32", ""),
    ChoiceWord::new("int64", ""),
    ChoiceWord::new("float32", ""),
    ChoiceWord::new("float64", ""),
    ChoiceWord::new("u1", "uint8"),
    ChoiceWord::new("u2", "uint16"),
    ChoiceWord::new("u4", "uint32"),
    ChoiceWord::new("u8", "uint64"),
    ChoiceWord::new("i1", "int8"),
    ChoiceWord::new("i2", "int16"),
    ChoiceWord::new("i4", "int32"),
    ChoiceWord::new("i8", "int64"),
    ChoiceWord::new("f4", "float32"),
    ChoiceWord::new("f8", "float64"),
];

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
                $( $crate::options::ChoiceWord::new($word, $help), )+
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
    let positions = crate::strides::element_count(shape)
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
}
