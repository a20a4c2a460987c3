//! An ensemble: the models of several trained runs (other seeds, folds or recipes) whose tumour
//! probabilities are averaged, saved as a directory that every inference command opens as it opens a
//! run (tune-threshold, evaluate, visualize, predict, export). Averaging independently trained models
//! is how the strongest segmentation entries decide (nnU-Net averages its five folds' probabilities);
//! `compare` then tells whether the ensemble beats its best member beyond chance.
use crate::checkpoint;
use crate::provenance::{self, Digest, Provenance};
use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod trained_on;

/// The file that makes a directory an ensemble.
pub const FILE: &str = "ensemble.json";
/// Where the members' checkpoints are kept, inside the ensemble's directory.
const MEMBERS: &str = "members";

/// One model of the ensemble.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Its checkpoint, relative to the ensemble's directory.
    pub checkpoint: String,
    /// The run it was trained in, as given to `tumorseg ensemble`.
    pub source: String,
    pub sha256: String,
    /// Its run's best valid Dice (metrics.jsonl), when the run recorded one.
    pub best_valid_dice: Option<f64>,
}

/// `ensemble.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// The input side every member was trained at, and the ensemble's default inference size.
    pub size: u32,
    /// Their probabilities are averaged with equal weights.
    pub members: Vec<Member>,
}

/// A run directory's `ensemble.json`, or None when it is a single training run.
pub fn read(run_dir: &Path) -> Result<Option<Ensemble>> {
    let path = run_dir.join(FILE);
    let ensemble: Option<Ensemble> = checkpoint::read_json_if_present(&path)?;
    if let Some(e) = &ensemble {
        ensure!(!e.members.is_empty(), "{} lists no members", path.display());
    }
    Ok(ensemble)
}

/// The checkpoints a run directory predicts with (an ensemble's members, else its best model) and the
/// size they were trained at.
pub fn checkpoints(run_dir: &Path) -> Result<(Vec<PathBuf>, u32)> {
    if let Some(e) = read(run_dir)? {
        let paths = e.members.iter().map(|m| run_dir.join(&m.checkpoint));
        return Ok((paths.collect(), e.size));
    }
    ensure!(
        run_dir.join(checkpoint::CONFIG).is_file(),
        "{} is neither a training run (no {}) nor an ensemble (no {FILE})",
        run_dir.display(),
        checkpoint::CONFIG
    );
    let size = checkpoint::load_config(run_dir)?.size;
    Ok((vec![checkpoint::best_checkpoint(run_dir)?], size))
}

/// A model on its way into an ensemble.
struct Candidate {
    checkpoint: PathBuf,
    source: String,
    size: u32,
    best_valid_dice: Option<f64>,
    digest: Digest,
}

/// The models of `runs` (training runs, or ensembles, whose members are taken one by one).
fn candidates(runs: &[PathBuf]) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for run in runs {
        let (paths, size) = checkpoints(run)?;
        let described = match read(run)? {
            Some(e) => (e.members.into_iter())
                .map(|m| describe_member(run, m))
                .collect::<Result<_>>()?,
            None => vec![(absolute(run), best_valid_dice(run)?, None)],
        };
        for (checkpoint, (source, best_valid_dice, recorded)) in paths.into_iter().zip(described) {
            let digest = provenance::file("member", &checkpoint)?;
            if recorded.is_some_and(|sha| sha != digest.sha256) {
                eprintln!(
                    "note: {} changed since {} was written: its source and best valid Dice as \
                     recorded there ({source}) may not describe it",
                    checkpoint.display(),
                    run.join(FILE).display()
                );
            }
            out.push(Candidate {
                checkpoint,
                source,
                size,
                best_valid_dice,
                digest,
            });
        }
    }
    Ok(out)
}

/// Where an ensemble's member came from and its best valid Dice: read from its run when it still
/// lives in one (a pipeline's `member-k`, which may have trained on since, or moved with the
/// pipeline), else as the ensemble recorded them, with the digest they were recorded for.
fn describe_member(run: &Path, m: Member) -> Result<(String, Option<f64>, Option<String>)> {
    let dir = run.join(&m.checkpoint);
    let dir = dir.parent().unwrap_or(run);
    if dir != run && dir.join(checkpoint::CONFIG).is_file() {
        return Ok((absolute(dir), best_valid_dice(dir)?, None));
    }
    Ok((m.source, m.best_valid_dice, Some(m.sha256)))
}

/// Where a member came from, as it will still read from another working directory.
fn absolute(run: &Path) -> String {
    std::fs::canonicalize(run)
        .unwrap_or_else(|_| run.to_path_buf())
        .display()
        .to_string()
}

fn best_valid_dice(run: &Path) -> Result<Option<f64>> {
    let records = crate::train::log::read(&run.join(checkpoint::METRICS))?;
    Ok(records.iter().map(|r| r.valid_dice).reduce(f64::max))
}

/// Why `c` cannot make an ensemble: fewer than two models, one model twice, or members trained at
/// different sizes (inference runs every member at one size).
fn refuse(c: &[Candidate]) -> Result<()> {
    ensure!(
        c.len() >= 2,
        "an ensemble needs at least two models; {} given",
        c.len()
    );
    for (i, a) in c.iter().enumerate() {
        if let Some(b) = c[..i].iter().find(|b| b.digest.sha256 == a.digest.sha256) {
            bail!(
                "{} and {} hold the same model ({}): an ensemble of copies only repeats it",
                b.checkpoint.display(),
                a.checkpoint.display(),
                &a.digest.sha256[..12]
            );
        }
        if a.size != c[0].size {
            bail!(
                "{} was trained at {}² and {} at {}²: an ensemble runs every member at one size",
                c[0].source,
                c[0].size,
                a.source,
                a.size
            );
        }
    }
    Ok(())
}

/// Each checkpoint must load into the model, so that an ensemble that is written also opens.
fn loads(c: &Candidate) -> Result<()> {
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _model = crate::model::unetpp::UnetPlusPlus::new(&vs.root());
    checkpoint::load_model_weights(&mut vs, &c.checkpoint)
        .with_context(|| format!("{} is not a tumorseg model", c.source))
}

/// A file name for member `k` (from 1) that says where it came from.
fn member_file(k: usize, source: &str) -> String {
    let stem: String = Path::new(source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(
            |ch| match ch.is_ascii_alphanumeric() || "-_.".contains(ch) {
                true => ch,
                false => '_',
            },
        )
        .collect();
    format!("{MEMBERS}/{k:02}-{stem}.safetensors")
}

/// Hard links share the checkpoint's bytes; a checkpoint rewritten later (always by rename) leaves the
/// link's copy as it was. Across file systems the file is copied.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("copy {} to {}", from.display(), to.display()))
}

/// Make the ensemble of `runs` in `out` (a new or empty directory): the members' checkpoints, its
/// `ensemble.json` and `provenance.json`. Nothing is written when a model is refused.
pub fn create(runs: &[PathBuf], out: &Path) -> Result<Ensemble> {
    let candidates = accepted(runs)?;
    crate::atomic::ensure_new_dir(out)?;
    std::fs::create_dir_all(out.join(MEMBERS))
        .with_context(|| format!("create {}", out.join(MEMBERS).display()))?;
    let mut members = Vec::new();
    for (k, c) in candidates.iter().enumerate() {
        let file = member_file(k + 1, &c.source);
        link_or_copy(&c.checkpoint, &out.join(&file))?;
        members.push(c.member(file));
    }
    write(out, candidates, members)
}

/// The ensemble of runs that lie inside `dir` (the pipeline's `member-N` runs), written into `dir`
/// with its members referenced where they are.
pub fn create_within(dir: &Path, runs: &[PathBuf]) -> Result<Ensemble> {
    let candidates = accepted(runs)?;
    let members = (candidates.iter())
        .map(|c| {
            let inside = c.checkpoint.strip_prefix(dir).with_context(|| {
                format!("{} is not inside {}", c.checkpoint.display(), dir.display())
            })?;
            Ok(c.member(inside.display().to_string()))
        })
        .collect::<Result<_>>()?;
    write(dir, candidates, members)
}

/// The models of `runs`, when they can make an ensemble.
fn accepted(runs: &[PathBuf]) -> Result<Vec<Candidate>> {
    let candidates = candidates(runs)?;
    refuse(&candidates)?;
    candidates.iter().try_for_each(loads)?;
    trained_on::warn_if_mixed(&candidates);
    Ok(candidates)
}

impl Candidate {
    fn member(&self, checkpoint: String) -> Member {
        Member {
            checkpoint,
            source: self.source.clone(),
            sha256: self.digest.sha256.clone(),
            best_valid_dice: self.best_valid_dice,
        }
    }
}

fn write(dir: &Path, candidates: Vec<Candidate>, members: Vec<Member>) -> Result<Ensemble> {
    let ensemble = Ensemble {
        size: candidates[0].size,
        members,
    };
    let inputs = (candidates.into_iter().enumerate())
        .map(|(k, c)| Digest {
            role: format!("member {}", k + 1),
            ..c.digest
        })
        .collect();
    provenance::record(dir, Provenance::now(tch::Device::Cpu, inputs), false)?;
    let json = serde_json::to_string_pretty(&ensemble)? + "\n";
    // Written last: a directory without it is not taken for an ensemble.
    checkpoint::write_atomic(&dir.join(FILE), json.as_bytes())?;
    Ok(ensemble)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::log::{append, EpochRecord};

    #[test]
    fn a_member_that_lives_in_its_run_is_described_from_it_now() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("moved");
        let member = |checkpoint: &str| Member {
            checkpoint: checkpoint.into(),
            source: "/where/it/was/member-1".into(),
            sha256: "recorded".into(),
            best_valid_dice: Some(0.5),
        };
        // A pipeline's member-1, moved with its pipeline and trained on since.
        let dir = run.join("member-1");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(checkpoint::CONFIG), "").unwrap();
        let epoch = |valid_dice| EpochRecord {
            epoch: 1,
            train_loss: 1.0,
            valid_dice,
            lr: 1e-4,
            seconds: 1.0,
            data_wait_fraction: 0.0,
            skipped_steps: 0,
        };
        let metrics = dir.join(checkpoint::METRICS);
        append(&metrics, &epoch(0.5)).unwrap();
        append(&metrics, &epoch(0.75)).unwrap();
        let now = describe_member(&run, member("member-1/best_model.safetensors")).unwrap();
        assert_eq!(now, (absolute(&dir), Some(0.75), None));
        // A member copied into an ensemble's members/: as recorded, with the digest to check.
        let copied = describe_member(&run, member("members/01-a.safetensors")).unwrap();
        let recorded = (
            "/where/it/was/member-1".into(),
            Some(0.5),
            Some("recorded".into()),
        );
        assert_eq!(copied, recorded);
    }
}
