//! Whole training runs on the fixture at 64×64 on the CPU (one libtorch thread each, to stay quick on a
//! shared machine): the CLI's run directory, seeded reproducibility, exact resume, Ctrl-C, refusals.
//! The schedule around the epochs (time limit, EMA, cosine) is in train_schedule.rs.
mod common;
use common::training::{records, signalled, tiny, train_cli, untimed, QUIET_CPU};
use serde_json::Value;
use std::path::Path;
use tumorseg::train::{self, TrainConfig};

#[test]
fn cli_run_leaves_the_run_directory_and_the_loss_falls() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    common::run_ok(
        train_cli()
            .args(["--size", "64", "--epochs", "3", "--batch", "4"])
            .args(QUIET_CPU)
            .args(["--out", run.to_str().unwrap()]),
    );
    for f in [
        "config.toml",
        "metrics.jsonl",
        "best_model.safetensors",
        "last.safetensors",
        "optimizer.safetensors",
        "train_state.json",
        "curves.png",
        "provenance.json",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    // Provenance: this binary, this command, and the digests of the files the run read.
    let prov = common::json(&run.join("provenance.json"));
    let rec = &prov.as_array().unwrap()[..];
    assert_eq!(rec.len(), 1);
    let rec = &rec[0];
    assert!(rec["tumorseg"]
        .as_str()
        .unwrap()
        .starts_with(env!("CARGO_PKG_VERSION")));
    assert_eq!(rec["command"][1], "train");
    assert!(rec["device"].as_str().unwrap().starts_with("cpu"));
    let ann = common::fixture().join("train/_annotations.coco.json");
    let train_ann = common::input(rec, "train annotations");
    assert_eq!(train_ann["path"], ann.to_str().unwrap());
    assert_eq!(train_ann["sha256"], common::sha256(&ann));
    let images = common::input(rec, "valid images");
    assert_eq!(images["files"], 8);
    assert_eq!(images["sha256"].as_str().unwrap().len(), 64);
    let recs = records(&run);
    assert_eq!(recs.len(), 3);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["epoch"], i + 1);
        assert_eq!(r["lr"], 1e-4);
        assert_eq!(r["skipped_steps"], 0);
        let d = r["valid_dice"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&d), "{d}");
        assert!(r["seconds"].as_f64().unwrap() > 0.0);
    }
    let (first, last) = (
        recs[0]["train_loss"].as_f64().unwrap(),
        recs[2]["train_loss"].as_f64().unwrap(),
    );
    assert!(last < first, "train loss did not fall: {first} → {last}");
    // The resolved config reads back, with the flags applied.
    let cfg = TrainConfig::from_toml_file(&run.join("config.toml")).unwrap();
    assert_eq!(
        (
            cfg.size,
            cfg.batch,
            cfg.epochs,
            cfg.encoder_weights.as_str()
        ),
        (64, 4, 3, "none")
    );
    let png = image::open(run.join("curves.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1000, 400));
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("train_state.json")).unwrap())
            .unwrap();
    assert_eq!(state["epoch"], 3);
    assert_eq!(state["finished"], true);
    // The eval helper's entry point loads the best model (building it draws from the global RNG).
    let _turn = common::seeded_turn();
    let (_vs, _model, cfg2) = tumorseg::checkpoint::load_model(&run, tch::Device::Cpu).unwrap();
    assert_eq!(cfg2, cfg);
}

#[test]
fn seeded_cpu_runs_are_identical_and_resume_continues_exactly() {
    let _turn = common::seeded_turn();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    train::train(&tiny(&a, 2, 1)).unwrap();
    // Another loader thread count must not matter.
    train::train(&tiny(&b, 2, 3)).unwrap();
    assert_eq!(untimed(&a), untimed(&b));
    assert_eq!(untimed(&a).len(), 2);
    let weights = |run: &Path| std::fs::read(run.join("last.safetensors")).unwrap();
    assert!(
        weights(&a) == weights(&b),
        "same seed, different final weights"
    );
    // One epoch, then --resume to two: the same two epochs as the uninterrupted run.
    train::train(&tiny(&c, 1, 2)).unwrap();
    let mut resume = tiny(&c, 2, 2);
    resume.resume = Some(c.clone());
    let summary = train::train(&resume).unwrap();
    assert_eq!(summary.epochs, 2);
    assert_eq!(untimed(&a), untimed(&c));
    assert!(weights(&a) == weights(&c), "resumed run diverged");
    // The resumed session is a second provenance record, starting from the first one's checkpoint.
    let prov = common::json(&c.join("provenance.json"));
    let sessions = prov.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions[0]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["role"] != "initial weights"));
    let start = common::input(&sessions[1], "initial weights");
    assert_eq!(start["path"], c.join("last.safetensors").to_str().unwrap());
    // A new run is refused where a trained model is, and nothing is touched; with `overwrite` it
    // replaces the earlier run and starts its own record, leaving nothing of the earlier one.
    let before = std::fs::read(c.join("metrics.jsonl")).unwrap();
    std::fs::write(c.join("report.md"), "the earlier model's scores").unwrap();
    std::fs::create_dir_all(c.join("figures")).unwrap();
    std::fs::write(
        c.join("figures/worst_test.png"),
        "the earlier model's figure",
    )
    .unwrap();
    let err = train::train(&tiny(&c, 1, 2)).unwrap_err().to_string();
    assert!(err.contains("already holds a trained model"), "{err}");
    assert!(err.contains("--overwrite"), "{err}");
    assert_eq!(std::fs::read(c.join("metrics.jsonl")).unwrap(), before);
    // A replacement that fails to load its data replaces nothing.
    let mistyped = TrainConfig {
        overwrite: true,
        dataset: c.join("no-such-dataset"),
        ..tiny(&c, 1, 2)
    };
    assert!(train::train(&mistyped).is_err());
    assert_eq!(std::fs::read(c.join("metrics.jsonl")).unwrap(), before);
    assert!(c.join("best_model.safetensors").is_file() && c.join("figures").is_dir());
    train::train(&TrainConfig {
        overwrite: true,
        ..tiny(&c, 1, 2)
    })
    .unwrap();
    assert!(!c.join("report.md").exists() && !c.join("figures").exists());
    assert_eq!(records(&c).len(), 1);
    assert_eq!(
        common::json(&c.join("provenance.json"))
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn ctrl_c_saves_inside_the_epoch_exits_130_and_resume_finishes_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (run, whole) = (dir.path().join("run"), dir.path().join("whole"));
    let cli = |out: &Path| {
        let mut cmd = train_cli();
        cmd.args([
            "--size", "64", "--epochs", "3", "--batch", "4", "--seed", "5",
        ])
        .args(QUIET_CPU)
        .arg("--out")
        .arg(out);
        cmd
    };
    // Once epoch 1 has ended, interrupt as a terminal would: the signal lands inside epoch 2 (or in
    // epoch 1's validation, and then after epoch 2's first step).
    let (code, rest) = signalled(&mut cli(&run), "epoch 1/3", libc::SIGINT);
    assert_eq!(code, Some(130), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("interrupted: saved last.safetensors in epoch 2, after")),
        "{rest:?}"
    );
    assert!(rest.iter().any(|l| l.contains("--resume")), "{rest:?}");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("train_state.json")).unwrap())
            .unwrap();
    assert_eq!(state["interrupted"], true);
    assert_eq!(state["epoch"], 1);
    let batches = state["partial"]["batches"].as_u64().unwrap();
    assert!((1..=6).contains(&batches), "{state}");
    assert!(run.join("last.safetensors").is_file());
    // No temp file left behind.
    let names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    // Resumed, epoch 2 goes on from the batch it stopped at: the run ends as one never interrupted.
    let mut resume = train_cli();
    common::run_ok(resume.arg("--resume").arg(&run).args(QUIET_CPU));
    common::run_ok(&mut cli(&whole));
    assert_eq!(untimed(&run), untimed(&whole));
    let weights = |r: &Path| std::fs::read(r.join("last.safetensors")).unwrap();
    assert!(weights(&run) == weights(&whole), "resumed run diverged");
}

#[test]
fn fp16_on_the_cpu_is_refused_with_a_clear_message() {
    let out = train_cli()
        .args([
            "--device",
            "cpu",
            "--precision",
            "fp16",
            "--encoder-weights",
            "none",
        ])
        .args([
            "--out",
            tempfile::tempdir().unwrap().path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--precision fp16 is not supported on the CPU"),
        "{err}"
    );
}

#[test]
fn a_run_refused_at_loading_leaves_no_config_to_resume() {
    let root = tempfile::tempdir().unwrap();
    common::copy_fixture_split(root.path(), "train");
    let out = root.path().join("run");
    let output = common::bin()
        .arg("train")
        .arg(root.path())
        .args(["--device", "cpu", "--encoder-weights", "none", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("valid"), "{err}");
    assert!(
        !out.exists(),
        "a run directory (its config.toml) would make the failed run look resumable"
    );
}

#[test]
fn a_resume_on_data_changed_in_place_says_so_and_one_on_the_same_data_does_not() {
    let root = tempfile::tempdir().unwrap();
    for split in ["train", "valid"] {
        common::copy_fixture_split(root.path(), split);
    }
    let run = root.path().join("run");
    let train = |epochs: &str, how: &str| {
        let mut cmd = common::bin();
        cmd.arg("train")
            .arg(root.path())
            .args(["--size", "32", "--epochs", epochs]);
        let out = common::run_ok(cmd.args(QUIET_CPU).arg(how).arg(&run));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    train("1", "--out");
    assert!(!train("2", "--resume").contains("note: resumed"));
    // One train image rewritten under its own name: the path is the same, the data is not.
    let jpgs = |split: &str| {
        let mut v: Vec<_> = (std::fs::read_dir(root.path().join(split)).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .collect();
        v.sort();
        v
    };
    std::fs::copy(&jpgs("valid")[0], &jpgs("train")[0]).unwrap();
    let err = train("3", "--resume");
    assert!(
        err.contains("note: resumed with other train images:"),
        "{err}"
    );
}

#[test]
fn flags_override_the_config_file_which_overrides_defaults() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: tumorseg::commands::train::TrainFlags,
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "dataset = \"/data/x\"\nepochs = 7\nbatch = 2\nlr = 0.001\ndice = \"image\"\nanneal = 0.3\n[augmentation.hflip]\np = 0.0\n\
         [augmentation.zoom]\np = 0.4\n",
    )
    .unwrap();
    let cli = Cli::parse_from([
        "t",
        "--config",
        file.to_str().unwrap(),
        "--batch",
        "8",
        "--no-augment",
    ]);
    let cfg = cli.args.resolve(None).unwrap();
    assert_eq!(
        (cfg.epochs, cfg.batch, cfg.lr, cfg.size),
        (7, 8, 0.001, 640)
    );
    assert_eq!(cfg.dataset, Path::new("/data/x"));
    assert_eq!(cfg.dice, tumorseg::loss::DiceReduction::Image);
    assert_eq!(cfg.anneal, 0.3);
    assert_eq!(cfg.augmentation.hflip.p, 0.0);
    // A partial table keeps the other keys' defaults.
    assert_eq!(cfg.augmentation.zoom.p, 0.4);
    assert_eq!(cfg.augmentation.zoom.range, (0.8, 1.25));
    assert_eq!(cfg.augmentation.vflip.p, 0.5);
    assert!(cfg.no_augment);
    let mut bad = cfg.clone();
    bad.augmentation.zoom.range = (1.2, 0.9);
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("augmentation.zoom.range"), "{err}");
    let err = TrainConfig {
        anneal: 1.5,
        ..cfg.clone()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(err.contains("anneal"), "{err}");
    std::fs::write(&file, "epoch = 3\n").unwrap();
    let err = format!("{:#}", TrainConfig::from_toml_file(&file).unwrap_err());
    assert!(err.contains("c.toml") && err.contains("epoch"), "{err}");
}

/// Values no run can use are refused by the flag's name before anything is written.
#[test]
fn bad_values_are_refused_by_their_flag_names() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let refused = |cmd: &mut std::process::Command| {
        let o = cmd.output().unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let mut train = train_cli();
    train.args(["--lr=-1"]).arg("--out").arg(&run);
    assert!(refused(&mut train).contains("--lr -1 must be positive"));
    let mut train = train_cli();
    train.args(["--early-stop", "0"]).arg("--out").arg(&run);
    assert!(refused(&mut train).contains("--early-stop (early_stop) must be at least 1 epoch"));
    assert!(!run.exists());
    let mut evaluate = common::bin();
    evaluate.arg("evaluate").arg(&run).arg(common::fixture());
    assert!(refused(evaluate.args(["--batch", "0"])).contains("'--batch <BATCH>'"));
    let run = common::fake_run(&dir.path().join("fake"));
    let mut visualize = common::bin();
    visualize.arg("visualize").arg(&run).arg(common::fixture());
    let e = refused(visualize.args(["--device", "cpu", "--panel", "60000"]));
    assert!(
        e.contains("--panel must be 16 to 4096 pixels (got 60000)"),
        "{e}"
    );
    let mut clean = common::bin();
    clean
        .arg("clean")
        .arg(common::fixture())
        .args(["--similar-above", "5"]);
    assert!(refused(&mut clean).contains("5 is not a correlation in (0, 1]"));
}
