//! docs/adding-a-format.md, step by step, on a format declared in this test: "tiny", a
//! 16-byte header (`TINY`, a byte-order character, three zero bytes, rows and columns as
//! u32) followed by u16 pixels. It has a typed reader option and a typed writer option,
//! a reader that maps the file lazily, and a writer on core's write pipeline; registering
//! it is one line, and the registry's atomic write, probing and option parsing then work
//! for it as for every built-in format.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use emio::{
    metadata, Axis, ByteOrder, DType, Dataset, Error, Format, FormatInfo, OptionSet, Options,
    Result, Storage, StridedSource, Tree, WriteRequest, Writes,
};
use emio_core::output::stream_c_order;

/// The first bytes of every tiny file.
const MAGIC: &[u8; 4] = b"TINY";
/// Header length in bytes.
const HEADER: usize = 16;

emio_core::options! {
    /// Options of the tiny reader.
    struct ReadOptions {
        /// title of the dataset (default: the file name)
        title: Option<String> = None,
    }
}

emio_core::option_choice! {
    /// The byte order the tiny writer writes.
    enum Order {
        Little = "<": "little-endian",
        Big = ">": "big-endian",
    }
}

emio_core::options! {
    /// Options of the tiny writer.
    struct WriteOptions {
        /// byte order of the pixels
        byte_order: Order = Some("<"),
    }
}

/// The tiny format.
struct Tiny;

impl Format for Tiny {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: "tiny",
            description: "a test format: 16-byte header, u16 pixels",
            extensions: &["tiny"],
            read_options: ReadOptions::SPECS,
            writes: Some(Writes::file(WriteOptions::SPECS)),
        }
    }

    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(MAGIC)
    }

    fn open(&self, path: &Path, options: &Options) -> Result<Vec<Dataset>> {
        let options = ReadOptions::from_options(options)?;
        let storage = Storage::map(path)?;
        let bytes: &[u8] = &storage;
        let header = bytes
            .get(..HEADER)
            .ok_or_else(|| Error::malformed("tiny", 0, "a 16-byte header"))?;
        let order = match header[4] {
            b'<' => ByteOrder::Little,
            b'>' => ByteOrder::Big,
            _ => return Err(Error::malformed("tiny", 4, "a byte order, < or >")),
        };
        let size =
            |at: usize| u64::from(u32::from_le_bytes(header[at..at + 4].try_into().unwrap()));
        let shape = vec![size(8), size(12)];
        let needed = HEADER as u64 + shape[0] * shape[1] * 2;
        if (bytes.len() as u64) < needed {
            return Err(Error::malformed(
                "tiny",
                HEADER as u64,
                format!("{needed} bytes for {shape:?} pixels, found {}", bytes.len()),
            ));
        }
        let axes = vec![Axis::default_for(false); 2];
        let source =
            StridedSource::contiguous("tiny", storage, HEADER as u64, DType::U16, shape, order)?;
        let mut metadata = Tree::new();
        let title = options.title.unwrap_or_else(|| metadata::file_name(path));
        metadata::set_path(&mut metadata, "General.title", title);
        Ok(vec![Dataset::new(
            Arc::new(source),
            axes,
            metadata,
            Tree::new(),
        )?])
    }

    fn write(&self, request: &WriteRequest) -> Result<()> {
        let options: WriteOptions = request.typed()?;
        let dataset = request.dataset;
        let (&[rows, cols], DType::U16) = (dataset.shape(), dataset.dtype()) else {
            return Err(Error::unsupported("tiny", "anything but 2-D u16 images"));
        };
        let io = |e| Error::io(request.path, e);
        let mut out = BufWriter::new(File::create(request.path).map_err(io)?);
        let order = options.byte_order.word().as_bytes()[0];
        let mut header = [MAGIC.as_slice(), &[order, 0, 0, 0]].concat();
        for n in [rows, cols] {
            header.extend(
                u32::try_from(n)
                    .map_err(|_| Error::unsupported("tiny", "huge images"))?
                    .to_le_bytes(),
            );
        }
        out.write_all(&header).map_err(io)?;
        stream_c_order(dataset, request.progress, |_, bytes| {
            let values = bytes
                .chunks_exact(2)
                .map(|v| u16::from_ne_bytes([v[0], v[1]]));
            let stored: Vec<u8> = match options.byte_order {
                Order::Little => values.flat_map(u16::to_le_bytes).collect(),
                Order::Big => values.flat_map(u16::to_be_bytes).collect(),
            };
            out.write_all(&stored).map_err(io)
        })?;
        out.flush().map_err(io)
    }
}

/// A 2-D u16 ramp.
fn ramp(rows: u64, cols: u64) -> Dataset {
    let bytes = (0..rows * cols)
        .flat_map(|v| (v as u16 * 7).to_ne_bytes())
        .collect();
    Dataset::from_bytes(bytes, DType::U16, vec![rows, cols]).unwrap()
}

#[test]
fn a_format_declared_outside_emio_round_trips_through_the_registry() {
    let mut registry = emio::registry();
    registry.register(Arc::new(Tiny));
    let dir = tempfile::tempdir().unwrap();
    let image = ramp(5, 3);
    for order in ["<", ">"] {
        let path = dir.path().join(format!("x{}.tiny", order == ">"));
        let writer = registry.writer_for(&path, None).unwrap();
        assert_eq!(writer.name(), "tiny");
        emio::Registry::write(
            writer.as_ref(),
            &image,
            &path,
            &[("byte_order", order)],
            false,
            &emio::NoProgress,
        )
        .unwrap();
        let stored = std::fs::read(&path).unwrap();
        assert_eq!(&stored[..5], [MAGIC.as_slice(), order.as_bytes()].concat());
        let (format, back) = registry.open(&path, &[("title", "ramp")]).unwrap();
        assert_eq!(format.name(), "tiny");
        assert_eq!(back[0].title(), "ramp");
        assert_eq!(back[0].shape(), [5, 3]);
        assert_eq!(back[0].read().unwrap(), image.read().unwrap());
    }
}

#[test]
fn its_options_are_typed_and_checked_like_every_formats() {
    let mut registry = emio::registry();
    registry.register(Arc::new(Tiny));
    let tiny = registry.by_name("tiny").unwrap();
    assert_eq!(tiny.write_options()[0].name, "byte_order");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tiny");
    let bad = emio::Registry::write(
        tiny.as_ref(),
        &ramp(2, 2),
        &path,
        &[("byte_order", "middle")],
        false,
        &emio::NoProgress,
    )
    .unwrap_err();
    assert!(matches!(bad, Error::InvalidOption { .. }), "{bad}");
    assert!(!path.exists(), "nothing is left behind");
    let refused = emio::Registry::write(
        tiny.as_ref(),
        &Dataset::from_bytes(vec![0; 4], DType::U8, vec![2, 2]).unwrap(),
        &path,
        &[] as &[(&str, &str)],
        false,
        &emio::NoProgress,
    )
    .unwrap_err();
    assert!(matches!(refused, Error::Unsupported { .. }), "{refused}");
    assert!(!path.exists(), "a refused write leaves nothing behind");
}
