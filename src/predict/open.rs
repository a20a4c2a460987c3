//! A run opened for inference: its models, and the size, TTA and precision they predict with.
use super::{Inference, Tta};
use crate::device::Precision;
use crate::model::unetpp::UnetPlusPlus;
use anyhow::Result;

/// Inference flags shared by tune-threshold, evaluate, visualize and predict.
#[derive(clap::Args, Debug, Clone)]
pub struct InferenceArgs {
    /// Device: auto (CUDA when libtorch sees one, else CPU), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Precision: auto (fp16 autocast on CUDA, fp32 on CPU), fp32, fp16 (CUDA only), bf16 (autocast).
    #[arg(long, value_enum, default_value = "auto")]
    pub precision: Precision,
    /// Images per forward pass.
    #[arg(long = "batch", default_value_t = 8, value_parser = clap::builder::TypedValueParser::map(
        clap::value_parser!(u32).range(1..), |b| b as usize))]
    pub batch: usize,
    /// Model input side in pixels, a multiple of 32 [default: the one threshold.json was tuned at,
    /// else the run's training size].
    #[arg(long)]
    pub size: Option<u32>,
    /// Test-time augmentation: none; flips (mean of the original, h-flipped and v-flipped
    /// probabilities); d4 (mean over all 8 flips and quarter turns, 8 passes) [default: the one
    /// threshold.json was tuned with, else none].
    #[arg(long, value_enum)]
    pub tta: Option<Tta>,
    /// Memory layout: auto (channels-last, the faster on CUDA and on CPUs), nchw or channels-last.
    #[arg(long, value_enum, default_value = "auto")]
    pub layout: crate::device::Layout,
}

/// A trained run (or an ensemble) opened for inference.
pub struct LoadedRun {
    pub dir: std::path::PathBuf,
    /// Keep the weights alive for `models`.
    pub stores: Vec<tch::nn::VarStore>,
    /// One, or an ensemble's members: the prediction is the mean of their probabilities.
    pub models: Vec<UnetPlusPlus>,
    pub inference: Inference,
    /// The model input side it was trained at.
    pub trained_size: u32,
    /// The annotations and categories the run was trained on, which scoring it uses by default.
    pub split: crate::dataset::SplitOptions,
}

/// Open `<run_dir>/best_model.safetensors` (an ensemble: its members) at `--size`, else the size
/// threshold.json was tuned at, else the training size.
pub fn open_run(run_dir: &std::path::Path, args: &InferenceArgs) -> Result<LoadedRun> {
    let device = crate::device::parse_device(&args.device)?;
    let precision = args.precision.resolve(device)?;
    let loaded = crate::checkpoint::load_models(run_dir, device)?;
    // The tuned threshold belongs to the probabilities of one TTA and one size: keep using those. A
    // stale threshold.json is ignored here without a word: the command warns when it would have
    // used its threshold or post-processing (resolve_decision), not when it was given both.
    let tuned = match (args.tta, args.size) {
        (Some(_), Some(_)) => None,
        _ => crate::threshold::ThresholdFile::load_quietly(run_dir)?,
    };
    let size = inference_size(args.size, loaded.size, tuned.as_ref());
    let tta = args
        .tta
        .unwrap_or_else(|| tuned.as_ref().map_or(Tta::None, |f| f.tta));
    let passes = tta.views().len();
    if args.tta.is_none() && passes > 1 && device == tch::Device::Cpu {
        // Chosen for a GPU run, it can turn minutes of CPU inference into most of an hour.
        eprintln!(
            "note: {} test-time augmentation (threshold.json was tuned with it) runs {} passes \
             per image; on the CPU `--tta none` is {passes}x faster",
            tta.as_str(),
            passes * loaded.models.len()
        );
    }
    let inference = Inference {
        size,
        batch: args.batch.max(1),
        device,
        precision,
        tta,
        channels_last: args.layout.channels_last(),
    };
    Ok(LoadedRun {
        dir: run_dir.to_path_buf(),
        stores: loaded.stores,
        models: loaded.models,
        inference,
        trained_size: loaded.size,
        split: trained_on(run_dir)?,
    })
}

/// The model input side: `--size`, else the one threshold.json was tuned at, else the training size.
fn inference_size(
    given: Option<u32>,
    trained: u32,
    tuned: Option<&crate::threshold::ThresholdFile>,
) -> u32 {
    let Some(at) = given.or(tuned.map(|f| f.tuned_size(trained))) else {
        return trained;
    };
    if given.is_none() && at != trained {
        eprintln!(
            "note: predicting at {at} px, the size threshold.json was tuned at, not at the training \
             size {trained} (--size {trained} predicts at that one)"
        );
    }
    at
}

/// What a training run's config.toml says it was trained on (nothing for an ensemble, which has
/// none): scored on other categories, a run would be graded on a task it was not taught.
fn trained_on(run_dir: &std::path::Path) -> Result<crate::dataset::SplitOptions> {
    if !run_dir.join(crate::checkpoint::CONFIG).is_file() {
        return Ok(Default::default());
    }
    let cfg = crate::checkpoint::load_config(run_dir)?;
    Ok(crate::dataset::SplitOptions {
        annotations: cfg.annotations,
        categories: cfg.categories,
    })
}
