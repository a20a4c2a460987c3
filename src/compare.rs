//! Two evaluations of the same split side by side, image by image: is B better than A, or is the
//! difference within what another draw of test images could give? Reads the `per_image.csv` files
//! `evaluate` writes (of a run, or of `--pred-masks`, e.g. the PyTorch notebook's masks).
use crate::metrics::bootstrap::{self, Intervals};
use crate::metrics::surface::Unit;
use crate::metrics::{Aggregate, Confusion, MetricSet};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
        path.join(crate::report::PER_IMAGE)
    } else {
        path.to_path_buf()
    }
}

/// The per_volume.csv beside the per_image.csv of `path` (see [`per_image_file`]).
pub fn per_volume_file(path: &Path) -> PathBuf {
    per_image_file(path).with_file_name(crate::report::PER_VOLUME)
}

/// Each image's stem, confusion counts and HD95, in file order.
pub fn read_per_image(path: &Path) -> Result<Vec<Scored>> {
    read_rows(&per_image_file(path))
}

/// The rows of a per_image.csv or per_volume.csv (volumes as images).
pub fn read_rows(file: &Path) -> Result<Vec<Scored>> {
    let mut reader = csv::Reader::from_path(file).with_context(|| {
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
    let report = per_image_file(per_image).with_file_name(crate::report::JSON);
    let report: crate::report::Report =
        serde_json::from_str(&std::fs::read_to_string(report).ok()?).ok()?;
    let inputs = report.provenance?.inputs;
    let truth = inputs.iter().find(|d| d.role.ends_with(" annotations"))?;
    Some(truth.sha256.clone())
}

/// A's and B's scores on the images (or volumes) both scored, and how B differs.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// What is compared: `image`, or `volume` (per_volume.csv's rows; the fields named after
    /// images then count volumes).
    #[serde(skip)]
    pub scope: &'static str,
    /// Images scored by both (the comparison's images).
    pub n_images: usize,
    /// Images scored by only one side, left out.
    pub only_a: usize,
    pub only_b: usize,
    pub a_mean: MetricSet,
    pub b_mean: MetricSet,
    pub a_global: MetricSet,
    pub b_global: MetricSet,
    /// 95 % paired-bootstrap intervals of B − A (none for a single shared image or volume: one
    /// case resampled is always itself, and would turn any difference into a verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference_ci95: Option<Intervals>,
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
    /// The same comparison over the volumes, when both sides scored a split of volume slices
    /// (their per_volume.csv): the paired bootstrap then resamples volumes, the independent cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_volume: Option<Box<Comparison>>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference_ci95: Option<(f64, f64)>,
}

impl Hd95Difference {
    fn of(pairs: &[(&Scored, &Scored)]) -> Option<Hd95Difference> {
        let unit = pairs.first()?.0.unit;
        let (a, b): (Vec<f64>, Vec<f64>) = pairs
            .iter()
            .filter(|(x, y)| x.unit == unit && y.unit == unit)
            .filter_map(|(x, y)| Some((x.hd95?, y.hd95?)))
            .unzip();
        if a.is_empty() {
            return None;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        Some(Hd95Difference {
            unit,
            difference_ci95: bootstrap::paired_mean(&a, &b, bootstrap::RESAMPLES, bootstrap::SEED),
            n_images: a.len(),
            a_mean: mean(&a),
            b_mean: mean(&b),
        })
    }
}

/// Compare on the images both scored (matched by stem); an error when they share none.
pub fn compare(a: &[Scored], b: &[Scored]) -> Result<Comparison> {
    compare_as(a, b, "image")
}

/// [`compare`] of the rows of `scope`s (`image`, `volume`).
pub fn compare_as(a: &[Scored], b: &[Scored], scope: &'static str) -> Result<Comparison> {
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
        bail!("the two evaluations share no {scope} (are they of the same split?)");
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
        scope,
        n_images: ca.len(),
        only_a: a.len() - ca.len(),
        only_b: b.len() - ca.len(),
        a_mean: aa.mean(),
        b_mean: ab.mean(),
        a_global: aa.global(),
        b_global: ab.global(),
        difference_ci95: bootstrap::paired(&ca, &cb, bootstrap::RESAMPLES, bootstrap::SEED),
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
        per_volume: None,
    })
}

fn same_truth(a: &Confusion, b: &Confusion) -> bool {
    let total = |c: &Confusion| c.tp + c.fp + c.fn_ + c.tn;
    a.tp + a.fn_ == b.tp + b.fn_ && total(a) == total(b)
}

mod markdown;
pub use markdown::{markdown, truth_warning, unit_warning};

#[cfg(test)]
mod tests;
