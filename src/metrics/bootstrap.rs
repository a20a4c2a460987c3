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
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

/// The report's 12 statistics over the images `idx` (repeats allowed): 6 means over images, then the
/// 6 metrics of their pooled pixels. `values` holds each image's metrics.
fn statistics(per_image: &[Confusion], values: &[[f64; 6]], idx: &[usize]) -> [f64; 12] {
    let (mut sum, mut pooled) = ([0.0; 6], Confusion::default());
    for &i in idx {
        for (s, v) in sum.iter_mut().zip(values[i]) {
            *s += v;
        }
        pooled.add(&per_image[i]);
    }
    let mut out = [0.0; 12];
    for (k, v) in sum
        .map(|s| s / idx.len() as f64)
        .into_iter()
        .chain(pooled.metrics().values())
        .enumerate()
    {
        out[k] = v;
    }
    out
}

/// Coverage of every interval.
const LEVEL: f64 = 0.95;

/// The 95 % interval (low, high bounds) of each of `stat`'s K statistics over `resamples` draws of
/// `n` image indices with replacement.
fn bounds<const K: usize>(
    n: usize,
    resamples: usize,
    seed: u64,
    mut stat: impl FnMut(&[usize]) -> [f64; K],
) -> Option<([f64; K], [f64; K])> {
    if n == 0 || resamples == 0 {
        return None;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut idx = vec![0; n];
    // draws[k][b]: statistic k in resample b.
    let mut draws: [Vec<f64>; K] = std::array::from_fn(|_| Vec::with_capacity(resamples));
    for _ in 0..resamples {
        idx.iter_mut().for_each(|i| *i = rng.random_range(0..n));
        for (d, v) in draws.iter_mut().zip(stat(&idx)) {
            d.push(v);
        }
    }
    draws.iter_mut().for_each(|d| d.sort_by(f64::total_cmp));
    let bound = |q: f64| -> [f64; K] { std::array::from_fn(|k| quantile(&draws[k], q)) };
    Some((bound((1.0 - LEVEL) / 2.0), bound((1.0 + LEVEL) / 2.0)))
}

/// 95 % intervals of the report's 12 statistics `stat` computes over drawn image indices.
fn resampled(
    n: usize,
    resamples: usize,
    seed: u64,
    stat: impl FnMut(&[usize]) -> [f64; 12],
) -> Option<Intervals> {
    let (low, high) = bounds(n, resamples, seed, stat)?;
    let part = |v: &[f64]| set(v.try_into().expect("six metrics"));
    Some(Intervals {
        level: LEVEL,
        resamples,
        mean_low: part(&low[..6]),
        mean_high: part(&high[..6]),
        global_low: part(&low[6..]),
        global_high: part(&high[6..]),
    })
}

/// The 95 % interval of mean(b) − mean(a) over paired per-image values (`a[i]` and `b[i]` are one
/// image), both resampled with the same draw. None for fewer than two images.
///
/// # Panics
/// When `a` and `b` differ in length.
pub fn paired_mean(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    assert_eq!(a.len(), b.len(), "paired values of the same images");
    if a.len() < 2 {
        return None;
    }
    let (low, high) = bounds(a.len(), resamples, seed, |idx| {
        [idx.iter().map(|&i| b[i] - a[i]).sum::<f64>() / idx.len() as f64]
    })?;
    Some((low[0], high[0]))
}

/// 95 % intervals from `resamples` draws of as many images as there are, with replacement; each draw's
/// mean and pooled metrics are computed as the report's are. None for fewer than two images.
pub fn intervals(per_image: &[Confusion], resamples: usize, seed: u64) -> Option<Intervals> {
    // One case resampled is always itself: no interval to report (a single volume, say).
    if per_image.len() < 2 {
        return None;
    }
    let values: Vec<[f64; 6]> = per_image.iter().map(|c| c.metrics().values()).collect();
    resampled(per_image.len(), resamples, seed, |idx| {
        statistics(per_image, &values, idx)
    })
}

/// 95 % intervals of the difference `b − a` of two scorings of the same images (`a[i]` and `b[i]` are
/// one image): both are resampled with the same draw, so what the images share cancels out. None
/// for fewer than two images, as [`intervals`].
///
/// # Panics
/// When `a` and `b` differ in length.
pub fn paired(a: &[Confusion], b: &[Confusion], resamples: usize, seed: u64) -> Option<Intervals> {
    assert_eq!(a.len(), b.len(), "paired scorings of the same images");
    if a.len() < 2 {
        return None;
    }
    let values =
        |x: &[Confusion]| -> Vec<[f64; 6]> { x.iter().map(|c| c.metrics().values()).collect() };
    let (va, vb) = (values(a), values(b));
    resampled(a.len(), resamples, seed, |idx| {
        let (sa, sb) = (statistics(a, &va, idx), statistics(b, &vb, idx));
        std::array::from_fn(|k| sb[k] - sa[k])
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
        assert_eq!(
            intervals(&pair[..1], 2000, 3),
            None,
            "one image is no sample"
        );
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

    #[test]
    fn a_paired_difference_cancels_what_the_images_share() {
        // b is a better than a by exactly 0.1 Dice on every image, while the images themselves range
        // from easy to hard: each resample's difference is exactly 0.1 (up to rounding), a point
        // interval, although each side's own interval is wide.
        let a: Vec<Confusion> = (1..=20)
            .map(|k| image(4 * k, 100 - 4 * k, 100 - 4 * k))
            .collect();
        let b: Vec<Confusion> = a
            .iter()
            .map(|c| {
                let d = c.dice() + 0.1;
                // Dice 2tp/(2tp+fp+fn) = d with fp = fn: fp = tp(1-d)/d.
                let tp = 1_000_000u64;
                let fp = ((tp as f64) * (1.0 - d) / d).round() as u64;
                Confusion {
                    tp,
                    fp,
                    fn_: fp,
                    tn: 100,
                }
            })
            .collect();
        let diff = paired(&a, &b, 500, 9).unwrap();
        assert!((diff.mean_low.dice - 0.1).abs() < 1e-5, "{diff:?}");
        assert!((diff.mean_high.dice - 0.1).abs() < 1e-5, "{diff:?}");
        let own = intervals(&a, 500, 9).unwrap();
        assert!(own.mean_high.dice - own.mean_low.dice > 0.1, "{own:?}");
        // A scoring against itself differs by nothing.
        let zero = paired(&a, &a, 100, 1).unwrap();
        assert_eq!((zero.mean_low.dice, zero.global_high.iou), (0.0, 0.0));
    }
}
