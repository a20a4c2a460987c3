use super::write::INTENT_LABEL;
use super::*;
use ::nifti::writer::WriterOptions;

/// A header whose sform maps voxel axis j to world direction `columns[j]` (mm per voxel).
fn header(dims: [u16; 3], columns: [[f32; 3]; 3]) -> NiftiHeader {
    let mut h = NiftiHeader {
        dim: [3, dims[0], dims[1], dims[2], 1, 1, 1, 1],
        sform_code: 1,
        ..NiftiHeader::default()
    };
    let row = |i: usize| [columns[0][i], columns[1][i], columns[2][i], 0.0];
    (h.srow_x, h.srow_y, h.srow_z) = (row(0), row(1), row(2));
    h
}

/// A volume of `dims` holding `stored` (Fortran order) under `header`'s geometry, written by nifti-rs.
fn write_3d<T>(path: &Path, header: &NiftiHeader, dims: (usize, usize, usize), stored: Vec<T>)
where
    T: ::nifti::DataElement + bytemuck::Pod,
{
    let array = ndarray::Array3::from_shape_vec(ndarray::ShapeBuilder::f(dims), stored).unwrap();
    WriterOptions::new(path)
        .reference_header(header)
        .write_nifti(&array)
        .unwrap();
}

fn grey_of(value: f64) -> u8 {
    (value * 255.0 / 40.0).round().min(255.0) as u8
}

#[test]
fn names_drop_the_nifti_extensions() {
    assert_eq!(stem(Path::new("a/sub-01_T1w.nii.gz")), "sub-01_T1w");
    assert_eq!(stem(Path::new("BRATS.001.NII")), "BRATS.001");
    assert!(is_nifti_path(Path::new("x/scan.Nii.GZ")));
    assert!(!is_nifti_path(Path::new("x/scan.gz")));
    assert!(!is_nifti_path(Path::new("x/nii")));
    assert!(is_nifti_path(Path::new("spm/scan.HDR")));
    assert_eq!(stem(Path::new("spm/scan.hdr")), "scan");
}

#[test]
fn a_pairs_voxels_go_with_its_header_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.hdr", "a.img", "b.img.gz", "C.HDR", "C.img"] {
        std::fs::write(dir.path().join(name), b"").unwrap();
    }
    let pair = |name: &str| is_pair_data(&dir.path().join(name));
    assert!(pair("a.img") && pair("C.img"));
    // No b.hdr: an .img on its own is no part of a pair.
    assert!(!pair("b.img.gz") && !pair("a.hdr"));
}

#[test]
fn a_ras_volume_shows_right_on_the_left_and_front_on_top() {
    let o = Orientation::of(&header(
        [4, 3, 2],
        [[1.0, 0., 0.], [0., 2.0, 0.], [0., 0., 3.0]],
    ))
    .unwrap();
    assert_eq!(
        (o.slices(), o.slice_size(), o.spacing()),
        (2, (4, 3), (2.0, 1.0))
    );
    assert_eq!(o.voxel_mm3(), 6.0);
    // Column 0 is the right-most voxel (x = 3), row 0 the front-most (y = 2).
    assert_eq!(o.index(0, 0, 0), 3 + 4 * 2);
    assert_eq!(o.index(1, 3, 2), 4 * 3);
}

#[test]
fn an_lps_volume_and_a_sagittal_one_give_the_same_slices() {
    // LPS storage (DICOM's order): i runs to the left, j to the back.
    let lps = Orientation::of(&header(
        [4, 3, 2],
        [[-1., 0., 0.], [0., -1., 0.], [0., 0., 1.]],
    ))
    .unwrap();
    assert_eq!(lps.index(0, 0, 0), 0, "right-front-bottom is stored first");
    assert_eq!(lps.index(1, 3, 2), 3 + 4 * 2 + 12);
    // Sagittal storage: i runs to the front, j up, k to the left; slightly oblique.
    let sag = Orientation::of(&header(
        [3, 2, 4],
        [[0.05, 1., 0.], [0., 0.1, 1.], [-1., 0., 0.02]],
    ))
    .unwrap();
    assert_eq!((sag.slices(), sag.slice_size()), (2, (4, 3)));
    // (column 0: right-most, k = 0; row 0: front-most, i = 2; slice 0: j = 0)
    assert_eq!(sag.index(0, 0, 0), 2);
    assert_eq!(sag.index(1, 3, 2), 3 * 2 * 3 + 3);
}

#[test]
fn the_qform_is_read_when_there_is_no_sform() {
    // A quarter turn about z (b = c = 0, d = sin 45°): i runs along y, j along −x.
    let mut h = NiftiHeader {
        dim: [3, 3, 4, 2, 1, 1, 1, 1],
        pixdim: [1.0, 2.0, 1.0, 5.0, 0., 0., 0., 0.],
        qform_code: 1,
        sform_code: 0,
        quatern_d: std::f32::consts::FRAC_1_SQRT_2,
        ..NiftiHeader::default()
    };
    let o = Orientation::of(&h).unwrap();
    let (rows, columns) = o.spacing();
    assert_eq!(o.slice_size(), (4, 3));
    assert!((rows - 2.0).abs() < 1e-6 && (columns - 1.0).abs() < 1e-6);
    // Column 0 (right-most) is j = 0 (j runs to −x); row 0 (front-most) is i = 2.
    assert_eq!(o.index(0, 0, 0), 2);
    h.pixdim[0] = -1.0;
    let flipped = Orientation::of(&h).unwrap();
    assert_eq!(flipped.index(0, 0, 0), 2 + 12, "qfac −1 reverses k");
}

#[test]
fn a_volume_of_a_series_is_picked_and_bad_voxel_sizes_are_refused() {
    let mut h = header([4, 3, 2], [[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]]);
    h.datatype = ::nifti::NiftiType::Float32 as i16;
    h.dim[0] = 4;
    h.dim[4] = 5;
    let why = |h: &NiftiHeader, v| format!("{:#}", usable(h, v).unwrap_err());
    assert!(why(&h, None).contains("5 volumes in one file ([4, 3, 2, 5])"));
    assert!(
        why(&h, None).contains("--volume 0 to 4"),
        "{}",
        why(&h, None)
    );
    assert!(why(&h, Some(5)).contains("no volume 5: the file holds 5 volumes"));
    assert_eq!(usable(&h, Some(4)).unwrap().1, 4);
    assert_eq!(usable(&h, Some(4)).unwrap().0.slice_size(), (4, 3));
    h.dim[4] = 1;
    assert_eq!(
        usable(&h, None).unwrap().1,
        0,
        "a single time point is one volume"
    );
    assert!(why(&h, Some(1)).contains("no volume 1: the file holds 1 volume "));
    let flat = header([4, 3, 2], [[1., 0., 0.], [0., 0., 0.], [0., 0., 1.]]);
    assert!(Orientation::of(&flat).is_err());
}

/// Of a 4-D file, the volume asked for is read, and its mask is written as one 3-D volume on the
/// file's grid.
#[test]
fn the_volume_asked_for_is_read_and_masked_in_3d() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = header([2, 3, 2], [[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]]);
    (h.cal_min, h.cal_max) = (0.0, 40.0);
    // Volume t holds 10·t + the stored index, so each volume's slices differ.
    let stored: Vec<f32> = (0..36).map(|v| (10 * (v / 12) + v % 12) as f32).collect();
    let array =
        ndarray::Array4::from_shape_vec(ndarray::ShapeBuilder::f((2, 3, 2, 3)), stored).unwrap();
    let path = dir.path().join("series.nii");
    WriterOptions::new(&path)
        .reference_header(&h)
        .write_nifti(&array)
        .unwrap();
    let (read, o) = read_header(&path, Some(2)).unwrap();
    assert_eq!(read.dim[..5], [4, 2, 3, 2, 3]);
    for t in 0..3u32 {
        let slices = read_slices(&path, Some(t as usize), &[1], Window::First).unwrap();
        let want: Vec<u8> = (0..6)
            .map(|k| grey_of(f64::from(10 * t) + o.index(1, k % 2, k / 2) as f64))
            .collect();
        assert_eq!(slices[0].as_raw(), &want, "volume {t}");
    }
    assert!(read_slices(&path, None, &[0], Window::First).is_err());
    // Only the volume read is decoded: cut short in its last volume, the file still gives its
    // first, and the last is refused in words.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.nii");
    std::fs::write(&cut, &bytes[..bytes.len() - 8]).unwrap();
    assert!(read_slices(&cut, Some(0), &[1], Window::First).is_ok());
    let why = format!(
        "{:#}",
        read_slices(&cut, Some(2), &[1], Window::First).unwrap_err()
    );
    assert!(why.contains("the file ends early"), "{why}");
    let out = dir.path().join("mask.nii.gz");
    let all = (0..2).map(|s| (s, [true; 6]));
    let written = write_mask(&out, (&path, Some(1)), all, "test").unwrap();
    assert_eq!((written.voxels, written.slices), (12, 2));
    let back = ReaderOptions::new().read_file(&out).unwrap();
    assert_eq!(back.header().dim[..4], [3, 2, 3, 2]);
    assert_eq!(back.header().srow_x, h.srow_x);
}

/// A volume stored sagittally reads as the slices it was made of, and a mask of those slices goes
/// back to the same voxels.
#[test]
fn slices_read_and_masks_write_back_through_the_orientation() {
    let dir = tempfile::tempdir().unwrap();
    let h = {
        let mut h = header([3, 2, 4], [[0., 1., 0.], [0., 0., 1.], [-1., 0., 0.]]);
        h.cal_min = 0.0;
        h.cal_max = 40.0;
        h
    };
    let stored: Vec<i16> = (0..24).map(|v| 2 * v).collect();
    let path = dir.path().join("sag.nii.gz");
    write_3d(&path, &h, (3, 2, 4), stored);
    let o = read_header(&path, None).unwrap().1;
    let slices = read_slices(&path, None, &[0, 1], Window::First).unwrap();
    for (s, img) in slices.iter().enumerate() {
        for (k, &g) in img.as_raw().iter().enumerate() {
            let value = o.index(s as u32, k as u32 % 4, k as u32 / 4) as f64;
            // Stored value = 2 × index; cal 0..40 → grey, clamped.
            assert_eq!(g, grey_of(2.0 * value));
        }
    }
    let minmax = read_slices(&path, None, &[1], Window::MinMax).unwrap();
    assert_eq!(minmax[0].iter().max(), Some(&255));
    assert_eq!(minmax[0].iter().min(), Some(&0));
    assert!(read_slices(&path, None, &[2], Window::First).is_err());

    let out = dir.path().join("mask.nii.gz");
    let masks = slices
        .iter()
        .enumerate()
        .map(|(s, img)| (s as u32, img.iter().map(|&g| g > 128)));
    let written = write_mask(&out, (&path, None), masks, "test").unwrap();
    let back = ReaderOptions::new().read_file(&out).unwrap();
    assert_eq!(back.header().srow_z, h.srow_z);
    assert_eq!(
        (back.header().intent_code, back.header().cal_max),
        (INTENT_LABEL, 1.0)
    );
    let voxels = back.into_volume().into_ndarray::<u8>().unwrap();
    let voxels = voxels.as_slice_memory_order().unwrap();
    let expected: Vec<u8> = (0..24)
        .map(|v| u8::from(grey_of(f64::from(2 * v)) > 128))
        .collect();
    assert_eq!(voxels, expected.as_slice());
    let n = expected.iter().filter(|&&v| v == 1).count() as u64;
    assert_eq!(
        (written.voxels, written.slices, written.mm3),
        (n, 2, n as f64)
    );
    assert_eq!(written.slices_with_tumour, 2);
}

/// A file cut short, and one shorter than a header, are refused in words, not in Rust's debug form.
#[test]
fn a_truncated_file_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let h = header([40, 30, 20], [[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]]);
    let values: Vec<f32> = (0..24_000).map(|v| (v * 7919 % 1000) as f32).collect();
    let whole = dir.path().join("whole.nii.gz");
    write_3d(&whole, &h, (40, 30, 20), values);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.nii.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let short = dir.path().join("short.nii");
    std::fs::write(&short, b"garbage").unwrap();
    let why = |r: Result<Vec<GrayImage>>| format!("{:#}", r.unwrap_err());
    for why in [
        why(read_slices(&cut, None, &[0], Window::First)),
        why(read_slices(&short, None, &[0], Window::First)),
        format!("{:#}", read_header(&short, None).unwrap_err()),
    ] {
        assert!(
            why.contains("as NIfTI: the file ends early") && !why.contains("kind:"),
            "{why}"
        );
    }
    assert!(read_slices(&whole, None, &[0], Window::First).is_ok());
}
