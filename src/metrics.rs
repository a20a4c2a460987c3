//! Pixel confusion counts and the segmentation metrics derived from them.
//!
//! Zero-denominator convention (binding, see DESIGN.md and README): a metric whose denominator is 0
//! is 1 when there was nothing to get wrong (prediction and truth both empty on the pixels that
//! metric looks at) and 0 otherwise. Concretely, per image:
//! - prediction and truth both empty: Dice = IoU = Precision = Recall = F1 = 1 (nothing to find, nothing claimed);
//! - prediction empty, truth not: Precision = 0 (the miss is not "perfectly precise"), everything else 0 too;
//! - prediction non-empty, truth empty: Recall = 0 for the same reason, everything else 0.
//!   With this convention F1 (= 2PR/(P+R)) always equals Dice.
//!
//! Accuracy of an image with no pixels at all is 1.
use serde::{Deserialize, Serialize};

pub mod bootstrap;
pub mod breakdown;
pub mod distance;
pub mod surface;

/// Pixel counts of one image (or of many pooled together: counts add).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tn: u64,
}

/// The six figures every report shows, in this order.
pub const NAMES: [&str; 6] = ["dice", "iou", "precision", "recall", "f1", "accuracy"];

/// Dice, IoU, Precision, Recall, F1, pixel Accuracy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricSet {
    pub dice: f64,
    pub iou: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub accuracy: f64,
}

impl Confusion {
    /// Compare a predicted mask with a truth mask of the same length; any non-zero value is foreground.
    ///
    /// # Panics
    /// When the lengths differ: callers compare masks of one image, so that is a programming error.
    pub fn from_masks(pred: &[u8], truth: &[u8]) -> Confusion {
        assert_eq!(pred.len(), truth.len(), "mask sizes differ");
        let mut c = Confusion::default();
        for (&p, &t) in pred.iter().zip(truth) {
            c.count(p != 0, t != 0);
        }
        c
    }

    /// Same as [`Confusion::from_masks`] for boolean masks.
    pub fn from_bools(pred: &[bool], truth: &[bool]) -> Confusion {
        assert_eq!(pred.len(), truth.len(), "mask sizes differ");
        let mut c = Confusion::default();
        for (&p, &t) in pred.iter().zip(truth) {
            c.count(p, t);
        }
        c
    }

    /// Probabilities binarised with `prob > threshold` (the one binarisation rule used everywhere).
    pub fn from_probs(probs: &[f32], threshold: f32, truth: &[u8]) -> Confusion {
        assert_eq!(probs.len(), truth.len(), "mask sizes differ");
        let mut c = Confusion::default();
        for (&p, &t) in probs.iter().zip(truth) {
            c.count(p > threshold, t != 0);
        }
        c
    }

    #[inline]
    fn count(&mut self, pred: bool, truth: bool) {
        match (pred, truth) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    pub fn add(&mut self, other: &Confusion) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.tn += other.tn;
    }

    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }

    pub fn dice(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_, 1.0)
    }

    pub fn iou(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp + self.fn_, 1.0)
    }

    /// No prediction: 1 if there was also nothing to find, else 0.
    pub fn precision(&self) -> f64 {
        ratio(
            self.tp,
            self.tp + self.fp,
            if self.fn_ == 0 { 1.0 } else { 0.0 },
        )
    }

    /// No truth: 1 if nothing was predicted either, else 0.
    pub fn recall(&self) -> f64 {
        ratio(
            self.tp,
            self.tp + self.fn_,
            if self.fp == 0 { 1.0 } else { 0.0 },
        )
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total(), 1.0)
    }

    pub fn metrics(&self) -> MetricSet {
        MetricSet {
            dice: self.dice(),
            iou: self.iou(),
            precision: self.precision(),
            recall: self.recall(),
            f1: self.f1(),
            accuracy: self.accuracy(),
        }
    }
}

fn ratio(num: u64, den: u64, if_zero: f64) -> f64 {
    if den == 0 {
        if_zero
    } else {
        num as f64 / den as f64
    }
}

impl MetricSet {
    /// Values in [`NAMES`] order.
    pub fn values(&self) -> [f64; 6] {
        [
            self.dice,
            self.iou,
            self.precision,
            self.recall,
            self.f1,
            self.accuracy,
        ]
    }

    /// Arithmetic mean over images (the seed's "Mean Dice"); all zeros for an empty list.
    pub fn mean(sets: &[MetricSet]) -> MetricSet {
        if sets.is_empty() {
            return MetricSet::default();
        }
        let n = sets.len() as f64;
        let sum = |f: fn(&MetricSet) -> f64| sets.iter().map(f).sum::<f64>() / n;
        MetricSet {
            dice: sum(|m| m.dice),
            iou: sum(|m| m.iou),
            precision: sum(|m| m.precision),
            recall: sum(|m| m.recall),
            f1: sum(|m| m.f1),
            accuracy: sum(|m| m.accuracy),
        }
    }
}

/// Per-image and pooled scores of a set of images.
#[derive(Clone, Debug, Default)]
pub struct Aggregate {
    pub per_image: Vec<Confusion>,
}

impl Aggregate {
    pub fn push(&mut self, c: Confusion) {
        self.per_image.push(c);
    }

    /// Mean over images of each image's metrics.
    pub fn mean(&self) -> MetricSet {
        let sets: Vec<MetricSet> = self.per_image.iter().map(Confusion::metrics).collect();
        MetricSet::mean(&sets)
    }

    /// Metrics of all pixels pooled into one confusion matrix.
    pub fn global(&self) -> MetricSet {
        self.pooled().metrics()
    }

    /// The report's 95 % bootstrap intervals over these images (fixed resamples and seed).
    pub fn ci95(&self) -> Option<bootstrap::Intervals> {
        bootstrap::intervals(&self.per_image, bootstrap::RESAMPLES, bootstrap::SEED)
    }

    pub fn pooled(&self) -> Confusion {
        let mut all = Confusion::default();
        for c in &self.per_image {
            all.add(c);
        }
        all
    }
}
