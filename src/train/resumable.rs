//! What makes a run resumable: the state `save_last` writes after an epoch (or inside one, on
//! Ctrl-C), which flags a resumed run can follow, whether it has anything left to train, and
//! putting its state back.
use super::log::{self, EpochRecord};
use super::schedule::{out_of_time, seconds, EarlyStop, Plateau};
use super::step::StepState;
use super::TrainConfig;
use crate::checkpoint::{self, PartialEpoch, TrainState};
use crate::provenance::Digest;
use anyhow::{ensure, Result};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;

/// The config of the run resumed in `dir` (input paths absolute, as `now`'s are), once the flags
/// over it (`now`) are ones a resumed run follows; refused before anything is written: a new
/// --seed, --init or --encoder-weights, which config.toml would record though the run could not
/// have used them.
pub(super) fn earlier_config(dir: &Path, now: &TrainConfig) -> Result<TrainConfig> {
    let before = checkpoint::load_config(dir)?.with_absolute_paths()?;
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map_or("none".into(), |p| p.display().to_string())
    };
    let weights = "it chose the first weights, and a resumed run goes on from its last.safetensors";
    for (flag, was, given, why) in [
        (
            "--seed",
            before.seed.to_string(),
            now.seed.to_string(),
            "it drew the order and augmentation of the epochs trained and draws those to come",
        ),
        ("--init", shown(&before.init), shown(&now.init), weights),
        (
            "--encoder-weights",
            before.encoder_weights.clone(),
            now.encoder_weights.clone(),
            weights,
        ),
    ] {
        ensure!(
            was == given,
            "{flag} {given} cannot change on --resume: the run has {was} ({why}); leave {flag} out"
        );
    }
    Ok(before)
}

/// Puts the state the resumed run saved in `run_dir` back into `st` (optimizer, weight average,
/// loss scaler); returns the plateau and early-stop counters with `cfg`'s settings (flags given on
/// resume, e.g. a new --early-stop, win) and the epochs logged up to the state (the log is cut
/// back to them).
pub(super) fn restore(
    run_dir: &Path,
    (state, before): (&TrainState, &TrainConfig),
    cfg: &TrainConfig,
    st: &mut StepState,
) -> Result<(Plateau, EarlyStop, Vec<EpochRecord>)> {
    let moments = checkpoint::read_tensors(&run_dir.join(checkpoint::OPTIMIZER))?;
    st.optimizer.load(&state.optimizer, &moments)?;
    // A new --lr restarts the rate there (the plateau's counters go on): config.toml, which records
    // it, then says what the run trains with.
    if cfg.lr != before.lr {
        eprintln!(
            "note: --lr {:.1e} replaces {:.1e}, the rate the run had reached",
            cfg.lr,
            st.optimizer.lr()
        );
        st.optimizer.set_lr(cfg.lr);
    }
    if let Some(ema) = &mut st.ema {
        if !ema.load(&moments)? {
            eprintln!("note: the resumed run kept no weight average: --ema starts one now");
        }
    }
    st.scaler.load_state(&state.scaler);
    let (mut plateau, mut early) = (state.plateau.clone(), state.early_stop.clone());
    (plateau.factor, plateau.patience, early.patience) =
        (cfg.plateau_factor, cfg.plateau_patience, cfg.early_stop);
    let metrics = run_dir.join(checkpoint::METRICS);
    let records: Vec<EpochRecord> = (log::read(&metrics)?.into_iter())
        .filter(|r| r.epoch <= state.epoch)
        .collect();
    log::rewrite(&metrics, &records)?;
    Ok((plateau, early, records))
}

/// A note on what changed of the resumed run's data since its last session: the content of a
/// split's annotations or images (wherever the dataset now lives: a run moved with its pipeline's
/// mirror is on the same data, a dataset replaced in place is not), the categories, the size.
/// Allowed (e.g. to fine-tune at a larger size), but the best valid Dice so far was measured on the
/// old data, and the best checkpoint is kept until a new epoch beats it. None when unchanged.
pub(super) fn changed_data(
    before: (&TrainConfig, &[Digest]),
    now: (&TrainConfig, &[Digest]),
) -> Option<String> {
    let mut changed: Vec<String> = (now.1.iter())
        .filter_map(|d| {
            let was = before.1.iter().find(|b| b.role == d.role)?;
            (was.sha256 != d.sha256).then(|| match d.files != was.files {
                true => format!("other {} ({} files, were {})", d.role, d.files, was.files),
                false => format!("other {}", d.role),
            })
        })
        .collect();
    if before.0.categories != now.0.categories {
        changed.push("other categories".to_string());
    }
    if before.0.size != now.0.size {
        changed.push(format!("size {}² (was {}²)", now.0.size, before.0.size));
    }
    (!changed.is_empty()).then(|| {
        format!(
            "note: resumed with {}: the best valid Dice so far was measured before, and a new \
             epoch replaces the best checkpoint only when it beats it",
            changed.join(", ")
        )
    })
}

/// Why the resumed run `state` would train no further epoch under `cfg`, with the flag that would
/// continue it; None when it has epochs left.
pub(super) fn ended(cfg: &TrainConfig, state: &TrainState) -> Option<String> {
    if state.epoch >= cfg.epochs {
        let trained = match cfg.epochs {
            1 => "its 1 epoch is trained".to_string(),
            n => format!("all {n} epochs are trained"),
        };
        return Some(format!("{trained}; a larger --epochs continues the run"));
    }
    if state.early_stop.epochs_since_best >= cfg.early_stop {
        return Some(format!(
            "early stopping ended it (no better valid Dice for {}); a larger --early-stop \
             continues the run",
            crate::report::count(state.early_stop.epochs_since_best, "epoch")
        ));
    }
    // The test the session that saved `state` applied before each epoch, with its estimate: the same
    // limit ends the run again. An epoch stopped inside was started within the limit: it finishes.
    let next = match state.partial {
        Some(_) => 0.0,
        None => state.next_epoch_seconds,
    };
    let limit = cfg
        .time_limit
        .filter(|_| out_of_time(cfg, state.seconds, next))?;
    Some(format!(
        "its time limit of {} is used up ({} used, and an epoch takes about {}); a larger \
         --time-limit continues the run",
        seconds(limit),
        seconds(state.seconds),
        seconds(next)
    ))
}

/// Where the resumed run `state` stopped inside an epoch, as an image of the epoch's order (a state
/// written before counted batches only, of the size `before` trained with), with a note when `now`
/// cuts the rest of the epoch into batches of another size.
pub(super) fn stopped_inside(
    state: &TrainState,
    before: &TrainConfig,
    now: &TrainConfig,
) -> Option<PartialEpoch> {
    let mut partial = state.partial?;
    if partial.images == 0 {
        partial.images = partial.batches * before.batch;
    }
    if now.batch != before.batch {
        eprintln!(
            "note: epoch {} goes on from image {} of its order in batches of {} ({} trained before \
             it stopped, in batches of {})",
            state.epoch + 1,
            partial.images + 1,
            now.batch,
            crate::report::count(partial.images, "image"),
            before.batch
        );
    }
    Some(partial)
}

/// Marks the saved state of `run_dir` finished at `at` (the run's clock) with the next epoch's
/// estimate: the time limit ended the run after the state of its last epoch was written, and a
/// resume with the same limit must see the clock and estimate that ended it.
pub(super) fn finish(run_dir: &Path, at: f64, next_epoch: f64) -> Result<()> {
    let state = TrainState {
        finished: true,
        seconds: at,
        next_epoch_seconds: next_epoch,
        ..checkpoint::load_state(run_dir)?
    };
    checkpoint::save_state(run_dir, &state)
}

/// Where the run stands when `save_last` writes it.
pub(super) struct Mark {
    /// Epochs fully finished.
    pub(super) epoch: usize,
    pub(super) interrupted: bool,
    pub(super) finished: bool,
    /// The run's clock (all sessions).
    pub(super) seconds: f64,
    /// What the next epoch is expected to cost.
    pub(super) next_epoch: f64,
    /// What Ctrl-C left trained of the next epoch.
    pub(super) partial: Option<PartialEpoch>,
}

/// last.safetensors (model), optimizer.safetensors (moments), then train_state.json, which names the epoch
/// the two tensor files belong to (written last, so a crash between leaves the previous state consistent
/// with at worst newer weights).
pub(super) fn save_last(
    run_dir: &Path,
    vs: &VarStore,
    st: &StepState,
    plateau: &Plateau,
    early: &EarlyStop,
    at: Mark,
) -> Result<()> {
    checkpoint::save_model(vs, &run_dir.join(checkpoint::LAST))?;
    let mut tensors = st.optimizer.moments();
    if let Some(ema) = &st.ema {
        tensors.extend(ema.tensors());
    }
    checkpoint::save_tensors(&run_dir.join(checkpoint::OPTIMIZER), &tensors)?;
    let state = TrainState {
        epoch: at.epoch,
        interrupted: at.interrupted,
        finished: at.finished,
        seconds: at.seconds,
        next_epoch_seconds: at.next_epoch,
        partial: at.partial,
        optimizer: st.optimizer.state(),
        scaler: st.scaler.state(),
        plateau: plateau.clone(),
        early_stop: early.clone(),
    };
    checkpoint::save_state(run_dir, &state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(role: &str, files: usize, sha256: &str) -> Digest {
        Digest {
            role: role.into(),
            path: "/data".into(),
            files,
            bytes: 0,
            sha256: sha256.into(),
        }
    }

    #[test]
    fn a_resume_on_other_data_is_noted() {
        let cfg = TrainConfig::default();
        let read = [
            digest("train images", 3, "a"),
            digest("valid annotations", 1, "b"),
        ];
        assert_eq!(changed_data((&cfg, &read), (&cfg, &read)), None);
        // Moved elsewhere with the same content: the same data.
        let moved = TrainConfig {
            dataset: "elsewhere".into(),
            ..cfg.clone()
        };
        let copied = read.clone().map(|d| Digest {
            path: "/elsewhere".into(),
            ..d
        });
        assert_eq!(changed_data((&cfg, &read), (&moved, &copied)), None);
        let now = TrainConfig {
            size: cfg.size * 2,
            categories: Some(vec![1]),
            ..cfg.clone()
        };
        let reading = [
            digest("train images", 2, "c"),
            digest("valid annotations", 1, "d"),
        ];
        let note = changed_data((&cfg, &read), (&now, &reading)).unwrap();
        let want = format!(
            "resumed with other train images (2 files, were 3), other valid annotations, other \
             categories, size {}² (was {}²):",
            now.size, cfg.size
        );
        assert!(note.contains(&want), "{note}");
        // A role the earlier session did not record (an older run's) is not taken for a change.
        let extra = [digest("test images", 1, "e")];
        assert_eq!(changed_data((&cfg, &read), (&cfg, &extra)), None);
    }
}
