//! `tumorseg tune-threshold`: predict a split once, score every grid threshold, keep the best mean Dice.
use crate::dataset::load_split;
use crate::evaluate::threshold_curves;
use crate::postprocess::PostprocessChoice;
use crate::predict::{open_run, InferenceArgs, LoadedRun};
use crate::provenance::{self, Provenance};
use crate::report::plot_threshold;
use crate::threshold::{parse_grid, ThresholdFile, DEFAULT_GRID};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directory written by `tumorseg train` (best_model.safetensors, config.toml), or by
    /// `tumorseg ensemble` (its members, their mean probability).
    pub run_dir: PathBuf,
    /// Dataset root holding the split folder (train/ valid/ test/ with _annotations.coco.json).
    pub dataset_root: PathBuf,
    /// Split to tune on (never the test split if you want an honest test score).
    #[arg(long, default_value = "valid")]
    pub split: String,
    /// Thresholds to try: START:STOP:STEP (inclusive) or a comma list such as 0.3,0.5,0.7.
    #[arg(long, default_value = DEFAULT_GRID)]
    pub threshold_grid: String,
    /// Post-processing candidates: auto tries none, largest (keep the largest connected region) and
    /// one (largest, and an empty mask becomes the half-maximum blob around the most probable
    /// pixel), keeping the best mean Dice; none, largest or one forces that one.
    #[arg(long, value_enum, default_value = "auto")]
    pub postprocess: PostprocessChoice,
    #[command(flatten)]
    pub annotations: crate::commands::evaluate::SplitArgs,
    #[command(flatten)]
    pub inference: InferenceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let grid = parse_grid(&args.threshold_grid)?;
    if args.split == "test" {
        eprintln!(
            "warning: tuning on `test`: every score on the test split will be optimistic, since the \
             threshold was chosen on it (tune on valid for an honest test score)"
        );
    }
    let mut run = open_run(&args.run_dir, &args.inference)?;
    args.annotations.apply(&mut run);
    // Before the grid is computed (minutes on a large split), not after.
    crate::atomic::ensure_writable(&run.dir.join(crate::threshold::FILE))?;
    let file = tune(
        &run,
        &args.dataset_root,
        &args.split,
        grid,
        args.postprocess,
    )?;
    print!("{}", file.table());
    println!(
        "best threshold {:.2}, post-processing {} (mean Dice {:.4}) saved to {} and {}",
        file.threshold,
        file.postprocess.as_str(),
        file.mean_dice,
        run.dir.join(crate::threshold::FILE).display(),
        run.dir.join(crate::report::THRESHOLD_PLOT).display()
    );
    Ok(())
}

/// Tune on `split`, write threshold.json and threshold.png into the run directory.
pub fn tune(
    run: &LoadedRun,
    root: &Path,
    split: &str,
    grid: Vec<f32>,
    postprocess: PostprocessChoice,
) -> Result<ThresholdFile> {
    let samples = load_split(root, split, &run.split)?;
    if samples.is_empty() {
        bail!(
            "split {split:?} under {} has no images to tune on",
            root.display()
        );
    }
    let candidates = postprocess.candidates();
    let curves = threshold_curves(
        &run.models,
        &samples,
        &run.inference,
        grid,
        &candidates,
        true,
    )?;
    let model = provenance::run_inputs(&run.dir, false)?;
    let inputs = provenance::scoring_inputs(model, root, split, &run.split, &samples)?;
    let mut file = ThresholdFile::from_curves(&curves, split, run.inference.tta);
    file.size = Some(run.inference.size);
    file.provenance = Some(Provenance::now(run.inference.device, inputs));
    file.save(&run.dir)?;
    plot_threshold(&file, &run.dir.join(crate::report::THRESHOLD_PLOT))?;
    Ok(file)
}
