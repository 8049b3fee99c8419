//! The keywords of the EMSA/MAS 1.0 standard (ISO 22029): the type of each value and where
//! HyperSpy's tree holds it, as RosettaSciIO's `msa` plugin maps them. Shared by the reader
//! (file → metadata) and the writer (metadata → file).

/// How a keyword's value is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Kept as text.
    Text,
    /// Converted to a float.
    Number,
}

/// One keyword: its name, value type and HyperSpy path (`TEM` is replaced by `SEM` for SEM
/// signals when writing).
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    /// Name as written after `#` (without a `-units` suffix).
    pub name: &'static str,
    /// Value type.
    pub kind: Kind,
    /// Dotted path in HyperSpy's metadata, when mapped.
    pub mapped_to: Option<&'static str>,
}

const fn kw(name: &'static str, kind: Kind, mapped_to: Option<&'static str>) -> Keyword {
    Keyword {
        name,
        kind,
        mapped_to,
    }
}

use Kind::{Number, Text};

/// Every keyword of the standard, in its order.
pub const KEYWORDS: &[Keyword] = &[
    kw("FORMAT", Text, None),
    kw("VERSION", Text, None),
    kw("TITLE", Text, Some("General.title")),
    kw("DATE", Text, None),
    kw("TIME", Text, None),
    kw("OWNER", Text, None),
    kw("NPOINTS", Number, None),
    kw("NCOLUMNS", Number, None),
    kw("DATATYPE", Text, None),
    kw("XPERCHAN", Number, None),
    kw("OFFSET", Number, None),
    kw("SIGNALTYPE", Text, None),
    kw("XLABEL", Text, None),
    kw("YLABEL", Text, None),
    kw("XUNITS", Text, None),
    kw("YUNITS", Text, None),
    kw("CHOFFSET", Number, None),
    kw("COMMENT", Text, None),
    kw(
        "BEAMKV",
        Number,
        Some("Acquisition_instrument.TEM.beam_energy"),
    ),
    kw("EMISSION", Number, None),
    kw(
        "PROBECUR",
        Number,
        Some("Acquisition_instrument.TEM.beam_current"),
    ),
    kw("BEAMDIAM", Number, None),
    kw("MAGCAM", Number, None),
    kw("OPERMODE", Text, None),
    kw(
        "CONVANGLE",
        Number,
        Some("Acquisition_instrument.TEM.convergence_angle"),
    ),
    kw("THICKNESS", Number, Some("Sample.thickness")),
    kw(
        "XTILTSTGE",
        Number,
        Some("Acquisition_instrument.TEM.Stage.tilt_alpha"),
    ),
    kw("YTILTSTGE", Number, None),
    kw("XPOSITION", Number, None),
    kw("YPOSITION", Number, None),
    kw("ZPOSITION", Number, None),
    kw(
        "INTEGTIME",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EELS.exposure"),
    ),
    kw(
        "DWELLTIME",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EELS.dwell_time"),
    ),
    kw(
        "COLLANGLE",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EELS.collection_angle"),
    ),
    kw("ELSDET", Text, None),
    kw(
        "ELEVANGLE",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EDS.elevation_angle"),
    ),
    kw(
        "AZIMANGLE",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EDS.azimuth_angle"),
    ),
    kw(
        "SOLIDANGLE",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EDS.solid_angle"),
    ),
    kw(
        "LIVETIME",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EDS.live_time"),
    ),
    kw(
        "REALTIME",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EDS.real_time"),
    ),
    kw(
        "FWHMMNKA",
        Number,
        Some("Acquisition_instrument.TEM.Detector.EDS.energy_resolution_MnKa"),
    ),
    kw("TBEWIND", Number, None),
    kw("TAUWIND", Number, None),
    kw("TDEADLYR", Number, None),
    kw("TACTLYR", Number, None),
    kw("TALWIND", Number, None),
    kw("TPYWIND", Number, None),
    kw("TBNWIND", Number, None),
    kw("TDIWIND", Number, None),
    kw("THCWIND", Number, None),
    kw(
        "EDSDET",
        Text,
        Some("Acquisition_instrument.TEM.Detector.EDS.EDS_det"),
    ),
];

/// The keyword named `name`, if it is one of the standard's.
pub fn find(name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.name == name)
}

/// The three-letter month names the standard's `DATE` (`DD-MMM-YYYY`) uses.
pub const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
