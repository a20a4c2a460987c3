//! `predict`'s output folder: new, or emptied of an earlier predict's outputs before the first is
//! written, so masks of two runs never mix; and the list of the inputs that could not be read.
use crate::provenance;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Everything predict writes into `--out`.
const OUTPUTS: [&str; 10] = [
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

/// Refuses an `out` that holds anything, unless `overwrite`: earlier masks never mix with new ones.
pub(super) fn check(out: &Path, overwrite: bool) -> Result<()> {
    crate::atomic::ensure_folder_or_new(out, "--out")?;
    if overwrite {
        return Ok(());
    }
    crate::atomic::ensure_new_dir(out)
        .map_err(|e| anyhow::anyhow!("{e}, or --overwrite to replace the predictions there"))
}

/// Readies `out` for the first outputs: cleared of an earlier predict's (files of the user's
/// stay), with the folders the masks, overlays and (with `seg`) DICOM SEGs go to. Called once the
/// first image has been read, so a run that reads none replaces nothing.
pub(super) fn prepare(out: &Path, seg: bool) -> Result<()> {
    for name in OUTPUTS {
        let path = out.join(name);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.is_file() {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        removed.with_context(|| format!("remove {}", path.display()))?;
    }
    let folders = ["masks", "overlays"]
        .into_iter()
        .chain(seg.then_some("seg"));
    for sub in folders {
        let d = out.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("create {}", d.display()))?;
    }
    Ok(())
}

/// Unreadable inputs go to `skipped.txt` (path, tab, reason) and make the command fail after the others
/// were written, so that scripts notice.
pub(super) fn report_skipped(out: &Path, skipped: &[String], total: usize) -> Result<()> {
    let path = out.join("skipped.txt");
    if skipped.is_empty() {
        return Ok(());
    }
    std::fs::write(&path, skipped.join("\n") + "\n")
        .with_context(|| format!("write {}", path.display()))?;
    bail!(
        "{} of {total} images could not be read and were skipped (listed in {}); the others' outputs are written",
        skipped.len(),
        path.display()
    )
}

/// Every input failed (each said why as it was skipped): nothing is written, and an earlier
/// prediction in `out` stays as it was.
pub(super) fn none_read(out: &Path, total: usize) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: nothing was written to {}",
        match total {
            1 => "the image could not be read".to_string(),
            n => format!("none of the {n} images could be read"),
        },
        out.display()
    )
}
