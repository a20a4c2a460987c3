//! `predict`'s output folder: new, or (with --overwrite) one where an earlier predict wrote, whose
//! outputs are replaced, so masks of two runs never mix. Only what that predict listed in its
//! provenance.json is ever removed; and the list of the inputs that could not be read.
use crate::provenance;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
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
/// `out` that holds anything, unless `overwrite`; and then one that an earlier predict did not write,
/// or where its folders hold a file it did not write: nothing of the user's is ever removed. Files
/// of other names beside an earlier predict's outputs are left alone.
pub fn earlier(out: &Path, overwrite: bool) -> Result<Vec<&'static str>> {
    crate::atomic::ensure_folder_or_new(out, "--out")?;
    if !overwrite {
        crate::atomic::ensure_new_dir(out)
            .map_err(|e| anyhow::anyhow!("{e}, or --overwrite to replace the predictions there"))?;
        return Ok(Vec::new());
    }
    let files = listing(out)?;
    let Some(first) = files.first() else {
        return Ok(Vec::new());
    };
    let Some(written) = recorded(out) else {
        bail!(
            "--overwrite: {} holds {first} but is not an earlier predict's output (no {} listing \
             what predict wrote there): nothing removed; give a new or empty folder",
            out.display(),
            provenance::FILE
        );
    };
    let replaced = |path: &&String| {
        let top = path.split('/').next().unwrap_or_default();
        OUTPUTS.contains(&top) && top != provenance::FILE
    };
    if let Some(other) = files
        .iter()
        .filter(replaced)
        .find(|p| !written.contains(*p))
    {
        bail!(
            "--overwrite: {} was not written by the predict whose outputs are in {} (its {} does \
             not list it): nothing removed; move it away, or give a new folder",
            out.join(other).display(),
            out.display(),
            provenance::FILE
        );
    }
    Ok((OUTPUTS.into_iter())
        .filter(|name| out.join(name).symlink_metadata().is_ok())
        .collect())
}

/// The outputs the predict that wrote `out` listed, when one did.
fn recorded(out: &Path) -> Option<BTreeSet<String>> {
    let sessions = provenance::sessions(out).ok()?;
    let outputs = sessions.last()?.outputs.as_ref()?;
    Some(outputs.iter().cloned().collect())
}

/// The files under `path`, as paths relative to it with `/` between names, sorted (a file, or a
/// link, is itself: ""); a folder's folders are gone through, links are not followed.
pub fn listing(path: &Path) -> Result<Vec<String>> {
    let is_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
    if !is_dir {
        return Ok(if path.symlink_metadata().is_ok() {
            vec![String::new()]
        } else {
            Vec::new()
        });
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("read {}", path.display()))? {
        let entry = entry.with_context(|| format!("read {}", path.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let under = listing(&entry.path())?.into_iter();
        found.extend(under.map(|p| {
            if p.is_empty() {
                name.clone()
            } else {
                format!("{name}/{p}")
            }
        }));
    }
    found.sort();
    Ok(found)
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
