//! Two evaluations of the same split side by side, image by image: is B better than A, or is the
//! difference within what another draw of test images could give? Reads the `per_image.csv` files
//! `evaluate` writes (of a run, or of `--pred-masks`, e.g. the PyTorch notebook's masks).
use crate::metrics::bootstrap::{self, Intervals};
use crate::metrics::surface::Unit;
use crate::metrics::{Aggregate, Confusion, MetricSet};
use crate::report::LABELS;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One row of per_image.csv, the fields a comparison needs.
#[derive(Clone, Debug, Deserialize)]
struct Row {
    stem: String,
    tp: u64,
    fp: u64,
    #[serde(rename = "fn")]
    fn_: u64,
    tn: u64,
    /// Empty when a mask had no tumour; absent from files written before it.
    #[serde(default)]
    hd95: Option<f64>,
    /// Absent from files written before mm existed: pixels.
    #[serde(default)]
    distance_unit: Unit,
}

/// One image of a per_image.csv: its confusion counts and, when both masks had tumour, its HD95.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub stem: String,
    pub confusion: Confusion,
    pub hd95: Option<f64>,
    pub unit: Unit,
}

/// `path` itself, or the per_image.csv inside it when it is a folder (a run or report directory).
pub fn per_image_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("per_image.csv")
    } else {
        path.to_path_buf()
    }
}

/// Each image's stem, confusion counts and HD95, in file order.
pub fn read_per_image(path: &Path) -> Result<Vec<Scored>> {
    let file = per_image_file(path);
    let mut reader = csv::Reader::from_path(&file).with_context(|| {
        format!(
            "cannot read {} (run `tumorseg evaluate` first)",
            file.display()
        )
    })?;
    reader
        .deserialize::<Row>()
        .map(|r| {
            let r =
                r.with_context(|| format!("{}: not an evaluate per_image.csv", file.display()))?;
            Ok(Scored {
                stem: r.stem,
                confusion: Confusion {
                    tp: r.tp,
                    fp: r.fp,
                    fn_: r.fn_,
                    tn: r.tn,
                },
                hd95: r.hd95,
                unit: r.distance_unit,
            })
        })
        .collect()
}

/// The SHA-256 of the annotation file a per_image.csv was scored against, from the report.json beside
/// it (None for reports without provenance).
pub fn truth_digest(per_image: &Path) -> Option<String> {
    let report = per_image_file(per_image).with_file_name("report.json");
    let report: crate::report::Report =
        serde_json::from_str(&std::fs::read_to_string(report).ok()?).ok()?;
    let inputs = report.provenance?.inputs;
    let truth = inputs.iter().find(|d| d.role.ends_with(" annotations"))?;
    Some(truth.sha256.clone())
}

/// A's and B's scores on the images both scored, and how B differs.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Images scored by both (the comparison's images).
    pub n_images: usize,
    /// Images scored by only one side, left out.
    pub only_a: usize,
    pub only_b: usize,
    pub a_mean: MetricSet,
    pub b_mean: MetricSet,
    pub a_global: MetricSet,
    pub b_global: MetricSet,
    /// 95 % paired-bootstrap intervals of B − A.
    pub difference_ci95: Intervals,
    /// Images on which B's Dice is higher, lower, equal (within 1e-9).
    pub b_better: usize,
    pub b_worse: usize,
    pub tied: usize,
    /// Shared images on which A and B disagree on the truth (its tumour pixels, or the image's pixel
    /// count): not scored against the same annotations, or not at the same size. Checked from the
    /// counts themselves, so it works for reports without provenance too.
    pub truth_differs: usize,
    /// HD95 on the shared images where both sides have one (absent when none has).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hd95: Option<Hd95Difference>,
    /// Shared images whose HD95 A and B give in different units, left out of `hd95`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hd95_units_differ: Option<UnitsDiffer>,
}

/// Boundary distances in mm on one side and in pixels on the other: scored against annotation files
/// with and without pixel spacings, or one by a tumorseg from before mm.
#[derive(Clone, Debug, Serialize)]
pub struct UnitsDiffer {
    pub n_images: usize,
    pub a: Unit,
    pub b: Unit,
}

impl UnitsDiffer {
    fn of(pairs: &[(&Scored, &Scored)]) -> Option<UnitsDiffer> {
        let differ: Vec<_> = pairs
            .iter()
            .filter(|(x, y)| x.hd95.is_some() && y.hd95.is_some() && x.unit != y.unit)
            .collect();
        let (a, b) = differ.first()?;
        Some(UnitsDiffer {
            n_images: differ.len(),
            a: a.unit,
            b: b.unit,
        })
    }
}

/// Mean HD95 of A and B over the images both give one for in the same unit, and the 95 %
/// paired-bootstrap interval of B − A (lower is better).
#[derive(Clone, Debug, Serialize)]
pub struct Hd95Difference {
    pub unit: Unit,
    pub n_images: usize,
    pub a_mean: f64,
    pub b_mean: f64,
    pub difference_ci95: (f64, f64),
}

impl Hd95Difference {
    fn of(pairs: &[(&Scored, &Scored)]) -> Option<Hd95Difference> {
        let unit = pairs.first()?.0.unit;
        let (a, b): (Vec<f64>, Vec<f64>) = pairs
            .iter()
            .filter(|(x, y)| x.unit == unit && y.unit == unit)
            .filter_map(|(x, y)| Some((x.hd95?, y.hd95?)))
            .unzip();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        Some(Hd95Difference {
            unit,
            difference_ci95: bootstrap::paired_mean(&a, &b, bootstrap::RESAMPLES, bootstrap::SEED)?,
            n_images: a.len(),
            a_mean: mean(&a),
            b_mean: mean(&b),
        })
    }

    fn describe(&self) -> String {
        let (lo, hi) = self.difference_ci95;
        format!(
            "HD95 in {} (lower is better), over the {} where both have one: A {:.2}, B {:.2}, \
             B − A {:+.2} (95 % interval {lo:+.2} … {hi:+.2}): {}.",
            self.unit.words(),
            crate::report::count(self.n_images, "image"),
            self.a_mean,
            self.b_mean,
            self.b_mean - self.a_mean,
            if hi < 0.0 {
                "B's outlines lie closer to the truth's"
            } else if lo > 0.0 {
                "B's outlines lie farther from the truth's"
            } else {
                "no difference can be told"
            }
        )
    }
}

/// Compare on the images both scored (matched by stem); an error when they share none.
pub fn compare(a: &[Scored], b: &[Scored]) -> Result<Comparison> {
    let in_b: HashMap<&str, &Scored> = b.iter().map(|s| (s.stem.as_str(), s)).collect();
    let pairs: Vec<(&Scored, &Scored)> = a
        .iter()
        .filter_map(|x| in_b.get(x.stem.as_str()).map(|&y| (x, y)))
        .collect();
    let (ca, cb): (Vec<Confusion>, Vec<Confusion>) = pairs
        .iter()
        .map(|(x, y)| (x.confusion, y.confusion))
        .unzip();
    if ca.is_empty() {
        bail!("the two evaluations share no image (are they of the same split?)");
    }
    let agg = |per_image: &[Confusion]| Aggregate {
        per_image: per_image.to_vec(),
    };
    let (aa, ab) = (agg(&ca), agg(&cb));
    let mut counts = [0usize; 3];
    for (x, y) in ca.iter().zip(&cb) {
        let d = y.dice() - x.dice();
        counts[if d > 1e-9 {
            0
        } else if d < -1e-9 {
            1
        } else {
            2
        }] += 1;
    }
    Ok(Comparison {
        n_images: ca.len(),
        only_a: a.len() - ca.len(),
        only_b: b.len() - ca.len(),
        a_mean: aa.mean(),
        b_mean: ab.mean(),
        a_global: aa.global(),
        b_global: ab.global(),
        difference_ci95: bootstrap::paired(&ca, &cb, bootstrap::RESAMPLES, bootstrap::SEED)
            .expect("at least one image"),
        b_better: counts[0],
        b_worse: counts[1],
        tied: counts[2],
        truth_differs: ca
            .iter()
            .zip(&cb)
            .filter(|(x, y)| !same_truth(x, y))
            .count(),
        hd95: Hd95Difference::of(&pairs),
        hd95_units_differ: UnitsDiffer::of(&pairs),
    })
}

fn same_truth(a: &Confusion, b: &Confusion) -> bool {
    let total = |c: &Confusion| c.tp + c.fp + c.fn_ + c.tn;
    a.tp + a.fn_ == b.tp + b.fn_ && total(a) == total(b)
}

/// The warning when A and B disagree on some images' truth, None when they agree.
pub fn truth_warning(c: &Comparison) -> Option<String> {
    (c.truth_differs > 0).then(|| {
        format!(
            "warning: on {} of the {} shared images A and B disagree on the truth (tumour pixels or \
             image size): they were not scored against the same annotations, so their difference is \
             not the models'",
            c.truth_differs, c.n_images
        )
    })
}

/// The warning when A and B give some images' HD95 in different units, None when they agree.
pub fn unit_warning(c: &Comparison) -> Option<String> {
    c.hd95_units_differ.as_ref().map(|u| {
        format!(
            "warning: on {} of the {} shared images A gives HD95 in {} and B in {} (scored against \
             annotation files with and without pixel spacings, or one by a tumorseg from before \
             mm): those images are left out of the HD95 comparison",
            u.n_images,
            c.n_images,
            u.a.words(),
            u.b.words()
        )
    })
}

/// The comparison as a markdown table and a verdict per the Dice interval.
pub fn markdown(c: &Comparison, a: &str, b: &str) -> String {
    let mut s = format!(
        "A = {a}\nB = {b}\n{} compared{}\n\n",
        crate::report::count(c.n_images, "image"),
        if c.only_a + c.only_b > 0 {
            format!(
                " ({} only in A and {} only in B left out)",
                c.only_a, c.only_b
            )
        } else {
            String::new()
        }
    );
    for w in [truth_warning(c), unit_warning(c)].into_iter().flatten() {
        let _ = writeln!(s, "**{w}.**\n");
    }
    s += "| Metric | A mean | B mean | B − A | 95 % CI of B − A | A global | B global | B − A global | 95 % CI |\n";
    s += "|---|---|---|---|---|---|---|---|---|\n";
    let ci = &c.difference_ci95;
    let cols = [
        c.a_mean.values(),
        c.b_mean.values(),
        ci.mean_low.values(),
        ci.mean_high.values(),
        c.a_global.values(),
        c.b_global.values(),
        ci.global_low.values(),
        ci.global_high.values(),
    ];
    for (k, label) in LABELS.iter().enumerate() {
        let v = |i: usize| cols[i][k];
        let _ = writeln!(
            s,
            "| {label} | {:.4} | {:.4} | {:+.4} | {:+.4} … {:+.4} | {:.4} | {:.4} | {:+.4} | {:+.4} … {:+.4} |",
            v(0),
            v(1),
            v(1) - v(0),
            v(2),
            v(3),
            v(4),
            v(5),
            v(5) - v(4),
            v(6),
            v(7)
        );
    }
    let _ = writeln!(
        s,
        "\nPer image, B's Dice is higher on {}, lower on {}, equal on {}.\n{}",
        c.b_better,
        c.b_worse,
        c.tied,
        verdict(ci)
    );
    if let Some(h) = &c.hd95 {
        let _ = writeln!(s, "{}", h.describe());
    }
    s
}

/// What the mean-Dice interval of B − A says, in words.
pub fn verdict(ci: &Intervals) -> String {
    let (lo, hi) = (ci.mean_low.dice, ci.mean_high.dice);
    if lo > 0.0 {
        format!("B's mean Dice is higher than A's: the 95 % interval of the difference, {lo:+.4} … {hi:+.4}, excludes 0.")
    } else if hi < 0.0 {
        format!("B's mean Dice is lower than A's: the 95 % interval of the difference, {lo:+.4} … {hi:+.4}, excludes 0.")
    } else {
        format!("No difference in mean Dice can be told on these images: the 95 % interval of B − A, {lo:+.4} … {hi:+.4}, contains 0.")
    }
}

#[cfg(test)]
mod tests;
