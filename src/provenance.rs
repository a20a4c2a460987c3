//! Where a result came from: the binary (version, git commit), the machine, the command line, and the
//! SHA-256 of every input file, so that a checkpoint or a score can be traced to the exact data and
//! build that produced it — and a changed dataset is noticed.
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;
use tch::Device;

/// The training run's provenance file: one entry per session (a `--resume` appends one).
pub const FILE: &str = "provenance.json";

/// `<version> (<commit>)`, as `--version` and every provenance record print it.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("TUMORSEG_BUILD"), ")");

/// One command's inputs and circumstances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Package version and the git commit it was built from (`-dirty`: with uncommitted changes).
    pub tumorseg: String,
    /// The command line, program name first.
    pub command: Vec<String>,
    /// UTC start, RFC 3339.
    pub started: String,
    pub host: Option<String>,
    /// The device computed on, with the GPU's model when the driver tells it.
    pub device: String,
    /// The libtorch tch was built against, and cuDNN's version when CUDA is in use.
    pub libtorch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cudnn: Option<i64>,
    pub inputs: Vec<Digest>,
    /// What the command wrote into its output folder (paths below it), where it replaces its
    /// earlier outputs (predict): only what is listed here is ever removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
}

/// A file, or a set of files (a split's images), and its SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// What the input is to the command, e.g. `train annotations`, `valid images`, `model`.
    pub role: String,
    pub path: String,
    /// Files in the set (1 for a single file).
    pub files: usize,
    pub bytes: u64,
    /// Of the file; for a set, of its lines `<sha256>  <file name>` sorted by name (sha256sum's format).
    pub sha256: String,
}

impl Provenance {
    /// The record of the running process computing on `device`, with the given inputs.
    pub fn now(device: Device, inputs: Vec<Digest>) -> Provenance {
        let cuda = matches!(device, Device::Cuda(_));
        Provenance {
            tumorseg: VERSION.to_string(),
            // Lossy: a path that is not UTF-8 must not stop the command it records.
            command: (std::env::args_os())
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string()),
            device: describe_device(device),
            libtorch: crate::device::LIBTORCH.to_string(),
            cudnn: (cuda && tch::Cuda::cudnn_is_available()).then(tch::utils::version_cudnn),
            inputs,
            outputs: None,
        }
    }
}

fn describe_device(device: Device) -> String {
    let name = crate::device::device_name(device);
    match device {
        Device::Cuda(i) => match crate::device::gpu_names().get(i) {
            Some(model) => format!("{name} ({model})"),
            None => name,
        },
        _ => format!("{name} ({} threads)", tch::get_num_threads()),
    }
}

/// Files hashed by this process, by their real path, with the size and modification time they had:
/// `pipeline` records the valid images for training and again for the threshold, and a large split
/// takes a while to read. (A file rewritten at the same size within one tick of the file system's
/// clock, a few ms, would keep its first hash; no command rewrites its own inputs.)
static HASHED: Mutex<BTreeMap<PathBuf, (u64, SystemTime, String)>> = Mutex::new(BTreeMap::new());

/// SHA-256 and size of a file, streamed (once per process while the file stays as it was).
fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let meta = f
        .metadata()
        .with_context(|| format!("read {}", path.display()))?;
    let key = std::fs::canonicalize(path).ok().zip(meta.modified().ok());
    let hashed = || HASHED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((real, modified)) = &key {
        if let Some((bytes, at, sha)) = hashed().get(real) {
            if (*bytes, at) == (meta.len(), modified) {
                return Ok((sha.clone(), *bytes));
            }
        }
    }
    let mut hasher = Sha256::new();
    let bytes =
        std::io::copy(&mut f, &mut hasher).with_context(|| format!("read {}", path.display()))?;
    let sha = format!("{:x}", hasher.finalize());
    if let Some((real, modified)) = key {
        hashed().insert(real, (bytes, modified, sha.clone()));
    }
    Ok((sha, bytes))
}

/// The path as the machine resolves it (a relative one depends on where the command ran), or as
/// given when it names no single existing file.
fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The digest of one file.
pub fn file(role: &str, path: &Path) -> Result<Digest> {
    let (sha256, bytes) = hash_file(path)?;
    Ok(Digest {
        role: role.to_string(),
        path: absolute(path),
        files: 1,
        bytes,
        sha256,
    })
}

/// Where a set of files lives: `path` as the machine resolves it, or, when `path` is a folder and every
/// file resolves into one other folder (`pipeline`'s mirror links each image to the dataset's own),
/// that folder, so that the record names the data and not the links to it.
fn home(path: &Path, paths: &[PathBuf]) -> String {
    let folders: BTreeSet<PathBuf> = paths
        .iter()
        .filter_map(|p| Some(std::fs::canonicalize(p).ok()?.parent()?.to_path_buf()))
        .collect();
    let all = paths.iter().all(|p| p.exists());
    match folders.first() {
        Some(folder) if folders.len() == 1 && all && path.is_dir() => folder.display().to_string(),
        _ => absolute(path),
    }
}

/// The digest of a set of files, named `path` (their folder, say). Its hash is that of `sha256sum`'s
/// output over the files sorted by name (`cd <folder> && LC_ALL=C sha256sum * | sha256sum` for a
/// whole folder), so it depends on the files' names and contents, not on the order they were read in.
pub fn files(role: &str, path: &Path, paths: &[PathBuf]) -> Result<Digest> {
    // A large image set takes a while to read (100k slices, ~10 GB: tens of seconds).
    let bar = crate::progress::items(paths.len() as u64, "hash", "file");
    let each: Vec<(String, u64)> = paths
        .par_iter()
        .map(|p| hash_file(p).inspect(|_| bar.inc(1)))
        .collect::<Result<_>>()?;
    bar.finish_and_clear();
    let mut lines: Vec<String> = each
        .iter()
        .zip(paths)
        .map(|((sha, _), p)| {
            let name = p.file_name().map_or(p.as_os_str(), |n| n);
            format!("{sha}  {}\n", name.to_string_lossy())
        })
        .collect();
    // By name: the lines start with the hash, so sort on what follows it.
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    Ok(Digest {
        role: role.to_string(),
        path: home(path, paths),
        files: paths.len(),
        bytes: each.iter().map(|(_, b)| b).sum(),
        sha256: format!("{:x}", Sha256::digest(lines.concat().as_bytes())),
    })
}

/// A trained run's inputs to inference: its best checkpoint (an ensemble's: each member's), and
/// threshold.json when that decides.
pub fn run_inputs(run_dir: &Path, threshold: bool) -> Result<Vec<Digest>> {
    let (checkpoints, _) = crate::ensemble::checkpoints(run_dir)?;
    let mut out = match &checkpoints[..] {
        [one] => vec![file("model", one)?],
        members => (members.iter().enumerate())
            .map(|(k, m)| file(&format!("member {}", k + 1), m))
            .collect::<Result<_>>()?,
    };
    if threshold {
        out.push(file("threshold", &run_dir.join(crate::threshold::FILE))?);
    }
    Ok(out)
}

/// A split's inputs: the annotation file `load_split` reads with `opts`, and the samples' images.
pub fn split_inputs(
    root: &Path,
    split: &str,
    opts: &crate::dataset::SplitOptions,
    samples: &[crate::dataset::Sample],
) -> Result<Vec<Digest>> {
    let dir = root.join(split);
    let annotations = crate::dataset::annotation_file(&dir, opts);
    let paths: Vec<PathBuf> = samples.iter().map(|s| s.path.clone()).collect();
    Ok(vec![
        file(&format!("{split} annotations"), &annotations)?,
        files(&format!("{split} images"), &dir, &paths)?,
    ])
}

/// `scored` (the model or the masks), then the split they are scored against, as inference commands
/// read it with `opts` (the cleaned annotation file when there is one and no --annotations).
pub fn scoring_inputs(
    mut scored: Vec<Digest>,
    root: &Path,
    split: &str,
    opts: &crate::dataset::SplitOptions,
    samples: &[crate::dataset::Sample],
) -> Result<Vec<Digest>> {
    scored.extend(split_inputs(root, split, opts, samples)?);
    Ok(scored)
}

/// Write a run directory's provenance file (a JSON array, one entry per session): `record` alone for a
/// new run, or appended to the earlier sessions' for a resumed one.
pub fn record(run_dir: &Path, record: Provenance, resumed: bool) -> Result<()> {
    let path = run_dir.join(FILE);
    let mut all = if resumed { sessions(run_dir)? } else { vec![] };
    all.push(record);
    crate::atomic::write_atomic(
        &path,
        (serde_json::to_string_pretty(&all)? + "\n").as_bytes(),
    )
}

/// A run directory's provenance records, one per session, oldest first (none when it has no file).
pub fn sessions(run_dir: &Path) -> Result<Vec<Provenance>> {
    let path = run_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a provenance list", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_changed_since_it_was_hashed_is_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jpg");
        std::fs::write(&path, b"abc").unwrap();
        let first = hash_file(&path).unwrap();
        assert_eq!(hash_file(&path).unwrap(), first);
        for content in [&b"abcd"[..], b"xyzw"] {
            // The same size is told apart by the modification time, which ticks every few ms.
            std::thread::sleep(std::time::Duration::from_millis(30));
            std::fs::write(&path, content).unwrap();
            let want = format!("{:x}", Sha256::digest(content));
            assert_eq!(hash_file(&path).unwrap(), (want, 4));
        }
    }

    #[test]
    fn digests_are_sha256_and_a_set_hashes_its_sha256sum_listing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jpg"), dir.path().join("B.png"));
        std::fs::write(&a, b"abc").unwrap();
        std::fs::write(&b, b"").unwrap();
        let d = file("x", &a).unwrap();
        // FIPS 180-2's test vector for "abc".
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!((d.bytes, d.files), (3, 1));
        let set = files("images", dir.path(), &[a.clone(), b.clone()]).unwrap();
        // Byte order, as LC_ALL=C sorts: "B.png" before "a.jpg".
        let listing = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  B.png\n\
                       ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.jpg\n";
        assert_eq!(
            set.sha256,
            format!("{:x}", Sha256::digest(listing.as_bytes()))
        );
        assert_eq!((set.files, set.bytes), (2, 3));
        // The order of reading does not matter; one changed byte does.
        let swapped = files("images", dir.path(), &[b.clone(), a.clone()]).unwrap();
        assert_eq!(swapped.sha256, set.sha256);
        std::fs::write(&a, b"abd").unwrap();
        assert_ne!(
            files("images", dir.path(), &[a, b]).unwrap().sha256,
            set.sha256
        );
    }

    #[test]
    fn a_resumed_run_appends_a_new_one_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let rec = |cmd: &str| Provenance {
            command: vec![cmd.into()],
            ..Provenance::now(Device::Cpu, vec![])
        };
        record(dir.path(), rec("old run"), false).unwrap();
        record(dir.path(), rec("first"), false).unwrap();
        record(dir.path(), rec("second"), true).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let all: Vec<Provenance> = serde_json::from_str(&text).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (&all[0].command[0][..], &all[1].command[0][..]),
            ("first", "second")
        );
        assert!(all[0].tumorseg.starts_with(env!("CARGO_PKG_VERSION")));
        std::fs::write(dir.path().join(FILE), "{}").unwrap();
        assert!(
            record(dir.path(), rec("third"), true).is_err(),
            "a foreign file is not overwritten"
        );
    }
}
