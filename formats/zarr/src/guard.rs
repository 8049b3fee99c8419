//! Checks on an encoded chunk before zarrs decodes it. zarrs sizes its output from what the
//! chunk declares (Blosc's `nbytes`) or decodes a stream to its end (Zstd, gzip), so a
//! damaged or hostile 30 KB chunk could allocate gigabytes. The declared decoded size is
//! compared with the size the chunk's shape implies first (see `emio_core::budget`).

use emio_core::{Error, Result};
use serde_json::Value;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

/// The compressor of an unsharded array (`blosc`, `zstd`, `gzip`), from its metadata:
/// Zarr v2's `compressor.id` or the last of Zarr v3's codecs. `None` when there is none or
/// the array is sharded (a shard holds an index and many inner chunks).
pub fn compressor(array: &Array<FilesystemStore>) -> Option<String> {
    let meta = serde_json::to_value(array.metadata()).ok()?;
    if let Some(id) = meta.pointer("/compressor/id").and_then(Value::as_str) {
        return Some(id.to_string());
    }
    let codecs = meta.get("codecs")?.as_array()?;
    let names: Vec<&str> = codecs
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    if names.contains(&"sharding_indexed") {
        return None;
    }
    names.last().map(|n| n.to_string())
}

/// A compressor whose chunks emio decodes itself, straight into the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plain {
    /// Blosc frames ([`crate::blosc`]).
    Blosc,
    /// One Zstd stream (frames, decoded by libzstd into the output).
    Zstd,
}

/// The `name` of a Zarr v3 codec.
fn codec_name(codec: &Value) -> Option<&str> {
    codec.get("name").and_then(Value::as_str)
}

/// The compressor, when the array's chunks are exactly the chunk's C-order native bytes
/// compressed by Blosc or Zstd alone (Zarr v3: the codecs `bytes` (little-endian, or none
/// for 1-byte types) then `blosc` or `zstd`; Zarr v2: compressor `blosc` or `zstd`, no
/// filters, C order, little-endian or 1-byte types) on a little-endian host: emio then
/// decodes the chunks itself.
pub fn plain_codec(array: &Array<FilesystemStore>) -> Option<Plain> {
    if cfg!(target_endian = "big") {
        return None;
    }
    let meta = serde_json::to_value(array.metadata()).ok()?;
    let plain = |name: &str| match name {
        "blosc" => Some(Plain::Blosc),
        "zstd" => Some(Plain::Zstd),
        _ => None,
    };
    if let Some(id) = meta.pointer("/compressor/id").and_then(Value::as_str) {
        let filters = meta
            .get("filters")
            .is_none_or(|f| f.is_null() || f == &Value::Array(vec![]));
        let c_order = meta.get("order").and_then(Value::as_str) == Some("C");
        let dtype = meta.get("dtype").and_then(Value::as_str).unwrap_or("");
        let native = dtype.starts_with('<') || dtype.starts_with('|');
        return plain(id).filter(|_| filters && c_order && native);
    }
    let codecs = meta.get("codecs").and_then(Value::as_array)?;
    match codecs.as_slice() {
        [bytes, compressor] => {
            let endian = bytes
                .pointer("/configuration/endian")
                .and_then(Value::as_str);
            let plain_bytes =
                codec_name(bytes) == Some("bytes") && matches!(endian, None | Some("little"));
            plain(codec_name(compressor)?).filter(|_| plain_bytes)
        }
        _ => None,
    }
}

/// The decoded size an encoded chunk declares, where its compressor records one: Blosc's
/// `nbytes`, a Zstd frame's content size, gzip's `ISIZE` (modulo 2^32).
fn declared_size(compressor: &str, encoded: &[u8]) -> Option<u64> {
    match compressor {
        "blosc" => encoded
            .get(4..8)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        "zstd" => zstd_content_size(encoded),
        "gzip" => encoded
            .len()
            .checked_sub(4)
            .map(|at| &encoded[at..])
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        _ => None,
    }
}

/// The frame content size of a Zstd frame header, when the frame records it.
fn zstd_content_size(b: &[u8]) -> Option<u64> {
    if b.get(..4)? != [0x28, 0xB5, 0x2F, 0xFD] {
        return None;
    }
    let fhd = *b.get(4)?;
    let single_segment = fhd & 0x20 != 0;
    let fcs_flag = fhd >> 6;
    let dict_bytes = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let at = 5 + usize::from(!single_segment) + dict_bytes;
    let field = |n: usize| -> Option<u64> {
        let s = b.get(at..at + n)?;
        Some(s.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    };
    match (fcs_flag, single_segment) {
        (0, false) => None,
        (0, true) => field(1),
        (1, _) => field(2).map(|v| v + 256),
        (2, _) => field(4),
        _ => field(8),
    }
}

/// Fail when the encoded chunk at `index` declares a decoded size other than its shape
/// implies; absent chunks (read as the fill value) pass.
pub fn check_chunk(
    format: &'static str,
    array: &Array<FilesystemStore>,
    compressor: Option<&str>,
    index: &[u64],
) -> Result<()> {
    // (An index the array's grid does not have, such as one missing a channel dimension,
    // is left to the decoder.)
    if compressor.is_none() || array.chunk_shape(index).is_err() {
        return Ok(());
    }
    let encoded = array
        .retrieve_encoded_chunk(index)
        .map_err(|e| Error::malformed_at_unknown(format, format!("a readable chunk ({e})")))?;
    match encoded {
        Some(encoded) => check_encoded(format, array, compressor, index, &encoded),
        None => Ok(()),
    }
}

/// Fail when `encoded`, the stored bytes of the chunk at `index`, declares a decoded size
/// other than its shape implies.
pub fn check_encoded(
    format: &'static str,
    array: &Array<FilesystemStore>,
    compressor: Option<&str>,
    index: &[u64],
    encoded: &[u8],
) -> Result<()> {
    let Some(compressor) = compressor else {
        return Ok(());
    };
    let (Ok(shape), Some(element)) = (array.chunk_shape(index), array.data_type().fixed_size())
    else {
        return Ok(());
    };
    let expected = shape
        .iter()
        .try_fold(element as u64, |n, d| n.checked_mul(d.get()))
        .unwrap_or(u64::MAX);
    let Some(declared) = declared_size(compressor, encoded) else {
        return Ok(());
    };
    let matches = if compressor == "gzip" {
        declared == expected & 0xFFFF_FFFF
    } else {
        declared == expected
    };
    if !matches {
        return Err(Error::malformed_at_unknown(
            format,
            format!(
                "chunk {index:?} to decode to {expected} bytes ({compressor} declares {declared})"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_declared_sizes() {
        let mut blosc = vec![2u8, 1, 1, 2];
        blosc.extend_from_slice(&1234u32.to_le_bytes());
        assert_eq!(declared_size("blosc", &blosc), Some(1234));
        let mut gzip = vec![0x1f, 0x8b, 0, 0];
        gzip.extend_from_slice(&77u32.to_le_bytes());
        assert_eq!(declared_size("gzip", &gzip), Some(77));
        assert_eq!(declared_size("lz4", &gzip), None);
    }

    #[test]
    fn reads_zstd_frame_content_sizes() {
        for n in [0usize, 10, 300, 70_000, 5_000_000] {
            let frame = zstd::bulk::compress(&vec![1u8; n], 1).unwrap();
            assert_eq!(zstd_content_size(&frame), Some(n as u64), "{n} bytes");
        }
        assert_eq!(zstd_content_size(b"not zstd"), None);
    }
}
