//! How far a score could move on another draw of test images: percentile-bootstrap confidence
//! intervals over images. On 215 test images a mean Dice of 0.81 is not one number but a range of
//! a few hundredths, which decides whether 0.80 against 0.81 is a difference at all.
use super::{Confusion, MetricSet};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Resamples drawn for a report's intervals.
pub const RESAMPLES: usize = 2000;
/// Fixed, so that the same predictions always give the same interval.
pub const SEED: u64 = 20261127;

/// Lower and upper bounds of the 95 % interval of every metric, mean over images and global.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intervals {
    /// Coverage, 0.95.
    pub level: f64,
    pub resamples: usize,
    pub mean_low: MetricSet,
    pub mean_high: MetricSet,
    pub global_low: MetricSet,
    pub global_high: MetricSet,
}

fn set(v: [f64; 6]) -> MetricSet {
    MetricSet {
        dice: v[0],
        iou: v[1],
        precision: v[2],
        recall: v[3],
        f1: v[4],
        accuracy: v[5],
    }
}

/// The `q` quantile of sorted values, interpolating linearly between ranks (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

/// 95 % intervals from `resamples` draws of as many images as there are, with replacement; each draw's
/// mean and pooled metrics are computed as the report's are. None for no images.
pub fn intervals(per_image: &[Confusion], resamples: usize, seed: u64) -> Option<Intervals> {
    if per_image.is_empty() || resamples == 0 {
        return None;
    }
    let values: Vec<[f64; 6]> = per_image.iter().map(|c| c.metrics().values()).collect();
    let n = per_image.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // draws[k][b]: metric k (6 means, then 6 globals) in resample b.
    let mut draws: Vec<Vec<f64>> = (0..12).map(|_| Vec::with_capacity(resamples)).collect();
    for _ in 0..resamples {
        let (mut sum, mut pooled) = ([0.0; 6], Confusion::default());
        for _ in 0..n {
            let i = rng.random_range(0..n);
            for (s, v) in sum.iter_mut().zip(values[i]) {
                *s += v;
            }
            pooled.add(&per_image[i]);
        }
        let means = sum.map(|s| s / n as f64);
        for (k, v) in means
            .into_iter()
            .chain(pooled.metrics().values())
            .enumerate()
        {
            draws[k].push(v);
        }
    }
    draws.iter_mut().for_each(|d| d.sort_by(f64::total_cmp));
    let level = 0.95;
    let bound = |q: f64| -> Vec<f64> { draws.iter().map(|d| quantile(d, q)).collect() };
    let (low, high) = (bound((1.0 - level) / 2.0), bound((1.0 + level) / 2.0));
    let part = |v: &[f64]| set(v.try_into().expect("six metrics"));
    Some(Intervals {
        level,
        resamples,
        mean_low: part(&low[..6]),
        mean_high: part(&high[..6]),
        global_low: part(&low[6..]),
        global_high: part(&high[6..]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tp: u64, fp: u64, fn_: u64) -> Confusion {
        Confusion {
            tp,
            fp,
            fn_,
            tn: 100,
        }
    }

    #[test]
    fn identical_images_give_a_point_interval() {
        let all = vec![image(30, 10, 10); 20];
        let ci = intervals(&all, 200, 1).unwrap();
        assert_eq!(ci.mean_low, ci.mean_high);
        assert!((ci.mean_low.dice - 0.75).abs() < 1e-12);
        assert!((ci.global_high.iou - 0.6).abs() < 1e-12);
    }

    #[test]
    fn two_opposite_images_span_everything_and_the_draw_is_reproducible() {
        // Dice 1 and Dice 0: a resample's mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, so
        // the 2.5 % and 97.5 % quantiles of 2000 draws are 0 and 1.
        let pair = [image(10, 0, 0), image(0, 5, 5)];
        let ci = intervals(&pair, 2000, 3).unwrap();
        assert_eq!((ci.mean_low.dice, ci.mean_high.dice), (0.0, 1.0));
        assert_eq!(intervals(&pair, 2000, 3), Some(ci));
        assert_eq!(intervals(&[], 2000, 3), None);
    }

    #[test]
    fn the_interval_narrows_with_more_images_and_holds_the_estimate() {
        // Dice alternating 1 and 0.5 (tp 10; fp 20 or 0): mean 0.75.
        let set = |n: usize| -> Vec<Confusion> {
            (0..n)
                .map(|i| image(10, if i % 2 == 0 { 20 } else { 0 }, 0))
                .collect()
        };
        let (small, large) = (
            intervals(&set(20), 2000, 5).unwrap(),
            intervals(&set(400), 2000, 5).unwrap(),
        );
        let width = |c: &Intervals| c.mean_high.dice - c.mean_low.dice;
        for c in [&small, &large] {
            assert!(c.mean_low.dice < 0.75 && 0.75 < c.mean_high.dice, "{c:?}");
        }
        // The standard error shrinks as 1/√n: 20× the images, about √20 ≈ 4.5× narrower.
        let ratio = width(&small) / width(&large);
        assert!((3.5..5.5).contains(&ratio), "{ratio}");
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    }
}
