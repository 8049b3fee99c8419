//! emio's HDF5 layer over files written by another writer (hdf5-pure's `FileBuilder`):
//! the mmap fast path (contiguous, chunked, deflate+shuffle, LZF, edge chunks, permuted
//! views) and the fallback through hdf5-pure for filters emio does not decode itself
//! (scale-offset), all agreeing with the values written; regions of chunked and permuted
//! views against the contiguous copy; plus emio's own writer read back.

use emio_core::{ArraySource, DType, Dataset, NoProgress};
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

/// Read `start .. start + shape` of a source.
fn region(src: &dyn ArraySource, start: &[u64], shape: &[u64]) -> Vec<u8> {
    let n: u64 = shape.iter().product();
    let mut out = vec![0u8; n as usize * src.dtype().size()];
    src.read_region(start, shape, &mut out).unwrap();
    out
}

/// Regions of chunked (edge chunks, unfiltered and filtered) datasets seen with reordered
/// axes equal the same regions of the memory-mapped contiguous copy.
#[test]
fn regions_of_permuted_chunked_views_match_the_contiguous_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regions.h5");
    let shape = [13u64, 17, 11];
    let data = values(13 * 17 * 11);
    let mut b = FileBuilder::new();
    b.create_dataset("contiguous")
        .with_u16_data(&data)
        .with_shape(&shape);
    b.create_dataset("chunked")
        .with_u16_data(&data)
        .with_shape(&shape)
        .with_chunks(&[4, 5, 3]);
    b.create_dataset("gzip")
        .with_u16_data(&data)
        .with_shape(&shape)
        .with_chunks(&[5, 3, 11])
        .with_shuffle()
        .with_deflate(4);
    b.write(&path).unwrap();
    let f = H5File::open(&path).unwrap();
    for perm in [[0usize, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        let reference = f
            .dataset("contiguous")
            .unwrap()
            .source(Some(&perm))
            .unwrap();
        let lshape = reference.shape().to_vec();
        for name in ["chunked", "gzip"] {
            let src = f.dataset(name).unwrap().source(Some(&perm)).unwrap();
            assert_eq!(src.shape(), lshape.as_slice());
            for seed in 0..40u64 {
                let start: Vec<u64> = lshape
                    .iter()
                    .enumerate()
                    .map(|(k, &n)| (seed * 7 + k as u64 * 3) % n)
                    .collect();
                let extent: Vec<u64> = lshape
                    .iter()
                    .zip(&start)
                    .enumerate()
                    .map(|(k, (&n, &s))| 1 + (seed * 5 + k as u64 * 11) % (n - s))
                    .collect();
                assert_eq!(
                    region(src.as_ref(), &start, &extent),
                    region(reference.as_ref(), &start, &extent),
                    "{name} {perm:?} {start:?} {extent:?}"
                );
            }
        }
    }
}

/// Regions large enough to be copied on several threads (pieces that cut through chunks)
/// read the same as the contiguous view, transposed or not.
#[test]
fn large_regions_are_copied_in_parallel_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.h5");
    let shape = [70u64, 200, 330];
    let data = values(70 * 200 * 330);
    let mut b = FileBuilder::new();
    b.create_dataset("contiguous")
        .with_u16_data(&data)
        .with_shape(&shape);
    b.create_dataset("chunked")
        .with_u16_data(&data)
        .with_shape(&shape)
        .with_chunks(&[7, 100, 330]);
    b.write(&path).unwrap();
    let f = H5File::open(&path).unwrap();
    for perm in [[0usize, 1, 2], [2, 1, 0]] {
        let reference = f
            .dataset("contiguous")
            .unwrap()
            .source(Some(&perm))
            .unwrap();
        let src = f.dataset("chunked").unwrap().source(Some(&perm)).unwrap();
        let lshape = reference.shape().to_vec();
        let mut start = vec![0u64; 3];
        let mut extent = lshape.clone();
        assert_eq!(
            region(src.as_ref(), &start, &extent),
            region(reference.as_ref(), &start, &extent),
            "{perm:?} whole"
        );
        start[0] = 1;
        extent[0] -= 2;
        assert_eq!(
            region(src.as_ref(), &start, &extent),
            region(reference.as_ref(), &start, &extent),
            "{perm:?} inner"
        );
    }
}

/// NCEM-like frames (one chunk per index of the first stored axis, transposed view) and
/// tiles: the stored-order source full reads use is the same array with its axes reordered.
#[test]
fn chunked_frames_offer_a_copy_order_for_full_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.h5");
    let shape = [4u64, 9, 6];
    let data = values(4 * 9 * 6);
    let mut b = FileBuilder::new();
    b.create_dataset("frames")
        .with_u16_data(&data)
        .with_shape(&shape)
        .with_chunks(&[1, 9, 6]);
    b.create_dataset("gzip")
        .with_u16_data(&data)
        .with_shape(&shape)
        .with_chunks(&[1, 9, 6])
        .with_deflate(1);
    b.create_dataset("tiles")
        .with_u16_data(&data)
        .with_shape(&shape)
        .with_chunks(&[2, 3, 6]);
    b.create_dataset("ncem")
        .with_u16_data(&data)
        .with_shape(&[9, 6, 4])
        .with_chunks(&[9, 6, 1]);
    b.write(&path).unwrap();
    let f = H5File::open(&path).unwrap();
    // Stored (frame, a, b) seen as (b, a, frame): copied as stored, logical (2, 1, 0).
    // NCEM: stored (x, y, frame) seen as (frame, y, x): copied frame by frame as
    // (frame, x, y), logical (0, 2, 1).
    for (name, want) in [
        ("frames", [2, 1, 0]),
        ("gzip", [2, 1, 0]),
        ("ncem", [0, 2, 1]),
    ] {
        let ds = f.dataset(name).unwrap();
        let src = ds.source(Some(&[2, 1, 0])).unwrap();
        let (order, stored) = src.stored_order().expect("a copy order");
        assert_eq!(order, want, "{name}");
        let lshape = src.shape().to_vec();
        let logical = region(src.as_ref(), &[0, 0, 0], &lshape);
        let sshape = stored.shape().to_vec();
        let copied = region(stored.as_ref(), &[0, 0, 0], &sshape);
        let sstrides = emio_core::source::c_strides(&sshape, 2);
        for (i, v) in logical.chunks(2).enumerate() {
            let l = [
                i as u64 / (lshape[1] * lshape[2]),
                i as u64 / lshape[2] % lshape[1],
                i as u64 % lshape[2],
            ];
            let at: i64 = (0..3).map(|k| l[order[k]] as i64 * sstrides[k]).sum();
            assert_eq!(v, &copied[at as usize..at as usize + 2], "{name} {l:?}");
        }
        // Seen in stored order, frame-first storage needs no reordering; NCEM's storage
        // is still copied frame by frame.
        let plain = ds.source(None).unwrap().stored_order().map(|(o, _)| o);
        let want_plain = (name == "ncem").then(|| vec![2, 0, 1]);
        assert_eq!(plain, want_plain, "{name}");
    }
    // Chunks cut along two axes are contiguous in no order: a full read of the transposed
    // view copies in the stored order (rows of chunks, no transposes); the stored view
    // itself needs no other order.
    let tiles = f.dataset("tiles").unwrap();
    let order = tiles.source(Some(&[2, 1, 0])).unwrap().stored_order();
    assert_eq!(order.map(|(o, _)| o), Some(vec![2, 1, 0]));
    assert!(tiles.source(None).unwrap().stored_order().is_none());
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
            ("var".into(), Attr::VarStr("größer".into())),
            ("empty".into(), Attr::VarStr(String::new())),
            ("x".into(), Attr::Float(2.5)),
            ("v".into(), Attr::Floats(vec![1.0, 2.0])),
        ],
    )
    .unwrap();
    let bytes = le_bytes(&data);
    let ds = Dataset::from_bytes(bytes.clone(), DType::U16, vec![5, 6]).unwrap();
    w.write_chunked(
        "a/b/data",
        &ds,
        &[2, 4],
        &[0, 1],
        Compression::Gzip(3),
        &[],
        &NoProgress,
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
    assert_eq!(attrs["var"], "größer");
    assert_eq!(attrs["empty"], "");
    assert_eq!(attrs["x"], 2.5);
    assert_eq!(read_all(&f, "a/b/data", None), bytes);
    let names = f.datasets("many").unwrap();
    assert_eq!(names.len(), 40);
    assert_eq!(
        f.dataset("many/d33").unwrap().read_f64().unwrap(),
        vec![33.0]
    );
}

/// Every group below `path`, `path` included.
fn all_groups(f: &H5File, path: &str, out: &mut Vec<String>) {
    out.push(path.to_string());
    for g in f.groups(path).unwrap_or_default() {
        all_groups(f, &format!("{}/{g}", path.trim_end_matches('/')), out);
    }
}

/// `members` of every group of `path` names the groups and datasets the two listings
/// name, with their kinds; a fresh file per listing, so neither leans on the other's cache.
fn assert_members_agree(path: &std::path::Path) -> usize {
    use emio_h5::MemberKind;
    let mut groups = Vec::new();
    all_groups(&H5File::open(path).unwrap(), "/", &mut groups);
    for g in &groups {
        let listed = H5File::open(path).unwrap().members(g).unwrap();
        let f = H5File::open(path).unwrap();
        let mut expected: Vec<(String, MemberKind)> = f
            .groups(g)
            .unwrap()
            .into_iter()
            .map(|n| (n, MemberKind::Group))
            .chain(
                f.datasets(g)
                    .unwrap()
                    .into_iter()
                    .map(|n| (n, MemberKind::Dataset)),
            )
            .collect();
        expected.sort();
        assert_eq!(listed, expected, "{}: group {g}", path.display());
    }
    groups.len()
}

#[test]
fn members_lists_what_groups_and_datasets_list() {
    let dir = tempfile::tempdir().unwrap();
    // emio's writer: old-style (symbol table) groups, with many members.
    let ours = dir.path().join("emio.h5");
    let mut w = H5Writer::create(&ours).unwrap();
    for k in 0..40 {
        let name = format!("many/{}{k:02}", if k % 3 == 0 { "g/d" } else { "d" });
        w.write_dataset(&name, DType::F64, &[1], &(k as f64).to_ne_bytes(), &[])
            .unwrap();
    }
    w.create_group("empty", vec![]).unwrap();
    w.finish().unwrap();
    // hdf5-pure's writer: new-style groups (link messages).
    let pure = dir.path().join("pure.h5");
    let mut b = FileBuilder::new();
    for k in 0..12 {
        b.create_dataset(&format!("d{k}"))
            .with_u16_data(&values(4))
            .with_shape(&[4]);
    }
    let mut g = b.create_group("sub");
    g.create_dataset("inner")
        .with_u16_data(&values(3))
        .with_shape(&[3]);
    b.add_group(g.finish());
    b.write(&pure).unwrap();
    assert!(assert_members_agree(&ours) >= 3);
    assert!(assert_members_agree(&pure) >= 2);
    // Files of other writers (h5py, Velox, DigitalMicrograph), where present: soft
    // links and dense link storage are listed through the two listings.
    let corpus = emio_core::corpus::corpus_dir();
    for fmt in ["emd", "hspy", "dm5", "arina"] {
        let Ok(entries) = std::fs::read_dir(corpus.join(fmt)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let mut head = [0u8; 8];
            let is_hdf5 = std::fs::File::open(&p)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .is_ok()
                && emio_h5::sniff(&head);
            if is_hdf5 && H5File::open(&p).is_ok() {
                assert_members_agree(&p);
            }
        }
    }
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
