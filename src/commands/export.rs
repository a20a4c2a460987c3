//! `tumorseg export`: a trained run as a TorchScript module, for serving with PyTorch or libtorch.
use super::evaluate::{resolve_decision, DecisionArgs};
use crate::device::{Layout, Precision};
use crate::evaluate::ThresholdSource;
use crate::export::{self, Manifest};
use crate::predict::{open_run, InferenceArgs, Tta};
use crate::provenance::{self, Provenance};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Export a run as a TorchScript module. In Python (PyTorch 2.11, no tumorseg needed):
/// `m = torch.jit.load("model.torchscript.pt"); p = m(grey[None, None] / 255.0)`, grey a [H, W]
/// uint8 tensor resized to the run's size; tumour where p > threshold (both in the manifest).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `tumorseg train` (its best checkpoint; threshold.json when tuned).
    pub run_dir: PathBuf,
    /// The module to write [default: RUN_DIR/model.torchscript.pt]. Its manifest goes beside it
    /// (`.json`): input and output, the size, threshold, post-processing and test-time augmentation
    /// tumorseg decides with, the checks against tumorseg's own probabilities, and provenance.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The device the module runs on: cpu, cuda or cuda:N (its weights are constants of the traced
    /// graph, which `.to()` does not move). It computes in fp32; called under `torch.autocast`, its
    /// operations follow autocast (e.g. fp16 on CUDA).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Test-time augmentation traced into the module: none, flips or d4 [default: the one
    /// threshold.json was tuned with, else none].
    #[arg(long, value_enum)]
    pub tta: Option<Tta>,
    #[command(flatten)]
    pub decision: DecisionArgs,
}

pub fn run(args: Args) -> Result<()> {
    let inference = InferenceArgs {
        device: args.device.clone(),
        precision: Precision::Fp32,
        batch: 1,
        size: None,
        tta: args.tta,
        layout: Layout::Auto,
    };
    let run = open_run(&args.run_dir, &inference)?;
    let (decision, source, _) = resolve_decision(args.decision, &run.dir)?;
    let out = args
        .out
        .unwrap_or_else(|| run.dir.join("model.torchscript.pt"));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    let inf = run.inference;
    let module = export::trace(&run.model, &inf)?;
    let checked = export::check(&module, &run.model, &inf)?;
    let inputs = provenance::run_inputs(&run.dir, source == ThresholdSource::Tuned)?;
    let manifest = Manifest::new(
        &out,
        &inf,
        decision,
        checked,
        Provenance::now(inf.device, inputs),
    );
    let json = export::save(&module, &out, &manifest)?;
    let checks: Vec<String> = manifest
        .checked
        .iter()
        .map(|c| format!("{}² {:.1e}", c.size, c.max_difference))
        .collect();
    println!(
        "{} ({}, TTA {}, trained at {}², threshold {}, postprocess {}), manifest {}; \
         largest difference from tumorseg's probabilities: {}",
        out.display(),
        manifest.device,
        inf.tta.as_str(),
        inf.size,
        decision.threshold,
        decision.postprocess.as_str(),
        json.display(),
        checks.join(", ")
    );
    Ok(())
}
