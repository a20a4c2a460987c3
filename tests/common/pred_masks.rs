//! Predicted masks written for the fixture's samples and `evaluate --pred-masks` on them, for the
//! tests of evaluate's scores and boundary distances.
use image::GrayImage;
use std::path::Path;
use tumorseg::dataset::{load_split, Sample, SplitOptions};

/// The fixture's samples of `split`.
pub fn samples(split: &str) -> Vec<Sample> {
    load_split(&super::fixture(), split, &SplitOptions::default()).unwrap()
}

/// `f`'s mask of each sample, saved as `<stem>.png` in `dir`.
pub fn write_masks(dir: &Path, samples: &[Sample], f: impl Fn(&Sample) -> GrayImage) {
    std::fs::create_dir_all(dir).unwrap();
    for s in samples {
        f(s).save(dir.join(format!("{}.png", s.stem))).unwrap();
    }
}

/// `evaluate --pred-masks pred root --split split --out out`.
fn command(root: &Path, pred: &Path, split: &str, out: &Path) -> std::process::Command {
    let mut cmd = super::bin();
    cmd.args(["evaluate", "--pred-masks"])
        .arg(pred)
        .arg(root)
        .args(["--split", split, "--out"])
        .arg(out);
    cmd
}

/// report.json and stdout of `evaluate --pred-masks` on the dataset at `root`.
pub fn evaluate_in(
    root: &Path,
    pred: &Path,
    split: &str,
    out: &Path,
) -> (serde_json::Value, String) {
    let o = super::run_ok(&mut command(root, pred, split, out));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(stdout.contains("| Dice |"), "prints the table: {stdout}");
    let report =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    (report, stdout)
}

/// The stderr of `evaluate --pred-masks` on the dataset at `root`, which must fail.
pub fn refused_in(root: &Path, pred: &Path, split: &str, out: &Path) -> String {
    let o = command(root, pred, split, out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{err}");
    err
}

/// 0/255 truth masks, like `tumorseg masks` writes.
pub fn truth_255(s: &Sample) -> GrayImage {
    let mut m = s.mask();
    m.iter_mut().for_each(|v| *v *= 255);
    m
}
