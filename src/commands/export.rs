//! `tumorseg export`: a trained run as a TorchScript module or an ONNX model, for serving without
//! tumorseg.
use super::evaluate::{resolve_decision, DecisionArgs};
use crate::checkpoint;
use crate::device::{Layout, Precision};
use crate::evaluate::ThresholdSource;
use crate::export::{self, onnx, Format, Manifest};
use crate::postprocess::Decision;
use crate::predict::{open_run, Inference, InferenceArgs, LoadedRun, Tta};
use crate::provenance::{self, Provenance};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Export a run as a TorchScript module or an ONNX model. In Python, without tumorseg:
/// `m = torch.jit.load("model.torchscript.pt"); p = m(grey[None, None] / 255.0)`, or
/// `s = onnxruntime.InferenceSession("model.onnx"); p = s.run(None, {"grey": x})[0]`, grey a [H, W]
/// 8-bit image resized to the run's size, x = grey[None, None] / 255 as float32; tumour where
/// p > threshold (both in the manifest; the ONNX model also carries them as metadata).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `tumorseg train` (its best checkpoint; threshold.json when tuned), or
    /// by `tumorseg ensemble` (every member, their mean probability).
    pub run_dir: PathBuf,
    /// The file to write [default: RUN_DIR/model.torchscript.pt, or RUN_DIR/model.onnx with
    /// `--format onnx`]. Its manifest goes beside it (`<file>.json`, e.g. model.onnx.json): input and output, the size,
    /// threshold, post-processing and test-time augmentation tumorseg decides with, the checks
    /// against tumorseg's own probabilities, and provenance.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// torchscript or onnx [default: onnx when --out ends in .onnx, else torchscript]. ONNX: opset
    /// 17, dynamic batch and sides, weights in fp32; runs on any device its runtime has.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The device the export is made and checked on: cpu, cuda or cuda:N. A TorchScript module
    /// runs only there (its weights are constants of the traced graph, which `.to()` does not
    /// move). It computes in fp32; called under `torch.autocast`, its operations follow autocast
    /// (e.g. fp16 on CUDA).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Test-time augmentation built into the module: none, flips or d4 [default: the one
    /// threshold.json was tuned with, else none].
    #[arg(long, value_enum)]
    pub tta: Option<Tta>,
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Replace an existing --out that is not an earlier export (one with its manifest beside it,
    /// which is replaced anyway). The run's own files (checkpoints, config, threshold, records)
    /// are never replaced.
    #[arg(long)]
    pub overwrite: bool,
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
    let format = Format::resolve(args.format, args.out.as_deref())?;
    let out = (args.out.clone()).unwrap_or_else(|| args.run_dir.join(format.default_file_name()));
    // Before the model is loaded and traced (a minute on a CPU), not after.
    check_out(&out, &args.run_dir, args.overwrite)?;
    let run = open_run(&args.run_dir, &inference)?;
    let (decision, source, _) = resolve_decision(args.decision, &run)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    let inf = run.inference;
    let inputs = provenance::run_inputs(&run.dir, source == ThresholdSource::Tuned)?;
    let provenance = Provenance::now(inf.device, inputs);
    let name = format.name();
    let bar = crate::progress::steps(&format!("{name}: building"));
    let checking = || bar.set_message(format!("{name}: checking against tumorseg"));
    let (manifest, json) = match format {
        Format::Torchscript => {
            let module = export::trace(&run.models, &inf)?;
            checking();
            let checked = export::check(&module, &run.models, &inf)?;
            let manifest = Manifest::new(&out, format, &inf, decision, checked, provenance);
            let json = export::save(&module, &out, &manifest)?;
            (manifest, json)
        }
        Format::Onnx => {
            let bytes = onnx::encode(&onnx_model(&run, &inf, decision))?;
            checking();
            let checked = export::check_onnx(&bytes, &run.models, &inf)?;
            let manifest = Manifest::new(&out, format, &inf, decision, checked, provenance);
            let json = export::save_onnx(&bytes, &out, &manifest)?;
            (manifest, json)
        }
    };
    bar.finish_and_clear();
    print_summary(&out, &json, &manifest, &inf, decision);
    Ok(())
}

/// The files a run directory is made of: an export over one of them would destroy the run.
const RUN_FILES: [&str; 10] = [
    checkpoint::BEST,
    checkpoint::LAST,
    checkpoint::OPTIMIZER,
    checkpoint::STATE,
    checkpoint::CONFIG,
    checkpoint::METRICS,
    crate::threshold::FILE,
    crate::ensemble::FILE,
    provenance::FILE,
    crate::report::JSON,
];

/// An existing `out` is replaced when it is an earlier export (its manifest is beside it) or with
/// `--overwrite`; neither it nor its manifest may be one of the run's own files.
fn check_out(out: &Path, run_dir: &Path, overwrite: bool) -> Result<()> {
    if out.is_dir() {
        bail!("--out {} is a folder: give a file name", out.display());
    }
    let run_dir = run_dir.canonicalize().unwrap_or(run_dir.to_path_buf());
    for file in [out.to_path_buf(), export::manifest_path(out)] {
        let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else {
            continue;
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let in_run = parent.canonicalize().is_ok_and(|p| p == run_dir);
        if in_run && RUN_FILES.iter().any(|f| name == *f) {
            bail!(
                "--out {}: {} is the run's own {}, which the export would replace: give another \
                 file name",
                out.display(),
                file.display(),
                name.to_string_lossy()
            );
        }
    }
    if out.exists() && !overwrite && !export::manifest_path(out).is_file() {
        bail!(
            "{} exists and is not an earlier export (no {} beside it): give another --out, or \
             --overwrite to replace it",
            out.display(),
            export::manifest_path(out).display()
        );
    }
    Ok(())
}

/// The ONNX model, with what tumorseg decides by in its metadata.
fn onnx_model(run: &LoadedRun, inf: &Inference, decision: Decision) -> onnx::OnnxModel {
    let metadata = [
        ("threshold", decision.threshold.to_string()),
        ("postprocess", decision.postprocess.as_str().to_string()),
        ("tta", inf.tta.as_str().to_string()),
        ("size", inf.size.to_string()),
        ("run", run.dir.display().to_string()),
        ("members", run.models.len().to_string()),
    ];
    let doc = format!(
        "tumorseg U-Net++ / ResNet34{}. Input: {} Output: {}",
        match run.models.len() {
            1 => String::new(),
            n => format!(", an ensemble of {n} (their mean probability)"),
        },
        Format::Onnx.input(),
        export::OUTPUT
    );
    onnx::build(&run.models, inf.tta, &doc, &metadata)
}

fn print_summary(
    out: &Path,
    json: &Path,
    manifest: &Manifest,
    inf: &Inference,
    decision: Decision,
) {
    let checks: Vec<String> = manifest
        .checked
        .iter()
        .map(|c| format!("{}² {:.1e}", c.size, c.max_difference))
        .collect();
    println!(
        "{} ({}, TTA {}, input {}², threshold {}, postprocess {}), manifest {}; \
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
}
