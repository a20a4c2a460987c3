//! A compact copy of a COCO dataset: images resized and re-encoded as grey JPEG, boxes and polygons
//! scaled and RLE masks resized to match, every other COCO field kept. It exists to move the real
//! dataset (~95 MB) to a GPU machine that accepts at most 64 MiB, and doubles as a way to pre-shrink
//! data for fast experiments.
mod scale;

use crate::atomic::Created;
use crate::coco::CocoFile;
use crate::dataset::{ORIGINAL, SPLITS};
use anyhow::{bail, ensure, Context, Result};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use rayon::prelude::*;
use scale::{rescale_annotations, Resized};
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::path::Path;

/// The smallest longest side pack writes: the smallest input the model takes (it downsamples by 32),
/// so slices packed smaller could only be blown up again; `--size 0` wrote 1×1 images.
pub const MIN_SIZE: u32 = 32;

pub struct PackOptions {
    /// Longest side after resizing; images already smaller are kept at their size.
    pub size: u32,
    pub quality: u8,
}

pub struct PackedSplit {
    pub split: String,
    pub images: usize,
    pub bytes: u64,
}

/// Pack every split present under `root` into `out` (created, or empty; must not be `root`).
/// Nothing is written when an option, `out`, an annotation file or an image name is refused, and a
/// run failing while writing removes what it wrote, so `out` can be given again.
pub fn pack_dataset(root: &Path, out: &Path, opts: &PackOptions) -> Result<Vec<PackedSplit>> {
    ensure!(
        opts.size >= MIN_SIZE,
        "--size {}: must be at least {MIN_SIZE} pixels, the smallest input the model takes",
        opts.size
    );
    let splits = splits_of(root)?;
    crate::atomic::ensure_folder_or_new(out, "--out")?;
    if out.exists() && fs::canonicalize(out)? == fs::canonicalize(root)? {
        bail!("--out must differ from the dataset root: pack never overwrites the original");
    }
    crate::atomic::ensure_new_dir(out)?;
    // Every split's annotation file is read, and its image names checked, before the first is
    // packed: one refused later would leave the others packed in `out`. Read as every command reads
    // them, with the same refusals (an empty file, a bad image entry) and tolerances (a BOM, NaN
    // tokens).
    let docs = splits
        .iter()
        .map(|split| {
            let coco = crate::coco::load(&root.join(split).join(ORIGINAL))?;
            check_names(&root.join(split), &coco)?;
            Ok(coco)
        })
        .collect::<Result<Vec<_>>>()?;
    let created = Created::default();
    let packed = pack_splits(root, out, splits, docs, opts, &created);
    if packed.is_err() {
        created.remove();
    }
    packed.with_context(|| {
        format!(
            "pack failed: what it wrote to {} was removed",
            out.display()
        )
    })
}

fn pack_splits(
    root: &Path,
    out: &Path,
    splits: Vec<&'static str>,
    docs: Vec<CocoFile>,
    opts: &PackOptions,
    created: &Created,
) -> Result<Vec<PackedSplit>> {
    let done = splits
        .into_iter()
        .zip(docs)
        .map(|(split, doc)| {
            let (src, dst) = (root.join(split), out.join(split));
            pack_split(&src, &dst, split, doc, opts, created)
        })
        .collect::<Result<Vec<_>>>()?;
    for extra in [
        "README.txt",
        "SOURCE.md",
        "README.dataset.txt",
        "README.roboflow.txt",
    ] {
        let from = root.join(extra);
        if from.exists() {
            let bytes =
                fs::read(&from).with_context(|| format!("cannot read {}", from.display()))?;
            created.write(&out.join(extra), &bytes)?;
        }
    }
    Ok(done)
}

/// The name an image is packed under: its stem, as a JPEG.
fn packed_name(file_name: &str) -> String {
    let stem = Path::new(file_name)
        .file_stem()
        .map_or(file_name.into(), |s| s.to_string_lossy());
    format!("{stem}.jpg")
}

/// Refuses two images of `coco` that would be packed under one name (`a.png` and `a.tif`): the
/// second JPEG would replace the first, and the first's entry and annotations would describe the
/// second's pixels. Names differing only in letter case count as one: they are one file on a
/// case-insensitive file system (macOS's, Windows').
fn check_names(src: &Path, coco: &CocoFile) -> Result<()> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for image in &coco.images {
        let packed = packed_name(&image.file_name);
        let first = *seen
            .entry(packed.to_lowercase())
            .or_insert(&image.file_name);
        if first != image.file_name {
            bail!(
                "{} and {} would both be packed as {packed} (pack names each JPEG by its image's \
                 stem, letter case aside): rename one, and its `file_name` in {}",
                src.join(first).display(),
                src.join(&image.file_name).display(),
                coco.path.display()
            );
        }
    }
    Ok(())
}

/// The splits under `root` with an annotation file; none is an error that says what is wrong.
fn splits_of(root: &Path) -> Result<Vec<&'static str>> {
    let splits: Vec<&str> = SPLITS
        .into_iter()
        .filter(|split| root.join(split).join(ORIGINAL).exists())
        .collect();
    if splits.is_empty() {
        crate::dataset::check_root(root)?;
        bail!(
            "{}: no train/valid/test split with {ORIGINAL}",
            root.display()
        );
    }
    Ok(splits)
}

/// Packs the split at `src`, whose annotation file is `coco`, into `dst`; every field of the file is
/// kept, only the images' names and sizes and the annotations' coordinates change.
fn pack_split(
    src: &Path,
    dst: &Path,
    split: &str,
    coco: CocoFile,
    opts: &PackOptions,
    created: &Created,
) -> Result<PackedSplit> {
    created.folder(dst)?;
    let CocoFile {
        mut raw,
        annotations,
        ..
    } = coco;
    let images = raw["images"]
        .as_array_mut()
        .context("unreachable: coco::load refuses a file without an `images` array")?;
    // Each image gets its own scale; annotations are rescaled with the factor of their image.
    let sizes: Vec<Resized> = images
        .par_iter_mut()
        .map(|im| pack_image(src, dst, im, opts, created))
        .collect::<Result<_>>()?;
    rescale_annotations(&mut raw, &annotations, &sizes);
    created.write(&dst.join(ORIGINAL), &serde_json::to_vec(&raw)?)?;
    let bytes = fs::read_dir(dst)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    Ok(PackedSplit {
        split: split.to_string(),
        images: sizes.len(),
        bytes,
    })
}

/// An image's name in the packed split: `<stem>.jpg`.
fn pack_image(
    src: &Path,
    dst: &Path,
    im: &mut Value,
    opts: &PackOptions,
    created: &Created,
) -> Result<Resized> {
    let id = im["id"].as_u64().context("image without integer `id`")?;
    let name = im["file_name"]
        .as_str()
        .with_context(|| format!("image {id}: no `file_name`"))?
        .to_string();
    let Ok(grey) = crate::dataset::read_gray(&src.join(&name)) else {
        // Missing or corrupt files are the cleaner's business: keep the entry so `clean` still
        // reports it, with its annotations as they are.
        return Ok(Resized::unchanged(id));
    };
    let (w, h) = grey.dimensions();
    let scale = (opts.size as f64 / w.max(h) as f64).min(1.0);
    let (nw, nh) = (
        ((w as f64) * scale).round().max(1.0) as u32,
        ((h as f64) * scale).round().max(1.0) as u32,
    );
    let resized = if (nw, nh) == (w, h) {
        grey
    } else {
        image::imageops::resize(&grey, nw, nh, FilterType::Triangle)
    };
    let new_name = packed_name(&name);
    let file = created.file(&dst.join(&new_name))?;
    JpegEncoder::new_with_quality(std::io::BufWriter::new(file), opts.quality)
        .encode_image(&resized)
        .with_context(|| format!("encoding {new_name}"))?;
    im["file_name"] = Value::from(new_name);
    im["width"] = Value::from(nw);
    im["height"] = Value::from(nh);
    let (sx, sy) = (nw as f64 / w as f64, nh as f64 / h as f64);
    // Fewer pixels over the same anatomy: each is wider in mm. `get_mut`, as `im["pixel_spacing"]`
    // would add a null to an image without one.
    let spacing = im.get_mut("pixel_spacing").and_then(Value::as_array_mut);
    if let Some([rows, columns]) = spacing.map(|v| v.as_mut_slice()) {
        if let (Some(r), Some(c)) = (rows.as_f64(), columns.as_f64()) {
            (*rows, *columns) = (Value::from(r / sy), Value::from(c / sx));
        }
    }
    Ok(Resized {
        id,
        from: (w, h),
        to: (nw, nh),
    })
}
