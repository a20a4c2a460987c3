//! What makes a run resumable: the state `save_last` writes after an epoch (or inside one, on
//! Ctrl-C), and whether a resumed run has anything left to train.
use super::schedule::{EarlyStop, Plateau};
use super::step::StepState;
use super::TrainConfig;
use crate::checkpoint::{self, PartialEpoch, TrainState};
use anyhow::Result;
use std::path::Path;
use tch::nn::VarStore;

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
