//! `tumorseg pack`: smaller images, polygons scaled with them, same COCO otherwise, the source untouched.
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
