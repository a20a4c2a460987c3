//! Which annotation file a split is read from, and whether a cleaned one still matches the file it
//! was cleaned from.
use anyhow::{bail, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

use super::{CLEANED, ORIGINAL};

/// Where `tumorseg clean` records, in the cleaned file, the file it was cleaned from and its SHA-256.
pub const CLEANED_FROM: &str = "tumorseg_cleaned_from";

#[derive(Clone, Debug, Default)]
pub struct SplitOptions {
    /// Use this annotation file instead of the split's own: a bare file name is read in the split
    /// folder (so one name serves train, valid and test), a path is that one file.
    pub annotations: Option<PathBuf>,
    /// Only annotations of these category ids are foreground (default: every category).
    pub categories: Option<Vec<u64>>,
}

/// The annotation file `load_split` would read for a split directory.
pub fn annotation_file(split_dir: &Path, opts: &SplitOptions) -> PathBuf {
    match &opts.annotations {
        Some(p) if is_file_name(p) => return split_dir.join(p),
        Some(p) => return p.clone(),
        None => {}
    }
    let cleaned = split_dir.join(CLEANED);
    if cleaned.is_file() {
        cleaned
    } else {
        split_dir.join(ORIGINAL)
    }
}

/// `x.json`, not `./x.json` or `dir/x.json`: what `--annotations` reads in each split folder.
pub fn is_file_name(path: &Path) -> bool {
    path.file_name().is_some() && path.parent() == Some(Path::new(""))
}

/// `--annotations` of a command that reads several splits: one name, looked up in each.
pub fn annotations_name(value: &str) -> Result<PathBuf, String> {
    match is_file_name(Path::new(value)) {
        true => Ok(value.into()),
        false => Err(format!(
            "give a file name, read in each split folder (such as _annotations.mine.json), not a \
             path: {value:?} has a folder part"
        )),
    }
}

impl SplitOptions {
    /// Says on stderr what differs from the split's own annotations, all categories.
    pub fn describe(&self, source: &str) {
        if let Some(cats) = &self.categories {
            let ids: Vec<String> = cats.iter().map(u64::to_string).collect();
            eprintln!(
                "note: only category ids {} are tumour ({source})",
                ids.join(",")
            );
        }
        if let Some(file) = &self.annotations {
            eprintln!("note: annotations read from {} ({source})", file.display());
        }
    }
}

/// A `--annotations NAME` missing from the split folder is not looked for anywhere else.
pub(super) fn check_named(path: &Path, opts: &SplitOptions) -> Result<()> {
    if !path.exists() && opts.annotations.as_deref().is_some_and(is_file_name) {
        bail!(
            "{} does not exist: --annotations NAME is read in each split folder (give ./NAME for a \
             file in the current folder, read for a single split)",
            path.display()
        );
    }
    Ok(())
}

/// A cleaned file whose source changed since (annotations corrected, say) would silently win over
/// the corrections: refused, with the way out.
pub(super) fn check_fresh(path: &Path, raw: &serde_json::Value) -> Result<()> {
    let Some(from) = raw.get(CLEANED_FROM) else {
        return Ok(());
    };
    let (Some(name), Some(sha)) = (from["file"].as_str(), from["sha256"].as_str()) else {
        return Ok(());
    };
    let source = path.with_file_name(name);
    // Cleaned elsewhere (`clean --out-dir`), or the source removed: nothing to compare with.
    let Ok(bytes) = std::fs::read(&source) else {
        return Ok(());
    };
    if format!("{:x}", Sha256::digest(&bytes)) != sha {
        bail!(
            "{} was cleaned from an earlier {}, which has changed since: run `tumorseg clean` on \
             the dataset again (or delete {})",
            path.display(),
            source.display(),
            path.display()
        );
    }
    Ok(())
}
