//! `tumorseg masks` and its output folder: masks never overwrite one another (two images of one
//! stem, case aside, are refused), never mix with an earlier run's (a folder in use is refused unless
//! --overwrite, which removes masks and nothing else), and a split none of whose images is there is
//! an error, not "wrote 0 masks".
mod common;

use std::path::Path;
use std::process::Output;
use tumorseg::dataset::{load_split, SplitOptions};

/// `tumorseg masks SPLIT --out OUT` with `extra` arguments.
fn masks(split: &Path, out: &Path, extra: &[&str]) -> Output {
    common::into("masks", split, out)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The names of the files in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// `<stem>.png` of each image of the fixture's `split`, sorted.
fn fixture_masks(split: &str) -> Vec<String> {
    let samples = load_split(&common::fixture(), split, &SplitOptions::default()).unwrap();
    let mut n: Vec<String> = samples.iter().map(|s| format!("{}.png", s.stem)).collect();
    n.sort();
    n
}

#[test]
fn two_images_of_one_stem_even_in_another_case_are_refused_naming_both_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    // `A.jpg` and `a.png` give `A.png` and `a.png`: one file on macOS and Windows.
    for (first, second, png) in common::tiny_coco::clashing("jpg", "png", "png") {
        let split = dir.path().join(format!("stem-{first}"));
        common::tiny_coco::split_named(&split, &[&first, &second, "b.png"]);
        let out = dir.path().join(format!("ms-{first}"));
        let o = masks(&split, &out, &[]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{err}");
        assert!(
            err.contains(&format!(
                "image id 1 ({}) and image id 2 ({}) would both be masked as {png}",
                split.join(&first).display(),
                split.join(&second).display()
            )),
            "{err}"
        );
        assert!(!out.exists(), "nothing may be written");
    }
}

#[test]
fn a_folder_in_use_is_refused_unless_overwrite_which_replaces_masks_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m1");
    let (train, valid) = (
        common::fixture().join("train"),
        common::fixture().join("valid"),
    );
    common::run_ok(&mut common::into("masks", &train, &out));
    let train_masks = fixture_masks("train");
    assert_eq!(names(&out), train_masks);
    // Another split into it: refused, the train masks left as they were.
    let o = masks(&valid, &out, &[]);
    let err = stderr(&o);
    assert!(
        !o.status.success()
            && err.contains("exists and is not empty")
            && err.contains("--overwrite to replace the masks there"),
        "{err}"
    );
    assert_eq!(names(&out), train_masks);
    // A file that is not a mask (a note, a grey image, a colour image): nothing removed.
    for name in ["notes.txt", "scan.png", "photo.png"] {
        let path = out.join(name);
        match name {
            "notes.txt" => std::fs::write(&path, "mine").unwrap(),
            "scan.png" => common::gradient(8, 8).save(&path).unwrap(),
            _ => image::RgbImage::from_pixel(4, 4, image::Rgb([255, 0, 0]))
                .save(&path)
                .unwrap(),
        }
        let o = masks(&valid, &out, &["--overwrite"]);
        let err = stderr(&o);
        assert!(
            !o.status.success() && err.contains(&format!("{name}, which is not a mask")),
            "{name}: {err}"
        );
        let mut kept = train_masks.clone();
        kept.push(name.to_string());
        kept.sort();
        assert_eq!(names(&out), kept, "{name}: nothing may be removed");
        std::fs::remove_file(out.join(name)).unwrap();
    }
    // Masks only: replaced by the new split's.
    let o = common::run_ok(common::into("masks", &valid, &out).arg("--overwrite"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let valid_masks = fixture_masks("valid");
    assert!(
        stdout.contains(&format!(
            "wrote {} masks to {} (replacing {} earlier masks)",
            valid_masks.len(),
            out.display(),
            train_masks.len()
        )),
        "{stdout}"
    );
    assert_eq!(names(&out), valid_masks);
    // An empty folder, as a new one, needs no --overwrite.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    common::run_ok(&mut common::into("masks", &valid, &empty));
    assert_eq!(names(&empty), valid_masks);
}

#[test]
fn a_split_without_its_images_is_an_error_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let train = common::fixture().join("train");
    // Another split's annotation file: none of its images is in train.
    let valid_ann = common::fixture().join("valid/_annotations.coco.json");
    let out = dir.path().join("ma3");
    let o = masks(
        &train,
        &out,
        &["--annotations", valid_ann.to_str().unwrap()],
    );
    let err = stderr(&o);
    let n = fixture_masks("valid").len();
    assert!(
        !o.status.success()
            && err.contains(&format!("none of the {n} images"))
            && err.contains("no mask written"),
        "{err}"
    );
    assert!(!out.exists());
    // An annotation file without images.
    let empty = dir.path().join("empty.json");
    std::fs::write(
        &empty,
        r#"{"images": [], "annotations": [], "categories": []}"#,
    )
    .unwrap();
    let o = masks(&train, &out, &["--annotations", empty.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("lists no images: no mask written"),
        "{err}"
    );
    assert!(!out.exists());
}
