//! `predict`'s output folder: all or nothing (an interrupted predict leaves the earlier outputs as
//! they were), --overwrite removes only what an earlier predict wrote, and a file named twice is
//! read once.
mod common;

use common::{fake_run, gradient};
use std::collections::BTreeMap;
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

/// Every file under `dir` with its bytes, by path below it.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let below = contents(&path).into_iter();
            found.extend(below.map(|(p, b)| (Path::new(path.file_name().unwrap()).join(p), b)));
        } else {
            let name = PathBuf::from(path.file_name().unwrap());
            found.insert(name, std::fs::read(&path).unwrap());
        }
    }
    found
}

/// A folder of `n` small images, and an unreadable one read first, whose note tells that reading
/// has begun.
fn many_images(dir: &Path, n: u32) -> PathBuf {
    let folder = dir.join("many");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("000_broken.png"), b"not a PNG").unwrap();
    for k in 0..n {
        gradient(64 + k, 64)
            .save(folder.join(format!("{k:03}.png")))
            .unwrap();
    }
    folder
}

/// A fake run in a new temporary folder, and beside it an image `single.png` of `w`×`h`.
fn run_and_image(w: u32, h: u32) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(&tmp.path().join("run"));
    let single = tmp.path().join("single.png");
    gradient(w, h).save(&single).unwrap();
    (tmp, run, single)
}

/// Before, SIGTERM mid-way exited 143 without a word, leaving the masks of the images done so far
/// and no tables, the earlier complete predictions gone.
#[test]
fn a_signal_leaves_the_earlier_outputs_as_they_were_and_no_partial_folder() {
    let (tmp, run, single) = run_and_image(77, 77);
    let out = tmp.path().join("pw");
    common::run_ok(&mut predict(&run, &[&single], &out));
    let before = contents(&out);
    assert!(
        before.contains_key(Path::new("masks/single.png")),
        "{before:?}"
    );
    let many = many_images(tmp.path(), 40);
    for (signal, name, status) in [(libc::SIGTERM, "TERM", 143), (libc::SIGHUP, "HUP", 129)] {
        let mut cmd = predict(&run, &[&many], &out);
        cmd.args(["--overwrite", "--batch", "1"]);
        let (code, rest) = common::training::signalled(&mut cmd, "skipped:", signal);
        assert_eq!(code, Some(status), "{rest:?}");
        let said = format!(
            "interrupted: the earlier outputs in {} are unchanged",
            out.display()
        );
        assert!(rest.iter().any(|l| l == &said), "{rest:?}");
        assert_eq!(contents(&out), before, "after SIG{name}");
        let beside: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(beside.is_empty(), "{beside:?}");
    }
    // Into a new folder, an interrupted predict leaves none.
    let new = tmp.path().join("new");
    let (code, rest) = common::training::signalled(
        predict(&run, &[&many], &new).args(["--batch", "1"]),
        "skipped:",
        libc::SIGINT,
    );
    assert_eq!(code, Some(130), "{rest:?}");
    let said = format!("interrupted: nothing was written to {}", new.display());
    assert!(rest.iter().any(|l| l == &said), "{rest:?}");
    assert!(!new.exists());
}

/// Before, --overwrite removed masks/ and overlays/ whole, whoever's files were in them.
#[test]
fn overwrite_removes_only_what_an_earlier_predict_wrote() {
    let (tmp, run, single) = run_and_image(50, 40);
    // Never a predict's output: refused, nothing removed.
    let out = tmp.path().join("po");
    std::fs::create_dir_all(out.join("masks")).unwrap();
    std::fs::write(out.join("masks/notes.txt"), "mine").unwrap();
    gradient(50, 40)
        .save(out.join("masks/my_manual_gt.png"))
        .unwrap();
    let refused = |out: &Path, name: &str| {
        let o = predict(&run, &[&single], out)
            .arg("--overwrite")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(name) && stderr.contains("nothing removed"),
            "{stderr}"
        );
    };
    let before = contents(&out);
    refused(&out, "masks/my_manual_gt.png");
    assert_eq!(contents(&out), before);
    // An earlier predict's output with a file of the user's among its masks: refused too.
    let out = tmp.path().join("pw");
    common::run_ok(&mut predict(&run, &[&single], &out));
    std::fs::write(out.join("masks/corrected.png"), "mine").unwrap();
    std::fs::write(out.join("mine.txt"), "mine").unwrap();
    let before = contents(&out);
    refused(&out, &out.join("masks/corrected.png").display().to_string());
    assert_eq!(contents(&out), before);
    // Without it, the earlier outputs are replaced and the file beside them stays.
    std::fs::remove_file(out.join("masks/corrected.png")).unwrap();
    let other = tmp.path().join("other.png");
    gradient(30, 30).save(&other).unwrap();
    common::run_ok(predict(&run, &[&other], &out).arg("--overwrite"));
    let masks: Vec<_> = std::fs::read_dir(out.join("masks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(masks, ["other.png"]);
    assert_eq!(
        std::fs::read_to_string(out.join("mine.txt")).unwrap(),
        "mine"
    );
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
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("would both be named single"),
        "{stderr}"
    );
}
