//! `from-nifti` on nibabel's volumes (tests/py/nifti_ref.py): IMAGE LABEL pairs (labels in another
//! axis order, a 4-D image, a big-endian .hdr/.img pair) become a COCO split of the labelled slices in
//! predict's grey, with their voxel size, volume and slice number; evaluate and tune-threshold score
//! such a split as predict decides its volume; what cannot make a true split is refused, with nothing
//! written (or, found once slices are written, with them removed).
mod common;

use common::dicom::png;
use common::nifti::{decided, near_the_top, volumes};
use std::path::Path;

/// `tumorseg from-nifti` with its arguments.
fn from_nifti(d: &Path, args: &[&str]) -> std::process::Output {
    common::bin()
        .current_dir(d)
        .arg("from-nifti")
        .args(args)
        .output()
        .unwrap()
}

/// evaluate and tune-threshold on a split of a volume's slices (from-nifti's `<stem>_f001`…)
/// decide the slices together, as predict decides the volume: the same masks, the same Dice.
#[test]
fn a_split_of_slices_is_scored_as_predict_decides_its_volume() {
    let dir = volumes();
    let d = dir.path();
    let (ras, _, threshold) = near_the_top(d);
    let top = threshold.to_string();
    let predicted = decided(d, &ras, threshold, "largest", "largest");
    // The truth: the thresholded mask itself, so that every Dice tells 3-D from slice by slice.
    let none = decided(d, &ras, threshold, "none", "none");
    let truth = none.join("nifti/ras.nii.gz");
    let o = from_nifti(
        d,
        &[
            "ras.nii.gz",
            truth.to_str().unwrap(),
            "--out",
            "root/test",
            "--keep-empty",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (run, root) = (d.join("run"), d.join("root"));
    let common_args = [
        "--split",
        "test",
        "--device",
        "cpu",
        "--postprocess",
        "largest",
    ];
    let o = common::run_ok(
        common::bin()
            .arg("evaluate")
            .args([&run, &root])
            .args(common_args)
            .args(["--threshold", &top, "--out"])
            .arg(d.join("evaluated")),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("its slices post-processed (largest) together in 3-D as predict does"),
        "{stdout}"
    );
    let rows: Vec<std::collections::HashMap<String, String>> =
        csv::Reader::from_path(d.join("evaluated/per_image.csv"))
            .unwrap()
            .deserialize()
            .map(Result::unwrap)
            .collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let k: u32 = r["stem"].trim_start_matches("ras_f").parse().unwrap();
        let mask = png(&predicted.join(format!("masks/ras_f{k}.png")));
        let pixels = mask.iter().filter(|&&v| v > 0).count().to_string();
        assert_eq!(r["pred_pixels"], pixels, "{}", r["stem"]);
    }
    // tune-threshold's curve at that threshold is evaluate's mean Dice.
    common::run_ok(
        common::bin()
            .arg("tune-threshold")
            .args([&run, &root])
            .args(common_args)
            .args(["--threshold-grid", &top]),
    );
    let tuned = common::json(&run.join("threshold.json"));
    let report = common::json(&d.join("evaluated/report.json"));
    let (tuned, evaluated) = (
        tuned["mean_dice"].as_f64().unwrap(),
        report["mean"]["dice"].as_f64().unwrap(),
    );
    assert!((tuned - evaluated).abs() < 1e-9, "{tuned} vs {evaluated}");
    // The volume's boundary distances in 3-D, in mm (from-nifti gives the slice spacing).
    let v = &report["volume_surface"];
    assert_eq!((&v["n_images"], &v["unit"]), (&1.into(), &"mm".into()));
    std::fs::remove_file(run.join("threshold.json")).unwrap();
    // visualize draws a slice as decided with its volume (the path that gathers the volumes of the
    // slices it picks).
    let out = common::run_ok(
        common::bin()
            .arg("visualize")
            .args([&run, &root])
            .args(common_args)
            .args(["--threshold", &top, "--n", "2", "--panel", "32"]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
}

#[test]
fn from_nifti_makes_a_split_of_the_labelled_slices_in_predicts_grey() {
    let dir = volumes();
    let d = dir.path();
    // The labels are stored in LPS order, the image in RAS: one grid all the same.
    let o = from_nifti(d, &["ras.nii.gz", "labels.nii.gz", "--out", "all"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("2 slices (2 with tumour)")
            && stdout.contains("1 slice without tumour left out"),
        "{stdout}"
    );
    let o = from_nifti(
        d,
        &[
            "ras.nii.gz",
            "labels.nii.gz",
            "--out",
            "four",
            "--labels",
            "4",
            "--keep-empty",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A 4-D image, as the Medical Segmentation Decathlon's: its volume 1 holds the slices.
    let o = from_nifti(
        d,
        &[
            "series.nii.gz",
            "labels.nii.gz",
            "--volume",
            "1",
            "--out",
            "msd",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A big-endian NIfTI-1 pair (.hdr + .img), in LPS order.
    let o = from_nifti(d, &["pair.hdr", "labels.nii.gz", "--out", "pair"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (split, label, slices, stem) in [
        ("all", "all", &[0, 2][..], "ras"),
        ("four", "4", &[0, 1, 2][..], "ras"),
        ("msd", "all", &[0, 2][..], "series"),
        ("pair", "all", &[0, 2][..], "pair"),
    ] {
        let masks = d.join(format!("{split}_masks"));
        let split = d.join(split);
        common::run_ok(common::bin().args([
            "masks",
            split.to_str().unwrap(),
            "--out",
            masks.to_str().unwrap(),
        ]));
        let mut written: Vec<String> = std::fs::read_dir(&masks)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        written.sort();
        let want: Vec<String> = slices
            .iter()
            .map(|k| format!("{stem}_f{}.png", k + 1))
            .collect();
        assert_eq!(written, want);
        // The voxel size goes along (0.6 mm between rows, 0.5 between columns), for mm distances,
        // and each slice says its volume and number.
        let coco = common::json(&split.join("_annotations.coco.json"));
        for (image, k) in coco["images"].as_array().unwrap().iter().zip(slices.iter()) {
            assert_eq!(image["pixel_spacing"], serde_json::json!([0.6, 0.5]));
            assert_eq!(
                (&image["volume"], &image["slice_number"]),
                (&serde_json::json!(stem), &serde_json::json!(k + 1))
            );
        }
        for k in slices {
            let name = format!("{stem}_f{}.png", k + 1);
            assert!(
                png(&masks.join(&name)) == png(&d.join(format!("labels_{label}_{k}.png"))),
                "{}: {name}'s annotation differs from the labels",
                split.display()
            );
            assert!(
                png(&split.join(&name)) == png(&d.join(format!("png/slice_{k}.png"))),
                "{}: {name} is not the slice as predict reads it",
                split.display()
            );
        }
    }
    // A split of a volume's slices is also scored per volume.
    let o = common::run_ok(common::bin().args([
        "evaluate",
        "--pred-masks",
        d.join("four_masks").to_str().unwrap(),
        d.to_str().unwrap(),
        "--split",
        "four",
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("Per volume (1 volume, each scored over its slices in the split pooled): mean Dice 1.0000"),
        "{stdout}"
    );
}

/// A volume on ras.nii.gz's grid, 0/1 (uint8, as predict writes masks), 1 in `square` × `square`
/// voxels at the corner of each slice of `slices`: as an image, its other slices are blank.
fn corner_volume(d: &Path, name: &str, slices: &[u32], square: usize) {
    let corner = |k: &u32| {
        let mask = (0..80 * 96).map(move |i| i / 96 < square && i % 96 < square);
        (*k, mask)
    };
    let ras = d.join("ras.nii.gz");
    let slices = slices.iter().map(corner);
    tumorseg::nifti::write_mask(&d.join(name), (&ras, None), slices, "test").unwrap();
}

/// With --keep-empty, the only slices left out are blank ones, which --keep-empty does not keep.
#[test]
fn keep_empty_says_its_left_out_slices_are_blank() {
    let dir = volumes();
    let d = dir.path();
    corner_volume(d, "corners.nii.gz", &[0, 2], 4);
    let o = from_nifti(
        d,
        &[
            "corners.nii.gz",
            "corners.nii.gz",
            "--out",
            "ke",
            "--keep-empty",
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("2 slices (2 with tumour)")
            && stdout.ends_with("; 1 blank slice without tumour left out\n"),
        "{stdout}"
    );
}

#[test]
fn from_nifti_refuses_what_it_cannot_make_a_true_split_of() {
    let dir = volumes();
    let d = dir.path();
    // Label volumes without tumour: no slice is kept (with --keep-empty, the image's are blank).
    corner_volume(d, "empty.nii.gz", &[], 0);
    std::fs::copy(d.join("ras.nii.gz"), d.join("RAS.nii.gz")).unwrap();
    let swapped =
        "the image labels.nii.gz only the values 0, 1, 2, 4: did you swap IMAGE and LABEL?";
    let cases: [(&[&str], &str); 10] = [
        (
            &["series.nii.gz", "labels.nii.gz"],
            "series.nii.gz as NIfTI: 2 volumes in one file",
        ),
        (
            &["ras.nii.gz", "labels.nii.gz", "--labels", "3"],
            "no label volume holds label 3 (they hold: 0, 1, 2, 4)",
        ),
        (
            &["ras.nii.gz", "shifted.nii.gz"],
            "shifted.nii.gz is not on ras.nii.gz's voxel grid",
        ),
        (&["ras.nii.gz"], "give IMAGE LABEL pairs"),
        (
            &["ras.nii.gz", "labels.nii.gz", "--labels", "1,0"],
            "--labels 0: 0 is the background of a label volume, not tumour",
        ),
        (
            &["ras.nii.gz", "empty.nii.gz"],
            "no slice has tumour (no voxel of the label volumes is nonzero): nothing written",
        ),
        (
            &["empty.nii.gz", "empty.nii.gz", "--keep-empty"],
            "and every slice of the images is blank: nothing written",
        ),
        // One file on macOS and Windows: the second's slices would replace the first's.
        (
            &["ras.nii.gz", "labels.nii.gz", "RAS.nii.gz", "labels.nii.gz"],
            "ras.nii.gz and RAS.nii.gz have one stem, ras / RAS (one name where case is ignored",
        ),
        (&["labels.nii.gz", "ras.nii.gz"], swapped),
        (
            &["pair.img", "labels.nii.gz"],
            "(pair.img holds the voxels of an Analyze/NIfTI pair: give its header, pair.hdr)",
        ),
    ];
    for (args, why) in cases {
        // In a new folder of a new folder: neither may be left behind.
        let o = from_nifti(d, &[args, &["--out", "new/split"]].concat());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && stderr.contains(why),
            "{args:?}: {stderr}"
        );
        assert!(!d.join("new").exists(), "{args:?}: nothing may be written");
    }
}

/// A pair that fails once others have written their slices takes them with it: no half-made split,
/// and nothing of the user's removed.
#[test]
fn a_pair_that_fails_leaves_nothing_of_the_run() {
    let dir = volumes();
    let d = dir.path();
    // Its voxels cut short: its header reads, its slices do not.
    let whole = std::fs::read(d.join("ras.nii.gz")).unwrap();
    std::fs::write(d.join("cut.nii.gz"), &whole[..whole.len() / 2]).unwrap();
    std::fs::create_dir_all(d.join("mine")).unwrap();
    std::fs::write(d.join("mine/notes.txt"), "mine").unwrap();
    for out in ["mine", "new/split"] {
        let pairs = ["ras.nii.gz", "labels.nii.gz", "cut.nii.gz", "labels.nii.gz"];
        let o = from_nifti(d, &[&pairs[..], &["--out", out]].concat());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{stderr}");
        let removed =
            format!("nothing is left of this run: the 2 files it had written to {out} were");
        assert!(
            stderr.contains("cut.nii.gz") && stderr.contains(&removed),
            "{stderr}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(d.join("mine")).unwrap().collect();
    assert_eq!(left.len(), 1, "only the user's file stays: {left:?}");
    assert_eq!(
        std::fs::read_to_string(d.join("mine/notes.txt")).unwrap(),
        "mine"
    );
    assert!(!d.join("new").exists());
}
