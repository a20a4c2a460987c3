//! What a resumed run takes from where it is resumed: its data from any directory. Tiny CLI runs at
//! 32×32 on the CPU.
mod common;
use common::training::{records, QUIET_CPU};
use std::path::Path;
use std::process::Command;
use tumorseg::train::TrainConfig;

/// `tumorseg train` at 32², 4 images a batch, in `cwd`, with `args` to follow.
fn train_in(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = common::bin();
    cmd.current_dir(cwd)
        .arg("train")
        .args(["--size", "32", "--batch", "4"])
        .args(QUIET_CPU)
        .args(args);
    cmd
}

fn config(run: &Path) -> String {
    std::fs::read_to_string(run.join("config.toml")).unwrap()
}

#[test]
fn input_paths_are_recorded_absolute() {
    let cwd = std::env::current_dir().unwrap();
    let cfg = TrainConfig {
        dataset: "d".into(),
        init: Some("w/init.safetensors".into()),
        annotations: Some("a.json".into()),
        encoder_weights: "enc.pth".into(),
        ..TrainConfig::default()
    }
    .with_absolute_paths()
    .unwrap();
    assert_eq!(cfg.dataset, cwd.join("d"));
    assert_eq!(cfg.init, Some(cwd.join("w/init.safetensors")));
    assert_eq!(cfg.annotations, Some(cwd.join("a.json")));
    assert_eq!(cfg.encoder_weights, cwd.join("enc.pth").to_str().unwrap());
    // The names that are not files stay; an absolute path stays as it is.
    for named in ["imagenet", "none", "/w/enc.pth"] {
        let cfg = TrainConfig {
            dataset: "/data".into(),
            encoder_weights: named.into(),
            ..TrainConfig::default()
        };
        assert_eq!(cfg.clone().with_absolute_paths().unwrap(), cfg);
    }
}

/// Before, config.toml kept `dataset = "d"` as typed, and a resume from elsewhere looked for `d`
/// there: "loading the train split of d: d does not exist".
#[test]
fn a_run_started_on_a_relative_dataset_resumes_from_another_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(common::fixture(), dir.path().join("d")).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    common::run_ok(&mut train_in(
        dir.path(),
        &["d", "--out", "r1", "--epochs", "1"],
    ));
    let run = dir.path().join("r1");
    let written: toml::Table = toml::from_str(&config(&run)).unwrap();
    let dataset = dir.path().join("d");
    assert_eq!(written["dataset"].as_str(), dataset.to_str());
    let sub = dir.path().join("sub");
    common::run_ok(&mut train_in(&sub, &["--resume", "../r1", "--epochs", "2"]));
    assert_eq!(records(&run).len(), 2);
}
