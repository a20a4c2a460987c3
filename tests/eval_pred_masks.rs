//! `tumorseg evaluate --pred-masks`: ground-truth masks score 1.0, an all-empty folder scores the
//! documented convention values, masks cut in half score the hand-computed Dice (and `compare` tells
//! them from the truth), a missing or truncated file is a clear error naming it, as are two images
//! of one stem (case aside), and the scores without near-identical images follow clean_report.json.
//! Boundary distances are tested in eval_pred_masks_surface.rs.
mod common;

use common::pred_masks::{evaluate_in, refused_in, samples, truth_255, write_masks};
use image::{GrayImage, Luma};
use std::path::Path;
use tumorseg::dataset::{load_split, Sample, SplitOptions};

fn evaluate(pred: &Path, split: &str, out: &Path) -> serde_json::Value {
    evaluate_in(&common::fixture(), pred, split, out).0
}

/// The stderr of `evaluate --pred-masks` on the fixture's test split, which must fail.
fn refused(pred: &Path, out: &Path) -> String {
    refused_in(&common::fixture(), pred, "test", out)
}

fn metric(r: &serde_json::Value, agg: &str, name: &str) -> f64 {
    r[agg][name]
        .as_f64()
        .unwrap_or_else(|| panic!("report.json lacks {agg}.{name}: {r}"))
}

const NAMES: [&str; 6] = ["dice", "iou", "precision", "recall", "f1", "accuracy"];

#[test]
fn ground_truth_masks_score_one() {
    let tmp = tempfile::tempdir().unwrap();
    let test = samples("test");
    write_masks(&tmp.path().join("pred"), &test, truth_255);
    let r = evaluate(&tmp.path().join("pred"), "test", &tmp.path().join("out"));
    // The fixture has no clean_report.json: no subset scores.
    assert!(r.get("independent").is_none(), "{r}");
    assert_eq!(r["split"], "test");
    assert_eq!(r["n_images"], test.len());
    for agg in ["mean", "global"] {
        for name in NAMES {
            assert_eq!(metric(&r, agg, name), 1.0, "{agg}.{name}");
        }
    }
    // Provenance: the masks scored and the truth they were scored against, by hash.
    let masks = common::input(&r["provenance"], "predicted masks");
    assert_eq!(masks["files"], test.len());
    let ann = common::fixture().join("test/_annotations.coco.json");
    assert_eq!(
        common::input(&r["provenance"], "test annotations")["sha256"],
        common::sha256(&ann)
    );
    let csv = std::fs::read_to_string(tmp.path().join("out/per_image.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        test.len() + 1,
        "header + one row per image"
    );
    let md = std::fs::read_to_string(tmp.path().join("out/report.md")).unwrap();
    assert!(md.contains("| Dice | 1.0000 | 1.0000 |"), "{md}");
    // Binary masks were given: no threshold decided them.
    assert!(
        md.contains(&format!(
            "{} images, masks given (no threshold)",
            test.len()
        )),
        "{md}"
    );
    // Perfect on every image: nothing for a resample to move.
    assert!(
        md.contains("mean Dice 1.0000–1.0000, global Dice 1.0000–1.0000"),
        "{md}"
    );
}

#[test]
fn empty_masks_score_the_documented_convention() {
    // train has one image without annotations: empty/empty scores 1, the others 0.
    let tmp = tempfile::tempdir().unwrap();
    let train = samples("train");
    write_masks(&tmp.path().join("pred"), &train, |s| {
        GrayImage::new(s.width, s.height)
    });
    let r = evaluate(&tmp.path().join("pred"), "train", &tmp.path().join("out"));
    let masks: Vec<GrayImage> = train.iter().map(Sample::mask).collect();
    let positives: Vec<u64> = masks
        .iter()
        .map(|m| m.iter().filter(|&&v| v != 0).count() as u64)
        .collect();
    let n = train.len() as f64;
    let n_empty = positives.iter().filter(|&&p| p == 0).count() as f64;
    assert!(
        n_empty >= 1.0,
        "the fixture's train split has an unannotated image"
    );
    for name in ["dice", "iou", "precision", "recall", "f1"] {
        assert!(
            (metric(&r, "mean", name) - n_empty / n).abs() < 1e-12,
            "mean.{name}"
        );
        assert_eq!(metric(&r, "global", name), 0.0, "global.{name}");
    }
    // Accuracy: the fraction of background pixels, per image then pooled.
    let acc_mean = masks
        .iter()
        .zip(&positives)
        .map(|(m, &p)| 1.0 - p as f64 / m.len() as f64)
        .sum::<f64>()
        / n;
    let total: u64 = masks.iter().map(|m| m.len() as u64).sum();
    let acc_global = 1.0 - positives.iter().sum::<u64>() as f64 / total as f64;
    assert!((metric(&r, "mean", "accuracy") - acc_mean).abs() < 1e-12);
    assert!((metric(&r, "global", "accuracy") - acc_global).abs() < 1e-12);
    assert_eq!(r["n_empty_truth"], 1);
}

#[test]
fn half_the_masks_shifted_give_hand_computed_dice() {
    // Every prediction = truth with its right half erased: Dice per image = 2|A∩B|/(|A|+|B|).
    let tmp = tempfile::tempdir().unwrap();
    let test = samples("test");
    let cut = |s: &Sample| {
        let m = s.mask();
        GrayImage::from_fn(m.width(), m.height(), |x, y| {
            Luma([if x < m.width() / 2 {
                m.get_pixel(x, y)[0] * 255
            } else {
                0
            }])
        })
    };
    write_masks(&tmp.path().join("pred"), &test, cut);
    let r = evaluate(&tmp.path().join("pred"), "test", &tmp.path().join("out"));
    let want: f64 = test
        .iter()
        .map(|s| {
            let (t, p) = (s.mask(), cut(s));
            let a = t.iter().filter(|&&v| v != 0).count() as f64;
            let b = p.iter().filter(|&&v| v != 0).count() as f64;
            if a + b == 0.0 {
                1.0
            } else {
                2.0 * b / (a + b) // the prediction is a subset of the truth
            }
        })
        .sum::<f64>()
        / test.len() as f64;
    assert!(
        (metric(&r, "mean", "dice") - want).abs() < 1e-9,
        "{} vs {want}",
        metric(&r, "mean", "dice")
    );
    // A non-empty subset of the truth is perfectly precise; an empty prediction of a tumour scores 0.
    let want_p = test
        .iter()
        .map(|s| f64::from(cut(s).iter().any(|&v| v != 0)))
        .sum::<f64>()
        / test.len() as f64;
    assert!(want_p < 1.0, "some tumour lies entirely in the right half");
    assert!((metric(&r, "mean", "precision") - want_p).abs() < 1e-12);
    // The 95 % interval holds the estimate, strictly: the per-image Dice values differ.
    let ci = &r["ci95"];
    assert_eq!(ci["resamples"], 2000);
    let (lo, hi) = (
        ci["mean_low"]["dice"].as_f64().unwrap(),
        ci["mean_high"]["dice"].as_f64().unwrap(),
    );
    assert!(lo < want && want < hi, "{lo} < {want} < {hi}");
    let md = std::fs::read_to_string(tmp.path().join("out/report.md")).unwrap();
    assert!(md.contains(&format!("mean Dice {lo:.4}–{hi:.4}")), "{md}");
    // A tumour lying wholly in the erased half is missed outright; the breakdown counts exactly those.
    let has = |m: &GrayImage| m.iter().any(|&v| v != 0);
    let missed = test
        .iter()
        .filter(|s| has(&s.mask()) && !has(&cut(s)))
        .count();
    let b = &r["breakdown"];
    assert!(missed > 0);
    assert_eq!(b["missed"], missed);
    assert_eq!(
        b["with_tumour"],
        test.iter().filter(|s| has(&s.mask())).count()
    );
    assert!(
        md.contains(&format!(
            "Tumours missed outright (no predicted pixel on them): {missed} of"
        )),
        "{md}"
    );

    // `compare` against the truth's own masks: B − A is exactly what the cut lost, on every image
    // the cut changed, and the paired interval lies above 0.
    write_masks(&tmp.path().join("truth"), &test, truth_255);
    evaluate(
        &tmp.path().join("truth"),
        "test",
        &tmp.path().join("out-truth"),
    );
    let json = tmp.path().join("cmp.json");
    let o = common::run_ok(
        common::bin()
            .arg("compare")
            .args([tmp.path().join("out"), tmp.path().join("out-truth")])
            .arg("--json")
            .arg(&json),
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("B's mean Dice is higher than A's"), "{text}");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("warning"));
    // A --json that cannot be written is refused before the table, not after it.
    let o = common::bin()
        .arg("compare")
        .args([tmp.path().join("out"), tmp.path().join("out-truth")])
        .arg("--json")
        .arg(tmp.path().join("missing/cmp.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && o.stdout.is_empty(), "{stderr}");
    let why = format!(
        "the folder {} does not exist",
        tmp.path().join("missing").display()
    );
    assert!(
        stderr.contains("--json: cannot write") && stderr.contains(&why),
        "{stderr}"
    );
    // Scored against another annotation file (as report.json's provenance says): a warning.
    let b_report = tmp.path().join("out-truth/report.json");
    let mut r2 = common::json(&b_report);
    for input in r2["provenance"]["inputs"].as_array_mut().unwrap() {
        if input["role"] == "test annotations" {
            input["sha256"] = "0".repeat(64).into();
        }
    }
    std::fs::write(&b_report, r2.to_string()).unwrap();
    let o = common::run_ok(
        common::bin()
            .arg("compare")
            .args([tmp.path().join("out"), tmp.path().join("out-truth")]),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("scored against different annotation files"),
        "{stderr}"
    );
    let c = common::json(&json);
    let diff = c["b_mean"]["dice"].as_f64().unwrap() - c["a_mean"]["dice"].as_f64().unwrap();
    assert!(
        (diff - (1.0 - want)).abs() < 1e-12,
        "{diff} vs {}",
        1.0 - want
    );
    let changed = test.iter().filter(|s| cut(s) != truth_255(s)).count();
    assert_eq!(
        (c["b_better"].as_u64(), c["b_worse"].as_u64()),
        (Some(changed as u64), Some(0))
    );
    assert!(
        c["difference_ci95"]["mean_low"]["dice"].as_f64().unwrap() > 0.0,
        "{c}"
    );
}

#[test]
fn missing_prediction_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let test = samples("test");
    write_masks(&tmp.path().join("pred"), &test[1..], |s| {
        GrayImage::new(s.width, s.height)
    });
    let err = refused(&tmp.path().join("pred"), &tmp.path().join("out"));
    assert!(
        err.contains(&format!("{}.png", test[0].stem)) && err.contains("missing prediction"),
        "{err}"
    );
}

#[test]
fn two_images_of_one_stem_even_in_another_case_are_refused_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    for (first, second, png) in common::tiny_coco::clashing("jpg", "png", "png") {
        let root = tmp.path().join(format!("root-{first}"));
        let split = root.join("test");
        common::tiny_coco::split_named(&split, &[&first, &second, "b.png"]);
        // Every image has its prediction: which one `a.png` is for cannot be told.
        let pred = root.join("pred");
        let samples = load_split(&root, "test", &SplitOptions::default()).unwrap();
        write_masks(&pred, &samples, truth_255);
        let out = root.join("out");
        let err = refused_in(&root, &pred, "test", &out);
        let both = format!(
            "image id 1 ({}) and image id 2 ({}) would both be scored against {png}",
            split.join(&first).display(),
            split.join(&second).display()
        );
        assert!(err.contains(&both), "{err}");
        assert!(!out.join("report.json").exists(), "nothing scored");
    }
}

#[test]
fn a_truncated_prediction_is_refused_as_a_truncated_image_is() {
    let tmp = tempfile::tempdir().unwrap();
    let test = samples("test");
    let pred = tmp.path().join("pred");
    write_masks(&pred, &test, truth_255);
    // Cut inside the end chunk: the PNG decoder alone would still read it.
    let cut = pred.join(format!("{}.png", test[0].stem));
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 1]).unwrap();
    let err = refused(&pred, &tmp.path().join("out"));
    let why = format!(
        "{} is truncated: the PNG data ends before its IEND chunk",
        cut.display()
    );
    assert!(err.contains(&why), "{err}");
}

#[test]
fn scores_without_identical_or_near_identical_images_follow_clean_report() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("test")).unwrap();
    for e in std::fs::read_dir(common::fixture().join("test")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), root.join("test").join(e.file_name())).unwrap();
    }
    // Every mask right but two, left empty: clean found one near-identical to a train image, the
    // other a byte-identical copy of one (leaked).
    let test = samples("test");
    let (odd, copy) = (&test[2], &test[4]);
    write_masks(&tmp.path().join("pred"), &test, |s| {
        if s.stem == odd.stem || s.stem == copy.stem {
            GrayImage::new(s.width, s.height)
        } else {
            truth_255(s)
        }
    });
    let name =
        |s: &tumorseg::dataset::Sample| s.path.file_name().unwrap().to_str().unwrap().to_string();
    let clean_report = serde_json::json!({"test": {
        "similar": 1, "similar_files": [[name(odd), "train/x.jpg", 0.98]],
        "leaked": 1, "leaked_files": [[name(copy), "train/y.jpg"]],
    }});
    std::fs::write(root.join("clean_report.json"), clean_report.to_string()).unwrap();
    let (r, stdout) = evaluate_in(
        &root,
        &tmp.path().join("pred"),
        "test",
        &tmp.path().join("out"),
    );
    let n = test.len() as f64;
    assert!(
        (metric(&r, "mean", "dice") - (n - 2.0) / n).abs() < 1e-9,
        "{r}"
    );
    assert_eq!(r["independent"]["n_images"], test.len() - 2);
    assert_eq!(r["independent"]["mean"]["dice"], 1.0);
    assert_eq!(r["independent"]["global"]["dice"], 1.0);
    // The missed images widen the split's interval; the rest's is a point.
    assert!(r["ci95"]["mean_low"]["dice"].as_f64().unwrap() < 0.875);
    assert_eq!(r["independent"]["ci95"]["mean_low"]["dice"], 1.0);
    let line = format!("Without the 2 images that have an identical or near-identical image (a copy, or a neighbouring slice) in another split (`tumorseg clean`'s `leaked` and `similar`): {} images, mean Dice 1.0000 (95 % interval 1.0000–1.0000), global Dice 1.0000.", test.len() - 2);
    assert!(stdout.contains(&line), "{stdout}");
    let md = std::fs::read_to_string(tmp.path().join("out/report.md")).unwrap();
    assert!(md.contains(&line), "{md}");
}
