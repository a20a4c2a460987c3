//! Training runs that test the schedule around the epochs: the time limit, the weight average and the
//! cosine rate, each with the resume that must continue them exactly.
mod common;
use common::training::{records, tiny, train_cli, untimed, QUIET_CPU};
use std::path::Path;
use tumorseg::train::{self, TrainConfig};

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
    let epoch_seconds = records(dir.path())[0]["seconds"].as_f64().unwrap();
    assert!(state.seconds >= epoch_seconds);
    // What the stop was judged by: the epoch and the checkpoint write after it.
    assert!(state.next_epoch_seconds >= epoch_seconds, "{state:?}");
    // The budget is the run's: resumed, the inherited second is already spent; a larger one extends it.
    let resumed = |limit: f64| {
        let out = train_cli()
            .arg("--resume")
            .arg(dir.path())
            .args(["--time-limit", &limit.to_string()])
            .args(QUIET_CPU)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (records(dir.path()).len(), stderr)
    };
    let (epochs, said) = resumed(1.0);
    assert_eq!(epochs, 1);
    assert!(said.contains("its time limit of 1.0s is used up"), "{said}");
    // A limit the clock has not reached, but the next epoch would pass: the first session stopped
    // before that epoch, and so does the resumed one.
    assert_eq!(resumed(state.seconds + state.next_epoch_seconds / 2.0).0, 1);
    assert_eq!(resumed(1000.0).0, 3);
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

#[test]
fn early_stop_waits_while_the_cosine_holds_its_rate() {
    let _turn = common::seeded_turn();
    let dir = tempfile::tempdir().unwrap();
    // A rate this high leaves the masks empty at first: epoch 2 brings no better valid Dice. With the
    // rate held over the first 80 % (epochs 1–2 of 3), that stall does not stop the run.
    let summary = train::train(&TrainConfig {
        schedule: train::schedule::LrSchedule::Cosine,
        anneal: 0.2,
        lr: 1e-2,
        early_stop: 1,
        ..tiny(dir.path(), 3, 1)
    })
    .unwrap();
    let dice: Vec<f64> = records(dir.path())
        .iter()
        .map(|r| r["valid_dice"].as_f64().unwrap())
        .collect();
    assert!(
        dice.len() > 1 && dice[1] <= dice[0],
        "no stall at epoch 2: {dice:?}"
    );
    assert_eq!((summary.epochs, dice.len()), (3, 3), "{dice:?}");
    // The seed's schedule, same rate and trajectory: the stall at epoch 2 stops a 3-epoch run, while
    // in a 2-epoch run it is the last epoch, which is no early stop.
    let plateau = |epochs: usize, out: &Path| {
        train::train(&TrainConfig {
            lr: 1e-2,
            early_stop: 1,
            ..tiny(out, epochs, 1)
        })
        .unwrap()
    };
    let stopped = plateau(3, &dir.path().join("p3"));
    assert_eq!((stopped.epochs, stopped.stopped_early), (2, true));
    let ended = plateau(2, &dir.path().join("p2"));
    assert_eq!((ended.epochs, ended.stopped_early), (2, false));
}

/// A run of one epoch in `dir`, and the state it saved (for a test to change).
fn trained_one_epoch(dir: &Path) -> tumorseg::checkpoint::TrainState {
    train::train(&tiny(dir, 1, 1)).unwrap();
    tumorseg::checkpoint::load_state(dir).unwrap()
}

/// A run that early stopping ended is left as it was by `--resume` (before, it ran one more epoch and
/// stopped again), unless a larger `--early-stop` gives it more patience.
#[test]
fn a_resumed_run_that_had_stopped_early_stays_stopped_unless_patience_grows() {
    let _turn = common::seeded_turn();
    let dir = tempfile::tempdir().unwrap();
    // Its state as early stopping leaves it: patience 2 spent.
    let mut state = trained_one_epoch(dir.path());
    state.early_stop.patience = 2;
    state.early_stop.epochs_since_best = 2;
    tumorseg::checkpoint::save_state(dir.path(), &state).unwrap();
    let resumed = |patience: usize| {
        let cfg = TrainConfig {
            resume: Some(dir.path().to_path_buf()),
            early_stop: patience,
            ..tiny(dir.path(), 3, 1)
        };
        train::train(&cfg).unwrap()
    };
    let summary = resumed(2);
    assert!(summary.stopped_early);
    assert_eq!((summary.epochs, records(dir.path()).len()), (1, 1));
    // Left as it was: no second session recorded.
    let sessions = common::json(&dir.path().join("provenance.json"));
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    // Patience 4: epochs 2 and 3 run (the count goes on from 2, so no early stop within 3 epochs).
    let summary = resumed(4);
    assert_eq!((summary.epochs, records(dir.path()).len()), (3, 3));
}

/// Before, the first epoch of a resumed session set its cosine rate with no cost estimate (the
/// session had timed no epoch yet), so a time limit's clock put that epoch's midpoint too early.
#[test]
fn a_resumed_cosine_run_sets_its_first_rate_by_the_saved_estimate() {
    let _turn = common::seeded_turn();
    let dir = tempfile::tempdir().unwrap();
    let cosine = |epochs: usize| TrainConfig {
        schedule: train::schedule::LrSchedule::Cosine,
        lr: 2e-4,
        ..tiny(dir.path(), epochs, 1)
    };
    train::train(&cosine(1)).unwrap();
    let state = tumorseg::checkpoint::load_state(dir.path()).unwrap();
    let (clock, estimate) = (state.seconds, state.next_epoch_seconds);
    assert!(estimate > 0.0, "{state:?}");
    // A budget by which the clock leads the epoch count, with room for epoch 2.
    let limit = 2.0 * (clock + estimate);
    train::train(&TrainConfig {
        resume: Some(dir.path().to_path_buf()),
        time_limit: Some(limit),
        ..cosine(10)
    })
    .unwrap();
    let lr = records(dir.path())[1]["lr"].as_f64().unwrap();
    // The midpoint the rate was set at, from lr = 2e-4·(1 + cos(π·p))/2: the session's clock starts
    // at the saved one, and half the saved estimate takes it to the epoch's middle.
    let at = (lr / 1e-4 - 1.0).acos() / std::f64::consts::PI;
    let want = train::schedule::progress(2, 10, clock, estimate, Some(limit));
    assert!(
        (at - want).abs() < 0.02,
        "set at {at}, the midpoint is {want}"
    );
}

/// An epoch stopped inside was started within the time limit: resumed, it finishes even when the
/// saved estimate of a whole epoch would not fit what is left (as `--resume` judged it before).
#[test]
fn an_epoch_resumed_inside_finishes_whatever_the_saved_estimate() {
    let _turn = common::seeded_turn();
    let dir = tempfile::tempdir().unwrap();
    // As Ctrl-C leaves a run one batch into epoch 2, one whole epoch being far too long to fit.
    let mut state = trained_one_epoch(dir.path());
    state.interrupted = true;
    state.finished = false;
    state.next_epoch_seconds = 1e6;
    state.partial = Some(tumorseg::checkpoint::PartialEpoch {
        batches: 1,
        loss_sum: 0.5,
        ..Default::default()
    });
    tumorseg::checkpoint::save_state(dir.path(), &state).unwrap();
    let summary = train::train(&TrainConfig {
        resume: Some(dir.path().to_path_buf()),
        time_limit: Some(state.seconds + 1000.0),
        ..tiny(dir.path(), 2, 1)
    })
    .unwrap();
    assert_eq!((summary.epochs, records(dir.path()).len()), (2, 2));
}
