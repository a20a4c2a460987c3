//! Exponential moving average of the weights and BatchNorm statistics (`--ema DECAY`).
//!
//! Why: trained from scratch at a fixed learning rate, the valid Dice of consecutive epochs jumps by a
//! point or two; the average of the last few hundred steps is a smoother, usually better model. With
//! EMA on, validation, the best checkpoint, the plateau schedule and early stopping all see the averaged
//! model; the live weights keep training and are what `last.safetensors` holds for `--resume`.
//!
//! The decay warms up as timm's ModelEma does, `min(decay, (1 + t) / (10 + t))` at step t, so the
//! random initial weights do not linger in the average for the first epochs.
use anyhow::{anyhow, ensure, Result};
use tch::{nn::VarStore, Kind, Tensor};

/// Key prefix of the averaged tensors inside `optimizer.safetensors`.
const PREFIX: &str = "ema.";
const PARAMS: &str = "ema.params";

pub struct Ema {
    decay: f64,
    updates: u64,
    /// The optimizer's flat parameter buffer (shared storage) and its average.
    live: Tensor,
    shadow: Tensor,
    /// The float buffers (BatchNorm running mean/var), re-pointed into one flat tensor like the
    /// weights so that an update is two kernels, not one per buffer; and their average.
    live_buffers: Tensor,
    shadow_buffers: Tensor,
    /// Buffer names and their views into `shadow_buffers`, for saving and loading.
    buffers: Vec<(String, Tensor)>,
}

impl Ema {
    /// Starts the average at the current weights. `flat_param` is the optimizer's flat buffer.
    pub fn new(vs: &VarStore, flat_param: Tensor, decay: f64) -> Result<Ema> {
        ensure!(
            decay > 0.0 && decay < 1.0,
            "--ema decay {decay} must be in (0, 1)"
        );
        let mut live: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| !t.requires_grad() && t.is_floating_point())
            .collect();
        live.sort_by(|a, b| a.0.cmp(&b.0));
        let live_buffers =
            super::flat::flatten(live.iter_mut().map(|(n, t)| (n.as_str(), t)), vs.device())?;
        let shadow_buffers = live_buffers.copy();
        let shapes: Vec<Vec<i64>> = live.iter().map(|(_, t)| t.size()).collect();
        let names = live.into_iter().map(|(n, _)| n);
        let buffers = names
            .zip(super::flat::views(&shadow_buffers, &shapes))
            .collect();
        Ok(Ema {
            decay,
            updates: 0,
            shadow: flat_param.detach().copy(),
            live: flat_param,
            live_buffers,
            shadow_buffers,
            buffers,
        })
    }

    /// The decay used at the next update.
    pub fn current_decay(&self) -> f64 {
        let t = self.updates as f64;
        self.decay.min((1.0 + t) / (10.0 + t))
    }

    /// Moves the average towards the live weights; call after every optimizer step that was taken.
    pub fn update(&mut self) {
        let _guard = tch::no_grad_guard();
        let w = 1.0 - self.current_decay();
        let _ = self.shadow.lerp_(&self.live, w);
        let _ = self.shadow_buffers.lerp_(&self.live_buffers, w);
        self.updates += 1;
    }

    /// Exchanges live and averaged values in place: the model then computes with the average. Call
    /// again to swap back.
    pub fn swap(&mut self) {
        let _guard = tch::no_grad_guard();
        swap_values(&mut self.live, &mut self.shadow);
        swap_values(&mut self.live_buffers, &mut self.shadow_buffers);
    }

    /// The averaged tensors and the update count, named for `optimizer.safetensors`.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![
            (PARAMS.to_string(), self.shadow.shallow_clone()),
            (
                format!("{PREFIX}updates"),
                Tensor::from_slice(&[self.updates as i64]),
            ),
        ];
        for (name, avg) in &self.buffers {
            out.push((format!("{PREFIX}buffer.{name}"), avg.shallow_clone()));
        }
        out
    }

    /// Restores what `tensors()` wrote; false (the average starts now) when `saved` has none, i.e. the
    /// run being resumed was trained without `--ema`.
    pub fn load(&mut self, saved: &[(String, Tensor)]) -> Result<bool> {
        if !saved.iter().any(|(n, _)| n == PARAMS) {
            return Ok(false);
        }
        let find = |key: &str| {
            saved
                .iter()
                .find(|(n, _)| n == key)
                .map(|(_, t)| t)
                .ok_or_else(|| anyhow!("optimizer state lacks {key}"))
        };
        let _guard = tch::no_grad_guard();
        copy_checked(&mut self.shadow, find(PARAMS)?, PARAMS)?;
        for (name, avg) in &mut self.buffers {
            let key = format!("{PREFIX}buffer.{name}");
            copy_checked(avg, find(&key)?, &key)?;
        }
        self.updates = find(&format!("{PREFIX}updates"))?.int64_value(&[0]) as u64;
        Ok(true)
    }
}

fn swap_values(a: &mut Tensor, b: &mut Tensor) {
    let tmp = a.copy();
    a.copy_(b);
    b.copy_(&tmp);
}

fn copy_checked(dst: &mut Tensor, src: &Tensor, name: &str) -> Result<()> {
    ensure!(
        src.size() == dst.size(),
        "{name}: saved {:?}, model {:?}",
        src.size(),
        dst.size()
    );
    dst.copy_(&src.to_device(dst.device()).to_kind(Kind::Float));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device};

    fn setup() -> (VarStore, Tensor, Ema) {
        let vs = VarStore::new(Device::Cpu);
        let _bn = nn::batch_norm2d(vs.root(), 2, Default::default());
        let flat = vs.root().var("w", &[3], nn::Init::Const(1.0));
        let ema = Ema::new(&vs, flat.shallow_clone(), 0.5).unwrap();
        (vs, flat, ema)
    }

    #[test]
    fn decay_warms_up_then_holds() {
        let (_vs, _flat, mut ema) = setup();
        assert!((ema.current_decay() - 0.1).abs() < 1e-12);
        for _ in 0..100 {
            ema.update();
        }
        assert_eq!(ema.current_decay(), 0.5);
    }

    #[test]
    fn average_follows_the_live_weights_and_swaps_back() {
        let (_vs, mut flat, mut ema) = setup();
        tch::no_grad(|| flat.copy_(&Tensor::from_slice(&[3f32, 3., 3.])));
        ema.update(); // decay 0.1: 1 + 0.9·(3 − 1) = 2.8
        let avg = ema.shadow.double_value(&[0]);
        assert!((avg - 2.8).abs() < 1e-6, "{avg}");
        ema.swap();
        assert!((flat.double_value(&[1]) - 2.8).abs() < 1e-6);
        ema.swap();
        assert_eq!(flat.double_value(&[2]), 3.0);
        // BatchNorm's running statistics are averaged too: 2 buffers (mean, var).
        assert_eq!(ema.buffers.len(), 2);
        let saved = ema.tensors();
        let (_vs2, _flat2, mut other) = setup();
        assert!(other.load(&saved).unwrap());
        assert!(!other.load(&[]).unwrap(), "no average saved: start one");
        assert!((other.shadow.double_value(&[0]) - 2.8).abs() < 1e-6);
        assert_eq!(other.updates, 1);
    }

    #[test]
    fn batchnorm_statistics_reach_the_average_through_the_flat_buffer() {
        use tch::nn::ModuleT;
        let vs = VarStore::new(Device::Cpu);
        let bn = nn::batch_norm2d(vs.root(), 2, Default::default());
        let flat = vs.root().var("w", &[3], nn::Init::Const(1.0));
        let mut ema = Ema::new(&vs, flat, 0.5).unwrap();
        // A train-mode pass over a constant 5 moves the running mean 0 → 0.5 and the variance
        // 1 → 0.9 (momentum 0.1), written in place by BatchNorm into the flat buffer.
        let x = Tensor::full([4, 2, 3, 3], 5.0, (Kind::Float, Device::Cpu));
        let _ = bn.forward_t(&x, true);
        let live = Vec::<f32>::try_from(&ema.live_buffers).unwrap();
        assert_eq!(live, [0.5, 0.5, 0.9, 0.9]);
        ema.update(); // decay 0.1: mean 0.9·0.5 = 0.45, variance 1 − 0.9·0.1 = 0.91
        ema.swap();
        let mean = Vec::<f32>::try_from(&bn.running_mean).unwrap();
        let var = Vec::<f32>::try_from(&bn.running_var).unwrap();
        assert!(mean.iter().all(|v| (v - 0.45).abs() < 1e-6), "{mean:?}");
        assert!(var.iter().all(|v| (v - 0.91).abs() < 1e-6), "{var:?}");
        ema.swap();
        assert_eq!(Vec::<f32>::try_from(&bn.running_mean).unwrap(), [0.5, 0.5]);
    }
}
