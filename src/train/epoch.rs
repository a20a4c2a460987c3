//! One epoch's passes over the splits: training (continuing where a stopped epoch left off) and
//! validation. Host syncs: the fp16 skip decision per step, the loss shown by the progress bar every
//! `SHOW_EVERY` steps, and the epoch's loss and Dice sums once per epoch.
use super::interrupt;
use super::prefetch::DeviceBatches;
use super::setup::Data;
use super::step::{dice_sum, step, StepState};
use super::TrainConfig;
use crate::batches;
use crate::checkpoint::PartialEpoch;
use crate::model::unetpp::UnetPlusPlus;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;
use tch::{Kind, Tensor};

const SHOW_EVERY: usize = 20;

/// Swaps the weight average (`--ema`) in for validation and the best checkpoint, then back out.
pub(super) fn swap_ema(st: &mut StepState) {
    if let Some(ema) = &mut st.ema {
        ema.swap();
    }
}

/// One pass over the train split, continuing `from` (the part a resumed epoch had trained); returns
/// how far it got (the whole epoch, unless Ctrl-C) and the share of the time spent waiting for data.
pub(super) fn train_epoch(
    cfg: &TrainConfig,
    mut feed: DeviceBatches,
    model: &UnetPlusPlus,
    st: &mut StepState,
    epoch: usize,
    from: PartialEpoch,
) -> Result<(PartialEpoch, f64)> {
    let t0 = Instant::now();
    let bar = progress_bar(cfg, from.batches + feed.n_batches(), epoch);
    bar.set_position(from.batches as u64);
    // Continues the f32 sum exactly as an uninterrupted epoch would have accumulated it.
    let mut loss_sum = Tensor::from_slice(&[from.loss_sum as f32]).to_device(st.device);
    let (mut steps, mut trained) = (from.batches, from.images);
    for (images, masks) in feed.by_ref() {
        trained += images.size()[0] as usize;
        let loss = step(model, st, &images, &masks);
        loss_sum += loss;
        steps += 1;
        bar.inc(1);
        if steps.is_multiple_of(SHOW_EVERY) && !bar.is_hidden() {
            bar.set_message(format!(
                "loss {:.4} lr {:.1e}",
                loss_sum.double_value(&[0]) / steps as f64,
                st.optimizer.lr()
            ));
        }
        if interrupt::requested() {
            break;
        }
    }
    bar.finish_and_clear();
    anyhow::ensure!(
        steps > 0 || interrupt::requested(),
        "epoch {epoch} ran no training step (empty train split?)"
    );
    let wait = feed.wait_seconds() / t0.elapsed().as_secs_f64().max(1e-9);
    let done = PartialEpoch {
        batches: steps,
        images: trained,
        loss_sum: loss_sum.double_value(&[0]),
        ..from
    };
    Ok((done, wait))
}

/// Mean per-image Dice at threshold 0.5 over the valid split.
pub(super) fn validate(data: &Data, model: &UnetPlusPlus, st: &StepState) -> f64 {
    let mut sum = Tensor::zeros([1], (Kind::Double, st.device));
    let loader = batches::epoch(data.valid.clone(), &data.valid_loader, 0);
    for (images, masks) in DeviceBatches::new(loader, st.device) {
        sum += dice_sum(model, st.device, st.precision, &st.input(&images), &masks);
    }
    sum.double_value(&[0]) / data.valid.len() as f64
}

fn progress_bar(cfg: &TrainConfig, n: usize, epoch: usize) -> ProgressBar {
    if !cfg.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed}<{eta} {msg}")
    {
        bar.set_style(style);
    }
    bar.set_prefix(format!("epoch {epoch}/{}", cfg.epochs));
    bar
}
