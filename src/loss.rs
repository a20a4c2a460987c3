//! The training loss: 0.5·Focal + 0.5·Dice, both exactly as segmentation_models_pytorch 0.6.0 defines them
//! in binary mode from logits (`FocalLoss("binary")`, `DiceLoss("binary")`), so runs compare with the seed.
//!
//! Losses are computed in fp32 whatever the autocast dtype of the logits: autocast would promote
//! `binary_cross_entropy_with_logits`, `exp`, `pow` and `sum` to fp32 anyway, and fp16 sums over 640² pixels overflow.
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// Over what the soft Dice of the loss is pooled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DiceReduction {
    /// smp's `DiceLoss`: one Dice over all pixels of the batch, so large tumours weigh the most.
    #[default]
    Batch,
    /// One Dice per image, averaged over the images that hold a tumour: every tumour weighs the same,
    /// as in the mean per-image Dice the runs are judged by.
    Image,
}

/// smp `DiceLoss` eps: the denominator is clamped to at least this.
const DICE_EPS: f64 = 1e-7;
/// smp `FocalLoss` default gamma.
const FOCAL_GAMMA: f64 = 2.0;

/// smp `FocalLoss("binary")`: alpha None, gamma 2, mean over every pixel, not normalised.
/// `logits` and `target` have the same number of elements (any shape, e.g. [B,1,H,W]); target is 0/1.
pub fn focal(logits: &Tensor, target: &Tensor) -> Tensor {
    let x = logits.to_kind(Kind::Float).reshape([-1]);
    let t = target.to_kind(Kind::Float).reshape([-1]);
    let logpt = x.binary_cross_entropy_with_logits::<Tensor>(&t, None, None, Reduction::None);
    let pt = (-&logpt).exp();
    let focal_term = (pt.neg() + 1.0).pow_tensor_scalar(FOCAL_GAMMA);
    (focal_term * logpt).mean(Kind::Float)
}

/// smp `DiceLoss("binary")`: probabilities via `logsigmoid().exp()`, one soft Dice over the whole batch
/// (dims (0,2) of the [B,1,H·W] view), smooth 0, denominator clamped at eps 1e-7, loss = 1 - dice,
/// and zero when the batch has no positive pixel (smp's `loss * mask` for an empty class).
pub fn dice(logits: &Tensor, target: &Tensor) -> Tensor {
    let (loss, has_positive) = soft_dice_loss(logits, target, &[0, 2]);
    (loss * has_positive).mean(Kind::Float)
}

/// `DiceReduction::Image`: smp's Dice loss of each image on its own, averaged over the images with a
/// positive pixel (zero when there is none).
pub fn dice_per_image(logits: &Tensor, target: &Tensor) -> Tensor {
    let (loss, has_positive) = soft_dice_loss(logits, target, &[2]);
    (loss * &has_positive).sum(Kind::Float) / has_positive.sum(Kind::Float).clamp_min(1.0)
}

/// `1 - dice` and whether the target has a positive pixel (0/1), both pooled over `dims` of the
/// [B,1,H·W] view, with smp's arithmetic.
fn soft_dice_loss(logits: &Tensor, target: &Tensor, dims: &[i64]) -> (Tensor, Tensor) {
    let bs = logits.size()[0];
    let p = logits
        .to_kind(Kind::Float)
        .log_sigmoid()
        .exp()
        .reshape([bs, 1, -1]);
    let t = target.to_kind(Kind::Float).reshape([bs, 1, -1]);
    let p_sum = p.sum_dim_intlist(dims, false, Kind::Float);
    let t_sum = t.sum_dim_intlist(dims, false, Kind::Float);
    // smp 0.6 derives the intersection from an L1 norm (soft-label friendly); same value for 0/1 targets.
    let l1 = (&p - &t).abs().sum_dim_intlist(dims, false, Kind::Float);
    let inter = (&p_sum + &t_sum - l1) / 2.0;
    let fp = &p_sum - &inter;
    let fn_ = &t_sum - &inter;
    let denom = (&inter + fp * 0.5 + fn_ * 0.5).clamp_min(DICE_EPS);
    let score = inter / denom;
    (score.neg() + 1.0, t_sum.gt(0.0).to_kind(Kind::Float))
}

/// The training objective: 0.5·focal + 0.5·dice (a scalar fp32 tensor on the logits' device).
pub fn combined(logits: &Tensor, target: &Tensor, reduction: DiceReduction) -> Tensor {
    // Converted once here: both terms' own `to_kind` are then no-ops, not a second fp16 → fp32 copy.
    let (x, t) = (logits.to_kind(Kind::Float), target.to_kind(Kind::Float));
    let dice = match reduction {
        DiceReduction::Batch => dice(&x, &t),
        DiceReduction::Image => dice_per_image(&x, &t),
    };
    focal(&x, &t) * 0.5 + dice * 0.5
}
