//! Export of a trained run for serving without tumorseg: the model, its input normalisation, its
//! test-time augmentation and the sigmoid in one module, either TorchScript (traced, for PyTorch's
//! `torch.jit.load` and libtorch: C++, Triton, TorchServe) or ONNX (written from the model's layers,
//! [`onnx`], for ONNX Runtime, TensorRT, OpenVINO). Either gives `predict`'s probabilities, and each
//! export is checked against them before it is kept.
pub mod onnx;
mod onnx_proto;
pub mod onnx_run;

use crate::model::unetpp::UnetPlusPlus;
use crate::postprocess::Decision;
use crate::predict::{grey_probabilities, Inference, Tta};
use crate::provenance::Provenance;
use anyhow::{ensure, Context, Result};
use serde::Serialize;
use std::path::Path;
use tch::{CModule, Kind, Tensor};

/// The file formats `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A traced TorchScript module (`torch.jit.load`; libtorch's `torch::jit::load`).
    Torchscript,
    /// An ONNX model, opset 17 (ONNX Runtime, TensorRT, OpenVINO …).
    Onnx,
}

impl Format {
    /// `.onnx` means ONNX; anything else TorchScript.
    pub fn of_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("onnx") => Format::Onnx,
            _ => Format::Torchscript,
        }
    }

    /// The format `--format` names, checked against the extension of `--out` where both are given:
    /// an ONNX model in a `.pt` file, or TorchScript in a `.onnx` one, would mislead whoever loads it.
    pub fn resolve(given: Option<Format>, out: Option<&Path>) -> Result<Format> {
        let ext = out
            .and_then(|p| p.extension())
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        let contradicted = matches!(
            (given, ext.as_deref()),
            (Some(Format::Torchscript), Some("onnx"))
                | (Some(Format::Onnx), Some("pt" | "pth" | "torchscript"))
        );
        if let (true, Some(format), Some(ext)) = (contradicted, given, &ext) {
            anyhow::bail!(
                "--format {} does not match an --out ending in .{ext}: give a .{} file",
                format.flag(),
                format.extension()
            );
        }
        Ok(given
            .or(out.map(Format::of_path))
            .unwrap_or(Format::Torchscript))
    }

    /// As `--format` spells it.
    fn flag(self) -> &'static str {
        match self {
            Format::Torchscript => "torchscript",
            Format::Onnx => "onnx",
        }
    }

    /// As people write it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Torchscript => "TorchScript",
            Format::Onnx => "ONNX",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Torchscript => "pt",
            Format::Onnx => "onnx",
        }
    }

    pub fn default_file_name(self) -> &'static str {
        match self {
            Format::Torchscript => "model.torchscript.pt",
            Format::Onnx => "model.onnx",
        }
    }

    /// How Python runs it, as the manifest and `--help` show.
    pub fn usage(self) -> &'static str {
        match self {
            Format::Torchscript => "m = torch.jit.load(path); p = m(grey[None, None] / 255.0)",
            Format::Onnx => {
                "s = onnxruntime.InferenceSession(path); \
                 p = s.run(None, {\"grey\": grey[None, None].astype(\"float32\") / 255})[0]"
            }
        }
    }

    /// What the module takes.
    pub fn input(self) -> &'static str {
        match self {
            Format::Torchscript => {
                "float32 tensor [N, 1, H, W] on the export's device: grey in [0, 1] (8-bit \
                grey / 255), H and W multiples of 32; resize images to `size` (bilinear), as tumorseg does"
            }
            Format::Onnx => {
                "float32 tensor `grey` [N, 1, H, W]: grey in [0, 1] (8-bit grey / 255), H and W \
                multiples of 32; resize images to `size` (bilinear), as tumorseg does"
            }
        }
    }
}

/// What it gives.
pub const OUTPUT: &str = "float32 tensor [N, 1, H, W] (ONNX: `probability`): each pixel's tumour \
    probability (mean over the test-time augmentation's views); tumour where probability > \
    threshold, then postprocess";

/// Largest difference allowed between the module's probabilities and tumorseg's own.
const TOLERANCE: f64 = 1e-4;

/// One comparison of the module with tumorseg's own probabilities, on random grey images.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub size: u32,
    pub images: i64,
    pub max_difference: f64,
}

/// The sidecar JSON: how to call the module and how tumorseg decides on its output.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub module: String,
    pub format: Format,
    pub usage: &'static str,
    pub input: &'static str,
    pub output: &'static str,
    /// The input side the model predicts at: the one its threshold was tuned at, else its training
    /// size.
    pub size: u32,
    /// TorchScript: the only device the module runs on (its weights are constants of the traced
    /// graph). ONNX: "any", the runtime's choice.
    pub device: String,
    pub tta: Tta,
    pub threshold: f32,
    pub postprocess: crate::postprocess::Postprocess,
    pub checked: Vec<Check>,
    pub provenance: Provenance,
}

/// `forward(grey)` of the module: [`grey_probabilities`] of `models` under `inf` (fp32), traced.
/// The models' VarStores must be frozen (as `checkpoint::load_model` leaves it): the weights become
/// constants of the graph, which cannot require gradients.
pub fn trace(models: &[UnetPlusPlus], inf: &Inference) -> Result<CModule> {
    let side = i64::from(inf.size);
    let example = Tensor::rand([1, 1, side, side], (Kind::Float, inf.device));
    let mut forward = |inputs: &[Tensor]| vec![grey_probabilities(models, &inputs[0], inf)];
    CModule::create_by_tracing("TumorSeg", "forward", &[example], &mut forward)
        .context("trace the model")
}

/// Compare `module` with [`grey_probabilities`] on a batch of two random images at the training
/// size and at a second size, so that a module that only takes the traced size is caught.
pub fn check(module: &CModule, models: &[UnetPlusPlus], inf: &Inference) -> Result<Vec<Check>> {
    check_with(models, inf, |grey| {
        Ok(tch::no_grad(|| module.forward_ts(&[grey]))?)
    })
}

/// [`check`] for an ONNX model, run by [`onnx_run`] from the bytes that go into the file.
pub fn check_onnx(bytes: &[u8], models: &[UnetPlusPlus], inf: &Inference) -> Result<Vec<Check>> {
    let graph = onnx::decode(bytes)?;
    check_with(models, inf, |grey| {
        tch::no_grad(|| onnx_run::run(&graph, grey))
    })
}

fn check_with(
    models: &[UnetPlusPlus],
    inf: &Inference,
    exported: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<Check>> {
    let other = if inf.size >= 64 {
        inf.size / 64 * 32
    } else {
        64
    };
    [inf.size, other]
        .iter()
        .map(|&size| {
            let side = i64::from(size);
            let grey = Tensor::rand([2, 1, side, side], (Kind::Float, inf.device));
            let ours = grey_probabilities(models, &grey, inf);
            let theirs =
                exported(&grey).with_context(|| format!("run the exported module at {size}²"))?;
            ensure!(
                theirs.size() == ours.size(),
                "the exported module gives {:?} for {:?}",
                theirs.size(),
                ours.size()
            );
            let max_difference = (theirs - ours).abs().max().double_value(&[]);
            ensure!(
                max_difference <= TOLERANCE,
                "the exported module's probabilities differ from tumorseg's by {max_difference} at {size}²"
            );
            Ok(Check {
                size,
                images: 2,
                max_difference,
            })
        })
        .collect()
}

/// Write an ONNX model's bytes to `out` and its manifest beside it, each replaced atomically;
/// returns the manifest's path.
pub fn save_onnx(bytes: &[u8], out: &Path, manifest: &Manifest) -> Result<std::path::PathBuf> {
    crate::atomic::write_atomic(out, bytes)?;
    save_manifest(out, manifest)
}

/// `<out>.json` (model.onnx.json beside model.onnx): named after the whole file name, so that a
/// TorchScript module and an ONNX model exported side by side (model.pt, model.onnx) keep one each.
pub fn manifest_path(out: &Path) -> std::path::PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".json");
    name.into()
}

fn save_manifest(out: &Path, manifest: &Manifest) -> Result<std::path::PathBuf> {
    let json = manifest_path(out);
    crate::atomic::write_atomic(
        &json,
        (serde_json::to_string_pretty(manifest)? + "\n").as_bytes(),
    )?;
    Ok(json)
}

/// Write `module` to `out` and its manifest beside it ([`manifest_path`]), each
/// replaced atomically; returns the manifest's path.
pub fn save(module: &CModule, out: &Path, manifest: &Manifest) -> Result<std::path::PathBuf> {
    let tmp = crate::atomic::temp_sibling(out);
    // libtorch's own error would be a C++ stack trace: find out first whether the file can be made.
    std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    module.save(&tmp).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_string();
        anyhow::anyhow!("cannot write {}: {first}", tmp.display())
    })?;
    std::fs::rename(&tmp, out).with_context(|| format!("write {}", out.display()))?;
    save_manifest(out, manifest)
}

impl Manifest {
    pub fn new(
        out: &Path,
        format: Format,
        inf: &Inference,
        decision: Decision,
        checked: Vec<Check>,
        provenance: Provenance,
    ) -> Manifest {
        Manifest {
            module: out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            format,
            usage: format.usage(),
            input: format.input(),
            output: OUTPUT,
            size: inf.size,
            device: match format {
                Format::Torchscript => crate::device::device_name(inf.device),
                Format::Onnx => "any".into(),
            },
            tta: inf.tta,
            threshold: decision.threshold,
            postprocess: decision.postprocess,
            checked,
            provenance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_follows_the_flag_then_the_file_and_a_contradiction_is_refused() {
        let resolve = |given, out: &str| Format::resolve(given, Some(Path::new(out)));
        assert_eq!(resolve(None, "m.ONNX").unwrap(), Format::Onnx);
        assert_eq!(resolve(None, "m.bin").unwrap(), Format::Torchscript);
        assert_eq!(resolve(Some(Format::Onnx), "m.bin").unwrap(), Format::Onnx);
        assert_eq!(Format::resolve(None, None).unwrap(), Format::Torchscript);
        let err = resolve(Some(Format::Onnx), "m.pth")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--format onnx does not match an --out ending in .pth: give a .onnx file"
        );
        let err = resolve(Some(Format::Torchscript), "m.onnx")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--format torchscript does not match an --out ending in .onnx: give a .pt file"
        );
    }
}
