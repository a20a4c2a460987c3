//! `tumorseg pack`: smaller images, polygons scaled with them, same COCO otherwise, the source untouched.
mod common;
use image::imageops::FilterType;
use serde_json::json;
use std::path::{Path, PathBuf};
use tumorseg::dataset::{load_split, SplitOptions};

#[test]
fn pack_halves_the_fixture_and_scales_its_polygons() {
    let src = common::fixture();
    let before = std::fs::read(src.join("train/_annotations.coco.json")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let packed = out.path().join("half");
    common::run_ok(common::into("pack", &src, &packed).args(["--size", "320", "--quality", "95"]));
    assert_eq!(
        std::fs::read(src.join("train/_annotations.coco.json")).unwrap(),
        before
    );

    let opts = SplitOptions::default();
    for split in ["train", "valid", "test"] {
        let orig = load_split(&src, split, &opts).unwrap();
        let small = load_split(&packed, split, &opts).unwrap();
        assert_eq!(orig.len(), small.len(), "{split}");
        for (a, b) in orig.iter().zip(&small) {
            assert_eq!((b.width, b.height), (a.width / 2, a.height / 2));
            let img = b.load_gray().unwrap();
            assert_eq!(img.dimensions(), (b.width, b.height));
            // The packed polygons drawn at 320 equal the original polygons scaled to 320.
            let expected = a.mask_scaled(b.width, b.height);
            let got = b.mask();
            let differ = expected
                .pixels()
                .zip(got.pixels())
                .filter(|(x, y)| x != y)
                .count();
            assert!(
                differ <= 2 * b.width as usize,
                "{}: {differ} pixels differ",
                b.stem
            );
        }
    }
    // Pack refuses to overwrite its input.
    let again = common::into("pack", &src, &src).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("must differ from the dataset root"));
}

#[test]
fn pack_widens_the_pixel_spacing_with_the_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::spaced_test_split(dir.path(), (0.7, 0.4));
    let packed = dir.path().join("packed");
    common::run_ok(common::into("pack", &root, &packed).args(["--size", "320"]));
    let opts = SplitOptions::default();
    let (before, after) = (
        load_split(&root, "test", &opts).unwrap(),
        load_split(&packed, "test", &opts).unwrap(),
    );
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.spacing, Some((0.7, 0.4)));
        // 640 → 320 pixels: each twice as wide.
        assert_eq!((a.width, b.width), (640, 320));
        assert_eq!(b.spacing, Some((1.4, 0.8)));
    }
}

#[test]
fn pack_refuses_a_tiny_size_and_an_occupied_out_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    common::copy_fixture_split(&root, "test");
    let packed = dir.path().join("packed");
    for size in ["0", "31"] {
        let o = common::into("pack", &root, &packed)
            .args(["--size", size])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("--size {size}: must be at least 32 pixels")),
            "{stderr}"
        );
        assert!(!packed.exists(), "--size {size} wrote {}", packed.display());
    }
    common::run_ok(common::into("pack", &root, &packed).args(["--size", "32"]));
    let listing = || -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(packed.join("test"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), std::fs::read(p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let first = listing();
    // Packing again into the same --out, at another size, would rewrite every file.
    let o = common::into("pack", &root, &packed)
        .args(["--size", "64"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} exists and is not empty: give a new directory",
            packed.display()
        )),
        "{stderr}"
    );
    assert_eq!(listing(), first, "the packed files were rewritten");
}

#[test]
fn pack_reads_annotation_files_as_every_command_does_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    common::copy_fixture_split(&root, "train");
    common::copy_fixture_split(&root, "test");
    let ann = root.join("test/_annotations.coco.json");
    std::fs::write(&ann, "").unwrap();
    let packed = dir.path().join("packed");
    let o = common::into("pack", &root, &packed).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    let why = format!("{} is empty: it holds no JSON", ann.display());
    assert!(stderr.contains(&why), "{stderr}");
    // train, which reads, was not packed alone.
    assert!(!packed.exists(), "{}", packed.display());
}

/// A dataset root `dir/data` with a `train` split of 64×64 grey images named `names` (each in the
/// format its extension says), each with one polygon annotation and neither a box nor a spacing.
fn train_split(dir: &Path, names: &[&str]) -> PathBuf {
    let root = dir.join("data");
    let split = root.join("train");
    std::fs::create_dir_all(&split).unwrap();
    let (mut images, mut annotations) = (vec![], vec![]);
    for (id, name) in names.iter().enumerate() {
        let format = image::ImageFormat::from_path(name).unwrap_or(image::ImageFormat::Png);
        let path = split.join(name);
        common::gradient(64, 64)
            .save_with_format(path, format)
            .unwrap();
        images.push(json!({"id": id, "file_name": name, "width": 64, "height": 64}));
        let ring = [8, 8, 40 + id, 8, 40 + id, 40, 8, 40];
        annotations
            .push(json!({"id": id, "image_id": id, "category_id": 1, "segmentation": [ring]}));
    }
    let coco = json!({"images": images, "annotations": annotations, "categories": [{"id": 1}]});
    std::fs::write(split.join("_annotations.coco.json"), coco.to_string()).unwrap();
    root
}

#[test]
fn pack_refuses_two_images_of_one_stem_before_writing() {
    for (a, b) in [("x.png", "x.tif"), ("x.png", "X.bmp")] {
        let dir = tempfile::tempdir().unwrap();
        let root = train_split(dir.path(), &[a, b, "y.jpg"]);
        let packed = dir.path().join("packed");
        let stderr = common::run_err(&mut common::into("pack", &root, &packed));
        let split = root.join("train");
        let why = format!(
            "{} and {} would both be packed as {}.jpg",
            split.join(a).display(),
            split.join(b).display(),
            &b[..1]
        );
        assert!(stderr.contains(&why), "{stderr}");
        assert!(!packed.exists(), "{}", packed.display());
    }
}

#[test]
fn pack_names_an_out_that_is_a_file_and_writes_no_null_fields() {
    let dir = tempfile::tempdir().unwrap();
    let root = train_split(dir.path(), &["x.png", "y.jpg"]);
    let file = dir.path().join("file");
    std::fs::write(&file, "kept").unwrap();
    let stderr = common::run_err(&mut common::into("pack", &root, &file));
    let why = format!("--out {} is a file, not a folder", file.display());
    assert!(stderr.contains(&why), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept");
    // Neither the images nor the annotations had a spacing or a box: none is added.
    let packed = dir.path().join("packed");
    common::run_ok(common::into("pack", &root, &packed).args(["--size", "32"]));
    let coco = common::json(&packed.join("train/_annotations.coco.json"));
    for entry in [&coco["images"], &coco["annotations"]] {
        for e in entry.as_array().unwrap() {
            let absent = ["pixel_spacing", "bbox"].map(|k| e.get(k).is_none());
            assert_eq!(absent, [true, true], "{e}");
        }
    }
    assert_eq!(coco["annotations"][0]["segmentation"][0][2], json!(20.0));
}

/// from-nifti's slices and their RLE masks (compressed strings), packed to half their size: each mask
/// is the slice's mask resized nearest-neighbour, as the images are resized, still compressed, its
/// pixel spacing doubled.
#[test]
fn pack_resizes_rle_masks_with_their_images() {
    let dir = common::nifti::volumes();
    let d = dir.path();
    let from_nifti = [
        "from-nifti",
        "ras.nii.gz",
        "labels.nii.gz",
        "--out",
        "nr/test",
    ];
    common::run_ok(common::bin().current_dir(d).args(from_nifti));
    let (root, packed) = (d.join("nr"), d.join("np"));
    common::run_ok(common::into("pack", &root, &packed).args(["--size", "48"]));
    let opts = SplitOptions::default();
    let before = load_split(&root, "test", &opts).unwrap();
    let after = load_split(&packed, "test", &opts).unwrap();
    assert_eq!(after.len(), before.len());
    assert!(!before.is_empty());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            ((a.width, a.height), (b.width, b.height)),
            ((96, 80), (48, 40))
        );
        let resized = image::imageops::resize(&a.mask(), 48, 40, FilterType::Nearest);
        assert_eq!(b.mask(), resized, "{}", b.stem);
        assert!(resized.iter().any(|&v| v != 0), "{}", b.stem);
        let (rows, columns) = a.spacing.unwrap();
        assert_eq!(b.spacing, Some((2.0 * rows, 2.0 * columns)));
    }
    let coco = common::json(&packed.join("test/_annotations.coco.json"));
    for ann in coco["annotations"].as_array().unwrap() {
        assert_eq!(ann["segmentation"]["size"], json!([40, 48]));
        assert!(ann["segmentation"]["counts"].is_string(), "{ann}");
    }
}

/// A pack that fails while writing (an image whose JPEG name is one byte too long for the file
/// system) removes what it wrote, so the same --out can be given again; an --out that was there
/// stays.
#[test]
fn a_pack_failing_half_way_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("{}.p", "a".repeat(252));
    let root = train_split(dir.path(), &["x.png", "y.jpg", &long]);
    for existed in [false, true] {
        let packed = dir.path().join(format!("packed-{existed}"));
        if existed {
            std::fs::create_dir(&packed).unwrap();
        }
        let stderr = common::run_err(&mut common::into("pack", &root, &packed));
        let why = format!(
            "pack failed: what it wrote to {} was removed",
            packed.display()
        );
        assert!(stderr.contains(&why), "{stderr}");
        assert_eq!(packed.exists(), existed);
        if existed {
            assert_eq!(std::fs::read_dir(&packed).unwrap().count(), 0);
        }
    }
}
