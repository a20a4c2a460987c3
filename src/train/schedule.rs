//! Epoch-level decisions: the learning rate (the seed's `ReduceLROnPlateau` on the valid Dice, mode max,
//! relative threshold 1e-4, cooldown 0, min_lr 0; or a cosine decay over the run's epochs or time budget),
//! early stopping after `patience` epochs without a new best, and whether another epoch fits the time limit.
use super::TrainConfig;
use serde::{Deserialize, Serialize};

/// How the learning rate moves from epoch to epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The seed's: halve the rate after `plateau_patience` epochs without a better valid Dice.
    #[default]
    Plateau,
    /// Half a cosine from `lr` down to 0 over the run (or over its last `anneal` share, holding `lr`
    /// before): over `epochs`, or over `time_limit` when the clock would end the run first, so a
    /// time-boxed run still anneals before it stops.
    Cosine,
}

/// The cosine rate for an epoch whose midpoint lies at `progress` (0 = start of the run, 1 = its end):
/// `base` until the last `anneal` share of the run (in (0, 1]), then half a cosine down to 0 over it.
/// Holding the rate first keeps a run that is still learning fast from being slowed early, while the end
/// still anneals (constant rate + cool-down matches a full cosine: Hägele et al., 2024).
pub fn cosine_lr(base: f64, progress: f64, anneal: f64) -> f64 {
    let into = decayed(progress, anneal);
    0.5 * base * (1.0 + (std::f64::consts::PI * into).cos())
}

/// How far into its decay the cosine is at `progress`: 0 while it holds the rate, 1 at the end.
fn decayed(progress: f64, anneal: f64) -> f64 {
    ((progress - (1.0 - anneal)) / anneal).clamp(0.0, 1.0)
}

/// Whether the cosine has begun to decay at `progress` (with `anneal` = 1 it decays from the start):
/// the same boundary `cosine_lr` uses.
pub fn annealing(progress: f64, anneal: f64) -> bool {
    decayed(progress, anneal) > 0.0
}

/// Where the midpoint of the coming epoch `epoch` (1-based) lies in the run, in [0, 1]: the larger of its
/// place among `epochs` and, with a time limit, its place on the clock (`elapsed` seconds of the epoch
/// loop so far, `next_epoch` its expected length). A midpoint, so that the last epoch still learns.
pub fn progress(
    epoch: usize,
    epochs: usize,
    elapsed: f64,
    next_epoch: f64,
    limit: Option<f64>,
) -> f64 {
    let by_epochs = (epoch as f64 - 0.5) / epochs.max(1) as f64;
    let by_clock = limit.map_or(0.0, |l| (elapsed + next_epoch / 2.0) / l);
    by_epochs.max(by_clock).clamp(0.0, 1.0)
}

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
    /// Epochs since the best that count towards a stop (`hold` clears them).
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

    /// The epoch just observed cannot end the run, nor count towards a later stop: while a cosine
    /// schedule still holds its rate, a stall is what the anneal still to come is for (a 12-epoch
    /// stall at the held rate of the 2026-11-26 H100 run ended only when the rate came down).
    pub fn hold(&mut self) {
        self.epochs_since_best = 0;
    }
}

/// What the next epoch will cost, for `--time-limit`: the slowest epoch of this process after its first.
/// The first carries one-off costs (cuDNN autotuning every convolution shape, lazy CUDA kernel loading,
/// allocator growth: 26 s against 5.7 s for the others at 448² on the H100), so it counts only while it is
/// the only one; later epochs' checkpoint writes and slow validations still count.
#[derive(Clone, Debug, Default)]
pub struct EpochCost {
    first: Option<f64>,
    slowest_after_first: Option<f64>,
    /// The estimate a resumed run's last session saved: the next epoch's cost until this session
    /// has timed one (0 in a new run).
    carried: f64,
}

impl EpochCost {
    /// A resumed run's: its first epoch is judged, and its cosine rate set, by the estimate the last
    /// session saved, as that session would have judged it.
    pub fn resumed(estimate: f64) -> Self {
        EpochCost {
            carried: estimate,
            ..EpochCost::default()
        }
    }

    /// Record one finished epoch's seconds.
    pub fn observe(&mut self, seconds: f64) {
        if self.first.is_none() {
            self.first = Some(seconds);
        } else {
            self.slowest_after_first =
                Some(self.slowest_after_first.map_or(seconds, |s| s.max(seconds)));
        }
    }

    /// Seconds to expect for the next epoch (before any, the carried estimate).
    pub fn estimate(&self) -> f64 {
        self.slowest_after_first
            .or(self.first)
            .unwrap_or(self.carried)
    }

    /// The estimate if an epoch running now took `seconds`.
    pub fn estimate_with(&self, seconds: f64) -> f64 {
        let mut with = self.clone();
        with.observe(seconds);
        with.estimate()
    }
}

/// True when another epoch taking `next_epoch` seconds would end past the time limit.
pub fn out_of_time(cfg: &TrainConfig, elapsed: f64, next_epoch: f64) -> bool {
    cfg.time_limit
        .is_some_and(|limit| elapsed + next_epoch > limit)
}

/// Seconds as the time-limit messages print them: tenths below 10 s, where whole seconds would
/// read "2s of 0s" for a limit of 0.1.
pub fn seconds(s: f64) -> String {
    match s < 10.0 {
        true => format!("{s:.1}s"),
        false => format!("{s:.0}s"),
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
    fn cosine_decays_from_lr_to_zero_over_epochs_or_the_clock() {
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} != {b}");
        close(cosine_lr(1e-4, 0.0, 1.0), 1e-4);
        close(cosine_lr(1e-4, 0.5, 1.0), 5e-5);
        close(cosine_lr(1e-4, 1.0, 1.0), 0.0);
        close(cosine_lr(1e-4, 1.5, 1.0), 0.0);
        // 1 + cos(2π/3) = 0.5 → a quarter of the rate.
        close(cosine_lr(2e-4, 2.0 / 3.0, 1.0), 5e-5);
        // Annealing over the last 40 %: the rate holds until 60 %, halves at 80 %, and a point a third
        // of the way into the decay gets the full cosine's two-thirds value.
        close(cosine_lr(1e-4, 0.3, 0.4), 1e-4);
        close(cosine_lr(1e-4, 0.6, 0.4), 1e-4);
        close(cosine_lr(1e-4, 0.8, 0.4), 5e-5);
        close(cosine_lr(2e-4, 0.6 + 0.4 * 2.0 / 3.0, 0.4), 5e-5);
        close(cosine_lr(1e-4, 1.0, 0.4), 0.0);
        // Midpoints of epochs 1 and 4 of 4.
        close(progress(1, 4, 0.0, 0.0, None), 0.125);
        close(progress(4, 4, 1e9, 1.0, None), 0.875);
        // The clock leads: 40 s of 100 gone, the next epoch takes 10 → its midpoint is at 45 s.
        close(progress(2, 100, 40.0, 10.0, Some(100.0)), 0.45);
        // The epochs lead when the budget is loose.
        close(progress(50, 100, 1.0, 1.0, Some(1e6)), 0.495);
        // The last epoch that fits a time limit ends by it, so its midpoint is before the end.
        assert!(progress(9, 100, 89.0, 10.0, Some(100.0)) < 1.0);
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

    #[test]
    fn early_stop_waits_while_the_cosine_holds_its_rate() {
        // 10 epochs, the rate held for the first 60 %: epochs 1–6 have midpoints at or before 0.6.
        let anneal = 0.4;
        let held: Vec<bool> = (1..=10)
            .map(|e| !annealing(progress(e, 10, 0.0, 0.0, None), anneal))
            .collect();
        assert_eq!(
            held,
            [true, true, true, true, true, true, false, false, false, false]
        );
        assert!(annealing(0.01, 1.0), "a full cosine decays from the start");
        // Patience 2 and no better Dice after epoch 1: the held epochs 2–6 never stop the run, the
        // count starts at the anneal and stops it two epochs in.
        let mut e = EarlyStop::new(2);
        let mut stopped_at = None;
        for (epoch, &hold) in (1..=10).zip(&held) {
            e.observe(epoch, if epoch == 1 { 0.5 } else { 0.4 });
            if hold {
                e.hold();
            }
            if e.should_stop() {
                stopped_at = Some(epoch);
                break;
            }
        }
        assert_eq!(stopped_at, Some(8));
        assert_eq!(e.best_epoch, Some(1));
    }

    #[test]
    fn time_limit_seconds_keep_a_decimal_below_ten() {
        assert_eq!([0.1, 1.5, 12.4].map(seconds), ["0.1s", "1.5s", "12s"]);
    }

    #[test]
    fn epoch_cost_forgets_the_warm_up_epoch_once_others_exist() {
        let mut c = EpochCost::default();
        assert_eq!(c.estimate(), 0.0);
        c.observe(26.3);
        assert_eq!(c.estimate(), 26.3);
        assert_eq!(c.estimate_with(5.9), 5.9);
        c.observe(5.85);
        c.observe(5.79);
        assert_eq!(c.estimate(), 5.85);
        // An epoch that also wrote a checkpoint is slower and counts.
        c.observe(7.0);
        assert_eq!(c.estimate(), 7.0);
        assert_eq!(c.estimate_with(8.0), 8.0);
        assert_eq!(c.estimate(), 7.0);
        // Resumed: the saved estimate until this session has timed an epoch.
        let mut r = EpochCost::resumed(7.0);
        assert_eq!(r.estimate(), 7.0);
        r.observe(9.0);
        assert_eq!(r.estimate(), 9.0);
    }
}
