//! Boundary distances of whole volumes: a from-nifti split of nibabel's volume
//! (tests/py/nifti_ref.py: three axial slices 3 mm apart, pixels 0.6 mm between rows and 0.5 mm
//! between columns; the middle slice has no tumour and is left out), scored from predicted masks,
//! gives the volume's HD95 and ASSD in 3-D as MONAI measures its stacked masks
//! (tests/py/surface_ref.py volume), the missing slice standing empty in its place. And a DICOM
//! series from-seg files as one volume (its slices keep their file names), scored so against MONAI.
mod common;

use common::dicom::png;
use image::{GrayImage, Luma};
use std::path::Path;

/// `tumorseg ARGS` in `d`, which must succeed.
fn tumorseg(d: &Path, args: &[&str]) -> String {
    let o = common::run_ok(common::bin().current_dir(d).args(args));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// nibabel's volume's spacing: between slices, rows and columns (mm).
const NIFTI: [&str; 3] = ["3", "0.6", "0.5"];

/// MONAI's HD95 and ASSD of the masks in `pred` and `truth` stacked as `stems` ("-": empty), with
/// `spacing` between slices, rows and columns.
fn monai(d: &Path, spacing: [&str; 3], stems: &[&str]) -> (f64, f64) {
    let mut args = vec!["volume", "pred", "truth"];
    args.extend(spacing);
    args.extend(stems);
    let (pred, truth) = (d.join("pred"), d.join("truth"));
    args[1] = pred.to_str().unwrap();
    args[2] = truth.to_str().unwrap();
    let printed = common::run_py("surface_ref.py", &args);
    let v: Vec<f64> = printed
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0], v[1])
}

/// The volume's split (with its tumour-free middle slice when `keep_empty`) in `root_<name>`, its
/// truth masks in `truth`, and the prediction in `pred`: slice 1's tumour 6 columns to the right,
/// slice 3's with a false 10 × 10 blob over slice 1's tumour, and on the middle slice a false
/// 15 × 15 blob.
fn split_and_prediction(d: &Path, name: &str, keep_empty: bool) {
    let root = format!("root_{name}/test");
    let mut args = vec!["from-nifti", "ras.nii.gz", "labels.nii.gz", "--out", &root];
    if keep_empty {
        args.push("--keep-empty");
    }
    tumorseg(d, &args);
    // Called twice in one folder: the second call's truth masks replace the first's.
    tumorseg(d, &["masks", &root, "--out", "truth", "--overwrite"]);
    std::fs::create_dir_all(d.join("pred")).unwrap();
    let truth = |stem: &str| png(&d.join(format!("truth/{stem}.png")));
    let first = truth("ras_f1");
    let shifted = GrayImage::from_fn(first.width(), first.height(), |x, y| match x >= 6 {
        true => *first.get_pixel(x - 6, y),
        false => Luma([0]),
    });
    shifted.save(d.join("pred/ras_f1.png")).unwrap();
    let mut third = truth("ras_f3");
    (0..100).for_each(|k| third.put_pixel(25 + k % 10, 15 + k / 10, Luma([255])));
    third.save(d.join("pred/ras_f3.png")).unwrap();
    let mut middle = GrayImage::new(first.width(), first.height());
    (0..225).for_each(|k| middle.put_pixel(75 + k % 15, 60 + k / 15, Luma([255])));
    middle.save(d.join("pred/ras_f2.png")).unwrap();
}

/// `evaluate --pred-masks pred` on `root_<name>`, a split of one volume, `volume`: the report's 3-D
/// HD95 and ASSD, and its per-image mean HD95.
fn evaluated(d: &Path, name: &str, volume: &str) -> (f64, f64, f64) {
    let (root, out) = (format!("root_{name}"), format!("out_{name}"));
    let stdout = tumorseg(
        d,
        &[
            "evaluate",
            "--pred-masks",
            "pred",
            &root,
            "--split",
            "test",
            "--out",
            &out,
        ],
    );
    assert!(
        stdout.contains("Boundary distances per volume, in 3-D, in mm, over the 1 volume"),
        "{stdout}"
    );
    let report = common::json(&d.join(&out).join("report.json"));
    let v = &report["volume_surface"];
    assert_eq!((&v["n_images"], &v["unit"]), (&1.into(), &"mm".into()));
    // per_volume.csv: the volume's row, its distances the report's.
    let rows: Vec<std::collections::HashMap<String, String>> =
        csv::Reader::from_path(d.join(&out).join("per_volume.csv"))
            .unwrap()
            .deserialize()
            .map(Result::unwrap)
            .collect();
    assert_eq!((rows.len(), rows[0]["stem"].as_str()), (1, volume));
    let hd95: f64 = rows[0]["hd95"].parse().unwrap();
    assert!((hd95 - v["hd95_mean"].as_f64().unwrap()).abs() < 1e-4);
    let get = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap();
    (
        get(v, "hd95_mean"),
        get(v, "assd_mean"),
        get(&report["surface"], "hd95_mean"),
    )
}

fn close(ours: (f64, f64), monai: (f64, f64)) {
    // MONAI computes in float32.
    assert!(
        (ours.0 - monai.0).abs() < 1e-3 && (ours.1 - monai.1).abs() < 1e-3,
        "ours {ours:?}, MONAI's {monai:?}"
    );
}

#[test]
fn a_volumes_boundary_distances_are_monais_in_3d() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args = vec!["make", d.to_str().unwrap()];
    let jpgs = common::test_jpgs();
    args.extend(jpgs[..3].iter().map(|p| p.to_str().unwrap()));
    common::run_py("nifti_ref.py", &args);

    // Without the middle slice: it stands empty in its place, not left out of the volume.
    split_and_prediction(d, "labelled", false);
    let (hd95, assd, _) = evaluated(d, "labelled", "ras");
    close((hd95, assd), monai(d, NIFTI, &["ras_f1", "-", "ras_f3"]));
    // Stacked as neighbours, slice 3's false blob would lie 3 mm from slice 1's tumour, not 6.
    let (adjacent, _) = monai(d, NIFTI, &["ras_f1", "ras_f3"]);
    assert!((hd95 - adjacent).abs() > 0.5, "{hd95} {adjacent}");

    // With it: the false blob on the tumour-free slice counts, which image by image it cannot.
    split_and_prediction(d, "all", true);
    let (hd95, assd, per_image) = evaluated(d, "all", "ras");
    close(
        (hd95, assd),
        monai(d, NIFTI, &["ras_f1", "ras_f2", "ras_f3"]),
    );
    assert!((hd95 - per_image).abs() > 0.5, "{hd95} {per_image}");
}

#[test]
fn a_dicom_series_from_seg_is_one_volume_scored_in_3d() {
    let dir = common::dicom::reference_segs();
    let d = dir.path();
    // highdicom's series (4 mm apart) without s3, its files named against their order along the
    // normal, and its SEG; s5 is in no SEG and left out.
    std::fs::create_dir_all(d.join("series")).unwrap();
    for (from, to) in [
        ("s4", "a"),
        ("s2", "b"),
        ("s1", "c"),
        ("s5", "d"),
        ("seg", "seg"),
    ] {
        let to = d.join(format!("series/{to}.dcm"));
        std::fs::copy(d.join(format!("in/{from}.dcm")), to).unwrap();
    }
    let stdout = tumorseg(d, &["from-seg", "series", "--out", "root_seg/test"]);
    assert!(stdout.contains("slices of 1 volume (series)"), "{stdout}");
    // The files keep their names; their volume is the folder's, numbered by position, s3's place
    // kept as a gap.
    let placed = common::dicom::volume_slices(&d.join("root_seg/test"));
    assert_eq!(
        placed,
        [
            ("a.dcm".into(), "series".into(), 4, 4.0),
            ("b.dcm".into(), "series".into(), 2, 4.0),
            ("c.dcm".into(), "series".into(), 1, 4.0)
        ]
    );
    // The prediction is the truth, and on s4 (no tumour) a false 15 × 15 blob over s2's disc: 8 mm
    // from it across the gap, where stacked as neighbours it would be 4.
    tumorseg(d, &["masks", "root_seg/test", "--out", "truth"]);
    std::fs::create_dir_all(d.join("pred")).unwrap();
    for stem in ["b", "c"] {
        let name = format!("{stem}.png");
        std::fs::copy(d.join("truth").join(&name), d.join("pred").join(&name)).unwrap();
    }
    let mut blob = png(&d.join("truth/a.png"));
    assert!(blob.iter().all(|&p| p == 0));
    (0..225).for_each(|k| blob.put_pixel(23 + k % 15, 33 + k / 15, Luma([255])));
    blob.save(d.join("pred/a.png")).unwrap();
    let spacing = ["4", "0.5", "0.8"];
    let (hd95, assd, _) = evaluated(d, "seg", "series");
    close((hd95, assd), monai(d, spacing, &["c", "b", "-", "a"]));
    let (adjacent, _) = monai(d, spacing, &["c", "b", "a"]);
    assert!((hd95 - adjacent).abs() > 0.5, "{hd95} {adjacent}");

    // `compare` with the truth's own masks compares the volume too, its HD95 in 3-D.
    let args = ["--split", "test", "--out", "out_truth"];
    tumorseg(
        d,
        &[
            &["evaluate", "--pred-masks", "truth", "root_seg"],
            &args[..],
        ]
        .concat(),
    );
    let stdout = tumorseg(
        d,
        &["compare", "out_seg", "out_truth", "--json", "cmp.json"],
    );
    assert!(
        stdout.contains("Per volume") && stdout.contains("1 volume compared"),
        "{stdout}"
    );
    // One volume is no sample to draw an interval from.
    let md = std::fs::read_to_string(d.join("out_truth/report.md")).unwrap();
    assert!(
        md.contains("Per volume (1 volume,") && !md.contains("interval over the volumes"),
        "{md}"
    );
    let volume = &common::json(&d.join("cmp.json"))["per_volume"];
    assert_eq!(
        (volume["n_images"].as_u64(), volume["b_better"].as_u64()),
        (Some(1), Some(1))
    );
    let (a, b) = (&volume["hd95"]["a_mean"], &volume["hd95"]["b_mean"]);
    assert!((a.as_f64().unwrap() - hd95).abs() < 1e-9 && b.as_f64() == Some(0.0));
}
