//! Several models of one recipe, to be averaged as an ensemble (`pipeline --members N`): member k is
//! trained in `<run>/member-k` with seed `seed + k − 1` and an equal share of the time limit.
//!
//! Every member's config.toml is written before the first one trains, so a run interrupted at any
//! point says how many members it was to have; resumed, each member with a saved state continues
//! from it (one that had finished stays finished) and the others start from scratch.
use super::TrainConfig;
use crate::checkpoint;
use anyhow::{bail, ensure, Result};
use std::path::{Path, PathBuf};

/// Member `k`'s run directory (k from 1).
pub fn dir(run: &Path, k: u32) -> PathBuf {
    run.join(format!("member-{k}"))
}

/// How many members `run` holds: member-1, member-2 … each with its config.toml, up to the first gap.
pub fn count(run: &Path) -> u32 {
    (1..)
        .take_while(|&k| dir(run, k).join(checkpoint::CONFIG).is_file())
        .count() as u32
}

/// True when `run` is a pipeline of members rather than a single training run: its ensemble, or its
/// members before the ensemble was made, and no model trained in `run` itself (`train` into a
/// pipeline's directory removes its ensemble.json, and the single run it leaves is what counts).
pub fn is_pipeline(run: &Path) -> bool {
    count(run) > 0
        && (run.join(crate::ensemble::FILE).is_file() || !run.join(checkpoint::CONFIG).is_file())
}

/// Member `k` of `n` of the recipe `cfg` (whose time limit is the whole run's), continuing from the
/// member's saved state when `resume` and it has one; resumed without one (killed before it saved
/// any), it starts again over whatever it left.
pub fn config(cfg: &TrainConfig, k: u32, n: u32, resume: bool) -> TrainConfig {
    let dir = dir(&cfg.run_dir(), k);
    let saved = resume && dir.join(checkpoint::STATE).is_file();
    TrainConfig {
        seed: cfg.seed + u64::from(k - 1),
        time_limit: cfg.time_limit.map(|t| t / f64::from(n)),
        overwrite: cfg.overwrite || resume,
        resume: saved.then(|| dir.clone()),
        out: Some(dir),
        ..cfg.clone()
    }
}

/// Writes every member's config.toml, before any trains (see the module's comment); with
/// `--overwrite`, first removes what a single run or an earlier ensemble left in the directory.
pub fn plan(cfg: &TrainConfig, n: u32, resume: bool) -> Result<()> {
    let run = cfg.run_dir();
    if cfg.overwrite && !resume {
        checkpoint::clear_for_new_run(&run, true)?;
        let config = run.join(checkpoint::CONFIG);
        if config.is_file() {
            std::fs::remove_file(&config)?;
        }
    }
    for k in 1..=n {
        let member = config(cfg, k, n, resume);
        let dir = member.run_dir();
        if member.resume.is_some() {
            continue;
        }
        std::fs::create_dir_all(&dir)?;
        let toml = member.with_absolute_paths()?.to_toml()?;
        checkpoint::write_atomic(&dir.join(checkpoint::CONFIG), toml.as_bytes())?;
    }
    Ok(())
}

/// The recipe of the pipeline of members in `run`: member 1's config (the first seed), with `n`
/// times its share of the time limit, so that every member, old or added, keeps that share.
pub fn recipe(run: &Path, n: u32) -> Result<TrainConfig> {
    let first = checkpoint::load_config(&dir(run, 1))?;
    Ok(TrainConfig {
        out: Some(run.to_path_buf()),
        time_limit: first.time_limit.map(|t| t * f64::from(n)),
        resume: None,
        ..first
    })
}

/// Refuses to start `n` members in `run` where that would leave other models beside them (a single
/// training run's files, or more members than `n` from an earlier pipeline), or replace the trained
/// members of an earlier pipeline unless `overwrite`.
pub fn check_new(run: &Path, n: u32, overwrite: bool) -> Result<()> {
    for file in [checkpoint::CONFIG, checkpoint::BEST] {
        if run.join(file).is_file() && !overwrite {
            bail!(
                "{} holds a training run ({file}): its files would stay beside the {n} members and \
                 their ensemble; give another --out, or --overwrite to replace it",
                run.display()
            );
        }
    }
    let found = count(run);
    ensure!(
        found <= n,
        "{} holds {found} members of an earlier pipeline: --members {n} would leave {} beside the \
         new ensemble; give --members {found}, another --out, or remove them",
        run.display(),
        named(n + 1, found)
    );
    (1..=n).try_for_each(|k| checkpoint::check_new_run(&dir(run, k), overwrite))
}

/// A single run trained into a pipeline's directory (`--overwrite`) is what inference opens there,
/// but the earlier members stay (they are whole runs, and large): said, so that they are not
/// forgotten.
pub fn note_left_beside(run: &Path) {
    let n = count(run);
    if n > 0 {
        eprintln!(
            "note: {} of an earlier pipeline stay{} in {} ({}): this run's model is what is used \
             there; remove them if they are not needed",
            crate::report::count(n as usize, "member"),
            if n == 1 { "s" } else { "" },
            run.display(),
            named(1, n)
        );
    }
}

/// How many members a resumed pipeline of `run` trains: `asked`, else as many as it holds; fewer
/// than it holds is refused.
pub fn resumed_count(run: &Path, asked: Option<u32>) -> Result<u32> {
    let found = count(run);
    let n = asked.unwrap_or(found);
    ensure!(
        n >= found,
        "{} holds {found} members: --members {n} would leave {} out of the ensemble",
        run.display(),
        named(n + 1, found)
    );
    Ok(n)
}

/// Members `first` to `last` (from 1) as messages name them, every one of them: `member-2`,
/// `member-2 and member-3`, `member-2 … member-5`.
fn named(first: u32, last: u32) -> String {
    match last - first {
        0 => format!("member-{first}"),
        1 => format!("member-{first} and member-{last}"),
        _ => format!("member-{first} … member-{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_share_the_time_limit_and_take_consecutive_seeds() {
        let d = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            out: Some(d.path().to_path_buf()),
            seed: 7,
            time_limit: Some(90.0),
            ..TrainConfig::default()
        };
        plan(&cfg, 3, false).unwrap();
        assert_eq!(count(d.path()), 3);
        assert!(is_pipeline(d.path()));
        let third = checkpoint::load_config(&dir(d.path(), 3)).unwrap();
        assert_eq!((third.seed, third.time_limit), (9, Some(30.0)));
        assert_eq!(third.out, Some(dir(d.path(), 3)));
        // Read back, the recipe is the first seed and the whole limit; with a member added, each
        // keeps its 30 s.
        let again = recipe(d.path(), 4).unwrap();
        assert_eq!((again.seed, again.time_limit), (7, Some(120.0)));
        assert_eq!(config(&again, 4, 4, true).time_limit, Some(30.0));
        assert_eq!(resumed_count(d.path(), None).unwrap(), 3);
        assert!(resumed_count(d.path(), Some(2)).is_err());
        // Only a member with a saved state continues.
        std::fs::write(dir(d.path(), 2).join(checkpoint::STATE), "{}").unwrap();
        let resumed: Vec<bool> = (1..=3)
            .map(|k| config(&again, k, 3, true).resume.is_some())
            .collect();
        assert_eq!(resumed, [false, true, false]);
        assert!(config(&again, 2, 3, false).resume.is_none());
    }

    #[test]
    fn new_members_are_refused_beside_other_models() {
        let d = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            out: Some(d.path().to_path_buf()),
            ..TrainConfig::default()
        };
        plan(&cfg, 3, false).unwrap();
        assert!(check_new(d.path(), 3, false).is_ok());
        let err = check_new(d.path(), 2, false).unwrap_err().to_string();
        assert!(err.contains("would leave member-3 beside"), "{err}");
        // Every member left over is named, not only the first.
        let err = check_new(d.path(), 1, false).unwrap_err().to_string();
        assert!(
            err.contains("--members 1 would leave member-2 and member-3 beside"),
            "{err}"
        );
        let err = resumed_count(d.path(), Some(1)).unwrap_err().to_string();
        assert!(
            err.contains("--members 1 would leave member-2 and member-3 out"),
            "{err}"
        );
        plan(&cfg, 5, false).unwrap();
        let err = check_new(d.path(), 2, false).unwrap_err().to_string();
        assert!(err.contains("leave member-3 … member-5 beside"), "{err}");
        std::fs::write(d.path().join(checkpoint::CONFIG), "").unwrap();
        assert!(
            !is_pipeline(d.path()),
            "a run trained there since is a single run"
        );
        let err = check_new(d.path(), 3, false).unwrap_err().to_string();
        assert!(err.contains("holds a training run"), "{err}");
    }
}
