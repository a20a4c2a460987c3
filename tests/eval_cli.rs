//! The inference commands on an untrained U-Net++ saved into a fake run directory (size 64, CPU):
//! tune-threshold, evaluate, predict and visualize agree with each other, and their errors name what
//! is wrong.
mod common;

use common::{fake_run, gradient};
use image::RgbImage;
use std::path::Path;

fn tumorseg(args: &[&str]) -> String {
    let o = common::run_ok(common::bin().args(args));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

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

    let out = tumorseg(
        &[
            &[
                "tune-threshold",
                &run_s,
                &fix,
                "--threshold-grid",
                "0.3:0.7:0.1",
                "--tta",
                "flips",
            ][..],
            &cpu,
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
    // COCO results: one entry per component, polygons inside the 640×640 images, area = mask pixels.
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
        assert_eq!(e["category_id"], 0);
        let poly = e["segmentation"][0].as_array().unwrap();
        assert!(poly.len() >= 6 && poly.len().is_multiple_of(2));
        assert!(poly
            .iter()
            .all(|v| (0.0..=640.0).contains(&v.as_f64().unwrap())));
        assert!(e["file_name"].as_str().unwrap().ends_with(".jpg"));
    }
}

#[test]
fn predict_writes_masks_at_any_input_size() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    gradient(150, 90).save(dir.join("wide.png")).unwrap();
    image::DynamicImage::ImageLuma8(gradient(40, 120))
        .to_rgb8()
        .save(dir.join("tall.jpg"))
        .unwrap();
    let single = tmp.path().join("single.png");
    gradient(77, 77).save(&single).unwrap();
    // A 12-bit MRI export as a 16-bit TIFF (values 100..=4180) and its 8-bit twin: stretched from its
    // minimum to its maximum, the TIFF is the twin exactly, so their masks must be equal.
    let twin = gradient(96, 96);
    assert_eq!(
        (twin.iter().min(), twin.iter().max()),
        (Some(&0), Some(&255))
    );
    twin.save(dir.join("twin.png")).unwrap();
    image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(96, 96, |x, y| {
        image::Luma([twin.get_pixel(x, y).0[0] as u16 * 16 + 100])
    })
    .save(dir.join("deep.tif"))
    .unwrap();
    image::DynamicImage::ImageLuma8(gradient(50, 30))
        .to_rgb8()
        .save(dir.join("old.bmp"))
        .unwrap();
    // Not images: a note names the text file; the COCO file of a split folder is expected.
    std::fs::write(dir.join("notes.txt"), "x").unwrap();
    std::fs::write(dir.join("_annotations.coco.json"), "{}").unwrap();
    let predict = |out: &Path| {
        common::bin()
            .args([
                "predict",
                run.to_str().unwrap(),
                dir.to_str().unwrap(),
                single.to_str().unwrap(),
            ])
            .args([
                "--out",
                out.to_str().unwrap(),
                "--device",
                "cpu",
                "--threshold",
                "0.5",
            ])
            .output()
            .unwrap()
    };
    let out = tmp.path().join("out");
    let o = predict(&out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("note: 1 file in")
            && stderr.contains("not read")
            && stderr.contains("notes.txt"),
        "{stderr}"
    );
    assert!(!stderr.contains("_annotations"), "{stderr}");
    for (name, size) in [
        ("wide", (150, 90)),
        ("tall", (40, 120)),
        ("single", (77, 77)),
        ("deep", (96, 96)),
        ("twin", (96, 96)),
        ("old", (50, 30)),
    ] {
        let m = image::open(out.join(format!("masks/{name}.png")))
            .unwrap()
            .to_luma8();
        assert_eq!(m.dimensions(), size, "{name}");
        assert!(m.iter().all(|&v| v == 0 || v == 255));
        let o: RgbImage = image::open(out.join(format!("overlays/{name}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(o.dimensions(), size);
    }
    assert!(json(&out.join("results.json")).is_array());
    let mask = |name: &str| std::fs::read(out.join(format!("masks/{name}.png"))).unwrap();
    assert!(
        mask("deep") == mask("twin"),
        "the 16-bit image was not read as its 8-bit twin"
    );
    let deep = image::open(out.join("masks/deep.png")).unwrap().to_luma8();
    assert!(
        deep.contains(&0) && deep.contains(&255),
        "an all-equal mask would make the comparison above vacuous"
    );
    let o = common::bin()
        .args([
            "predict",
            run.to_str().unwrap(),
            "/nonexistent.png",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("/nonexistent.png"));
    // Into the same folder again: refused, so earlier masks never mix with new ones; with
    // --overwrite, only this prediction's masks are there, and a file of the user's stays.
    std::fs::write(out.join("mine.txt"), "mine").unwrap();
    let again = |extra: &[&str]| {
        let mut cmd = common::bin();
        cmd.arg("predict")
            .arg(&run)
            .arg(&single)
            .arg("--out")
            .arg(&out);
        cmd.args(["--device", "cpu"]).args(extra).output().unwrap()
    };
    let o = again(&[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out.join("masks")).unwrap().count(), 6);
    assert!(again(&["--overwrite"]).status.success());
    let masks: Vec<_> = std::fs::read_dir(out.join("masks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(masks, ["single.png"]);
    assert!(out.join("mine.txt").is_file());

    // An unreadable file is skipped and listed; the others are still written, and the exit status fails.
    std::fs::write(dir.join("broken.jpg"), b"\xff\xd8\xff not a JPEG").unwrap();
    let out2 = tmp.path().join("out2");
    let o = predict(&out2);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        stderr.contains("1 of 7 images could not be read"),
        "{stderr}"
    );
    let listed = std::fs::read_to_string(out2.join("skipped.txt")).unwrap();
    assert_eq!(listed.lines().count(), 1);
    assert!(
        listed.starts_with(&format!("{}\t", dir.join("broken.jpg").display())),
        "{listed}"
    );
    assert!(listed.contains("corrupt or unsupported"), "{listed}");
    for name in ["wide", "tall", "single"] {
        assert!(out2.join(format!("masks/{name}.png")).is_file(), "{name}");
    }
    assert!(!out2.join("masks/broken.png").exists());
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("6 images, "));
    // Nothing read, nothing predicted: only the failure is reported, no line of outputs.
    let o = common::bin()
        .args(["predict", run.to_str().unwrap()])
        .arg(dir.join("broken.jpg"))
        .arg("--out")
        .arg(tmp.path().join("out3"))
        .args(["--device", "cpu"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the image could not be read (listed in"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    // Ids follow the input order (the folder sorted, then single.png): the skipped broken.jpg keeps id 1.
    let results = json(&out2.join("results.json"));
    for r in results.as_array().unwrap() {
        let want = match r["file_name"].as_str().unwrap() {
            "deep.tif" => 2,
            "old.bmp" => 3,
            "tall.jpg" => 4,
            "twin.png" => 5,
            "wide.png" => 6,
            "single.png" => 7,
            other => panic!("unexpected result for {other}"),
        };
        assert_eq!(r["image_id"], want);
    }
    // Once every input reads, a rerun into the same folder (--overwrite) drops the stale list.
    std::fs::remove_file(dir.join("broken.jpg")).unwrap();
    let mut rerun = common::bin();
    rerun
        .arg("predict")
        .arg(&run)
        .arg(&dir)
        .arg(&single)
        .arg("--out")
        .arg(&out2);
    assert!(rerun
        .args(["--device", "cpu", "--overwrite"])
        .status()
        .unwrap()
        .success());
    assert!(!out2.join("skipped.txt").exists());
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
fn visualize_writes_rows_of_four_distinct_panels() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let fix = common::fixture();
    let args = ["--device", "cpu", "--panel", "64", "--threshold", "0.5"];
    let random = [
        &[
            "visualize",
            run.to_str().unwrap(),
            fix.to_str().unwrap(),
            "--n",
            "3",
            "--seed",
            "1",
        ][..],
        &args,
    ]
    .concat();
    let out = tumorseg(&random);
    let files: Vec<&str> = out.lines().collect();
    assert_eq!(files.len(), 4, "stacked figure + 3 rows: {out}");
    let stacked = image::open(run.join("figures/random_test.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(stacked.dimensions(), (4 * 64, 3 * 64));
    for f in &files[1..] {
        let row = image::open(f).unwrap().to_rgb8();
        assert_eq!(row.dimensions(), (256, 64));
        let panel = |i: u32| image::imageops::crop_imm(&row, i * 64, 0, 64, 64).to_image();
        let p: Vec<RgbImage> = (0..4).map(panel).collect();
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(p[i], p[j], "panels {i} and {j} of {f} are identical");
            }
        }
        // Truth panel: binary white-on-black with some tumour; overlay: green truth outline present.
        assert!(p[1]
            .pixels()
            .all(|px| px.0 == [0, 0, 0] || px.0 == [255, 255, 255]));
        assert!(p[1].pixels().any(|px| px.0 == [255, 255, 255]));
        let outline = |c: [u8; 3]| p[3].pixels().any(|px| px.0 == c);
        assert!(outline(tumorseg::visualize::TRUTH.0) || outline(tumorseg::visualize::BOTH.0));
        // The Dice label's white text on its black box, top-left of the overlay.
        assert_eq!(p[3].get_pixel(3, 3).0, [0, 0, 0]);
    }
    // Same seed, same choice; worst mode writes its own figure.
    let again = tumorseg(&random);
    assert_eq!(again, out);
    tumorseg(
        &[
            &[
                "visualize",
                run.to_str().unwrap(),
                fix.to_str().unwrap(),
                "--worst",
                "2",
            ][..],
            &args,
        ]
        .concat(),
    );
    assert_eq!(
        image::open(run.join("figures/worst_test.png"))
            .unwrap()
            .to_rgb8()
            .dimensions(),
        (256, 128)
    );
    // One random sample now: the earlier random rows go, the worst ones stay; none is refused.
    let one = [&random[..4], &["1"], &args].concat();
    tumorseg(&one);
    let rows = |mode: &str| {
        std::fs::read_dir(run.join("figures"))
            .unwrap()
            .filter(|e| (e.as_ref().unwrap().file_name().to_string_lossy()).starts_with(mode))
            .count()
    };
    assert_eq!((rows("random_test_"), rows("worst_test_")), (1, 2));
    // Another split's figures go beside these: the test split's stay as they were.
    let test_figure = std::fs::read(run.join("figures/random_test.png")).unwrap();
    tumorseg(&[&one[..], &["--split", "valid"]].concat());
    assert!(run.join("figures/random_valid.png").is_file());
    assert_eq!(
        std::fs::read(run.join("figures/random_test.png")).unwrap(),
        test_figure
    );
    assert_eq!((rows("random_test_"), rows("random_valid_")), (1, 1));
    let none = [&random[..4], &["0"], &args].concat();
    let o = common::bin().args(&none).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("at least 1"),
        "{stderr}"
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
}
