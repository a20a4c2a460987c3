//! What a resumed run takes from where it is resumed: its data from any directory, the flags given
//! with `--resume` (applied and recorded, or refused), the place inside an epoch it was stopped at.
//! Tiny CLI runs at 32×32 on the CPU.
mod common;
use common::training::{records, signalled, train_in, QUIET_CPU};
use std::path::Path;
use std::process::Output;
use tumorseg::train::TrainConfig;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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
    // A file name read in each split folder, not a path.
    assert_eq!(cfg.annotations, Some("a.json".into()));
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

/// Before, a new --lr went into config.toml while the optimizer went on at the saved rate, and a
/// new --seed was recorded as if the whole run had used it.
#[test]
fn a_new_lr_on_resume_restarts_the_rate_and_flags_it_cannot_follow_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::fixture();
    let dataset = fixture.to_str().unwrap();
    common::run_ok(&mut train_in(
        dir.path(),
        &[dataset, "--out", "r", "--epochs", "1"],
    ));
    let run = dir.path().join("r");
    let resume = |args: &[&str]| {
        let mut cmd = train_in(dir.path(), &["--resume", "r"]);
        cmd.args(args).output().unwrap()
    };
    let out = resume(&["--epochs", "2", "--lr", "5e-4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let note = "note: --lr 5.0e-4 replaces 1.0e-4, the rate the run had reached";
    assert!(stderr(&out).contains(note), "{}", stderr(&out));
    let lrs: Vec<f64> = (records(&run).iter())
        .map(|r| r["lr"].as_f64().unwrap())
        .collect();
    assert_eq!(lrs, [1e-4, 5e-4]);
    assert!(config(&run).contains("lr = 0.0005"), "{}", config(&run));
    // Refused before anything is written, naming the flag.
    let recorded = config(&run);
    for (flag, value) in [("--seed", "9"), ("--init", "r/best_model.safetensors")] {
        let out = resume(&["--epochs", "3", flag, value]);
        assert!(!out.status.success());
        let said = stderr(&out);
        assert!(said.contains(&format!("{flag} ")), "{said}");
        assert!(said.contains("cannot change on --resume"), "{said}");
    }
    let out = resume(&["--config", "c.toml"]);
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    assert_eq!(config(&run), recorded);
    assert_eq!(records(&run).len(), 2);
}

/// Before, a run stopped inside an epoch kept its place there in batches: resumed with another
/// --batch, it went on from that batch of the new size, skipping images or training some twice.
#[test]
fn an_epoch_stopped_inside_goes_on_from_its_image_at_another_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = common::fixture();
    let args = [fixture.to_str().unwrap(), "--out", "r", "--epochs", "50"];
    let mut cmd = train_in(dir.path(), &args);
    let (code, rest) = signalled(
        cmd.args(["--save-every", "50"]),
        "training on",
        libc::SIGINT,
    );
    assert_eq!(code, Some(130), "{rest:?}");
    let run = dir.path().join("r");
    let state = common::json(&run.join("train_state.json"));
    let epoch = state["epoch"].as_u64().unwrap();
    let at = |key: &str| state["partial"][key].as_u64().unwrap();
    assert_eq!(at("images"), 4 * at("batches"), "{state}");
    // Finished in batches of 8, from the image after the last one trained.
    let out = common::bin()
        .current_dir(dir.path())
        .args(["train", "--resume", "r", "--batch", "8"])
        .args(["--epochs", &(epoch + 1).to_string()])
        .args(QUIET_CPU)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let note = format!(
        "note: epoch {} goes on from image {} of its order in batches of 8 ({} images trained",
        epoch + 1,
        at("images") + 1,
        at("images")
    );
    assert!(stderr(&out).contains(&note), "{}", stderr(&out));
    assert_eq!(records(&run).len() as u64, epoch + 1);
}
