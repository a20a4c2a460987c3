//! One optimisation step and the per-epoch validation Dice, shared by the training loop and
//! `tumorseg bench train` so the benchmark times exactly the real step.
//! Neither reads a value back to the host (except the fp16 scaler's skip decision): losses and Dice sums stay
//! on the device until the loop asks for them once per epoch.
use super::adam::Adam;
use super::ema::Ema;
use crate::batches::normalize;
use crate::device::{autocast, to_channels_last, Precision};
use crate::loss::{self, DiceReduction};
use crate::scaler::GradScaler;
use tch::{nn::ModuleT, Device, Kind, Tensor};

/// Everything a training step mutates besides the model's weights.
pub struct StepState {
    pub optimizer: Adam,
    pub scaler: GradScaler,
    pub device: Device,
    /// Resolved (never `Auto`).
    pub precision: Precision,
    /// Inputs go to the model NHWC-strided.
    pub channels_last: bool,
    /// Weight averaging, updated after every step taken.
    pub ema: Option<Ema>,
    /// How the loss pools its Dice term.
    pub dice: DiceReduction,
}

impl StepState {
    /// A fresh optimizer over `vs`'s trainable tensors and a scaler enabled for fp16 only.
    pub fn new(vs: &tch::nn::VarStore, lr: f64, precision: Precision) -> anyhow::Result<StepState> {
        let device = vs.device();
        Ok(StepState {
            optimizer: Adam::new(vs, lr)?,
            scaler: GradScaler::new(device, precision == Precision::Fp16),
            device,
            precision,
            channels_last: false,
            ema: None,
            dice: DiceReduction::Batch,
        })
    }
}

/// Forward (autocast) → 0.5·focal + 0.5·dice (pooled as `st.dice`) → scaled backward → unscale/check →
/// Adam step and EMA update (skipped on inf/NaN) → scale update. Returns the detached fp32 loss on the device.
pub fn step<M: ModuleT>(model: &M, st: &mut StepState, images: &Tensor, masks: &Tensor) -> Tensor {
    let x = st.input(images);
    let y = masks.to_device(st.device).to_kind(Kind::Float);
    st.optimizer.zero_grad();
    let logits = autocast(st.device, st.precision, || model.forward_t(&x, true));
    let loss = loss::combined(&logits, &y, st.dice);
    st.scaler.scale(&loss).backward();
    let skip = st.scaler.unscale_(&mut [st.optimizer.flat_grad()]);
    if !skip {
        st.optimizer.step();
        if let Some(ema) = &mut st.ema {
            ema.update();
        }
    }
    st.scaler.update();
    loss.detach()
}

impl StepState {
    /// A loader batch's grey images [B, 1, S, S] as the model's input: on the device, normalised to 3
    /// channels, in the layout the model runs in.
    pub fn input(&self, images: &Tensor) -> Tensor {
        let x = normalize(&images.to_device(self.device));
        if self.channels_last {
            to_channels_last(&x)
        } else {
            x
        }
    }
}

/// Per-image Dice at threshold 0.5 (`(2tp+ε)/(2tp+fp+fn+ε)`, ε = 1e-7, as the reference script), summed
/// over the batch on the device (f64 [1]). Eval mode, no grad, autocast.
pub fn dice_sum<M: ModuleT>(
    model: &M,
    device: Device,
    precision: Precision,
    images: &Tensor,
    masks: &Tensor,
) -> Tensor {
    const EPS: f64 = 1e-7;
    let _guard = tch::no_grad_guard();
    let x = images.to_device(device);
    let y = masks.to_device(device).to_kind(Kind::Double);
    let logits = autocast(device, precision, || model.forward_t(&x, false));
    // sigmoid(z) > 0.5 ⇔ z > 0, without computing the sigmoid.
    let pred = logits.gt(0.0).to_kind(Kind::Double);
    let dims: &[i64] = &[1, 2, 3];
    let tp = (&pred * &y).sum_dim_intlist(dims, false, Kind::Double);
    let fp = pred.sum_dim_intlist(dims, false, Kind::Double) - &tp;
    let fn_ = y.sum_dim_intlist(dims, false, Kind::Double) - &tp;
    let dice = (&tp * 2.0 + EPS) / (&tp * 2.0 + fp + fn_ + EPS);
    dice.sum(Kind::Double).reshape([1])
}
