//! The run directory: file names, atomic writes (temp file + rename, so a crash or Ctrl-C never leaves a
//! half-written checkpoint), model/optimizer tensors as safetensors, and loading a trained model back.
use crate::scaler::ScalerState;
use crate::train::adam::AdamState;
use crate::train::schedule::{EarlyStop, Plateau};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{nn::VarStore, Tensor};

pub const CONFIG: &str = "config.toml";
pub const METRICS: &str = "metrics.jsonl";
pub const BEST: &str = "best_model.safetensors";
pub const LAST: &str = "last.safetensors";
/// Adam's moments for `--resume` (flat tensors `exp_avg`, `exp_avg_sq`).
pub const OPTIMIZER: &str = "optimizer.safetensors";
pub const STATE: &str = "train_state.json";
pub const CURVES: &str = "curves.png";

/// Everything besides tensors that `--resume` needs to continue a run where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Epochs fully finished (the next one to run is `epoch + 1`).
    pub epoch: usize,
    /// True when Ctrl-C stopped the run mid-epoch: `last.safetensors` holds the weights at that moment.
    pub interrupted: bool,
    pub finished: bool,
    pub optimizer: AdamState,
    pub scaler: ScalerState,
    pub plateau: Plateau,
    pub early_stop: EarlyStop,
    /// Seconds of epoch loop the run's sessions have used up to this state: `--time-limit` and the
    /// cosine schedule's clock count the whole run, not one session (0 in states written before).
    #[serde(default)]
    pub seconds: f64,
    /// What the session that wrote this state expected the next epoch to cost (`EpochCost`): saved so
    /// that a resumed run with the same `--time-limit` starts no epoch that session refused (0 before
    /// any epoch, and in states written before).
    #[serde(default)]
    pub next_epoch_seconds: f64,
    /// What Ctrl-C left trained of epoch `epoch + 1`, which `--resume` continues from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<PartialEpoch>,
}

/// An epoch trained up to some image: enough to finish it as if it had never stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    /// Batches trained (optimisation steps taken).
    pub batches: usize,
    /// Images they held: the epoch goes on from this one of its order, in batches of whatever
    /// size it is resumed with (0 in states written before, which had `batches` of the run's size).
    #[serde(default)]
    pub images: usize,
    /// Their summed loss, as the epoch's f32 accumulator held it.
    pub loss_sum: f64,
    /// The loss scaler's skipped steps when the epoch began.
    pub skipped_before: u64,
}

/// What a trained run (or an ensemble) leaves in its directory that a new run there replaces or
/// would leave stale beside its own: the model, its state and logs, and what was decided and scored
/// with it. Not its config.toml: a pipeline member's is written before the member trains.
const RUN_OUTPUTS: [&str; 14] = [
    BEST,
    LAST,
    OPTIMIZER,
    STATE,
    METRICS,
    CURVES,
    crate::provenance::FILE,
    crate::ensemble::FILE,
    crate::threshold::FILE,
    crate::report::THRESHOLD_PLOT,
    crate::report::JSON,
    crate::report::MARKDOWN,
    crate::report::PER_IMAGE,
    crate::report::PER_VOLUME,
];

/// Refuses a new run in `run_dir` when it holds a trained model (or an ensemble), unless `overwrite`.
pub fn check_new_run(run_dir: &Path, overwrite: bool) -> Result<()> {
    let held = [BEST, STATE, crate::ensemble::FILE]
        .into_iter()
        .find(|f| run_dir.join(f).is_file());
    // An ensemble was not trained there: there is nothing to resume.
    let resume = match held {
        Some(crate::ensemble::FILE) => String::new(),
        _ => format!(", `--resume {}` to continue it", run_dir.display()),
    };
    match held {
        Some(held) if !overwrite => anyhow::bail!(
            "{} already holds a trained model ({held}): give another --out{resume}, or \
             --overwrite to replace it",
            run_dir.display(),
        ),
        _ => Ok(()),
    }
}

/// Readies `run_dir` for a new run: one holding a trained model (or an ensemble) is refused, so that
/// a second `train --out` never replaces a model by mistake, unless `overwrite`, which removes the
/// earlier run's outputs first, its figures too (nothing of it is left to be mistaken for the new
/// one's), but nothing tumorseg did not write: a note of the user's in figures/ stays.
pub fn clear_for_new_run(run_dir: &Path, overwrite: bool) -> Result<()> {
    check_new_run(run_dir, overwrite)?;
    for name in RUN_OUTPUTS {
        let path = run_dir.join(name);
        if path.is_file() {
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        }
    }
    crate::visualize::remove_figures(&run_dir.join(crate::visualize::DIR))
}

use crate::atomic::temp_sibling;
pub use crate::atomic::write_atomic;

/// Named tensors as safetensors, atomically. Tensors may live on any device.
pub fn save_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let tmp = temp_sibling(path);
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    Tensor::write_safetensors(&cpu, &tmp).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Every variable of `vs` (weights and BN buffers, smp state_dict names), sorted by name.
pub fn save_model(vs: &VarStore, path: &Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    save_tensors(path, &named)
}

/// Loads every variable of `vs` from a safetensors file written by `save_model` (missing names are an error).
pub fn load_model_weights(vs: &mut VarStore, path: &Path) -> Result<()> {
    // tch's read_safetensors copies into the variables without disabling autograd.
    tch::no_grad(|| vs.read_safetensors(path))
        .with_context(|| format!("loading weights from {}", path.display()))
}

pub fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::read_safetensors(path).with_context(|| format!("reading {}", path.display()))
}

/// A JSON file a run directory may hold (threshold.json, ensemble.json), or None when it is absent.
pub fn read_json_if_present<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let value = serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    Ok(Some(value))
}

pub fn save_state(run_dir: &Path, state: &TrainState) -> Result<()> {
    write_atomic(
        &run_dir.join(STATE),
        serde_json::to_string_pretty(state)?.as_bytes(),
    )
}

pub fn load_state(run_dir: &Path) -> Result<TrainState> {
    let path = run_dir.join(STATE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (is this a training run directory?)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The resolved config a run was trained with.
pub fn load_config(run_dir: &Path) -> Result<crate::train::TrainConfig> {
    crate::train::TrainConfig::from_toml_file(&run_dir.join(CONFIG))
}

/// The trained model of a run directory (`best_model.safetensors`) on `device`, ready for inference
/// (frozen, batch norms folded into the convolutions), with the config it was trained with.
pub fn load_model(
    run_dir: &Path,
    device: tch::Device,
) -> Result<(
    VarStore,
    crate::model::unetpp::UnetPlusPlus,
    crate::train::TrainConfig,
)> {
    let cfg = load_config(run_dir)?;
    let (vs, model) = load_frozen(&best_checkpoint(run_dir)?, device)?;
    Ok((vs, model, cfg))
}

/// `<run_dir>/best_model.safetensors`, which must exist.
pub fn best_checkpoint(run_dir: &Path) -> Result<std::path::PathBuf> {
    let best = run_dir.join(BEST);
    anyhow::ensure!(
        best.is_file(),
        "{} not found: is {} a training run that has finished an epoch?",
        best.display(),
        run_dir.display()
    );
    Ok(best)
}

/// The models a run directory predicts with (a training run's best, or an ensemble's members) on
/// `device`, ready for inference, their stores (which keep the weights alive), and the size they
/// were trained at.
pub fn load_models(run_dir: &Path, device: tch::Device) -> Result<LoadedModels> {
    let (paths, size) = crate::ensemble::checkpoints(run_dir)?;
    let (stores, models) = paths
        .iter()
        .map(|p| load_frozen(p, device))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    Ok(LoadedModels {
        stores,
        models,
        size,
    })
}

/// What [`load_models`] gives.
pub struct LoadedModels {
    pub stores: Vec<VarStore>,
    pub models: Vec<crate::model::unetpp::UnetPlusPlus>,
    pub size: u32,
}

/// One checkpoint as a frozen model with its batch norms folded.
fn load_frozen(
    path: &Path,
    device: tch::Device,
) -> Result<(VarStore, crate::model::unetpp::UnetPlusPlus)> {
    let mut vs = VarStore::new(device);
    let mut model = crate::model::unetpp::UnetPlusPlus::new(&vs.root());
    load_model_weights(&mut vs, path)?;
    vs.freeze();
    model.fold_batch_norms();
    Ok((vs, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overwrite_removes_the_earlier_runs_figures_but_not_a_note_beside_them() {
        let tmp = tempfile::tempdir().unwrap();
        let (run, figures) = (tmp.path(), tmp.path().join(crate::visualize::DIR));
        std::fs::create_dir(&figures).unwrap();
        for name in [
            BEST,
            "figures/worst_test.png",
            "figures/random_test_00_a.png",
        ] {
            std::fs::write(run.join(name), "earlier").unwrap();
        }
        std::fs::write(figures.join("my_notes.txt"), "mine").unwrap();
        clear_for_new_run(run, true).unwrap();
        let left: Vec<_> = std::fs::read_dir(&figures)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["my_notes.txt"]);
        assert!(!run.join(BEST).exists());
        // Figures alone: the folder goes with them.
        std::fs::remove_file(figures.join("my_notes.txt")).unwrap();
        std::fs::write(figures.join("worst_valid.png"), "earlier").unwrap();
        clear_for_new_run(run, true).unwrap();
        assert!(!figures.exists());
    }
}
