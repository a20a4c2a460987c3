//! The data an ensemble's members were trained on, as their runs recorded it. Members trained on
//! different datasets are said: one member's training images may be among the images the ensemble
//! is tuned or scored on, which would flatter its scores.
use super::Candidate;
use crate::{checkpoint, provenance};
use std::path::Path;

/// What a run was trained on: its dataset root (config.toml), and the SHA-256 of each split its last
/// session read (provenance.json; none for a run that recorded none).
#[derive(Debug)]
struct Data {
    root: String,
    /// (role, SHA-256): `train images`, `valid annotations`…
    digests: Vec<(String, String)>,
}

impl Data {
    /// The data of the run in `dir`, when it is one that still lives there.
    fn of(dir: &Path) -> Option<Data> {
        let config = checkpoint::load_config(dir).ok()?;
        let last = provenance::sessions(dir).ok()?.pop();
        let digests = (last.map_or(vec![], |p| p.inputs).into_iter())
            .filter(|d| d.role.starts_with("train ") || d.role.starts_with("valid "))
            .map(|d| (d.role, d.sha256))
            .collect();
        Some(Data {
            root: config.dataset.display().to_string(),
            digests,
        })
    }

    /// By content where both runs recorded it (a pipeline trains on its own copy of the dataset),
    /// else by where the dataset was.
    fn same(&self, other: &Data) -> bool {
        match self.digests.is_empty() || other.digests.is_empty() {
            false => self.digests == other.digests,
            true => self.root == other.root,
        }
    }

    /// As the warning shows it: the root, and each split's digest (12 digits) when recorded.
    fn describe(&self) -> String {
        let digests: Vec<String> = (self.digests.iter())
            .map(|(role, sha)| format!("{role} {}", &sha[..sha.len().min(12)]))
            .collect();
        match digests.is_empty() {
            true => self.root.clone(),
            false => format!("{} ({})", self.root, digests.join(", ")),
        }
    }
}

/// The warning to give when the members whose runs tell their data were not all trained on the same:
/// each dataset, and the members trained on it.
fn mixed(candidates: &[Candidate]) -> Option<String> {
    let mut groups: Vec<(Data, Vec<&str>)> = Vec::new();
    for c in candidates {
        let Some(data) = Data::of(Path::new(&c.source)) else {
            continue;
        };
        match groups.iter_mut().find(|(d, _)| d.same(&data)) {
            Some((_, members)) => members.push(&c.source),
            None => groups.push((data, vec![&c.source])),
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let lines: Vec<String> = (groups.iter())
        .map(|(data, members)| format!("  {}: {}", members.join(", "), data.describe()))
        .collect();
    Some(format!(
        "warning: the members were trained on different data, so that one's training images may be \
         among those the ensemble is tuned or scored on:\n{}",
        lines.join("\n")
    ))
}

/// Says so on stderr when the members were trained on different data (see [`mixed`]).
pub(super) fn warn_if_mixed(candidates: &[Candidate]) {
    if let Some(warning) = mixed(candidates) {
        eprintln!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::{Digest, Provenance};
    use crate::train::TrainConfig;

    /// A run in `dir` trained on `root`, whose provenance records `train images` as `sha`.
    fn run(dir: &Path, root: &str, sha: Option<&str>) -> Candidate {
        std::fs::create_dir_all(dir).unwrap();
        let cfg = TrainConfig {
            dataset: root.into(),
            ..TrainConfig::default()
        };
        std::fs::write(dir.join(checkpoint::CONFIG), cfg.to_toml().unwrap()).unwrap();
        let digest = |sha: &str| Digest {
            role: "train images".into(),
            path: format!("{root}/train"),
            files: 2,
            bytes: 2,
            sha256: sha.into(),
        };
        if let Some(sha) = sha {
            let record = Provenance::now(tch::Device::Cpu, vec![digest(sha)]);
            provenance::record(dir, record, false).unwrap();
        }
        Candidate {
            checkpoint: dir.join(checkpoint::BEST),
            source: dir.display().to_string(),
            size: 64,
            best_valid_dice: None,
            digest: digest("model"),
        }
    }

    #[test]
    fn members_of_other_data_are_named_with_it_by_content_when_recorded() {
        let d = tempfile::tempdir().unwrap();
        let at = |name: &str| d.path().join(name);
        let (a, b) = (
            run(&at("a"), "/data/x", None),
            run(&at("b"), "/data/x", None),
        );
        assert_eq!(mixed(&[a, b]), None, "one root, no digests: the same data");
        let a = run(&at("a"), "/data/x", Some("1111111111112222"));
        let b = run(&at("b"), "/copy/of/x", Some("1111111111112222"));
        let c = run(&at("c"), "/data/x", Some("3333333333334444"));
        assert_eq!(
            mixed(&[a, b]),
            None,
            "the same content, wherever it lay, is the same data"
        );
        let a = run(&at("a"), "/data/x", Some("1111111111112222"));
        let e = run(&at("e"), "/data/y", None);
        let warning = mixed(&[a, c, e]).unwrap();
        let (a, c, e) = (at("a"), at("c"), at("e"));
        assert!(
            warning.contains(&format!(
                "  {}: /data/x (train images 111111111111)",
                a.display()
            )) && warning.contains(&format!(
                "  {}: /data/x (train images 333333333333)",
                c.display()
            )) && warning.contains(&format!("  {}: /data/y", e.display())),
            "{warning}"
        );
    }
}
