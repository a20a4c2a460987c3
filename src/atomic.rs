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

/// `path` with links and `..` resolved as far as it exists, the rest appended as given, so that a
/// folder yet to be made compares with existing ones.
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = vec![];
    let mut existing = absolute.as_path();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Refuses an output folder `dir` (given as `flag`) that is a file: creating it would fail later
/// with a bare "File exists".
pub fn ensure_folder_or_new(dir: &Path, flag: &str) -> Result<()> {
    ensure!(
        !dir.exists() || dir.is_dir(),
        "{flag} {} is a file, not a folder: give a folder (it is created if needed)",
        dir.display()
    );
    Ok(())
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

/// Refuses, before any work, an output file that could not be written: its folder missing, or not
/// writable (a probe file created and removed beside it tells, whatever the reason). `path` itself
/// is left as it is, so a refusal later on keeps an earlier output.
pub fn ensure_writable(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    ensure!(
        dir.exists(),
        "cannot write {}: the folder {} does not exist",
        path.display(),
        dir.display()
    );
    ensure!(
        !path.is_dir(),
        "cannot write {}: it is a folder",
        path.display()
    );
    let probe = temp_sibling(path);
    std::fs::File::create(&probe).with_context(|| {
        format!(
            "cannot write {}: no file can be created in {}",
            path.display(),
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The folders `create_dir_all(dir)` will make, deepest first, to remove again if none is filled.
pub fn missing_folders(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect()
}

/// The folders and files one run created, so that a run failing half-way removes exactly those and
/// leaves a half-filled output nowhere: a rerun would refuse the folder as not empty. Files are only
/// ever created new, so nothing that was there before is overwritten or removed.
#[derive(Default)]
pub struct Created(std::sync::Mutex<Vec<PathBuf>>);

impl Created {
    /// `create_dir_all(dir)`, the folders it made remembered.
    pub fn folder(&self, dir: &Path) -> Result<()> {
        let missing = missing_folders(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        self.lock().extend(missing.into_iter().rev());
        Ok(())
    }

    /// A new file at `path` (refused when one is there), remembered as soon as it exists.
    pub fn file(&self, path: &Path) -> Result<std::fs::File> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        self.lock().push(path.to_path_buf());
        Ok(file)
    }

    /// `path`, which the caller is about to create, remembered before it exists (so that one cut
    /// short is removed too).
    pub fn remember(&self, path: &Path) {
        self.lock().push(path.to_path_buf());
    }

    /// A new file at `path` holding `bytes`.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.file(path)?
            .write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Removes what was created, newest first; a folder something else was put in stays. Returns
    /// how many files were removed.
    pub fn remove(self) -> usize {
        let paths = self.0.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut files = 0;
        for path in paths.iter().rev() {
            if path.is_dir() {
                let _ = std::fs::remove_dir(path);
            } else {
                files += std::fs::remove_file(path).is_ok() as usize;
            }
        }
        files
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::{ensure_writable, resolved};

    #[test]
    fn a_path_yet_to_be_made_resolves_through_its_existing_links() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("data")).unwrap();
        std::os::unix::fs::symlink(real.join("data"), real.join("link")).unwrap();
        let new = tmp.path().join("link/x/new");
        assert_eq!(resolved(&new), real.join("data/x/new"));
        assert_eq!(resolved(&tmp.path().join("link/.")), real.join("data"));
    }

    #[test]
    fn an_output_file_is_refused_where_it_cannot_be_written_and_left_alone_where_it_can() {
        let tmp = tempfile::tempdir().unwrap();
        let why = |p: &std::path::Path| format!("{:#}", ensure_writable(p).unwrap_err());
        let missing = tmp.path().join("missing/x.json");
        assert!(
            why(&missing).ends_with("missing does not exist"),
            "{}",
            why(&missing)
        );
        assert!(why(tmp.path()).ends_with("it is a folder"));
        let file = tmp.path().join("f");
        std::fs::write(&file, "kept").unwrap();
        assert!(why(&file.join("x.json")).contains("no file can be created in"));
        ensure_writable(&file).unwrap();
        ensure_writable(&tmp.path().join("new.json")).unwrap();
        // Neither the earlier output nor the probe is left changed.
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
