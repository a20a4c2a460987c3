//! `tumorseg evaluate`: score a trained run, or any folder of predicted masks, on a split.
use crate::dataset::{load_split, SplitOptions};
use crate::evaluate::{
    build_report, pred_mask_path, score_model, score_pred_dir, ReportContext, ThresholdSource,
};
use crate::postprocess::{Decision, Postprocess};
use crate::predict::{open_run, InferenceArgs, LoadedRun};
use crate::provenance::{self, Provenance};
use crate::report::{summary, write_all, Report};
use crate::threshold::{ThresholdFile, DEFAULT};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Forms:\n  tumorseg evaluate <RUN_DIR> <DATASET_ROOT> [--split test] [--threshold T]\n  \
                        tumorseg evaluate --pred-masks <DIR> <DATASET_ROOT> --split S"
)]
pub struct Args {
    /// RUN_DIR then DATASET_ROOT; with --pred-masks only DATASET_ROOT.
    #[arg(value_name = "RUN_DIR|DATASET_ROOT")]
    pub first: PathBuf,
    /// DATASET_ROOT (omit it with --pred-masks).
    #[arg(value_name = "DATASET_ROOT")]
    pub second: Option<PathBuf>,
    /// Split to score.
    #[arg(long, default_value = "test")]
    pub split: String,
    #[command(flatten)]
    pub decision: DecisionArgs,
    #[command(flatten)]
    pub annotations: SplitArgs,
    /// Score this folder of 0/255 PNG masks named `<image stem>.png` instead of a run, each at its
    /// image's size, or at its shape scaled (a model's own resolution: resized nearest-neighbour to
    /// the image's size, with a note); a mask of another shape is refused.
    #[arg(long, value_name = "DIR")]
    pub pred_masks: Option<PathBuf>,
    /// Where report.json, report.md and per_image.csv go, and per_volume.csv when the images are
    /// slices of volumes (`<volume>_f001`…, or `volume` and `slice_number` in the annotation file, as
    /// from-seg writes for a DICOM series; default: the run directory for the test split,
    /// RUN/evaluate-<split>/ for another, or the --pred-masks folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub inference: InferenceArgs,
}

pub fn run(args: Args) -> Result<()> {
    if let Some(out) = &args.out {
        crate::atomic::ensure_folder_or_new(out, "--out")?;
    }
    let report = match (&args.pred_masks, &args.second) {
        (Some(dir), None) => {
            let out = args.out.clone().unwrap_or_else(|| dir.clone());
            let opts = args.annotations.over(SplitOptions::default());
            evaluate_masks(dir, &args.first, &args.split, &opts, &out)?
        }
        (Some(_), Some(_)) => bail!("with --pred-masks give only DATASET_ROOT (got two paths)"),
        (None, Some(root)) => {
            let mut run = open_run(&args.first, &args.inference)?;
            args.annotations.apply(&mut run);
            let out = args.out.clone().unwrap_or_else(|| {
                let out = default_out(&args.first, &args.split);
                if out != args.first {
                    eprintln!("note: the {} report goes to {}", args.split, out.display());
                }
                out
            });
            evaluate_run(&run, root, &args.split, args.decision, &out)?
        }
        (None, None) => {
            bail!("give RUN_DIR and DATASET_ROOT (or --pred-masks DIR and DATASET_ROOT)")
        }
    };
    print!("{}", summary(&report));
    Ok(())
}

/// A run's test report lives in the run (where `compare` and the pipeline read it); another split's
/// goes into `RUN/evaluate-<split>/`, so that it does not replace the test report.
fn default_out(run: &Path, split: &str) -> PathBuf {
    match split {
        "test" => run.to_path_buf(),
        other => run.join(format!("evaluate-{other}")),
    }
}

/// Which annotations of the split are the ground truth: a run is scored by default on what it was
/// trained on (its config.toml's --annotations and --categories).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SplitArgs {
    /// Only these COCO category ids are tumour, comma-separated [default: those the run was trained
    /// on (its config.toml), else all].
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<u64>>,
    /// Annotation file instead of _annotations.coco(.cleaned).json: a file name is read in the split
    /// folder, a path (./x.json) as is [default: the one the run was trained on, else the split's].
    #[arg(long)]
    pub annotations: Option<PathBuf>,
}

impl SplitArgs {
    /// The given flags over `trained` (what the run was trained on).
    pub fn over(&self, trained: SplitOptions) -> SplitOptions {
        SplitOptions {
            annotations: self.annotations.clone().or(trained.annotations),
            categories: self.categories.clone().or(trained.categories),
        }
    }

    /// Sets the run's ground truth, saying on stderr when it is not the split's own, all categories.
    pub fn apply(&self, run: &mut LoadedRun) {
        let trained = std::mem::take(&mut run.split);
        if self.categories.is_none() && trained.categories.is_some()
            || self.annotations.is_none() && trained.annotations.is_some()
        {
            let source = format!("as {} was trained", run.dir.display());
            trained.describe(&source);
        }
        run.split = self.over(trained);
    }
}

/// How probabilities become masks, for evaluate, visualize and predict.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct DecisionArgs {
    /// Probability threshold (default: the run's threshold.json, else 0.5).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// After the threshold: none; largest (keep only the largest connected region); or one (largest,
    /// and an empty mask becomes the half-maximum blob around the most probable pixel). Default:
    /// what tune-threshold chose on valid (threshold.json), else none. A volume's slices are
    /// decided together: in predict a NIfTI volume's and a DICOM series' (in their order along the
    /// slice normal, whatever order the files come in), in evaluate, tune-threshold and visualize
    /// those of a split of volume slices (`<volume>_f<number>`, as from-nifti writes them, or
    /// `volume` and `slice_number` in the annotation file, as from-seg writes them; by number, a run of missing numbers kept as a gap): largest and one keep one region of the
    /// whole volume, connected in 3-D (26 neighbours), so that slices without tumour stay empty.
    #[arg(long, value_enum)]
    pub postprocess: Option<Postprocess>,
}

/// The decision rule to use, where its threshold came from, and the split threshold.json was tuned on
/// when that file decides; says so when falling back to 0.5.
pub fn resolve_decision(
    given: DecisionArgs,
    run: &LoadedRun,
) -> Result<(Decision, ThresholdSource, Option<String>)> {
    if given.threshold.is_some_and(|t| !(0.0..1.0).contains(&t)) {
        bail!("--threshold must be in [0, 1)");
    }
    let run_dir = &run.dir;
    // Given both, the run's threshold.json decides nothing: it is not read (nor said to be stale).
    let file = match (given.threshold, given.postprocess) {
        (Some(_), Some(_)) => None,
        _ => ThresholdFile::load(run_dir)?,
    };
    let (threshold, source) = match (given.threshold, &file) {
        (Some(t), _) => (t, ThresholdSource::Given),
        (None, Some(f)) => (f.threshold, ThresholdSource::Tuned),
        // A threshold.json that is there was ignored, with a warning of its own.
        (None, None) if run_dir.join(crate::threshold::FILE).is_file() => {
            eprintln!("note: using the threshold {DEFAULT} instead");
            (DEFAULT, ThresholdSource::Default)
        }
        (None, None) => {
            eprintln!(
                "note: {} has no threshold.json: using {DEFAULT} (run `tumorseg tune-threshold` to tune it)",
                run_dir.display()
            );
            (DEFAULT, ThresholdSource::Default)
        }
    };
    let postprocess = given
        .postprocess
        .or(file.as_ref().map(|f| f.postprocess))
        .unwrap_or_default();
    if let Some(f) = file.as_ref().filter(|_| source == ThresholdSource::Tuned) {
        note_other_size(f, run);
    }
    let tuned_on = file
        .filter(|_| source == ThresholdSource::Tuned)
        .map(|f| f.split);
    Ok((
        Decision {
            threshold,
            postprocess,
        },
        source,
        tuned_on,
    ))
}

/// A threshold suits the probabilities of the size it was tuned at: says so when `--size` asks for
/// another (without it, inference runs at the tuned size).
fn note_other_size(file: &ThresholdFile, run: &LoadedRun) {
    let at = file.tuned_size(run.trained_size);
    let size = run.inference.size;
    if at != size {
        eprintln!(
            "note: threshold.json was tuned at {at} px, not at --size {size}: its threshold {:.2} \
             may not suit this size's probabilities (`tune-threshold --size {size}` tunes one that \
             does)",
            file.threshold
        );
    }
}

/// Score a run on `split`; writes the report files into `out`.
pub fn evaluate_run(
    run: &LoadedRun,
    root: &Path,
    split: &str,
    decision: DecisionArgs,
    out: &Path,
) -> Result<Report> {
    let start = Instant::now();
    let (decision, source, tuned_on) = resolve_decision(decision, run)?;
    if tuned_on.as_deref() == Some(split) {
        eprintln!(
            "warning: the threshold was tuned on `{split}`, the split being scored: the scores are optimistic"
        );
    }
    let samples = load_split(root, split, &run.split)?;
    if samples.is_empty() {
        bail!("split {split:?} under {} has no images", root.display());
    }
    let scores = score_model(&run.models, &samples, &run.inference, decision, true)?;
    let model = provenance::run_inputs(&run.dir, source == ThresholdSource::Tuned)?;
    let inputs = provenance::scoring_inputs(model, root, split, &run.split, &samples)?;
    let ctx = ReportContext {
        split,
        threshold: decision.threshold,
        source,
        tuned_on,
        postprocess: decision.postprocess,
        tta: run.inference.tta,
        model: run.dir.display().to_string(),
        seconds: start.elapsed().as_secs_f64(),
        similar: crate::clean::similar::similar_stems(root, split),
        provenance: Provenance::now(run.inference.device, inputs),
    };
    let report = build_report(&ctx, &scores);
    write_all(out, &report, &scores.rows, &scores.volumes)?;
    Ok(report)
}

/// Score a folder of predicted masks on `split`; writes the report files into `out`.
pub fn evaluate_masks(
    dir: &Path,
    root: &Path,
    split: &str,
    opts: &SplitOptions,
    out: &Path,
) -> Result<Report> {
    let start = Instant::now();
    let samples = load_split(root, split, opts)?;
    if samples.is_empty() {
        bail!("split {split:?} under {} has no images", root.display());
    }
    let scores = score_pred_dir(&samples, dir)?;
    let masks: Vec<PathBuf> = samples.iter().map(|s| pred_mask_path(dir, s)).collect();
    let scored = vec![provenance::files("predicted masks", dir, &masks)?];
    let inputs = provenance::scoring_inputs(scored, root, split, opts, &samples)?;
    let ctx = ReportContext {
        split,
        threshold: 0.5,
        source: ThresholdSource::Masks,
        tuned_on: None,
        postprocess: Postprocess::None,
        tta: crate::predict::Tta::None,
        model: dir.display().to_string(),
        seconds: start.elapsed().as_secs_f64(),
        similar: crate::clean::similar::similar_stems(root, split),
        provenance: Provenance::now(tch::Device::Cpu, inputs),
    };
    let report = build_report(&ctx, &scores);
    write_all(out, &report, &scores.rows, &scores.volumes)?;
    Ok(report)
}
