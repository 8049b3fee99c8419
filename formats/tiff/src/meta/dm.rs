//! DigitalMicrograph dialect (DM's private tags 65003–65025, as DM's TIFF export and
//! rsciio write them): axis units, scales and offsets, the intensity's quantity and the
//! noise model's gain.

use emio_core::metadata::{json_f64, set_path};

use super::Context;
use crate::tags;

/// Every DigitalMicrograph tag whose presence marks the dialect.
const MARKERS: [u16; 12] = [
    tags::DM_X_UNITS,
    tags::DM_Y_UNITS,
    tags::DM_Z_UNITS,
    tags::DM_X_SCALE,
    tags::DM_Y_SCALE,
    tags::DM_Z_SCALE,
    tags::DM_X_OFFSET,
    tags::DM_Y_OFFSET,
    tags::DM_Z_OFFSET,
    tags::DM_QUANTITY,
    tags::DM_GAIN_OFFSET,
    tags::DM_GAIN_FACTOR,
];

/// Whether the page carries any DigitalMicrograph tag.
pub(super) fn detect(c: &Context<'_, '_>) -> bool {
    MARKERS.iter().any(|&t| c.has(t))
}

/// The signal's quantity and noise model (mapped whatever other dialect calibrates).
pub(super) fn map_signal(c: &mut Context<'_, '_>) {
    if let Some(u) = c.str(tags::DM_QUANTITY).map(str::to_string) {
        set_path(&mut c.md, "Signal.quantity", u);
    }
    if let (Some(o), Some(s)) = (c.num(tags::DM_GAIN_OFFSET), c.num(tags::DM_GAIN_FACTOR)) {
        set_path(
            &mut c.md,
            "Signal.Noise_properties.Variance_linear_model.gain_factor",
            json_f64(s),
        );
        set_path(
            &mut c.md,
            "Signal.Noise_properties.Variance_linear_model.gain_offset",
            json_f64(o),
        );
    }
}

/// Units, scales and offsets of the axes: x feeds the width role (1), y the height role
/// (0), z the stack role (2).
pub(super) fn calibrate(c: &mut Context<'_, '_>) {
    let roles = [
        (1, tags::DM_X_UNITS, tags::DM_X_SCALE, tags::DM_X_OFFSET),
        (0, tags::DM_Y_UNITS, tags::DM_Y_SCALE, tags::DM_Y_OFFSET),
        (2, tags::DM_Z_UNITS, tags::DM_Z_SCALE, tags::DM_Z_OFFSET),
    ];
    for (role, units, scale, offset) in roles {
        if let Some(u) = c.str(units).map(str::to_string) {
            c.cal.units[role] = Some(u);
        }
        if let Some(s) = c.num(scale) {
            c.cal.scale[role] = Some(s);
        }
        if let Some(o) = c.num(offset) {
            c.cal.offset[role] = Some(o);
        }
    }
}
