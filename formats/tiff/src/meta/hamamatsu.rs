//! Hamamatsu HPD-TA streak-camera dialect (`Artist` and `Software` name Hamamatsu and
//! HPD-TA): the description parsed, and the spectral and time axes read from the file.

use emio_core::metadata::{json_f64, Tree};
use emio_core::Axis;
use serde_json::{Map, Value};

use super::axes::code_name;
use super::polyfit::{polyfit, polyval};
use super::{Context, StreakAxis};
use crate::ifd::Reader;
use crate::series::Series;
use crate::tags;

/// Whether the page was written by Hamamatsu's HPD-TA software.
pub(super) fn detect(c: &Context<'_, '_>) -> bool {
    c.str(tags::ARTIST)
        .is_some_and(|a| a.starts_with("Copyright Hamamatsu"))
        && c.str(tags::SOFTWARE)
            .is_some_and(|s| s.starts_with("HPD-TA"))
}

/// Axes from the description's scaling tables; the description kept parsed.
pub(super) fn apply(c: &mut Context<'_, '_>) {
    if let Some(d) = c.desc.as_deref() {
        let mut parsed = parse_hamamatsu(d);
        c.axes = streak_axes(c.r, c.series, &mut parsed, c.options.streak);
        c.op.insert("ImageDescriptionParsed".into(), Value::Object(parsed));
    }
}

/// Split one line of a Hamamatsu description on commas outside double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

/// Hamamatsu HPD-TA description: `[Section],key=value,...` lines.
pub fn parse_hamamatsu(desc: &str) -> Tree {
    let mut tree = Tree::new();
    for line in desc.lines() {
        let row = split_csv(line);
        let Some(first) = row.first() else { continue };
        let key = first
            .trim_matches(|c| c == ' ' || c == '[' || c == ']')
            .to_string();
        let mut section = Map::new();
        for el in &row[1..] {
            let parts: Vec<&str> = el.split('=').collect();
            if parts.len() == 2 {
                section.insert(
                    parts[0].to_string(),
                    Value::String(parts[1].trim_matches('"').to_string()),
                );
            }
        }
        tree.insert(key, Value::Object(section));
    }
    tree
}

/// Hamamatsu streak axes: a linear spectral (width) axis and a time (height) axis as chosen.
fn streak_axes(
    r: &Reader<'_>,
    series: &Series,
    parsed: &mut Tree,
    kind: StreakAxis,
) -> Option<Vec<Axis>> {
    let page = series.first();
    let scaling = parsed.get("Scaling")?.as_object()?.clone();
    let address = |key: &str, skip: &str| -> Option<u64> {
        let v = scaling.get(key)?.as_str()?;
        if v.starts_with(skip) {
            return None;
        }
        let digits: String = v
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    // Axis lengths come from the header: bound them before allocating.
    if page.width.max(page.height) > 1 << 24 {
        return None;
    }
    let read_axis = |addr: Option<u64>, n: u64| -> Vec<f64> {
        match addr.and_then(|a| r.slice(a, n * 4).ok()) {
            Some(raw) => raw
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            None => (0..n).map(|i| i as f64).collect(),
        }
    };
    let xax = read_axis(address("ScalingXScalingFile", "Other"), page.width);
    let yax = read_axis(address("ScalingYScalingFile", "Focus mode"), page.height);
    let unit = |k: &str| {
        scaling
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let px = polyfit(&xax, 1);
    let width = Axis::uniform("width", unit("ScalingXUnit"), px[0], px[1], false);
    let height = match kind {
        StreakAxis::Uniform => {
            let py = polyfit(&yax, 1);
            Axis::uniform("height", unit("ScalingYUnit"), py[0], py[1], false)
        }
        StreakAxis::Data => Axis::values("height", unit("ScalingYUnit"), yax.clone(), false),
        StreakAxis::Functional => {
            let p = polyfit(&yax, 3);
            let values = (0..yax.len()).map(|i| polyval(&p, i as f64)).collect();
            Axis::values("height", unit("ScalingYUnit"), values, false)
        }
    };
    if let Some(Value::Object(s)) = parsed.get_mut("Scaling") {
        s.insert(
            "ScalingXaxis".into(),
            Value::Array(xax.iter().map(|&v| json_f64(v)).collect()),
        );
        s.insert(
            "ScalingYaxis".into(),
            Value::Array(yax.iter().map(|&v| json_f64(v)).collect()),
        );
    }
    let mut axes = Vec::new();
    for &c in &series.codes {
        axes.push(match c {
            'Y' => height.clone(),
            'X' => width.clone(),
            c => Axis::uniform(code_name(c), "", 1.0, 0.0, true),
        });
    }
    Some(axes)
}
