//! `emconvert preview`: a PNG picture of a file's data ([`emio::preview`]).

use std::path::{Path, PathBuf};

use clap::Args;

use emio::preview::{encode_png, preview, Options};
use emio_core::output::{AtomicOutput, OutputKind};

use crate::{open, outln, report_warnings, ReadArgs};

/// Arguments of `emconvert preview`.
#[derive(Args, Debug)]
#[command(
    after_help = "What is drawn depends on the data: an image with a scale bar; a stack: \
the first frame and the mean; 4D-STEM: a virtual bright-field image and the mean diffraction \
pattern (log); a spectrum: a plot with calibrated axes; a spectrum image: the summed spectrum \
and the total-intensity map; RGB as is; complex: magnitude (and --phase). A file with several \
datasets gives a contact sheet unless --dataset is given.

Examples:
  emconvert preview image.dm4                  # writes image.png beside it
  emconvert preview scan.mib -o scan.png --size 256
  emconvert preview scan.mib --read-option navigation_shape=4,5
  emconvert preview velox.emd --dataset 3 -o eds.png
  emconvert preview hologram.dm3 --phase --force"
)]
pub struct PreviewArgs {
    /// The file.
    file: PathBuf,
    /// The PNG to write (default: the file's name with `.png`, in the current folder).
    #[arg(short = 'o', long = "out", value_name = "PNG")]
    out: Option<PathBuf>,
    /// Preview only this dataset (see `emconvert info`).
    #[arg(long, value_name = "N")]
    dataset: Option<usize>,
    /// Side of each panel in pixels (64 to 4096).
    #[arg(long, value_name = "PIXELS", default_value_t = 512)]
    size: u32,
    /// For complex data, also show the phase.
    #[arg(long)]
    phase: bool,
    /// Replace the PNG if it exists.
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON (file, size, caption).
    #[arg(long)]
    json: bool,
    /// Reader option KEY=VALUE (repeatable; `-o` names the PNG here).
    #[arg(long = "read-option", value_name = "KEY=VALUE")]
    read_options: Vec<String>,
    /// Read as this format instead of probing.
    #[arg(long, value_name = "FORMAT")]
    from: Option<String>,
}

/// Draw the preview and write it atomically.
pub fn run(args: &PreviewArgs) -> emio::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        let name = args
            .file
            .file_name()
            .map_or_else(|| "preview".into(), |n| n.to_string_lossy().into_owned());
        PathBuf::from(format!("{name}.png"))
    });
    if out.symlink_metadata().is_ok() && !args.force {
        return Err(emio::Error::OutputExists(out));
    }
    let read = ReadArgs {
        options: args.read_options.clone(),
        from: args.from.clone(),
    };
    let (format, datasets) = open(&args.file, &read)?;
    report_warnings(&args.file, &datasets);
    let options = Options {
        dataset: args.dataset,
        size: args.size,
        phase: args.phase,
    };
    let name = emio::metadata::file_name(&args.file);
    let picture = preview(&name, format.name(), &datasets, &options)?;
    write(&out, &encode_png(&picture)?, args.force)?;
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "file": args.file.display().to_string(),
                "png": out.display().to_string(),
                "width": picture.width,
                "height": picture.height,
                "caption": picture.caption,
            })
        );
    } else {
        outln!(
            "{}: {}×{} preview written to {}",
            args.file.display(),
            picture.width,
            picture.height,
            out.display()
        );
    }
    Ok(())
}

/// Write `bytes` to `path` through a temporary file renamed into place.
fn write(path: &Path, bytes: &[u8], overwrite: bool) -> emio::Result<()> {
    let output = AtomicOutput::new(path, overwrite, OutputKind::File)?;
    std::fs::write(output.temp_path(), bytes).map_err(|e| emio::Error::io(path, e))?;
    output.commit()
}
