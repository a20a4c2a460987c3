//! `tumorseg pipeline` end to end on the fixture (size 64, 1 epoch, CPU): every stage's files land in
//! the run directory and the dataset root is left exactly as it was.
mod common;

use std::collections::BTreeSet;
use std::path::Path;

fn listing(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for split in std::fs::read_dir(root).unwrap() {
        let split = split.unwrap().path();
        out.insert(split.display().to_string());
        if split.is_dir() {
            for f in std::fs::read_dir(&split).unwrap() {
                out.insert(f.unwrap().path().display().to_string());
            }
        }
    }
    out
}

#[test]
fn pipeline_runs_every_stage_without_touching_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    // A copy, so that even a broken pipeline could not dirty the repository's fixture.
    let root = tmp.path().join("dataset");
    for split in ["train", "valid", "test"] {
        std::fs::create_dir_all(root.join(split)).unwrap();
        for f in std::fs::read_dir(common::fixture().join(split)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, root.join(split).join(f.file_name().unwrap())).unwrap();
        }
    }
    let before = listing(&root);
    let run = tmp.path().join("run");
    let o = common::run_ok(
        common::bin()
            .arg("pipeline")
            .arg(&root)
            .arg("--out")
            .arg(&run)
            .args([
                "--size",
                "64",
                "--epochs",
                "1",
                "--batch",
                "4",
                "--encoder-weights",
                "none",
            ])
            .args([
                "--device",
                "cpu",
                "--no-progress",
                "--threshold-grid",
                "0.3:0.7:0.2",
                "--figures",
                "2",
            ]),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(listing(&root), before, "the dataset root must not change");
    for f in [
        "config.toml",
        "best_model.safetensors",
        "threshold.json",
        "threshold.png",
        "report.json",
        "report.md",
        "per_image.csv",
        "figures/random.png",
        "figures/worst.png",
        "data/train/_annotations.coco.cleaned.json",
        "data/clean_report.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing in the run directory");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["split"], "test");
    assert_eq!(report["threshold_source"], "tuned");
    assert!(
        stdout.trim_end().lines().any(|l| l.starts_with("| Dice |")),
        "ends with the table: {stdout}"
    );
    // Training used the cleaned train split (2 of the 26 fixture images are removed by clean).
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        cfg.contains(&run.join("data").display().to_string()),
        "{cfg}"
    );
}
