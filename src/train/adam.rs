//! Adam (PyTorch's `torch.optim.Adam` formulas: betas 0.9/0.999, eps 1e-8, no weight decay) written here
//! rather than tch's `nn::Adam`, whose moments cannot be exported: ours are saved for `--resume`, and a
//! step the loss scaler rejects is skipped without touching them.
//!
//! Every trainable tensor (and its gradient) is re-pointed into one flat fp32 buffer, so a whole update is
//! a handful of kernels instead of ~8 per parameter tensor: the same effect as PyTorch's foreach/fused Adam.
//! Autograd keeps accumulating into the existing flat-backed `.grad` in place because gradients are
//! zeroed, never set to None.
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Kind, Tensor};

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

/// The scalar part of the optimizer state (`train_state.json`); the moments go to a safetensors file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamState {
    pub step: u64,
    pub lr: f64,
    /// Trainable tensor names in flat-buffer order, to refuse moments saved for another model.
    pub names: Vec<String>,
}

pub struct Adam {
    names: Vec<String>,
    flat_param: Tensor,
    flat_grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    step: u64,
    lr: f64,
}

impl Adam {
    /// Takes over the trainable variables of `vs` (sorted by name); call after loading weights.
    pub fn new(vs: &VarStore, lr: f64) -> Result<Adam> {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        ensure!(!vars.is_empty(), "the model has no trainable tensors");
        let device = vs.device();
        define_grads(&vars);
        let flat_param =
            super::flat::flatten(vars.iter_mut().map(|(n, t)| (n.as_str(), t)), device)
                .context("Adam keeps fp32 master weights")?;
        let flat_grad = flat_param.zeros_like();
        let shapes: Vec<Vec<i64>> = vars.iter().map(|(_, t)| t.size()).collect();
        let _guard = tch::no_grad_guard();
        for ((_, t), g) in vars.iter().zip(super::flat::views(&flat_grad, &shapes)) {
            t.grad().set_data(&g);
        }
        Ok(Adam {
            names: vars.into_iter().map(|(n, _)| n).collect(),
            exp_avg: flat_param.zeros_like(),
            exp_avg_sq: flat_param.zeros_like(),
            flat_param,
            flat_grad,
            step: 0,
            lr,
        })
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    pub fn steps(&self) -> u64 {
        self.step
    }

    /// All gradients as one flat tensor (what the scaler unscales and checks).
    pub fn flat_grad(&self) -> Tensor {
        self.flat_grad.shallow_clone()
    }

    /// All parameters as one flat tensor (tests, checksums).
    pub fn flat_param(&self) -> Tensor {
        self.flat_param.shallow_clone()
    }

    pub fn zero_grad(&mut self) {
        let _ = self.flat_grad.zero_();
    }

    /// One Adam update from the current gradients (PyTorch's single-tensor formulas).
    pub fn step(&mut self) {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let t = self.step as f64;
        let bias_correction1 = 1.0 - BETA1.powf(t);
        let bias_correction2_sqrt = (1.0 - BETA2.powf(t)).sqrt();
        let step_size = self.lr / bias_correction1;
        let g = &self.flat_grad;
        let _ = self.exp_avg.lerp_(g, 1.0 - BETA1);
        let _ = self
            .exp_avg_sq
            .g_mul_scalar_(BETA2)
            .addcmul_(&(g * (1.0 - BETA2)), g);
        let mut denom = self.exp_avg_sq.sqrt() / bias_correction2_sqrt;
        let _ = denom.g_add_scalar_(EPS);
        let _ = self
            .flat_param
            .addcdiv_(&(&self.exp_avg * -step_size), &denom);
    }

    pub fn state(&self) -> AdamState {
        AdamState {
            step: self.step,
            lr: self.lr,
            names: self.names.clone(),
        }
    }

    /// The moments, named for a safetensors file.
    pub fn moments(&self) -> Vec<(String, Tensor)> {
        vec![
            ("exp_avg".into(), self.exp_avg.shallow_clone()),
            ("exp_avg_sq".into(), self.exp_avg_sq.shallow_clone()),
        ]
    }

    /// Restores `state` and the moments written by `moments()`.
    pub fn load(&mut self, state: &AdamState, moments: &[(String, Tensor)]) -> Result<()> {
        ensure!(
            state.names == self.names,
            "the optimizer state was saved for a different set of trainable tensors"
        );
        let _guard = tch::no_grad_guard();
        for (name, dst) in [
            ("exp_avg", &mut self.exp_avg),
            ("exp_avg_sq", &mut self.exp_avg_sq),
        ] {
            let src = moments
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| anyhow::anyhow!("optimizer state lacks {name}"))?;
            ensure!(
                src.1.size() == dst.size(),
                "optimizer {name} has {:?} values, the model {:?}",
                src.1.size(),
                dst.size()
            );
            dst.copy_(&src.1.to_device(dst.device()));
        }
        self.step = state.step;
        self.lr = state.lr;
        Ok(())
    }

    pub fn device(&self) -> Device {
        self.flat_param.device()
    }
}

/// Creates every `.grad` (zeros) with one throw-away backward, so the gradients can be re-pointed into
/// the flat buffer before the first real step.
fn define_grads(vars: &[(String, Tensor)]) {
    let total = vars
        .iter()
        .map(|(_, t)| (t * 0.0).sum(Kind::Float))
        .reduce(|a, b| a + b)
        .expect("non-empty");
    total.backward();
}
