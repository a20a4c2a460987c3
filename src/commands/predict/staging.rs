//! All or nothing: `predict` writes into a hidden folder beside `--out` (on the same file system, so
//! that its outputs move by rename) and replaces the earlier outputs with it only once every output
//! is there. A failed, or interrupted, predict leaves the earlier outputs as they were and removes
//! its folder: before, a SIGTERM mid-way left the masks of a third of the images and no tables,
//! the earlier complete predictions gone.
use crate::train::interrupt::{self, Handling, Interrupted};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Ctrl-C, SIGTERM and a closed terminal stop predict between two batches.
pub static PREDICTING: Handling = Handling {
    signals: interrupt::STOP_SIGNALS,
    first: "stopping; the earlier outputs stay as they were",
    second: "exiting at once; the earlier outputs stay as they were, a hidden \
             .<out>.<pid>.tmp folder of partial ones may stay beside them",
};

/// In the staging folder, the earlier outputs moved out of the way while the new ones move in.
const EARLIER: &str = ".earlier";

/// The folder the outputs are written to before they replace those in `out`; removed when dropped.
pub struct Staging {
    out: PathBuf,
    dir: PathBuf,
    /// Whether `out` holds outputs of an earlier predict, for the message of an interruption.
    replaces: bool,
    /// Left in place when dropped: a failed commit could not put the earlier outputs back.
    keep: bool,
}

impl Staging {
    /// A new staging folder for `out`, whose earlier outputs are `earlier` (none: `out` is new or
    /// empty).
    pub fn new(out: &Path, earlier: &[&str]) -> Result<Staging> {
        let real = crate::atomic::resolved(out);
        let parent = (real.parent())
            .with_context(|| format!("--out {} has no parent folder", out.display()))?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let dir = crate::atomic::temp_sibling(&real);
        std::fs::create_dir(&dir)
            .with_context(|| format!("cannot create {} to write the outputs in", dir.display()))?;
        Ok(Staging {
            out: out.to_path_buf(),
            dir,
            replaces: !earlier.is_empty(),
            keep: false,
        })
    }

    /// Where the outputs are written until [`Staging::commit`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `path`, of the staging folder, where it will be once committed (as messages and tables name
    /// it).
    pub fn shown(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.dir) {
            Ok(rest) => self.out.join(rest),
            Err(_) => path.to_path_buf(),
        }
    }

    /// Stops the command, keeping the earlier outputs, when a signal asked it to.
    pub fn stop_if_asked(&self) -> Result<()> {
        if !interrupt::requested() {
            return Ok(());
        }
        let how = match self.replaces {
            true => format!(
                "the earlier outputs in {} are unchanged",
                self.out.display()
            ),
            false => format!("nothing was written to {}", self.out.display()),
        };
        Err(Interrupted::new(how).into())
    }

    /// Replaces `earlier` (names in `out`) with the outputs written: the earlier ones are moved
    /// aside, the new ones in, and the earlier ones then removed; a move that fails puts back what
    /// was moved, so that `out` holds either its earlier outputs or the new ones.
    pub fn commit(mut self, earlier: &[&str]) -> Result<()> {
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create {}", self.out.display()))?;
        let new = names(&self.dir)?;
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let aside = self.dir.join(EARLIER);
        std::fs::create_dir(&aside).with_context(|| format!("create {}", aside.display()))?;
        let (mut moved_aside, mut moved_in) = (Vec::new(), Vec::new());
        let moved = move_each(earlier, &self.out, &aside, &mut moved_aside)
            .and_then(|()| move_each(&new, &self.dir, &self.out, &mut moved_in));
        let Err(e) = moved else {
            return Ok(());
        };
        put_back(&moved_in, &self.out, &self.dir);
        if !put_back(&moved_aside, &aside, &self.out) {
            // Never removed with the staging folder: they may be all that is left of them.
            self.keep = true;
            return Err(e.context(format!(
                "the earlier outputs could not all be put back: they are in {}",
                aside.display()
            )));
        }
        Err(e)
    }
}

/// Moves each of `names` from folder `from` to folder `to`, noting in `moved` those that went.
fn move_each<'n>(
    names: &[&'n str],
    from: &Path,
    to: &Path,
    moved: &mut Vec<&'n str>,
) -> Result<()> {
    for &name in names {
        let (a, b) = (from.join(name), to.join(name));
        std::fs::rename(&a, &b)
            .with_context(|| format!("cannot move {} to {}", a.display(), b.display()))?;
        moved.push(name);
    }
    Ok(())
}

/// Moves `names` back from `from` to `to`, the last moved first, each that can be; whether all
/// could.
fn put_back(names: &[&str], from: &Path, to: &Path) -> bool {
    // Every one is tried, whatever became of the others.
    let failed = (names.iter().rev())
        .filter(|name| std::fs::rename(from.join(name), to.join(name)).is_err())
        .count();
    failed == 0
}

/// The names in `dir`.
fn names(dir: &Path) -> Result<Vec<String>> {
    let read = |e: std::io::Result<std::fs::DirEntry>| e.map(|e| e.file_name());
    let names: std::io::Result<Vec<_>> = std::fs::read_dir(dir).and_then(|d| d.map(read).collect());
    let names = names.with_context(|| format!("read {}", dir.display()))?;
    Ok(names
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect())
}

impl Drop for Staging {
    /// The new outputs of a predict that failed, or the earlier ones it replaced.
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("warning: cannot remove {}: {e}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
    }

    #[test]
    fn a_commit_that_fails_half_way_puts_the_earlier_outputs_back() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        write(&out.join("masks/earlier.png"));
        // In the way of the new results.json (not one of the earlier outputs handed over).
        write(&out.join("results.json/other"));
        let staging = Staging::new(&out, &["masks"]).unwrap();
        write(&staging.dir().join("masks/new.png"));
        write(&staging.dir().join("results.json"));
        let dir = staging.dir().to_path_buf();
        assert!(staging.commit(&["masks"]).is_err());
        let masks: Vec<_> = std::fs::read_dir(out.join("masks"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(masks, ["earlier.png"]);
        assert!(out.join("results.json/other").is_file());
        assert!(!dir.exists());
        // Out of the way, the new outputs replace the earlier ones.
        std::fs::remove_dir_all(out.join("results.json")).unwrap();
        let staging = Staging::new(&out, &["masks"]).unwrap();
        write(&staging.dir().join("masks/new.png"));
        staging.commit(&["masks"]).unwrap();
        assert!(out.join("masks/new.png").is_file() && !out.join("masks/earlier.png").exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
