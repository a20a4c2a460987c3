//! `TrainConfig`: every knob of a training run, read from TOML (`--config`), overridden by flags, and
//! written back resolved as `<run>/config.toml` so a run directory says exactly how it was made.
use super::schedule::LrSchedule;
use crate::augment::AugmentConfig;
use crate::device::{Layout, Precision};
use crate::loss::DiceReduction;
use crate::weights::EncoderWeights;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Dataset root holding `train/` and `valid/` (COCO splits).
    pub dataset: PathBuf,
    /// Run directory; empty = `runs/<timestamp>`.
    pub out: Option<PathBuf>,
    pub epochs: usize,
    /// Square side the images are resized to (a multiple of 32).
    pub size: u32,
    pub batch: usize,
    /// Loader threads preparing batches.
    pub workers: usize,
    /// auto | cpu | cuda | cuda:N
    pub device: String,
    pub precision: Precision,
    pub seed: u64,
    /// Peak (and, with the plateau schedule, starting) Adam learning rate.
    pub lr: f64,
    /// plateau (the seed's) | cosine
    pub schedule: LrSchedule,
    /// With the cosine schedule: the final share of the run over which the rate decays (1: all of it).
    pub anneal: f64,
    pub plateau_patience: usize,
    pub plateau_factor: f64,
    /// How the loss pools its Dice term: batch (smp's, the seed's) | image
    pub dice: DiceReduction,
    /// Epochs without a better valid Dice before stopping.
    pub early_stop: usize,
    /// imagenet | none | <path to encoder weights>
    pub encoder_weights: String,
    /// smp checkpoint (.pth/.safetensors) to start from.
    pub init: Option<PathBuf>,
    /// Run directory whose `last.safetensors` and state to continue from.
    pub resume: Option<PathBuf>,
    pub no_augment: bool,
    /// The training augmentation pipeline (`[augmentation]` table, any subset of its keys; ignored with
    /// `no_augment`).
    #[serde(deserialize_with = "augmentation_over_default")]
    pub augmentation: AugmentConfig,
    /// Keep only annotations of these category ids (default: all).
    pub categories: Option<Vec<u64>>,
    /// Annotation file name to use in each split instead of the cleaned/original default.
    pub annotations: Option<PathBuf>,
    /// libtorch intra-op threads (0 = libtorch's default, the machine's cores); a seeded CPU run is
    /// bit-reproducible at a given number (another number sums in another order).
    pub threads: usize,
    /// Progress bars on stderr.
    pub progress: bool,
    /// Budget for the epoch loop in seconds (None: only `epochs` and early stopping end it).
    pub time_limit: Option<f64>,
    /// Memory layout (auto: channels-last on every device); numerically the same model.
    pub layout: Layout,
    /// Validate, select and save an exponential moving average of the weights with this decay
    /// (None: the live weights, as the seed recipe).
    pub ema: Option<f64>,
    /// Write last.safetensors and the optimizer state every this many epochs (and always after the
    /// final one): each write is ~0.3 GB.
    pub save_every: usize,
    /// A new run may replace the trained model its directory holds (`--overwrite`); not part of the
    /// recipe, so never written to config.toml.
    #[serde(skip)]
    pub overwrite: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            dataset: PathBuf::new(),
            out: None,
            epochs: 100,
            size: 640,
            batch: 16,
            workers: 4,
            device: "auto".into(),
            precision: Precision::Auto,
            seed: 42,
            lr: 1e-4,
            schedule: LrSchedule::Plateau,
            anneal: 1.0,
            plateau_patience: 5,
            plateau_factor: 0.5,
            dice: DiceReduction::Batch,
            early_stop: 15,
            encoder_weights: "imagenet".into(),
            init: None,
            resume: None,
            no_augment: false,
            augmentation: AugmentConfig::default(),
            categories: None,
            annotations: None,
            threads: 0,
            progress: true,
            time_limit: None,
            layout: Layout::Auto,
            ema: None,
            save_every: 1,
            overwrite: false,
        }
    }
}

impl TrainConfig {
    /// Reads a TOML file; missing keys take the defaults, unknown keys are an error naming the file.
    pub fn from_toml_file(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
    }

    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string(self)?)
    }

    /// config.toml (TOML is UTF-8) cannot record another path: refused before anything is made.
    fn paths_are_utf8(&self) -> Result<()> {
        let paths = [
            ("<dataset-root>", Some(&self.dataset)),
            ("--out", self.out.as_ref()),
            ("--init", self.init.as_ref()),
            ("--resume", self.resume.as_ref()),
            ("--annotations", self.annotations.as_ref()),
        ];
        for (flag, path) in paths {
            let Some(path) = path.filter(|p| p.to_str().is_none()) else {
                continue;
            };
            anyhow::bail!(
                "{flag} {} is not valid UTF-8, which the run's config.toml cannot record: rename it",
                path.display()
            );
        }
        Ok(())
    }

    /// The run's files would mix with the dataset's (and a pipeline would mirror the dataset into
    /// itself) in its root or a split folder: refused. Elsewhere below the root (say `root/runs`)
    /// is the user's choice.
    fn out_apart_from_the_data(&self) -> Result<()> {
        let Some(out) = &self.out else {
            return Ok(());
        };
        crate::atomic::ensure_folder_or_new(out, "--out")?;
        let (out, root) = (
            crate::atomic::resolved(out),
            crate::atomic::resolved(&self.dataset),
        );
        let split = crate::dataset::SPLITS
            .into_iter()
            .find(|s| out.starts_with(root.join(s)));
        let place = match split {
            _ if out == root => "the dataset root".to_string(),
            Some(split) => format!("in the dataset's {split} folder"),
            None => return Ok(()),
        };
        anyhow::bail!(
            "--out {} is {place}: the run's files would mix with the dataset's; give another --out",
            out.display()
        )
    }

    /// Refuses values the loop cannot run with, naming the field.
    /// Named by their flags, and by their config keys where those differ.
    pub fn validate(&self) -> Result<()> {
        anyhow::ensure!(
            !self.dataset.as_os_str().is_empty(),
            "no dataset root: pass <dataset-root> or set `dataset` in the config"
        );
        self.paths_are_utf8()?;
        self.out_apart_from_the_data()?;
        if let Some(name) = &self.annotations {
            crate::dataset::annotations_name(&name.to_string_lossy())
                .map_err(|e| anyhow::anyhow!("--annotations (annotations): {e}"))?;
        }
        anyhow::ensure!(
            self.size >= 32 && self.size.is_multiple_of(32),
            "--size {} must be a positive multiple of 32 (U-Net++ downsamples 5 times)",
            self.size
        );
        anyhow::ensure!(self.batch >= 1, "--batch must be at least 1");
        anyhow::ensure!(self.epochs >= 1, "--epochs must be at least 1");
        anyhow::ensure!(
            self.early_stop >= 1,
            "--early-stop (early_stop) must be at least 1 epoch (give --early-stop larger than \
             --epochs to train every epoch)"
        );
        anyhow::ensure!(
            self.save_every > 0,
            "--save-every (save_every) must be at least 1"
        );
        anyhow::ensure!(
            self.ema.is_none_or(|d| d > 0.0 && d < 1.0),
            "--ema (the decay) must be in (0, 1)"
        );
        anyhow::ensure!(
            self.time_limit.is_none_or(|t| t > 0.0 && t.is_finite()),
            "--time-limit (time_limit) must be a positive number of seconds"
        );
        anyhow::ensure!(
            self.lr > 0.0 && self.lr.is_finite(),
            "--lr {} must be positive",
            self.lr
        );
        anyhow::ensure!(
            self.anneal > 0.0 && self.anneal <= 1.0,
            "--anneal {} must be in (0, 1]",
            self.anneal
        );
        anyhow::ensure!(
            self.plateau_factor > 0.0 && self.plateau_factor < 1.0,
            "--plateau-factor (plateau_factor) {} must be in (0, 1)",
            self.plateau_factor
        );
        let (lo, hi) = self.augmentation.zoom.range;
        anyhow::ensure!(
            lo > 0.0 && lo <= hi && hi.is_finite(),
            "augmentation.zoom.range [{lo}, {hi}] must satisfy 0 < low <= high"
        );
        Ok(())
    }

    /// The config with its input paths absolute (dataset, `init`, an `encoder_weights` file; not
    /// `annotations`, a file name read in each split), as a run's config.toml records them: resumed
    /// from another directory, the run still finds its data.
    pub fn with_absolute_paths(self) -> Result<TrainConfig> {
        // An empty path (no dataset yet: `validate` names it) stays empty.
        let absolute = |p: &Path| match p.as_os_str().is_empty() {
            true => Ok(PathBuf::new()),
            false => std::path::absolute(p).with_context(|| format!("resolving {}", p.display())),
        };
        let encoder_weights = match self.encoder_weights.parse() {
            Ok(EncoderWeights::Path(p)) => absolute(&p)?.to_string_lossy().into_owned(),
            _ => self.encoder_weights.clone(),
        };
        Ok(TrainConfig {
            dataset: absolute(&self.dataset)?,
            init: self.init.as_deref().map(absolute).transpose()?,
            encoder_weights,
            ..self
        })
    }

    /// The run directory: `out`, or `runs/<UTC timestamp>`.
    pub fn run_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            PathBuf::from("runs").join(chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string())
        })
    }
}

/// Reads a partial `[augmentation]` table over the default pipeline (AugmentConfig itself wants every key).
fn augmentation_over_default<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<AugmentConfig, D::Error> {
    use serde::de::Error;
    let given = toml::Table::deserialize(d)?;
    let mut base = toml::Table::try_from(AugmentConfig::default()).map_err(D::Error::custom)?;
    merge(&mut base, given);
    base.try_into().map_err(D::Error::custom)
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}
