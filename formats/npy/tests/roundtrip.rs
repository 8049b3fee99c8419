//! NPY writer → reader round trips for every dtype and random shapes, Fortran-order and
//! big-endian input files, region reads against full reads, and damaged files.

use std::path::Path;

use emio_core::{DType, Dataset, Format, NoProgress, Options, Registry};
use emio_npy::{header, Npy};
use proptest::prelude::*;

fn write(ds: &Dataset, path: &Path) {
    Registry::write(&Npy, ds, path, &[] as &[(&str, &str)], false, &NoProgress).unwrap();
}

fn open(path: &Path) -> Dataset {
    Npy.open(path, &Options::new()).unwrap().remove(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn write_read_round_trip(
        dtype_index in 0usize..DType::ALL.len(),
        shape in prop::collection::vec(0u64..6, 0..4),
        seed in any::<u64>(),
    ) {
        let dtype = DType::ALL[dtype_index];
        let n = shape.iter().product::<u64>() as usize * dtype.size();
        let mut state = seed | 1;
        let bytes: Vec<u8> = (0..n)
            .map(|_| {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                if dtype == DType::Bool { (state & 1) as u8 } else { state as u8 }
            })
            .collect();
        let ds = Dataset::from_bytes(bytes.clone(), dtype, shape.clone()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        write(&ds, &path);
        let back = open(&path);
        prop_assert_eq!(back.dtype(), dtype);
        prop_assert_eq!(back.shape(), &shape[..]);
        prop_assert_eq!(back.read_region_bytes(&vec![0; shape.len()], &shape).unwrap(), bytes);
        prop_assert_eq!(back.sha256().unwrap(), ds.sha256().unwrap());
        if n > 0 {
            // A region equals the same slice of the full read.
            let full = back.read().unwrap();
            let start: Vec<u64> = shape.iter().map(|&d| d / 2).collect();
            let rshape: Vec<u64> = shape.iter().map(|&d| d - d / 2).collect();
            let part = back.read_region(&start, &rshape).unwrap();
            if let (Some(full), Some(part)) = (full.to_f64(), part.to_f64()) {
                let slice = full.slice_each_axis(|ax| emio_core::ndarray::Slice::from(start[ax.axis.index()] as isize..));
                // Compared bit for bit: NaN payloads must survive too.
                prop_assert_eq!(slice.mapv(f64::to_bits), part.mapv(f64::to_bits));
            }
        }
    }
}

/// Build a `.npy` by hand with any header dict and data bytes.
fn raw_npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = header::MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn reads_fortran_order_big_endian() {
    // numpy: np.asfortranarray(np.arange(6, dtype='>u2').reshape(2, 3))
    let data: Vec<u8> = [0u16, 3, 1, 4, 2, 5]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.npy");
    std::fs::write(
        &path,
        raw_npy(
            "{'descr': '>u2', 'fortran_order': True, 'shape': (2, 3), }\n",
            &data,
        ),
    )
    .unwrap();
    let ds = open(&path);
    assert_eq!(ds.shape(), &[2, 3]);
    let emio_core::ArrayData::U16(a) = ds.read().unwrap() else {
        panic!("u16 expected")
    };
    assert_eq!(
        a.iter().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert!(ds.mapped().is_none());
}

#[test]
fn reads_rgb_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb.npy");
    let dict = "{'descr': [('R', '|u1'), ('G', '|u1'), ('B', '|u1')], 'fortran_order': False, 'shape': (2,), }\n";
    std::fs::write(&path, raw_npy(dict, &[1, 2, 3, 4, 5, 6])).unwrap();
    let ds = open(&path);
    assert_eq!(ds.dtype(), DType::Rgb8);
    let emio_core::ArrayData::Rgb8(a) = ds.read().unwrap() else {
        panic!("rgb expected")
    };
    assert_eq!(a[[1]], [4, 5, 6]);
}

#[test]
fn truncated_and_damaged_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = raw_npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }\n",
        &[0u8; 64],
    );
    for cut in 0..good.len() - 1 {
        let path = dir.path().join(format!("t{cut}.npy"));
        std::fs::write(&path, &good[..cut]).unwrap();
        assert!(
            Npy.open(&path, &Options::new()).is_err(),
            "truncated at {cut}"
        );
    }
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0xA5;
        let path = dir.path().join(format!("f{i}.npy"));
        std::fs::write(&path, &bad).unwrap();
        if let Ok(ds) = Npy.open(&path, &Options::new()) {
            ds[0].read().unwrap();
        }
    }
    let huge = raw_npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }\n",
        &[],
    );
    let path = dir.path().join("huge.npy");
    std::fs::write(&path, huge).unwrap();
    let err = Npy.open(&path, &Options::new()).unwrap_err().to_string();
    assert!(err.contains("npy file is malformed"), "{err}");
}
