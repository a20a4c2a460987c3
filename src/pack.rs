//! A compact copy of a COCO dataset: images resized and re-encoded as grey JPEG, polygons scaled to
//! match, every other COCO field kept. It exists to move the real dataset (~95 MB) to a GPU machine
//! that accepts at most 64 MiB, and doubles as a way to pre-shrink data for fast experiments.
use crate::dataset::{ORIGINAL, SPLITS};
use anyhow::{bail, ensure, Context, Result};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use rayon::prelude::*;
use serde_json::Value;
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
/// Nothing is written when an option, `out` or an annotation file is refused.
pub fn pack_dataset(root: &Path, out: &Path, opts: &PackOptions) -> Result<Vec<PackedSplit>> {
    ensure!(
        opts.size >= MIN_SIZE,
        "--size {}: must be at least {MIN_SIZE} pixels, the smallest input the model takes",
        opts.size
    );
    let splits = splits_of(root)?;
    if out.exists() && fs::canonicalize(out)? == fs::canonicalize(root)? {
        bail!("--out must differ from the dataset root: pack never overwrites the original");
    }
    crate::atomic::ensure_new_dir(out)?;
    // Every split's annotation file is read before the first is packed: one refused later would
    // leave the others packed in `out`. Read as every command reads them, with the same refusals
    // (an empty file, a bad image entry) and tolerances (a BOM, NaN tokens).
    let docs = splits
        .iter()
        .map(|split| Ok(crate::coco::load(&root.join(split).join(ORIGINAL))?.raw))
        .collect::<Result<Vec<_>>>()?;
    for (split, doc) in splits.iter().zip(&docs) {
        refuse_shared_stems(split, doc)?;
    }
    let done = splits
        .into_iter()
        .zip(docs)
        .map(|(split, doc)| pack_split(&root.join(split), &out.join(split), split, doc, opts))
        .collect::<Result<Vec<_>>>()?;
    for extra in [
        "README.txt",
        "SOURCE.md",
        "README.dataset.txt",
        "README.roboflow.txt",
    ] {
        if root.join(extra).exists() {
            fs::copy(root.join(extra), out.join(extra))?;
        }
    }
    Ok(done)
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

/// Packs the split at `src`, whose annotation file is `coco`, into `dst`; every field of `coco` is
/// kept, only the images' names and sizes and the annotations' coordinates change.
fn pack_split(
    src: &Path,
    dst: &Path,
    split: &str,
    mut coco: Value,
    opts: &PackOptions,
) -> Result<PackedSplit> {
    fs::create_dir_all(dst)?;
    let images = coco["images"]
        .as_array_mut()
        .context("unreachable: coco::load refuses a file without an `images` array")?;
    // Each image gets its own scale; annotations are rescaled with the factor of their image.
    let scales: Vec<(u64, f64, f64)> = images
        .par_iter_mut()
        .map(|im| pack_image(src, dst, im, opts))
        .collect::<Result<_>>()?;
    let n_images = scales.len();
    let by_id: std::collections::HashMap<u64, (f64, f64)> = scales
        .into_iter()
        .map(|(id, sx, sy)| (id, (sx, sy)))
        .collect();
    if let Some(anns) = coco["annotations"].as_array_mut() {
        for ann in anns {
            let id = ann["image_id"].as_u64().unwrap_or(u64::MAX);
            if let Some(&(sx, sy)) = by_id.get(&id) {
                scale_annotation(ann, sx, sy)?;
            }
        }
    }
    let out_json = dst.join(ORIGINAL);
    crate::atomic::write_atomic(&out_json, &serde_json::to_vec(&coco)?)?;
    let bytes = fs::read_dir(dst)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    Ok(PackedSplit {
        split: split.to_string(),
        images: n_images,
        bytes,
    })
}

/// An image's name in the packed split: `<stem>.jpg`.
fn packed_name(name: &str) -> String {
    let stem = Path::new(name)
        .file_stem()
        .map_or(name.into(), |s| s.to_string_lossy());
    format!("{stem}.jpg")
}

/// Two images of one stem (`a.png`, `a.jpg`), or of stems that differ only in case (one file on
/// macOS and Windows), would be packed into one file, the second written over the first.
fn refuse_shared_stems(split: &str, coco: &Value) -> Result<()> {
    let images = coco["images"].as_array().map_or(&[][..], Vec::as_slice);
    let name = |im: &Value| im["file_name"].as_str().unwrap_or_default().to_string();
    if let Some(c) = crate::names::clash(images, |im| packed_name(&name(im))) {
        bail!(
            "{split}: images {} and {} would both be packed as {}: pack names each image \
             <stem>.jpg; nothing written (rename one, and its file_name in the annotation file)",
            name(c.first),
            name(c.second),
            c.name
        );
    }
    Ok(())
}

fn pack_image(
    src: &Path,
    dst: &Path,
    im: &mut Value,
    opts: &PackOptions,
) -> Result<(u64, f64, f64)> {
    let id = im["id"].as_u64().context("image without integer `id`")?;
    let name = im["file_name"]
        .as_str()
        .with_context(|| format!("image {id}: no `file_name`"))?
        .to_string();
    let path = src.join(&name);
    let Ok(grey) = crate::dataset::read_gray(&path) else {
        // Missing or corrupt files are the cleaner's business: keep the entry so `clean` still reports it.
        return Ok((id, 1.0, 1.0));
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
    let file = fs::File::create(dst.join(&new_name))?;
    JpegEncoder::new_with_quality(std::io::BufWriter::new(file), opts.quality)
        .encode_image(&resized)
        .with_context(|| format!("encoding {new_name}"))?;
    im["file_name"] = Value::from(new_name);
    im["width"] = Value::from(nw);
    im["height"] = Value::from(nh);
    let (sx, sy) = (nw as f64 / w as f64, nh as f64 / h as f64);
    // Fewer pixels over the same anatomy: each is wider in mm.
    if let Some([rows, columns]) = im["pixel_spacing"].as_array_mut().map(|v| v.as_mut_slice()) {
        if let (Some(r), Some(c)) = (rows.as_f64(), columns.as_f64()) {
            (*rows, *columns) = (Value::from(r / sy), Value::from(c / sx));
        }
    }
    Ok((id, sx, sy))
}

fn scale_annotation(ann: &mut Value, sx: f64, sy: f64) -> Result<()> {
    if let Some(bbox) = ann["bbox"].as_array_mut() {
        for (i, v) in bbox.iter_mut().enumerate() {
            if let Some(x) = v.as_f64() {
                *v = Value::from(x * if i % 2 == 0 { sx } else { sy });
            }
        }
    }
    if let Some(a) = ann["area"].as_f64() {
        ann["area"] = Value::from(a * sx * sy);
    }
    match &mut ann["segmentation"] {
        Value::Array(rings) => {
            for ring in rings.iter_mut().filter_map(|r| r.as_array_mut()) {
                for (i, v) in ring.iter_mut().enumerate() {
                    if let Some(x) = v.as_f64() {
                        *v = Value::from(x * if i % 2 == 0 { sx } else { sy });
                    }
                }
            }
            Ok(())
        }
        Value::Null => Ok(()),
        _ if sx == 1.0 && sy == 1.0 => Ok(()),
        _ => bail!("annotation {}: RLE segmentations cannot be rescaled by pack (use --size at least the image size)", ann["id"]),
    }
}
