//! Epoch-level decisions on the valid Dice: PyTorch's `ReduceLROnPlateau` (mode max, relative threshold 1e-4,
//! cooldown 0, min_lr 0) and early stopping after `patience` epochs without a new best.
use serde::{Deserialize, Serialize};

/// `torch.optim.lr_scheduler.ReduceLROnPlateau` defaults other than mode/factor/patience.
const THRESHOLD: f64 = 1e-4;
const MIN_LR: f64 = 0.0;
/// PyTorch ignores a reduction smaller than this.
const LR_EPS: f64 = 1e-8;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    pub factor: f64,
    pub patience: usize,
    /// Best metric so far (None = -inf: nothing seen yet).
    pub best: Option<f64>,
    pub num_bad_epochs: usize,
}

impl Plateau {
    pub fn new(factor: f64, patience: usize) -> Self {
        Plateau {
            factor,
            patience,
            best: None,
            num_bad_epochs: 0,
        }
    }

    /// mode max, threshold_mode rel: better means above best·(1 + 1e-4).
    fn is_better(&self, metric: f64) -> bool {
        self.best.is_none_or(|b| metric > b * (1.0 + THRESHOLD))
    }

    /// Feeds one epoch's metric; returns the learning rate to use next (reduced after more than
    /// `patience` bad epochs in a row, as `scheduler.step(metric)`).
    pub fn step(&mut self, metric: f64, lr: f64) -> f64 {
        if self.is_better(metric) {
            self.best = Some(metric);
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.num_bad_epochs > self.patience {
            self.num_bad_epochs = 0;
            let new_lr = (lr * self.factor).max(MIN_LR);
            if lr - new_lr > LR_EPS {
                return new_lr;
            }
        }
        lr
    }
}

/// Stops after `patience` epochs in a row without a strictly better valid Dice; also tracks the best epoch
/// (the one `best_model.safetensors` holds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub patience: usize,
    pub best: Option<f64>,
    pub best_epoch: Option<usize>,
    pub epochs_since_best: usize,
}

impl EarlyStop {
    pub fn new(patience: usize) -> Self {
        EarlyStop {
            patience,
            best: None,
            best_epoch: None,
            epochs_since_best: 0,
        }
    }

    /// Records `epoch`'s metric; true when it is a new best (save the model).
    pub fn observe(&mut self, epoch: usize, metric: f64) -> bool {
        if self.best.is_none_or(|b| metric > b) {
            self.best = Some(metric);
            self.best_epoch = Some(epoch);
            self.epochs_since_best = 0;
            true
        } else {
            self.epochs_since_best += 1;
            false
        }
    }

    pub fn should_stop(&self) -> bool {
        self.epochs_since_best >= self.patience
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plateau_reduces_after_patience_bad_epochs_like_pytorch() {
        // Hand-run of torch ReduceLROnPlateau(mode="max", factor=0.5, patience=2).
        let mut p = Plateau::new(0.5, 2);
        let mut lr = 1e-4;
        let metrics = [0.5, 0.6, 0.60001, 0.59, 0.58, 0.7, 0.7, 0.7, 0.7];
        let mut lrs = vec![];
        for m in metrics {
            lr = p.step(m, lr);
            lrs.push(lr);
        }
        // 0.60001 is within the 1e-4 relative threshold of 0.6: a bad epoch; the third bad epoch (0.58) halves.
        assert_eq!(lrs[..5], [1e-4, 1e-4, 1e-4, 1e-4, 5e-5]);
        // 0.7 is a new best, then three equal values: bad, bad, bad → halves again on the third.
        assert_eq!(lrs[5..], [5e-5, 5e-5, 5e-5, 2.5e-5]);
    }

    #[test]
    fn early_stop_counts_epochs_since_best() {
        let mut e = EarlyStop::new(2);
        assert!(e.observe(1, 0.3));
        assert!(!e.observe(2, 0.3));
        assert!(!e.should_stop());
        assert!(!e.observe(3, 0.2));
        assert!(e.should_stop());
        assert_eq!(e.best_epoch, Some(1));
    }
}
