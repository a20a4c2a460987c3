//! Everything written for humans after an evaluation: report.json, report.md (the seed's table),
//! per_image.csv, and the threshold curve chart.
use crate::metrics::{Confusion, MetricSet};
use crate::threshold::ThresholdFile;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// How the empty/empty case is scored; repeated in every report so a reader never has to guess.
pub const EMPTY_CONVENTION: &str =
    "prediction and truth both empty: dice = iou = precision = recall = f1 = accuracy = 1";

/// `report.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub split: String,
    pub threshold: f32,
    /// `tuned` (threshold.json), `given` (--threshold), `default` (0.5, no threshold.json) or `masks` (--pred-masks).
    pub threshold_source: String,
    /// The split the threshold was tuned on (`tuned` thresholds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned_on: Option<String>,
    /// After the threshold: `none`, `largest` (only the largest connected region kept) or `one`
    /// (largest, and an empty mask filled with the half-maximum blob).
    #[serde(default = "none_string")]
    pub postprocess: String,
    pub n_images: usize,
    pub mean: MetricSet,
    pub global: MetricSet,
    /// Reports from before `d4` existed hold a bool (true = flips).
    pub tta: crate::predict::Tta,
    /// The run directory or the predicted-mask folder that was scored.
    pub model: String,
    pub seconds: f64,
    /// Images whose truth mask is empty (they score 1 or 0 on most metrics, see `empty_convention`).
    pub n_empty_truth: usize,
    pub empty_convention: String,
    /// The same scores over the images `clean` found no near-identical image for in another split
    /// (clean_report.json's `similar`), when that report exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub independent: Option<Subset>,
    /// 95 % percentile-bootstrap intervals over the images (absent in reports written before them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<crate::metrics::bootstrap::Intervals>,
    /// Missed tumours, false alarms and Dice by tumour size (absent in reports written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<crate::metrics::breakdown::Breakdown>,
    /// When the images are slices of volumes (`<volume>_f001`…, as `from-nifti`, `from-seg` and
    /// `predict` name them, or the annotation file's `volume` and `slice_number`): each volume's metrics over its slices pooled, and their mean over the
    /// volumes (`n_images` counts volumes), as volumetric challenges score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Subset>,
    /// HD95 and average symmetric surface distance (in mm when every image has its pixel spacing,
    /// else pixels) over the images where both the prediction and the truth have tumour (absent in reports written before them, and when no
    /// image has both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surface: Option<crate::metrics::surface::Summary>,
    /// When the images are slices of volumes: HD95 and ASSD of each volume, its slices' masks
    /// stacked and their surfaces measured in 3-D, over the volumes where both sides have tumour
    /// (`n_images` counts volumes; mm when every slice gives its pixel and slice spacings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_surface: Option<crate::metrics::surface::Summary>,
    /// The build, machine, command and input files (model, threshold, annotations, images) scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::provenance::Provenance>,
}

/// Scores over a subset of a split's images.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Subset {
    pub n_images: usize,
    pub mean: MetricSet,
    pub global: MetricSet,
    /// As `Report.ci95`, over the subset's images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<crate::metrics::bootstrap::Intervals>,
}

fn none_string() -> String {
    "none".into()
}

/// One line of per_image.csv.
#[derive(Clone, Debug)]
pub struct ImageRow {
    pub id: u64,
    pub stem: String,
    pub width: u32,
    pub height: u32,
    pub confusion: Confusion,
    /// HD95 and ASSD, when both masks have tumour, in `distance_unit`.
    pub surface: Option<crate::metrics::surface::Surface>,
    pub distance_unit: crate::metrics::surface::Unit,
}

/// Row labels of the tables, in [`crate::metrics::NAMES`] order.
pub const LABELS: [&str; 6] = ["Dice", "IoU", "Precision", "Recall", "F1", "Pixel accuracy"];

/// The seed-style table: one metric per row, mean over images and pooled pixels side by side.
pub fn markdown_table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Split `{}`, {}, {}{}{}\n",
        r.split,
        count(r.n_images, "image"),
        decided_by(r),
        match r.postprocess.as_str() {
            "largest" => ", largest region kept",
            "one" => ", exactly one region kept",
            _ => "",
        },
        match r.tta {
            crate::predict::Tta::None => String::new(),
            t => format!(", TTA {}", t.as_str()),
        }
    );
    s += "| Metric | Mean over images | Global (pixels pooled) |\n|---|---|---|\n";
    for ((label, m), g) in LABELS.iter().zip(r.mean.values()).zip(r.global.values()) {
        let _ = writeln!(s, "| {label} | {m:.4} | {g:.4} |");
    }
    s
}

/// How the masks were decided: by which threshold, from where; or given as masks, which have none.
fn decided_by(r: &Report) -> String {
    if r.threshold_source == crate::evaluate::ThresholdSource::Masks.as_str() {
        return "masks given (no threshold)".into();
    }
    let source = match &r.tuned_on {
        Some(split) => format!("{} on {split}", r.threshold_source),
        None => r.threshold_source.clone(),
    };
    format!("threshold {:.2} ({source})", r.threshold)
}

/// report.md: the table plus the context needed to read it.
pub fn markdown(r: &Report) -> String {
    let mut s = format!("# Evaluation of `{}`\n\n", r.model);
    s += &summary(r);
    let _ = write!(
        s,
        "\n{} of {} images have an empty ground truth. Convention: {}.\nTime: {:.1} s.\n",
        r.n_empty_truth, r.n_images, r.empty_convention, r.seconds
    );
    s
}

/// What the commands print: the table, then (when the report has them) a warning for a threshold tuned
/// on the scored split, the confidence intervals, the error breakdown, and the scores without
/// near-identical images.
pub fn summary(r: &Report) -> String {
    let mut s = markdown_table(r);
    if r.tuned_on.as_ref() == Some(&r.split) {
        s += "\nThe threshold was tuned on this split: these scores are optimistic.\n";
    }
    if let Some(ci) = &r.ci95 {
        let _ = writeln!(
            s,
            "\n95 % confidence intervals (bootstrap over the images, {} resamples): mean Dice \
             {:.4}–{:.4}, global Dice {:.4}–{:.4}, mean IoU {:.4}–{:.4}.",
            ci.resamples,
            ci.mean_low.dice,
            ci.mean_high.dice,
            ci.global_low.dice,
            ci.global_high.dice,
            ci.mean_low.iou,
            ci.mean_high.iou
        );
    }
    if let Some(b) = &r.breakdown {
        let _ = writeln!(s, "\n{}", crate::metrics::breakdown::describe(b));
    }
    if let Some(surface) = &r.surface {
        let _ = writeln!(s, "\n{}", crate::metrics::surface::describe(surface, false));
    }
    if let Some(line) = independent_line(r) {
        let _ = writeln!(s, "\n{line}");
    }
    if let Some(v) = &r.volumes {
        let _ = writeln!(
            s,
            "\nPer volume ({}, each scored over its slices in the split pooled{}): mean Dice {:.4}{}, \
             mean IoU {:.4}, mean precision {:.4}, mean recall {:.4}.",
            count(v.n_images, "volume"),
            match r.postprocess.as_str() {
                "largest" | "one" => format!(", its slices post-processed ({}) together in 3-D as predict does", r.postprocess),
                _ => String::new(),
            },
            v.mean.dice,
            v.ci95.map_or(String::new(), |ci| format!(
                " (95 % interval over the volumes {:.4}–{:.4})",
                ci.mean_low.dice, ci.mean_high.dice
            )),
            v.mean.iou,
            v.mean.precision,
            v.mean.recall
        );
    }
    if let Some(surface) = &r.volume_surface {
        let _ = writeln!(s, "\n{}", crate::metrics::surface::describe(surface, true));
    }
    s
}

/// The scores without the images that have an identical or near-identical image in another split,
/// as a sentence.
fn independent_line(r: &Report) -> Option<String> {
    let sub = r.independent.as_ref().filter(|s| s.n_images < r.n_images)?;
    Some(format!(
        "Without the {} that {} an identical or near-identical image (a copy, or a neighbouring \
         slice) in another split (`tumorseg clean`'s `leaked` and `similar`): {}, mean Dice \
         {:.4}{}, global Dice {:.4}.",
        count(r.n_images - sub.n_images, "image"),
        if r.n_images - sub.n_images == 1 {
            "has"
        } else {
            "have"
        },
        count(sub.n_images, "image"),
        sub.mean.dice,
        sub.ci95.map_or(String::new(), |ci| format!(
            " (95 % interval {:.4}–{:.4})",
            ci.mean_low.dice, ci.mean_high.dice
        )),
        sub.global.dice
    ))
}

/// `n` and the noun, plural unless `n` is 1: "1 image", "2 images".
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The first `shown` of `items`, comma-separated, and how many more there are ("none" for none):
/// long lists stay readable on a terminal.
pub fn some_of<T: std::fmt::Display>(items: &[T], shown: usize) -> String {
    let mut s: Vec<String> = items.iter().take(shown).map(T::to_string).collect();
    if items.len() > shown {
        s.push(format!("… {} more", items.len() - shown));
    }
    if s.is_empty() {
        "none".into()
    } else {
        s.join(", ")
    }
}

/// per_image.csv, one row per image in split order.
pub fn csv(rows: &[ImageRow]) -> String {
    let mut w = csv::Writer::from_writer(vec![]);
    let header = "image_id,stem,width,height,truth_pixels,pred_pixels,tp,fp,fn,tn,dice,iou,precision,recall,f1,accuracy,hd95,assd,distance_unit";
    w.write_record(header.split(','))
        .expect("writing to memory");
    for r in rows {
        let c = &r.confusion;
        let counts = [c.tp + c.fn_, c.tp + c.fp, c.tp, c.fp, c.fn_, c.tn];
        let mut record = vec![
            r.id.to_string(),
            r.stem.clone(),
            r.width.to_string(),
            r.height.to_string(),
        ];
        record.extend(counts.iter().map(u64::to_string));
        record.extend(c.metrics().values().iter().map(|v| format!("{v:.6}")));
        let distances = r.surface.map(|s| [s.hd95, s.assd]);
        record.extend((0..2).map(|k| distances.map_or(String::new(), |d| format!("{:.4}", d[k]))));
        record.push(r.distance_unit.as_str().to_string());
        w.write_record(&record).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

pub const JSON: &str = "report.json";
pub const MARKDOWN: &str = "report.md";
pub const PER_IMAGE: &str = "per_image.csv";
pub const PER_VOLUME: &str = "per_volume.csv";
/// The threshold curve chart, beside threshold.json in a run.
pub const THRESHOLD_PLOT: &str = "threshold.png";

/// Write report.json, report.md and per_image.csv into `out_dir` (created if needed), and when the
/// images are slices of volumes, per_volume.csv: the same columns, a row per volume (its name as the
/// stem, its number from 1, its slices' size, its voxels pooled, its distances in 3-D).
pub fn write_all(
    out_dir: &Path,
    report: &Report,
    rows: &[ImageRow],
    volumes: &[ImageRow],
) -> Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let write = |name: &str, text: String| {
        let path = out_dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
    };
    write(JSON, serde_json::to_string_pretty(report)? + "\n")?;
    write(MARKDOWN, markdown(report))?;
    if !volumes.is_empty() {
        write(PER_VOLUME, csv(volumes))?;
    }
    write(PER_IMAGE, csv(rows))
}

/// threshold.png: mean and global Dice against the threshold, the chosen one marked.
pub fn plot_threshold(file: &ThresholdFile, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let text = crate::font::ensure();
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("draw {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (lo, hi) = file.curve.iter().fold((1.0f64, 0.0f64), |(lo, hi), p| {
        (
            lo.min(p.mean_dice.min(p.global_dice)),
            hi.max(p.mean_dice.max(p.global_dice)),
        )
    });
    let (ylo, yhi) = ((lo - 0.05).max(0.0), (hi + 0.05).min(1.0).max(lo + 0.1));
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(
                format!("threshold on {} (best {:.2})", file.split, file.threshold),
                ("sans-serif", 24),
            )
            .x_label_area_size(40)
            .y_label_area_size(55);
    }
    let mut chart = builder
        .build_cartesian_2d(0f64..1f64, ylo..yhi)
        .map_err(|e| err(&e))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("threshold").y_desc("Dice");
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| err(&e))?;
    let series = |f: fn(&crate::threshold::CurvePoint) -> f64| -> Vec<(f64, f64)> {
        file.curve
            .iter()
            .map(|p| (p.threshold as f64, f(p)))
            .collect()
    };
    let mean = chart
        .draw_series(LineSeries::new(
            series(|p| p.mean_dice),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    if text {
        mean.label("mean Dice")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    }
    let global = chart
        .draw_series(LineSeries::new(
            series(|p| p.global_dice),
            RED.stroke_width(2),
        ))
        .map_err(|e| err(&e))?;
    if text {
        global
            .label("global Dice")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    }
    let best = file.threshold as f64;
    chart
        .draw_series(std::iter::once(PathElement::new(
            [(best, ylo), (best, yhi)],
            BLACK.mix(0.5),
        )))
        .map_err(|e| err(&e))?;
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn some_of_a_long_list_counts_the_rest() {
        assert_eq!(super::some_of(&[1, 2, 3], 2), "1, 2, … 1 more");
        assert_eq!(super::some_of(&[1, 2], 2), "1, 2");
        assert_eq!(super::some_of::<u8>(&[], 2), "none");
    }
}
