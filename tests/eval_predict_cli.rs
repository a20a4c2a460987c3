//! `predict` on an untrained U-Net++ saved into a fake run directory (size 64, CPU): masks at any
//! input size and depth, overlays, results.json, skipped inputs and reruns.
mod common;

use common::{fake_run, gradient, json};
use image::RgbImage;
use std::path::{Path, PathBuf};

#[test]
fn predict_writes_masks_at_any_input_size() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let (dir, single) = varied_inputs(tmp.path());
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
    masks_have_their_images_sizes(&out);
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
    rerun_into_the_same_folder(&run, &single, &out);

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
    // Nothing read, nothing predicted: only the failure is reported, no line of outputs, and
    // nothing is written; with --overwrite, the earlier predictions stay.
    let none_read = |out: &Path, extra: &[&str]| {
        let o = common::bin()
            .args(["predict", run.to_str().unwrap()])
            .arg(dir.join("broken.jpg"))
            .arg("--out")
            .arg(out)
            .args(["--device", "cpu"])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        let want = format!(
            "the image could not be read: nothing was written to {}",
            out.display()
        );
        assert!(stderr.contains(&want), "{stderr}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    };
    let out3 = tmp.path().join("out3");
    none_read(&out3, &[]);
    assert!(!out3.exists());
    let before = std::fs::read(out2.join("results.json")).unwrap();
    none_read(&out2, &["--overwrite"]);
    assert_eq!(std::fs::read(out2.join("results.json")).unwrap(), before);
    assert!(out2.join("masks/wide.png").is_file() && out2.join("skipped.txt").is_file());
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

/// Images of several sizes, depths and formats in `<tmp>/in` (with a text file and a COCO file
/// beside them), and one more image on its own.
fn varied_inputs(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = tmp.join("in");
    std::fs::create_dir_all(&dir).unwrap();
    gradient(150, 90).save(dir.join("wide.png")).unwrap();
    image::DynamicImage::ImageLuma8(gradient(40, 120))
        .to_rgb8()
        .save(dir.join("tall.jpg"))
        .unwrap();
    let single = tmp.join("single.png");
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
    (dir, single)
}

/// One 0/255 mask and one overlay per image, at the image's size; the 16-bit TIFF's mask is its
/// 8-bit twin's.
fn masks_have_their_images_sizes(out: &Path) {
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
}

/// Into the same folder again: refused, so earlier masks never mix with new ones; with
/// --overwrite, only this prediction's masks are there, and a file of the user's stays.
fn rerun_into_the_same_folder(run: &Path, single: &Path, out: &Path) {
    std::fs::write(out.join("mine.txt"), "mine").unwrap();
    let again = |extra: &[&str]| {
        let mut cmd = common::bin();
        cmd.arg("predict")
            .arg(run)
            .arg(single)
            .arg("--out")
            .arg(out);
        cmd.args(["--device", "cpu"]).args(extra).output().unwrap()
    };
    let o = again(&[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out.join("masks")).unwrap().count(), 6);
    // A mistyped run with --overwrite replaces nothing.
    let o = common::bin()
        .arg("predict")
        .arg(run.join("no-such-run"))
        .arg(single)
        .arg("--out")
        .arg(out)
        .args(["--device", "cpu", "--overwrite"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(std::fs::read_dir(out.join("masks")).unwrap().count(), 6);
    assert!(again(&["--overwrite"]).status.success());
    let masks: Vec<_> = std::fs::read_dir(out.join("masks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(masks, ["single.png"]);
    assert!(out.join("mine.txt").is_file());
}

/// results.json held polygons, holes filled (a region's area was its pixels', its polygon up to 24 %
/// larger), counted 4-connected where --postprocess largest keeps one 8-connected region, under
/// category 0: now each 8-connected region's exact pixels, which pycocotools decodes back to it.
#[test]
fn results_are_each_regions_exact_pixels_as_pycocotools_decodes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let out = tmp.path().join("out");
    let mut cmd = common::bin();
    cmd.arg("predict")
        .arg(&run)
        .arg(common::fixture().join("test"));
    cmd.arg("--out")
        .arg(&out)
        .args(["--device", "cpu", "--threshold", "0.5"]);
    common::run_ok(&mut cmd);
    let said = common::run_py("predict_coco_check.py", &[out.to_str().unwrap()]);
    let checked: serde_json::Value = serde_json::from_str(said.lines().last().unwrap()).unwrap();
    let rows = common::predictions(&out);
    let regions: u64 = rows
        .iter()
        .map(|r| r["regions"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(checked["images"], rows.len());
    assert_eq!(checked["regions"], regions);
    // Not vacuous: images with several regions, regions with holes that a polygon would fill.
    assert!(
        regions > rows.len() as u64 && checked["holed"].as_u64() > Some(0),
        "{checked}"
    );
}

/// Given --threshold and --postprocess, predict takes nothing of threshold.json's decision: one
/// tuned for other weights was still warned of ("it is ignored"), which then meant nothing.
#[test]
fn a_stale_threshold_file_is_not_warned_of_when_the_decision_is_given() {
    use tumorseg::provenance::{Digest, Provenance};
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let other = Digest {
        role: "model".into(),
        path: "another model".into(),
        files: 1,
        bytes: 1,
        sha256: "0".repeat(64),
    };
    tumorseg::threshold::ThresholdFile {
        threshold: 0.4,
        postprocess: tumorseg::postprocess::Postprocess::None,
        mean_dice: 0.5,
        split: "valid".into(),
        n_images: 1,
        tta: tumorseg::predict::Tta::None,
        curve: Vec::new(),
        candidates: Vec::new(),
        size: None,
        provenance: Some(Provenance::now(tch::Device::Cpu, vec![other])),
    }
    .save(&run)
    .unwrap();
    let image = tmp.path().join("a.png");
    gradient(40, 40).save(&image).unwrap();
    let stderr = |out: &str, decision: &[&str]| {
        let mut cmd = common::bin();
        cmd.arg("predict")
            .arg(&run)
            .arg(&image)
            .arg("--out")
            .arg(tmp.path().join(out));
        let o = common::run_ok(cmd.args(["--device", "cpu"]).args(decision));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let stale = "was tuned for other weights";
    let threshold = stderr("threshold", &["--threshold", "0.5"]);
    assert!(threshold.contains(stale), "{threshold}");
    let both = stderr("both", &["--threshold", "0.5", "--postprocess", "none"]);
    assert!(!both.contains(stale), "{both}");
}

/// `tune-threshold --size 96` records the size in threshold.json; without --size, inference then
/// runs at it, as at its TTA, with a note that it is not the training size (64), and a --size other
/// than it gets a note that the threshold was tuned at another. A file from before the size was
/// recorded was tuned at the training size.
#[test]
fn inference_runs_at_the_size_the_threshold_was_tuned_at() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(&tmp.path().join("run"));
    common::run_ok(
        common::bin()
            .arg("tune-threshold")
            .args([&run, &common::fixture()])
            .args(["--size", "96", "--threshold-grid", "0.5"])
            .args(["--postprocess", "none", "--device", "cpu"]),
    );
    let file = run.join("threshold.json");
    assert_eq!(json(&file)["size"], 96);
    let size = |size: Option<u32>| {
        let args = tumorseg::predict::InferenceArgs {
            device: "cpu".into(),
            precision: tumorseg::device::Precision::Auto,
            batch: 1,
            size,
            tta: None,
            layout: tumorseg::device::Layout::Auto,
        };
        let run = tumorseg::predict::open_run(&run, &args).unwrap();
        run.inference.size
    };
    assert_eq!((size(None), size(Some(64))), (96, 64));
    let png = tmp.path().join("slice.png");
    gradient(80, 80).save(&png).unwrap();
    let predict = |out: &str, extra: &[&str]| {
        let o = common::run_ok(
            common::bin()
                .arg("predict")
                .args([&run, &png])
                .arg("--out")
                .arg(tmp.path().join(out))
                .args(["--device", "cpu"])
                .args(extra),
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let stderr = predict("tuned", &[]);
    let note = "note: predicting at 96 px, the size threshold.json was tuned at, not at the \
                training size 64 (--size 64 predicts at that one)";
    assert!(stderr.contains(note), "{stderr}");
    let stderr = predict("other", &["--size", "64"]);
    let note = "note: threshold.json was tuned at 96 px, not at --size 64: its threshold 0.50 may \
                not suit this size's probabilities (`tune-threshold --size 64` tunes one that does)";
    assert!(stderr.contains(note), "{stderr}");
    let mut old = json(&file);
    old.as_object_mut().unwrap().remove("size");
    std::fs::write(&file, old.to_string()).unwrap();
    assert_eq!(size(None), 64);
}
