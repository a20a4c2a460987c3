//! DICOM fixtures for the tests: pydicom's slices (tests/py/dicom_ref.py), predict on them, and
//! from-seg.
use super::fake_run;
use image::GrayImage;
use std::path::{Path, PathBuf};
use std::process::Command;

/// pydicom's slices and their expected 8-bit grey, made from one of the fixture's test images.
pub fn slices() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let jpgs = super::test_jpgs();
    super::run_py(
        "dicom_ref.py",
        &[dir.path().to_str().unwrap(), jpgs[0].to_str().unwrap()],
    );
    dir
}

/// A folder `name` in `d` holding copies of `d`'s files (from, to).
pub fn folder(d: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = d.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to) in files {
        std::fs::copy(d.join(from), dir.join(to)).unwrap();
    }
    dir
}

/// `predict` with the untrained model of `d/run` on a folder, at threshold 0.5.
pub fn predict_command(d: &Path, input: &Path, out: &Path) -> Command {
    predict_at(d, input, out, 0.5)
}

/// [`predict_command`] at another threshold. The run is made once per folder: tests run in parallel
/// threads of one process share libtorch's random generator, so a model made again could differ
/// from the one an earlier predict of the same test used.
pub fn predict_at(d: &Path, input: &Path, out: &Path, threshold: f32) -> Command {
    let run = d.join("run");
    if !run.join(tumorseg::checkpoint::BEST).exists() {
        std::fs::create_dir_all(&run).unwrap();
        fake_run(&run);
    }
    let mut cmd = super::bin();
    cmd.args(["predict", run.to_str().unwrap(), input.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(["--device", "cpu", "--threshold", &threshold.to_string()]);
    cmd
}

/// [`predict_command`], which must succeed.
pub fn predict(d: &Path, input: &Path, out: &Path) -> std::process::Output {
    super::run_ok(&mut predict_command(d, input, out))
}

pub fn png(path: &Path) -> GrayImage {
    image::open(path).unwrap().to_luma8()
}

/// tests/py/seg_ref.py's slices, SEGs and expected masks in a fresh folder.
pub fn reference_segs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let image = super::fixture().join("test");
    let jpg = std::fs::read_dir(&image)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jpg"))
        .unwrap();
    super::run_py(
        "seg_ref.py",
        &[dir.path().to_str().unwrap(), jpg.to_str().unwrap()],
    );
    dir
}

/// A split's images as (file name, `volume`, `slice_number`, `slice_spacing`), by file name.
pub fn volume_slices(split: &Path) -> Vec<(String, String, u64, f64)> {
    let coco = super::json(&split.join("_annotations.coco.json"));
    let mut placed: Vec<(String, String, u64, f64)> = coco["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|im| {
            let text = |key: &str| im[key].as_str().unwrap().to_string();
            let number = |key: &str| im[key].as_f64().unwrap();
            let slice = number("slice_number") as u64;
            (
                text("file_name"),
                text("volume"),
                slice,
                number("slice_spacing"),
            )
        })
        .collect();
    placed.sort_by(|a, b| a.0.cmp(&b.0));
    placed
}

/// `tumorseg from-seg INPUTS --out OUT [extra]`; its output.
pub fn from_seg(inputs: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    super::bin()
        .arg("from-seg")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// The split's masks as `tumorseg masks` rasterises its annotations.
pub fn split_masks(split: &Path) -> PathBuf {
    let out = split.with_extension("masks");
    super::run_ok(
        super::bin()
            .args(["masks", split.to_str().unwrap(), "--out"])
            .arg(&out),
    );
    out
}
