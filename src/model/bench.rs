//! `tumorseg bench train|infer`: median time per step of the U-Net++ on random data, so that runs on
//! different machines/precisions compare. The train step is `train::step` itself (Adam lr 1e-4,
//! 0.5·focal + 0.5·dice, fp16 loss scaling), not a re-implementation.
use super::unetpp::UnetPlusPlus;
use crate::device::{autocast, device_name, to_channels_last, Precision};
use crate::train::{step, StepState};
use anyhow::{ensure, Result};
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// Untimed steps first: cuDNN autotuning and the caching allocator settle there.
const WARMUP_STEPS: usize = 3;

#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchResult {
    pub mode: &'static str,
    pub device: String,
    pub precision: Precision,
    pub size: i64,
    pub batch: i64,
    pub steps: usize,
    pub channels_last: bool,
    /// Decay of the weight average updated after every step (train only).
    pub ema: Option<f64>,
    /// Whether the batch norms were folded into the convolutions (infer only).
    pub folded: Option<bool>,
    pub median_ms: f64,
    pub min_ms: f64,
    pub images_per_s: f64,
}

impl std::fmt::Display for BenchResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bench {}: {} {:?} {}x{} batch {}{}{}{}: median {:.2} ms/step (min {:.2}), {:.1} img/s over {}",
            self.mode,
            self.device,
            self.precision,
            self.size,
            self.size,
            self.batch,
            if self.channels_last { " channels-last" } else { "" },
            self.ema.map_or(String::new(), |d| format!(" ema {d}")),
            if self.folded == Some(false) { " unfolded" } else { "" },
            self.median_ms,
            self.min_ms,
            self.images_per_s,
            crate::report::count(self.steps, "step")
        )
    }
}

/// What to measure; `precision` is resolved against the device first.
#[derive(Clone, Copy, Debug)]
pub struct BenchConfig {
    pub size: i64,
    pub batch: i64,
    pub precision: Precision,
    pub device: Device,
    pub steps: usize,
    /// Feed NHWC-strided inputs so cuDNN runs channels-last kernels (tch has no memory-format API).
    pub channels_last: bool,
    /// Train with a weight average of this decay (`--ema`), to time its per-step update.
    pub ema: Option<f64>,
    /// Infer with the batch norms folded into the convolutions, as `predict` does.
    pub fold_batch_norms: bool,
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn setup(cfg: &BenchConfig) -> Result<(VarStore, UnetPlusPlus, Precision)> {
    ensure!(
        cfg.size > 0 && cfg.size % 32 == 0,
        "--size must be a positive multiple of 32, got {}",
        cfg.size
    );
    ensure!(
        cfg.batch > 0 && cfg.steps > 0,
        "--batch and --steps must be positive"
    );
    let precision = cfg.precision.resolve(cfg.device)?;
    if cfg.device.is_cuda() {
        tch::Cuda::cudnn_set_benchmark(true);
    }
    tch::manual_seed(0);
    let vs = VarStore::new(cfg.device);
    let model = UnetPlusPlus::new(&vs.root());
    Ok((vs, model, precision))
}

/// Random [B, channels, S, S] f32 in [0, 1) on the bench device.
fn random_images(cfg: &BenchConfig, channels: i64) -> Tensor {
    Tensor::rand(
        [cfg.batch, channels, cfg.size, cfg.size],
        (Kind::Float, cfg.device),
    )
}

/// Time `f` (synchronising the device after each call) and summarise.
fn time_steps(
    cfg: &BenchConfig,
    precision: Precision,
    mode: &'static str,
    mut f: impl FnMut(),
) -> BenchResult {
    for _ in 0..WARMUP_STEPS {
        f();
    }
    sync(cfg.device);
    let mut ms: Vec<f64> = (0..cfg.steps)
        .map(|_| {
            let t = Instant::now();
            f();
            sync(cfg.device);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let median_ms = if n % 2 == 1 {
        ms[n / 2]
    } else {
        (ms[n / 2 - 1] + ms[n / 2]) / 2.0
    };
    BenchResult {
        mode,
        device: device_name(cfg.device),
        precision,
        size: cfg.size,
        batch: cfg.batch,
        steps: cfg.steps,
        channels_last: cfg.channels_last,
        ema: cfg.ema,
        folded: (mode == "infer").then_some(cfg.fold_batch_norms),
        median_ms,
        min_ms: ms[0],
        images_per_s: cfg.batch as f64 * 1e3 / median_ms,
    }
}

/// Training steps on random batches shaped like the loader's (grey images, u8 masks, already on the
/// device as the prefetcher leaves them): normalisation, forward, loss, backward, Adam.
pub fn bench_train(cfg: &BenchConfig) -> Result<BenchResult> {
    let (vs, model, precision) = setup(cfg)?;
    let x = random_images(cfg, 1);
    let y = random_images(cfg, 1).gt(0.8).to_kind(Kind::Uint8);
    let mut st = StepState::new(&vs, 1e-4, precision)?;
    st.channels_last = cfg.channels_last;
    if let Some(decay) = cfg.ema {
        st.ema = Some(crate::train::ema::Ema::new(
            &vs,
            st.optimizer.flat_param(),
            decay,
        )?);
    }
    Ok(time_steps(cfg, precision, "train", || {
        let _ = step(&model, &mut st, &x, &y);
    }))
}

/// Eval-mode forward passes (no grad) on random images, as `predict` runs them.
pub fn bench_infer(cfg: &BenchConfig) -> Result<BenchResult> {
    let (_vs, mut model, precision) = setup(cfg)?;
    if cfg.fold_batch_norms {
        model.fold_batch_norms();
    }
    let mut x = random_images(cfg, 3);
    if cfg.channels_last {
        x = to_channels_last(&x);
    }
    let _guard = tch::no_grad_guard();
    Ok(time_steps(cfg, precision, "infer", || {
        let _ = autocast(cfg.device, precision, || model.forward_t(&x, false));
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_names_the_setting_and_counts_steps_in_words() {
        let mut r = BenchResult {
            mode: "train",
            device: "cpu".into(),
            precision: Precision::Fp32,
            size: 32,
            batch: 2,
            steps: 1,
            channels_last: true,
            ema: Some(0.99),
            folded: None,
            median_ms: 12.345,
            min_ms: 10.0,
            images_per_s: 162.04,
        };
        assert_eq!(
            r.to_string(),
            "bench train: cpu Fp32 32x32 batch 2 channels-last ema 0.99: median 12.35 ms/step \
             (min 10.00), 162.0 img/s over 1 step"
        );
        r.steps = 20;
        assert!(r.to_string().ends_with("over 20 steps"), "{r}");
    }
}
