//! Scoring a split: predictions (from a model or from a folder of mask PNGs) against the split's
//! ground truth, per image and aggregated. The same code scores every model, ours or PyTorch's.
use crate::dataset::Sample;
use crate::metrics::breakdown::breakdown;
use crate::metrics::surface::{summarize, surface, Summary, Unit};
use crate::metrics::{Aggregate, Confusion};
use crate::model::unetpp::UnetPlusPlus;
use crate::postprocess::stack::Stack;
use crate::postprocess::{Decision, Postprocess};
use crate::predict::{self, Inference};
use crate::report::{ImageRow, Report, Subset, EMPTY_CONVENTION};
use crate::threshold::Curves;
use anyhow::Result;
use image::GrayImage;
use per_volume::PerVolume;
use rayon::prelude::*;
use slices::Volumes;

mod per_volume;
mod pred_masks;
pub mod slices;

pub use pred_masks::{load_pred_mask, pred_mask_path, score_pred_dir};

/// A split scored: per image, and when its images are slices of volumes, per volume (its slices
/// pooled, its boundary distances in 3-D).
pub struct Scores {
    pub rows: Vec<ImageRow>,
    pub volumes: Vec<ImageRow>,
}

/// Where the threshold of an evaluation came from (written into report.json).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdSource {
    Tuned,
    Given,
    Default,
    /// Predicted masks are already binary.
    Masks,
}

impl ThresholdSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdSource::Tuned => "tuned",
            ThresholdSource::Given => "given",
            ThresholdSource::Default => "default",
            ThresholdSource::Masks => "masks",
        }
    }
}

/// Boundary distances are in mm when every image has its pixel spacing, else in pixels for all
/// (mixed units would make their mean meaningless), with a note when only some have one.
fn distance_unit(samples: &[Sample]) -> Unit {
    let spaced = samples.iter().filter(|s| s.spacing.is_some()).count();
    if spaced > 0 && spaced < samples.len() {
        eprintln!(
            "note: {spaced} of the {} images give a pixel_spacing: boundary distances (HD95, ASSD) \
             are in pixels for all",
            samples.len()
        );
    }
    match spaced == samples.len() && spaced > 0 {
        true => Unit::Mm,
        false => Unit::Px,
    }
}

/// An image's scores: its confusion and boundary distances (in `unit`), `pred` against its truth.
fn row(sample: &Sample, pred: &GrayImage, unit: Unit) -> ImageRow {
    let truth = sample.mask();
    let spacing = match unit {
        Unit::Mm => sample.spacing.unwrap_or((1.0, 1.0)),
        Unit::Px => (1.0, 1.0),
    };
    ImageRow {
        id: sample.id,
        stem: sample.stem.clone(),
        width: sample.width,
        height: sample.height,
        confusion: Confusion::from_masks(pred.as_raw(), truth.as_raw()),
        surface: surface(
            pred.as_raw(),
            truth.as_raw(),
            (sample.width, sample.height),
            spacing,
        ),
        distance_unit: unit,
    }
}

/// Score the model's masks made by `decision` (a volume's slices decided together: [`slices`]).
pub fn score_model(
    models: &[UnetPlusPlus],
    samples: &[Sample],
    inf: &Inference,
    decision: Decision,
    progress: bool,
) -> Result<Scores> {
    let mut rows: Vec<(usize, ImageRow)> = Vec::with_capacity(samples.len());
    let unit = distance_unit(samples);
    let mut volumes = PerVolume::of(samples, unit);
    // Masks are scored in parallel a few dozen at a time: the boundary distances take a distance
    // transform each, and holding every mask of a large split would cost its size in memory.
    let mut pending: Vec<(usize, GrayImage)> = Vec::new();
    let mut flush = |pending: &mut Vec<(usize, GrayImage)>| {
        let scored: Vec<(usize, ImageRow)> = pending
            .par_iter()
            .map(|(i, pred)| (*i, row(&samples[*i], pred, unit)))
            .collect();
        rows.extend(scored);
        pending.clear();
    };
    decide_each(models, samples, inf, decision, progress, |i, mask| {
        if let Some(v) = volumes.as_mut().filter(|v| v.measures()) {
            v.add(samples, i, mask.clone());
        }
        pending.push((i, mask));
        if pending.len() >= 32 {
            flush(&mut pending);
        }
    })?;
    flush(&mut pending);
    // A volume is scored once its last slice is decided; rows go in the split's order.
    rows.sort_by_key(|r| r.0);
    let rows: Vec<ImageRow> = rows.into_iter().map(|r| r.1).collect();
    Ok(Scores {
        volumes: volumes.map_or(Vec::new(), |v| v.finish(&rows)),
        rows,
    })
}

/// The model's mask of every sample under `decision`, as `predict` makes it: a volume's slices
/// decided together when the post-processing acts in 3-D; `f(index, mask)`, a volume's slices once
/// its last one has been predicted.
pub fn decide_each(
    models: &[UnetPlusPlus],
    samples: &[Sample],
    inf: &Inference,
    decision: Decision,
    progress: bool,
    mut f: impl FnMut(usize, GrayImage),
) -> Result<()> {
    let mut volumes = match decision.postprocess.spans_slices() {
        true => Volumes::of(samples),
        false => None,
    };
    predict::for_each(models, samples, inf, progress, |i, _, _, prob| {
        match volumes.as_mut() {
            None => f(i, decision.mask(&prob)),
            Some(v) => {
                let volume = v.add(i, prob).map(Stack::new);
                for (i, mask) in volume.map_or(Vec::new(), |s| s.masks(decision)) {
                    f(i, mask);
                }
            }
        }
        Ok(())
    })
}

/// Every grid threshold, under every post-processing candidate, scored on every sample from one
/// prediction pass: one `Curves` per candidate, in the candidates' order. As in [`score_model`], a
/// volume's slices are decided together under `largest` and `one`.
pub fn threshold_curves(
    models: &[UnetPlusPlus],
    samples: &[Sample],
    inf: &Inference,
    grid: Vec<f32>,
    candidates: &[Postprocess],
    progress: bool,
) -> Result<Vec<(Postprocess, Curves)>> {
    let mut curves: Vec<(Postprocess, Curves)> = candidates
        .iter()
        .map(|&pp| (pp, Curves::new(grid.clone())))
        .collect();
    // Only a post-processing that acts in 3-D needs a volume's slices gathered.
    let mut volumes = match candidates.iter().any(|pp| pp.spans_slices()) {
        true => Volumes::of(samples),
        false => None,
    };
    predict::for_each(models, samples, inf, progress, |i, s, _, prob| {
        let truth = s.mask();
        for (pp, c) in curves.iter_mut() {
            if volumes.is_none() || !pp.spans_slices() {
                c.add_prob_map(&prob, truth.as_raw(), *pp);
            }
        }
        let Some(stack) = volumes
            .as_mut()
            .and_then(|v| v.add(i, prob))
            .map(Stack::new)
        else {
            return Ok(());
        };
        for (pp, c) in curves.iter_mut().filter(|(pp, _)| pp.spans_slices()) {
            add_volume(c, *pp, samples, &stack);
        }
        Ok(())
    })?;
    Ok(curves)
}

/// A volume's slices in `curves` at every threshold, decided together under `pp`.
fn add_volume(curves: &mut Curves, pp: Postprocess, samples: &[Sample], stack: &Stack) {
    let at: Vec<Vec<(usize, GrayImage)>> = curves
        .thresholds
        .par_iter()
        .map(|&threshold| {
            stack.masks(Decision {
                threshold,
                postprocess: pp,
            })
        })
        .collect();
    // One row per slice, over the thresholds.
    for (k, (i, _)) in at[0].iter().enumerate() {
        let truth = samples[*i].mask();
        let row = at
            .iter()
            .map(|masks| Confusion::from_masks(masks[k].1.as_raw(), truth.as_raw()))
            .collect();
        curves.per_image.push(row);
    }
}

/// Everything a report needs besides the per-image rows.
pub struct ReportContext<'a> {
    pub split: &'a str,
    pub threshold: f32,
    pub source: ThresholdSource,
    /// The split threshold.json was tuned on, when it set the threshold.
    pub tuned_on: Option<String>,
    pub postprocess: Postprocess,
    pub tta: crate::predict::Tta,
    pub model: String,
    pub seconds: f64,
    /// Stems of the images with a near-identical image in another split (`clean_report.json`).
    pub similar: Option<std::collections::HashSet<String>>,
    pub provenance: crate::provenance::Provenance,
}

pub fn build_report(ctx: &ReportContext, scores: &Scores) -> Report {
    let rows = &scores.rows;
    let independent = ctx.similar.as_ref().map(|similar| {
        let agg = Aggregate {
            per_image: rows
                .iter()
                .filter(|r| !similar.contains(&r.stem))
                .map(|r| r.confusion)
                .collect(),
        };
        Subset {
            n_images: agg.per_image.len(),
            mean: agg.mean(),
            global: agg.global(),
            ci95: agg.ci95(),
        }
    });
    let agg = Aggregate {
        per_image: rows.iter().map(|r| r.confusion).collect(),
    };
    Report {
        split: ctx.split.to_string(),
        threshold: ctx.threshold,
        threshold_source: ctx.source.as_str().to_string(),
        tuned_on: ctx.tuned_on.clone(),
        postprocess: ctx.postprocess.as_str().to_string(),
        n_images: rows.len(),
        mean: agg.mean(),
        global: agg.global(),
        tta: ctx.tta,
        model: ctx.model.clone(),
        seconds: ctx.seconds,
        n_empty_truth: rows
            .iter()
            .filter(|r| r.confusion.tp + r.confusion.fn_ == 0)
            .count(),
        empty_convention: EMPTY_CONVENTION.to_string(),
        independent,
        ci95: agg.ci95(),
        breakdown: Some(breakdown(&agg.per_image)),
        volumes: volume_subset(&scores.volumes),
        surface: surface_summary(rows),
        volume_surface: surface_summary(&scores.volumes),
        provenance: Some(ctx.provenance.clone()),
    }
}

/// HD95 and ASSD over the rows (images or volumes) where both sides have tumour, the rows with
/// tumour on one side only counted.
fn surface_summary(rows: &[ImageRow]) -> Option<Summary> {
    let one_sided = rows
        .iter()
        .filter(|r| {
            let c = r.confusion;
            (c.tp + c.fn_ == 0) != (c.tp + c.fp == 0)
        })
        .count();
    let per: Vec<_> = rows.iter().map(|r| r.surface).collect();
    summarize(
        &per,
        one_sided,
        rows.first().map_or(Unit::Px, |r| r.distance_unit),
    )
}

/// The scores per volume (each volume's slices pooled), averaged over the volumes; None when the
/// images are no slices of volumes.
fn volume_subset(volumes: &[ImageRow]) -> Option<Subset> {
    if volumes.is_empty() {
        return None;
    }
    let agg = Aggregate {
        per_image: volumes.iter().map(|r| r.confusion).collect(),
    };
    Some(Subset {
        n_images: agg.per_image.len(),
        mean: agg.mean(),
        global: agg.global(),
        ci95: agg.ci95(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::Segmentation;

    /// A 3 × 1 slice whose truth is its first `tumour` pixels.
    fn slice(stem: &str, tumour: u32) -> Sample {
        Sample {
            id: 0,
            path: stem.into(),
            stem: stem.into(),
            volume: crate::dataset::slice_of(stem).map(|(v, n)| (v.to_string(), n)),
            width: 3,
            height: 1,
            segmentations: vec![Segmentation::Rle {
                counts: vec![0, tumour, 3 - tumour],
                height: 1,
                width: 3,
            }],
            spacing: None,
            slice_spacing: None,
        }
    }

    #[test]
    fn slices_of_volumes_are_scored_per_volume() {
        let samples = [slice("a_f2", 1), slice("b_f01", 0), slice("a_f1", 2)];
        let mut per = PerVolume::of(&samples, Unit::Px).expect("volumes");
        let pred = |data: [u8; 3]| GrayImage::from_raw(3, 1, data.to_vec()).unwrap();
        let preds = [pred([0, 0, 0]), pred([0, 0, 0]), pred([1, 1, 1])];
        let rows: Vec<ImageRow> = samples
            .iter()
            .zip(&preds)
            .map(|(s, p)| row(s, p, Unit::Px))
            .collect();
        for (i, p) in preds.into_iter().enumerate() {
            per.add(&samples, i, p);
        }
        let volumes = per.finish(&rows);
        // In the order of their first slices; a pools to tp 2, fp 1, fn 1: Dice 4/6; b is empty on
        // both sides: 1, and has no distance.
        let got: Vec<(u64, &str, Confusion, bool)> = volumes
            .iter()
            .map(|r| (r.id, r.stem.as_str(), r.confusion, r.surface.is_some()))
            .collect();
        let c = |tp, fp, fn_, tn| Confusion { tp, fp, fn_, tn };
        assert_eq!(
            got,
            [
                (1, "a", c(2, 1, 1, 2), true),
                (2, "b", c(0, 0, 0, 3), false)
            ]
        );
        let v = volume_subset(&volumes).expect("two volumes");
        assert_eq!(v.n_images, 2);
        assert!((v.mean.dice - (4.0 / 6.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!((v.global.dice - 4.0 / 6.0).abs() < 1e-12);
        assert!(volume_subset(&[]).is_none());
    }
}
