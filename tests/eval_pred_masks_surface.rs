//! `tumorseg evaluate --pred-masks`'s boundary distances: HD95 and ASSD image by image and their
//! mean are MONAI's (tests/py/surface_ref.py), in pixels, or in mm where the split gives every
//! image's pixel spacing. And the masks' sizes: one of its image's shape at another size is resized,
//! one of another shape refused.
mod common;

use common::pred_masks::{evaluate_in, samples, truth_255, write_masks};
use image::imageops::FilterType::Nearest;
use image::{GrayImage, Luma};
use std::path::Path;
use tumorseg::dataset::Sample;

/// The truth moved 7 pixels right and 3 down, with a 15 × 15 blob 40 pixels to the left of each
/// tumour's box on every other image: HD95 and ASSD must be MONAI's, image by image.
#[test]
fn boundary_distances_are_monais() {
    let tmp = tempfile::tempdir().unwrap();
    let test = samples("test");
    let moved = |s: &Sample| {
        let m = s.mask();
        let (w, h) = m.dimensions();
        let mut out = GrayImage::from_fn(w, h, |x, y| {
            let on = x >= 7 && y >= 3 && m.get_pixel(x - 7, y - 3)[0] != 0;
            Luma([u8::from(on) * 255])
        });
        let left = (0..w).find(|&x| (0..h).any(|y| m.get_pixel(x, y)[0] != 0));
        if let (Some(left), true) = (left, s.id.is_multiple_of(2)) {
            let x0 = left.saturating_sub(55);
            for (dx, dy) in (0..225).map(|k| (k % 15, k / 15)) {
                out.put_pixel(x0 + dx, h / 2 + dy, Luma([255]));
            }
        }
        out
    };
    let (pred, truth) = (tmp.path().join("pred"), tmp.path().join("truth"));
    write_masks(&pred, &test, moved);
    write_masks(&truth, &test, truth_255);
    check_against_monai(&common::fixture(), &pred, &truth, None);
    // The same split with its pixel spacing (0.7 mm between rows, 0.4 between columns): in mm.
    let root = common::spaced_test_split(tmp.path(), (0.7, 0.4));
    check_against_monai(&root, &pred, &truth, Some((0.7, 0.4)));
    // One image without its spacing: pixels for all, and a note says why.
    let ann = root.join("test/_annotations.coco.json");
    let mut coco: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ann).unwrap()).unwrap();
    let images = coco["images"].as_array_mut().unwrap();
    images[0].as_object_mut().unwrap().remove("pixel_spacing");
    let n = images.len();
    std::fs::write(&ann, coco.to_string()).unwrap();
    let out = tmp.path().join("out-mixed");
    let o = common::run_ok(
        common::bin()
            .args(["evaluate", "--pred-masks"])
            .args([&pred, &root])
            .args(["--split", "test", "--out"])
            .arg(&out),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    let note = format!("note: {} of the {n} images give a pixel_spacing", n - 1);
    assert!(stderr.contains(&note), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["surface"]["unit"], "px");
}

/// Evaluate `pred` on `root`'s test split; HD95 and ASSD must be MONAI's (with `spacing`, in mm),
/// image by image, and the report's mean theirs.
fn check_against_monai(root: &Path, pred: &Path, truth: &Path, spacing: Option<(f64, f64)>) {
    let out = pred.with_file_name(format!("out-{}", spacing.is_some()));
    let (r, stdout) = evaluate_in(root, pred, "test", &out);
    let mut args = vec![
        pred.to_str().unwrap().to_string(),
        truth.to_str().unwrap().to_string(),
    ];
    if let Some((rows, columns)) = spacing {
        args.extend([rows.to_string(), columns.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let monai = common::run_py("surface_ref.py", &args);
    let monai: std::collections::HashMap<String, (f64, f64)> = monai
        .lines()
        .map(|l| {
            let v: Vec<&str> = l.split(' ').collect();
            (
                v[0].to_string(),
                (v[1].parse().unwrap(), v[2].parse().unwrap()),
            )
        })
        .collect();
    let unit = if spacing.is_some() { "mm" } else { "px" };
    let mut rows = csv::Reader::from_path(out.join("per_image.csv")).unwrap();
    let (mut defined, mut hd95) = (0, Vec::new());
    for row in rows.deserialize::<std::collections::HashMap<String, String>>() {
        let row = row.unwrap();
        assert_eq!(row["distance_unit"], unit);
        let (want_hd, want_assd) = monai[&row["stem"]];
        if want_hd.is_nan() {
            assert_eq!((row["hd95"].as_str(), row["assd"].as_str()), ("", ""));
            continue;
        }
        let (got_hd, got_assd): (f64, f64) =
            (row["hd95"].parse().unwrap(), row["assd"].parse().unwrap());
        assert!(
            (got_hd - want_hd).abs() < 1e-3 && (got_assd - want_assd).abs() < 1e-3,
            "{}: ours {got_hd} {got_assd}, MONAI's {want_hd} {want_assd} ({unit})",
            row["stem"]
        );
        defined += 1;
        hd95.push(want_hd);
    }
    let far = if spacing.is_some() { 12.0 } else { 30.0 };
    assert!(defined > 2 && hd95.iter().any(|&d| d > far), "{hd95:?}");
    let s = &r["surface"];
    assert_eq!(
        (&s["n_images"], &s["unit"]),
        (&serde_json::json!(defined), &serde_json::json!(unit))
    );
    // MONAI computes in float32.
    let mean = hd95.iter().sum::<f64>() / hd95.len() as f64;
    let ours = s["hd95_mean"].as_f64().unwrap();
    assert!((ours - mean).abs() < 1e-3, "{ours} vs MONAI's {mean}");
    let words = if spacing.is_some() { "mm" } else { "pixels" };
    assert!(
        stdout.contains(&format!("Boundary distances in {words}"))
            && stdout.contains(&format!("HD95 mean {ours:.2}")),
        "{stdout}"
    );
}

/// A mask of its image's shape at another size (a model's own resolution) is resized to be scored, with
/// a note naming it; one of another shape (640×100 for a 640×640 image) cannot be the image's
/// prediction: refused, naming the file and both sizes.
#[test]
fn only_a_mask_of_its_images_shape_is_resized() {
    let tmp = tempfile::tempdir().unwrap();
    let test = samples("test");
    let (first, pred) = (&test[0], tmp.path().join("pred"));
    let (w, h) = (first.width, first.height);
    let at = |mw: u32, mh: u32| {
        let first = first.stem.clone();
        move |s: &Sample| match s.stem == first {
            true => image::imageops::resize(&truth_255(s), mw, mh, Nearest),
            false => truth_255(s),
        }
    };
    write_masks(&pred, &test, at(w / 2, h / 2));
    let path = pred.join(format!("{}.png", first.stem));
    let evaluate = |out: &str| {
        let mut cmd = common::bin();
        cmd.args(["evaluate", "--pred-masks"])
            .args([&pred, &common::fixture()])
            .args(["--split", "test", "--out"])
            .arg(tmp.path().join(out));
        cmd
    };
    let o = common::run_ok(&mut evaluate("half"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let note = format!(
        "note: 1 of the {} masks in {} are not at their image's size (the first, {}, is not {w}×{h}): \
         resized nearest-neighbour to it to be scored",
        test.len(),
        pred.display(),
        path.display()
    );
    assert!(stderr.contains(&note), "{stderr}");
    write_masks(&pred, &test, at(w, 100));
    let stderr = common::run_err(&mut evaluate("flat"));
    let why = format!(
        "{}: the mask is {w}×100 but its image (id {}) is {w}×{h}, another shape",
        path.display(),
        first.id
    );
    assert!(stderr.contains(&why), "{stderr}");
}
