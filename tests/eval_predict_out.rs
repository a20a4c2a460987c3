//! `predict`'s inputs: a file named twice is read once.
mod common;

use common::{fake_run, gradient};
use std::path::{Path, PathBuf};

/// `tumorseg predict RUN INPUTS… --out OUT` on the CPU; callers add their options.
fn predict(run: &Path, inputs: &[&Path], out: &Path) -> std::process::Command {
    let mut cmd = common::bin();
    cmd.arg("predict")
        .arg(run)
        .args(inputs)
        .arg("--out")
        .arg(out);
    cmd.args(["--device", "cpu", "--threshold", "0.5"]);
    cmd
}

/// A fake run in a new temporary folder, and beside it an image `single.png` of `w`×`h`.
fn run_and_image(w: u32, h: u32) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(&tmp.path().join("run"));
    let single = tmp.path().join("single.png");
    gradient(w, h).save(&single).unwrap();
    (tmp, run, single)
}

/// Before, the same file given twice was refused as two files of one name.
#[test]
fn a_file_given_twice_is_read_once() {
    let (tmp, run, single) = run_and_image(50, 40);
    let folder = tmp.path().join("in");
    std::fs::create_dir_all(&folder).unwrap();
    // The same file by another path, and in its folder (where the run is no image).
    let again = folder.join("../single.png");
    let out = tmp.path().join("out");
    let inputs: [&Path; 3] = [&single, &again, tmp.path()];
    let o = common::run_ok(&mut predict(&run, &inputs, &out));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let note = "note: 2 files given more than once, read once";
    assert!(stderr.contains(note), "{stderr}");
    assert_eq!(common::predictions(&out).len(), 1);
    // Two files of one name are still refused.
    let other = folder.join("single.png");
    gradient(20, 20).save(&other).unwrap();
    let o = predict(&run, &[&single, &other], &tmp.path().join("two"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("have the same name"));
}
