//! NIfTI volumes in `predict`: nibabel's volumes (tests/py/nifti_ref.py), stored in RAS, LPS and
//! sagittal order, scaled or not, with and without a display range, must give the masks of the
//! slices they were made of, and mask volumes nibabel reads back on the source's grid; a volume is
//! post-processed in 3-D; a 4-D file without `--volume` and RGB voxels are refused. `from-nifti`'s
//! splits are tested in data_nifti_split.rs.
mod common;

use common::dicom::{png, predict_command};
use common::nifti::{decided, near_the_top, volumes};
use std::path::{Path, PathBuf};

/// In the order a folder lists them.
const VOLUMES: [&str; 6] = [
    "lps.nii",
    "ni2.nii.gz",
    "ni2be.nii",
    "pair.hdr",
    "ras.nii.gz",
    "sag.nii.gz",
];

/// predictions.csv's rows as (tumour pixels, tumour mm², frame).
fn rows(out: &Path) -> Vec<(u64, Option<f64>, Option<u32>)> {
    common::predictions(out)
        .iter()
        .map(|r| {
            (
                r["tumour_pixels"].parse().unwrap(),
                r["tumour_mm2"].parse().ok(),
                r["frame"].parse().ok(),
            )
        })
        .collect()
}

/// predictions.csv's highest probability of each image.
fn max_probabilities(out: &Path) -> Vec<f64> {
    common::predictions(out)
        .iter()
        .map(|r| r["max_probability"].parse().unwrap())
        .collect()
}

#[test]
fn nifti_slices_predict_as_the_images_they_were_made_of() {
    let dir = volumes();
    let d = dir.path();
    let by_png = d.join("out_png");
    common::run_ok(&mut predict_command(d, &d.join("png"), &by_png));
    let truth: Vec<_> = (0..3)
        .map(|k| png(&by_png.join(format!("masks/slice_{k}.png"))))
        .collect();
    let pixels: Vec<u64> = rows(&by_png).iter().map(|r| r.0).collect();
    assert!(
        pixels.iter().any(|&p| p > 0) && pixels.iter().all(|&p| p < 96 * 80),
        "the untrained model's masks must be neither empty nor full to tell orientations apart: {pixels:?}"
    );

    // A folder of volumes: .nii, .nii.gz and .hdr files are found by name, a pair's .img read through
    // its .hdr and not named as left out.
    let folder = d.join("volumes");
    std::fs::create_dir(&folder).unwrap();
    for v in VOLUMES.iter().chain(&["pair.img"]) {
        std::fs::copy(d.join(v), folder.join(v)).unwrap();
    }
    let out = d.join("out_nifti");
    let o = common::run_ok(predict_command(d, &folder, &out).arg("--nifti-probabilities"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("6 NIfTI mask volumes"), "{stdout}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("not read"), "{stderr}");
    let total: u64 = pixels.iter().sum();
    let ml = (total as f64 * 0.9 / 10.0).round() / 100.0;
    let mut volumes = csv::Reader::from_path(out.join("volumes.csv")).unwrap();
    let volumes: Vec<Vec<String>> = volumes
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(volumes.len(), 6);
    for (v, row) in VOLUMES.iter().zip(&volumes) {
        let stem = v.split('.').next().unwrap();
        for (k, want) in truth.iter().enumerate() {
            let got = png(&out.join(format!("masks/{stem}_f{}.png", k + 1)));
            assert!(
                got == *want,
                "{v}: slice {} differs from its image's mask",
                k + 1
            );
        }
        let mask = out.join(format!("nifti/{stem}.nii.gz"));
        let mut check = vec!["check", mask.to_str().unwrap()];
        let source = d.join(v);
        check.push(source.to_str().unwrap());
        let pngs: Vec<PathBuf> = (0..3)
            .map(|k| by_png.join(format!("masks/slice_{k}.png")))
            .collect();
        check.extend(pngs.iter().map(|p| p.to_str().unwrap()));
        let voxels = common::run_py("nifti_ref.py", &check);
        assert_eq!(voxels.trim(), total.to_string(), "{v}");
        // file, volume (empty: 3-D files), mask, slices, slices_with_tumour, tumour_voxels, tumour_ml
        assert_eq!(row[1..3], ["".to_string(), mask.display().to_string()]);
        assert_eq!(
            row[3..],
            [
                "3".to_string(),
                pixels.iter().filter(|&&p| p > 0).count().to_string(),
                total.to_string(),
                ml.to_string()
            ]
        );
    }
    // Of a 4-D file, the volume asked for: volume 1 holds the slices (volume 0 their inverse).
    let cases = [
        ("series", "1", true),
        ("series", "0", false),
        ("series2", "1", true),
    ];
    for (stem, volume, same) in cases {
        let series = d.join(format!("{stem}.nii.gz"));
        let out = d.join(format!("out_{stem}_{volume}"));
        common::run_ok(predict_command(d, &series, &out).args(["--volume", volume]));
        let got: Vec<_> = (0..3)
            .map(|k| png(&out.join(format!("masks/{stem}_f{}.png", k + 1))))
            .collect();
        assert_eq!(got == truth, same, "volume {volume}");
        let row = csv::Reader::from_path(out.join("volumes.csv"))
            .unwrap()
            .records()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(&row[1], volume);
        if same {
            let mask = out.join(format!("nifti/{stem}.nii.gz"));
            let mut check = vec!["check", mask.to_str().unwrap(), series.to_str().unwrap()];
            let pngs: Vec<PathBuf> = (0..3)
                .map(|k| by_png.join(format!("masks/slice_{k}.png")))
                .collect();
            check.extend(pngs.iter().map(|p| p.to_str().unwrap()));
            let voxels = common::run_py("nifti_ref.py", &check);
            assert_eq!(voxels.trim(), total.to_string());
        }
    }
    // The probability volumes: consistent with the masks, and the highest per slice is predict's.
    let highest: Vec<String> = max_probabilities(&by_png)
        .iter()
        .map(|p| ((p * 255.0).round() as u8).to_string())
        .collect();
    for v in VOLUMES {
        let stem = v.split('.').next().unwrap();
        let (prob, mask) = (
            out.join(format!("nifti/{stem}_probability.nii.gz")),
            out.join(format!("nifti/{stem}.nii.gz")),
        );
        let printed = common::run_py(
            "nifti_ref.py",
            &[
                "probability",
                prob.to_str().unwrap(),
                mask.to_str().unwrap(),
                "0.5",
            ],
        );
        assert_eq!(
            printed.split_whitespace().collect::<Vec<_>>(),
            highest,
            "{v}"
        );
    }
    // Each slice's area from the voxel size: 0.6 mm between rows, 0.5 between columns.
    let per_slice = rows(&out);
    assert_eq!(per_slice.len(), 3 * VOLUMES.len());
    for (k, (p, mm2, frame)) in per_slice.iter().enumerate() {
        assert_eq!(*p, pixels[k % 3]);
        assert_eq!(*frame, Some(k as u32 % 3 + 1));
        assert_eq!(*mm2, Some((*p as f64 * 30.0).round() / 100.0));
    }
}

#[test]
fn a_volume_is_post_processed_in_3d() {
    let dir = volumes();
    let d = dir.path();
    let (ras, probe, top) = near_the_top(d);
    let highest = common::highest_probability(&probe);
    let outs = [
        decided(d, &ras, top, "none", "none"),
        decided(d, &ras, top, "largest", "largest"),
        // `one` where nothing passes: the region around the most probable voxel above half of it.
        decided(d, &ras, highest / 2.0, "none", "half"),
        decided(d, &ras, (highest + 1.0) / 2.0, "one", "one"),
    ];
    let masks = outs.each_ref().map(|o| o.join("nifti/ras.nii.gz"));
    let probability = probe.join("nifti/ras_probability.nii.gz");
    let mut args = vec!["regions"];
    args.extend(masks.iter().map(|m| m.to_str().unwrap()));
    args.push(probability.to_str().unwrap());
    let printed = common::run_py("nifti_ref.py", &args);
    let regions: usize = printed.split_whitespace().next().unwrap().parse().unwrap();
    assert!(regions > 2, "{printed}");
    // The PNG masks are the mask volume's slices.
    for k in [1, 3] {
        let pngs: Vec<PathBuf> = (1..=3)
            .map(|s| outs[k].join(format!("masks/ras_f{s}.png")))
            .collect();
        let mut check = vec!["check", masks[k].to_str().unwrap(), ras.to_str().unwrap()];
        check.extend(pngs.iter().map(|p| p.to_str().unwrap()));
        common::run_py("nifti_ref.py", &check);
    }
}

#[test]
fn a_series_without_its_volume_and_rgb_voxels_are_refused_with_the_reason() {
    let dir = volumes();
    let d = dir.path();
    for (k, (file, volume, why)) in [
        (
            "series.nii.gz",
            None,
            "2 volumes in one file ([96, 80, 3, 2]): choose one with --volume 0 to 1",
        ),
        (
            "series.nii.gz",
            Some("2"),
            "no volume 2: the file holds 2 volumes",
        ),
        (
            "ras.nii.gz",
            Some("1"),
            "no volume 1: the file holds 1 volume",
        ),
        ("rgb.nii.gz", None, "Rgb24 voxels: give a grey volume"),
    ]
    .into_iter()
    .enumerate()
    {
        let out = d.join(format!("out_{k}"));
        let mut predict = predict_command(d, &d.join(file), &out);
        predict.args(volume.iter().flat_map(|v| ["--volume", v]));
        let o = predict.output().unwrap();
        assert!(!o.status.success());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(file) && stderr.contains(why) && !stderr.contains("panicked"),
            "{stderr}"
        );
        // Its only input unread, the run writes nothing (the reason is on stderr).
        assert!(
            stderr.contains("nothing was written") && !out.exists(),
            "{stderr}"
        );
    }
}
