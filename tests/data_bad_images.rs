//! Image files the loader and clean must survive: missing, corrupt, cut short, grey or RGB, PNG or
//! JPEG (whatever the extension says), each with the message it must give. Bad annotation files are
//! in data_bad_coco.rs.
mod common;
use common::tiny_coco::{doc, root_with, GOOD_B};
use image::{GrayImage, Luma, Rgb, RgbImage};
use std::fs;
use tumorseg::clean::{clean_dataset, CleanOptions};
use tumorseg::dataset::{load_split_report, SplitOptions};

#[test]
fn missing_image_file_is_skipped_reported_and_removed_by_clean() {
    let root = root_with(&doc(&format!(
        r#"[{{"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1,1,6,1,6,6]]}}, {GOOD_B}]"#
    )));
    fs::remove_file(root.path().join("train/a.png")).unwrap();
    let (samples, report) =
        load_split_report(&root.path().join("train"), &SplitOptions::default()).unwrap();
    assert_eq!(samples.iter().map(|s| s.id).collect::<Vec<_>>(), vec![2]);
    assert_eq!(
        report.missing_files,
        vec![(1, root.path().join("train/a.png"))]
    );
    let mut ghost = samples[0].clone();
    ghost.path = root.path().join("train/a.png");
    let e = format!("{:#}", ghost.load_gray().unwrap_err());
    assert!(
        e.contains("image id 2: cannot open") && e.contains("a.png"),
        "{e}"
    );
    let r = clean_dataset(root.path(), &CleanOptions::default()).unwrap();
    assert_eq!((r.splits[0].1.missing, r.splits[0].1.kept), (1, 1));
    assert_eq!(r.splits[0].1.removed_ids, vec![1]);
}

#[test]
fn corrupt_image_file_gives_located_error_and_is_removed_by_clean() {
    let root = root_with(&doc(&format!(
        r#"[{{"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1,1,6,1,6,6]]}}, {GOOD_B}]"#
    )));
    let png = fs::read(root.path().join("train/a.png")).unwrap();
    fs::write(root.path().join("train/a.png"), &png[..png.len() / 2]).unwrap(); // truncated
    fs::write(root.path().join("train/b.png"), b"this is not an image").unwrap();
    let (samples, _) =
        load_split_report(&root.path().join("train"), &SplitOptions::default()).unwrap();
    for s in &samples {
        let e = format!("{:#}", s.load_gray().unwrap_err());
        assert!(
            e.contains(&format!("image id {}: cannot decode", s.id)),
            "{e}"
        );
        assert!(e.contains("(corrupt or unsupported)"), "{e}");
    }
    let r = clean_dataset(root.path(), &CleanOptions::default()).unwrap();
    assert_eq!((r.splits[0].1.corrupt, r.splits[0].1.kept), (2, 0));
}

/// An image resized after annotating: its polygons no longer fit, and scoring it compared masks of
/// two sizes (a panic, exit 101, in evaluate, tune-threshold and visualize).
#[test]
fn an_image_of_another_size_than_its_entry_is_named_and_removed_by_clean() {
    let root = root_with(&doc(&format!(
        r#"[{{"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1,1,6,1,6,6]]}}, {GOOD_B}]"#
    )));
    GrayImage::new(4, 4)
        .save(root.path().join("train/a.png"))
        .unwrap();
    let (samples, _) =
        load_split_report(&root.path().join("train"), &SplitOptions::default()).unwrap();
    let e = format!("{:#}", samples[0].load_gray().unwrap_err());
    assert!(
        e.contains("a.png is 4×4 but its annotation entry (image id 1) says 8×8"),
        "{e}"
    );
    assert!(samples[1].load_gray().is_ok());
    let r = clean_dataset(root.path(), &CleanOptions::default()).unwrap();
    let stats = &r.splits[0].1;
    assert_eq!((stats.wrong_size, stats.kept), (1, 1));
    assert_eq!(stats.removed[0].reason, "file is 4×4, annotations say 8×8");
}

#[test]
fn cli_clean_counts_a_truncated_jpeg_as_corrupt_and_drops_it() {
    // The fixture's test split, one slice cut to its first 3000 bytes (the decoder would fill the
    // rest with grey).
    let root = tempfile::tempdir().unwrap();
    common::copy_fixture_split(root.path(), "test");
    let split = root.path().join("test");
    let cut = &common::test_jpgs()[0];
    let name = cut.file_name().unwrap().to_str().unwrap();
    fs::write(split.join(name), &fs::read(cut).unwrap()[..3000]).unwrap();
    let o = common::run_ok(
        common::bin()
            .arg("clean")
            .arg(root.path())
            .arg("--no-similar"),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let row: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("test"))
        .unwrap()
        .split_whitespace()
        .collect();
    // split, images, anns, no_ann, multi, missing, corrupt, size≠, …, kept, removed
    assert_eq!(
        (row[1], row[6], row[12], row[13]),
        ("8", "1", "7", "1"),
        "{stdout}"
    );
    let cleaned = fs::read_to_string(split.join("_annotations.coco.cleaned.json")).unwrap();
    assert!(!cleaned.contains(name), "{cleaned}");
}

#[test]
fn jpeg_and_png_grey_and_rgb_load_as_luma() {
    let root = root_with(&doc("[]"));
    let dir = root.path().join("train");
    let grey = GrayImage::from_fn(7, 5, |x, y| Luma([(x * 30 + y) as u8]));
    let rgb = RgbImage::from_fn(7, 5, |_, _| Rgb([200, 200, 200]));
    grey.save(dir.join("g.png")).unwrap();
    rgb.save(dir.join("c.png")).unwrap();
    grey.save(dir.join("g.jpg")).unwrap();
    rgb.save(dir.join("c.jpg")).unwrap();
    fs::copy(dir.join("g.png"), dir.join("png_named.jpg")).unwrap();
    let (samples, _) = load_split_report(&dir, &SplitOptions::default()).unwrap();
    let mut s = samples[0].clone();
    (s.width, s.height) = (7, 5);
    for name in ["g.png", "c.png", "g.jpg", "c.jpg", "png_named.jpg"] {
        s.path = dir.join(name);
        let img = s.load_gray().unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(img.dimensions(), (7, 5), "{name}");
        match name {
            "g.png" | "png_named.jpg" => assert_eq!(img, grey, "{name}"),
            "c.png" => assert!(img.iter().all(|&v| v == 200)),
            "c.jpg" => assert!(img.iter().all(|&v| v.abs_diff(200) <= 3)),
            _ => {
                // Lossy, but still the same gradient.
                let worst = img
                    .iter()
                    .zip(grey.iter())
                    .map(|(a, b)| a.abs_diff(*b))
                    .max()
                    .unwrap();
                assert!(worst <= 16, "g.jpg differs by {worst}");
            }
        }
    }
}

/// Annotations corrected after cleaning: the stale cleaned file used to win silently (scores
/// against, and training on, the old polygons).
#[test]
fn a_cleaned_file_whose_source_changed_since_is_refused() {
    let root = root_with(&doc(&format!(
        r#"[{{"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1,1,6,1,6,6]]}}, {GOOD_B}]"#
    )));
    let split = root.path().join("train");
    clean_dataset(root.path(), &CleanOptions::default()).unwrap();
    let load = || load_split_report(&split, &SplitOptions::default()).map(|(s, _)| s.len());
    assert_eq!(load().unwrap(), 2);
    let corrected = doc(&format!(
        r#"[{{"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[2,2,7,2,7,7]]}}, {GOOD_B}]"#
    ));
    fs::write(split.join("_annotations.coco.json"), corrected).unwrap();
    let e = format!("{:#}", load().unwrap_err());
    assert!(
        e.contains("_annotations.coco.cleaned.json was cleaned from an earlier")
            && e.contains("run `tumorseg clean` on the dataset again"),
        "{e}"
    );
    clean_dataset(root.path(), &CleanOptions::default()).unwrap();
    assert_eq!(load().unwrap(), 2);
}

/// `clean --splits train` replaced the whole clean_report.json: valid's and test's entries (and
/// with them evaluate's independent score) were lost. A mistyped split was skipped silently.
#[test]
fn cleaning_some_splits_keeps_the_report_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "test"] {
        common::copy_fixture_split(dir.path(), split);
    }
    let clean = |splits: &str| {
        common::run_ok(common::bin().arg("clean").arg(dir.path()).args([
            "--no-similar",
            "--splits",
            splits,
        ]))
    };
    clean("train,test");
    let report = dir.path().join("clean_report.json");
    let before = common::json(&report);
    std::fs::remove_dir_all(dir.path().join("test")).unwrap();
    common::copy_fixture_split(dir.path(), "test");
    let o = clean("train,tets");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("--splits tets: ") && stderr.contains("no such split folder"),
        "{stderr}"
    );
    let after = common::json(&report);
    assert_eq!(after["test"], before["test"]);
    assert_eq!(after["train"]["kept"], before["train"]["kept"]);
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.find("\"train\"").unwrap() < text.find("\"test\"").unwrap(),
        "split order"
    );
    // A split the dataset no longer has keeps no report.
    std::fs::remove_dir_all(dir.path().join("test")).unwrap();
    clean("train");
    assert!(common::json(&report).get("test").is_none());
}
