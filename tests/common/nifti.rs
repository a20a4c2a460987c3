//! nibabel's NIfTI volumes (tests/py/nifti_ref.py) and predict's decisions on them, for the tests of
//! `predict` on volumes and of `from-nifti`.
use super::dicom::predict_at;
use std::path::{Path, PathBuf};

/// nibabel's volumes and their slices as PNGs, made from three of the fixture's test images.
pub fn volumes() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let jpgs = super::test_jpgs();
    let mut args = vec!["make", dir.path().to_str().unwrap()];
    args.extend(jpgs[..3].iter().map(|p| p.to_str().unwrap()));
    super::run_py("nifti_ref.py", &args);
    dir
}

/// `predict` of `volume` at `threshold` with `--postprocess how` into `d/out_<name>`.
pub fn decided(d: &Path, volume: &Path, threshold: f32, how: &str, name: &str) -> PathBuf {
    let out = d.join(format!("out_{name}"));
    super::run_ok(
        predict_at(d, volume, &out, threshold)
            .args(["--postprocess", how])
            .arg("--nifti-probabilities"),
    );
    out
}

/// ras.nii.gz, the probe (predict at 0.5, with the probabilities), and a threshold near the
/// highest probability: the untrained model gives most voxels about 0.8, and near its highest the
/// mask falls apart into regions on every slice.
pub fn near_the_top(d: &Path) -> (PathBuf, PathBuf, f32) {
    let ras = d.join("ras.nii.gz");
    let probe = decided(d, &ras, 0.5, "none", "probe");
    let highest = super::highest_probability(&probe);
    assert!(highest < 1.0, "{highest}");
    (ras, probe, highest - 0.03)
}
