//! What makes a run resumable: the state `save_last` writes after an epoch (or inside one, on
//! Ctrl-C), and whether a resumed run has anything left to train.
use super::schedule::{EarlyStop, Plateau};
use super::step::StepState;
use super::TrainConfig;
use crate::checkpoint::{self, PartialEpoch, TrainState};
use anyhow::Result;
use std::path::Path;
use tch::nn::VarStore;

/// A note on what the flags changed of the resumed run's data (dataset, annotations, categories,
/// size): allowed (e.g. to fine-tune at a larger size), but the best valid Dice so far was measured
/// on the old data, and the best checkpoint is kept until a new epoch beats it. None when unchanged.
pub(super) fn changed_data(before: &TrainConfig, now: &TrainConfig) -> Option<String> {
    let same_dir = |a: &Path, b: &Path| {
        a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    // A pipeline's dataset is its mirror in the run (beside a member's directory), which moves
    // with the run: the same path within it is the same data.
    let within = |c: &TrainConfig| {
        let out = c.out.as_deref()?;
        out.ancestors()
            .take(2)
            .find_map(|run| c.dataset.strip_prefix(run).ok())
            .map(Path::to_path_buf)
    };
    let moved_with_run = matches!((within(before), within(now)), (Some(a), Some(b)) if a == b);
    let mut changed = vec![];
    if !same_dir(&before.dataset, &now.dataset) && !moved_with_run {
        changed.push(format!("dataset {}", now.dataset.display()));
    }
    if before.annotations != now.annotations || before.categories != now.categories {
        changed.push("other annotations or categories".to_string());
    }
    if before.size != now.size {
        changed.push(format!("size {}² (was {}²)", now.size, before.size));
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
    let limit = cfg.time_limit.filter(|&l| state.seconds >= l)?;
    Some(format!(
        "its time limit of {limit:.0} s is used up; a larger --time-limit continues the run"
    ))
}

/// Where the run stands when `save_last` writes it.
pub(super) struct Mark {
    /// Epochs fully finished.
    pub(super) epoch: usize,
    pub(super) interrupted: bool,
    pub(super) finished: bool,
    /// The run's clock (all sessions).
    pub(super) seconds: f64,
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

    #[test]
    fn a_resume_on_other_data_is_noted() {
        let before = TrainConfig::default();
        assert_eq!(changed_data(&before, &before.clone()), None);
        let now = TrainConfig {
            size: before.size * 2,
            categories: Some(vec![1]),
            ..before.clone()
        };
        let note = changed_data(&before, &now).unwrap();
        let size = format!("size {}² (was {}²)", now.size, before.size);
        assert!(
            note.contains("other annotations or categories") && note.contains(&size),
            "{note}"
        );
        let moved = TrainConfig {
            dataset: "elsewhere".into(),
            ..before.clone()
        };
        assert!(changed_data(&before, &moved)
            .unwrap()
            .contains("dataset elsewhere"));
        // A pipeline member's run moved with its mirror is on the same data.
        let member = |run: &str| TrainConfig {
            out: Some(Path::new(run).join("member-1")),
            dataset: Path::new(run).join("data"),
            ..before.clone()
        };
        assert_eq!(changed_data(&member("runs/a"), &member("/tmp/b")), None);
    }
}
