//! `emio::preview` over the whole corpus: every file emio reads gets a picture whose PNG
//! decodes with the size the layout promises (panels of `SIZE`, a header line per row of
//! panels, a caption strip).

use std::io::Cursor;

use emio::preview::{encode_png, preview_file, Options, CAPTION, HEADER, MAX_SHEET};

const SIZE: u32 = 96;

/// Width and height of a decoded PNG.
fn decoded_size(png: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a bounded picture")];
    let info = reader.next_frame(&mut pixels).expect("the pixels decode");
    (info.width, info.height)
}

#[test]
fn every_corpus_file_gets_a_picture_of_the_promised_size() {
    let corpus = emio_core::corpus::corpus_dir();
    let rows = emio::listing::list(&[corpus], true);
    let mut files: Vec<_> = rows
        .iter()
        .filter(|r| matches!(r.entry, emio::listing::Entry::Dataset(_)))
        .map(|r| r.file.clone())
        .collect();
    files.dedup();
    assert!(
        files.len() > 100,
        "only {} readable corpus files",
        files.len()
    );
    let options = Options {
        size: SIZE,
        ..Options::default()
    };
    for file in &files {
        let datasets = emio::open(file).unwrap();
        let picture =
            preview_file(file, &options).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (width, height) = decoded_size(&encode_png(&picture).unwrap());
        assert_eq!((width, height), (picture.width, picture.height));
        if datasets.len() == 1 {
            assert_eq!(height, SIZE + HEADER + CAPTION, "{}", file.display());
            assert!(
                [1, 2, 3].map(|n| n * SIZE).contains(&width),
                "{}: {width}",
                file.display()
            );
        } else {
            let cells = datasets.len().min(MAX_SHEET) as u32;
            let columns = cells.min(4);
            assert_eq!(width, columns * SIZE, "{}", file.display());
            assert_eq!(
                height,
                cells.div_ceil(columns) * (SIZE + HEADER) + CAPTION,
                "{}",
                file.display()
            );
        }
        // Not a blank picture: the panels hold more than one grey level.
        let distinct: std::collections::BTreeSet<&[u8]> = picture.rgb.chunks_exact(3).collect();
        assert!(distinct.len() > 2, "{}: blank picture", file.display());
    }
}
