//! EMSA/MSA (`.msa`, ISO 22029 / EMSA/MAS 1.0) spectra for emio: the text format EDS and
//! EELS tools (Oxford AZtec, DigitalMicrograph, ...) exchange single spectra in.
//!
//! Reading follows RosettaSciIO's `msa` plugin (`read`); writing follows its writer
//! (`write`) with full-precision values. Options are rsciio's: `encoding` when reading;
//! `format` (`Y`/`XY`), `separator` and `encoding` when writing (`encoding`: the text
//! encodings MSA files are met in, by Python's codec names).

#![forbid(unsafe_code)]

mod encoding;
mod keywords;
mod read;
mod write;

use std::path::Path;
use std::sync::Arc;

use emio_core::{
    Dataset, Error, Format, FormatInfo, OptionSet, Options, Result, ResultExt, StridedSource,
    WriteRequest, Writes,
};

pub use encoding::Encoding;
pub use read::{parse, Spectrum};

const FORMAT: &str = "msa";

/// Largest MSA file read (a text spectrum of a few million channels); larger inputs are
/// refused before reading them into memory.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// EMSA/MSA spectrum files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Msa;

impl Format for Msa {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: FORMAT,
            description: "EMSA/MSA spectrum (ISO 22029 text)",
            extensions: &["msa", "ems", "mas", "emsa"],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::file(WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        // UTF-16 with a byte-order mark, else an ASCII-compatible encoding, whose first
        // line is checked as bytes (most files probed are binary: nothing to decode).
        match head {
            [0xff, 0xfe, ..] | [0xfe, 0xff, ..] => {
                let text = Encoding::Utf16.decode(head);
                text.starts_with("#FORMAT")
                    && text.lines().next().is_some_and(|l| l.contains("EMSA"))
            }
            _ => {
                let unmarked = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
                let line = unmarked.split(|&b| b == b'\n').next().unwrap_or_default();
                line.starts_with(b"#FORMAT") && line.windows(4).any(|w| w == b"EMSA")
            }
        }
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
        let encoding = Encoding::from_option(&ReadOptions::from_options(options)?.encoding)?;
        let bytes = emio_core::inputs::read(path)?;
        let text = encoding.decode(&bytes);
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

    fn write(&self, request: &WriteRequest) -> Result<()> {
        write::write(request)
    }
}

#[cfg(test)]
mod tests;

pub use read::ReadOptions;
pub use write::{Columns, WriteOptions};
