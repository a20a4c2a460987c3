//! What a run is scored against: the annotations and categories it was trained on (its config.toml),
//! unless `--annotations` or `--categories` say otherwise; `--annotations` is a file name read in
//! each split folder, and a pipeline cleans that file.
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tumorseg::dataset::{load_split, SplitOptions};

/// Tumour pixels of each test image of the dataset at `root`, as `opts` reads it.
fn truth_pixels(root: &Path, opts: &SplitOptions) -> HashMap<String, u64> {
    let samples = load_split(root, "test", opts).unwrap();
    let count = |s: &tumorseg::dataset::Sample| s.mask().pixels().filter(|p| p[0] > 0).count();
    (samples.iter())
        .map(|s| (s.stem.clone(), count(s) as u64))
        .collect()
}

/// per_image.csv's truth_pixels by stem.
fn scored_truth(out: &Path) -> HashMap<String, u64> {
    csv::Reader::from_path(out.join("per_image.csv"))
        .unwrap()
        .deserialize::<HashMap<String, String>>()
        .map(Result::unwrap)
        .map(|r| (r["stem"].clone(), r["truth_pixels"].parse().unwrap()))
        .collect()
}

/// A copy of the fixture in which each split also has `alt.json`: its annotations without the
/// split's first image.
fn dataset_with_alt(dir: &Path) -> (PathBuf, String) {
    let root = dir.join("dataset");
    let mut dropped = String::new();
    for split in ["train", "valid", "test"] {
        common::copy_fixture_split(&root, split);
        let text =
            std::fs::read_to_string(root.join(split).join("_annotations.coco.json")).unwrap();
        let mut doc: serde_json::Value =
            serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
        let first = doc["images"].as_array_mut().unwrap().remove(0);
        let (id, name) = (first["id"].clone(), first["file_name"].as_str().unwrap());
        if split == "test" {
            dropped = name.rsplit_once('.').unwrap().0.to_string();
        }
        (doc["annotations"].as_array_mut().unwrap()).retain(|a| a["image_id"] != id);
        std::fs::write(root.join(split).join("alt.json"), doc.to_string()).unwrap();
    }
    (root, dropped)
}

fn evaluate(run: &Path, root: &Path, out: &Path, extra: &[&str]) -> String {
    let o = common::run_ok(
        common::bin()
            .arg("evaluate")
            .args([run, root])
            .args([
                "--split",
                "test",
                "--device",
                "cpu",
                "--threshold",
                "0.5",
                "--out",
            ])
            .arg(out)
            .args(extra),
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_run_is_scored_on_what_it_was_trained_on_unless_told_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, dropped) = dataset_with_alt(tmp.path());
    let run = common::fake_run(&tmp.path().join("run"));
    let mut cfg = tumorseg::checkpoint::load_config(&run).unwrap();
    cfg.categories = Some(vec![2]);
    cfg.annotations = Some("alt.json".into());
    std::fs::write(run.join("config.toml"), cfg.to_toml().unwrap()).unwrap();
    let trained_on = SplitOptions {
        annotations: Some("alt.json".into()),
        categories: Some(vec![2]),
    };
    let expected = truth_pixels(&root, &trained_on);
    assert!(!expected.contains_key(&dropped));
    assert!(
        expected.values().any(|&n| n == 0),
        "some images are category 1 only"
    );

    let stderr = evaluate(&run, &root, &tmp.path().join("a"), &[]);
    assert_eq!(scored_truth(&tmp.path().join("a")), expected);
    assert!(
        stderr.contains("only category ids 2 are tumour (as ")
            && stderr.contains("annotations read from alt.json"),
        "{stderr}"
    );

    let flags = [
        "--categories",
        "1,2",
        "--annotations",
        "_annotations.coco.json",
    ];
    evaluate(&run, &root, &tmp.path().join("b"), &flags);
    let all = truth_pixels(&root, &SplitOptions::default());
    assert!(all.contains_key(&dropped));
    assert_eq!(scored_truth(&tmp.path().join("b")), all);

    // A name missing from the split folder is not looked for elsewhere.
    let o = common::bin()
        .arg("evaluate")
        .args([&run, &root])
        .args(["--device", "cpu", "--annotations", "nothere.json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("is read in each split folder"),
        "{stderr}"
    );
}

#[test]
fn masks_are_scored_on_the_given_categories() {
    let tmp = tempfile::tempdir().unwrap();
    let cat2 = SplitOptions {
        categories: Some(vec![2]),
        ..SplitOptions::default()
    };
    let samples = load_split(&common::fixture(), "test", &cat2).unwrap();
    let pred = tmp.path().join("pred");
    common::pred_masks::write_masks(&pred, &samples, common::pred_masks::truth_255);
    let out = tmp.path().join("out");
    common::run_ok(
        common::bin()
            .args(["evaluate", "--pred-masks"])
            .arg(&pred)
            .arg(common::fixture())
            .args(["--split", "test", "--categories", "2", "--out"])
            .arg(&out),
    );
    assert_eq!(scored_truth(&out), truth_pixels(&common::fixture(), &cat2));
    let report = common::json(&out.join("report.json"));
    assert_eq!(report["global"]["dice"], 1.0, "{report}");
}

#[test]
fn training_takes_a_file_name_for_annotations_and_a_pipeline_cleans_that_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, dropped) = dataset_with_alt(tmp.path());
    let o = common::bin()
        .arg("train")
        .arg(&root)
        .args(["--annotations", "./alt.json", "--out"])
        .arg(tmp.path().join("refused"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("give a file name, read in each split folder"),
        "{stderr}"
    );
    assert!(!tmp.path().join("refused").exists());

    let run = tmp.path().join("run");
    common::run_ok(
        common::bin()
            .arg("pipeline")
            .arg(&root)
            .arg("--out")
            .arg(&run)
            .args(["--annotations", "alt.json", "--size", "64", "--epochs", "1"])
            .args([
                "--batch",
                "4",
                "--encoder-weights",
                "none",
                "--device",
                "cpu",
            ])
            .args(["--no-progress", "--threshold-grid", "0.5", "--figures", "0"]),
    );
    let cleaned = common::json(&run.join("data/clean_report.json"));
    let scored = scored_truth(&run);
    assert!(
        !scored.is_empty() && !scored.contains_key(&dropped),
        "{scored:?} {cleaned}"
    );
    let cleaned_test = truth_pixels(&run.join("data"), &SplitOptions::default());
    assert_eq!(scored, cleaned_test);
}

/// `evaluate RUN ROOT --split valid` wrote over the run's test report (report.json, per_image.csv);
/// an --out that is a file failed with a bare "File exists".
#[test]
fn another_split_is_reported_beside_the_test_report() {
    let tmp = tempfile::tempdir().unwrap();
    let run = common::fake_run(&tmp.path().join("run"));
    let fixture = common::fixture();
    evaluate(&run, &fixture, &run, &[]);
    let test_report = std::fs::read(run.join("per_image.csv")).unwrap();
    let o = common::run_ok(common::bin().arg("evaluate").args([&run, &fixture]).args([
        "--split",
        "valid",
        "--device",
        "cpu",
        "--threshold",
        "0.5",
    ]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("the valid report goes to "), "{stderr}");
    assert_eq!(
        std::fs::read(run.join("per_image.csv")).unwrap(),
        test_report
    );
    let valid = common::json(&run.join("evaluate-valid/report.json"));
    assert_eq!(valid["split"], "valid");
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, "mine").unwrap();
    let o = common::bin()
        .arg("evaluate")
        .args([&run, &fixture])
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("is a file, not a folder"), "{stderr}");
}
