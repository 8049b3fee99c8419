//! Metadata of a series: every tag of its first page decoded into original metadata, and
//! the vendor dialect it is written in (one file each: FEI/Thermo, Zeiss SEM, TVIPS,
//! Olympus SIS, JEOL SightX, Hamamatsu streak, DigitalMicrograph, ImageJ) parsed into
//! trees, calibrated axes and HyperSpy metadata, the way rsciio does. The dialects are
//! tried in the order of one table of (detect, apply) entries; the first detected applies.

mod axes;
mod dm;
mod fei;
mod hamamatsu;
mod imagej;
mod jeol;
mod polyfit;
mod sis;
mod tvips;
mod zeiss;

use emio_core::budget::{human_bytes, summarize, MetadataBudget};
use emio_core::metadata::{json_f64, set_path, value_f64, Tree};
use emio_core::{Axis, Result};
use serde_json::Value;

use crate::ifd::{Ifd, Reader};
use crate::series::Series;
use crate::tags;
use axes::{build_axes, Cal};

pub use fei::parse_fei;
pub use hamamatsu::parse_hamamatsu;
pub use imagej::parse_imagej;
pub use polyfit::polyfit;
pub use sis::parse_sis;
pub use tvips::parse_tvips;
pub use zeiss::parse_cz_sem;

/// Reader options that affect axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisOptions {
    /// Calibrate from XResolution/YResolution/ResolutionUnit whatever the dialect.
    pub force_read_resolution: bool,
    /// How to present a Hamamatsu streak time axis.
    pub streak: StreakAxis,
}

emio_core::option_choice! {
    /// rsciio's `hamamatsu_streak_axis_type`.
    pub enum StreakAxis {
        Uniform = "uniform": "best linear fit",
        Data = "data": "the stored values",
        Functional = "functional": "cubic fit, emitted as explicit values",
    }
}

/// Decode every entry of `ifd` into a tree keyed by tag name (sub-IFDs such as EXIF as
/// nested trees). Each entry's values are charged against the file's metadata `budget`
/// before they are decoded; the names of those that do not fit are pushed to `skipped`.
pub fn tags_tree(
    r: &Reader<'_>,
    ifd: &Ifd,
    header: &crate::ifd::Header,
    depth: u32,
    budget: &MetadataBudget,
    skipped: &mut Vec<String>,
) -> Tree {
    let mut tree = Tree::new();
    for e in &ifd.entries {
        let name = tags::name(e.tag);
        if tree.contains_key(&name) {
            // Repeated tags (some writers emit several ImageDescription entries) keep the
            // first.
            continue;
        }
        if budget.charge(e.json_size(), &name).is_err() {
            skipped.push(name);
            continue;
        }
        let value = match e.tag {
            tags::EXIF_IFD | tags::GPS_IFD if depth == 0 => r
                .unsigned(e)
                .ok()
                .and_then(|v| v.first().copied())
                .and_then(|off| crate::ifd::parse_ifd(r.bytes, header, off).ok())
                .map(|sub| Value::Object(tags_tree(r, &sub, header, depth + 1, budget, skipped))),
            _ => None,
        };
        let value = match value {
            Some(v) => v,
            None => match r.values(e) {
                Ok(v) => v.to_json(),
                Err(_) => continue,
            },
        };
        tree.insert(name, value);
    }
    tree
}

/// Python-like conversion of text to int, float or (failing both) the text itself.
fn astype(s: &str) -> Value {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = t.parse::<f64>() {
        if t.chars().any(|c| c.is_ascii_digit()) {
            return json_f64(f);
        }
    }
    Value::String(t.to_string())
}

/// The metadata of one series.
pub struct SeriesMetadata {
    /// Calibrated axes.
    pub axes: Vec<Axis>,
    /// HyperSpy metadata.
    pub metadata: Tree,
    /// All tags and parsed vendor blocks.
    pub original: Tree,
    /// What was left out (tags over the metadata budget), for the user.
    pub warnings: Vec<String>,
}

fn str_of<'a>(op: &'a Tree, key: &str) -> Option<&'a str> {
    op.get(key).and_then(Value::as_str)
}

fn num_of(op: &Tree, key: &str) -> Option<f64> {
    op.get(key).and_then(value_f64)
}

fn rational(op: &Tree, key: &str) -> Option<(f64, f64)> {
    let v = op.get(key)?.as_array()?;
    Some((value_f64(v.first()?)?, value_f64(v.get(1)?)?))
}

/// Scales from X/YResolution: (from YResolution, from XResolution), each `den/num * factor`.
fn resolution_scales(op: &Tree, factor: f64) -> Option<(f64, f64)> {
    let (yn, yd) = rational(op, &tags::name(tags::Y_RESOLUTION))?;
    let (xn, xd) = rational(op, &tags::name(tags::X_RESOLUTION))?;
    Some((yd / yn * factor, xd / xn * factor))
}

fn get_in<'a>(tree: &'a Tree, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(tree.get(*first)?, |v, k| v.as_object()?.get(*k))
}

/// Parse a date in the forms FEI and Zeiss write (`MM/DD/YYYY`, `DD Mon YYYY`, ISO) to ISO.
fn parse_date(s: &str) -> Option<String> {
    let s = s.trim();
    for fmt in ["%m/%d/%Y", "%d %b %Y", "%Y-%m-%d", "%d.%m.%Y", "%Y:%m:%d"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, fmt) {
            return Some(d.format("%Y-%m-%d").to_string());
        }
    }
    None
}

/// Parse a time (`HH:MM:SS`, with optional AM/PM) to ISO.
fn parse_time(s: &str) -> Option<String> {
    let s = s.trim();
    for fmt in ["%I:%M:%S %p", "%H:%M:%S", "%H:%M"] {
        if let Ok(t) = chrono::NaiveTime::parse_from_str(s, fmt) {
            return Some(t.format("%H:%M:%S").to_string());
        }
    }
    None
}

/// What a dialect reads and fills in: the first page (its tags decoded in `op`), the
/// series, and the metadata and calibration being built.
struct Context<'a, 'r> {
    r: &'a Reader<'r>,
    ifd: &'a Ifd,
    series: &'a Series,
    options: AxisOptions,
    /// The ImageDescription text.
    desc: Option<String>,
    /// Original metadata: every tag, vendor blocks parsed.
    op: Tree,
    /// HyperSpy metadata.
    md: Tree,
    cal: Cal,
    /// Axes a dialect reads whole (instead of building them from `cal`).
    axes: Option<Vec<Axis>>,
}

impl Context<'_, '_> {
    /// Whether the page has `tag` (with a value that decodes).
    fn has(&self, tag: u16) -> bool {
        self.op.contains_key(&tags::name(tag))
    }

    /// The text of `tag`.
    fn str(&self, tag: u16) -> Option<&str> {
        str_of(&self.op, &tags::name(tag))
    }

    /// The number of `tag`.
    fn num(&self, tag: u16) -> Option<f64> {
        num_of(&self.op, &tags::name(tag))
    }
}

/// A vendor dialect: whether a page is written in it, and how to calibrate and map it.
struct Dialect {
    detect: fn(&Context<'_, '_>) -> bool,
    apply: fn(&mut Context<'_, '_>),
}

/// The dialects in order of precedence: the first detected applies. The last entry (DM
/// tags and ImageJ description) takes every page no vendor claims.
const DIALECTS: &[Dialect] = &[
    Dialect {
        detect: forced_resolution,
        apply: resolution_calibration,
    },
    Dialect {
        detect: fei::detect,
        apply: fei::apply,
    },
    Dialect {
        detect: zeiss::detect,
        apply: zeiss::apply,
    },
    Dialect {
        detect: tvips::detect,
        apply: tvips::apply,
    },
    Dialect {
        detect: sis::detect,
        apply: sis::apply,
    },
    Dialect {
        detect: jeol::detect,
        apply: jeol::apply,
    },
    Dialect {
        detect: hamamatsu::detect,
        apply: hamamatsu::apply,
    },
    Dialect {
        detect: |_| true,
        apply: dm_or_imagej,
    },
];

/// `force_read_resolution` with resolution tags: they calibrate whatever the dialect.
fn forced_resolution(c: &Context<'_, '_>) -> bool {
    c.options.force_read_resolution && c.has(tags::RESOLUTION_UNIT) && c.has(tags::X_RESOLUTION)
}

/// Scales in µm from X/YResolution per inch or centimetre (none without a unit).
fn resolution_calibration(c: &mut Context<'_, '_>) {
    let unit = c.num(tags::RESOLUTION_UNIT).unwrap_or(1.0) as i64;
    if unit != 1 {
        if let Some((sx, sy)) = resolution_scales(&c.op, 1.0) {
            let f = if unit == 2 { 25400.0 } else { 10000.0 };
            c.cal.set_plane(sx * f, sy * f, "µm");
        }
    }
}

/// A page no vendor claims: DigitalMicrograph's calibration tags, then an ImageJ
/// description.
fn dm_or_imagej(c: &mut Context<'_, '_>) {
    if dm::detect(c) {
        dm::calibrate(c);
    }
    imagej::apply(c);
}

/// Build axes, metadata and original metadata of `series`.
pub fn series_metadata(
    r: &Reader<'_>,
    header: &crate::ifd::Header,
    ifd: &Ifd,
    series: &Series,
    file_name: &str,
    options: AxisOptions,
    budget: &MetadataBudget,
) -> Result<SeriesMetadata> {
    let mut skipped = Vec::new();
    let op = tags_tree(r, ifd, header, 0, budget, &mut skipped);
    let mut md = Tree::new();
    // The title stays empty unless a dialect's tags give one, as HyperSpy has it.
    set_path(&mut md, "General.title", "");
    set_path(&mut md, "General.original_filename", file_name);
    set_path(&mut md, "Signal.signal_type", "");
    let mut c = Context {
        r,
        ifd,
        series,
        options,
        desc: str_of(&op, &tags::name(tags::IMAGE_DESCRIPTION)).map(str::to_string),
        op,
        md,
        cal: Cal::default(),
        axes: None,
    };
    if let Some(dt) = c.str(tags::DATE_TIME) {
        let dt = dt.trim();
        let parsed = chrono::NaiveDateTime::parse_from_str(dt, "%Y:%m:%d %H:%M:%S")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(dt, "%Y/%m/%d %H:%M"));
        if let Ok(dt) = parsed {
            set_path(
                &mut c.md,
                "General.date",
                dt.date().format("%Y-%m-%d").to_string(),
            );
            set_path(
                &mut c.md,
                "General.time",
                dt.time().format("%H:%M:%S").to_string(),
            );
        }
    }
    if dm::detect(&c) {
        dm::map_signal(&mut c);
    }
    if let Some(dialect) = DIALECTS.iter().find(|d| (d.detect)(&c)) {
        (dialect.apply)(&mut c);
    }
    let axes = match c.axes {
        Some(a) => a,
        None => build_axes(series, &c.cal),
    };
    let warnings = if skipped.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{} tags of page {} were left out of the original metadata, over the budget of {} \
             for this file: {}",
            skipped.len(),
            series.first().index,
            human_bytes(budget.limit()),
            summarize(&skipped)
        )]
    };
    Ok(SeriesMetadata {
        axes,
        metadata: c.md,
        original: c.op,
        warnings,
    })
}
