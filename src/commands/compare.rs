//! `tumorseg compare A B`: two evaluations of one split, image by image, with the paired-bootstrap
//! interval of their difference.
use crate::compare::{
    compare, markdown, per_image_file, read_per_image, truth_digest, truth_warning, unit_warning,
};
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example: did a new run beat the notebook's masks on test?\n  \
                  tumorseg evaluate --pred-masks notebook_masks/ data --split test --out eval-notebook\n  \
                  tumorseg evaluate runs/new data --split test\n  \
                  tumorseg compare eval-notebook runs/new"
)]
pub struct Args {
    /// A, the baseline: a folder holding the per_image.csv that `tumorseg evaluate` wrote (a run
    /// directory, an --out folder), or that file.
    pub a: PathBuf,
    /// B, compared with A: the same forms. Images are matched by file stem; those only one side
    /// scored are left out (and counted).
    pub b: PathBuf,
    /// Also write the comparison (means, globals, intervals, per-image counts) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let (a, b) = (read_per_image(&args.a)?, read_per_image(&args.b)?);
    // Same stems scored against different ground truths would compare nothing meaningful.
    if let (Some(ta), Some(tb)) = (truth_digest(&args.a), truth_digest(&args.b)) {
        if ta != tb {
            eprintln!(
                "warning: A and B were scored against different annotation files (report.json \
                 provenance: sha256 {}… and {}…)",
                &ta[..12],
                &tb[..12]
            );
        }
    }
    let c = compare(&a, &b)?;
    for w in [truth_warning(&c), unit_warning(&c)].into_iter().flatten() {
        eprintln!("{w}");
    }
    let name = |p: &PathBuf| per_image_file(p).display().to_string();
    print!("{}", markdown(&c, &name(&args.a), &name(&args.b)));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&c)? + "\n")
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}
