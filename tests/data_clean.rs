//! `clean` on a temporary copy of the fixture: counts, byte-identical original, idempotence,
//! --keep-multi merging, duplicates, cross-split leakage and near-identical images across splits.
mod common;
use std::fs;
use std::path::Path;
use tumorseg::clean::{clean_dataset, CleanOptions};
use tumorseg::dataset::{load_split, SplitOptions, CLEANED, ORIGINAL};

fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "valid", "test"] {
        common::copy_fixture_split(dir.path(), split);
    }
    dir
}

/// The split's JPEG file names, sorted.
fn jpgs(root: &Path, split: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root.join(split))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jpg"))
        .collect();
    v.sort();
    v
}

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap()
}

#[test]
fn clean_fixture_counts_original_untouched_and_idempotent() {
    let dir = copy_fixture();
    let root = dir.path();
    let orig = read(&root.join("train").join(ORIGINAL));
    let report = clean_dataset(root, &CleanOptions::default()).unwrap();
    let train = &report.splits[0];
    assert_eq!(train.0, "train");
    assert_eq!(
        (train.1.images, train.1.annotations, train.1.kept),
        (26, 26, 24)
    );
    assert_eq!((train.1.no_annotation, train.1.multi_annotation), (1, 1));
    assert_eq!(train.1.removed_ids, vec![1005, 1380]);
    for (name, s) in &report.splits[1..] {
        assert_eq!((s.images, s.kept, s.removed_ids.len()), (8, 8, 0), "{name}");
    }
    assert_eq!(
        read(&root.join("train").join(ORIGINAL)),
        orig,
        "original JSON modified"
    );

    let first: Vec<Vec<u8>> = ["train", "valid", "test"]
        .iter()
        .map(|s| read(&root.join(s).join(CLEANED)))
        .collect();
    let first_report = read(&root.join("clean_report.json"));
    // The second run must read the original again (not the cleaned file) and write identical bytes.
    let again = clean_dataset(root, &CleanOptions::default()).unwrap();
    assert_eq!(again, report);
    for (i, s) in ["train", "valid", "test"].iter().enumerate() {
        assert_eq!(read(&root.join(s).join(CLEANED)), first[i], "{s}");
    }
    assert_eq!(read(&root.join("clean_report.json")), first_report);
    assert_eq!(read(&root.join("train").join(ORIGINAL)), orig);

    // Every later command reads the cleaned file when it exists.
    let samples = load_split(root, "train", &SplitOptions::default()).unwrap();
    assert_eq!(samples.len(), 24);
    assert!(samples.iter().all(|s| s.segmentations.len() == 1));
    let opts = SplitOptions {
        annotations: Some(root.join("train").join(ORIGINAL)),
        categories: None,
    };
    assert_eq!(load_split(root, "train", &opts).unwrap().len(), 26);

    let json: serde_json::Value = serde_json::from_slice(&first_report).unwrap();
    assert_eq!(json["train"]["kept"], 24);
    assert_eq!(json["valid"]["images"], 8);
    // The report pins both files by hash: the original as it still is, the cleaned one as written.
    for s in ["train", "valid", "test"] {
        let hashes = (&json[s]["original_sha256"], &json[s]["cleaned_sha256"]);
        let want = (
            common::sha256(&root.join(s).join(ORIGINAL)),
            common::sha256(&root.join(s).join(CLEANED)),
        );
        assert_eq!(
            (hashes.0.as_str().unwrap(), hashes.1.as_str().unwrap()),
            (&want.0[..], &want.1[..]),
            "{s}"
        );
        assert_ne!(want.0, want.1);
    }
    // The cleaned file keeps the other COCO fields.
    let cleaned: serde_json::Value = serde_json::from_slice(&first[0]).unwrap();
    assert_eq!(cleaned["info"]["description"], "Exported from roboflow.com");
    assert_eq!(cleaned["categories"].as_array().unwrap().len(), 3);
}

#[test]
fn keep_multi_merges_the_two_annotations() {
    let dir = copy_fixture();
    let root = dir.path();
    let before = load_split(root, "train", &SplitOptions::default()).unwrap();
    let multi = before
        .iter()
        .find(|s| s.segmentations.len() == 2)
        .expect("fixture has a 2-annotation image");
    let opts = CleanOptions {
        keep_multi: true,
        ..Default::default()
    };
    let report = clean_dataset(root, &opts).unwrap();
    assert_eq!(report.splits[0].1.kept, 25);
    assert_eq!(report.splits[0].1.merged, 1);
    let after = load_split(root, "train", &SplitOptions::default()).unwrap();
    let merged = after.iter().find(|s| s.id == multi.id).unwrap();
    assert_eq!(
        merged.segmentations.len(),
        1,
        "one annotation after merging"
    );
    assert_eq!(
        merged.mask(),
        multi.mask(),
        "merged mask = union of both annotations"
    );
    assert!(merged.mask().contains(&1));
}

#[test]
fn keep_empty_keeps_images_without_annotation_but_not_broken_ones() {
    let dir = copy_fixture();
    let root = dir.path();
    // Turn one image's only annotation into a bounding box alone: unusable, not tumour-free.
    let path = root.join("train").join(ORIGINAL);
    let bytes = read(&path);
    let json = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let mut doc: serde_json::Value = serde_json::from_slice(json).unwrap();
    let anns = doc["annotations"].as_array_mut().unwrap();
    let first = anns[0]["image_id"].as_u64().unwrap();
    assert_eq!(anns.iter().filter(|a| a["image_id"] == first).count(), 1);
    anns[0].as_object_mut().unwrap().remove("segmentation");
    fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();

    let plain = clean_dataset(root, &CleanOptions::default()).unwrap();
    assert_eq!(plain.splits[0].1.removed_ids, vec![first, 1005, 1380]);
    let reasons: Vec<&str> = plain.splits[0]
        .1
        .removed
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        ["no usable annotation", "2 annotations", "no annotation"]
    );
    let opts = CleanOptions {
        keep_empty: true,
        ..Default::default()
    };
    let report = clean_dataset(root, &opts).unwrap();
    let train = &report.splits[0].1;
    assert_eq!(
        (train.no_annotation, train.kept_empty, train.kept),
        (2, 1, 24)
    );
    // 1005 has two annotations, `first` only a box: both still go; 1380, with none, stays.
    assert_eq!(train.removed_ids, vec![first, 1005]);
    let samples = load_split(root, "train", &SplitOptions::default()).unwrap();
    let empty = samples.iter().find(|s| s.id == 1380).expect("kept");
    assert!(empty.segmentations.is_empty() && !empty.mask().contains(&1));
}

#[test]
fn each_removed_image_says_why() {
    let dir = copy_fixture();
    let root = dir.path();
    let (gone, broken) = (&jpgs(root, "valid")[0], &jpgs(root, "test")[0]);
    fs::remove_file(root.join("valid").join(gone)).unwrap();
    fs::write(root.join("test").join(broken), b"not a jpeg").unwrap();
    let report = clean_dataset(root, &CleanOptions::default()).unwrap();
    let removed = |k: usize| {
        let r = &report.splits[k].1.removed;
        assert_eq!(r.len(), 1, "{r:?}");
        (r[0].file_name.clone(), r[0].reason.clone())
    };
    assert_eq!(removed(1), (gone.clone(), "missing file".into()));
    assert_eq!(removed(2), (broken.clone(), "corrupt file".into()));
}

#[test]
fn duplicates_and_leakage_are_reported() {
    let dir = copy_fixture();
    let root = dir.path();
    let (train, test) = (jpgs(root, "train"), jpgs(root, "test"));
    // Same picture twice inside train, and one train picture also in test.
    fs::copy(
        root.join("train").join(&train[3]),
        root.join("train").join(&train[4]),
    )
    .unwrap();
    fs::copy(
        root.join("train").join(&train[5]),
        root.join("test").join(&test[0]),
    )
    .unwrap();
    let report = clean_dataset(root, &CleanOptions::default()).unwrap();
    let (tr, te) = (&report.splits[0].1, &report.splits[2].1);
    assert_eq!(tr.duplicates, 1);
    assert_eq!(tr.duplicate_files.len(), 1);
    assert_eq!(tr.leaked, 1);
    assert_eq!(te.leaked, 1);
    assert_eq!(
        te.leaked_files,
        vec![(test[0].clone(), format!("train/{}", train[5]))]
    );
    assert_eq!(report.splits[1].1.leaked, 0);
    // A byte-identical copy is a leak, not also a near-identical image.
    assert!(report.splits.iter().all(|(_, s)| s.similar == 0));
}

#[test]
fn near_identical_images_across_splits_are_reported() {
    let dir = copy_fixture();
    let root = dir.path();
    let (train, test) = (jpgs(root, "train"), jpgs(root, "test"));
    // test[0] becomes train[5] one pixel to the right, brighter, re-encoded: other bytes, same slice.
    let src = image::open(root.join("train").join(&train[5]))
        .unwrap()
        .to_luma8();
    let moved = image::GrayImage::from_fn(src.width(), src.height(), |x, y| {
        let v = src.get_pixel(x.saturating_sub(1), y)[0];
        image::Luma([v.saturating_add(12)])
    });
    moved.save(root.join("test").join(&test[0])).unwrap();
    let report = clean_dataset(root, &CleanOptions::default()).unwrap();
    let stats = |i: usize| &report.splits[i].1;
    let (a, b, c) = stats(2).similar_files[0].clone();
    assert_eq!((a, b), (test[0].clone(), format!("train/{}", train[5])));
    assert!((0.97..=1.0).contains(&c), "correlation {c}");
    assert_eq!(
        (stats(0).similar, stats(1).similar, stats(2).similar),
        (1, 0, 1)
    );
    assert_eq!(stats(0).similar_files[0].1, format!("test/{}", test[0]));
    assert!(report.splits.iter().all(|(_, s)| s.leaked == 0));
    // Nothing is removed for it, and the check can be switched off.
    assert_eq!(stats(2).kept, 8);
    let off = CleanOptions {
        similar_above: None,
        ..CleanOptions::default()
    };
    let report = clean_dataset(root, &off).unwrap();
    assert!(report.splits.iter().all(|(_, s)| s.similar == 0));
}

#[test]
fn cli_prints_table_and_out_dir_leaves_dataset_alone() {
    let dir = copy_fixture();
    let out = tempfile::tempdir().unwrap();
    let o = common::run_ok(common::bin().args([
        "clean",
        dir.path().to_str().unwrap(),
        "--out-dir",
        out.path().to_str().unwrap(),
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let train_row = stdout.lines().find(|l| l.starts_with("train")).unwrap();
    let cols: Vec<&str> = train_row.split_whitespace().collect();
    assert_eq!(cols[1], "26");
    assert_eq!(cols[12], "24", "{stdout}");
    assert!(
        stdout.contains("train: removed id 1005 (176_jpg.rf.23ef40c30986ba54b865d55a934bfa72.jpg: 2 annotations), id 1380 (2369_jpg.rf.8b8afa9d79c61fa42ca128c940b9cbc0.jpg: no annotation)"),
        "{stdout}"
    );
    assert!(out.path().join("train").join(CLEANED).is_file());
    assert!(out.path().join("clean_report.json").is_file());
    assert!(!dir.path().join("train").join(CLEANED).exists());
    assert!(!dir.path().join("clean_report.json").exists());

    let o = common::run_ok(common::bin().args([
        "clean",
        dir.path().to_str().unwrap(),
        "--out-dir",
        out.path().to_str().unwrap(),
        "--keep-empty",
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let train_row = stdout.lines().find(|l| l.starts_with("train")).unwrap();
    assert_eq!(train_row.split_whitespace().nth(12), Some("25"), "{stdout}");
    assert!(
        stdout.contains("train: 1 image without any annotation kept as tumour-free"),
        "{stdout}"
    );
}

#[test]
fn masks_cli_writes_one_png_per_image() {
    let out = tempfile::tempdir().unwrap();
    let split = common::fixture().join("valid");
    common::run_ok(common::bin().args([
        "masks",
        split.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]));
    let samples =
        tumorseg::dataset::load_split(&common::fixture(), "valid", &SplitOptions::default())
            .unwrap();
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), samples.len());
    for s in &samples {
        let png = image::open(out.path().join(format!("{}.png", s.stem)))
            .unwrap()
            .to_luma8();
        assert_eq!(png.dimensions(), (s.width, s.height));
        let expect: Vec<u8> = s.mask().iter().map(|v| v * 255).collect();
        assert_eq!(png.into_raw(), expect, "{}", s.stem);
    }
    // Into the split itself (here by another spelling of its path): refused, nothing written.
    let dir = copy_fixture();
    let before = jpgs(dir.path(), "valid").len();
    let o = common::bin()
        .args(["masks", dir.path().join("valid").to_str().unwrap(), "--out"])
        .arg(dir.path().join("train/../valid"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("is the split directory itself"),
        "{err}"
    );
    let files = fs::read_dir(dir.path().join("valid")).unwrap().count();
    assert_eq!(files, before + 1, "images and the annotation file only");
}

#[test]
fn categories_that_no_annotation_has_are_refused_before_anything_is_written() {
    let dir = copy_fixture();
    let root = dir.path();
    let with = |categories: Vec<u64>| CleanOptions {
        categories: Some(categories),
        similar_above: None,
        ..CleanOptions::default()
    };
    // 0 is declared (the fixture's supercategory) but no annotation has it: it would remove every image too.
    for (wanted, missing) in [(vec![99], "99"), (vec![1, 0, 99], "0, 99")] {
        let e = format!("{:#}", clean_dataset(root, &with(wanted)).unwrap_err());
        assert_eq!(
            e,
            format!(
                r#"--categories: no annotation has category {missing} (they have: 1 "0", 2 "1")"#
            )
        );
    }
    assert!(!root.join(tumorseg::clean::REPORT).exists());
    assert!(!root.join("train").join(CLEANED).exists());
    let report = clean_dataset(root, &with(vec![2])).unwrap();
    assert!(report.splits.iter().all(|(_, s)| s.kept > 0));
}

#[test]
fn cli_clean_says_what_is_wrong_with_the_root_it_was_given() {
    let dir = copy_fixture();
    let (nope, train) = (dir.path().join("nope"), dir.path().join("train"));
    let cases = [
        (&nope, format!("{} does not exist", nope.display())),
        (
            &train,
            format!(
                "{} looks like a split, not a dataset root (it holds {ORIGINAL}): give its parent ({}) \
                 instead",
                train.display(),
                dir.path().display()
            ),
        ),
    ];
    for (root, why) in cases {
        let o = common::bin().arg("clean").arg(root).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && stderr.contains(&why), "{stderr}");
    }
    assert!(!train.join(CLEANED).exists() && !train.join(tumorseg::clean::REPORT).exists());
}
