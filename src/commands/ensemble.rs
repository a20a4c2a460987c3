//! `tumorseg ensemble RUN… --out DIR`: several trained runs as one model, their probabilities averaged.
use anyhow::Result;
use std::path::PathBuf;

/// Make an ensemble of trained runs: a directory that tune-threshold, evaluate, visualize, predict
/// and export open as they open a run, and whose probability is the mean of the members'.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example: three seeds as one model, tuned, scored and compared with one of them\n  \
                  for s in 1 2 3; do tumorseg train data --out runs/s$s --seed $s; done\n  \
                  tumorseg ensemble runs/s1 runs/s2 runs/s3 --out runs/ens\n  \
                  tumorseg tune-threshold runs/ens data\n  \
                  tumorseg evaluate runs/s1 data --split test\n  \
                  tumorseg evaluate runs/ens data --split test\n  \
                  tumorseg compare runs/s1 runs/ens"
)]
pub struct Args {
    /// Two or more run directories written by `tumorseg train` (each gives its best checkpoint), all
    /// trained at one size. An ensemble given here gives each of its members.
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
    /// The ensemble's directory, new or empty: ensemble.json (the members, their sources, SHA-256
    /// and best valid Dice), members/ (their checkpoints, hard-linked when the file system allows,
    /// else copied, so the runs may later change or go) and provenance.json. It has no threshold of
    /// its own: tune it on valid, as for a run (untuned, inference commands use 0.5).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let ensemble = crate::ensemble::create(&args.runs, &args.out)?;
    println!(
        "{}: an ensemble of {} models trained at {}², their probabilities averaged",
        args.out.display(),
        ensemble.members.len(),
        ensemble.size
    );
    for m in &ensemble.members {
        let dice = m.best_valid_dice.map_or("no metrics.jsonl".into(), |d| {
            format!("best valid Dice {d:.4}")
        });
        println!("  {} ({}, {dice})", m.checkpoint, m.source);
    }
    println!(
        "next: tumorseg tune-threshold {} DATASET (then evaluate, compare with a member)",
        args.out.display()
    );
    Ok(())
}
