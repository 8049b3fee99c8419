//! DM5 reading on files built here with emio's HDF5 writer in the layout Nion Swift and
//! GMS write (tag groups as groups, data tags as attributes, list entries `[i]`): the
//! shared DM mapping applies (spectrum images, colour, calibrations, metadata), and damaged
//! tag trees give errors naming the file and the HDF5 object.

use emio_core::{AxisKind, DType, Format, Options};
use emio_dm::dm5::Dm5;
use emio_h5::writer::{Attr, H5Writer};

fn attrs(list: &[(&str, Attr)]) -> Vec<(String, Attr)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// One image at `ImageList/[0]`: `dims` in DM order (fastest first), f32 `pixels` stored
/// as `stored_shape` (normally `dims` reversed), `format` as `Meta Data.Format`.
fn build(
    path: &std::path::Path,
    dims: &[i64],
    stored_shape: &[u64],
    data_type: Option<i64>,
    format: &str,
    pixels: &[u8],
    pixel_dtype: DType,
) {
    let mut w = H5Writer::create(path).unwrap();
    let image = "ImageList/[0]";
    w.create_group(image, attrs(&[("Name", Attr::Str("spim".into()))]))
        .unwrap();
    let mut data_attrs = vec![("PixelDepth".to_string(), Attr::Int(4))];
    if let Some(t) = data_type {
        data_attrs.push(("DataType".to_string(), Attr::Int(t)));
    }
    w.create_group(&format!("{image}/ImageData"), data_attrs)
        .unwrap();
    let dim_attrs: Vec<(String, Attr)> = dims
        .iter()
        .enumerate()
        .map(|(i, &d)| (format!("[{i}]"), Attr::Int(d)))
        .collect();
    w.create_group(&format!("{image}/ImageData/Dimensions"), dim_attrs)
        .unwrap();
    for (i, units) in ["nm", "nm", "eV"].iter().enumerate().take(dims.len()) {
        w.create_group(
            &format!("{image}/ImageData/Calibrations/Dimension/[{i}]"),
            attrs(&[
                ("Origin", Attr::Float(-2.0)),
                ("Scale", Attr::Float(0.5 + i as f64)),
                ("Units", Attr::Str(units.to_string())),
            ]),
        )
        .unwrap();
    }
    w.create_group(
        &format!("{image}/ImageTags/Meta Data"),
        attrs(&[
            ("Format", Attr::Str(format.into())),
            ("Signal", Attr::Str("EELS".into())),
        ]),
    )
    .unwrap();
    w.create_group(
        &format!("{image}/ImageTags/Microscope Info"),
        attrs(&[
            ("Voltage", Attr::Float(200_000.0)),
            ("Is Sequence", Attr::Bool(true)),
        ]),
    )
    .unwrap();
    w.create_group(
        "DocumentObjectList/[0]",
        attrs(&[("ImageSource", Attr::Int(0))]),
    )
    .unwrap();
    w.create_group("Thumbnails", Vec::new()).unwrap();
    w.write_dataset(
        &format!("{image}/ImageData/Data"),
        pixel_dtype,
        stored_shape,
        pixels,
        &[],
    )
    .unwrap();
    w.finish().unwrap();
}

fn f32_bytes(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_ne_bytes()).collect()
}

#[test]
fn spectrum_image_reads_through_the_dm_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("si.dm5");
    // DM order (x=4, y=3, E=5): stored (E, y, x) in C order.
    build(
        &path,
        &[4, 3, 5],
        &[5, 3, 4],
        Some(2),
        "Spectrum image",
        &f32_bytes(60),
        DType::F32,
    );
    let ds = &Dm5.open(&path, &Options::new()).unwrap()[0];
    assert_eq!(ds.dtype(), DType::F32);
    // HyperSpy's to_signal1D: energy last.
    assert_eq!(ds.shape(), &[3, 4, 5]);
    assert_eq!(ds.title(), "spim");
    let at = |y: u64, x: u64, e: u64| {
        let b = ds.read_region_bytes(&[y, x, e], &[1, 1, 1]).unwrap();
        f32::from_ne_bytes(b[..4].try_into().unwrap())
    };
    // Stored value at (e, y, x) is e*12 + y*4 + x.
    assert_eq!(at(2, 1, 3), (3 * 12 + 2 * 4 + 1) as f32);
    let names: Vec<&str> = ds.axes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["y", "x", "Energy loss"]);
    assert_eq!(
        ds.axes[2].kind,
        AxisKind::Uniform {
            scale: 2.5,
            offset: 5.0
        }
    );
    assert!(ds.axes[0].navigate && ds.axes[1].navigate && !ds.axes[2].navigate);
    let md = &ds.metadata;
    use emio_core::metadata::{get_f64, get_str};
    assert_eq!(get_str(md, "Signal.signal_type"), Some("EELS"));
    assert_eq!(
        get_f64(md, "Acquisition_instrument.TEM.beam_energy"),
        Some(200.0)
    );
    // The tag tree is named as DM3/DM4 trees are; booleans are 0/1 as DM stores them.
    let om = &ds.original_metadata;
    let tag = |p: &str| emio_core::metadata::get_path(om, p).cloned();
    assert_eq!(
        tag("ImageList.TagGroup0.ImageData.Dimensions.Data2"),
        Some(5.into())
    );
    assert_eq!(
        tag("ImageList.TagGroup0.ImageTags.Microscope Info.Is Sequence"),
        Some(1.into())
    );
    assert_eq!(
        tag("DocumentObjectList.TagGroup0.ImageSource"),
        Some(0.into())
    );
    assert_eq!(
        tag("ImageList.TagGroup0.ImageData.Data.dataset"),
        Some("/ImageList/[0]/ImageData/Data".into())
    );
}

#[test]
fn colour_images_are_rgba() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb.dm5");
    // 0xAARRGGBB values, as Nion Swift stores DataType 23.
    let values: Vec<u8> = [0x04010203u32, 0x08050607]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    build(&path, &[2], &[2], Some(23), "", &values, DType::U32);
    let ds = &Dm5.open(&path, &Options::new()).unwrap()[0];
    assert_eq!(ds.dtype(), DType::Rgba8);
    assert_eq!(
        ds.read_region_bytes(&[0], &[2]).unwrap(),
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
}

#[test]
fn damaged_files_name_the_file_and_the_hdf5_object() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        let path = dir.path().join(name);
        let e = Dm5.open(&path, &Options::new()).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        e
    };
    // Dimensions that disagree with the dataset.
    build(
        &dir.path().join("dims.dm5"),
        &[4, 3],
        &[4, 3],
        Some(2),
        "",
        &f32_bytes(12),
        DType::F32,
    );
    let e = open("dims.dm5");
    assert!(
        e.contains("/ImageList/[0]/ImageData/Data") && e.contains("[3, 4]"),
        "{e}"
    );
    // No DataType attribute.
    build(
        &dir.path().join("type.dm5"),
        &[3],
        &[3],
        None,
        "",
        &f32_bytes(3),
        DType::F32,
    );
    let e = open("type.dm5");
    assert!(
        e.contains("DataType") && e.contains("/ImageList/[0]"),
        "{e}"
    );
    // A DataType that disagrees with the stored values.
    build(
        &dir.path().join("dtype.dm5"),
        &[3],
        &[3],
        Some(7),
        "",
        &f32_bytes(3),
        DType::F32,
    );
    let e = open("dtype.dm5");
    assert!(
        e.contains("int32 values") && e.contains("found float32"),
        "{e}"
    );
    assert!(e.contains("/ImageList/[0]/ImageData/Data"), "{e}");
    // Truncated.
    let bytes = std::fs::read(dir.path().join("dims.dm5")).unwrap();
    std::fs::write(dir.path().join("cut.dm5"), &bytes[..bytes.len() / 2]).unwrap();
    open("cut.dm5");
}

#[test]
fn groups_linked_in_a_cycle_or_twice_are_an_error_found_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for (name, target) in [
        ("cycle.dm5", "ImageList/[0]"),
        ("shared.dm5", "ImageList/[0]/ImageTags/Meta Data"),
    ] {
        // The walk of the tag tree meets the damage before any image is looked at.
        let path = dir.path().join(name);
        let mut w = H5Writer::create(&path).unwrap();
        w.create_group(
            "ImageList/[0]/ImageTags/Meta Data",
            attrs(&[("Format", Attr::Str(String::new()))]),
        )
        .unwrap();
        w.create_group("ImageList/[0]/ImageTags/Loop", Vec::new())
            .unwrap();
        w.finish().unwrap();
        emio_h5::testing::relink(&path, "ImageList/[0]/ImageTags/Loop", target);
        let started = std::time::Instant::now();
        let e = Dm5.open(&path, &Options::new()).unwrap_err().to_string();
        // Both places the group was met are named (the walk goes in name order).
        let (first, again) = match name {
            "cycle.dm5" => ("/ImageList/[0]", "/ImageList/[0]/ImageTags/Loop"),
            _ => (
                "/ImageList/[0]/ImageTags/Loop",
                "/ImageList/[0]/ImageTags/Meta Data",
            ),
        };
        assert!(
            e.contains(&format!("found the group {first} (file address"))
                && e.contains(&format!("(HDF5 object {again})")),
            "{name}: {e}"
        );
        assert!(e.contains(&path.display().to_string()), "{e}");
        // Found where the walk first meets the group again, not at a depth or count limit.
        assert!(started.elapsed().as_secs() < 5, "{name}");
    }
}
