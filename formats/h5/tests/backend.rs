//! emio's HDF5 layer over files written by another writer (hdf5-pure's `FileBuilder`):
//! the mmap fast path (contiguous, chunked, deflate+shuffle, LZF, edge chunks, permuted
//! views) and the fallback through hdf5-pure for filters emio does not decode itself
//! (scale-offset), all agreeing with the values written; plus emio's own writer read back.

use emio_core::DType;
use emio_h5::writer::{Attr, Compression, H5Writer};
use emio_h5::H5File;
use hdf5_pure::{FileBuilder, ScaleOffset};

fn values(n: usize) -> Vec<u16> {
    (0..n).map(|i| (i * 7 % 1000) as u16).collect()
}

fn read_all(f: &H5File, path: &str, perm: Option<&[usize]>) -> Vec<u8> {
    let ds = f.dataset(path).unwrap();
    let src = ds.source(perm).unwrap();
    let shape = src.shape().to_vec();
    let n: u64 = shape.iter().product();
    let mut out = vec![0u8; n as usize * src.dtype().size()];
    src.read_region(&vec![0; shape.len()], &shape, &mut out)
        .unwrap();
    out
}

fn le_bytes(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

#[test]
fn layouts_and_filters_read_like_the_writer_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pure.h5");
    let data = values(7 * 9 * 5);
    let mut b = FileBuilder::new();
    b.create_dataset("contiguous")
        .with_u16_data(&data)
        .with_shape(&[7, 9, 5]);
    b.create_dataset("chunked")
        .with_u16_data(&data)
        .with_shape(&[7, 9, 5])
        .with_chunks(&[3, 4, 5]);
    b.create_dataset("gzip")
        .with_u16_data(&data)
        .with_shape(&[7, 9, 5])
        .with_chunks(&[2, 9, 2])
        .with_shuffle()
        .with_deflate(6);
    b.create_dataset("lzf")
        .with_u16_data(&data)
        .with_shape(&[7, 9, 5])
        .with_chunks(&[4, 4, 4])
        .with_lzf();
    b.create_dataset("scaleoffset")
        .with_u16_data(&data)
        .with_shape(&[7, 9, 5])
        .with_chunks(&[7, 3, 5])
        .with_scale_offset(ScaleOffset::Integer(0));
    b.write(&path).unwrap();

    let f = H5File::open(&path).unwrap();
    let expected = le_bytes(&data);
    for name in ["contiguous", "chunked", "gzip", "lzf", "scaleoffset"] {
        let ds = f.dataset(name).unwrap();
        assert_eq!(ds.numeric().unwrap().0, DType::U16, "{name}");
        assert_eq!(read_all(&f, name, None), expected, "{name}");
        // Transposed view (NCEM's Fortran convention) equals the transposed values.
        let t = read_all(&f, name, Some(&[2, 1, 0]));
        let mut want = Vec::new();
        for k in 0..5 {
            for j in 0..9 {
                for i in 0..7 {
                    want.extend_from_slice(&data[(i * 9 + j) * 5 + k].to_ne_bytes());
                }
            }
        }
        assert_eq!(t, want, "{name} transposed");
    }
}

#[test]
fn emio_writer_output_reads_back_with_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emio.h5");
    let data = values(5 * 6);
    let mut w = H5Writer::create(&path).unwrap();
    w.create_group("", vec![("version_major".into(), Attr::Int(0))])
        .unwrap();
    w.create_group(
        "a/b",
        vec![
            ("text".into(), Attr::Str("hello".into())),
            ("x".into(), Attr::Float(2.5)),
            ("v".into(), Attr::Floats(vec![1.0, 2.0])),
        ],
    )
    .unwrap();
    let bytes = le_bytes(&data);
    w.write_chunked(
        "a/b/data",
        DType::U16,
        &[5, 6],
        &[2, 4],
        Compression::Gzip(3),
        &[],
        |start, extent, out| {
            for i in 0..extent[0] as usize {
                for j in 0..extent[1] as usize {
                    let v = data[(start[0] as usize + i) * 6 + start[1] as usize + j];
                    out[(i * extent[1] as usize + j) * 2..][..2].copy_from_slice(&v.to_ne_bytes());
                }
            }
            Ok(())
        },
    )
    .unwrap();
    // Enough members to need several symbol-table nodes.
    for k in 0..40 {
        w.write_dataset(
            &format!("many/d{k:02}"),
            DType::F64,
            &[1],
            &(k as f64).to_ne_bytes(),
            &[],
        )
        .unwrap();
    }
    w.finish().unwrap();

    let f = H5File::open(&path).unwrap();
    assert_eq!(f.attrs("/").unwrap()["version_major"], 0);
    let attrs = f.attrs("a/b").unwrap();
    assert_eq!(attrs["text"], "hello");
    assert_eq!(attrs["x"], 2.5);
    assert_eq!(read_all(&f, "a/b/data", None), bytes);
    let names = f.datasets("many").unwrap();
    assert_eq!(names.len(), 40);
    assert_eq!(
        f.dataset("many/d33").unwrap().read_f64().unwrap(),
        vec![33.0]
    );
}

#[test]
fn not_hdf5_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.h5");
    std::fs::write(&path, b"not an hdf5 file at all").unwrap();
    assert!(H5File::open(&path).is_err());
    assert!(!emio_h5::sniff(b"\x89PNG"));
    assert!(emio_h5::sniff(emio_h5::SIGNATURE));
}
