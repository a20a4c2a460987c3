//! `tumorseg pipeline`: clean → train → tune-threshold → evaluate → visualize in one run directory.
//!
//! The dataset root is never written to: the splits are mirrored into `<run>/data/` (a symbolic
//! link per file, a copy where links are not possible) and cleaned there, so a read-only root, or
//! the repository's test fixture, stays untouched, and the run records exactly what it trained on.
use crate::clean::{clean_dataset, CleanOptions};
use crate::commands::clean::format_table;
use crate::commands::evaluate::evaluate_run;
use crate::commands::train::TrainFlags;
use crate::commands::tune_threshold::tune;
use crate::commands::visualize::{figures, Choice};
use crate::dataset::{annotation_file, SplitOptions};
use crate::postprocess::PostprocessChoice;
use crate::predict::{open_run, InferenceArgs, Tta};
use crate::threshold::{parse_grid, DEFAULT_GRID};
use crate::train::{members, TrainConfig, TrainSummary};
use anyhow::{bail, ensure, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

mod mirror;
use mirror::mirror_dataset;

/// The pipeline's mirror of the dataset, in its run directory.
const MIRROR: &str = "data";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset root with train/ valid/ test/ COCO splits (read only: cleaning happens in <run>/data/).
    /// Optional with --resume, which goes on with the run's own dataset (the one its config.toml
    /// records, or that its data/ mirror links to); given there, it replaces it, and the run says
    /// which splits' content changed.
    #[arg(required_unless_present = "resume")]
    pub dataset_root: Option<PathBuf>,
    #[command(flatten)]
    pub train: TrainFlags,
    /// Test-time augmentation for threshold tuning, evaluation and figures: none, flips (3 passes)
    /// or d4 (all 8 flips and quarter turns).
    #[arg(long, value_enum, default_value = "none")]
    pub tta: Tta,
    /// Thresholds tried on the valid split: START:STOP:STEP or a comma list.
    #[arg(long, default_value = DEFAULT_GRID)]
    pub threshold_grid: String,
    /// Post-processing chosen on valid with the threshold: auto tries none, largest (keep the
    /// largest connected region) and one (largest, and an empty mask becomes the half-maximum blob
    /// around the most probable pixel), keeping the best mean Dice; none, largest or one forces
    /// that one.
    #[arg(long, value_enum, default_value = "auto")]
    pub postprocess: PostprocessChoice,
    /// Train on the dataset as it is (no cleaning, no mirror).
    #[arg(long)]
    pub no_clean: bool,
    /// Clean keeps the images without any annotation, as tumour-free (see `clean --keep-empty`).
    #[arg(long, conflicts_with = "no_clean")]
    pub keep_empty: bool,
    /// Random test samples drawn into <run>/figures/ (plus the worst half as many).
    #[arg(long, default_value_t = 8)]
    pub figures: usize,
    /// Train this many models, seeds --seed, --seed + 1 …, in <run>/member-1, <run>/member-2 …,
    /// each with the whole recipe and an equal share of --time-limit, and decide with their
    /// ensemble (the mean of their probabilities, as `tumorseg ensemble` makes it), which <run>
    /// itself becomes: the threshold is tuned, the test split scored and the figures drawn with it.
    /// With --resume <run>: each member continues from its saved state (a finished one stays as it
    /// is), those not started train, and a larger N adds members, each with the share of the time
    /// limit the others had (or of a new --time-limit) [default: 1; resumed: the members <run> holds].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub members: Option<u32>,
}

/// What the pipeline trains: the recipe (its time limit the whole run's), how many members, and
/// whether they continue from saved states.
struct Plan {
    cfg: TrainConfig,
    members: u32,
    resume: bool,
}

/// The recipe and members from the flags, or, resumed, from the run directory and the flags over it.
fn plan(args: &Args) -> Result<Plan> {
    let root = args.dataset_root.clone();
    let flags = &args.train;
    let resumed_members = flags.resume.as_deref().filter(|r| members::is_pipeline(r));
    if let Some(run) = resumed_members {
        let n = members::resumed_count(run, args.members)?;
        let mut cfg = flags.resolve_onto(members::recipe(run, n)?, root)?;
        cfg.out = Some(run.to_path_buf());
        cfg.validate()?;
        return Ok(Plan {
            cfg,
            members: n,
            resume: true,
        });
    }
    let mut cfg = flags.resolve(root)?;
    let n = args.members.unwrap_or(1);
    if let Some(run) = &cfg.resume {
        ensure!(
            n == 1,
            "{} is a single training run: --members {n} needs a new pipeline (--out, not --resume)",
            run.display()
        );
        cfg.out = Some(run.clone());
    } else {
        cfg.out = Some(cfg.run_dir());
    }
    // Refused before the dataset is mirrored and cleaned into the run.
    cfg.validate()?;
    if n > 1 {
        members::check_new(&cfg.run_dir(), n, cfg.overwrite)?;
    } else if cfg.resume.is_none() {
        crate::checkpoint::check_new_run(&cfg.run_dir(), cfg.overwrite)?;
    }
    Ok(Plan {
        resume: cfg.resume.is_some(),
        cfg,
        members: n,
    })
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    // Each stage's start time, so a time-boxed run (the GPU proof's 9 minutes) shows where time goes.
    let stage = |what: &str| println!("== {what} [{:.1} s]", started.elapsed().as_secs_f64());
    let grid = parse_grid(&args.threshold_grid)?;
    let Plan {
        mut cfg,
        members,
        resume,
    } = plan(&args)?;
    let run_dir = cfg.run_dir();
    let root = match &args.dataset_root {
        Some(root) => root.clone(),
        None => resumed_root(&cfg.dataset, &run_dir)?,
    };
    let data = if args.no_clean {
        root
    } else {
        let mirror = run_dir.join(MIRROR);
        stage(&format!(
            "clean (into {}, the dataset root is not modified)",
            mirror.display()
        ));
        mirror_dataset(&root, &mirror)?;
        let mut opts = CleanOptions {
            categories: cfg.categories.clone(),
            keep_empty: args.keep_empty,
            ..CleanOptions::default()
        };
        // The --annotations file is what gets cleaned; every stage then reads the cleaned file.
        if let Some(name) = cfg.annotations.take() {
            opts.input = name;
        }
        print!("{}", format_table(&clean_dataset(&mirror, &opts)?));
        mirror
    };
    cfg.dataset = data.clone();

    stage(&format!("train ({})", run_dir.display()));
    let trained = train_members(&cfg, members, resume)?;
    let decided = match &trained[..] {
        [one] => one.run_dir.clone(),
        several => {
            let dirs: Vec<PathBuf> = several.iter().map(|m| m.run_dir.clone()).collect();
            let ensemble = crate::ensemble::create_within(&run_dir, &dirs)?;
            println!(
                "ensemble of {} members (best valid Dice {}) in {}",
                dirs.len(),
                (ensemble.members.iter())
                    .map(|m| m.best_valid_dice.map_or("-".into(), |d| format!("{d:.4}")))
                    .collect::<Vec<_>>()
                    .join(", "),
                run_dir.display()
            );
            run_dir.clone()
        }
    };
    let inference = InferenceArgs {
        device: cfg.device.clone(),
        precision: cfg.precision,
        batch: cfg.batch,
        size: None,
        tta: Some(args.tta),
        layout: cfg.layout,
    };
    let mut run = open_run(&decided, &inference)?;
    // An ensemble's directory records no training options: tune and score on what was trained.
    run.split = SplitOptions {
        annotations: cfg.annotations.clone(),
        categories: cfg.categories.clone(),
    };

    stage("tune-threshold (valid)");
    let tuned = tune(&run, &data, "valid", grid, args.postprocess)?;
    print!("{}", tuned.table());

    let split = if annotation_file(&data.join("test"), &run.split).is_file() {
        "test"
    } else {
        "valid"
    };
    if split != "test" {
        // evaluate itself warns that valid, where the threshold was tuned, gives optimistic scores.
        eprintln!(
            "note: {} has no test split: evaluating on valid",
            data.display()
        );
    }
    stage(&format!("evaluate ({split})"));
    let report = evaluate_run(&run, &data, split, Default::default(), &run.dir)?;

    stage("visualize");
    if args.figures > 0 {
        let random = Choice::Random {
            n: args.figures,
            seed: cfg.seed,
        };
        let worst = Choice::Worst(args.figures.div_ceil(2));
        for choice in [random, worst] {
            let files = figures(&run, &data, split, choice, Default::default(), 256)?;
            println!("{}", files[0].display());
        }
    }
    println!("\n{}", crate::report::summary(&report));
    println!("run directory: {}", run.dir.display());
    println!(
        "pipeline: {:.1} s in all, {:.1} s of them training",
        started.elapsed().as_secs_f64(),
        trained.iter().map(|t| t.seconds).sum::<f64>()
    );
    Ok(())
}

/// The dataset a pipeline resumed without DATASET_ROOT goes on with: the one its config.toml
/// records, unless that is the run's own mirror of it in <run>/data (or is gone, as when the run
/// was moved with its mirror): then the dataset the mirror's links lead to.
fn resumed_root(recorded: &Path, run_dir: &Path) -> Result<PathBuf> {
    let mirror = run_dir.join(MIRROR);
    let is_mirror =
        (recorded.canonicalize().ok()).is_some_and(|r| mirror.canonicalize().ok() == Some(r));
    let root = match recorded.is_dir() && !is_mirror {
        true => Some(recorded.to_path_buf()),
        false => mirror::source(&mirror),
    };
    let Some(root) = root else {
        bail!(
            "{} was trained on {}, and {} holds no link to the dataset it was made from: give \
             DATASET_ROOT",
            run_dir.display(),
            recorded.display(),
            mirror.display()
        );
    };
    eprintln!("note: resuming on {}, the run's dataset", root.display());
    Ok(root)
}

/// `cfg` trained once; or `n` times, as `train::members` says, continuing saved members when
/// `resume`.
fn train_members(cfg: &TrainConfig, n: u32, resume: bool) -> Result<Vec<TrainSummary>> {
    if n == 1 {
        return Ok(vec![finished(crate::train::train(cfg)?, cfg)?]);
    }
    members::plan(cfg, n, resume)?;
    (1..=n)
        .map(|k| {
            let member = members::config(cfg, k, n, resume);
            let how = if member.resume.is_some() {
                "continuing from its saved state"
            } else {
                "from the start"
            };
            println!("member {k} of {n}: seed {}, {how}", member.seed);
            finished(crate::train::train(&member)?, cfg)
        })
        .collect()
}

/// A trained model to decide with; a signal ends the whole pipeline, with how to resume it (checked
/// first: it may have come before the first epoch ended), also when it came once the training was
/// complete: it asked to stop, not to go on with the next member or stage.
fn finished(summary: TrainSummary, cfg: &TrainConfig) -> Result<TrainSummary> {
    if summary.stop_requested {
        let how = format!(
            "`tumorseg pipeline --resume {}` continues the pipeline",
            cfg.run_dir().display()
        );
        return Err(crate::train::interrupt::Interrupted::new(how).into());
    }
    if summary.best_epoch.is_none() {
        bail!(
            "training finished no epoch: nothing to evaluate in {}",
            summary.run_dir.display()
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::interrupt::Interrupted;

    #[test]
    fn a_resume_without_a_root_takes_the_recorded_dataset_or_the_one_the_mirror_links_to() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, run) = (tmp.path().join("d"), tmp.path().join("run"));
        std::fs::create_dir_all(root.join("train")).unwrap();
        std::fs::write(root.join("train/a.jpg"), "a").unwrap();
        // Trained as it was (--no-clean): that dataset.
        assert_eq!(resumed_root(&root, &run).unwrap(), root);
        // On the run's mirror, here or where the run was before it moved: what the mirror links to.
        mirror_dataset(&root, &run.join(MIRROR)).unwrap();
        let real = root.canonicalize().unwrap();
        assert_eq!(resumed_root(&run.join(MIRROR), &run).unwrap(), real);
        let moved = tmp.path().join("old/run").join(MIRROR);
        assert_eq!(resumed_root(&moved, &run).unwrap(), real);
        // Neither: the argument to give.
        let err = resumed_root(&moved, &tmp.path().join("other")).unwrap_err();
        assert!(err.to_string().contains("give DATASET_ROOT"), "{err}");
    }

    #[test]
    fn a_stop_asked_once_training_was_complete_ends_the_pipeline_there() {
        let cfg = TrainConfig {
            out: Some("runs/p".into()),
            ..TrainConfig::default()
        };
        let complete = TrainSummary {
            run_dir: "runs/p".into(),
            epochs: 1,
            best_epoch: Some(1),
            best_valid_dice: Some(0.5),
            stopped_early: false,
            interrupted: false,
            stop_requested: false,
            out_of_time: false,
            seconds: 1.0,
        };
        assert!(finished(complete.clone(), &cfg).is_ok());
        let asked = TrainSummary {
            stop_requested: true,
            ..complete
        };
        let err = finished(asked, &cfg).unwrap_err();
        let stop = err.downcast_ref::<Interrupted>().unwrap();
        assert!(stop.how.contains("--resume runs/p"), "{}", stop.how);
    }
}
