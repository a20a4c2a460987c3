//! `predict`'s output folder: new, or (with --overwrite) one where an earlier predict wrote, whose
//! outputs are replaced, so masks of two runs never mix; and the list of the inputs that could not
//! be read.
use crate::provenance;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Everything predict writes into `--out`.
pub const OUTPUTS: [&str; 10] = [
    "masks",
    "overlays",
    "seg",
    "nifti",
    "predictions.csv",
    "results.json",
    "images.json",
    "volumes.csv",
    "skipped.txt",
    provenance::FILE,
];

/// The earlier outputs in `out` that the new ones replace (their names, of [`OUTPUTS`]). Refuses an
/// `out` that holds anything, unless `overwrite`: earlier masks never mix with new ones.
pub fn earlier(out: &Path, overwrite: bool) -> Result<Vec<&'static str>> {
    crate::atomic::ensure_folder_or_new(out, "--out")?;
    if !overwrite {
        crate::atomic::ensure_new_dir(out)
            .map_err(|e| anyhow::anyhow!("{e}, or --overwrite to replace the predictions there"))?;
    }
    Ok((OUTPUTS.into_iter())
        .filter(|name| out.join(name).symlink_metadata().is_ok())
        .collect())
}

/// Unreadable inputs go to `skipped.txt` (path, tab, reason) in `dir`.
pub fn write_skipped(dir: &Path, skipped: &[String]) -> Result<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    let path = dir.join("skipped.txt");
    std::fs::write(&path, skipped.join("\n") + "\n")
        .with_context(|| format!("write {}", path.display()))
}

/// Unreadable inputs make the command fail once the others' outputs are in `out`, so that scripts
/// notice.
pub fn report_skipped(out: &Path, skipped: &[String], total: usize) -> Result<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    bail!(
        "{} of {total} images could not be read and were skipped (listed in {}); the others' outputs are written",
        skipped.len(),
        out.join("skipped.txt").display()
    )
}

/// Every input failed (each said why as it was skipped): nothing is written, and an earlier
/// prediction in `out` stays as it was.
pub fn none_read(out: &Path, total: usize) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: nothing was written to {}",
        match total {
            1 => "the image could not be read".to_string(),
            n => format!("none of the {n} images could be read"),
        },
        out.display()
    )
}
