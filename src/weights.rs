//! Getting weights into the model: smp state dicts (`--init`) and ResNet34 encoder initialisation
//! (`--encoder-weights imagenet|none|<path>`), both by PyTorch key names, from `.pth` or `.safetensors`.
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::Tensor;

mod pth;

/// torchvision's ImageNet ResNet34; the hash suffix is the first 8 hex digits of its SHA256.
pub const IMAGENET_FILE: &str = "resnet34-b627a593.pth";
pub const IMAGENET_URL: &str = "https://download.pytorch.org/models/resnet34-b627a593.pth";
const IMAGENET_SHA256_PREFIX: &str = "b627a593";
/// Overrides the download URL (mirrors, air-gapped proxies, and the offline-error test).
pub const URL_ENV: &str = "TUMORSEG_IMAGENET_URL";

/// Where the encoder's initial weights come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncoderWeights {
    Imagenet,
    None,
    Path(PathBuf),
}

impl std::str::FromStr for EncoderWeights {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s {
            "imagenet" => EncoderWeights::Imagenet,
            "none" => EncoderWeights::None,
            p => EncoderWeights::Path(PathBuf::from(p)),
        })
    }
}

/// Read a PyTorch state dict: `.safetensors`, or a `torch.save` zip archive (`.pth`/`.pt`/`.bin`).
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    if path.is_dir() {
        bail!("{} is a folder, not a weights file", path.display());
    }
    if !path.is_file() {
        bail!("weights file {} does not exist", path.display());
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let named = if ext == "safetensors" {
        Tensor::read_safetensors(path).map_err(anyhow::Error::from)
    } else {
        pth::read(path)
    }
    .with_context(|| {
        format!(
            "cannot read {} as a state dict (expected {}; a .pth must hold a torch.save'd state_dict, not a whole pickled model)",
            path.display(),
            if ext == "safetensors" { "safetensors" } else { "a torch.save zip archive" }
        )
    })?;
    // Checkpoints saved from nn.DataParallel prefix every key with `module.`.
    Ok(named
        .into_iter()
        .map(|(k, v)| {
            (
                k.strip_prefix("module.").map(str::to_string).unwrap_or(k),
                v,
            )
        })
        .collect())
}

/// Copy `src[key_of(var name)]` into every VarStore variable whose name `wanted` accepts.
/// Fails, listing them, on missing keys, unexpected keys (not `ignored`) and shape mismatches.
fn copy_into(
    vs: &mut VarStore,
    src: &HashMap<String, Tensor>,
    origin: &Path,
    key_of: impl Fn(&str) -> Option<String>,
    ignored: impl Fn(&str) -> bool,
) -> Result<()> {
    let vars = vs.variables();
    let mut missing = Vec::new();
    let mut shapes = Vec::new();
    let mut used = BTreeSet::new();
    for (name, var) in &vars {
        let Some(key) = key_of(name) else { continue };
        match src.get(&key) {
            Some(t) if t.size() == var.size() => {
                used.insert(key);
            }
            Some(t) => shapes.push(format!(
                "{key}: file {:?}, model {:?}",
                t.size(),
                var.size()
            )),
            // Old PyTorch state dicts have no batch-norm step counter; it is never read.
            None if key.ends_with("num_batches_tracked") => {}
            None => missing.push(key),
        }
    }
    let mut unexpected: Vec<&String> = src
        .keys()
        .filter(|k| !used.contains(*k) && !ignored(k))
        .collect();
    missing.sort();
    unexpected.sort();
    shapes.sort();
    if !missing.is_empty() || !unexpected.is_empty() || !shapes.is_empty() {
        bail!(
            "{} does not match the model:\n  missing keys ({}): {}\n  unexpected keys ({}): {}\n  shape mismatches ({}): {}",
            origin.display(),
            missing.len(),
            list(&missing),
            unexpected.len(),
            list(&unexpected),
            shapes.len(),
            list(&shapes)
        );
    }
    tch::no_grad(|| {
        for (name, var) in &vars {
            if let Some(t) = key_of(name).and_then(|k| src.get(&k)) {
                let mut var = var.shallow_clone();
                var.copy_(&t.to_device(var.device()).to_kind(var.kind()));
            }
        }
    });
    Ok(())
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    crate::report::some_of(items, 12)
}

/// `--init`: load a whole smp `UnetPlusPlus("resnet34", classes=1)` state dict (keys as smp's).
pub fn load_smp(vs: &mut VarStore, path: &Path) -> Result<()> {
    let src = read_state_dict(path)?;
    copy_into(vs, &src, path, |n| Some(n.to_string()), |_| false)
}

/// Load torchvision ResNet34 keys (`conv1.weight`, `layer1.0.bn1.running_mean`, …) into `encoder.*`;
/// the classifier (`fc.*`) has no counterpart in an encoder and is ignored.
pub fn load_torchvision_encoder(vs: &mut VarStore, path: &Path) -> Result<()> {
    let src = read_state_dict(path)?;
    copy_into(
        vs,
        &src,
        path,
        |n| n.strip_prefix("encoder.").map(str::to_string),
        |k| k.starts_with("fc."),
    )
}

/// `--encoder-weights`: `none` keeps the random (torchvision-style) init.
pub fn load_encoder(vs: &mut VarStore, weights: &EncoderWeights) -> Result<()> {
    match weights {
        EncoderWeights::None => Ok(()),
        EncoderWeights::Path(p) => load_torchvision_encoder(vs, p),
        EncoderWeights::Imagenet => load_torchvision_encoder(vs, &imagenet_file()?),
    }
}

/// `$XDG_CACHE_HOME/tumorseg`, else `~/.cache/tumorseg`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("tumorseg"),
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            home.join(".cache").join("tumorseg")
        }
    }
}

/// The cached ImageNet checkpoint, downloaded (and hash-checked) on first use.
pub fn imagenet_file() -> Result<PathBuf> {
    let file = cache_dir().join(IMAGENET_FILE);
    if file.is_file() {
        return Ok(file);
    }
    let url = std::env::var(URL_ENV).unwrap_or_else(|_| IMAGENET_URL.to_string());
    download(&url, &file).with_context(|| {
        format!(
            "ImageNet encoder weights {} are not cached and could not be downloaded from {url}; \
             download that file yourself to {} or pass `--encoder-weights <path>` \
             (a torchvision resnet34 .pth/.safetensors), or `--encoder-weights none`",
            IMAGENET_FILE,
            file.display()
        )
    })?;
    Ok(file)
}

/// Stream `url` into `dest` through a `.part` file with a progress bar, then check the hash prefix.
fn download(url: &str, dest: &Path) -> Result<()> {
    let dir = dest.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating cache directory {}", dir.display()))?;
    let resp = ureq::get(url)
        .timeout(std::time::Duration::from_secs(60))
        .call()
        .context("HTTP request failed")?;
    let len = resp
        .header("Content-Length")
        .and_then(|l| l.parse::<u64>().ok());
    let bar = indicatif::ProgressBar::new(len.unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("static template"),
    );
    bar.set_message(format!("downloading {}", IMAGENET_FILE));
    let part = dest.with_extension("part");
    let mut out =
        std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
    let mut hasher = Sha256::new();
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).context("download interrupted")?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {}", part.display()))?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if !digest.starts_with(IMAGENET_SHA256_PREFIX) {
        let _ = std::fs::remove_file(&part);
        bail!("downloaded file has SHA256 {digest}, expected prefix {IMAGENET_SHA256_PREFIX} (corrupted or wrong file)");
    }
    std::fs::rename(&part, dest)
        .with_context(|| format!("moving {} to {}", part.display(), dest.display()))?;
    Ok(())
}
