//! Everything a run needs before its first step: device and precision, seeds and threads, the prepared
//! splits and their loader settings, and the model with its initial (or resumed) weights.
use super::TrainConfig;
use crate::batches::{LoaderConfig, PreparedSplit};
use crate::checkpoint;
use crate::dataset::{self, SplitOptions};
use crate::device::{self, Precision};
use crate::model::unetpp::UnetPlusPlus;
use crate::provenance::{self, Digest};
use crate::weights::{self, EncoderWeights};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::sync::Arc;
use tch::{nn::VarStore, Device};

pub struct Runtime {
    pub device: Device,
    pub precision: Precision,
}

/// Resolves device/precision, seeds libtorch and sets threads and cuDNN autotuning.
pub fn runtime(cfg: &TrainConfig) -> Result<Runtime> {
    let device = device::parse_device(&cfg.device)?;
    let precision = cfg.precision.resolve(device)?;
    if cfg.threads > 0 {
        tch::set_num_threads(cfg.threads as i32);
    }
    tch::manual_seed(cfg.seed as i64);
    if device.is_cuda() {
        tch::Cuda::manual_seed_all(cfg.seed);
        // Fixed input size: let cuDNN pick the fastest kernels once (not bit-reproducible on GPU).
        tch::Cuda::cudnn_set_benchmark(true);
    }
    Ok(Runtime { device, precision })
}

pub struct Data {
    pub train: Arc<PreparedSplit>,
    pub valid: Arc<PreparedSplit>,
    pub train_loader: LoaderConfig,
    pub valid_loader: LoaderConfig,
    /// Each split's annotation file and images, for the run's provenance.
    pub inputs: Vec<Digest>,
}

/// Loads and prepares the train and valid splits (load_split's file choice; unannotated images skipped).
pub fn data(cfg: &TrainConfig) -> Result<Data> {
    let opts = SplitOptions {
        annotations: cfg.annotations.clone(),
        categories: cfg.categories.clone(),
    };
    let mut inputs = vec![];
    let mut prepare = |split: &str| -> Result<Arc<PreparedSplit>> {
        let samples = dataset::load_split(&cfg.dataset, split, &opts)
            .with_context(|| format!("loading the {split} split of {}", cfg.dataset.display()))?;
        if samples.is_empty() {
            bail!(
                "the {split} split of {} has no usable (annotated) image",
                cfg.dataset.display()
            );
        }
        inputs.extend(provenance::split_inputs(
            &cfg.dataset,
            split,
            &opts,
            &samples,
        )?);
        Ok(Arc::new(PreparedSplit::new(
            &samples,
            cfg.size,
            cfg.progress,
        )?))
    };
    let (train, valid) = (prepare("train")?, prepare("valid")?);
    // A split smaller than one batch still trains (one short batch) instead of yielding no step at all.
    let drop_last = train.len() >= cfg.batch;
    let train_loader = LoaderConfig {
        size: cfg.size,
        batch: cfg.batch,
        workers: cfg.workers,
        shuffle: true,
        drop_last,
        augment: (!cfg.no_augment).then(|| cfg.augmentation.clone()),
        seed: cfg.seed,
    };
    let valid_loader = LoaderConfig {
        shuffle: false,
        drop_last: false,
        augment: None,
        ..train_loader.clone()
    };
    Ok(Data {
        train,
        valid,
        train_loader,
        valid_loader,
        inputs,
    })
}

/// Builds the model on `device`; weights from `resume` (last.safetensors), else `--init`, else the encoder's.
pub fn model(
    cfg: &TrainConfig,
    device: Device,
    resume: Option<&Path>,
) -> Result<(VarStore, UnetPlusPlus)> {
    let mut vs = VarStore::new(device);
    let model = UnetPlusPlus::new(&vs.root());
    if let Some(run) = resume {
        checkpoint::load_model_weights(&mut vs, &run.join(checkpoint::LAST))?;
    } else if let Some(init) = &cfg.init {
        weights::load_smp(&mut vs, init).with_context(|| format!("--init {}", init.display()))?;
    } else {
        let w: EncoderWeights = cfg.encoder_weights.parse().unwrap_or_else(|e| match e {});
        weights::load_encoder(&mut vs, &w)
            .with_context(|| format!("--encoder-weights {}", cfg.encoder_weights))?;
    }
    Ok((vs, model))
}

/// The weights file the model starts from (the resumed checkpoint, `--init`, the encoder's), if any.
pub fn weights_input(cfg: &TrainConfig, resume: Option<&Path>) -> Result<Option<Digest>> {
    let file = match (resume, &cfg.init) {
        (Some(run), _) => run.join(checkpoint::LAST),
        (None, Some(init)) => init.clone(),
        (None, None) => match cfg.encoder_weights.parse().unwrap_or_else(|e| match e {}) {
            EncoderWeights::None => return Ok(None),
            EncoderWeights::Path(p) => p,
            EncoderWeights::Imagenet => weights::imagenet_file()?,
        },
    };
    Ok(Some(provenance::file("initial weights", &file)?))
}
