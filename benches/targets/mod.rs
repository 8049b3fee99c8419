//! Issue 23's table for the MIB row: emio's conversion to Zarr with the default codec
//! against the codec alone (the ceiling), against numpy memmap → zarr-python and
//! HyperSpy's `.zspy` save, and its peak anonymous memory.

use std::path::Path;
use std::time::Duration;

use emio::Dataset;

use crate::codec::{self, Codec, Sample};
use crate::measure::Measured;
use crate::{common, mb, met, peers, Run, Tables};

/// Issue 23's targets for MIB → Zarr v3 with the default codec: the share of the codec
/// alone's speed, the speed-up over the Python peers, and the peak anonymous memory.
const TARGET_VS_CEILING: f64 = 0.8;
const TARGET_VS_PEERS: f64 = 1.5;
const TARGET_RSS_BYTES: u64 = 256 << 20;

/// The codec alone, as the targets of issue 23 measure conversions against it.
pub(crate) struct Ceiling<'a> {
    /// The written store's codec chain.
    pub(crate) codec: &'a Codec,
    /// The bytes it is timed on.
    pub(crate) sample: &'a Sample,
    /// Its rate (input bytes per second, the median of its runs).
    pub(crate) rate: f64,
    /// Whether c-blosc encoded faster than emio's encoder (the ceiling is the faster).
    pub(crate) by_c_blosc: bool,
}

/// Issue 23's targets for the MIB row: emio's conversion to Zarr (default codec) against
/// the codec alone (the medians of their runs, and rounds of one run of each), numpy
/// memmap → zarr-python and HyperSpy's `.zspy` save (with `--python`), and its peak RSS.
pub(crate) fn target_rows(
    run: &Run,
    data: &Dataset,
    path: &Path,
    ceiling: &Ceiling,
    to_zarr: &Measured<()>,
    convert_once: &dyn Fn() -> Duration,
    tables: &mut Tables,
) {
    let emio_t = to_zarr.timing.median();
    let secs = |d: Duration| format!("{:.3} s", d.as_secs_f64());
    let on_data = |sample_time: Duration| {
        let rate = ceiling.sample.bytes() as f64 / sample_time.as_secs_f64().max(1e-9);
        codec::seconds(data.nbytes(), rate)
    };
    let alone = codec::seconds(data.nbytes(), ceiling.rate);
    let share = alone.as_secs_f64() / emio_t.as_secs_f64();
    tables.targets.row(vec![
        "the codec alone (ceiling)".to_string(),
        secs(alone),
        secs(emio_t),
        format!("{share:.2}x"),
        format!(">= {TARGET_VS_CEILING}x"),
        met(share >= TARGET_VS_CEILING),
    ]);
    // The same two steps in rounds: the pace of a VM drifts by 10-15% from minute to
    // minute, which medians taken minutes apart carry into their ratio; the two runs of a
    // round see the same pace. Every other round runs the codec alone first, so that what
    // one step leaves behind (freed memory, files) weighs on both alike.
    let encode_once = || {
        on_data(
            ceiling
                .codec
                .encode_once(ceiling.sample, ceiling.by_c_blosc),
        )
    };
    let rounds: Vec<(Duration, Duration)> = (0..common::runs())
        .map(|round| {
            if round % 2 == 0 {
                let converted = convert_once();
                (encode_once(), converted)
            } else {
                let encoded = encode_once();
                (encoded, convert_once())
            }
        })
        .collect();
    let mut shares: Vec<f64> = rounds
        .iter()
        .map(|(alone, converted)| alone.as_secs_f64() / converted.as_secs_f64())
        .collect();
    shares.sort_by(f64::total_cmp);
    let middle = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let paired = shares[shares.len() / 2];
    tables.targets.row(vec![
        "the codec alone, in rounds".to_string(),
        secs(middle(rounds.iter().map(|r| r.0).collect())),
        secs(middle(rounds.iter().map(|r| r.1).collect())),
        format!("{paired:.2}x"),
        format!(">= {TARGET_VS_CEILING}x"),
        met(paired >= TARGET_VS_CEILING),
    ]);
    let in_turn = |first: usize| {
        rounds
            .iter()
            .skip(first)
            .step_by(2)
            .map(|(alone, converted)| {
                format!("{:.2}", alone.as_secs_f64() / converted.as_secs_f64())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    tables.targets.text(format!(
        "median of {} rounds' shares; the conversion first: {}x; the codec alone first: {}x",
        shares.len(),
        in_turn(0),
        in_turn(1)
    ));
    if let Some(py) = &run.python {
        match peers::zarr_peers(
            py,
            path,
            data.shape(),
            &ceiling.codec.chunk_shape(),
            &run.dir,
        ) {
            Ok(p) => {
                for (what, peer) in [
                    ("numpy memmap -> zarr-python (lz4)", &p.memmap),
                    ("HyperSpy lazy -> .zspy", &p.hyperspy),
                ] {
                    let peer = match peer {
                        Ok(peer) => peer,
                        Err(e) => {
                            tables.targets.text(format!("{what}: not timed: {e}"));
                            continue;
                        }
                    };
                    let ratio = peer.median.as_secs_f64() / emio_t.as_secs_f64();
                    tables.targets.row(vec![
                        what.to_string(),
                        secs(peer.median),
                        secs(emio_t),
                        format!("{ratio:.2}x"),
                        format!(">= {TARGET_VS_PEERS}x"),
                        met(ratio >= TARGET_VS_PEERS),
                    ]);
                    tables.targets.text(format!("spread: {}", peer.spread));
                }
            }
            Err(e) => tables.targets.text(format!("Python peers not timed: {e}")),
        }
    }
    tables.targets.row(vec![
        "peak anonymous RSS of the conversion".to_string(),
        format!("{} MB", mb(to_zarr.rss)),
        String::new(),
        String::new(),
        format!("<= {} MB", mb(TARGET_RSS_BYTES)),
        met(to_zarr.rss <= TARGET_RSS_BYTES),
    ]);
}
