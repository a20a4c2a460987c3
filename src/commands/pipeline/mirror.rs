//! The pipeline's view of the dataset in its run directory (`<run>/data/`): one link per file of the
//! root's splits, so that cleaning writes its files there and the root is never written to.
use crate::dataset::{CLEANED, SPLITS};
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Mirror every split folder of `root` into `dest`, one link per file; an earlier cleaned file is
/// left behind so cleaning always starts from the original annotations. A mirror already there (a
/// resumed pipeline's, or a run replaced with `--overwrite`) is brought up to date with `root`:
/// links to another dataset are replaced and links to files or splits `root` does not have are
/// removed, so that no file of an earlier dataset is trained or scored on. Only links (and the
/// cleaned file of a split `root` does not have) are removed. (A resumed run on other data says
/// so itself, from its provenance.)
pub fn mirror_dataset(root: &Path, dest: &Path) -> Result<()> {
    let present: Vec<&str> = SPLITS
        .into_iter()
        .filter(|s| root.join(s).is_dir())
        .collect();
    if present.is_empty() {
        bail!(
            "{} has none of the split folders {SPLITS:?}",
            root.display()
        );
    }
    for split in SPLITS {
        let dst = dest.join(split);
        if present.contains(&split) {
            mirror_split(&root.join(split), &dst)?;
        } else if dst.is_dir() {
            // A split the dataset no longer has: nothing of it may be scored (its cleaned file
            // is the mirror's own).
            remove_links(&dst, &HashSet::new())?;
            let cleaned = dst.join(CLEANED);
            if cleaned.is_file() {
                std::fs::remove_file(&cleaned)
                    .with_context(|| format!("remove {}", cleaned.display()))?;
            }
            let _ = std::fs::remove_dir(&dst);
        }
    }
    Ok(())
}

/// The dataset root `dest` mirrors: where its links lead (None where it holds none: copies, or no
/// mirror at all).
pub fn source(dest: &Path) -> Option<PathBuf> {
    SPLITS.into_iter().find_map(|split| {
        let entries = std::fs::read_dir(dest.join(split)).ok()?;
        entries.flatten().find_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            Some(target.parent()?.parent()?.to_path_buf())
        })
    })
}

fn mirror_split(src: &Path, dst: &Path) -> Result<()> {
    let src = src
        .canonicalize()
        .with_context(|| format!("resolve {}", src.display()))?;
    std::fs::create_dir_all(dst).with_context(|| format!("create {}", dst.display()))?;
    let mut names = HashSet::new();
    for entry in std::fs::read_dir(&src).with_context(|| format!("read {}", src.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == CLEANED || !entry.file_type()?.is_file() {
            continue;
        }
        mirror_file(&entry.path(), &dst.join(&name))?;
        names.insert(name);
    }
    remove_links(dst, &names)
}

/// Links `target` to `src`, unless it already is (or is `src` itself, or an equal copy).
fn mirror_file(src: &Path, target: &Path) -> Result<()> {
    let Ok(meta) = target.symlink_metadata() else {
        return link_or_copy(src, target);
    };
    if meta.file_type().is_symlink() {
        if std::fs::read_link(target)? == src {
            return Ok(());
        }
        std::fs::remove_file(target).with_context(|| format!("replace {}", target.display()))?;
        return link_or_copy(src, target);
    }
    let same =
        target.canonicalize()? == src || std::fs::read(target).ok() == Some(std::fs::read(src)?);
    if !same {
        bail!(
            "{} is a file of its own, not {}: the mirror in {} holds another dataset's files; give \
             another --out",
            target.display(),
            src.display(),
            target.parent().map_or(target, |p| p).display()
        );
    }
    Ok(())
}

/// Removes the links in `dir` whose names are not in `keep` (files an earlier dataset had).
fn remove_links(dir: &Path, keep: &HashSet<OsString>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_symlink() && !keep.contains(&entry.file_name()) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    #[cfg(unix)]
    if std::os::unix::fs::symlink(src, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dst)
        .with_context(|| format!("copy {} to {}", src.display(), dst.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::ORIGINAL;

    fn split(root: &Path, name: &str, files: &[&str]) {
        std::fs::create_dir_all(root.join(name)).unwrap();
        for f in files {
            std::fs::write(root.join(name).join(f), format!("{} {f}", root.display())).unwrap();
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_mirror_follows_the_dataset_it_is_made_from_now() {
        let tmp = tempfile::tempdir().unwrap();
        let (old, new, dest) = (
            tmp.path().join("old"),
            tmp.path().join("new"),
            tmp.path().join("m"),
        );
        for s in SPLITS {
            split(&old, s, &[ORIGINAL, "a.jpg"]);
        }
        split(&new, "train", &[ORIGINAL, "b.jpg"]);
        split(&new, "valid", &[ORIGINAL, "a.jpg"]);
        mirror_dataset(&old, &dest).unwrap();
        std::fs::write(dest.join("test").join(CLEANED), "cleaned from old").unwrap();
        std::fs::write(dest.join("train").join(CLEANED), "cleaned from old").unwrap();
        mirror_dataset(&new, &dest).unwrap();
        assert_eq!(source(&dest), Some(new.canonicalize().unwrap()));
        assert_eq!(source(&new), None, "no links: no mirror");
        assert_eq!(listing(&dest.join("train")), [CLEANED, ORIGINAL, "b.jpg"]);
        let read = |p: &str| std::fs::read_to_string(dest.join(p)).unwrap();
        assert!(read(&format!("train/{ORIGINAL}")).starts_with(&new.display().to_string()));
        assert!(read("valid/a.jpg").starts_with(&new.display().to_string()));
        assert!(
            !dest.join("test").exists(),
            "a split the dataset no longer has"
        );
        // Again from the same dataset: nothing changes; a file of the mirror's own is refused.
        mirror_dataset(&new, &dest).unwrap();
        assert_eq!(listing(&dest.join("valid")), [ORIGINAL, "a.jpg"]);
        std::fs::remove_file(dest.join("valid/a.jpg")).unwrap();
        std::fs::write(dest.join("valid/a.jpg"), "someone's own").unwrap();
        let err = mirror_dataset(&new, &dest).unwrap_err().to_string();
        assert!(err.contains("holds another dataset's files"), "{err}");
        assert_eq!(read("valid/a.jpg"), "someone's own");
    }
}
