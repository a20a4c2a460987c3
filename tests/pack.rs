//! `tumorseg pack`: smaller images, polygons scaled with them, same COCO otherwise, the source
//! untouched; two images that would be packed into one file are refused.
mod common;
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

#[test]
fn pack_refuses_two_images_that_would_be_one_jpeg_even_in_another_case() {
    let dir = tempfile::tempdir().unwrap();
    // `a.png` and `a.jpg` are both packed as `a.jpg`; `A.png` as `A.jpg`, one file on macOS.
    for (first, second, jpg) in common::tiny_coco::clashing("png", "jpg", "jpg") {
        let root = dir.path().join(format!("data-{first}"));
        common::tiny_coco::split_named(&root.join("test"), &["b.png", &first, &second]);
        let packed = dir.path().join(format!("packed-{first}"));
        let o = common::into("pack", &root, &packed).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{stderr}");
        let why = format!("test: images {first} and {second} would both be packed as {jpg}");
        assert!(stderr.contains(&why), "{stderr}");
        assert!(!packed.exists(), "{}", packed.display());
    }
}
