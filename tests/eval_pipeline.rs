//! `tumorseg pipeline` end to end on the fixture (size 64, 1 epoch, CPU): every stage's files land in
//! the run directory and the dataset root is left exactly as it was; outputs and inputs given in
//! the wrong place, or of the wrong kind, are refused with what is wrong.
mod common;

use common::training::signalled;
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
        "figures/random_test.png",
        "figures/worst_test.png",
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
    // Every stage prints when it starts, in order, and the total comes last.
    let stages: Vec<(&str, f64)> = stdout
        .lines()
        .filter_map(|l| {
            let (name, t) = l.strip_prefix("== ")?.rsplit_once(" [")?;
            Some((
                name.split(' ').next()?,
                t.strip_suffix(" s]")?.parse().ok()?,
            ))
        })
        .collect();
    let names: Vec<&str> = stages.iter().map(|s| s.0).collect();
    assert_eq!(
        names,
        ["clean", "train", "tune-threshold", "evaluate", "visualize"],
        "{stdout}"
    );
    assert!(stages.windows(2).all(|w| w[0].1 <= w[1].1), "{stages:?}");
    let total = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pipeline: "))
        .unwrap();
    let total: f64 = total.split(' ').next().unwrap().parse().unwrap();
    assert!(total >= stages[4].1, "{total} vs {stages:?}");
    // Training used the cleaned train split (2 of the 26 fixture images are removed by clean).
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        cfg.contains(&run.join("data").display().to_string()),
        "{cfg}"
    );
    // The records name the cleaned annotations in the run, and the dataset's own images, not the
    // mirror's links to them.
    let trained = common::json(&run.join("provenance.json"));
    let trained = &trained[0];
    let real = |split: &str| {
        root.join(split)
            .canonicalize()
            .unwrap()
            .display()
            .to_string()
    };
    for split in ["train", "valid"] {
        assert_eq!(
            common::input(trained, &format!("{split} images"))["path"],
            real(split)
        );
        let annotations = &common::input(trained, &format!("{split} annotations"))["path"];
        assert!(
            annotations
                .as_str()
                .unwrap()
                .ends_with(&format!("data/{split}/_annotations.coco.cleaned.json")),
            "{annotations}"
        );
    }
    assert_eq!(
        common::input(&report["provenance"], "test images")["path"],
        real("test")
    );
    // Named alike: the valid images of training and of the threshold.
    let tuned = common::json(&run.join("threshold.json"));
    assert_eq!(
        common::input(&tuned["provenance"], "valid images"),
        common::input(trained, "valid images")
    );
}

#[test]
fn a_run_in_the_dataset_root_or_a_split_folder_is_refused_before_anything_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    for split in ["train", "valid"] {
        common::copy_fixture_split(&root, split);
    }
    let before = listing(&root);
    for (command, out, place) in [
        ("pipeline", root.clone(), "is the dataset root"),
        (
            "train",
            root.join("valid/run"),
            "is in the dataset's valid folder",
        ),
    ] {
        let o = common::bin()
            .arg(command)
            .arg(&root)
            .arg("--out")
            .arg(&out)
            .args(["--device", "cpu", "--encoder-weights", "none"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && stderr.contains(place), "{stderr}");
        assert_eq!(listing(&root), before, "{command}");
    }
}

#[test]
fn a_file_given_for_a_folder_or_a_folder_for_a_file_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("afile");
    std::fs::write(&file, "mine").unwrap();
    let (fixture, file_s) = (common::fixture(), file.to_str().unwrap());
    let split = fixture.join("test");
    let annotations = split.join("_annotations.coco.json");
    let run = common::fake_run(&tmp.path().join("run"));
    let masks = tmp.path().join("masks").display().to_string();
    let train = ["train", fixture.to_str().unwrap(), "--device", "cpu"];
    let cases: [(Vec<&str>, String); 5] = [
        ([&train[..], &["--out", file_s]].concat(), "--out".into()),
        (
            vec!["masks", split.to_str().unwrap(), "--out", file_s],
            "--out".into(),
        ),
        (
            vec![
                "predict",
                run.to_str().unwrap(),
                split.to_str().unwrap(),
                "--out",
                file_s,
            ],
            "--out".into(),
        ),
        (
            [
                &train[..],
                &["--encoder-weights", tmp.path().to_str().unwrap()],
            ]
            .concat(),
            format!("{} is a folder, not a weights file", tmp.path().display()),
        ),
        (
            vec!["masks", annotations.to_str().unwrap(), "--out", &masks],
            format!("{} is a file, not a split directory", annotations.display()),
        ),
    ];
    for (args, want) in cases {
        let o = common::bin().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && stderr.contains(&want),
            "{args:?}: {stderr}"
        );
        if want == "--out" {
            assert!(
                stderr.contains("is a file, not a folder"),
                "{args:?}: {stderr}"
            );
        }
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}

/// Before, `pipeline --resume RUN` still required DATASET_ROOT, though the run records its dataset
/// (and the advice after a stop named ROOT too).
#[test]
fn a_pipeline_resumes_without_its_dataset_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("dataset");
    for split in ["train", "valid", "test"] {
        common::copy_fixture_split(&root, split);
    }
    let run = tmp.path().join("run");
    let later = ["--no-progress", "--threshold-grid", "0.5", "--figures", "1"];
    let mut cmd = common::bin();
    cmd.arg("pipeline")
        .arg(&root)
        .arg("--out")
        .arg(&run)
        .args([
            "--size", "32", "--epochs", "1", "--batch", "4", "--device", "cpu",
        ])
        .args(["--encoder-weights", "none", "--threads", "1"])
        .args(later);
    let (code, rest) = signalled(&mut cmd, "training on", libc::SIGTERM);
    assert_eq!(code, Some(143), "{rest:?}");
    let advice = format!("`tumorseg pipeline --resume {}`", run.display());
    assert!(rest.iter().any(|l| l.contains(&advice)), "{rest:?}");
    let o = common::run_ok(
        common::bin()
            .arg("pipeline")
            .arg("--resume")
            .arg(&run)
            .args(later),
    );
    let said = String::from_utf8_lossy(&o.stderr);
    let real = root.canonicalize().unwrap();
    assert!(
        said.contains(&format!(
            "note: resuming on {}, the run's dataset",
            real.display()
        )),
        "{said}"
    );
    assert!(run.join("report.json").is_file());
    // Without either, clap's own error names the argument; --help says when it may be left out.
    let o = common::bin().arg("pipeline").output().unwrap();
    let said = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{said}");
    assert!(
        said.contains("required arguments were not provided"),
        "{said}"
    );
    assert!(said.contains("<DATASET_ROOT>"), "{said}");
    let help = common::run_ok(common::bin().args(["pipeline", "--help"]));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Optional with --resume"), "{help}");
}
