//! Normalized (HyperSpy) metadata of a DM image, from its tags.
//!
//! rsciio returns a mapping from `original_metadata` paths to metadata paths that HyperSpy
//! applies after reading; emio applies the same mapping here, in the same order (later
//! entries win), so `General.date`, `Acquisition_instrument.TEM.beam_energy`,
//! `Signal.Noise_properties...` and friends are filled directly. Keys match exactly or
//! after HyperSpy's slugification, so `EELS_Spectrometer.Aperture_label` finds the
//! `EELS Spectrometer` group.

use chrono::{NaiveDate, NaiveTime};
use emio_core::metadata::{set_path, value_f64};
use emio_core::serde_json::{json, Value};
use emio_core::Tree;

use crate::lookup::lookup;

/// How a tag value becomes a metadata value.
#[derive(Clone, Copy)]
enum Conv {
    Copy,
    Date,
    Time,
    Scale(f64),
    Mode,
    NonEmpty,
    ApertureLabel,
    FloatText,
    Exposure,
    ClDetector,
    Microscope,
    PixelSize,
    Quantity,
}

fn iso_date(text: &str) -> Option<String> {
    let text = text.trim();
    let date_part = text.split(['T', ' ']).next()?;
    let parts: Vec<&str> = date_part.split(['/', '-', '.']).collect();
    if parts.len() != 3 {
        return None;
    }
    let n: Vec<i32> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let year = |y: i32, digits: usize| {
        if digits <= 2 {
            if y < 70 {
                2000 + y
            } else {
                1900 + y
            }
        } else {
            y
        }
    };
    let (y, m, d) = if parts[0].len() == 4 {
        (n[0], n[1], n[2])
    } else if n[0] > 12 {
        (year(n[2], parts[2].len()), n[1], n[0])
    } else {
        (year(n[2], parts[2].len()), n[0], n[1])
    };
    NaiveDate::from_ymd_opt(y, u32::try_from(m).ok()?, u32::try_from(d).ok()?)
        .map(|d| d.format("%Y-%m-%d").to_string())
}

fn iso_time(text: &str) -> Option<String> {
    let text = text.trim();
    // An ISO date-time keeps its time part.
    let text = text.rsplit('T').next()?;
    let upper = text.to_ascii_uppercase();
    let (clock, pm) = if let Some(t) = upper.strip_suffix("PM") {
        (t.trim().to_string(), Some(true))
    } else if let Some(t) = upper.strip_suffix("AM") {
        (t.trim().to_string(), Some(false))
    } else {
        (upper.clone(), None)
    };
    let clock = clock.split(['+', 'Z']).next()?.trim();
    let fields: Vec<&str> = clock.split(':').collect();
    if fields.len() < 2 || fields.len() > 3 {
        return None;
    }
    let mut h: u32 = fields[0].parse().ok()?;
    let m: u32 = fields[1].parse().ok()?;
    let (s, micro) = match fields.get(2) {
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let s: u32 = whole.parse().ok()?;
            let mut digits: String = frac.chars().take(6).collect();
            while digits.len() < 6 {
                digits.push('0');
            }
            (s, digits.parse::<u32>().ok()?)
        }
        None => (0, 0),
    };
    match pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    let t = NaiveTime::from_hms_micro_opt(h, m, s, micro)?;
    Some(if micro == 0 {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%H:%M:%S%.6f").to_string()
    })
}

fn mode(text: &str) -> &'static str {
    if text.contains("STEM") {
        "STEM"
    } else if text.contains("SEM") {
        "SEM"
    } else {
        "TEM"
    }
}

fn exposure(tags: &Tree) -> Option<f64> {
    if let Some(v) = lookup(tags, "Integration_time_s").and_then(value_f64) {
        return Some(v);
    }
    let exposure = lookup(tags, "Exposure_s").and_then(value_f64)?;
    let frames = lookup(tags, "Number_of_frames")
        .and_then(value_f64)
        .unwrap_or(1.0);
    Some(exposure * frames)
}

fn convert(conv: Conv, v: &Value, signal_type: &str) -> Option<Value> {
    let s = v.as_str();
    let f = value_f64(v).filter(|_| !v.is_string());
    match conv {
        Conv::Copy => Some(v.clone()),
        Conv::Date => s.and_then(iso_date).map(Value::String),
        Conv::Time => s.and_then(iso_time).map(Value::String),
        Conv::Scale(k) => f.map(|x| json!(x * k)),
        Conv::Mode => s.map(|t| json!(mode(t))),
        Conv::NonEmpty => s.filter(|t| !t.is_empty()).map(|t| json!(t)),
        Conv::ApertureLabel => s
            .and_then(|t| t.replace("mm", "").trim().parse::<f64>().ok())
            .map(|x| json!(x)),
        Conv::FloatText => s
            .and_then(|t| t.trim().parse::<f64>().ok())
            .map(|x| json!(x)),
        Conv::Exposure => v.as_object().and_then(exposure).map(|x| json!(x)),
        Conv::ClDetector => match v
            .as_object()
            .and_then(|t| lookup(t, "Acquisition_Mode"))
            .and_then(Value::as_str)
        {
            Some("Parallel dispersive") => Some(json!("CCD")),
            Some("Serial dispersive") => Some(json!("PMT")),
            _ => None,
        },
        Conv::Microscope => {
            let tags = v.as_object()?;
            [
                "Session Info.Microscope",
                "Microscope Info.Name",
                "Microscope Info.Microscope",
            ]
            .iter()
            .filter_map(|p| lookup(tags, p))
            .find(|m| match m {
                Value::String(t) => !t.is_empty() && t != "[]",
                Value::Array(a) => !a.is_empty(),
                Value::Null => false,
                _ => true,
            })
            .cloned()
        }
        Conv::PixelSize => match v.as_array() {
            Some(a) if a.len() == 2 && a[0] == a[1] => Some(a[0].clone()),
            _ => Some(v.clone()),
        },
        Conv::Quantity => {
            let units = s.unwrap_or("");
            let (mut quantity, units) = if units == "e-" {
                ("Electrons", "Counts")
            } else {
                ("Intensity", units)
            };
            if signal_type.starts_with("EDS") {
                quantity = "X-rays";
            }
            Some(json!(if units.is_empty() {
                quantity.to_string()
            } else {
                format!("{quantity} ({units})")
            }))
        }
    }
}

/// The normalized metadata tree of one image (`image`: its tag tree as JSON).
pub fn image_metadata(image: &Tree, filename: &str, signal_type: &str) -> Tree {
    let mut md = Tree::new();
    let title = match image.get("Name") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    set_path(&mut md, "General.title", title);
    set_path(&mut md, "Signal.signal_type", signal_type);
    set_path(&mut md, "General.original_filename", filename);
    let empty = Tree::new();
    let image_tags = image
        .get("ImageTags")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // Stacks made by the stack builder keep the acquisition's tags under `source`.
    let tags = match image_tags.get("source") {
        Some(Value::Object(src)) => src
            .get("Tags at creation")
            .and_then(Value::as_object)
            .unwrap_or(&empty),
        _ => image_tags,
    };
    let illumination =
        lookup(image_tags, "Microscope Info.Illumination Mode").and_then(Value::as_str);
    let mic = match illumination {
        Some(m) if mode(m) == "SEM" => "SEM",
        _ => "TEM",
    };
    let at = |p: &str| format!("Acquisition_instrument.{mic}.{p}");
    let mut map: Vec<(String, String, Conv)> = Vec::new();
    let mut add =
        |src: &str, dst: &str, conv: Conv| map.push((src.to_string(), dst.to_string(), conv));
    add("DataBar.Acquisition Date", "General.date", Conv::Date);
    add("DataBar.Acquisition Time", "General.time", Conv::Time);
    add(
        "Microscope Info.Voltage",
        &at("beam_energy"),
        Conv::Scale(1e-3),
    );
    add(
        "Microscope Info.Stage Position.Stage Alpha",
        &at("Stage.tilt_alpha"),
        Conv::Copy,
    );
    add(
        "Microscope Info.Stage Position.Stage Beta",
        &at("Stage.tilt_beta"),
        Conv::Copy,
    );
    add(
        "Microscope Info.Stage Position.Stage X",
        &at("Stage.x"),
        Conv::Scale(1e-3),
    );
    add(
        "Microscope Info.Stage Position.Stage Y",
        &at("Stage.y"),
        Conv::Scale(1e-3),
    );
    add(
        "Microscope Info.Stage Position.Stage Z",
        &at("Stage.z"),
        Conv::Scale(1e-3),
    );
    add(
        "Microscope Info.Illumination Mode",
        &at("acquisition_mode"),
        Conv::Mode,
    );
    add(
        "Microscope Info.Probe Current (nA)",
        &at("beam_current"),
        Conv::Copy,
    );
    add("Session Info.Operator", "General.authors", Conv::NonEmpty);
    add(
        "Session Info.Specimen",
        "Sample.description",
        Conv::NonEmpty,
    );
    if let Some(Value::Object(info)) = tags.get("Microscope Info") {
        let is_tem = lookup(info, "Illumination Mode").and_then(Value::as_str) == Some("TEM");
        let is_diffraction =
            lookup(info, "Imaging Mode").and_then(Value::as_str) == Some("DIFFRACTION");
        if is_tem {
            let target = if is_diffraction {
                "camera_length"
            } else {
                "magnification"
            };
            add(
                "Microscope Info.Indicated Magnification",
                &format!("Acquisition_instrument.TEM.{target}"),
                Conv::Copy,
            );
        } else {
            add(
                "Microscope Info.STEM Camera Length",
                &at("camera_length"),
                Conv::Copy,
            );
            add(
                "Microscope Info.Indicated Magnification",
                &at("magnification"),
                Conv::Copy,
            );
        }
        add("", &at("microscope"), Conv::Microscope);
    }
    if image_tags.contains_key("SI") {
        add("SI.Acquisition.Date", "General.date", Conv::Date);
        add("SI.Acquisition.Start time", "General.time", Conv::Time);
    }
    let scanning = tags.contains_key("DigiScan");
    match signal_type {
        "EELS" => {
            let ex = if scanning { "dwell_time" } else { "exposure" };
            add("EELS.Acquisition.Date", "General.date", Conv::Date);
            add("EELS.Acquisition.Start time", "General.time", Conv::Time);
            add(
                "EELS.Experimental Conditions.Collection semi-angle (mrad)",
                "Acquisition_instrument.TEM.Detector.EELS.collection_angle",
                Conv::Copy,
            );
            add(
                "EELS.Experimental Conditions.Convergence semi-angle (mrad)",
                "Acquisition_instrument.TEM.convergence_angle",
                Conv::Copy,
            );
            add(
                "EELS.Acquisition",
                &format!("Acquisition_instrument.TEM.Detector.EELS.{ex}"),
                Conv::Exposure,
            );
            add(
                "EELS.Acquisition.Number_of_frames",
                "Acquisition_instrument.TEM.Detector.EELS.frame_number",
                Conv::Copy,
            );
            add(
                "EELS_Spectrometer.Aperture_label",
                "Acquisition_instrument.TEM.Detector.EELS.aperture_size",
                Conv::ApertureLabel,
            );
            add(
                "EELS Spectrometer.Instrument name",
                "Acquisition_instrument.TEM.Detector.EELS.spectrometer",
                Conv::Copy,
            );
        }
        "EDS_TEM" | "EDS_SEM" => {
            let d = at("Detector.EDS");
            let d = d.as_str();
            add("EDS.Acquisition.Date", "General.date", Conv::Date);
            add("EDS.Acquisition.Start time", "General.time", Conv::Time);
            add(
                "EDS.Detector_Info.Azimuthal_angle",
                &format!("{d}.azimuth_angle"),
                Conv::Copy,
            );
            add(
                "EDS.Detector_Info.Elevation_angle",
                &format!("{d}.elevation_angle"),
                Conv::Copy,
            );
            add("EDS.Solid_angle", &format!("{d}.solid_angle"), Conv::Copy);
            add("EDS.Live_time", &format!("{d}.live_time"), Conv::Copy);
            add("EDS.Real_time", &format!("{d}.real_time"), Conv::Copy);
        }
        "CL" => {
            let sp = "Acquisition_instrument.Spectrometer";
            let de = "Acquisition_instrument.Detector";
            add("CL.Acquisition.Date", "General.date", Conv::Date);
            add("CL.Acquisition.Start_time", "General.time", Conv::Time);
            add(
                "Meta_Data.Acquisition_Mode",
                &format!("{sp}.acquisition_mode"),
                Conv::Copy,
            );
            add("Meta_Data.Format", "Signal.format", Conv::Copy);
            add(
                "Meta_Data",
                &format!("{de}.detector_type"),
                Conv::ClDetector,
            );
            add(
                "Acquisition.Monarc_Spectrometer.Grating",
                &format!("{sp}.Grating.groove_density"),
                Conv::FloatText,
            );
            add(
                "CL.Acquisition.Dispersion_grating_(lines/mm)",
                &format!("{sp}.Grating.groove_density"),
                Conv::Copy,
            );
            add(
                "Acquisition.Monarc_Spectrometer.Slit_Width",
                &format!("{sp}.entrance_slit_width"),
                Conv::Copy,
            );
            add(
                "Acquisition.Monarc_Spectrometer.Bandpass",
                &format!("{sp}.bandpass"),
                Conv::Copy,
            );
            add(
                "CL.Acquisition.Central_wavelength_(nm)",
                &format!("{sp}.central_wavelength"),
                Conv::Copy,
            );
            add(
                "CL.Acquisition.Exposure_(s)",
                &format!("{de}.exposure_per_frame"),
                Conv::Copy,
            );
            add(
                "CL.Acquisition.Number_of_frames",
                &format!("{de}.frames"),
                Conv::Copy,
            );
            add(
                "CL.Acquisition",
                &format!("{de}.integration_time"),
                Conv::Exposure,
            );
            add(
                "CL.Acquisition.Saturation_fraction",
                &format!("{de}.saturation_fraction"),
                Conv::Copy,
            );
            add(
                "Acquisition.Parameters.High_Level.Binning",
                &format!("{de}.binning"),
                Conv::Copy,
            );
            add(
                "Acquisition.Parameters.High_Level.CCD_Read_Area",
                &format!("{de}.sensor_roi"),
                Conv::Copy,
            );
            add(
                "Acquisition.Parameters.High_Level.Processing",
                &format!("{de}.processing"),
                Conv::Copy,
            );
            add(
                "Acquisition.Device.CCD.Pixel_Size_um",
                &format!("{de}.pixel_size"),
                Conv::PixelSize,
            );
            add(
                "CL.Acquisition.Acquisition_begin",
                "General.date",
                Conv::Date,
            );
            add(
                "CL.Acquisition.Dwell_time_(s)",
                &format!("{de}.integration_time"),
                Conv::Copy,
            );
            add(
                "CL.Acquisition.Start_wavelength_(nm)",
                &format!("{sp}.start_wavelength"),
                Conv::Copy,
            );
            add(
                "CL.Acquisition.Step-size_(nm)",
                &format!("{sp}.step_size"),
                Conv::Copy,
            );
            add(
                "Acquisition.Monarc_Spectrometer.PMT_HV",
                &format!("{de}.pmt_voltage"),
                Conv::Copy,
            );
            add("DigiScan.Sample Time", &at("dwell_time"), Conv::Scale(1e-6));
            add("DataBar.Acquisition_Date", "General.date", Conv::Date);
            add("DataBar.Acquisition_Time", "General.time", Conv::Time);
            let si = "Acquisition_instrument.Spectrum_image";
            add(
                "SI.Acquisition.SI_Application_Mode.Name",
                &format!("{si}.mode"),
                Conv::Copy,
            );
            add(
                "SI.Acquisition.Artefact_Correction.Spatial_Drift.Periodicity",
                &format!("{si}.drift_correction_periodicity"),
                Conv::Copy,
            );
            add(
                "SI.Acquisition.Artefact_Correction.Spatial_Drift.Units",
                &format!("{si}.drift_correction_units"),
                Conv::Copy,
            );
        }
        _ if scanning => add("DigiScan.Sample Time", &at("dwell_time"), Conv::Scale(1e-6)),
        _ => add(
            "Acquisition.Parameters.Detector.exposure_s",
            "Acquisition_instrument.TEM.Camera.exposure",
            Conv::Copy,
        ),
    }
    let tags_value = Value::Object(tags.clone());
    for (src, dst, conv) in &map {
        let value = if src.is_empty() {
            Some(&tags_value)
        } else {
            lookup(tags, src)
        };
        if let Some(v) = value.and_then(|v| convert(*conv, v, signal_type)) {
            set_path(&mut md, dst, v);
        }
    }
    // Intensity calibration (always from the image itself).
    let brightness = lookup(image, "ImageData.Calibrations.Brightness").and_then(Value::as_object);
    if let Some(b) = brightness {
        if let Some(units) = b.get("Units") {
            let units = if units.is_string() {
                units.clone()
            } else {
                json!("")
            };
            if let Some(q) = convert(Conv::Quantity, &units, signal_type) {
                set_path(&mut md, "Signal.quantity", q);
            }
        }
        let noise = "Signal.Noise_properties.Variance_linear_model";
        if let Some(v) = b.get("Scale") {
            set_path(&mut md, &format!("{noise}.gain_factor"), v.clone());
        }
        if let Some(v) = b.get("Origin") {
            set_path(&mut md, &format!("{noise}.gain_offset"), v.clone());
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert_eq!(iso_date("11/19/19").as_deref(), Some("2019-11-19"));
        assert_eq!(iso_date("4/6/2017").as_deref(), Some("2017-04-06"));
        assert_eq!(
            iso_date("2019-11-19T19:39:47").as_deref(),
            Some("2019-11-19")
        );
        assert_eq!(iso_date("19.11.2019").as_deref(), Some("2019-11-19"));
        assert_eq!(iso_date("not a date"), None);
        assert_eq!(iso_time("7:39:47 PM").as_deref(), Some("19:39:47"));
        assert_eq!(iso_time("12:00:01 AM").as_deref(), Some("00:00:01"));
        assert_eq!(
            iso_time("19:39:47.554814").as_deref(),
            Some("19:39:47.554814")
        );
        assert_eq!(iso_time("noon"), None);
    }

    #[test]
    fn quantity_follows_rsciio() {
        assert_eq!(
            convert(Conv::Quantity, &json!("e-"), "").unwrap(),
            json!("Electrons (Counts)")
        );
        assert_eq!(
            convert(Conv::Quantity, &json!(""), "").unwrap(),
            json!("Intensity")
        );
        assert_eq!(
            convert(Conv::Quantity, &json!("counts"), "EDS_TEM").unwrap(),
            json!("X-rays (counts)")
        );
    }
}
