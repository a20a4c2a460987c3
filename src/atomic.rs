//! Atomic file replacement, shared by everything that writes results users rely on (cleaned COCO files,
//! reports, checkpoints): a reader never sees a half-written file, and an interrupted run leaves the
//! previous version intact. Commands that fill a whole new directory refuse one already in use.
use anyhow::{ensure, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A hidden temp name beside `path` (same directory, so the rename never crosses file systems).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` through a sibling temp file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path);
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.sync_all().ok();
    drop(f);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

/// Refuses `dir` when it exists and holds anything: a command filling a new directory would otherwise
/// overwrite, or mix its files with, another run's.
pub fn ensure_new_dir(dir: &Path) -> Result<()> {
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    ensure!(
        !occupied,
        "{} exists and is not empty: give a new directory",
        dir.display()
    );
    Ok(())
}
