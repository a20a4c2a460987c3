//! What makes a run resumable: the state `save_last` writes after an epoch (or inside one, on
//! Ctrl-C), and whether a resumed run has anything left to train.
use super::schedule::{out_of_time, seconds, EarlyStop, Plateau};
use super::step::StepState;
use super::TrainConfig;
use crate::checkpoint::{self, PartialEpoch, TrainState};
use crate::provenance::Digest;
use anyhow::Result;
use std::path::Path;
use tch::nn::VarStore;

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
        return Some(format!(
            "all {} epochs are trained; a larger --epochs continues the run",
            cfg.epochs
        ));
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
