//! Grouping pages into series (one dataset each) the way tifffile does — ImageJ hyperstacks,
//! shaped (JSON-described) stacks, emio's own stacks, and generic groups of pages sharing
//! shape and type — and the lazy pixel source of a series: one memory map when every page
//! is uncompressed and evenly spaced, else per-strip/tile decoding through
//! [`ChunkedSource`].

use std::sync::Arc;

use emio_core::source::{c_strides, element_count};
use emio_core::{ArraySource, ChunkDecoder, ChunkedSource, Error, Result, Storage, StridedSource};
use serde_json::Value;

use crate::ifd::FORMAT;
use crate::page::Page;

/// One series: pages sharing shape and type, arranged on a grid of leading dimensions.
#[derive(Debug, Clone)]
pub struct Series {
    /// The pages, in C order of the leading grid.
    pub pages: Vec<Page>,
    /// Shape of the leading (page) grid; empty for a single page.
    pub lead: Vec<u64>,
    /// tifffile's axis code per dimension of the full shape (`I`, `Z`, `T`, `C`, `Q`, `Y`,
    /// `X`, `S`).
    pub codes: Vec<char>,
    /// How the series was recognised.
    pub kind: SeriesKind,
    /// A 1-D dataset stored as one-row pages: the row dimension is dropped.
    pub one_d: bool,
}

/// How a series was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// ImageJ hyperstack (ImageDescription starting `ImageJ=`).
    ImageJ,
    /// tifffile/emio JSON description with a `shape`.
    Shaped,
    /// Pages grouped by shape and type.
    Generic,
}

impl Series {
    /// Full C-order shape: leading grid, then the page shape.
    pub fn shape(&self) -> Vec<u64> {
        if self.one_d {
            return vec![self.pages[0].width];
        }
        let mut s = self.lead.clone();
        s.extend(self.pages[0].shape());
        s
    }

    /// The first page.
    pub fn first(&self) -> &Page {
        &self.pages[0]
    }
}

/// What pages of one series share: shape, type and whether they are reduced images
/// (thumbnails), compared without allocating.
#[derive(PartialEq)]
struct PageKey {
    shape: [u64; 3],
    dims: usize,
    dtype: emio_core::DType,
    reduced: bool,
}

fn page_key(p: &Page) -> PageKey {
    let (shape, dims) = p.shape_array();
    PageKey {
        shape,
        dims,
        dtype: p.dtype,
        reduced: p.subfile_type & 1 == 1,
    }
}

/// The first `n` pages of `pages` that share the first page's key, moved out (`pages` is
/// left empty); `None`, with `pages` untouched, when there are fewer.
fn take_same(pages: &mut Vec<Page>, n: usize) -> Option<Vec<Page>> {
    let key = page_key(pages.first()?);
    if pages.iter().filter(|p| page_key(p) == key).take(n).count() < n {
        return None;
    }
    // In place: a stack of like pages (the usual case) moves no page.
    pages.retain(|p| page_key(p) == key);
    pages.truncate(n);
    Some(std::mem::take(pages))
}

/// ImageJ hyperstack geometry from its description: (frames, slices, channels, images).
pub fn imagej_geometry(desc: &str) -> Option<[u64; 4]> {
    if !desc.starts_with("ImageJ=") {
        return None;
    }
    let get = |key: &str| {
        desc.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    };
    Some([
        get("frames").unwrap_or(1).max(1),
        get("slices").unwrap_or(1).max(1),
        get("channels").unwrap_or(1).max(1),
        get("images").unwrap_or(1).max(1),
    ])
}

/// A `shape` (and optional `axes`) from a JSON description written by tifffile or emio.
pub fn shaped_description(desc: &str) -> Option<(Vec<u64>, Option<String>)> {
    let v: Value = serde_json::from_str(desc.trim_end_matches('\0')).ok()?;
    let shape = v
        .get("shape")?
        .as_array()?
        .iter()
        .map(Value::as_u64)
        .collect::<Option<Vec<u64>>>()?;
    let axes = v.get("axes").and_then(Value::as_str).map(str::to_string);
    Some((shape, axes))
}

fn page_codes(p: &Page) -> Vec<char> {
    if p.samples_first() {
        return vec!['S', 'Y', 'X'];
    }
    let mut c = vec!['Y', 'X'];
    if p.sample_axis {
        c.push('S');
    }
    c
}

/// Group `pages` into series. `description` is the first page's ImageDescription;
/// `as_list` returns every page as its own series (rsciio's `multipage_as_list`).
pub fn build(
    mut pages: Vec<Page>,
    description: Option<&str>,
    as_list: bool,
    file_len: u64,
) -> Vec<Series> {
    if pages.is_empty() {
        return Vec::new();
    }
    if as_list {
        return pages
            .into_iter()
            .map(|p| Series {
                codes: page_codes(&p),
                pages: vec![p],
                lead: Vec::new(),
                kind: SeriesKind::Generic,
                one_d: false,
            })
            .collect();
    }
    if let Some(desc) = description {
        if let Some(s) = imagej_series(&mut pages, desc, file_len) {
            return vec![s];
        }
        if let Some(s) = shaped_series(&mut pages, desc) {
            return vec![s];
        }
    }
    generic(pages)
}

/// The ImageJ hyperstack of `pages` (taken out of it) that `desc` describes, if any.
fn imagej_series(pages: &mut Vec<Page>, desc: &str, file_len: u64) -> Option<Series> {
    let [frames, slices, channels, images] = imagej_geometry(desc)?;
    let first = pages.first()?.clone();
    let key = page_key(&first);
    let same = pages.iter().filter(|p| page_key(p) == key).count();
    let mut grid: Vec<(u64, char)> = [(frames, 'T'), (slices, 'Z'), (channels, 'C')]
        .into_iter()
        .filter(|(n, _)| *n > 1)
        .collect();
    // The counts are the description's text: their product may not fit in 64 bits.
    let sizes: Vec<u64> = grid.iter().map(|g| g.0).collect();
    if element_count(&sizes) != Some(images) {
        grid = if images > 1 {
            vec![(images, 'I')]
        } else {
            vec![]
        };
    }
    let n = images as usize;
    let pages = if same >= n {
        take_same(pages, n)?
    } else {
        // ImageJ writes big stacks with one IFD: the other images follow the first
        // contiguously.
        let offset = first.contiguous_offset()?;
        let bytes = element_count(&first.shape())? * first.dtype.size() as u64;
        let end = offset.checked_add(bytes.checked_mul(images)?)?;
        if end > file_len || same > 1 {
            return None;
        }
        (0..n)
            .map(|k| {
                let mut p = first.clone();
                let shift = k as u64 * bytes;
                p.offsets = p.offsets.iter().map(|o| o + shift).collect();
                p
            })
            .collect()
    };
    let mut codes: Vec<char> = grid.iter().map(|g| g.1).collect();
    codes.extend(page_codes(&first));
    Some(Series {
        pages,
        lead: grid.iter().map(|g| g.0).collect(),
        codes,
        kind: SeriesKind::ImageJ,
        one_d: false,
    })
}

/// The series of `pages` (taken out of it) that a JSON description `desc` with a shape
/// describes, if any.
fn shaped_series(pages: &mut Vec<Page>, desc: &str) -> Option<Series> {
    let (shape, axes) = shaped_description(desc)?;
    let first = pages.first()?.clone();
    let mut shape = shape;
    // tifffile stores RGB shapes with the sample dimension; emio records are one element.
    if first.dtype.is_rgb() && shape.last() == Some(&first.samples) {
        shape.pop();
    }
    if shape.len() == 1 && first.height == 1 && !first.sample_axis && shape[0] == first.width {
        return Some(Series {
            pages: vec![first],
            lead: Vec::new(),
            codes: vec!['X'],
            kind: SeriesKind::Shaped,
            one_d: true,
        });
    }
    let page_shape = first.shape();
    if shape.len() < page_shape.len() || shape[shape.len() - page_shape.len()..] != page_shape[..] {
        return None;
    }
    let lead = shape[..shape.len() - page_shape.len()].to_vec();
    let n = element_count(&lead)? as usize;
    let mut codes: Vec<char> = match axes {
        Some(a) if a.chars().count() >= lead.len() => a.chars().take(lead.len()).collect(),
        _ => vec!['Q'; lead.len()],
    };
    codes.extend(page_codes(&first));
    Some(Series {
        pages: take_same(pages, n)?,
        lead,
        codes,
        kind: SeriesKind::Shaped,
        one_d: false,
    })
}

fn generic(pages: Vec<Page>) -> Vec<Series> {
    let mut groups: Vec<Vec<Page>> = Vec::new();
    for p in pages {
        let key = page_key(&p);
        match groups.iter_mut().find(|g| page_key(&g[0]) == key) {
            Some(g) => g.push(p),
            None => groups.push(vec![p]),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let mut codes = Vec::new();
            let lead = if g.len() > 1 {
                codes.push('I');
                vec![g.len() as u64]
            } else {
                Vec::new()
            };
            codes.extend(page_codes(&g[0]));
            Series {
                pages: g,
                lead,
                codes,
                kind: SeriesKind::Generic,
                one_d: false,
            }
        })
        .collect()
}

/// Decodes the strips/tiles of a series' pages for a [`ChunkedSource`].
struct PagesDecoder {
    storage: Storage,
    pages: Vec<Page>,
    lead: Vec<u64>,
    one_d: bool,
}

impl ChunkDecoder for PagesDecoder {
    fn decode_chunk(&self, index: &[u64], out: &mut [u8]) -> Result<()> {
        if self.one_d {
            return self.pages[0].decode_block(&self.storage, 0, index[0], out);
        }
        let nl = self.lead.len();
        let page = index[..nl]
            .iter()
            .zip(&self.lead)
            .fold(0u64, |acc, (&i, &n)| acc * n + i);
        let page = &self.pages[page as usize];
        if page.samples_first() {
            let (plane, row, col) = (index[nl], index[nl + 1], index[nl + 2]);
            return page.decode_plane_block(&self.storage, plane, row, col, out);
        }
        page.decode_block(&self.storage, index[nl], index[nl + 1], out)
    }

    /// A strip or tile decodes to all of its pixels (every row, every sample) or fails:
    /// a short one is an error, never padding.
    fn writes_every_byte(&self) -> bool {
        true
    }
}

/// The lazy pixel source of a series.
pub fn source(series: &Series, storage: &Storage) -> Result<Arc<dyn ArraySource>> {
    let shape = series.shape();
    let first = series.first();
    let es = first.dtype.size() as u64;
    if let Some(strided) = mapped_source(series, storage, &shape, es)? {
        return Ok(Arc::new(strided));
    }
    let mut chunk = vec![1u64; series.lead.len()];
    if first.samples_first() {
        chunk.push(1);
    }
    if !series.one_d {
        chunk.push(first.block_height);
    }
    chunk.push(first.block_width);
    if first.sample_axis && !first.samples_first() {
        chunk.push(first.samples);
    }
    // Every page of a series must share the block grid of the first.
    if series
        .pages
        .iter()
        .any(|p| p.block_height != first.block_height || p.block_width != first.block_width)
    {
        return Err(Error::unsupported(
            FORMAT,
            "pages of one series with different strip/tile sizes",
        ));
    }
    let decoder = PagesDecoder {
        storage: storage.clone(),
        pages: series.pages.clone(),
        lead: series.lead.clone(),
        one_d: series.one_d,
    };
    Ok(Arc::new(ChunkedSource::new(
        first.dtype,
        shape,
        chunk,
        Box::new(decoder),
    )?))
}

/// A memory-mapped source when every page is contiguous and pages are evenly spaced.
fn mapped_source(
    series: &Series,
    storage: &Storage,
    shape: &[u64],
    es: u64,
) -> Result<Option<StridedSource>> {
    let first = series.first();
    let Some(start) = first.contiguous_offset() else {
        return Ok(None);
    };
    let step = if series.pages.len() > 1 {
        let Some(second) = series.pages[1].contiguous_offset() else {
            return Ok(None);
        };
        let Some(step) = second.checked_sub(start) else {
            return Ok(None);
        };
        for (k, p) in series.pages.iter().enumerate() {
            let expected = (k as u64)
                .checked_mul(step)
                .and_then(|o| o.checked_add(start));
            if expected.is_none() || p.contiguous_offset() != expected {
                return Ok(None);
            }
        }
        step
    } else {
        0
    };
    let page_shape = if series.one_d {
        vec![first.width]
    } else {
        first.shape()
    };
    let mut strides = c_strides(&page_shape, es as usize);
    let mut lead_strides = c_strides(&series.lead, 1);
    for s in &mut lead_strides {
        *s *= step as i64;
    }
    lead_strides.append(&mut strides);
    let src = StridedSource::new(
        FORMAT,
        storage.clone(),
        start,
        first.dtype,
        shape.to_vec(),
        lead_strides,
        first.order,
    )?;
    Ok(Some(src))
}
