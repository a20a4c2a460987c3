//! Model inference: foreground probabilities at each image's original size.
//!
//! Images are resized and normalised exactly like training (`batches::grey_batch`, then
//! `batches::normalize` on the device), the sigmoid is taken at model size and upsampled bilinearly
//! (align_corners = false, on the device) to the original size. No gradients, eval-mode BatchNorm,
//! autocast for fp16.
use crate::batches::{grey_batch, normalize};
use crate::dataset::Sample;
use crate::device::Precision;
use crate::model::unetpp::UnetPlusPlus;
use anyhow::{bail, Result};
use image::GrayImage;
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

mod open;
pub use open::{open_run, InferenceArgs, LoadedRun};

/// Foreground probabilities of one image at its original size, row-major.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProbMap {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

/// One row, for unit tests.
#[cfg(test)]
impl ProbMap {
    pub fn row(data: &[f32]) -> ProbMap {
        ProbMap {
            width: data.len() as u32,
            height: 1,
            data: data.to_vec(),
        }
    }
}

impl ProbMap {
    /// 0/1 mask with the one binarisation rule used everywhere: `prob > threshold`.
    pub fn to_mask(&self, threshold: f32) -> GrayImage {
        let data = self.data.iter().map(|&p| u8::from(p > threshold)).collect();
        GrayImage::from_raw(self.width, self.height, data).expect("ProbMap data matches its size")
    }
}

/// Test-time augmentation: the probabilities are averaged over transformed copies of each image,
/// every prediction mapped back to the original orientation first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "TtaRepr")]
pub enum Tta {
    /// The image as is.
    #[default]
    None,
    /// The image and its horizontal and vertical flips (3 passes).
    Flips,
    /// All 8 flips and quarter turns, the symmetries training augments with (8 passes).
    D4,
}

/// A view as (mirror left-right first, then k counter-clockwise quarter turns): every element of
/// the square's symmetry group is one of these. The vertical flip is the mirror turned twice.
const FLIP_VIEWS: [(bool, i64); 3] = [(false, 0), (true, 0), (true, 2)];
const D4_VIEWS: [(bool, i64); 8] = [
    (false, 0),
    (false, 1),
    (false, 2),
    (false, 3),
    (true, 0),
    (true, 1),
    (true, 2),
    (true, 3),
];

impl Tta {
    /// Each view as (mirror left-right first, then k counter-clockwise quarter turns).
    pub fn views(self) -> &'static [(bool, i64)] {
        match self {
            Tta::None => &FLIP_VIEWS[..1],
            Tta::Flips => &FLIP_VIEWS,
            Tta::D4 => &D4_VIEWS,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tta::None => "none",
            Tta::Flips => "flips",
            Tta::D4 => "d4",
        }
    }
}

/// Files written before D4 existed hold `"tta": true` (flips) or `false`.
#[derive(Deserialize)]
#[serde(untagged)]
enum TtaRepr {
    Old(bool),
    Name(String),
}

impl TryFrom<TtaRepr> for Tta {
    type Error = String;
    fn try_from(r: TtaRepr) -> Result<Tta, String> {
        match r {
            TtaRepr::Old(true) => Ok(Tta::Flips),
            TtaRepr::Old(false) => Ok(Tta::None),
            TtaRepr::Name(n) => <Tta as clap::ValueEnum>::from_str(&n, true),
        }
    }
}

/// How to run the model.
#[derive(Clone, Copy, Debug)]
pub struct Inference {
    /// Model input side (multiple of 32).
    pub size: u32,
    pub batch: usize,
    pub device: Device,
    /// Already resolved (`Precision::resolve`).
    pub precision: Precision,
    pub tta: Tta,
    /// Inputs go to the model NHWC-strided.
    pub channels_last: bool,
}

/// Probabilities of `samples` at their original sizes (the DESIGN.md entry point): the mean over
/// `models` (one, or an ensemble's members) and the TTA's views.
pub fn probabilities(
    models: &[UnetPlusPlus],
    samples: &[Sample],
    size: u32,
    batch: usize,
    device: Device,
    precision: Precision,
    tta: Tta,
) -> Result<Vec<ProbMap>> {
    let inf = Inference {
        size,
        batch,
        device,
        precision,
        tta,
        channels_last: crate::device::Layout::Auto.channels_last(),
    };
    let images = load_images(samples)?;
    probabilities_gray(models, &images, &inf)
}

/// Decode images in parallel (errors name the image).
pub fn load_images(samples: &[Sample]) -> Result<Vec<GrayImage>> {
    samples.par_iter().map(Sample::load_gray).collect()
}

/// Probabilities for already-decoded images of any size.
pub fn probabilities_gray(
    models: &[UnetPlusPlus],
    images: &[GrayImage],
    inf: &Inference,
) -> Result<Vec<ProbMap>> {
    if inf.size == 0 || !inf.size.is_multiple_of(32) {
        bail!(
            "model input size {} must be a positive multiple of 32",
            inf.size
        );
    }
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(inf.batch.max(1)) {
        out.extend(batch_probabilities(models, chunk, inf)?);
    }
    Ok(out)
}

fn batch_probabilities(
    models: &[UnetPlusPlus],
    images: &[GrayImage],
    inf: &Inference,
) -> Result<Vec<ProbMap>> {
    let grey = grey_batch(images, inf.size);
    let probs = grey_probabilities(models, &grey.to_device(inf.device), inf);
    images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            let (w, h) = img.dimensions();
            let up = tch::no_grad(|| {
                probs.narrow(0, i as i64, 1).upsample_bilinear2d(
                    [h as i64, w as i64],
                    false,
                    None,
                    None,
                )
            });
            let data = Vec::<f32>::try_from(up.to_device(Device::Cpu).contiguous().view([-1]))?;
            Ok(ProbMap {
                width: w,
                height: h,
                data,
            })
        })
        .collect()
}

/// The tumour probability of each pixel of a [N, 1, S, S] batch of grey in [0, 1] on the models'
/// device, as [N, 1, S, S]: the mean over `models` (an ensemble's members, or one) and `inf.tta`'s
/// views, each member seeing every view. (What `export` traces.)
pub fn grey_probabilities(models: &[UnetPlusPlus], grey: &Tensor, inf: &Inference) -> Tensor {
    let input = normalize(grey);
    tch::no_grad(|| {
        let views = inf.tta.views();
        let sum = views
            .iter()
            .flat_map(|&view| {
                let x = to_view(&input, view);
                models
                    .iter()
                    .map(move |model| unview(&sigmoid(model, &x, inf), view))
            })
            .reduce(|a, b| a + b)
            .expect("a run has a model, and every TTA the image itself");
        sum / (views.len() * models.len()) as f64
    })
}

/// Dims 2 and 3 are height and width; `rot90` turns counter-clockwise from dim 2 towards dim 3.
fn to_view(x: &Tensor, (mirror, k): (bool, i64)) -> Tensor {
    let x = if mirror {
        x.flip([3])
    } else {
        x.shallow_clone()
    };
    if k == 0 {
        x
    } else {
        x.rot90(k, [2, 3])
    }
}

/// The inverse of `to_view`: turn back, then mirror back.
fn unview(p: &Tensor, (mirror, k): (bool, i64)) -> Tensor {
    let p = if k == 0 {
        p.shallow_clone()
    } else {
        p.rot90(-k, [2, 3])
    };
    if mirror {
        p.flip([3])
    } else {
        p
    }
}

/// Sigmoid of the logits in fp32, the forward pass under autocast for fp16/bf16 (as in training).
fn sigmoid(model: &UnetPlusPlus, input: &Tensor, inf: &Inference) -> Tensor {
    let input = if inf.channels_last {
        crate::device::to_channels_last(input)
    } else {
        input.shallow_clone()
    };
    crate::device::autocast(inf.device, inf.precision, || model.forward_t(&input, false))
        .to_kind(Kind::Float)
        .sigmoid()
}

/// Run the model over `samples` in chunks (bounded memory), calling `f(index, sample, probs)` for
/// each in order; a progress bar on stderr when `progress`.
pub fn for_each(
    models: &[UnetPlusPlus],
    samples: &[Sample],
    inf: &Inference,
    progress: bool,
    mut f: impl FnMut(usize, &Sample, &GrayImage, ProbMap) -> Result<()>,
) -> Result<()> {
    let bar = progress_bar(samples.len() as u64, progress);
    // Several batches per chunk keeps decoding parallel while memory stays bounded.
    let chunk = inf.batch.max(1) * 4;
    for (c, part) in samples.chunks(chunk).enumerate() {
        let images = load_images(part)?;
        let probs = probabilities_gray(models, &images, inf)?;
        for (j, ((sample, img), prob)) in part.iter().zip(&images).zip(probs).enumerate() {
            f(c * chunk + j, sample, img, prob)?;
        }
        bar.inc(part.len() as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

pub fn progress_bar(len: u64, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    crate::progress::items(len, "predict", "img")
}
