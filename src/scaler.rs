//! Dynamic loss scaling for fp16 training with PyTorch `torch.amp.GradScaler`'s rules: the loss is multiplied
//! by `scale` (initially 65536) before backward; gradients are unscaled and checked; a step whose gradients
//! hold inf/NaN is skipped and the scale halves; after `growth_interval` (2000) clean steps in a row it doubles.
//! The scale and its growth counter live on the device so the only host sync is the skip decision.
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

pub const INIT_SCALE: f64 = 65536.0;
pub const GROWTH_FACTOR: f64 = 2.0;
pub const BACKOFF_FACTOR: f64 = 0.5;
pub const GROWTH_INTERVAL: i64 = 2000;

/// What `train_state.json` keeps of a scaler to resume it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalerState {
    pub enabled: bool,
    pub scale: f64,
    pub growth_tracker: i64,
    pub skipped_steps: u64,
}

pub struct GradScaler {
    enabled: bool,
    scale: Tensor,          // f32 [1]
    growth_tracker: Tensor, // i32 [1]: clean steps since the last change
    found_inf: Tensor,      // f32 [1]: set by `unscale_`, consumed by `update`
    growth_interval: i64,
    skipped_steps: u64,
}

impl GradScaler {
    /// A disabled scaler is a no-op (fp32 and bf16 train unscaled).
    pub fn new(device: Device, enabled: bool) -> Self {
        Self::with_interval(device, enabled, GROWTH_INTERVAL)
    }

    /// As `new` with another growth interval (tests use a short one).
    pub fn with_interval(device: Device, enabled: bool, growth_interval: i64) -> Self {
        GradScaler {
            enabled,
            scale: Tensor::full([1], INIT_SCALE, (Kind::Float, device)),
            growth_tracker: Tensor::zeros([1], (Kind::Int, device)),
            found_inf: Tensor::zeros([1], (Kind::Float, device)),
            growth_interval,
            skipped_steps: 0,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The current scale (a host sync: for logs and state, not per step).
    pub fn scale_value(&self) -> f64 {
        self.scale.double_value(&[0])
    }

    /// Steps skipped so far because of inf/NaN gradients.
    pub fn skipped_steps(&self) -> u64 {
        self.skipped_steps
    }

    /// `loss × scale` (or `loss` when disabled), to call backward on.
    pub fn scale(&self, loss: &Tensor) -> Tensor {
        if self.enabled {
            loss * &self.scale
        } else {
            loss.shallow_clone()
        }
    }

    /// Divides every gradient by the scale in place and records whether any value is inf/NaN.
    /// Returns true when the optimizer step must be skipped (the one host sync per step).
    pub fn unscale_(&mut self, grads: &mut [Tensor]) -> bool {
        if !self.enabled {
            return false;
        }
        let _guard = tch::no_grad_guard();
        let _ = self.found_inf.zero_();
        let inv_scale = self.scale.reciprocal();
        for g in grads.iter_mut() {
            if g.device().is_cuda() {
                // One fused kernel: unscale and flag non-finite values (PyTorch's GradScaler does the same).
                g.internal_amp_non_finite_check_and_unscale(&mut self.found_inf, &inv_scale);
            } else {
                let bad = g
                    .isfinite()
                    .logical_not()
                    .any()
                    .to_kind(Kind::Float)
                    .reshape([1]);
                self.found_inf = self.found_inf.maximum(&bad);
                let _ = g.g_mul_(&inv_scale);
            }
        }
        let skip = self.found_inf.double_value(&[0]) != 0.0;
        if skip {
            self.skipped_steps += 1;
        }
        skip
    }

    /// Updates the scale from the last `unscale_` (backoff on inf/NaN, growth after the interval), on the device.
    pub fn update(&mut self) {
        if !self.enabled {
            return;
        }
        let _guard = tch::no_grad_guard();
        let _ = self.scale.internal_amp_update_scale_(
            &self.growth_tracker,
            &self.found_inf,
            GROWTH_FACTOR,
            BACKOFF_FACTOR,
            self.growth_interval,
        );
    }

    pub fn state(&self) -> ScalerState {
        ScalerState {
            enabled: self.enabled,
            scale: self.scale_value(),
            growth_tracker: self.growth_tracker.int64_value(&[0]),
            skipped_steps: self.skipped_steps,
        }
    }

    pub fn load_state(&mut self, s: &ScalerState) {
        let _guard = tch::no_grad_guard();
        let _ = self.scale.fill_(s.scale);
        let _ = self.growth_tracker.fill_(s.growth_tracker);
        self.skipped_steps = s.skipped_steps;
    }
}
