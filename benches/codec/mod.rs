//! The compression side of the benchmark (issue 23): how compressible an input is (its zstd
//! level 1 ratio), and the rate at which a Zarr codec chain alone compresses the same bytes
//! in memory on all cores — the ceiling no conversion to that codec can beat — for the
//! codecs a conversion wrote and for the alternatives a default is chosen from. Blosc
//! chains are measured both as the writer encodes them (emio's encoder) and by c-blosc
//! (zarrs); the faster is the ceiling.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use emio::zarr::blosc;
use emio::Dataset;
use rayon::prelude::*;
use serde_json::{json, Value};
use zarrs::array::{Array, ArrayBytes, ArrayMetadata, ArrayToBytesCodecTraits, CodecOptions};
use zarrs::storage::store::MemoryStore;

use crate::common;

/// Bytes of the input sampled for ratios and ceilings: whole chunks spread evenly over the
/// dataset (all of it when smaller).
pub const SAMPLE_BYTES: u64 = 256 << 20;

/// Chunks of a dataset held in memory, each padded to the full chunk shape as the Zarr
/// writer pads edge chunks.
pub struct Sample {
    /// The chunk shape.
    pub chunk: Vec<u64>,
    /// The chunks' bytes (native order, the logical C order of each chunk).
    pub chunks: Vec<Vec<u8>>,
}

impl Sample {
    /// Up to [`SAMPLE_BYTES`] of chunks of shape `chunk` (at least one), evenly spaced along
    /// the dataset's chunk grid.
    pub fn of(ds: &Dataset, chunk: &[u64]) -> Sample {
        let shape = ds.shape();
        let grid: Vec<u64> = shape
            .iter()
            .zip(chunk)
            .map(|(n, c)| n.div_ceil(*c))
            .collect();
        let total: u64 = grid.iter().product();
        let es = ds.dtype().size() as u64;
        let chunk_bytes = chunk.iter().product::<u64>() * es;
        let wanted = (SAMPLE_BYTES / chunk_bytes.max(1)).clamp(1, total.max(1));
        let chunks = (0..wanted)
            .into_par_iter()
            .map(|k| {
                let mut flat = k * total / wanted;
                let mut start = vec![0; shape.len()];
                for d in (0..shape.len()).rev() {
                    start[d] = (flat % grid[d]) * chunk[d];
                    flat /= grid[d];
                }
                padded_chunk(ds, &start, chunk)
            })
            .collect();
        Sample {
            chunk: chunk.to_vec(),
            chunks,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).sum()
    }

    /// How many times smaller zstd level 1 makes the sample (each chunk compressed alone).
    pub fn zstd1_ratio(&self) -> f64 {
        let compressed: u64 = self
            .chunks
            .par_iter()
            .map(|c| zstd::bulk::compress(c, 1).expect("zstd").len() as u64)
            .sum();
        self.bytes() as f64 / compressed.max(1) as f64
    }
}

/// The chunk at `start` of shape `chunk` read from `ds`, zero-padded where it passes the
/// dataset's end.
fn padded_chunk(ds: &Dataset, start: &[u64], chunk: &[u64]) -> Vec<u8> {
    let shape = ds.shape();
    let inside: Vec<u64> = (0..shape.len())
        .map(|d| chunk[d].min(shape[d] - start[d]))
        .collect();
    let bytes = ds
        .read_region_bytes(start, &inside)
        .expect("read a sample chunk");
    if inside == chunk {
        return bytes;
    }
    let es = ds.dtype().size();
    let row_in = *inside.last().unwrap_or(&1) as usize * es;
    let row_out = *chunk.last().unwrap_or(&1) as usize * es;
    let mut out = vec![0u8; chunk.iter().product::<u64>() as usize * es];
    let lead = &inside[..inside.len().saturating_sub(1)];
    let mut rows = bytes.chunks_exact(row_in);
    emio_core::source::for_each_index(lead, |index| {
        let mut at = 0u64;
        for (d, &i) in index.iter().enumerate() {
            at = at * chunk[d] + i;
        }
        if let Some(row) = rows.next() {
            let at = at as usize * row_out;
            out[at..at + row_in].copy_from_slice(row);
        }
    });
    out
}

/// A Zarr v3 codec chain ready to encode chunks in memory.
pub struct Codec {
    array: Array<MemoryStore>,
    /// The settings of a chain of `bytes` then `blosc` alone, which the writer encodes with
    /// emio's own Blosc encoder.
    blosc: Option<blosc::Settings>,
}

/// A chunk's bytes to its encoded length, by one of the encoders timed.
type Encoder<'a> = Box<dyn Fn(&[u8]) -> u64 + Sync + 'a>;

/// What a codec did to a sample.
pub struct Encoded {
    /// Input bytes per second on all cores (median of [`common::runs`] after a warm-up).
    pub rate: f64,
    /// The spread of the timed runs.
    pub spread: String,
    /// Input bytes per output byte.
    pub ratio: f64,
}

impl Codec {
    /// The codec chain of the Zarr v3 array described by `metadata` (an array's
    /// `zarr.json`).
    pub fn from_metadata(metadata: Value) -> Codec {
        let blosc = blosc_settings(&metadata);
        let parsed: ArrayMetadata = serde_json::from_value(metadata).expect("array metadata");
        let array = Array::new_with_metadata(Arc::new(MemoryStore::new()), "/", parsed)
            .expect("an array of the metadata");
        Codec { array, blosc }
    }

    /// Whether emio encodes this chain itself (Blosc alone).
    pub fn by_emio(&self) -> bool {
        self.blosc.is_some()
    }

    /// The codec chain the `.zarr` store at `store` wrote its data with.
    pub fn of_store(store: &Path) -> Codec {
        Codec::from_metadata(store_metadata(store))
    }

    /// A codec chain `codecs` for chunks of `sample`'s shape of Zarr `data_type`.
    pub fn new(data_type: &str, chunk: &[u64], codecs: Value) -> Codec {
        Codec::from_metadata(json!({
            "zarr_format": 3,
            "node_type": "array",
            "shape": chunk,
            "data_type": data_type,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0,
            "codecs": codecs,
        }))
    }

    /// The chunk shape the codec chain encodes (for sharded arrays, a whole shard).
    pub fn chunk_shape(&self) -> Vec<u64> {
        self.array
            .chunk_shape(&vec![0; self.array.dimensionality()])
            .expect("chunk shape")
            .iter()
            .map(|n| n.get())
            .collect()
    }

    /// Encode every chunk of `sample` (whose chunk shape must be the codec's) on all cores,
    /// as the writer does (each chunk by one worker, Blosc by emio's own encoder): the
    /// rate and ratio.
    pub fn encode(&self, sample: &Sample) -> Encoded {
        measure(sample, self.encoder(sample, false))
    }

    /// [`Codec::encode`] by zarrs' codecs (Blosc by c-blosc).
    pub fn encode_by_zarrs(&self, sample: &Sample) -> Encoded {
        measure(sample, self.encoder(sample, true))
    }

    /// One timed pass of [`Codec::encode`] over `sample` (with `c_blosc`, of
    /// [`Codec::encode_by_zarrs`]), no warm-up: a run paired with another step's.
    pub fn encode_once(&self, sample: &Sample, c_blosc: bool) -> Duration {
        encode_all(sample, &self.encoder(sample, c_blosc)).0
    }

    /// A chunk of `sample`'s bytes to its encoded length: by emio's Blosc encoder when the
    /// chain is Blosc alone and not `c_blosc`, else by zarrs' codecs (Blosc by c-blosc).
    fn encoder(&self, sample: &Sample, c_blosc: bool) -> Encoder<'_> {
        assert_eq!(
            sample.chunk,
            self.chunk_shape(),
            "sample and codec chunk shapes"
        );
        if let (Some(settings), false) = (&self.blosc, c_blosc) {
            return Box::new(move |c: &[u8]| {
                blosc::encode(c, settings)
                    .expect("emio's Blosc encoder")
                    .len() as u64
            });
        }
        let options = CodecOptions::default().with_store_empty_chunks(true);
        let dimensions = self.array.dimensionality();
        let shape = self
            .array
            .chunk_shape(&vec![0; dimensions])
            .expect("chunk shape");
        Box::new(move |c: &[u8]| {
            self.array
                .codecs()
                .encode(
                    ArrayBytes::new_flen(c),
                    &shape,
                    self.array.data_type(),
                    self.array.fill_value(),
                    &options,
                )
                .expect("encode")
                .len() as u64
        })
    }
}

/// Encode every chunk of `sample` on all cores: the time taken and the encoded length.
fn encode_all(sample: &Sample, encode: &Encoder) -> (Duration, u64) {
    let t = Instant::now();
    let out: u64 = sample.chunks.par_iter().map(|c| encode(c)).sum();
    (t.elapsed(), out)
}

/// Time `encode` (a chunk's bytes to its encoded length) over every chunk of `sample` on
/// all cores: one untimed run, then the median of [`common::runs`].
fn measure(sample: &Sample, encode: Encoder) -> Encoded {
    let (_, out) = encode_all(sample, &encode);
    let timing = common::Timing::of(|| encode_all(sample, &encode).0);
    Encoded {
        rate: sample.bytes() as f64 / timing.median().as_secs_f64().max(1e-9),
        spread: timing.spread(),
        ratio: sample.bytes() as f64 / out.max(1) as f64,
    }
}

/// The Blosc settings of a Zarr v3 array whose codecs are `bytes` (little-endian) then
/// `blosc` (LZ4 or Zstd) alone: the chains the writer encodes with emio's encoder.
fn blosc_settings(metadata: &Value) -> Option<blosc::Settings> {
    let [bytes, codec] = metadata.get("codecs")?.as_array()?.as_slice() else {
        return None;
    };
    let little = bytes
        .pointer("/configuration/endian")
        .and_then(Value::as_str)
        != Some("big");
    if bytes.get("name")? != "bytes" || !little || codec.get("name")? != "blosc" {
        return None;
    }
    let config = codec.get("configuration")?;
    Some(blosc::Settings {
        compressor: match config.get("cname")?.as_str()? {
            "lz4" => blosc::Compressor::Lz4,
            "zstd" => blosc::Compressor::Zstd,
            _ => return None,
        },
        level: u8::try_from(config.get("clevel")?.as_u64()?).ok()?,
        shuffle: match config.get("shuffle")?.as_str()? {
            "shuffle" => emio::zarr::Shuffle::Byte,
            "bitshuffle" => emio::zarr::Shuffle::Bit,
            _ => emio::zarr::Shuffle::None,
        },
        type_size: usize::try_from(config.get("typesize")?.as_u64()?).ok()?,
    })
}

/// The metadata of the data array of the `.zarr` store at `store` (its `data/zarr.json`).
pub fn store_metadata(store: &Path) -> Value {
    let text = std::fs::read_to_string(store.join("data").join("zarr.json"))
        .expect("read the output's zarr.json");
    serde_json::from_str(&text).expect("zarr.json")
}

/// The Zarr v3 `bytes` codec for elements of `size` bytes (little-endian).
fn bytes_codec(size: usize) -> Value {
    if size > 1 {
        json!({"name": "bytes", "configuration": {"endian": "little"}})
    } else {
        json!({"name": "bytes"})
    }
}

/// The codec chains the default is chosen from, for elements of `size` bytes and chunks of
/// `chunk` (whose first navigation frame is `frame`, for the sharded variant): label and
/// Zarr v3 `codecs`.
pub fn alternatives(size: usize, frame: &[u64]) -> Vec<(String, Value)> {
    let zstd =
        |level: i64| json!({"name": "zstd", "configuration": {"level": level, "checksum": false}});
    let blosc = |cname: &str, clevel: i64, shuffle: &str| {
        json!({"name": "blosc", "configuration": {
            "cname": cname, "clevel": clevel, "shuffle": shuffle, "typesize": size, "blocksize": 0
        }})
    };
    let mut rows: Vec<(String, Value)> = Vec::new();
    for level in [-1, 1, 3] {
        rows.push((
            format!("zstd {level}"),
            json!([bytes_codec(size), zstd(level)]),
        ));
    }
    for (cname, clevel) in [("zstd", 1), ("lz4", 5), ("lz4", 9)] {
        for shuffle in ["shuffle", "bitshuffle"] {
            rows.push((
                format!("blosc {cname} {clevel} {shuffle}"),
                json!([bytes_codec(size), blosc(cname, clevel, shuffle)]),
            ));
        }
    }
    rows.push((
        "zstd 1, sharded (1 frame inner chunks)".to_string(),
        json!([{
            "name": "sharding_indexed",
            "configuration": {
                "chunk_shape": frame,
                "codecs": [bytes_codec(size), zstd(1)],
                "index_codecs": [bytes_codec(8), {"name": "crc32c"}],
                "index_location": "end"
            }
        }]),
    ));
    rows
}

/// The time to encode `bytes` at `rate` bytes per second.
pub fn seconds(bytes: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(bytes as f64 / rate.max(1e-9))
}
