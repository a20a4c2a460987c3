//! `tumorseg train <dataset-root>`: builds a `TrainConfig` (defaults ← `--config` file, or the resumed run's
//! config.toml ← flags) and runs `train::train`.
use crate::checkpoint;
use crate::device::{Layout, Precision};
use crate::loss::DiceReduction;
use crate::train::{self, schedule::LrSchedule, TrainConfig};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset root with train/ and valid/ COCO splits (may instead come from --config or --resume).
    pub dataset: Option<PathBuf>,
    /// Boxed: the flags are large and `main`'s command enum should stay small.
    #[command(flatten)]
    pub flags: Box<TrainFlags>,
}

/// Every training flag, reusable by other commands (`#[command(flatten)]`). Unset flags keep the value of
/// the config file (or of the resumed run), else the default shown.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct TrainFlags {
    /// Run directory for config, metrics, checkpoints and curves [default: runs/<UTC timestamp>].
    /// Not with --resume, which continues in the run's own directory.
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// TOML file with any TrainConfig fields, e.g. an `[augmentation]` table as in
    /// configs/augment-strong.toml (flags given here override it). Not with --resume, whose run's
    /// config.toml is the config.
    #[arg(long, conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Maximum number of epochs [default: 100].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train at SIZE×SIZE pixels, a multiple of 32 [default: 640, the dataset's size].
    #[arg(long)]
    pub size: Option<u32>,
    /// Images per optimisation step [default: 16].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Loader threads preparing (augmenting) batches [default: 4].
    #[arg(long)]
    pub workers: Option<usize>,
    /// auto (CUDA if available), cpu, cuda or cuda:N [default: auto].
    #[arg(long)]
    pub device: Option<String>,
    /// fp16 (autocast + loss scaling; CUDA only), bf16 (autocast) or fp32; auto = fp16 on CUDA, fp32 on CPU.
    #[arg(long, value_enum)]
    pub precision: Option<Precision>,
    /// Seed of weights init, shuffling and augmentation; a CPU run with a given seed and --threads is
    /// bit-reproducible [default: 42].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Adam learning rate [default: 1e-4].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule: plateau (the seed's ReduceLROnPlateau on valid Dice) or cosine (from --lr
    /// down to 0 over --epochs, or over --time-limit when that ends the run first, or over the last
    /// --anneal share of it; the plateau flags are then unused) [default: plateau].
    #[arg(long, value_enum)]
    pub schedule: Option<LrSchedule>,
    /// With --schedule cosine: the final share of the run over which the rate decays, holding --lr
    /// before it (e.g. 0.3: constant for 70 %, cosine to 0 over the last 30 %) [default: 1, all of it].
    #[arg(long, value_name = "SHARE")]
    pub anneal: Option<f64>,
    /// Epochs without valid-Dice improvement before the learning rate is reduced [default: 5].
    #[arg(long)]
    pub plateau_patience: Option<usize>,
    /// Factor applied to the learning rate on a plateau [default: 0.5].
    #[arg(long)]
    pub plateau_factor: Option<f64>,
    /// Dice term of the loss: batch (one soft Dice over the whole batch, as smp's DiceLoss and the seed)
    /// or image (one per image, averaged, so a small tumour counts as much as a large one, as in the
    /// mean per-image Dice the runs are evaluated by) [default: batch].
    #[arg(long, value_enum)]
    pub dice: Option<DiceReduction>,
    /// Stop after this many epochs without a better valid Dice [default: 15]. Under --schedule cosine
    /// only epochs of the decay count: while --anneal holds the rate, a stall never stops the run.
    #[arg(long)]
    pub early_stop: Option<usize>,
    /// Encoder initialisation: imagenet (torchvision ResNet34, downloaded once), none (random), or a file [default: imagenet].
    #[arg(long)]
    pub encoder_weights: Option<String>,
    /// Start from a segmentation_models_pytorch U-Net++ checkpoint (.pth or .safetensors) instead.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Continue the run in this directory from its last.safetensors and saved optimizer/scheduler state
    /// (a run early stopping ended stays ended unless --early-stop is larger; give a larger --epochs or
    /// --time-limit to extend one that ran out of them). Flags given with it apply to the rest of the
    /// run and are written to its config.toml: a new --lr restarts the rate at that value (the
    /// plateau schedule's counters go on); --seed, --init and --encoder-weights, which the run's
    /// first epochs were made with, cannot change.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Start a new run even where --out holds a trained model (or an ensemble): its model, state,
    /// logs, threshold and reports are removed first. Without it, such a directory is refused.
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Train without augmentation.
    #[arg(long)]
    pub no_augment: bool,
    /// Only these COCO category ids are tumour (comma-separated) [default: all categories].
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<u64>>,
    /// Annotation file to read in each split instead of _annotations.coco(.cleaned).json: a file
    /// name, looked up in train/ and valid/ (and test/ in a pipeline, which cleans it first).
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// libtorch CPU threads (0 = libtorch's default: the machine's cores; a seeded CPU run repeats
    /// bit for bit only at the same number) [default: 0].
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bars (epoch summaries are still printed).
    #[arg(long)]
    pub no_progress: bool,
    /// Wall-clock budget for the epoch loop in seconds (loading the data and the model is not counted):
    /// no epoch is started that would end past it (judged by the slowest epoch so far; the first
    /// epoch's one-off warm-up counts only until a second has run), but a run's first epoch always
    /// runs, however long it takes. It is the whole run's: --resume counts the earlier sessions'
    /// seconds and starts no epoch the last session judged would not fit, so give a larger value to
    /// extend a run [default: none].
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<f64>,
    /// Memory layout: auto (channels-last, the faster on CUDA and on CPUs), nchw or channels-last [default: auto].
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,
    /// Keep an exponential moving average of the weights with this decay (e.g. 0.997, about 3 epochs of
    /// 100 steps) and validate, select and save it instead of the live weights [default: off].
    #[arg(long, value_name = "DECAY")]
    pub ema: Option<f64>,
    /// Write the resumable checkpoint (last.safetensors + optimizer state, ~0.3 GB) every N epochs
    /// and after the final one; Ctrl-C, SIGTERM and SIGHUP always write it [default: 1].
    #[arg(long, value_name = "N")]
    pub save_every: Option<usize>,
}

impl TrainFlags {
    /// The config: defaults, then the resumed run's config.toml or `--config`, then every given flag.
    pub fn resolve(&self, dataset: Option<PathBuf>) -> Result<TrainConfig> {
        let base = match (&self.resume, &self.config) {
            (Some(run), _) => resumable_config(run)?,
            (None, Some(file)) => TrainConfig::from_toml_file(file)?,
            (None, None) => TrainConfig::default(),
        };
        self.resolve_onto(base, dataset)
    }

    /// `cfg` with every given flag (and `dataset`) over it.
    pub fn resolve_onto(
        &self,
        mut cfg: TrainConfig,
        dataset: Option<PathBuf>,
    ) -> Result<TrainConfig> {
        if let Some(d) = dataset {
            cfg.dataset = d;
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = &self.$field { cfg.$field = v.clone(); } )* };
        }
        set!(
            epochs,
            size,
            batch,
            workers,
            device,
            precision,
            seed,
            lr,
            schedule,
            anneal,
            plateau_patience,
            plateau_factor,
            dice,
            early_stop,
            encoder_weights,
            threads,
            save_every,
            layout
        );
        if self.out.is_some() {
            cfg.out = self.out.clone();
        }
        for (flag, field) in [
            (&self.init, &mut cfg.init),
            (&self.annotations, &mut cfg.annotations),
        ] {
            if flag.is_some() {
                *field = flag.clone();
            }
        }
        if self.categories.is_some() {
            cfg.categories = self.categories.clone();
        }
        if self.time_limit.is_some() {
            cfg.time_limit = self.time_limit;
        }
        if self.ema.is_some() {
            cfg.ema = self.ema;
        }
        cfg.resume = self.resume.clone();
        cfg.no_augment |= self.no_augment;
        cfg.overwrite = self.overwrite;
        cfg.progress &= !self.no_progress;
        Ok(cfg)
    }
}

/// The config of the run `--resume` names; an ensemble, which has none, is refused with what can
/// be resumed instead.
fn resumable_config(run: &Path) -> Result<TrainConfig> {
    if run.join(crate::ensemble::FILE).is_file() && !run.join(checkpoint::CONFIG).is_file() {
        let instead = match crate::train::members::is_pipeline(run) {
            true => format!(
                "its members continue with `tumorseg pipeline --resume {}`",
                run.display()
            ),
            false => "resume one of the runs its members came from (ensemble.json lists their \
                      sources)"
                .to_string(),
        };
        bail!(
            "{} is an ensemble ({}): it was not trained there, so there is nothing to resume; \
             {instead}",
            run.display(),
            crate::ensemble::FILE,
        );
    }
    checkpoint::load_config(run)
}

pub fn run(args: Args) -> Result<()> {
    let cfg = args.flags.resolve(args.dataset)?;
    let summary = train::train(&cfg)?;
    if summary.interrupted {
        let how = format!(
            "`tumorseg train --resume {}` continues the run",
            summary.run_dir.display()
        );
        return Err(train::interrupt::Interrupted::new(how).into());
    }
    match (summary.best_epoch, summary.best_valid_dice) {
        (Some(e), Some(d)) => println!(
            "{}: {}, best valid Dice {d:.4} at epoch {e} ({})",
            summary.run_dir.display(),
            crate::report::count(summary.epochs, "epoch"),
            checkpoint::BEST
        ),
        _ => println!("{}: no epoch finished", summary.run_dir.display()),
    }
    Ok(())
}
