//! The inference commands on an untrained U-Net++ saved into a fake run directory (size 64, CPU):
//! tune-threshold, evaluate, predict and visualize agree with each other, and their errors name what
//! is wrong.
mod common;

use common::fake_run;

use common::{json, stdout as tumorseg};

#[test]
fn cli_tune_evaluate_predict_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let (run_s, fix) = (
        run.to_str().unwrap().to_string(),
        common::fixture().to_str().unwrap().to_string(),
    );
    let cpu = ["--device", "cpu", "--batch", "4"];

    // No threshold.json yet: evaluate says it uses 0.5.
    let o = common::run_ok(common::bin().args(["evaluate", &run_s, &fix]).args(cpu));
    assert!(String::from_utf8_lossy(&o.stderr).contains("using 0.5"));
    let untuned = json(&run.join("report.json"));
    assert_eq!(untuned["threshold_source"], "default");
    // Its provenance names the checkpoint scored, by hash, and no threshold file.
    let checkpoint = run.join(tumorseg::checkpoint::BEST);
    let prov = &untuned["provenance"];
    assert_eq!(
        common::input(prov, "model")["sha256"],
        common::sha256(&checkpoint)
    );
    assert_eq!(prov["command"][1], "evaluate");
    assert!(prov["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["role"] != "threshold"));

    let t = tune(&run, &fix, &cpu);

    // evaluate picks the tuned threshold and its TTA, and writes its files.
    let table = tumorseg(
        &[
            &[
                "evaluate",
                &run_s,
                &fix,
                "--out",
                tmp.path().join("ev").to_str().unwrap(),
            ][..],
            &cpu,
        ]
        .concat(),
    );
    assert!(table.contains("| Dice |"), "{table}");
    assert!(table.contains("(tuned on valid)"), "{table}");
    assert!(!table.contains("optimistic"), "{table}");
    let report = json(&tmp.path().join("ev/report.json"));
    assert_eq!(report["threshold_source"], "tuned");
    assert_eq!(report["tuned_on"], "valid");
    assert_eq!(report["tta"], "flips");
    assert!((report["threshold"].as_f64().unwrap() - t).abs() < 1e-6);
    assert_eq!(report["split"], "test");
    assert_eq!(report["n_images"], 8);
    let prov = &report["provenance"];
    assert_eq!(
        common::input(prov, "threshold")["sha256"],
        common::sha256(&run.join("threshold.json"))
    );
    let test_images = common::input(prov, "test images");
    assert_eq!(test_images["files"], 8);

    // Scoring the split the threshold was tuned on is flagged, on stderr and in the report.
    let valid_out = tmp.path().join("ev-valid");
    let o = common::run_ok(
        common::bin()
            .args(["evaluate", &run_s, &fix, "--split", "valid", "--out"])
            .arg(&valid_out)
            .args(cpu),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("tuned on `valid`, the split being scored"),
        "{stderr}"
    );
    // The TTA comes from threshold.json, and on the CPU its cost is named.
    assert!(
        stderr.contains("flips test-time augmentation (threshold.json was tuned with it) runs 3 passes per image; on the CPU `--tta none` is 3x faster"),
        "{stderr}"
    );
    let md = std::fs::read_to_string(valid_out.join("report.md")).unwrap();
    assert!(
        md.contains("tuned on this split: these scores are optimistic"),
        "{md}"
    );

    // predict on the test images (the tuned TTA too), then score the written masks: same numbers
    // as evaluate.
    let pred = tmp.path().join("pred");
    tumorseg(
        &[
            &[
                "predict",
                &run_s,
                &format!("{fix}/test"),
                "--out",
                pred.to_str().unwrap(),
            ][..],
            &cpu,
        ]
        .concat(),
    );
    // predict's provenance: the same checkpoint and threshold, and the same 8 images (read in another
    // order: a folder listing, not the COCO file's) give the same digest.
    let prov = json(&pred.join("provenance.json"));
    let prov = &prov[0];
    assert_eq!(prov["command"][1], "predict");
    assert_eq!(
        common::input(prov, "model")["sha256"],
        common::sha256(&checkpoint)
    );
    assert_eq!(
        common::input(prov, "threshold")["sha256"],
        common::input(&report["provenance"], "threshold")["sha256"]
    );
    assert_eq!(
        common::input(prov, "images")["sha256"],
        test_images["sha256"]
    );
    let masks = tumorseg(&[
        "evaluate",
        "--pred-masks",
        pred.join("masks").to_str().unwrap(),
        &fix,
        "--split",
        "test",
        "--out",
        tmp.path().join("ev2").to_str().unwrap(),
    ]);
    assert!(masks.contains("| Dice |"));
    let report2 = json(&tmp.path().join("ev2/report.json"));
    for agg in ["mean", "global"] {
        for k in ["dice", "iou", "precision", "recall", "f1", "accuracy"] {
            let (a, b) = (
                report[agg][k].as_f64().unwrap(),
                report2[agg][k].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() < 1e-12,
                "{agg}.{k}: evaluate {a} vs predict+--pred-masks {b}"
            );
        }
    }
    results_add_up_to_the_masks(&pred);
}

/// tune-threshold (flips TTA) on the valid split; the threshold it chose.
fn tune(run: &std::path::Path, fix: &str, cpu: &[&str]) -> f64 {
    let run_s = run.to_str().unwrap();
    let out = tumorseg(
        &[
            &[
                "tune-threshold",
                run_s,
                fix,
                "--threshold-grid",
                "0.3:0.7:0.1",
                "--tta",
                "flips",
            ][..],
            cpu,
        ]
        .concat(),
    );
    assert!(out.contains("<- best"), "{out}");
    let tuned = json(&run.join("threshold.json"));
    assert_eq!(tuned["curve"].as_array().unwrap().len(), 5);
    assert!(run.join("threshold.png").is_file());
    let t = tuned["threshold"].as_f64().unwrap();
    let best = tuned["curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["mean_dice"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(tuned["mean_dice"].as_f64().unwrap(), best);
    assert_eq!(tuned["tta"], "flips");
    // The threshold was tuned on the model and the valid split only.
    let roles: Vec<&str> = tuned["provenance"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["model", "valid annotations", "valid images"]);
    t
}

/// predict's COCO results (one entry per region, an RLE of the 640×640 image, area = mask pixels) and predictions.csv (one row per image) add up to its masks.
fn results_add_up_to_the_masks(pred: &std::path::Path) {
    let results = json(&pred.join("results.json"));
    let entries = results.as_array().unwrap();
    let total_area: f64 = entries.iter().map(|e| e["area"].as_f64().unwrap()).sum();
    let mask_pixels: u64 = std::fs::read_dir(pred.join("masks"))
        .unwrap()
        .map(|e| {
            image::open(e.unwrap().path())
                .unwrap()
                .to_luma8()
                .iter()
                .filter(|&&v| v != 0)
                .count() as u64
        })
        .sum();
    assert_eq!(total_area as u64, mask_pixels);
    // predictions.csv: one line per image; its pixels and regions add up to the masks' and results'.
    let mut csv = csv::Reader::from_path(pred.join("predictions.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8);
    let col = |r: &csv::StringRecord, k: usize| r[k].parse::<f64>().unwrap();
    assert_eq!(
        rows.iter().map(|r| col(r, 4)).sum::<f64>() as u64,
        mask_pixels
    );
    assert_eq!(
        rows.iter().map(|r| col(r, 6)).sum::<f64>() as usize,
        entries.len()
    );
    for r in &rows {
        assert_eq!(&r[3], if col(r, 4) > 0.0 { "true" } else { "false" });
        assert!(
            (col(r, 5) - 100.0 * col(r, 4) / 640.0 / 640.0).abs() < 1e-4,
            "{r:?}"
        );
        assert!((0.0..=1.0).contains(&col(r, 7)));
    }
    for e in entries {
        assert_eq!(e["category_id"], 1);
        assert_eq!(e["segmentation"]["size"], serde_json::json!([640, 640]));
        assert!(e["segmentation"]["counts"].is_string());
        assert!(e["file_name"].as_str().unwrap().ends_with(".jpg"));
    }
}

#[test]
fn a_run_without_best_model_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = fake_run(dir.path());
    std::fs::remove_file(run.join(tumorseg::checkpoint::BEST)).unwrap();
    let o = common::bin()
        .args(["predict", run.to_str().unwrap()])
        .arg(common::fixture().join("test"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains("best_model.safetensors not found")
            && stderr.contains("a training run that has finished an epoch"),
        "{stderr}"
    );
}

#[test]
fn error_chain_leaves_out_repeated_causes() {
    let inner = anyhow::anyhow!("Not enough bytes");
    let e = inner
        .context("Format error decoding Jpeg: Not enough bytes")
        .context("cannot decode a.jpg");
    assert_eq!(
        tumorseg::commands::error_chain(&e),
        "cannot decode a.jpg: Format error decoding Jpeg: Not enough bytes"
    );
    let e = anyhow::anyhow!("no such file").context("cannot open a.png");
    assert_eq!(
        tumorseg::commands::error_chain(&e),
        "cannot open a.png: no such file"
    );
}

#[test]
fn a_path_that_is_not_utf8_is_refused_by_train_and_recorded_by_evaluate() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let odd = |name: &[u8]| tmp.path().join(std::ffi::OsStr::from_bytes(name));
    // config.toml could not record it: refused by its flag, before anything is made.
    let out = odd(b"run\xff");
    let o = common::bin()
        .args([
            "train",
            common::fixture().to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--out") && stderr.contains("not valid UTF-8"),
        "{stderr}"
    );
    assert!(!out.exists());
    // evaluate's provenance records the command line as well as it can (it panicked before).
    let run = fake_run(&tmp.path().join("run"));
    let data = odd(b"data\xfe");
    common::copy_fixture_split(&data, "test");
    let report = tmp.path().join("ev");
    common::run_ok(
        common::bin()
            .arg("evaluate")
            .arg(&run)
            .arg(&data)
            .args(["--device", "cpu", "--out"])
            .arg(&report),
    );
    let command = json(&report.join("report.json"))["provenance"]["command"].clone();
    assert!(
        command[3].as_str().unwrap().ends_with("data\u{fffd}"),
        "{command}"
    );
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = tumorseg(&["--version"]);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(common::root())
        .output()
        .unwrap();
    if head.status.success() {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(
            out.starts_with(&format!(
                "tumorseg {} (commit {head}",
                env!("CARGO_PKG_VERSION")
            )),
            "{out}"
        );
    } else {
        assert!(out.contains("(no git checkout)"), "{out}");
    }
}

/// A threshold tuned for a model does not decide for another one trained into the same directory
/// since: it is ignored with a warning, and 0.5 decides until the run is tuned again.
#[test]
fn a_threshold_tuned_for_other_weights_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let fix = common::fixture();
    let cpu = ["--device", "cpu", "--batch", "4"];
    let mut tune = common::bin();
    tune.arg("tune-threshold").arg(&run).arg(&fix);
    common::run_ok(tune.args(["--threshold-grid", "0.3,0.4"]).args(cpu));
    let evaluate = || {
        let mut cmd = common::bin();
        cmd.arg("evaluate").arg(&run).arg(&fix).args(cpu);
        let out = common::run_ok(&mut cmd);
        let report = json(&run.join("report.json"));
        (String::from_utf8_lossy(&out.stderr).into_owned(), report)
    };
    let (stderr, report) = evaluate();
    assert_eq!(report["threshold_source"], "tuned", "{stderr}");
    // Another model's weights in its place, as a second `train --out` leaves them.
    let other = common::fake_run_with(&tmp.path().join("other"), 8, 64);
    let best = tumorseg::checkpoint::BEST;
    std::fs::copy(other.join(best), run.join(best)).unwrap();
    let (stderr, report) = evaluate();
    assert_eq!(report["threshold_source"], "default");
    assert_eq!(
        stderr.matches("was tuned for other weights").count(),
        1,
        "{stderr}"
    );
    // The file is there, only not used: not "has no threshold.json".
    assert!(
        stderr.contains("using the threshold 0.5 instead") && !stderr.contains("has no"),
        "{stderr}"
    );
}
