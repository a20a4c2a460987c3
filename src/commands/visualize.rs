//! `tumorseg visualize`: MRI | ground truth | prediction | overlay rows for random or worst test samples.
use crate::commands::evaluate::{resolve_decision, DecisionArgs};
use crate::dataset::{load_split, Sample};
use crate::evaluate::slices::Volumes;
use crate::evaluate::{decide_each, score_model};
use crate::metrics::surface::surface;
use crate::metrics::Confusion;
use crate::postprocess::Decision;
use crate::predict::{load_images, open_run, probabilities_gray, InferenceArgs, LoadedRun};
use crate::visualize::{pick_random, pick_worst, row, stack, RANDOM, WORST};
use anyhow::{bail, Context, Result};
use image::GrayImage;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `tumorseg train`, or by `tumorseg ensemble`.
    pub run_dir: PathBuf,
    /// Dataset root holding the split folder.
    pub dataset_root: PathBuf,
    /// Split to draw samples from.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Number of random samples.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// Seed of the random choice (same seed, same samples).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Draw the N samples with the lowest Dice instead of random ones (predicts the whole split).
    #[arg(long, value_name = "N", conflicts_with = "n")]
    pub worst: Option<usize>,
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Side of each of the four square panels, in pixels.
    #[arg(long, default_value_t = 256)]
    pub panel: u32,
    #[command(flatten)]
    pub annotations: crate::commands::evaluate::SplitArgs,
    #[command(flatten)]
    pub inference: InferenceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let mut run = open_run(&args.run_dir, &args.inference)?;
    args.annotations.apply(&mut run);
    let choice = match args.worst {
        Some(n) => Choice::Worst(n),
        None => Choice::Random {
            n: args.n,
            seed: args.seed,
        },
    };
    let files = figures(
        &run,
        &args.dataset_root,
        &args.split,
        choice,
        args.decision,
        args.panel,
    )?;
    for f in &files {
        println!("{}", f.display());
    }
    Ok(())
}

/// Which samples to draw.
#[derive(Clone, Copy, Debug)]
pub enum Choice {
    Random { n: usize, seed: u64 },
    Worst(usize),
}

/// Write one PNG per sample (`<mode>_<split>_<rank>_<stem>.png`) and the stacked rows
/// (`<mode>_<split>.png`) into `<run>/figures/`; returns the paths, stacked figure first. The split
/// is in every name so that figures of another split do not overwrite these.
pub fn figures(
    run: &LoadedRun,
    root: &Path,
    split: &str,
    choice: Choice,
    decision: DecisionArgs,
    panel: u32,
) -> Result<Vec<PathBuf>> {
    // Four panels a row, eight rows: 4096 px panels already make a 16384 × 32768 figure.
    if !(16..=4096).contains(&panel) {
        bail!("--panel must be 16 to 4096 pixels (got {panel})");
    }
    let (Choice::Random { n, .. } | Choice::Worst(n)) = choice;
    if n == 0 {
        bail!("no sample to draw: --n and --worst must be at least 1");
    }
    let (decision, ..) = resolve_decision(decision, run)?;
    let samples = load_split(root, split, &run.split)?;
    if samples.is_empty() {
        bail!("split {split:?} under {} has no images", root.display());
    }
    if n > samples.len() {
        eprintln!(
            "note: split {split:?} has {}: all of them are drawn",
            crate::report::count(samples.len(), "image")
        );
    }
    let (mode, picked) = match choice {
        Choice::Random { n, seed } => (RANDOM, pick_random(samples.len(), n, seed)),
        Choice::Worst(n) => {
            let rows = score_model(&run.models, &samples, &run.inference, decision, true)?.rows;
            let dice: Vec<f64> = rows.iter().map(|r| r.confusion.dice()).collect();
            (WORST, pick_worst(&dice, n))
        }
    };
    let chosen: Vec<Sample> = picked.iter().map(|&i| samples[i].clone()).collect();
    let images = load_images(&chosen)?;
    let preds = masks_of(run, &samples, &picked, &images, decision)?;
    let dir = run.dir.join(crate::visualize::DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let kind = format!("{mode}_{split}");
    remove_rows(&dir, &kind)?;
    let mut rows = Vec::new();
    let mut files = vec![dir.join(format!("{kind}.png"))];
    for (rank, ((s, img), pred)) in chosen.iter().zip(&images).zip(preds).enumerate() {
        let truth = s.mask();
        let r = row(img, &truth, &pred, &labels(s, &truth, &pred), panel);
        let path = dir.join(format!("{kind}_{rank:02}_{}.png", s.stem));
        r.save(&path)
            .with_context(|| format!("write {}", path.display()))?;
        files.push(path);
        rows.push(r);
    }
    stack(&rows)
        .save(&files[0])
        .with_context(|| format!("write {}", files[0].display()))?;
    Ok(files)
}

/// Removes the rows an earlier figure of this `kind` (`<mode>_<split>`) left: a smaller or other
/// choice would leave them beside the new ones, not in its stacked figure.
fn remove_rows(dir: &Path, kind: &str) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| is_row(&n, kind)) {
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Whether `name` is a row of `kind` (`<kind>_<rank>_<stem>.png`). The rank's two or more digits
/// must follow the prefix, so that the rows of a split whose name extends this one (`test_2` beside
/// `test`) are not taken for this split's.
fn is_row(name: &str, kind: &str) -> bool {
    let Some(rest) = name.strip_prefix(kind).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits >= 2 && rest[digits..].starts_with('_') && name.ends_with(".png")
}

/// The overlay's scores: Dice, and HD95 (in mm when the image gives its pixel spacing) when both
/// masks have tumour.
fn labels(s: &Sample, truth: &GrayImage, pred: &GrayImage) -> Vec<String> {
    let dice = Confusion::from_masks(pred.as_raw(), truth.as_raw()).dice();
    let (spacing, unit) = s.spacing.map_or(((1.0, 1.0), "px"), |sp| (sp, "mm"));
    let size = (truth.width(), truth.height());
    let hd95 = surface(pred.as_raw(), truth.as_raw(), size, spacing);
    std::iter::once(format!("Dice {dice:.3}"))
        .chain(hd95.map(|d| format!("HD95 {:.1} {unit}", d.hd95)))
        .collect()
}

/// The masks of the `picked` samples (their `images`) as evaluate scores them: on a split of volume
/// slices, with a post-processing that acts in 3-D, each decided with the rest of its volume.
fn masks_of(
    run: &LoadedRun,
    samples: &[Sample],
    picked: &[usize],
    images: &[GrayImage],
    decision: Decision,
) -> Result<Vec<GrayImage>> {
    let volume = |s: &Sample| s.volume.as_ref().map(|(v, _)| v.clone());
    if !decision.postprocess.spans_slices() || Volumes::<()>::of(samples).is_none() {
        let probs = probabilities_gray(&run.models, images, &run.inference)?;
        return Ok(probs.iter().map(|p| decision.mask(p)).collect());
    }
    let wanted: HashSet<String> = picked.iter().filter_map(|&i| volume(&samples[i])).collect();
    let members: Vec<usize> = (0..samples.len())
        .filter(|&i| volume(&samples[i]).is_some_and(|v| wanted.contains(&v)))
        .collect();
    let theirs: Vec<Sample> = members.iter().map(|&i| samples[i].clone()).collect();
    let mut masks: HashMap<usize, GrayImage> = HashMap::new();
    decide_each(
        &run.models,
        &theirs,
        &run.inference,
        decision,
        false,
        |j, mask| {
            masks.insert(members[j], mask);
        },
    )?;
    picked
        .iter()
        .map(|i| masks.remove(i).context("every picked slice is decided"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_row;

    #[test]
    fn a_row_is_told_from_the_stacked_figure_and_other_splits_rows() {
        assert!(is_row("random_test_00_a.png", "random_test"));
        assert!(is_row("random_test_123_a_b.png", "random_test"));
        assert!(!is_row("random_test.png", "random_test"));
        assert!(!is_row("random_test_2_00_a.png", "random_test"));
        assert!(!is_row("random_valid_00_a.png", "random_test"));
        assert!(!is_row("worst_test_00_a.png", "random_test"));
        assert!(!is_row("random_test_00_a.json", "random_test"));
    }
}
