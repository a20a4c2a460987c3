//! `metrics.jsonl`: one JSON object per finished epoch, appended and flushed as the epoch ends, so a crashed
//! or interrupted run keeps its history (and `--resume` appends to it).
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Mean of the per-step losses of the epoch.
    pub train_loss: f64,
    /// Mean per-image Dice on the valid split at threshold 0.5.
    pub valid_dice: f64,
    /// Learning rate used during this epoch (the plateau scheduler may lower it for the next).
    pub lr: f64,
    /// Wall time of the epoch, training and validation.
    pub seconds: f64,
    /// Share of the training time spent waiting for the loader.
    pub data_wait_fraction: f64,
    /// Optimizer steps skipped by the fp16 loss scaler in this epoch.
    pub skipped_steps: u64,
}

pub fn append(path: &Path, record: &EpochRecord) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(record)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads every record (missing file = none), naming the line of a malformed one.
pub fn read(path: &Path) -> Result<Vec<EpochRecord>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: bad metrics line", path.display(), i + 1))
        })
        .collect()
}

/// Rewrites the file with `records` (used by `--resume` to drop epochs after the saved state).
pub fn rewrite(path: &Path, records: &[EpochRecord]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    crate::checkpoint::write_atomic(path, text.as_bytes())
}
