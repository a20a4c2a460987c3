//! Whole training runs on the fixture at 64×64 on the CPU (one libtorch thread each, to stay quick on a
//! shared machine): the CLI's run directory, seeded reproducibility, exact resume, Ctrl-C, refusals.
mod common;
use serde_json::Value;
use std::path::Path;
use tumorseg::train::{self, TrainConfig};

/// Flags every CLI training run here shares: from scratch, one libtorch thread, no bars.
const QUIET_CPU: [&str; 5] = [
    "--encoder-weights",
    "none",
    "--threads",
    "1",
    "--no-progress",
];

/// `tumorseg train <fixture>`, flags to follow.
fn train_cli() -> std::process::Command {
    let mut cmd = common::bin();
    cmd.arg("train").arg(common::fixture());
    cmd
}

fn records(run: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The metrics without the timing fields.
fn untimed(run: &Path) -> Vec<Value> {
    records(run)
        .into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            o.remove("seconds").unwrap();
            o.remove("data_wait_fraction").unwrap();
            r
        })
        .collect()
}

fn tiny(out: &Path, epochs: usize, workers: usize) -> TrainConfig {
    TrainConfig {
        dataset: common::fixture(),
        out: Some(out.to_path_buf()),
        epochs,
        size: 64,
        batch: 4,
        workers,
        device: "cpu".into(),
        seed: 7,
        encoder_weights: "none".into(),
        threads: 1,
        progress: false,
        ..TrainConfig::default()
    }
}

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
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
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
}

#[test]
fn ctrl_c_saves_the_last_checkpoint_and_exits_cleanly() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut child = train_cli()
        .args(["--size", "64", "--epochs", "50", "--batch", "2"])
        .args(QUIET_CPU)
        .args(["--out", run.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Wait until the loop runs, then interrupt it as a terminal would.
    for line in lines.by_ref() {
        if line.unwrap().starts_with("training on") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status:?}: {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("interrupted: saved last.safetensors")),
        "{rest:?}"
    );
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("train_state.json")).unwrap())
            .unwrap();
    assert_eq!(state["interrupted"], true);
    assert!(state["epoch"].as_u64().unwrap() < 50);
    assert!(run.join("last.safetensors").is_file());
    // No temp file left behind.
    let names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
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

#[test]
fn time_limit_stops_before_an_epoch_that_would_not_fit() {
    let _turn = common::seeded_turn();
    let cfg = TrainConfig {
        time_limit: Some(100.0),
        ..TrainConfig::default()
    };
    assert!(!train::out_of_time(&cfg, 0.0, 0.0));
    assert!(!train::out_of_time(&cfg, 60.0, 39.0));
    assert!(train::out_of_time(&cfg, 60.0, 41.0));
    assert!(!train::out_of_time(&TrainConfig::default(), 1e9, 1e9));
    let bad = TrainConfig {
        dataset: common::fixture(),
        time_limit: Some(-1.0),
        ..TrainConfig::default()
    };
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("time_limit"));

    // A 1-second budget lets the first epoch run and no other, whatever --epochs says.
    let dir = tempfile::tempdir().unwrap();
    // --save-every 10 must still leave that epoch resumable.
    let summary = train::train(&TrainConfig {
        time_limit: Some(1.0),
        save_every: 10,
        ..tiny(dir.path(), 3, 1)
    })
    .unwrap();
    assert!(summary.out_of_time);
    assert_eq!(summary.epochs, 1);
    assert_eq!(records(dir.path()).len(), 1);
    let state = tumorseg::checkpoint::load_state(dir.path()).unwrap();
    assert_eq!((state.epoch, state.finished), (1, true));
    assert!(dir.path().join("last.safetensors").is_file());
}

#[test]
fn ema_selects_the_average_and_resumes_exactly() {
    let _turn = common::seeded_turn();
    let dir = tempfile::tempdir().unwrap();
    let (a, c) = (dir.path().join("a"), dir.path().join("c"));
    let ema = |out: &Path, epochs: usize| TrainConfig {
        ema: Some(0.9),
        ..tiny(out, epochs, 1)
    };
    let summary = train::train(&ema(&a, 2)).unwrap();
    let file = |run: &Path, name: &str| std::fs::read(run.join(name)).unwrap();
    let best = summary.best_epoch.unwrap();
    // The best checkpoint is the average, never the live weights of that epoch.
    if best == 2 {
        assert!(file(&a, "best_model.safetensors") != file(&a, "last.safetensors"));
    }
    let saved = tch::Tensor::read_safetensors(a.join("optimizer.safetensors")).unwrap();
    let names: Vec<&str> = saved.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"ema.params") && names.contains(&"ema.updates"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.ends_with("running_var")),
        "{names:?}"
    );
    // One epoch, then resume to two: same metrics, same averaged best, same live weights.
    train::train(&ema(&c, 1)).unwrap();
    let mut resume = ema(&c, 2);
    resume.resume = Some(c.clone());
    train::train(&resume).unwrap();
    assert_eq!(untimed(&a), untimed(&c));
    assert!(file(&a, "last.safetensors") == file(&c, "last.safetensors"));
    assert!(file(&a, "best_model.safetensors") == file(&c, "best_model.safetensors"));
}

#[test]
fn cosine_schedule_anneals_over_the_epochs_and_resumes_exactly() {
    let _turn = common::seeded_turn();
    let dir = tempfile::tempdir().unwrap();
    let (a, c) = (dir.path().join("a"), dir.path().join("c"));
    let cosine = |out: &Path| TrainConfig {
        schedule: train::schedule::LrSchedule::Cosine,
        lr: 2e-4,
        ..tiny(out, 3, 1)
    };
    train::train(&cosine(&a)).unwrap();
    let lrs: Vec<f64> = records(&a)
        .iter()
        .map(|r| r["lr"].as_f64().unwrap())
        .collect();
    // Epoch midpoints at 1/6, 3/6, 5/6 of the run: 2e-4·(1 + cos(π·p))/2.
    let expected = [1.866_025_403_784_438_6e-4, 1e-4, 1.339_745_962_155_614e-5];
    for (got, want) in lrs.iter().zip(expected) {
        assert!((got - want).abs() < 1e-12, "{lrs:?} != {expected:?}");
    }
    assert_eq!(lrs.len(), 3);
    // Annealing over the last third only: epochs 1 and 2 keep the rate, epoch 3's midpoint is halfway
    // down the decay.
    let held = dir.path().join("held");
    train::train(&TrainConfig {
        anneal: 1.0 / 3.0,
        ..cosine(&held)
    })
    .unwrap();
    let lrs: Vec<f64> = records(&held)
        .iter()
        .map(|r| r["lr"].as_f64().unwrap())
        .collect();
    assert_eq!(lrs.len(), 3);
    for (got, want) in lrs.iter().zip([2e-4, 2e-4, 1e-4]) {
        assert!((got - want).abs() < 1e-12, "{lrs:?}");
    }
    // Stopped by a 1-second budget after one epoch, then resumed without it: the rates follow the
    // epochs, so the run is the uninterrupted one.
    let first = train::train(&TrainConfig {
        time_limit: Some(1.0),
        ..cosine(&c)
    })
    .unwrap();
    assert_eq!(first.epochs, 1);
    let mut resume = cosine(&c);
    resume.resume = Some(c.clone());
    train::train(&resume).unwrap();
    assert_eq!(untimed(&a), untimed(&c));
    let file = |run: &Path| std::fs::read(run.join("last.safetensors")).unwrap();
    assert!(file(&a) == file(&c), "resumed cosine run diverged");
}
