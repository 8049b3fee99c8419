//! EMSA/MSA (`.msa`, ISO 22029 / EMSA/MAS 1.0) spectra for emio: the text format EDS and
//! EELS tools (Oxford AZtec, DigitalMicrograph, ...) exchange single spectra in.
//!
//! Reading follows RosettaSciIO's `msa` plugin ([`read`]); writing follows its writer
//! ([`mod@write`]) with full-precision values. Options are rsciio's: `encoding` when reading;
//! `format` (`Y`/`XY`), `separator` and `encoding` when writing.

#![forbid(unsafe_code)]

pub mod keywords;
pub mod read;
pub mod write;

use std::path::Path;
use std::sync::Arc;

use emio_core::{
    Dataset, Error, Format, OptionKind, OptionSpec, Options, Progress, Result, ResultExt,
    StridedSource,
};

pub use read::{parse, Spectrum};

const FORMAT: &str = "msa";

/// Largest MSA file read (a text spectrum of a few million channels); larger inputs are
/// refused before reading them into memory.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// The formats this crate provides, for the facade's registry.
pub fn formats() -> Vec<Arc<dyn Format>> {
    vec![Arc::new(Msa)]
}

/// EMSA/MSA spectrum files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Msa;

const ENCODING: OptionKind = OptionKind::Choice(keywords::ENCODINGS);

const READ_OPTIONS: &[OptionSpec] = &[OptionSpec {
    name: "encoding",
    kind: ENCODING,
    default: Some("latin-1"),
    help: "text encoding of the file (undecodable bytes become U+FFFD)",
}];

const WRITE_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "format",
        kind: OptionKind::Choice(&["Y", "XY"]),
        default: Some("Y"),
        help: "Y: intensities only; XY: the calibrated axis value before each intensity",
    },
    OptionSpec {
        name: "separator",
        kind: OptionKind::Str,
        default: Some(", "),
        help: "column separator (the standard and rsciio's reader expect a comma)",
    },
    OptionSpec {
        name: "encoding",
        kind: ENCODING,
        default: Some("latin-1"),
        help: "text encoding (characters it cannot hold are dropped)",
    },
];

impl Format for Msa {
    fn name(&self) -> &'static str {
        FORMAT
    }

    fn description(&self) -> &'static str {
        "EMSA/MSA spectrum (ISO 22029 text)"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["msa", "ems", "mas", "emsa"]
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        head.starts_with(b"#FORMAT")
            && head
                .split(|&b| b == b'\n')
                .next()
                .is_some_and(|line| line.windows(4).any(|w| w == b"EMSA"))
    }

    fn can_write(&self) -> bool {
        true
    }

    fn read_options(&self) -> &'static [OptionSpec] {
        READ_OPTIONS
    }

    fn write_options(&self) -> &'static [OptionSpec] {
        WRITE_OPTIONS
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let io = |e| Error::io(path, e);
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_FILE_BYTES {
            return Err(Error::malformed(
                FORMAT,
                0,
                format!("an MSA text file of at most {MAX_FILE_BYTES} bytes, found {size}"),
            )
            .with_path(path));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let text = read::decode(&bytes, options.str("encoding").unwrap_or("latin-1"));
        let name = emio_core::metadata::file_name(path);
        let spectrum = parse(&text, &name).with_path(path)?;
        let n = spectrum.data.len() as u64;
        let bytes: Vec<u8> = spectrum.data.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let source = StridedSource::from_bytes(bytes, emio_core::DType::F64, vec![n])?;
        let mut dataset = Dataset::new(
            Arc::new(source),
            vec![spectrum.axis],
            spectrum.metadata,
            spectrum.original,
        )?;
        for warning in spectrum.warnings {
            dataset.warn(warning);
        }
        Ok(vec![dataset])
    }

    fn write(
        &self,
        dataset: &Dataset,
        path: &Path,
        options: &Options,
        progress: &dyn Progress,
    ) -> Result<()> {
        write::write(dataset, path, options, progress)
    }
}

#[cfg(test)]
mod tests;
