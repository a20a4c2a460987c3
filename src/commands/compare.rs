//! `tumorseg compare A B`: two evaluations of one split, image by image, with the paired-bootstrap
//! interval of their difference.
use crate::compare::{
    compare, compare_as, markdown, per_image_file, per_volume_file, read_per_image, read_rows,
    truth_digest, truth_warning, unit_warning, Comparison,
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
    /// scored are left out (and counted). When both evaluations scored a split of volume slices
    /// (a per_volume.csv beside each per_image.csv), their volumes are compared too, matched by
    /// name: the volumes are the independent cases, so their intervals are the ones to trust.
    pub b: PathBuf,
    /// Also write the comparison (means, globals, intervals, per-image counts) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    // Refused before the table is printed: a failure after it would look like a result.
    if let Some(path) = &args.json {
        crate::atomic::ensure_writable(path).context("--json")?;
    }
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
    let mut c = compare(&a, &b)?;
    c.per_volume = per_volume(&args)?.map(Box::new);
    let volume_units = c.per_volume.as_deref().and_then(unit_warning);
    for w in [truth_warning(&c), unit_warning(&c), volume_units]
        .into_iter()
        .flatten()
    {
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

/// A's and B's volumes compared, when both scored volumes; a note when only one did.
fn per_volume(args: &Args) -> Result<Option<Comparison>> {
    let (a, b) = (per_volume_file(&args.a), per_volume_file(&args.b));
    match (a.is_file(), b.is_file()) {
        (true, true) => Ok(Some(compare_as(
            &read_rows(&a)?,
            &read_rows(&b)?,
            "volume",
        )?)),
        (false, false) => Ok(None),
        (has_a, _) => {
            eprintln!(
                "note: only {} has a per_volume.csv (the other scored no volumes, or by a tumorseg \
                 from before them): volumes are not compared",
                if has_a { "A" } else { "B" }
            );
            Ok(None)
        }
    }
}
