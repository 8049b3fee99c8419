//! `emconvert stats`: statistics of one dataset (min, max, mean, std, NaN/inf counts,
//! histogram), and sums over some of its axes (navigation, signal or named), streamed by
//! [`emio::stats`] and [`emio::reduce`] in one pass over the data.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use emio::reduce::{Over, Summation};
use emio::{Registry, Result};

use crate::{open, outln, report_warnings, with_progress, ReadArgs};

/// Arguments of `emconvert stats`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  emconvert stats image.dm4
  emconvert stats map.mrc --bins 32
  emconvert stats scan.mib --json
  emconvert stats scan.mib --sum navigation --out mean_pattern.npy
  emconvert stats si.emd --dataset 2 --sum signal --out intensity_map.tif --bins 0
  emconvert stats scan.mib --sum signal --weights disc_mask.npy --out virtual_bf.tif
  emconvert stats si.dm4 --sum y --out x_by_energy.hspy")]
pub struct StatsArgs {
    /// The file.
    file: PathBuf,
    /// Which dataset of the file (see `emconvert info`); needed when it holds several.
    #[arg(long, value_name = "N")]
    dataset: Option<usize>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Histogram bins, with percentiles (0: none). Without it: 16 for 8- and 16-bit data,
    /// whose histogram comes with the one pass over the data; none for other types, where
    /// it takes a second pass.
    #[arg(long, value_name = "N")]
    bins: Option<usize>,
    /// Also sum the data over its navigation axes (`navigation`: the summed pattern or
    /// spectrum), its signal axes (`signal`: the total-intensity map), or the axes listed,
    /// separated by commas: axis names (see `emconvert info`) or dimension indices
    /// (negative ones counted from the last), e.g. `--sum y` or `--sum 0,-1`.
    #[arg(long, value_name = "AXES", allow_hyphen_values = true)]
    sum: Option<Over>,
    /// Write the sum to this file (format from the extension; never overwrites).
    #[arg(long, value_name = "FILE", requires = "sum")]
    out: Option<PathBuf>,
    /// Multiply each value in the sum by its weight from this file (any format emio reads;
    /// one value per index of the summed axes, in the dataset's axis order, e.g. a
    /// detector mask of the signal's shape with `--sum signal`: a virtual detector image).
    #[arg(long, value_name = "FILE", requires = "sum")]
    weights: Option<PathBuf>,
    #[command(flatten)]
    read: ReadArgs,
}

/// The values of the weights file `path` (its main dataset) in C order, when it holds one
/// real value per index of the axes of `dataset` that a sum `over` runs over; checked
/// before its values are read.
fn read_weights(path: &Path, dataset: &emio::Dataset, over: &Over) -> Result<Vec<f64>> {
    let summed: u64 = over
        .summed(dataset)?
        .iter()
        .map(|&d| dataset.shape()[d])
        .product();
    let datasets = emio::open(path)?;
    let weights = emio::pick(&datasets, None)?;
    let problem =
        |why: String| emio::Error::invalid_option("weights", format!("{}: {why}", path.display()));
    let count: u64 = weights.shape().iter().product();
    if count != summed {
        return Err(problem(format!(
            "{count} values of shape {:?} for the {summed} positions summed over",
            weights.shape()
        )));
    }
    let values = weights
        .read()?
        .to_f64()
        .ok_or_else(|| problem(format!("{} values are not real numbers", weights.dtype())))?;
    Ok(values.iter().copied().collect())
}

/// Print the statistics of the chosen dataset.
pub fn stats(args: &StatsArgs) -> Result<()> {
    let writer = match &args.out {
        Some(out) => {
            let writer = emio::registry().writer_for(out, None)?;
            if out.symlink_metadata().is_ok() {
                return Err(emio::Error::OutputExists(out.clone()));
            }
            Some(writer)
        }
        None => None,
    };
    let (_, datasets) = open(&args.file, &args.read)?;
    report_warnings(&args.file, &datasets);
    let dataset = emio::pick(&datasets, args.dataset)?;
    let default_bins = emio::stats::default_bins(dataset.dtype());
    let bins = args.bins.unwrap_or(default_bins);
    // The sum, when asked for, shares the statistics' pass over the data.
    let summation = match &args.sum {
        Some(over) => {
            let weights = match &args.weights {
                Some(path) => Some(read_weights(path, dataset, over)?),
                None => None,
            };
            Some(Summation::over(dataset, over, weights.as_deref())?)
        }
        None => None,
    };
    let sums: Vec<&Summation> = summation.iter().collect();
    let st = with_progress(|p| emio::stats::stats_and_sums(dataset, bins, &sums, p))?;
    let sum = summation.map(Summation::finish).transpose()?;
    if let (Some(sum), Some(out), Some(writer)) = (&sum, &args.out, &writer) {
        Registry::write(
            writer.as_ref(),
            sum,
            out,
            &[] as &[(&str, &str)],
            false,
            &emio::NoProgress,
        )?;
    }
    let sum_stats = match &sum {
        Some(s) => Some(emio::stats::stats(s, 0, &emio::NoProgress)?),
        None => None,
    };
    if args.json {
        let mut doc = st.to_json();
        doc["file"] = json!(args.file.display().to_string());
        doc["title"] = json!(dataset.title());
        doc["dtype"] = json!(dataset.dtype().numpy_str());
        doc["shape"] = json!(dataset.shape());
        if let (Some(sum), Some(sum_stats)) = (&sum, &sum_stats) {
            let mut s = sum_stats.to_json();
            s["over"] = json!(args.sum.as_ref().map(Over::to_string));
            s["shape"] = json!(sum.shape());
            if let Some(out) = &args.out {
                s["written_to"] = json!(out.display().to_string());
            }
            doc["axis_sum"] = s;
        }
        outln!("{doc}");
        return Ok(());
    }
    let s = &st.summary;
    outln!(
        "{}: {:?} {} {:?} ({} per element)",
        args.file.display(),
        dataset.title(),
        dataset.dtype(),
        dataset.shape(),
        st.of
    );
    outln!(
        "  count {}  NaN {}  +inf {}  -inf {}",
        s.count,
        s.nan,
        s.pos_inf,
        s.neg_inf
    );
    outln!("  min {}  max {}", s.min, s.max);
    outln!("  mean {}  std {}  sum {}", s.mean, s.std(), s.sum);
    if let Some(h) = &st.histogram {
        outln!(
            "  percentiles: 0.1% {}  1% {}  50% {}  99% {}  99.9% {}",
            st.quantile(0.001),
            st.quantile(0.01),
            st.quantile(0.5),
            st.quantile(0.99),
            st.quantile(0.999)
        );
        let most = h.counts.iter().copied().max().unwrap_or(1).max(1);
        outln!(
            "  histogram ({} bins of width {}):",
            h.counts.len(),
            h.width
        );
        for (i, &c) in h.counts.iter().enumerate() {
            let bar = "#".repeat(((c as f64 / most as f64) * 40.0).ceil() as usize);
            outln!(
                "    {:>14.6e} {:>12} {bar}",
                h.start + i as f64 * h.width,
                c
            );
        }
    }
    if st.histogram.is_none() && args.bins.is_none() && s.count > 0 {
        outln!(
            "  no histogram: for {} data it takes a second pass over the data; \
             `--bins {}` counts one",
            dataset.dtype(),
            emio::stats::DEFAULT_BINS
        );
    }
    if let (Some(sum), Some(sum_stats)) = (&sum, &sum_stats) {
        let t = &sum_stats.summary;
        outln!(
            "  sum over {}: shape {:?}, min {} max {} mean {}{}",
            args.sum.as_ref().map(Over::to_string).unwrap_or_default(),
            sum.shape(),
            t.min,
            t.max,
            t.mean,
            args.out
                .as_ref()
                .map(|o| format!(", written to {}", o.display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}
